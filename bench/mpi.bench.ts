// MPI through sfmpirun and the real daemons on namespace hosts (issue 14): ping-pong latency and bandwidth between
// two ranks in one VM, in two VMs on one host and on two hosts, each beside the namespace baselines measured here;
// MPI_Allreduce of 8 doubles on 8 ranks; heat's wall time on 1/2/4/8 ranks against the ideal speed-up; and the
// time from sfmpirun's start to every rank inside MPI_Init (the guests stamp it with the host's monotonic clock).
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cannotBuildNetwork, hostsDown, hostsUp } from '../scripts/hosts.mjs';
import { runBin } from '../apps/daemon/test/cli-runner.ts';
import { consoleText } from '../apps/daemon/test/cluster-driver.ts';
import { domains } from '../apps/daemon/test/harness.ts';
import { nsBaseline } from './ns-baseline.ts';
import { hostTuning } from './host-tuning.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = `${ROOT}native/guest/build/bin/`;
const PINGS = 1000;
const INIT_RUNS = 3;
const ALLREDUCE_CALLS = 500;
const HEAT = { n: 512, iters: 500 };
const HEAT_RANKS = [1, 2, 4, 8];

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r2 = (x: number) => +x.toFixed(2);

function fail(message: string): never {
  throw new Error(`mpi.bench: ${message}`);
}

const why = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : cannotBuildNetwork();
if (why) {
  console.log(JSON.stringify({ bench: 'mpi', skipped: why }));
  process.exit(0);
}

const figures: Record<string, unknown> = { bench: 'mpi', ...hostTuning(), cores: os.cpus().length };

/** An sfseed.cfg for one of the MPI examples, in `home`. */
function cfg(home: string, program: string, vcpus: number, args = ''): string {
  const file = path.join(home, `${program}-${vcpus}vcpu.cfg`);
  writeFileSync(file, `name = '${program}'\nkernel = '${BIN}${program}.elf'\nvcpus = ${vcpus}\nmemory = 64\nargs = '${args}'\n`);
  return file;
}

/** Runs sfmpirun; returns its stdout, the cluster it made, where each vmid ran and when (hrtime, ns) it started. */
async function mpirun(env: NodeJS.ProcessEnv, args: string[]) {
  const started = process.hrtime.bigint();
  const r = await runBin('sfmpirun', args, env);
  const clusterid = Number(/sfmpirun: cluster (\d+)/.exec(r.stderr)?.[1] ?? fail(`sfmpirun ${args.join(' ')}: no cluster\n${r.stderr}`));
  if (r.code !== 0) fail(`sfmpirun ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const host = new Map(rows.map((d) => [Number(d.domain.split(':')[1]), d.host]));
  return { stdout: r.stdout, started, host, clusterid };
}

/** `key=value` pairs of the first rank-0 line starting with `head`, numbers where they are numbers. */
function fields(stdout: string, head: string): Record<string, number | string> {
  const line = stdout.split('\n').find((l) => l.startsWith(`[0] ${head}`)) ?? fail(`no "${head}" line in:\n${stdout}`);
  if (!/verified OK$/.test(line)) fail(`not verified: ${line}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, Number.isNaN(Number(m[2])) ? m[2]! : Number(m[2])]));
}

/** Ping-pong between ranks 0 and 1: latency (half the round trip of 8 bytes) and bandwidth (1 MiB both ways). */
async function pingpong(env: NodeJS.ProcessEnv, file: string, oneRankPerVm: boolean) {
  const run = await mpirun(env, [...(oneRankPerVm ? ['-v'] : []), '2', file, `n=${PINGS}`, 'size=1m', 'reps=20']);
  const f = fields(run.stdout, 'pingpong peer=1');
  const vms = f.vm === f.peer_vm ? 1 : 2;
  return {
    vms,
    hosts: new Set([...run.host.values()]).size,
    lat_p50_us: f.lat_us as number,
    lat_p99_us: f.lat_p99_us as number,
    lat_mean_us: f.lat_mean_us as number,
    clock_read_us: f.clock_us as number,
    bw_mb_s: f.bw_mbps as number,
  };
}

/** The figures beside their baseline: MPI latency against half the baseline's UDP round trip, bandwidth against TCP. */
function beside(pp: Awaited<ReturnType<typeof pingpong>>, base: Awaited<ReturnType<typeof nsBaseline>>, what: string) {
  return {
    ...pp,
    baseline: what,
    baseline_half_rtt_p50_us: r2(base.rtt_p50_us / 2),
    baseline_tcp_mb_s: base.tcp_mb_s,
    lat_vs_baseline: r2(pp.lat_p50_us / (base.rtt_p50_us / 2)),
    bw_vs_baseline: +(pp.bw_mb_s / base.tcp_mb_s).toFixed(4),
  };
}

async function withHosts<T>(
  prefix: string,
  count: number,
  cpus: number,
  body: (env: NodeJS.ProcessEnv, hosts: { address: string; netns: string }[]) => Promise<T>,
) {
  const home = `/tmp/sf-mpi-bench-${prefix}`;
  await hostsDown({ prefix, home, purge: true }).catch(() => {});
  const status = await hostsUp({ count, prefix, home, subnet: 'auto', cpus, ramGiB: 2 });
  try {
    return await body({ SNOWFLOCK_HOME: home }, status.hosts as { address: string; netns: string }[]);
  } finally {
    await hostsDown({ prefix, home, purge: true }).catch(() => {});
  }
}

