// Stage timings for the records: a stopwatch that says how long each stage of a piece of work took,
// in milliseconds rounded to microseconds, so an operation's detail shows where its time went.
import { performance } from 'node:perf_hooks';

/** Rounds to the microsecond: finer is noise in a record, coarser hides sub-millisecond stages. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export interface Stopwatch {
  /** Milliseconds since the previous lap (or since the start), and starts the next lap. */
  lap(): number;
  /** Milliseconds from the start to the latest lap: the laps so far add up to it. */
  total(): number;
}

export function stopwatch(start = performance.now()): Stopwatch {
  let last = start;
  return {
    lap() {
      const now = performance.now();
      const ms = roundMs(now - last);
      last = now;
      return ms;
    },
    total: () => roundMs(last - start),
  };
}
