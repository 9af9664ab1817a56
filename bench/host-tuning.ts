// The host tuning the daemons apply at start (sfld: shmem huge pages on advise), applied by a benchmark too and
// reported in its JSON line, so that a figure never depends on what ran on the machine before.
import { allowShmemHugePages } from '../native/lib/index.ts';

/** Applies what sfld applies; the figures to merge into the benchmark's JSON line. */
export function hostTuning(): { shmem_hugepages: string } {
  const tuning = allowShmemHugePages();
  return { shmem_hugepages: tuning.error ? `${tuning.mode || 'unknown'} (${tuning.error})` : tuning.mode };
}
