// sfmd's Prometheus registry: the record's hosts, clusters, domains and tickets by state (read at scrape,
// cached), operations by kind and outcome with their durations, the allocator's decisions, refused guest
// calls and sfmd's own process figures. One registry per sfmd (per services object), made on first use.
import { Counter, collectDefaultMetrics, Gauge, Histogram } from 'prom-client';
import { type CachedReading, cachedExposition, type MetricsAnswer, Registry, scrapedCounter, scrapedGauge } from '../common/prometheus.ts';
import { type Allocator, placedAmount } from './allocator/index.ts';
import { heartbeatLane } from './heartbeat-lane.ts';
import { recordCounts } from './metrics-record.ts';
import type { MasterServices } from './services.ts';

/** Seconds: from a guest's quick ticket call to a fork of many clones over several hosts and a long join. */
export const OPERATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Operations whose end was never heard (sfmd lost them) are forgotten past this many running at once. */
const MAX_TRACKED_OPERATIONS = 10_000;

export type AllocatorDecision = 'granted' | 'partial' | 'refused';

/** What one placement attempt decided, as the ticket service reads it (less than `min` is a refusal). */
export function decisionOf(
  request: Parameters<Allocator['allocate']>[1],
  placements: ReturnType<Allocator['allocate']>,
): AllocatorDecision {
  const amount = placedAmount(request, placements);
  if (placements.length === 0 || amount < request.min) return 'refused';
  return amount < request.amount ? 'partial' : 'granted';
}

/** The allocator with every decision counted (each attempt of a blocked request is one decision). */
function countingDecisions(allocator: Allocator, decisions: Counter<'decision'>): Allocator {
  return {
    name: allocator.name,
    allocate(hosts, request, random) {
      const placements = allocator.allocate(hosts, request, random);
      decisions.inc({ decision: decisionOf(request, placements) });
      return placements;
    },
  };
}

function buildRegistry(svc: MasterServices): Registry {
  const registry = new Registry();
  const record = recordCounts(svc);
  const states = (what: 'hosts' | 'clusters' | 'domains' | 'tickets') => async () => (await record.get())[what];
  scrapedGauge(registry, 'snowflock_hosts', 'Hosts in the record, by state.', ['state'], states('hosts'));
  scrapedGauge(registry, 'snowflock_clusters', 'Clusters in the record, by state.', ['state'], states('clusters'));
  scrapedGauge(
    registry,
    'snowflock_domains',
    'Domains (VMs) in the record, by state (ended ones stay until their cluster goes).',
    ['state'],
    states('domains'),
  );
  scrapedGauge(registry, 'snowflock_tickets', 'Clone tickets in the record, by state.', ['state'], states('tickets'));

  const operations = new Counter({
    name: 'snowflock_operations_total',
    help: 'Operations (mutating calls) finished since sfmd started, by kind and outcome.',
    labelNames: ['kind', 'outcome'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'snowflock_operation_duration_seconds',
    help: 'How long finished operations took, from their record to their outcome, by kind and outcome.',
    labelNames: ['kind', 'outcome'],
    buckets: OPERATION_BUCKETS,
    registers: [registry],
  });
  const started = new Map<string, { kind: string; at: number }>();
  new Gauge({
    name: 'snowflock_operations_running',
    help: 'Operations started and not finished (blocked ticket requests and joins included).',
    registers: [registry],
    collect() {
      this.set(started.size);
    },
  });
  svc.events.on('operation:progress', (event) => {
    if (event.status === 'running') {
      if (started.has(event.id)) return;
      if (started.size >= MAX_TRACKED_OPERATIONS) started.delete(started.keys().next().value!);
      started.set(event.id, { kind: event.kind, at: performance.now() });
      return;
    }
    const labels = { kind: event.kind, outcome: event.status };
    operations.inc(labels);
    const start = started.get(event.id);
    started.delete(event.id);
    if (start) durations.observe(labels, (performance.now() - start.at) / 1000);
  });

  const decisions = new Counter({
    name: 'snowflock_allocator_decisions_total',
    help: "The allocator's placement attempts: all clones granted, some (at least min), or refused.",
    labelNames: ['decision'],
    registers: [registry],
  });
  for (const decision of ['granted', 'partial', 'refused'] as const) decisions.inc({ decision }, 0);
  svc.allocator = countingDecisions(svc.allocator, decisions);

  scrapedCounter(
    registry,
    'snowflock_guest_refusals_total',
    'Guest calls refused (no resources, unknown ticket, …) since sfmd started, by error code: counted, not recorded as operations.',
    ['code'],
    async () => Object.entries(svc.refusals.stats().byCode).map(([code, n]) => [{ code }, n ?? 0] as const),
  );
  scrapedCounter(registry, 'snowflock_sfmd_loop_stalls_total', "Times sfmd's event loop stalled long enough to notice.", [], async () => [
    [{}, heartbeatLane(svc).loop().loopStalls],
  ]);
  collectDefaultMetrics({ register: registry, prefix: 'snowflock_sfmd_' });
  return registry;
}

const registries = new WeakMap<MasterServices, CachedReading<MetricsAnswer>>();

/**
 * This sfmd's metrics in the text format, at most a second old (made, and the allocator wrapped, on first
 * use: sfmd's server calls it as it starts, so decisions are counted from then on).
 */
export function masterMetrics(svc: MasterServices): CachedReading<MetricsAnswer> {
  let text = registries.get(svc);
  if (!text) {
    text = cachedExposition(buildRegistry(svc));
    registries.set(svc, text);
  }
  return text;
}
