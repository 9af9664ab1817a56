// Fork on one host (DESIGN §7): parent pause + descriptor by RAM size, sf_clone → first clone instruction (1/8/32 clones),
// fault service, pages fetched ± hints, lazy vs eager start; baselines in the same run: 256 MiB pause, bare uffd, full copy.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  allowShmemHugePages,
  exitOrJoinReply,
  SfHypercall,
  VirtualMachine,
  type GuestCall,
  type GuestReply,
  type MemtapStats,
} from '../native/lib/index.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FORKBENCH = fileURLToPath(new URL('../native/guest/build/bin/forkbench.elf', import.meta.url));
const ALIGN = fileURLToPath(new URL('../native/guest/build/bin/align.elf', import.meta.url));
const CMAKE_BUILD = `${ROOT}native/build-cmake`;
const FAULT_BENCH = `${CMAKE_BUILD}/sf_fault_bench`;
const PAGES_PER_MIB = 256;

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ms = (ns: number) => +(ns / 1e6).toFixed(3);
const r3 = (x: number) => +x.toFixed(3);

// Thrown, not exit(): forkRun's finally still destroys every VM; the top-level rejection then exits non-zero.
function fail(message: string): never {
  throw new Error(`fork.bench: ${message}`);
}

interface ForkRunOptions {
  memoryMiB: number;
  image: string;
  cmdline: string;
  clones: number;
  /** Before resuming each lazy clone, fetch its whole memory (the eager baseline). */
  prefetchAll?: boolean;
  /**
   * Prepare clone shells when the ticket is granted, as sfld does (default); false: make every clone from
   * scratch at the fork, to show what the shells save.
   */
  shells?: boolean;
  /**
   * With shells: fork and make them running clones in one native call (forkInto, what sfld does; default), or
   * false: fork(), then becomeClone() and resume() per clone, each its own call (the path before forkInto).
   */
  oneCall?: boolean;
}

interface ForkRun {
  pauseNs: number;
  descriptorBytes: number;
  /** Per clone, from the guest: master's clock before sf_clone → the clone's first act after it. */
  firstInstructionNs: number[];
  /** The master's own sf_clone call, from the guest. */
  cloneCallNs: number;
  /** Host side of the CLONE_MASTER answer: fork() (with forkInto: fork and clones), createClone()s, prefetch (eager only). */
  hostForkMs: number;
  hostCreateMs: number;
  hostPrefetchMs: number;
  memtap: MemtapStats[];
  /** Console output by vmid (0 = master). */
  consoles: Map<number, string>;
}

/**
 * Boots a guest that calls sf_clone and answers its seed calls the way sfld + sfmd would on one host (as
 * native/lib/fork.test.ts does): the clones are created in parallel, then all resumed. Checks every VM's
 * verdict, reads the clones' memtap counters before tearing everything down.
 */
