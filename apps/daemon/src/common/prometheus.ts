// Prometheus metrics read at scrape time from figures kept elsewhere (the database, native counters):
// counters, gauges and bucket histograms of prom-client over one cached reading, so a scrape flood costs
// at most one reading a second however many scrapers ask.
import { Counter, Gauge, type Metric, Registry } from 'prom-client';

export { Registry };

export type Labels = Record<string, string>;
/** One series: its labels (bounded sets only: never a page, a request or a VM) and its value. */
export type Series = readonly [Labels, number];

/**
 * The newest reading, made at most once per `freshMs`: scrapes meanwhile share it (even one still being
 * made). A failed reading is not kept: the next scrape tries again.
 */
export class CachedReading<T> {
  #at = Number.NEGATIVE_INFINITY;
  #value: Promise<T> | null = null;

  constructor(
    private readonly read: () => Promise<T> | T,
    private readonly freshMs = 1000,
  ) {}

  get(): Promise<T> {
    const now = performance.now();
    if (this.#value && now - this.#at < this.freshMs) return this.#value;
    this.#at = now;
    const value = Promise.resolve().then(this.read);
    this.#value = value;
    value.catch(() => {
      if (this.#value === value) this.#value = null;
    });
    return value;
  }
}

/** Counters never go down: a figure that did (a bug, or a reading lost) is reported at its highest. */
const finite = (v: number) => (Number.isFinite(v) && v > 0 ? v : 0);

/** A counter whose series are read at scrape (a native counter, a sum kept since start). */
export function scrapedCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  read: () => Promise<readonly Series[]>,
): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const series = await read();
      this.reset();
      for (const [labels, value] of series) this.inc(labels, finite(value));
    },
  });
}

/** A gauge whose series are read at scrape. */
export function scrapedGauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  read: () => Promise<readonly Series[]>,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const series = await read();
      this.reset();
      for (const [labels, value] of series) this.set(labels, Number.isFinite(value) ? value : 0);
    },
  });
}

/** A histogram counted elsewhere: each bucket's own count (not cumulative), bounds ascending, the last +Inf. */
export interface BucketCounts {
  /** [upper bound in the metric's unit, observations in this bucket alone]. */
  buckets: ReadonlyArray<readonly [number, number]>;
  sum: number;
}

/**
 * A histogram whose buckets are kept by someone else (the memtap's fault-time counters): prom-client's own
 * Histogram only observes, so this one gives the registry the exposition's _bucket/_sum/_count series.
 */
export function scrapedHistogram(registry: Registry, name: string, help: string, read: () => Promise<BucketCounts>): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const { buckets, sum } = await read();
      let cumulative = 0;
      const values = buckets.map(([bound, count]) => {
        cumulative += finite(count);
        return {
          metricName: `${name}_bucket`,
          labels: { le: bound === Number.POSITIVE_INFINITY ? '+Inf' : String(bound) },
          value: cumulative,
        };
      });
      values.push({ metricName: `${name}_sum`, labels: {} as { le: string }, value: finite(sum) });
      values.push({ metricName: `${name}_count`, labels: {} as { le: string }, value: cumulative });
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

export interface MetricsAnswer {
  contentType: string;
  text: string;
}

/** The registry in Prometheus's text format, made at most once per `freshMs` (scrapes meanwhile share it). */
export function cachedExposition(registry: Registry, freshMs = 1000): CachedReading<MetricsAnswer> {
  return new CachedReading(async () => ({ contentType: registry.contentType, text: await registry.metrics() }), freshMs);
}
