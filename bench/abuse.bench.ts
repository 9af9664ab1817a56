// sfmd under abuse (issue 11): a real sfmd and sfld, each its own process, while child processes flood sfmd —
// first unauthenticated (the 2000-call batches that once took every host offline, and single health calls as
// fast as they go), then with 1000 authenticated state.domains calls a second. /healthz is probed every 20 ms
// throughout, against its idle figures from the same run; the host's heartbeats are read before and after.
// Prints one JSON line.
import { execFile } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createSfmdClient } from '../apps/daemon/src/common/sfmd-client.ts';
import { PinnedAgent, sfmdTransport } from '../apps/daemon/src/common/pinned-tls.ts';
import { homeTrust } from '../apps/daemon/src/common/sfmd-trust.ts';
import { snowflockPaths } from '../apps/daemon/src/common/paths.ts';
import { readSecretFile } from '../apps/daemon/src/common/secret-file.ts';
import { json, runSf } from '../apps/daemon/test/cli-runner.ts';
import { cannotRunVms, guestImage } from '../apps/daemon/test/guests.ts';
import { writeOneHostConfigs } from '../apps/daemon/test/one-host.ts';
import { hostTuning } from './host-tuning.ts';

// What the daemons apply at start, applied here too and reported with the figures.
const tuning = hostTuning();

const PHASE_MS = 10_000;
const IDLE_MS = 3_000;
const PROBE_EVERY_MS = 20;
const BATCHES = 19;
const BATCH_CALLS = 2000;
const SINGLE_CONCURRENCY = 64;
const AUTH_RATE = 1000;
const AUTH_MAX_IN_FLIGHT = 256;
const TARGET_HEALTHZ_P99_MS = 100;

/** Where sfmd is, and the fingerprint of its certificate (it serves HTTPS, as it does by default). */
type Target = { url: string; fingerprint: string | null };
type Load = (Target & { kind: 'batches' }) | (Target & { kind: 'singles' }) | (Target & { kind: 'auth'; token: string });

const trustOf = (fingerprint: string | null) => ({ fingerprint, source: 'the bench' });

/** Answers counted by what they were: served (2xx) or refused with sfmd's code (or the HTTP status, or the socket error). */
interface Tally {
  served: number;
  refused: Record<string, number>;
  /** Calls the generator did not send because AUTH_MAX_IN_FLIGHT were unanswered (an open-loop rate it could not keep). */
  notSent: number;
  sent: number;
}

async function classify(res: Response): Promise<string | null> {
  const text = await res.text();
  if (res.ok) return null;
  try {
    const body = JSON.parse(text) as { error?: { data?: { sfCode?: string } } } | { error?: { data?: { sfCode?: string } } }[];
    const first = Array.isArray(body) ? body[0] : body;
    return first?.error?.data?.sfCode ?? `HTTP_${res.status}`;
  } catch {
    return `HTTP_${res.status}`;
  }
}

/** One load generator (a child process running this file with --load): runs PHASE_MS, then prints its tally. */
async function generate(load: Load): Promise<Tally> {
  const tally: Tally = { served: 0, refused: {}, notSent: 0, sent: 0 };
  const count = (code: string | null) => {
    if (code === null) tally.served++;
    else tally.refused[code] = (tally.refused[code] ?? 0) + 1;
  };
  const send = sfmdTransport(load.url, trustOf(load.fingerprint)).fetch;
  const call = async (url: string, headers: Record<string, string> = {}) => {
    tally.sent++;
    try {
      count(await classify(await send(url, { headers, signal: AbortSignal.timeout(30_000) })));
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      count(cause?.code ?? (err as Error).name);
    }
  };
  const end = performance.now() + PHASE_MS;
  if (load.kind === 'batches') {
    // The request, BATCHES of them spread over the phase, each sent whatever the previous one got.
    const url = `${load.url}/trpc/${Array(BATCH_CALLS).fill('health').join(',')}?batch=1&input={}`;
    const sent: Promise<void>[] = [];
    for (let i = 0; i < BATCHES; i++) {
      sent.push(call(url));
      await new Promise((r) => setTimeout(r, PHASE_MS / BATCHES));
    }
    await Promise.all(sent);
  } else if (load.kind === 'singles') {
    const url = `${load.url}/trpc/health`;
    await Promise.all(
      Array.from({ length: SINGLE_CONCURRENCY }, async () => {
        while (performance.now() < end) await call(url);
      }),
    );
  } else {
    // Open loop: AUTH_RATE a second on a 10 ms clock, whatever sfmd answers, at most AUTH_MAX_IN_FLIGHT unanswered.
    const url = `${load.url}/trpc/state.domains`;
    const headers = { authorization: `Bearer ${load.token}` };
    let inFlight = 0;
    const pending = new Set<Promise<void>>();
    const start = performance.now();
    let launched = 0;
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) * AUTH_RATE) / 1000);
      for (; launched < due; launched++) {
        if (inFlight >= AUTH_MAX_IN_FLIGHT) {
          tally.notSent++;
          continue;
        }
        inFlight++;
        const p = call(url, headers).finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(pending);
  }
  return tally;
}

function runLoad(load: Load): Promise<Tally> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--load', JSON.stringify(load)],
      { maxBuffer: 1 << 20, timeout: PHASE_MS + 60_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`load generator ${load.kind} failed: ${stderr}`)) : resolve(JSON.parse(stdout) as Tally),
    );
  });
}

function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return +sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(1);
}