async function forkRun(o: ForkRunOptions): Promise<ForkRun> {
  const n = o.clones;
  const ticket = 'bench-ticket';
  const master = await VirtualMachine.create({ memoryMiB: o.memoryMiB, image: o.image, cmdline: `clones=${n} ${o.cmdline}`, clusterid: 7 });
  const vms: VirtualMachine[] = [master];
  const consoles = new Map<number, string>();
  const exits = new Map<number, number>();
  const ended = new Map<number, Promise<unknown>>();
  const run: Partial<ForkRun> = { hostPrefetchMs: 0 };
  let snapshot: Awaited<ReturnType<VirtualMachine['fork']>> | undefined;
  const clones: VirtualMachine[] = [];
  const watch = (vm: VirtualMachine, vmid: number) => {
    consoles.set(vmid, '');
    vm.on('console', (c) => consoles.set(vmid, consoles.get(vmid)! + c.toString()));
    ended.set(vmid, vm.waitForExit());
  };
  // The guest requests its ticket before building its data (examples/common/share.c); like sfld, the bench
  // prepares the clones' shells then, one after the other, while the master works.
  let shells: Promise<VirtualMachine[]> = Promise.resolve([]);
  const handler =
    (vmid: number) =>
    async (call: GuestCall): Promise<GuestReply> => {
      switch (call.nr) {
        case SfHypercall.TICKET_REQUEST:
          if (o.shells !== false) {
            shells = (async () => {
              const made: VirtualMachine[] = [];
              for (let i = 0; i < n; i++) made.push(await VirtualMachine.prepareClone({ memoryMiB: o.memoryMiB }));
              return made;
            })();
          }
          return { status: 0, count: n, ticket };
        case SfHypercall.CLONE_MASTER: {
          const t0 = performance.now();
          if (o.shells !== false && o.oneCall !== false && !o.prefetchAll) {
            // sfld's path: the clones answer calls from their first instruction, so they are watched first.
            const ready = await shells;
            if (ready.length !== n) fail(`${ready.length} shells for ${n} clones`);
            for (const [i, clone] of ready.entries()) {
              vms.push(clone);
              clones.push(clone);
              clone.onGuestCall = handler(i + 1);
              watch(clone, i + 1);
            }
            const made = await master.forkInto(
              ready.map((shell, i) => ({ shell, vmid: i + 1, cloneReply: { status: 0, vmid: i + 1, count: n, ticket } })),
            );
            snapshot = made.snapshot;
            const failed = made.errors.find((e) => e !== null);
            if (failed) fail(`forkInto: ${failed.message}`);
            run.hostForkMs = performance.now() - t0; // fork and clones together
            run.hostCreateMs = 0;
            return { status: 0, vmid: 0, count: n, ticket };
          }
          snapshot = await master.fork();
          const t1 = performance.now();
          const ready = await shells;
          const made = await Promise.all(
            [...Array(n).keys()].map(async (i) => {
              const cloneReply = { status: 0, vmid: i + 1, count: n, ticket };
              const shell = ready[i];
              if (!shell) return VirtualMachine.createClone(snapshot!, { vmid: i + 1, lazy: true, cloneReply });
              await shell.becomeClone(snapshot!, { vmid: i + 1, cloneReply });
              return shell;
            }),
          );
          const t2 = performance.now();
          for (const [i, clone] of made.entries()) {
            vms.push(clone);
            clones.push(clone);
            clone.onGuestCall = handler(i + 1);
            watch(clone, i + 1);
          }
          if (o.prefetchAll) {
            // Synchronous: the whole of RAM is in the clone before its vCPU may run (a full copy from the snapshot).
            for (const clone of made) clone.prefetch(0, o.memoryMiB * PAGES_PER_MIB);
            run.hostPrefetchMs = performance.now() - t2;
          }
          await Promise.all(made.map((c) => c.resume()));
          run.hostForkMs = t1 - t0;
          run.hostCreateMs = t2 - t1;
          return { status: 0, vmid: 0, count: n, ticket };
        }
        default:
          return exitOrJoinReply(call, vmid, n, exits, () => Promise.all([...ended.entries()].filter(([id]) => id > 0).map(([, p]) => p)));
      }
    };
  try {
    master.onGuestCall = handler(0);
    watch(master, 0);
    await master.boot();
    const final = await master.waitForExit(300_000);
    const name = o.image === ALIGN ? 'align' : 'forkbench';
    const out0 = consoles.get(0)!;
    if (
      final.state !== 'exited' ||
      final.exitCode !== 0 ||
      !new RegExp(`${name} result digest=0x[0-9a-f]+ items=\\d+ verified OK`).test(out0)
    ) {
      fail(`${name} master (${o.memoryMiB} MiB, ${o.cmdline}) did not verify OK (${final.state}, exit ${final.exitCode}):\n${out0}`);
    }
    if (clones.length !== n) fail(`expected ${n} clones, made ${clones.length}`);
    for (let id = 1; id <= n; id++) {
      await clones[id - 1]!.waitForExit(60_000);
      const out = consoles.get(id)!;
      const ok = name === 'align' ? / OK\n/.test(out) : /touched=\d+ verified OK/.test(out);
      if (!ok || /FAILED|WRONG/.test(out)) fail(`${name} clone ${id} did not verify OK:\n${out}`);
    }
    // Read while the clones exist: their counters go with them.
    run.memtap = clones.map((c, i) => c.memtapStats() ?? fail(`clone ${i + 1} has no memtap stats: not lazy?`));
    run.firstInstructionNs = [...Array(n).keys()].map((i) => {
      const m = /first_instruction_ns=(-?\d+)/.exec(consoles.get(i + 1)!);
      return m ? Number(m[1]) : name === 'align' ? NaN : fail(`clone ${i + 1} printed no first_instruction_ns`);
    });
    const call = /clone_call_ns=(-?\d+)/.exec(out0);
    run.cloneCallNs = call ? Number(call[1]) : NaN;
    run.pauseNs = snapshot!.timing.pauseNs;
    run.descriptorBytes = snapshot!.descriptor().length;
    run.consoles = consoles;
    return run as ForkRun;
  } finally {
    const prepared = await shells.catch(() => [] as VirtualMachine[]);
    await Promise.all([...vms, ...prepared].map((vm) => vm.destroy())); // destroy() is idempotent
    snapshot?.release();
  }
}

