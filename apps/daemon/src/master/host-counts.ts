// The host counts that /healthz and the health procedure give to anyone, unauthenticated included:
// read from the database at most once a second however many ask, so asking costs sfmd no more.
import type { MasterServices } from './services.ts';

export interface HostCounts {
  hostsOnline: number;
  hostsTotal: number;
}

const FRESH_MS = 1000;
const cache = new WeakMap<MasterServices, { at: number; counts: Promise<HostCounts> }>();

export function hostCounts(svc: MasterServices): Promise<HostCounts> {
  const now = performance.now();
  const cached = cache.get(svc);
  if (cached && now - cached.at < FRESH_MS) return cached.counts;
  const counts = Promise.all([
    svc.db.host.count({ where: { state: 'online' } }),
    svc.db.host.count({ where: { state: { not: 'removed' } } }),
  ]).then(([hostsOnline, hostsTotal]) => ({ hostsOnline, hostsTotal }));
  cache.set(svc, { at: now, counts });
  // A failed read is not kept: the next caller tries again.
  counts.catch(() => {
    if (cache.get(svc)?.counts === counts) cache.delete(svc);
  });
  return counts;
}
