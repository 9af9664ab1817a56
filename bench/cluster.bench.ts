// Clones across 4 namespaced hosts through the real daemons (DESIGN §7): time until all clones of a 1 GiB master run
// their first instruction (1/8/32), memserver bytes for clones touching the same pages (multicast vs unicast), cross-host
// fault service vs a bare userfaultfd fault + 2 UDP round trips (both measured here), align's speed-up vs clones,
// and where each clone.master's time went (its operation's stages, sfmd's and the master's sfld's: master/fork.ts).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cannotBuildNetwork, hostsDown, hostsUp } from '../scripts/hosts.mjs';
import { runSf } from '../apps/daemon/test/cli-runner.ts';
import { cloneMasterOf, domains, masterOutput, seed } from '../apps/daemon/test/harness.ts';
import type { MemserverStats } from '../native/lib/addon.ts';
import type { CloneMemtapStats } from '../native/lib/index.ts';
import { hostTuning } from './host-tuning.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GUESTS = `${ROOT}native/guest/build/bin/`;
const FAULT_BENCH = `${ROOT}native/build-cmake/sf_fault_bench`;
const HOSTS = 4;
/** Forks of 1, 8 and 32 clones each measured this many times (the stage figures are their p50). */
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;
const r3 = (x: number) => +x.toFixed(3);

function fail(message: string): never {
  throw new Error(`cluster.bench: ${message}`);
}

const why = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : cannotBuildNetwork();
if (why) {
  console.log(JSON.stringify({ bench: 'cluster', skipped: why }));
  process.exit(0);
}

interface Harness {
  home: string;
  env: NodeJS.ProcessEnv;
  prefix: string;
  hosts: { address: string; netns: string }[];
}

async function up(tag: string, networkMode: 'multicast' | 'unicast'): Promise<Harness> {
  const prefix = `cb${tag}`;
  const home = `/tmp/sf-cluster-bench-${tag}`;
  await hostsDown({ prefix, home, purge: true }).catch(() => {});
  // Room for 32 clones of a 1 GiB master: RAM is reserved per clone but only touched pages are used.
  const status = await hostsUp({ count: HOSTS, prefix, home, subnet: 'auto', cpus: 9, ramGiB: 12, networkMode });
  return {
    home,
    prefix,
    env: { SNOWFLOCK_HOME: home },
    hosts: status.hosts.map((h: { address: string; netns: string }) => ({ address: h.address, netns: h.netns })),
  };
}

async function down(h: Harness) {
  await hostsDown({ prefix: h.prefix, home: h.home, purge: true });
}

/**
 * An sfld's JSON log line, with the fields of the two read here (apps/daemon/src/local/domain-manager.ts):
 * 'memserver stopped' carries `stats`, 'VM ended' carries `memtap` (null: not a lazy clone).
 */
interface SfldLogLine {
  msg: string;
  domain?: string;
  stats?: MemserverStats;
  memtap?: CloneMemtapStats | null;
  [field: string]: unknown;
}

/** Every JSON log line of every sfld of the harness whose msg is `msg` or starts with `msg: ` (a variant with its reason). */
function logLines(h: Harness, msg: string): (SfldLogLine & { sfld: string })[] {
  const out: (SfldLogLine & { sfld: string })[] = [];
  for (const host of h.hosts) {
    const file = path.join(h.home, 'logs', `sfld-${host.address}.log`);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const o = JSON.parse(line) as SfldLogLine;
        if (o.msg === msg || o.msg.startsWith(`${msg}: `)) out.push({ ...o, sfld: host.address });
      } catch {
        /* a partial line */
      }
    }
  }
  return out;
}

/** Seeds and waits for the master's end; returns the cluster id, its console and every clone's console. */
async function run(h: Harness, image: string, args: string, memoryMiB: number, clones: number) {
  const clusterid = await seed(h.env, h.home, `${GUESTS}${image}.elf`, `${args} clones=${clones}`, memoryMiB);
  const master = await masterOutput(h.env, clusterid, 600_000);
  const row = (await domains(h.env)).find((d) => d.domain === `${clusterid}:0`);
  if (row?.state !== 'exited') fail(`${image} ${args} clones=${clones}: the master ended ${row?.state} (${row?.endReason}):\n${master}`);
  const consoles: string[] = [];
  for (let v = 1; v <= clones; v++) consoles.push((await runSf(['console', `${clusterid}:${v}`, '--once'], h.env)).stdout);
  if (
    clones > 0 &&
    !/verified OK/.test(
      master
        .split('\n')
        .filter((l) => / result /.test(l))
        .join(),
    )
  )
    fail(`${image} ${args} clones=${clones} did not verify:\n${master}`);
  return { clusterid, master, consoles };
}

