// Which vmids a new ticket's VMs get: unique within the cluster across all its tickets (seed: a master may
// hold several at once), never one a live VM or another open ticket holds, lowest free first.
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES } from './store/states.ts';

type Db = MasterServices['db'];
type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/**
 * The vmids in use in a cluster: 0 (the master), its live domains', and every vmid an unused or outstanding
 * ticket holds. An outstanding ticket keeps its vmids until it is merged even after a clone exited: its
 * master's join still reports that clone by vmid.
 */
export async function takenVmids(db: Db | Tx, clusterId: string): Promise<Set<number>> {
  const live = await db.domain.findMany({ where: { clusterId, state: { in: [...LIVE_DOMAIN_STATES] } }, select: { vmid: true } });
  const held = await db.allocation.findMany({
    where: { ticket: { clusterId, state: { in: ['unused', 'outstanding'] } } },
    select: { vmid: true },
  });
  return new Set([0, ...live.map((d) => d.vmid), ...held.map((a) => a.vmid)]);
}

/** Up to `count` free vmids below `limit`, ascending (fewer when the cluster's subnet runs out). */
export function freeVmids(taken: ReadonlySet<number>, count: number, limit: number): number[] {
  const out: number[] = [];
  for (let vmid = 1; vmid < limit && out.length < count; vmid++) if (!taken.has(vmid)) out.push(vmid);
  return out;
}
