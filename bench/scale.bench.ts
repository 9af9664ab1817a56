// The control plane at a thousand hosts (DESIGN §7): one real sfmd (its own process, a real SQLite file) and
// BENCH_SCALE_HOSTS simulated sflds (bench/sim-hosts.ts: real sockets, secrets, heartbeats and metrics every
// second), while dashboards follow /dash: state.hosts and ticket.request/dispose of 64 clones p50/p99, sfmd's
// CPU and RSS, and the host:metrics events each dashboard got against those sent. Prints one JSON line.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { DASHBOARD_NAMESPACE } from '../apps/daemon/src/common/events.ts';
import { snowflockPaths } from '../apps/daemon/src/common/paths.ts';
import { sfmdSocketOptions, sfmdTransport } from '../apps/daemon/src/common/pinned-tls.ts';
import { createSfmdClient } from '../apps/daemon/src/common/sfmd-client.ts';
import { homeTrust } from '../apps/daemon/src/common/sfmd-trust.ts';
import { freePort } from '../apps/daemon/test/free-port.ts';
import { hostTuning } from './host-tuning.ts';

// What the daemons apply at start, applied here too and reported with the figures.
const tuning = hostTuning();

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOSTS = Number(process.env.BENCH_SCALE_HOSTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 100);
const DASHBOARDS = 3;
const CLONES = 64;
const TARGET_P99_MS = 50;