/**
 * The stages of a cluster's clone.master, by short name: sfmd's (tx, send, fork, remote, record, total), the
 * master's pause, and its sfld's own split of the fork (sfld_*) when that sfld reports one.
 */
async function forkStages(h: Harness, clusterid: number): Promise<Record<string, number>> {
  const op = await cloneMasterOf(h.env, clusterid);
  if (!op?.detail.stages) fail(`cluster ${clusterid}: its clone.master records no stages (${JSON.stringify(op)})`);
  const { stages } = op.detail;
  const out: Record<string, number> = {
    tx: stages.txMs,
    send: stages.sendMs,
    fork: stages.forkMs,
    remote: stages.remoteMs,
    record: stages.recordMs,
    total: stages.totalMs,
  };
  if (op.detail.pauseMs !== undefined) out.pause = op.detail.pauseMs;
  for (const [name, ms] of Object.entries(op.detail.forkTiming ?? {})) out[`sfld_${name.replace(/Ms$/, '')}`] = ms;
  // The other hosts' own split (descriptor fetched, shells taken, slowest tap, clones made and started): the
  // slowest host's figure for each part.
  for (const timing of Object.values(op.detail.remoteTiming ?? {})) {
    for (const [name, ms] of Object.entries(timing)) {
      const key = `remote_${name.replace(/Ms$/, '')}`;
      out[key] = Math.max(out[key] ?? 0, ms);
    }
  }
  return out;
}

const figures: Record<string, number | string> = { bench: 'cluster', ...hostTuning(), hosts: HOSTS, cores: availableParallelism() };

// Baselines first (same run): a bare userfaultfd fault on this machine, and the UDP round trip between two hosts.
{
  const build = spawnSync('cmake', ['--build', `${ROOT}native/build-cmake`, '-j2', '--target', 'sf_fault_bench'], { encoding: 'utf8' });
  if (build.status !== 0) fail(`building sf_fault_bench failed:\n${build.stdout}${build.stderr}`);
  const r = spawnSync(FAULT_BENCH, ['16384', '4'], { encoding: 'utf8' });
  if (r.status !== 0) fail(`sf_fault_bench failed:\n${r.stdout}${r.stderr}`);
  const fault = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  figures.bare_uffd_touch_p50_us = r3(fault.fault_bare_uffd_touch_p50_ns! / 1e3);
}

// A UDP echo in one namespace, a client in another (python: a tight loop adds little to the kernel's path).
const ECHO =
  'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind((sys.argv[1],47788))\nwhile True:\n d,a=s.recvfrom(64)\n s.sendto(d,a)\n';
const PINGER = [
  'import socket,sys,time',
  's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
  's.settimeout(1)',
  'out=[]',
  'for i in range(3000):',
  ' t=time.perf_counter_ns()',
  ' s.sendto(b"x"*32,(sys.argv[1],47788))',
  ' s.recvfrom(64)',
  ' out.append(time.perf_counter_ns()-t)',
  'print(" ".join(map(str,out[500:])))',
].join('\n');

const WORKING_SET = 1024 * 4096;
/** 8 clones of a 1 GiB master touching the same 1024 pages: the memserver's bytes and the remote clones' memtap figures. */
async function bytesFor(h: Harness) {
  const r = await run(h, 'forkbench', 'pages=65536 touch=1024', 1024, 8);
  const stopped = await (async () => {
    for (let i = 0; i < 100; i++) {
      const line = logLines(h, 'memserver stopped').find((l) => l.domain === `${r.clusterid}:0`);
      if (line) return line;
      await new Promise((res) => setTimeout(res, 100));
    }
    return fail(`no memserver stopped line for ${r.clusterid}:0 in the sfld logs`);
  })();
  const ended = logLines(h, 'VM ended').filter((l) => String(l.domain).startsWith(`${r.clusterid}:`) && l.memtap?.remote);
  // The filter above kept only lines with memtap figures; 'memserver stopped' lines always carry stats.
  return { bytes: stopped.stats!.bytesSent, remote: ended.map((l) => l.memtap!) };
}

