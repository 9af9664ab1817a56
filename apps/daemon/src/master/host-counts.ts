// The host counts that /healthz and the health procedure give to anyone, unauthenticated included:
// read from the database at most once a second however many ask, and never waited for once known.
import type { MasterServices } from './services.ts';

export interface HostCounts {
  hostsOnline: number;
  hostsTotal: number;
}

const FRESH_MS = 1000;

interface CountsCache {
  /** The last counts read, answered at once (even while a newer read waits in the database's queue). */
  known: HostCounts | null;
  at: number;
  refresh: Promise<HostCounts> | null;
  /** The last read failed: callers wait for the next one, so a broken database shows (as a 503, not old counts). */
  failed: boolean;
}

const caches = new WeakMap<MasterServices, CountsCache>();

function refresh(svc: MasterServices, cache: CountsCache): Promise<HostCounts> {
  cache.refresh ??= Promise.all([
    svc.reads.host.count({ where: { state: 'online' } }),
    svc.reads.host.count({ where: { state: { not: 'removed' } } }),
  ])
    .then(([hostsOnline, hostsTotal]) => {
      cache.known = { hostsOnline, hostsTotal };
      cache.at = performance.now();
      cache.failed = false;
      return cache.known;
    })
    .catch((err: unknown) => {
      cache.failed = true;
      throw err;
    })
    .finally(() => {
      cache.refresh = null;
    });
  return cache.refresh;
}

/**
 * The counts at most about a second old: /healthz must answer in milliseconds while sfmd's database is
 * busy, so once counts are known a caller never waits for a fresh read (it starts one in the background).
 */
export function hostCounts(svc: MasterServices): Promise<HostCounts> {
  let cache = caches.get(svc);
  if (!cache) {
    cache = { known: null, at: 0, refresh: null, failed: false };
    caches.set(svc, cache);
  }
  if (!cache.known || cache.failed) return refresh(svc, cache);
  // Its failure is the next caller's to see.
  if (performance.now() - cache.at >= FRESH_MS) refresh(svc, cache).catch(() => undefined);
  return Promise.resolve(cache.known);
}