const figures: Record<string, number | string> = { bench: 'fork', runs: RUNS };

// What sfld does at start: guest RAM on shmem huge pages is what keeps the fork pause flat in memory size, so the
// host is measured as it runs in service (the mode is reported; without root the knob stays as it is).
{
  const tuning = allowShmemHugePages();
  figures.shmem_hugepages = tuning.error ? `${tuning.mode || 'unknown'} (${tuning.error})` : tuning.mode;
}

// fault_bench (section 3b) is built first, so a build failure is reported before minutes of VM runs. Always asks
// cmake: it rebuilds only when fault_bench.cc or the core changed.
{
  const configure = existsSync(`${CMAKE_BUILD}/CMakeCache.txt`)
    ? null
    : spawnSync('cmake', ['-S', `${ROOT}native`, '-B', CMAKE_BUILD], { encoding: 'utf8' });
  if (configure && configure.status !== 0) fail(`cmake configure failed:\n${configure.stdout}${configure.stderr}`);
  const build = spawnSync('cmake', ['--build', CMAKE_BUILD, '-j2', '--target', 'sf_fault_bench'], { encoding: 'utf8' });
  if (build.status !== 0) fail(`building sf_fault_bench failed:\n${build.stdout}${build.stderr}`);
}

// Warm-up: first fork pays one-time costs (page cache, code paths, thread pools).
await forkRun({ memoryMiB: 256, image: FORKBENCH, cmdline: 'pages=1024 touch=16', clones: 1 });

// 1. Parent pause by RAM size: a fresh master each time with a quarter of its RAM filled (a fork of an untouched
// VM would hide any cost that grows with populated memory). 256 MiB is the baseline the ratio is taken against.
const pauses: Record<string, number> = {};
for (const [label, mib] of [
  ['256m', 256],
  ['1g', 1024],
  ['4g', 4096],
] as const) {
  const samples: number[] = [];
  let desc = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await forkRun({ memoryMiB: mib, image: FORKBENCH, cmdline: `pages=${(mib * PAGES_PER_MIB) / 4} touch=16`, clones: 1 });
    samples.push(r.pauseNs);
    desc = Math.max(desc, r.descriptorBytes);
  }
  pauses[label] = p50(samples);
  figures[`pause_${label}_p50_ms`] = ms(p50(samples));
  figures[`pause_${label}_max_ms`] = ms(Math.max(...samples));
  figures[`descriptor_${label}_bytes`] = desc;
}
figures.pause_4g_vs_256m_ratio = r3(pauses['4g']! / pauses['256m']!);
// The same 4 GiB master with only 4 MiB filled: tells a pause that grows with RAM size from one that grows with
// the memory the parent has populated.
{
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    samples.push((await forkRun({ memoryMiB: 4096, image: FORKBENCH, cmdline: 'pages=1024 touch=16', clones: 1 })).pauseNs);
  }
  figures.pause_4g_4mib_filled_p50_ms = ms(p50(samples));
}