// One host with room for both ranks' VMs: the placement cannot split them.
await withHosts('mb1', 1, 8, async (env, [h]) => {
  const home = env.SNOWFLOCK_HOME!;
  const loop = await nsBaseline({ serverNetns: h!.netns, clientNetns: h!.netns, address: h!.address, pings: 500, streamMib: 16 });
  // Processor mode: a 2-vCPU master, both ranks in it. Until sfmpirun has that mode it runs one rank per VM;
  // pingpong names both ranks' VMs, so the label says which layout ran.
  const inVm = await pingpong(env, cfg(home, 'pingpong', 2), false);
  figures.pingpong_one_vm = {
    layout: inVm.vms === 1 ? 'one VM, 2 vCPUs (processor mode)' : 'two VMs on one host: sfmpirun has no processor mode yet',
    ...beside(inVm, loop, 'UDP RTT / TCP stream over one namespace loopback'),
  };
  figures.pingpong_two_vms_one_host = beside(
    await pingpong(env, cfg(home, 'pingpong', 1), true),
    loop,
    'UDP RTT / TCP stream over one namespace loopback',
  );
});

// Three hosts of 3 CPUs: the allocator puts clone 1 on another host than the master's (fewest VMs first).
await withHosts('mb3', 3, 3, async (env, hosts) => {
  const home = env.SNOWFLOCK_HOME!;
  const [a, b] = hosts;
  const veth = await nsBaseline({ serverNetns: a!.netns, clientNetns: b!.netns, address: a!.address, pings: 500, streamMib: 16 });
  let across = await pingpong(env, cfg(home, 'pingpong', 1), true);
  for (let i = 0; i < 3 && across.hosts < 2; i++) across = await pingpong(env, cfg(home, 'pingpong', 1), true);
  if (across.hosts < 2) fail('two-host ping-pong: both ranks landed on one host in 4 runs');
  figures.pingpong_two_hosts = beside(across, veth, "UDP RTT / TCP stream between two hosts' namespaces (veth, bridge)");

  // mpitest on 8 ranks, each rank stamping when MPI_Init returned; then rank 0 times the Allreduce calls.
  const initMs: number[] = [];
  let missed = 0;
  const reduce: Record<string, number | string>[] = [];
  const mpitest = cfg(home, 'mpitest', 1);
  for (let i = 0; i < INIT_RUNS; i++) {
    const run = await mpirun(env, ['8', mpitest, `allreduce=${ALLREDUCE_CALLS}`]);
    const stamps = new Map(
      [...run.stdout.matchAll(/^\[(\d+)\] mpitest rank \1 of 8 ready at_ns=(\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]),
    );
    // sfmpirun sometimes misses a short-lived rank's console (see the report of issue 14's bench): read it back.
    for (let rank = 0; rank < 8; rank++) {
      if (stamps.has(rank)) continue;
      const text = await consoleText(env, `${run.clusterid}:${rank}`);
      const at = new RegExp(`mpitest rank ${rank} of 8 ready at_ns=(\\d+)`).exec(text)?.[1];
      if (!at) fail(`rank ${rank} never said it was ready:\n${text}`);
      stamps.set(rank, Number(at));
      missed++;
    }
    const ready = [...stamps.values()];
    // Host monotonic ns are below 2^53 for 104 days of uptime: exact as numbers.
    const ms = (Math.max(...ready) - Number(run.started)) / 1e6;
    if (!(ms > 0 && ms < 60_000)) fail(`MPI_Init stamp ${ms} ms after sfmpirun's start: the guests' clock is not this host's`);
    initMs.push(ms);
    reduce.push(fields(run.stdout, 'mpitest allreduce'));
  }
  figures.init_all_ranks_ms = {
    ranks: 8,
    runs: INIT_RUNS,
    p50: r2(med(initMs)),
    each: initMs.map(r2),
    from: 'sfmpirun spawned (node start included)',
    ranks_read_back: missed,
  };
  figures.allreduce_8_doubles_8_ranks = {
    calls: ALLREDUCE_CALLS,
    p50_us: med(reduce.map((x) => x.p50_us as number)),
    p99_us: med(reduce.map((x) => x.p99_us as number)),
    mean_us: med(reduce.map((x) => x.mean_us as number)),
    note: 'p50/p99 time each call (one MPI_Wtime hypercall in each); mean times all calls as one',
  };

  // heat: the same plate on 1/2/4/8 ranks (best of 2 runs each), wall time of the sweeps on rank 0.
  const ms: Record<number, number> = {};
  for (const np of HEAT_RANKS) {
    const runs: number[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await mpirun(env, [String(np), cfg(home, 'heat', 1), `n=${HEAT.n}`, `iters=${HEAT.iters}`, 'serial=0']);
      runs.push(fields(run.stdout, 'heat n=').ms as number);
    }
    ms[np] = Math.min(...runs);
  }
  figures.heat = {
    ...HEAT,
    ms,
    speedup: Object.fromEntries(HEAT_RANKS.map((np) => [np, r2(ms[1]! / ms[np]!)])),
    ideal: Object.fromEntries(HEAT_RANKS.map((np) => [np, np])),
    ideal_on_these_cores: Object.fromEntries(HEAT_RANKS.map((np) => [np, Math.min(np, os.cpus().length)])),
    note: `${os.cpus().length} cores: every rank is a VM's vCPU thread, so speed-up cannot pass ${os.cpus().length}`,
  };
});

console.log(JSON.stringify(figures));
