// Which bench/*.bench.ts files `npm run bench -- NAME...` runs: all of them without names, else the named ones
// (`net`, `net.bench.ts` and `bench/net.bench.ts` all name net); an unknown name is an error listing the valid ones.

/** The benchmark's short name: `bench/net.bench.ts` → `net`. */
export const benchName = (arg) => arg.replace(/^.*\//, '').replace(/\.bench\.ts$/, '');

/** Files to run, in the order asked (all, sorted, when none is named), or { error } naming the unknown ones. */
export function selectBenches(files, args) {
  const all = [...files].filter((f) => f.endsWith('.bench.ts')).sort();
  const wanted = args.map(benchName);
  const unknown = wanted.filter((n) => !all.includes(`${n}.bench.ts`));
  if (unknown.length)
    return { error: `bench: no benchmark named ${unknown.join(', ')}; the benchmarks are: ${all.map(benchName).join(', ')}` };
  return { files: wanted.length ? [...new Set(wanted)].map((n) => `${n}.bench.ts`) : all };
}
