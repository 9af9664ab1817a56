// Control-plane latency: a guest's ticket request + dispose through sfmd's real HTTP tRPC API (the
// master is a real VM on a real sfld), and the default allocator's cost, against a /healthz round
// trip measured in the same run (the floor); then ticket request → grant with each allocator: the default,
// and real Slurm and Grid Engine daemons (scripts/schedulers.mjs) placing the same tickets. Prints one JSON line.
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startSfmd } from '../apps/daemon/src/master/main.ts';
import { startSfld } from '../apps/daemon/src/local/sfld.ts';
import { createSfmdClient } from '../apps/daemon/src/common/sfmd-client.ts';
import { sfmdTransport } from '../apps/daemon/src/common/pinned-tls.ts';
import { defaultAllocator, type HostCapacity } from '../apps/daemon/src/master/allocator/index.ts';
import { createLogger } from '../apps/daemon/src/common/logger.ts';
import { DEFAULT_SCHEDULER_SETTINGS } from '../apps/daemon/src/common/config/index.ts';
import { batchScheduler, startSchedulerAllocation } from '../apps/daemon/src/master/scheduler/index.ts';
import { hostTuning } from './host-tuning.ts';

// What the daemons apply at start, applied here too and reported with the figures.
const tuning = hostTuning();

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function time(rounds: number, fn: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

const SCHEDULERS = new URL('../scripts/schedulers.mjs', import.meta.url).pathname;
const GRANT_ROUNDS = Number(process.env.BENCH_GRANT_ROUNDS ?? 10);

type Master = ReturnType<typeof createSfmdClient>;

/** p50/p99 ms of `rounds` requests for 32 one-vcpu clones, each disposed (and its slots given back) before the next. */
async function grantLatency(master: Master, rounds: number, released: () => Promise<void>) {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const t = await master.ticket.request.mutate({ nclones: 32, block: true });
    samples.push(performance.now() - start);
    await master.ticket.dispose.mutate({ ticket: t.ticket });
    await released();
  }
  return { p50: +percentile(samples, 50).toFixed(1), p99: +percentile(samples, 99).toFixed(1) };
}

/** The same, with `kind`'s real daemons (one 64-CPU node: the bench host) in charge of this sfmd's tickets. */
async function schedulerGrantLatency(kind: 'slurm' | 'sge', master: Master) {
  const check = spawnSync(process.execPath, [SCHEDULERS, 'check', kind], { encoding: 'utf8' });
  if (check.status !== 0) return { skipped: check.stdout.trim() };
  const node = kind === 'slurm' ? 'bench' : os.hostname(); // Grid Engine's execution host is this machine
  const dir = mkdtempSync(path.join(os.tmpdir(), `sf-bench-${kind}-`));
  const out = execFileSync(process.execPath, [SCHEDULERS, 'up', kind, '--dir', dir, '--node', `${node}:64`], { encoding: 'utf8' });
  try {
    const env = Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    const settings = { ...DEFAULT_SCHEDULER_SETTINGS, nodeNames: { localhost: node }, env };
    const alloc = await startSchedulerAllocation(sfmd.svc, batchScheduler(kind, settings), settings, home, { pollMs: 20 });
    try {
      return await grantLatency(master, GRANT_ROUNDS, () => alloc.sync());
    } finally {
      alloc.stop();
    }
  } finally {
    execFileSync(process.execPath, [SCHEDULERS, 'down', '--dir', dir]);
  }
}

const home = mkdtempSync(path.join(os.tmpdir(), 'sf-bench-'));
// One host that may hand out 64 cpus: the allocator's bookkeeping, not this machine, is measured.
// Named 'localhost' so the cluster network can resolve it to an address.
writeFileSync(path.join(home, 'sfmd.cfg'), "cluster_hosts = [{'host': 'localhost', 'cpus': 64, 'RAM': 256 << 30}]\nclusterid = 1\n");
const log = createLogger('bench');
log.level = 'silent';
const sfmd = await startSfmd({ home, port: 0, listen: '127.0.0.1', log });
writeFileSync(path.join(home, 'sfld.cfg'), `hostname = 'localhost'\nmaster_host = '127.0.0.1'\nmaster_port = ${sfmd.port}\n`);
const sfld = await startSfld({ home, log, localPort: 0 });
const HELLO = new URL('../native/guest/build/bin/hello.elf', import.meta.url).pathname;
try {
  while (!sfld.isRegistered()) await new Promise((r) => setTimeout(r, 20));
  const url = `https://127.0.0.1:${sfmd.port}`;
  const trust = { fingerprint: sfmd.fingerprint, source: 'the bench' };
  const admin = createSfmdClient({ url, token: sfmd.adminToken, trust });
  // An interactive hello waits at its prompt: a master that stays up for the whole run.
  await admin.cluster.seed.mutate({
    config: { name: 'bench', diskImage: null, kernel: HELLO, args: 'interactive=1', vcpus: 1, memoryMiB: 64 },
  });
  const master = createSfmdClient({ url, token: sfmd.adminToken, domain: '1:0', trust });

  const healthz = await time(ROUNDS, async () => (await sfmdTransport(url, trust).fetch(`${url}/healthz`)).json());
  const ticket = await time(ROUNDS, async () => {
    const t = await master.ticket.request.mutate({ nclones: 32 });
    await master.ticket.dispose.mutate({ ticket: t.ticket });
  });

  const capacity: HostCapacity[] = Array.from({ length: 64 }, (_, i) => ({
    hostId: `h${i}`,
    name: `h${i}`,
    cpusFree: 32,
    ramFree: 128 * 2 ** 30,
  }));
  const allocStart = performance.now();
  const ALLOCS = 2000;
  for (let i = 0; i < ALLOCS; i++)
    defaultAllocator.allocate(capacity, { amount: 32, procs: false, min: 1, masterVcpus: 2, memory: 2 ** 30 });
  const allocUs = ((performance.now() - allocStart) * 1000) / ALLOCS;

  // Last: a scheduler once in charge stays in charge of this sfmd's tickets.
  const grant = {
    default: await grantLatency(master, GRANT_ROUNDS, async () => {}),
    slurm: await schedulerGrantLatency('slurm', master),
    sge: await schedulerGrantLatency('sge', master),
  };

  const healthP50 = percentile(healthz, 50);
  const ticketP50 = percentile(ticket, 50);
  console.log(
    JSON.stringify({
      bench: 'control-plane',
      ...tuning,
      rounds: ROUNDS,
      healthz_p50_ms: +healthP50.toFixed(3),
      ticket_request_dispose_32_p50_ms: +ticketP50.toFixed(3),
      ticket_request_dispose_32_p99_ms: +percentile(ticket, 99).toFixed(3),
      ticket_vs_healthz_ratio: +(ticketP50 / healthP50).toFixed(2),
      allocate_32_over_64_hosts_us: +allocUs.toFixed(1),
      ticket_grant_32_ms_by_allocator: grant,
    }),
  );
} finally {
  await sfld.stop();
  await sfmd.stop();
  rmSync(home, { recursive: true, force: true });
}