// 2. sf_clone → first clone instruction, 1 GiB master, N lazy clones created in parallel then resumed.
// Each clone also touches a few thousand pages, so its memtap counters describe real lazy fetching.
for (const [n, runs] of [
  [1, RUNS],
  [8, Math.max(2, Math.ceil(RUNS / 2))],
  [32, 2],
] as const) {
  const first: number[] = [];
  const call: number[] = [];
  const fork: number[] = [];
  const create: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await forkRun({ memoryMiB: 1024, image: FORKBENCH, cmdline: 'pages=65536 touch=2048', clones: n });
    first.push(...r.firstInstructionNs);
    call.push(r.cloneCallNs);
    fork.push(r.hostForkMs);
    create.push(r.hostCreateMs);
  }
  figures[`first_instruction_${n}c_p50_ms`] = ms(p50(first));
  figures[`first_instruction_${n}c_p99_ms`] = ms(p99(first));
  figures[`clone_call_${n}c_p50_ms`] = ms(p50(call));
  // Where the time goes (host side of the master's call): the fork itself, then making the N clones.
  figures[`host_fork_${n}c_p50_ms`] = r3(p50(fork));
  figures[`host_create_clones_${n}c_p50_ms`] = r3(p50(create));
}
// The same for one clone from a shell through separate calls (fork, becomeClone, resume): what forkInto saves.
{
  const first: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await forkRun({ memoryMiB: 1024, image: FORKBENCH, cmdline: 'pages=65536 touch=2048', clones: 1, oneCall: false });
    first.push(...r.firstInstructionNs);
  }
  figures.first_instruction_1c_separate_calls_p50_ms = ms(p50(first));
}
// The same for one clone made from scratch at the fork (no shell): what preparing at ticket time saves.
{
  const first: number[] = [];
  const create: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await forkRun({ memoryMiB: 1024, image: FORKBENCH, cmdline: 'pages=65536 touch=2048', clones: 1, shells: false });
    first.push(...r.firstInstructionNs);
    create.push(r.hostCreateMs);
  }
  figures.first_instruction_1c_no_shell_p50_ms = ms(p50(first));
  figures.host_create_clones_1c_no_shell_p50_ms = r3(p50(create));
}

// 3a. Fault service inside a real lazy clone of a 1 GiB master, reading 32768 pages (128 MiB); one clone, since
// with more the vCPUs and memtap threads queue for the 2 cores. Per-run p50s swing between ≈7 µs and ≈40 µs on
// these machines (the higher when other work shares the cores), hence several runs and the spread.
// The guest's own ns_per_page is touch-to-return seen from inside the VM (KVM's fault path included).
{
  const svc50: number[] = [];
  const svc99: number[] = [];
  const perPage: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await forkRun({ memoryMiB: 1024, image: FORKBENCH, cmdline: 'pages=65536 touch=32768', clones: 1 });
    const s = r.memtap[0]!;
    if (s.faults < 32768) fail(`the clone served ${s.faults} faults for 32768 touched pages`);
    svc50.push(s.p50Ns);
    svc99.push(s.p99Ns);
    perPage.push(Number(/vmid=1 touch_ns=\d+ ns_per_page=(\d+)/.exec(r.consoles.get(1)!)?.[1] ?? NaN));
  }
  figures.clone_fault_service_p50_us = r3(p50(svc50) / 1e3);
  figures.clone_fault_service_p50_min_us = r3(Math.min(...svc50) / 1e3);
  figures.clone_fault_service_p50_max_us = r3(Math.max(...svc50) / 1e3);
  figures.clone_fault_service_p99_us = r3(p50(svc99) / 1e3);
  figures.clone_guest_touch_per_page_p50_us = r3(p50(perPage) / 1e3);
}

// 3b. Touch-to-return through a Memtap vs a bare userfaultfd loop, same process, same snapshot memfd (C++).
{
  const r = spawnSync(FAULT_BENCH, ['16384', '6'], { encoding: 'utf8' });
  if (r.status !== 0) fail(`sf_fault_bench failed (${r.status}):\n${r.stdout}${r.stderr}`);
  const line = r.stdout.trim().split('\n').at(-1)!;
  const { bench: _, ...fault } = JSON.parse(line) as Record<string, number | string>;
  Object.assign(figures, fault);
}

