// Takes back the presumption that a host was lost: when its sfld registers again (on reconnect, or asked to
// after a heartbeat from a host sfmd declared offline), the record of its domains follows what the sfld runs.
import type { DomainAddress, DomainStateReport, HostRegistration } from '../common/events.ts';
import { setState } from './domain-lifecycle.ts';
import { announceDomain } from './domains.ts';
import type { MasterServices } from './services.ts';
import { applyStateReport, endClusterAfterMaster } from './state-reports.ts';
import { isLiveDomainState, LIVE_DOMAIN_STATES } from './store/states.ts';

/** How the VMs an sfld no longer runs ended, by CLUSTER:VMID, as it reports them (with a registration or an inventory). */
export function endingsOf(info: { domains: DomainAddress[]; ended: DomainStateReport[] }): Map<string, DomainStateReport> {
  const alive = new Set(info.domains.map(address));
  return new Map(info.ended.filter((e) => !alive.has(address(e))).map((e) => [address(e), e]));
}

/**
 * What ends the record of a domain whose VM its sfld no longer runs: the end the sfld saw, or, when it saw
 * none (it restarted, or the VM vanished unreported), `crashed` with `why`.
 */
export function vanishedReport(d: DomainAddress, endings: Map<string, DomainStateReport>, why: string): DomainStateReport {
  const ending = endings.get(address(d));
  return ending && !isLiveDomainState(ending.state) ? ending : { ...d, state: 'crashed', exitCode: null, reason: why };
}

/** What a (re)registration did to the record of the host's domains. */
export interface DomainReconciliation {
  /** Presumed lost with the host, still running there: running again in the record. */
  revived: string[];
  /** Presumed lost (or recorded live) and in fact ended on the host: the record says how. */
  ended: string[];
  /** Still running on the host but no longer wanted (cluster over, ticket over, vmid reused): destroyed. */
  destroyed: string[];
}

const address = (d: { clusterid: number; vmid: number }) => `${d.clusterid}:${d.vmid}`;

/** The end reason releaseHost gives the domains of a host that went offline: how a comeback finds them. */
export const offlineEndReasonPrefix = (hostName: string) => `host ${hostName} went offline (`;

/**
 * A (re)registering sfld says which VMs it runs and how recent ones ended; the record follows.
 * - Domains recorded live whose VM the sfld no longer has ended: as the sfld says, or crashed (it restarted).
 * - Domains presumed lost when sfmd declared the host offline (this last time; older ones stay as they are):
 *   one the sfld still runs is running again, if its cluster is (a cluster lost only because its master was
 *   presumed lost is running again with it) and, for a clone, its ticket is still outstanding and no newer
 *   domain took its CLUSTER:VMID; otherwise its VM is destroyed and the record stays `lost`. One that ended
 *   on the host ends in the record as the sfld saw it, with its reason; one the sfld knows nothing of stays lost.
 * What the release gave back is not taken back: reservations of unused tickets stay released (their capacity
 * may be promised again; the guest asks for a new ticket), and tickets keep their state (the release never
 * changed an outstanding ticket; a merged or disposed one does not come back).
 */