const multicast = await up('m', 'multicast');
try {
  {
    const [a, b] = multicast.hosts;
    const echo = spawn('ip', ['netns', 'exec', a!.netns, 'python3', '-c', ECHO, a!.address], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const rtts = execFileSync('ip', ['netns', 'exec', b!.netns, 'python3', '-c', PINGER, a!.address], { encoding: 'utf8' })
      .trim()
      .split(' ')
      .map(Number);
    echo.kill('SIGKILL');
    figures.udp_rtt_p50_us = r3(p50(rtts) / 1e3);
    figures.target_cross_host_fault_p50_us = r3((figures.bare_uffd_touch_p50_us as number) + 2 * (figures.udp_rtt_p50_us as number));
  }

  // 1. sf_clone → every clone's first instruction, 1 GiB master (256 MiB of it filled), clones on all 4 hosts.
  await run(multicast, 'forkbench', 'pages=4096 touch=16', 1024, 1); // warm-up: page cache, code paths
  for (const n of [1, 8, 32]) {
    const stages: Record<string, number>[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await run(multicast, 'forkbench', 'pages=65536 touch=64', 1024, n);
      stages.push(await forkStages(multicast, r.clusterid));
      if (i > 0) continue; // the first-instruction figures are the first run's
      const first = r.consoles.map((c, v) =>
        Number(/first_instruction_ns=(\d+)/.exec(c)?.[1] ?? fail(`clone ${v + 1} printed no first_instruction_ns:\n${c}`)),
      );
      const hosts = new Set((await domains(multicast.env)).filter((d) => d.domain.startsWith(`${r.clusterid}:`)).map((d) => d.host));
      figures[`all_first_instruction_${n}c_ms`] = r3(Math.max(...first) / 1e6);
      figures[`first_instruction_${n}c_p50_ms`] = r3(p50(first) / 1e6);
      figures[`hosts_used_${n}c`] = hosts.size;
      const rows = (await domains(multicast.env)).filter((d) => d.domain.startsWith(`${r.clusterid}:`));
      const masterHost = rows.find((d) => d.domain === `${r.clusterid}:0`)?.host;
      figures[`remote_clones_${n}c`] = rows.filter((d) => d.host !== masterHost).length;
    }
    for (const name of Object.keys(stages[0]!)) {
      const xs = stages.map((s) => s[name]).filter((x): x is number => x !== undefined);
      if (xs.length > 0) figures[`stage_${name}_${n}c_ms`] = r3(p50(xs));
    }
  }

  // 2 + 3. 8 clones touching the same 1024 pages (4 MiB): memserver bytes and cross-host fault service.
  const mc = await bytesFor(multicast);
  figures.multicast_bytes_vs_working_set = r3(mc.bytes / WORKING_SET);
  figures.remote_clones_measured = mc.remote.length;
  if (mc.remote.length > 0) {
    figures.cross_host_fault_service_p50_us = r3(p50(mc.remote.map((m) => m.p50Ns)) / 1e3);
    figures.cross_host_fault_service_p99_us = r3(p99(mc.remote.map((m) => m.p99Ns)) / 1e3);
  }

  // 4. align: the same job alone and over 1, 3, 7, 15 clones; the ideal line is the VM count.
  const WORK = 'queries=60 db=64 len=2048 qlen=128';
  const single = await run(multicast, 'align', WORK, 64, 0);
  const alone = Number(/align_ns=(\d+)/.exec(single.master)?.[1] ?? fail(`align printed no align_ns:\n${single.master}`));
  figures.align_single_ms = r3(alone / 1e6);
  for (const n of [1, 3, 7, 15]) {
    const r = await run(multicast, 'align', WORK, 64, n);
    const wall = Number(/fork_to_join_ns=(\d+)/.exec(r.master)?.[1] ?? fail(`align printed no fork_to_join_ns:\n${r.master}`));
    figures[`align_speedup_${n + 1}vms`] = r3(alone / wall);
    figures[`align_ideal_${n + 1}vms`] = n + 1; // the ideal line; this machine's cores (figures.cores) cap what it can show
  }
} finally {
  await down(multicast);
}

const unicast = await up('u', 'unicast');
try {
  figures.unicast_bytes_vs_working_set = r3((await bytesFor(unicast)).bytes / WORKING_SET);
} finally {
  await down(unicast);
}
figures.target_multicast_bytes_vs_working_set = 1.5;
console.log(JSON.stringify(figures));