const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
const r2 = (x: number) => +x.toFixed(2);
const stats = (xs: number[]) => ({ p50: r2(p(xs, 0.5)), p99: r2(p(xs, 0.99)) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fail(message: string): never {
  throw new Error(`scale.bench: ${message}`);
}

/** The i-th simulated host's name and source address: 127.77.0.1 onwards (all of 127/8 is the loopback). */
const hostName = (i: number) => `127.77.${(i + 1) >> 8}.${(i + 1) & 255}`;

/** sfmd's CPU seconds so far and its resident memory, from /proc. */
function processFigures(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ 100)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))?.[1] ?? 0);
  return { cpuSeconds, rssMiB: r2(kib('VmRSS') / 1024), peakRssMiB: r2(kib('VmHWM') / 1024) };
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > until) fail(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

function childMessage<T>(child: ChildProcess, kind: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`scale.bench: no '${kind}' from the simulated hosts in ${ms} ms`)), ms);
    const on = (m: { kind?: string }) => {
      if (m.kind !== kind) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

const home = mkdtempSync(path.join(os.tmpdir(), 'sf-scale-bench-'));
const port = await freePort();
const names = Array.from({ length: HOSTS }, (_, i) => hostName(i));
writeFileSync(
  path.join(home, 'sfmd.cfg'),
  `# bench/scale: ${HOSTS} simulated hosts\nmaster_listen_port = ${port}\nclusterid = 1\ncluster_hosts = [\n${names
    .map((n) => `  {'host': '${n}', 'cpus': 16, 'RAM': 64 << 30},`)
    .join('\n')}\n]\n`,
);
const profileDir = process.env.BENCH_SCALE_PROFILE; // a directory: sfmd writes a .cpuprofile there at exit
const env = { ...process.env, SNOWFLOCK_HOME: home };
const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
const sfmd = spawn(
  process.execPath,
  [...profile, path.join(ROOT, 'apps/daemon/bin/sfmd.mjs'), 'start', '--foreground', '--config', path.join(home, 'sfmd.cfg')],
  {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
let sim: ChildProcess | null = null;
const dashboards: ReturnType<typeof io>[] = [];
try {
  const url = `https://127.0.0.1:${port}`;
  const trust = () => homeTrust(snowflockPaths(home)); // sfmd writes its certificate's fingerprint at start
  const { fetch: pinned } = sfmdTransport(url, trust);
  await waitFor('sfmd to answer /healthz', 60_000, async () => (await pinned(`${url}/healthz`)).ok);
  const token = readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
  const admin = createSfmdClient({ url, token, fetch: pinned });

  const t0 = performance.now();
  sim = fork(path.join(ROOT, 'bench/sim-hosts.ts'), [url, home, ...names], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { ms: simRegisteredMs } = await childMessage<{ ms: number }>(sim, 'registered', 180_000);
  await waitFor('every host online in the record', 60_000, async () => {
    const hosts = await admin.state.hosts.query();
    return hosts.filter((h: { state: string }) => h.state === 'online').length === HOSTS;
  });
  const registerMs = performance.now() - t0;

  // A cluster whose master (on a simulated host) asks for tickets: the seed goes through the real boot path.
  const seeded = await admin.cluster.seed.mutate({ config: { name: 'scale', kernel: '/sim/hello', vcpus: 1, memoryMiB: 256 } as never });
  const master = `${seeded.clusterid}:0`;
  const masterHost = await waitFor('the master running', 30_000, async () => {
    const rows = (await admin.state.domains.query({})) as unknown as Array<{ domain: string; state: string; host: string }>;
    const row = rows.find((d) => d.domain === master);
    return row?.state === 'running' ? row.host : null;
  });
  const secret = readFileSync(path.join(home, 'secrets', `${masterHost}.secret`), 'utf8').trim();
  const guest = createSfmdClient({ url, host: { name: masterHost, secret }, domain: master, fetch: pinned });

  let metricsEvents = 0; // host samples received, over all dashboards
  let metricsBatches = 0;
  for (let i = 0; i < DASHBOARDS; i++) {
    const d = io(`${url}${DASHBOARD_NAMESPACE}`, { auth: { token }, transports: ['websocket'], ...sfmdSocketOptions(url, trust) });
    d.on('host:metrics-batch', (batch: unknown[]) => {
      metricsEvents += batch.length;
      metricsBatches++;
    });
    dashboards.push(d);
  }
  await waitFor('dashboards connected', 10_000, async () => dashboards.every((d) => d.connected));
  await sleep(2000); // every host has beaten a few times: the steady state

  const idleFrom = { at: performance.now(), ...processFigures(sfmd.pid!) };
  const eventsFrom = metricsEvents;
  await sleep(5000);
  const idle = { at: performance.now(), ...processFigures(sfmd.pid!) };
  const idleCpu = (idle.cpuSeconds - idleFrom.cpuSeconds) / ((idle.at - idleFrom.at) / 1000);
  const eventsPerDashboardPerS = (metricsEvents - eventsFrom) / DASHBOARDS / ((idle.at - idleFrom.at) / 1000);

  type SimStats = { registered: number; commands: number; samplesSent: number; cpu: { user: number; system: number } };
  const simStats = async () => {
    sim!.send({ kind: 'stats' });
    return childMessage<SimStats>(sim!, 'stats', 10_000);
  };
  const simFrom = await simStats();
  const busyFrom = { at: performance.now(), ...processFigures(sfmd.pid!), events: metricsEvents };
  const hostsMs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const s = performance.now();
    const hosts = await admin.state.hosts.query();
    hostsMs.push(performance.now() - s);
    if (hosts.length < HOSTS) fail(`state.hosts answered ${hosts.length} hosts, not ${HOSTS}`);
  }
  const requestMs: number[] = [];
  const disposeMs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let s = performance.now();
    const ticket = (await guest.ticket.request.mutate({ nclones: CLONES })) as { ticket?: string; granted?: number };
    requestMs.push(performance.now() - s);
    if (!ticket.ticket || ticket.granted !== CLONES) fail(`ticket.request answered ${JSON.stringify(ticket)}`);
    s = performance.now();
    await guest.ticket.dispose.mutate({ ticket: ticket.ticket });
    disposeMs.push(performance.now() - s);
  }
  const busy = { at: performance.now(), ...processFigures(sfmd.pid!), events: metricsEvents };
  const busySeconds = (busy.at - busyFrom.at) / 1000;
  await sleep(1000); // the samples sent before the window closed reach the dashboards
  const simTo = await simStats();
  const sent = simTo.samplesSent - simFrom.samplesSent;
  const received = (metricsEvents - busyFrom.events) / DASHBOARDS;

  console.log(
    JSON.stringify({
      bench: 'scale',
      ...tuning,
      hosts: HOSTS,
      cores: os.availableParallelism(),
      rounds: ROUNDS,
      registerMs: Math.round(registerMs),
      simRegisteredMs,
      stateHostsMs: stats(hostsMs),
      ticketRequestMs: stats(requestMs),
      ticketDisposeMs: stats(disposeMs),
      clones: CLONES,
      targetP99Ms: TARGET_P99_MS,
      met: p(hostsMs, 0.99) <= TARGET_P99_MS && p(requestMs, 0.99) <= TARGET_P99_MS && p(disposeMs, 0.99) <= TARGET_P99_MS,
      sfmd: {
        idleCpuCores: r2(idleCpu),
        busyCpuCores: r2((busy.cpuSeconds - busyFrom.cpuSeconds) / busySeconds),
        rssMiB: busy.rssMiB,
        peakRssMiB: busy.peakRssMiB,
      },
      dash: {
        dashboards: DASHBOARDS,
        samplesPerDashboardPerS: r2(eventsPerDashboardPerS),
        batches: metricsBatches,
        busySamplesSent: sent,
        busySamplesPerDashboard: Math.round(received),
        droppedShare: r2(Math.max(0, sent - received) / Math.max(1, sent)),
        sentPerS: r2(sent / busySeconds),
      },
      sim: { registered: simTo.registered, commands: simTo.commands, cpuSeconds: r2((simTo.cpu.user + simTo.cpu.system) / 1e6) },
    }),
  );
} finally {
  for (const d of dashboards) d.close();
  sim?.send({ kind: 'stop' });
  await sleep(300);
  sim?.kill('SIGKILL');
  const exited = new Promise((r) => sfmd.once('exit', r));
  sfmd.kill('SIGTERM');
  await Promise.race([exited, sleep(profileDir ? 20_000 : 2000)]); // a profile is written at exit
  sfmd.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
}
