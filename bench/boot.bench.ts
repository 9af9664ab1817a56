// Boot latency of a flat guest through the native binding: create + boot to the first console byte,
// then destroy, for 64 MiB and 1 GiB of RAM (the time must not grow with RAM). The floor measured in
// the same run is create + destroy without booting. Prints one JSON line.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { VirtualMachine } from '../native/lib/index.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const HELLO = fileURLToPath(new URL('../native/guest/build/bin/hello.elf', import.meta.url));

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

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

const figures: Record<string, number | string> = { bench: 'boot', runs: RUNS };
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
  figures[`create_destroy_${label}_p50_ms`] = +p50(floor).toFixed(3);
  figures[`first_byte_${label}_p50_ms`] = +p50(first).toFixed(3);
  figures[`first_byte_${label}_p99_ms`] = +p99(first).toFixed(3);
  figures[`boot_destroy_${label}_p50_ms`] = +p50(total).toFixed(3);
}
figures.first_byte_1g_vs_64m_ratio = +((figures.first_byte_1g_p50_ms as number) / (figures.first_byte_64m_p50_ms as number)).toFixed(2);
figures.target_first_byte_p50_ms = 5;
console.log(JSON.stringify(figures));
