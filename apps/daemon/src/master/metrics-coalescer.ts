// Host metrics for dashboards, coalesced: each host's latest sample goes out in one batch per interval,
// where every sample was an event of its own (a thousand hosts made a thousand writes a second per dashboard).
import type { HostMetricsEvent } from '../common/wire.ts';

/** How often dashboards get a batch: four times a second keeps charts live at a host's 1 s cadence. */
export const DASH_METRICS_EVERY_MS = 250;

export class MetricsCoalescer {
  #latest = new Map<string, HostMetricsEvent>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (batch: HostMetricsEvent[]) => void,
    private readonly everyMs = DASH_METRICS_EVERY_MS,
  ) {}

  /** A host's sample; a newer one from the same host before the batch leaves replaces it. */
  push = (sample: HostMetricsEvent): void => {
    this.#latest.set(sample.host, sample);
    this.#timer ??= setTimeout(this.flush, this.everyMs).unref();
  };

  flush = (): void => {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#latest.size === 0) return;
    const batch = [...this.#latest.values()];
    this.#latest.clear();
    this.send(batch);
  };
}
