// How many hosts, clusters, domains and tickets the record holds in each state: four GROUP BY reads on
// the read-only connection, made at most once a second however often /metrics is scraped.
import { CLUSTER_STATES, DOMAIN_STATES, HOST_STATES, TICKET_STATES } from '../common/states.ts';
import { CachedReading, type Series } from '../common/prometheus.ts';
import type { MasterServices } from './services.ts';

export interface RecordCounts {
  hosts: Series[];
  clusters: Series[];
  domains: Series[];
  tickets: Series[];
}

/** Every state has a series, 0 when no row is in it: a state emptied shows as 0, not as a gap. */
function byState(states: readonly string[], rows: ReadonlyArray<{ state: string; _count: { _all: number } }>): Series[] {
  const counts = new Map(rows.map((r) => [r.state, r._count._all]));
  return states.map((state) => [{ state }, counts.get(state) ?? 0] as const);
}

export function recordCounts(svc: Pick<MasterServices, 'reads'>, freshMs = 1000): CachedReading<RecordCounts> {
  const db = svc.reads;
  const count = { _count: { _all: true } } as const;
  return new CachedReading(async () => {
    const [hosts, clusters, domains, tickets] = await Promise.all([
      db.host.groupBy({ by: ['state'], ...count }),
      db.cluster.groupBy({ by: ['state'], ...count }),
      db.domain.groupBy({ by: ['state'], ...count }),
      db.ticket.groupBy({ by: ['state'], ...count }),
    ]);
    return {
      hosts: byState(HOST_STATES, hosts),
      clusters: byState(CLUSTER_STATES, clusters),
      domains: byState(DOMAIN_STATES, domains),
      tickets: byState(TICKET_STATES, tickets),
    };
  }, freshMs);
}