/** Probes /healthz every PROBE_EVERY_MS (open loop: a slow answer does not delay the next probe) until stopped. */
function probeHealthz(port: number, fingerprint: string | null) {
  const agent = new PinnedAgent(trustOf(fingerprint));
  agent.maxSockets = 64;
  const samples: number[] = [];
  let failed = 0;
  const probe = () => {
    const start = performance.now();
    const req = https.get({ host: '127.0.0.1', port, path: '/healthz', agent, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) samples.push(performance.now() - start);
        else failed++;
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => failed++);
  };
  const timer = setInterval(probe, PROBE_EVERY_MS);
  return {
    async stop() {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 200)); // the last answers
      agent.destroy();
      return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: percentile(samples, 100), probes: samples.length, failed };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sf-bench-abuse-'));
  const port = await writeOneHostConfigs(home, { cpus: 2, ramGiB: 2 });
  const env = { SNOWFLOCK_HOME: home };
  const url = `https://127.0.0.1:${port}`;
  try {
    await json(runSf(['sfmd', 'start', '--json'], env));
    const { fingerprint } = homeTrust(snowflockPaths(home));
    const sfld = await json<{ registered: boolean }>(runSf(['sfld', 'start', '--json'], env));
    if (!sfld.registered) throw new Error(`sfld did not register with sfmd: see the logs in ${home}/logs`);
    const token = readSecretFile(snowflockPaths(home).adminToken)!;
    const admin = createSfmdClient({ url, token, timeoutMs: 60_000, trust: trustOf(fingerprint) });
    // A VM on the host when this machine can run one: a host declared lost would take it.
    const vm = cannotRunVms()
      ? null
      : await admin.cluster.seed.mutate({
          config: { name: 'abuse', diskImage: null, kernel: guestImage('hello'), args: 'interactive=1', vcpus: 1, memoryMiB: 64 },
        });
    await sleep(2000); // a few beats before the figures are read
    const before = (await admin.state.hosts.query())[0]!;

    // sfmd's own event-loop stalls, as its /healthz counts them: read between phases.
    const loop = async () =>
      (await (await sfmdTransport(url, trustOf(fingerprint)).fetch(`${url}/healthz`)).json()) as {
        loopStallMaxMs: number;
        loopStalls: number;
      };
    const loop0 = await loop();
    let probe = probeHealthz(port, fingerprint);
    await sleep(IDLE_MS);
    const idle = await probe.stop();
    const loop1 = await loop();

    probe = probeHealthz(port, fingerprint);
    const [batches, singles] = await Promise.all([
      runLoad({ kind: 'batches', url, fingerprint }),
      runLoad({ kind: 'singles', url, fingerprint }),
    ]);
    const flood = await probe.stop();
    const loop2 = await loop();

    probe = probeHealthz(port, fingerprint);
    const auth = await runLoad({ kind: 'auth', url, fingerprint, token });
    const authFlood = await probe.stop();
    const loop3 = await loop();

    // The sweeper judges on after the load: a host it would declare lost is declared within offlineAfterMs.
    await sleep(4000);
    const after = (await admin.state.hosts.query())[0]!;
    const releases = await admin.operations.list.query({ kind: 'host.release', limit: 10 });
    const master = vm ? (await admin.state.domains.query({ all: true })).find((d) => d.clusterid === vm.clusterid && d.vmid === 0) : null;
    const loop4 = await loop();
    const late = (after.heartbeat?.late ?? 0) - (before.heartbeat?.late ?? 0);
    const worst = Math.max(flood.p99, authFlood.p99);
    console.log(
      JSON.stringify({
        bench: 'abuse',
        ...tuning,
        healthzIdleP50Ms: idle.p50,
        healthzIdleP99Ms: idle.p99,
        floodHealthzP50Ms: flood.p50,
        floodHealthzP99Ms: flood.p99,
        floodHealthzMaxMs: flood.max,
        authFloodHealthzP50Ms: authFlood.p50,
        authFloodHealthzP99Ms: authFlood.p99,
        authFloodHealthzMaxMs: authFlood.max,
        healthzProbesFailed: idle.failed + flood.failed + authFlood.failed,
        target: { healthzP99Ms: TARGET_HEALTHZ_P99_MS, hostLost: false, heartbeatsLate: 0 },
        meetsTarget: worst <= TARGET_HEALTHZ_P99_MS && releases.length === 0 && late === 0,
        hostLost: releases.length > 0 || after.state !== 'online',
        vmLost: master ? master.state !== 'running' : null,
        heartbeatsLate: late,
        heartbeatsLateWhileSfmdStalled: (after.heartbeat?.lateWhileSfmdStalled ?? 0) - (before.heartbeat?.lateWhileSfmdStalled ?? 0),
        heartbeatsSentLate: (after.heartbeat?.sentLate ?? 0) - (before.heartbeat?.sentLate ?? 0),
        maxHeartbeatGapMs: after.heartbeat?.maxGapMs ?? null,
        sfmdLoopStallMaxMs: loop4.loopStallMaxMs,
        sfmdLoopStalls: {
          idle: loop1.loopStalls - loop0.loopStalls,
          flood: loop2.loopStalls - loop1.loopStalls,
          authFlood: loop3.loopStalls - loop2.loopStalls,
          after: loop4.loopStalls - loop3.loopStalls,
        },
        sent: { batches: batches.sent, singles: singles.sent, auth: auth.sent, authNotSent: auth.notSent },
        served: { batches: batches.served, singles: singles.served, auth: auth.served },
        refused: { batches: batches.refused, singles: singles.refused, auth: auth.refused },
        phaseMs: PHASE_MS,
        cpus: os.availableParallelism(),
      }),
    );
  } finally {
    await runSf(['sfld', 'stop'], env);
    await runSf(['sfmd', 'stop'], env);
    rmSync(home, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--load') process.stdout.write(`${JSON.stringify(await generate(JSON.parse(process.argv[3]!) as Load))}\n`);
else await main();
