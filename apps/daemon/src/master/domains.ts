// Finding the domain a guest call acts for, and the master/clone rules: CLUSTER:VMID names the one
// live domain with that vmid; master-only calls reject clones and clone-only calls reject masters.
import type { DomainRef } from '../common/domain-ref.ts';
import { SfError } from '../common/errors.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES, type DomainState } from './store/states.ts';

export async function findLiveDomain(svc: MasterServices, ref: DomainRef) {
  const domain = await svc.db.domain.findFirst({
    where: { vmid: ref.vmid, cluster: { clusterid: ref.clusterid }, state: { in: [...LIVE_DOMAIN_STATES] } },
    include: { cluster: true, host: true },
  });
  if (!domain) {
    throw new SfError('DOMAIN_UNKNOWN', `no running domain ${ref.clusterid}:${ref.vmid}: list domains with sfstate`);
  }
  return domain;
}

/** The newest domain named CLUSTER:VMID, live or ended (an ended one still has a console to read). */
export async function findLatestDomain(svc: MasterServices, ref: DomainRef) {
  const domain = await svc.db.domain.findFirst({
    where: { vmid: ref.vmid, cluster: { clusterid: ref.clusterid } },
    include: { cluster: true, host: true },
    orderBy: { createdAt: 'desc' },
  });
  if (!domain) throw new SfError('DOMAIN_UNKNOWN', `there is no domain ${ref.clusterid}:${ref.vmid}: list domains with sfstate --all`);
  return domain;
}

export type LiveDomain = Awaited<ReturnType<typeof findLiveDomain>>;

export function requireMaster(domain: LiveDomain, call: string): void {
  if (domain.vmid !== 0) {
    throw new SfError(
      'NOT_MASTER',
      `${call} may only be called by the master VM (vmid 0) of cluster ` +
        `${domain.cluster.clusterid}; domain ${domain.cluster.clusterid}:${domain.vmid} is a clone`,
    );
  }
}

export function requireClone(domain: LiveDomain, call: string): void {
  if (domain.vmid === 0) {
    throw new SfError('NOT_CLONE', `${call} may only be called by a clone; domain ${domain.cluster.clusterid}:0 is the master`);
  }
}

/** Announces a domain's new state to dashboards. */
export function announceDomain(svc: MasterServices, clusterid: number, vmid: number, host: string, state: DomainState): void {
  svc.events.emit('domain:state', { clusterid, vmid, host, state, at: new Date().toISOString() });
}

/**
 * Resolves when `check` returns a value, re-checking whenever `event` fires; rejects with TIMEOUT, or with
 * UNAVAILABLE once `signal` aborts (the caller went away: nobody would take what the wait would get).
 */
export async function waitFor<T>(
  svc: MasterServices,
  event: 'capacity' | 'domain:state',
  timeoutMs: number,
  what: string,
  check: () => Promise<T | null>,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new SfError('UNAVAILABLE', `stopped waiting for ${what}: the caller went away`);
    const value = await check();
    if (value !== null) return value;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new SfError('TIMEOUT', `gave up waiting after ${timeoutMs} ms for ${what}`);
    await new Promise<void>((resolve) => {
      // Also re-check every second: an event may fire between check() and listening.
      const timer = setTimeout(done, Math.min(remaining, 1000));
      function done() {
        clearTimeout(timer);
        svc.events.off(event, done);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      svc.events.once(event, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