// 4. Pages a clone holds / fetched as a share of its RAM, with and without malloc's fresh-page hints.
// align (1 GiB, 3 clones): the database is read by every clone; post-fork allocations are small.
// forkbench scratch=16384: each clone mallocs and writes 64 MiB after the fork, the case the hint is for. malloc
// hints only pages its break newly covers, nearly all holes in the snapshot and zero-filled without a copy either
// way: the hint mostly saves the faults (and the clone's time), so faults and write time are reported alongside.
async function shares(image: string, cmdline: string, clones: number) {
  const ram = 1024 * PAGES_PER_MIB;
  const r = await forkRun({ memoryMiB: 1024, image, cmdline, clones });
  return {
    // Copied from the parent: what would cross the network from a memserver.
    fetched: mean(r.memtap.map((s) => s.pagesCopied / ram)),
    // Every page mapped into the clone, zero-filled ones included.
    present: mean(r.memtap.map((s) => s.present / ram)),
    zero: mean(r.memtap.map((s) => s.zeroPages)),
    hints: mean(r.memtap.map((s) => s.freshHints)),
    faults: mean(r.memtap.map((s) => s.faults)),
    // forkbench only: the clones' time to write their scratch pages (what the hint saves shows up here).
    scratchWriteNs: mean(r.memtap.map((_, i) => Number(/scratch=\d+ write_ns=(\d+)/.exec(r.consoles.get(i + 1)!)?.[1] ?? NaN))),
  };
}
for (const [label, image, args, clones] of [
  ['align', ALIGN, 'db=1024 len=2048 queries=6 qlen=96', 3],
  ['forkbench_scratch', FORKBENCH, 'pages=16384 touch=1024 scratch=16384', 2],
] as const) {
  for (const hints of [1, 0]) {
    const s = await shares(image, `${args} hints=${hints}`, clones);
    figures[`${label}_hints${hints}_fetched_pct`] = r3(s.fetched * 100);
    figures[`${label}_hints${hints}_present_pct`] = r3(s.present * 100);
    figures[`${label}_hints${hints}_zero_pages`] = Math.round(s.zero);
    figures[`${label}_hints${hints}_fresh_hints`] = Math.round(s.hints);
    figures[`${label}_hints${hints}_faults`] = Math.round(s.faults);
    if (label === 'forkbench_scratch') figures[`${label}_hints${hints}_write_ms`] = ms(s.scratchWriteNs);
  }
}

// 5. Lazy vs eager: a 1 GiB master with 80 % of RAM filled, one clone. Eager = the same lazy clone with its whole
// RAM prefetched (every page copied from the snapshot, synchronously) before it is resumed — a full copy of the
// parent's memory, as a non-lazy clone must make. (createClone({lazy:false}) would not do: it maps the snapshot
// copy-on-write and copies nothing up front.) Both figures are the guest's own sf_clone → first instruction.
{
  const cmdline = `pages=${Math.floor(1024 * PAGES_PER_MIB * 0.8)} touch=256`;
  const lazy: number[] = [];
  const eager: number[] = [];
  const prefetch: number[] = [];
  const lazyFork: number[] = [];
  const lazyCreate: number[] = [];
  const runs = Math.max(2, Math.ceil(RUNS / 2));
  for (let i = 0; i < runs; i++) {
    const l = await forkRun({ memoryMiB: 1024, image: FORKBENCH, cmdline, clones: 1 });
    lazy.push(l.firstInstructionNs[0]!);
    lazyFork.push(l.hostForkMs);
    lazyCreate.push(l.hostCreateMs);
    const e = await forkRun({ memoryMiB: 1024, image: FORKBENCH, cmdline, clones: 1, prefetchAll: true });
    eager.push(e.firstInstructionNs[0]!);
    prefetch.push(e.hostPrefetchMs);
  }
  figures.lazy_first_instruction_1g_80pct_p50_ms = ms(p50(lazy));
  figures.eager_first_instruction_1g_80pct_p50_ms = ms(p50(eager));
  figures.eager_prefetch_1g_p50_ms = r3(p50(prefetch));
  // What the lazy figure is made of (host side): the fork (pause) and making the clone.
  figures.lazy_1g_80pct_host_fork_p50_ms = r3(p50(lazyFork));
  figures.lazy_1g_80pct_host_create_p50_ms = r3(p50(lazyCreate));
  figures.eager_vs_lazy_first_instruction_ratio = r3(p50(eager) / p50(lazy));
}

figures.target_pause_ms = 5;
figures.target_pause_4g_vs_256m_ratio = 1.5;
figures.target_descriptor_bytes = 64 * 1024;
figures.target_first_instruction_1c_p50_ms = 1;
figures.target_fault_memtap_vs_bare_p50_ratio = 1.5;
figures.target_eager_vs_lazy_first_instruction_ratio = 100;
console.log(JSON.stringify(figures));
