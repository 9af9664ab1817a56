// Boot latency of a flat guest through the native binding: create + boot to the first console byte,
// then destroy, for 64 MiB and 1 GiB of RAM (the time must not grow with RAM). The floor measured in
// the same run is create + destroy without booting. Run twice: with shmem huge pages off, then with the
// host tuning sfld applies (allowShmemHugePages: advise) — boot must not pay for what only forks need.
// Prints one JSON line (the tuned run's figures, the off run's beside them, and the ratio).
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { allowShmemHugePages, VirtualMachine } from '../native/lib/index.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const HELLO = fileURLToPath(new URL('../native/guest/build/bin/hello.elf', import.meta.url));
const KNOB = '/sys/kernel/mm/transparent_hugepage/shmem_enabled';

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;
const r3 = (x: number) => +x.toFixed(3);

async function bootToFirstByte(memoryMiB: number): Promise<{ firstByteMs: number; totalMs: number }> {
  const start = performance.now();
  const vm = await VirtualMachine.create({ memoryMiB, image: HELLO });
  const firstByte = new Promise<number>((resolve) => vm.once('console', () => resolve(performance.now())));
  await vm.boot();
  const at = await firstByte;
  await vm.destroy();
  return { firstByteMs: at - start, totalMs: performance.now() - start };
}

async function createDestroy(memoryMiB: number): Promise<number> {
  const start = performance.now();
  const vm = await VirtualMachine.create({ memoryMiB, image: HELLO });
  await vm.destroy();
  return performance.now() - start;
}

async function measure(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const [label, mib] of [
    ['64m', 64],
    ['1g', 1024],
  ] as const) {
    await bootToFirstByte(mib); // warm up: page cache, code paths
    const floor: number[] = [];
    const first: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      floor.push(await createDestroy(mib));
      const r = await bootToFirstByte(mib);
      first.push(r.firstByteMs);
      total.push(r.totalMs);
    }
    figures[`create_destroy_${label}_p50_ms`] = r3(p50(floor));
    figures[`first_byte_${label}_p50_ms`] = r3(p50(first));
    figures[`first_byte_${label}_p99_ms`] = r3(p99(first));
    figures[`boot_destroy_${label}_p50_ms`] = r3(p50(total));
  }
  return figures;
}

/** The knob's current mode ('[advise]' marks it), or null where it cannot be read. */
function shmemMode(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync(KNOB, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

const before = shmemMode();
const out: Record<string, number | string | null> = { bench: 'boot', runs: RUNS };
let off: Record<string, number> | null = null;
try {
  // The baseline: huge pages off (root only; elsewhere the ratio is not measured and the line says why).
  try {
    writeFileSync(KNOB, 'never');
    off = await measure();
  } catch (err) {
    out.huge_off_skipped = `cannot set ${KNOB}: ${(err as Error).message}`;
  }
  const tuned = allowShmemHugePages(); // what sfld does at start
  out.shmem_huge_pages = tuned.mode;
  Object.assign(out, await measure());
} finally {
  if (before) writeFileSync(KNOB, before);
}
if (off) {
  out.first_byte_64m_p50_ms_huge_off = off.first_byte_64m_p50_ms!;
  out.create_destroy_64m_p50_ms_huge_off = off.create_destroy_64m_p50_ms!;
  out.first_byte_64m_vs_huge_off = r3((out.first_byte_64m_p50_ms as number) / off.first_byte_64m_p50_ms!);
}
out.first_byte_1g_vs_64m_ratio = r3((out.first_byte_1g_p50_ms as number) / (out.first_byte_64m_p50_ms as number));
out.target_first_byte_p50_ms = 2.5;
out.target_vs_huge_off = 1.1;
console.log(JSON.stringify(out));