export async function reconcileDomains(
  svc: MasterServices,
  before: { id: string; name: string; state: string; registeredAt: Date | null },
  info: HostRegistration,
): Promise<DomainReconciliation> {
  const outcome: DomainReconciliation = { revived: [], ended: [], destroyed: [] };
  const alive = new Set(info.domains.map(address));
  const endings = endingsOf(info);
  const hostName = before.name;

  const recorded = await svc.db.domain.findMany({
    where: { hostId: before.id, state: { in: ['booting', 'running', 'paused'] } },
    include: { cluster: true },
    // Clones before masters: each VM that vanished is recorded crashed with its own reason before its
    // master's end stops what is left of the cluster.
    orderBy: { vmid: 'desc' },
  });
  for (const d of recorded) {
    const key = address({ clusterid: d.cluster.clusterid, vmid: d.vmid });
    if (alive.has(key)) continue;
    const applied = await applyStateReport(
      svc,
      hostName,
      vanishedReport({ clusterid: d.cluster.clusterid, vmid: d.vmid }, endings, 'its sfld restarted'),
    );
    if (applied) outcome.ended.push(key);
  }

  if (before.state !== 'offline') return outcome;
  const presumed = await svc.db.domain.findMany({
    where: {
      hostId: before.id,
      state: 'lost',
      endReason: { startsWith: offlineEndReasonPrefix(hostName) },
      // Only the last time the host went offline: a VM lost in an earlier episode is not revisited.
      ...(before.registeredAt ? { endedAt: { gte: before.registeredAt } } : {}),
    },
    include: { ticket: true, cluster: true },
    orderBy: { vmid: 'asc' }, // masters first: a clone's fate depends on its cluster's
  });
  for (const d of presumed) {
    const key = address({ clusterid: d.cluster.clusterid, vmid: d.vmid });
    if (alive.has(key)) {
      const refusal = await revivalRefusal(svc, d);
      if (refusal) {
        outcome.destroyed.push(key);
        svc.log.warn({ host: hostName, domain: key, why: refusal }, 'VM presumed lost still runs but is not wanted: destroying it');
        svc.links
          .command(hostName, 'domain:destroy', { clusterid: d.cluster.clusterid, vmid: d.vmid })
          .catch((err: unknown) => svc.log.warn({ err, host: hostName, domain: key }, 'could not destroy VM'));
        continue;
      }
      if (d.vmid === 0 && d.cluster.state === 'lost') {
        // The cluster was lost only because its master was presumed lost with this host.
        await svc.db.cluster.update({ where: { id: d.clusterId }, data: { state: 'running', endedAt: null } });
      }
      await svc.db.domain.update({ where: { id: d.id }, data: { state: 'running', endedAt: null, exitCode: null, endReason: null } });
      announceDomain(svc, d.cluster.clusterid, d.vmid, hostName, 'running');
      outcome.revived.push(key);
      continue;
    }
    const ending = endings.get(key);
    if (!ending || isLiveDomainState(ending.state)) continue; // the sfld has no word of it: lost it stays
    const reason = `${ending.reason ?? ending.state} (ended while sfmd had declared host ${hostName} offline)`;
    await setState(svc, d.id, ending.state, { exitCode: ending.exitCode, reason });
    outcome.ended.push(key);
    if (d.vmid === 0 && d.cluster.state === 'lost') {
      // The master did end: its cluster ends as it would have had the report come in time.
      await endClusterAfterMaster(svc, d.clusterId, d.cluster.clusterid, ending.state, reason);
    }
  }
  return outcome;
}

/** Why a VM presumed lost that still runs must not be running again in the record; null if it may. */
async function revivalRefusal(
  svc: MasterServices,
  d: { clusterId: string; vmid: number; cluster: { clusterid: number }; ticket: { state: string; id: string } | null },
): Promise<string | null> {
  const cluster = await svc.db.cluster.findUniqueOrThrow({ where: { id: d.clusterId } });
  const newer = await svc.db.domain.count({ where: { clusterId: d.clusterId, vmid: d.vmid, state: { in: [...LIVE_DOMAIN_STATES] } } });
  if (newer > 0) return `domain ${d.cluster.clusterid}:${d.vmid} was made again meanwhile`;
  if (d.vmid === 0) return cluster.state === 'shutdown' ? `cluster ${d.cluster.clusterid} was shut down meanwhile` : null;
  if (cluster.state !== 'running') return `cluster ${d.cluster.clusterid} is ${cluster.state}`;
  if (d.ticket && d.ticket.state !== 'outstanding') return `its ticket ${d.ticket.id} is ${d.ticket.state}`;
  return null;
}
