// The last minutes of every host's metrics, kept in sfmd's memory so a dashboard that opens now draws
// its charts at once; new samples then reach it live over socket.io. Volatile, like the metrics.
import type { HostMetrics } from '../common/events.ts';
import type { MasterServices } from './services.ts';

/** sflds sample once a second: five minutes of charts. */
export const HISTORY_SAMPLES = 300;

export class MetricHistory {
  readonly #rings = new Map<string, HostMetrics[]>();

  constructor(private readonly capacity = HISTORY_SAMPLES) {}

  record(host: string, sample: HostMetrics): void {
    let ring = this.#rings.get(host);
    if (!ring) {
      ring = [];
      this.#rings.set(host, ring);
    }
    ring.push(sample);
    // Samples arrive one at a time, so at most one falls off: cheaper than a real ring at this size.
    if (ring.length > this.capacity) ring.splice(0, ring.length - this.capacity);
  }

  /** Oldest first; a copy, so callers may keep it while samples keep coming. */
  of(host: string): HostMetrics[] {
    return [...(this.#rings.get(host) ?? [])];
  }

  all(): Record<string, HostMetrics[]> {
    return Object.fromEntries([...this.#rings].map(([host, ring]) => [host, [...ring]]));
  }
}

const histories = new WeakMap<MasterServices, MetricHistory>();

/**
 * The history of this sfmd, recording from the first call on: the hub calls it when it starts so
 * the record begins with the first sample; the API only reads it.
 */
export function metricHistory(svc: MasterServices): MetricHistory {
  let history = histories.get(svc);
  if (!history) {
    const created = new MetricHistory();
    svc.events.on('host:metrics', ({ host, ...sample }) => created.record(host, sample));
    histories.set(svc, created);
    history = created;
  }
  return history;
}
