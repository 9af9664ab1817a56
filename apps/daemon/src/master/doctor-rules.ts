// sf doctor's findings, and the record's own rules: what must follow from an end (a host released, a master
// ended, a cluster ended) and did not. Each finding carries the repair that mends it through the lifecycle.
import { endCluster } from './clusters.ts';
import { releaseHost } from './hosts.ts';
import type { MasterServices } from './services.ts';
import { endClusterAfterMaster } from './state-reports.ts';
import { isLiveDomainState, LIVE_DOMAIN_STATES } from './store/states.ts';

/** What kind of difference a finding is. */
export type FindingKind =
  /** Recorded live; its sfld runs no VM for it. */
  | 'vm-missing'
  /** A VM runs that the record says ended, or does not know. */
  | 'vm-unrecorded'
  /** The record and the VM disagree on its state (running, paused; or a VM runs for a record still `defined`). */
  | 'state-differs'
  /** Recorded live on a host that is offline or removed (whose release should have ended it). */
  | 'live-on-unavailable-host'
  /** A running cluster whose master ended: it should have ended with it. */
  | 'cluster-master-ended'
  /** A live domain of a cluster that ended. */
  | 'live-in-ended-cluster'
  /** An unused or outstanding ticket of a cluster that ended. */
  | 'ticket-open-in-ended-cluster'
  /** An outstanding ticket none of whose clones is live and whose master ended: nobody will ever merge it. */
  | 'ticket-orphaned';

export interface Finding {
  kind: FindingKind;
  /** CLUSTER:VMID, cluster:N or ticket:ID. */
  subject: string;
  /** The host the difference was seen on (null for the record's own rules about a cluster or ticket). */
  host: string | null;
  recorded: string;
  actual: string;
  /** What the repair does (or did). */
  repair: string;
  /** Whether the repair ran and succeeded (false when only checking). */
  repaired: boolean;
  /** Why the repair failed, when it did. */
  error: string | null;
}

/** A finding with the repair that mends it; repairs sharing a key are one repair (e.g. ending one cluster). */
export interface Diagnosis extends Omit<Finding, 'repaired' | 'error'> {
  fix: { key: string; run: () => Promise<unknown> };
}

export const address = (d: { clusterid: number; vmid: number }) => `${d.clusterid}:${d.vmid}`;
export const ended = (state: string, exitCode: number | null, reason: string | null) =>
  `${state}${exitCode !== null ? `(${exitCode})` : ''}${reason ? `: ${reason}` : ''}`;

type Db = MasterServices['db'];
type HostRow = Awaited<ReturnType<Db['host']['findFirstOrThrow']>>;
type LiveDomainRow = { hostId: string; vmid: number; state: string; cluster: { clusterid: number } };

/** The record's own rules: live domains on hosts that are not online, clusters and tickets that outlived their end. */
export async function recordDiagnoses(svc: MasterServices, hosts: HostRow[], live: LiveDomainRow[]): Promise<Diagnosis[]> {
  const diagnoses: Diagnosis[] = [];
  for (const host of hosts) {
    if (host.state === 'online') continue;
    const stranded = live.filter((d) => d.hostId === host.id);
    for (const d of stranded) {
      diagnoses.push({
        kind: 'live-on-unavailable-host',
        subject: address({ clusterid: d.cluster.clusterid, vmid: d.vmid }),
        host: host.name,
        recorded: d.state,
        actual: `host ${host.name} is ${host.state}`,
        repair: `release host ${host.name} again: its domains lost, clusters of its masters ended`,
        fix: {
          key: `host:${host.id}`,
          run: async () => {
            const now = await svc.db.host.findUniqueOrThrow({ where: { id: host.id } });
            if (now.state === 'online') return;
            await releaseHost(svc, host.id, now.state, `sf doctor found ${stranded.length} domain(s) still recorded live on it`);
          },
        },
      });
    }
  }

  diagnoses.push(...(await clusterDiagnoses(svc)));
  return diagnoses;
}

/** Clusters and tickets that outlived what ends them: a master that ended, a cluster that ended. */
async function clusterDiagnoses(svc: MasterServices): Promise<Diagnosis[]> {
  const out: Diagnosis[] = [];
  const running = await svc.db.cluster.findMany({
    where: { state: 'running' },
    include: {
      domains: { where: { vmid: 0 }, orderBy: { createdAt: 'desc' }, take: 1 },
      tickets: { where: { state: 'outstanding' }, include: { domains: true } },
    },
    orderBy: { clusterid: 'asc' },
  });
  for (const c of running) {
    const master = c.domains[0];
    if (!master || isLiveDomainState(master.state)) continue;
    const fix = { key: `cluster:${c.id}`, run: () => mendCluster(svc, c.id) };
    const how = ended(master.state, master.exitCode, master.endReason);
    out.push({
      kind: 'cluster-master-ended',
      subject: `cluster:${c.clusterid}`,
      host: null,
      recorded: 'running',
      actual: `its master ${c.clusterid}:0 ${how}`,
      repair: `end the cluster as its master's end does (clones stopped, tickets closed)`,
      fix,
    });
    for (const t of c.tickets.filter((t) => !t.domains.some((d) => isLiveDomainState(d.state)))) {
      out.push({
        kind: 'ticket-orphaned',
        subject: `ticket:${t.id}`,
        host: null,
        recorded: 'outstanding',
        actual: `none of its clones is live and its master ${c.clusterid}:0 ${master.state}`,
        repair: `merge it with its cluster's end`,
        fix,
      });
    }
  }

  const over = await svc.db.cluster.findMany({
    where: {
      state: { in: ['shutdown', 'lost'] },
      OR: [
        { domains: { some: { state: { in: [...LIVE_DOMAIN_STATES] } } } },
        { tickets: { some: { state: { in: ['unused', 'outstanding'] } } } },
      ],
    },
    include: {
      domains: { where: { state: { in: [...LIVE_DOMAIN_STATES] } }, include: { host: true }, orderBy: { vmid: 'asc' } },
      tickets: { where: { state: { in: ['unused', 'outstanding'] } }, orderBy: { createdAt: 'asc' } },
    },
    orderBy: { clusterid: 'asc' },
  });
  for (const c of over) {
    const fix = { key: `cluster:${c.id}`, run: () => mendCluster(svc, c.id) };
    const repair = `end cluster ${c.clusterid} again: live VMs destroyed and stopped, tickets closed`;
    for (const d of c.domains) {
      out.push({
        kind: 'live-in-ended-cluster',
        subject: `${c.clusterid}:${d.vmid}`,
        host: d.host.name,
        recorded: d.state,
        actual: `its cluster ${c.clusterid} is ${c.state}`,
        repair,
        fix,
      });
    }
    for (const t of c.tickets) {
      out.push({
        kind: 'ticket-open-in-ended-cluster',
        subject: `ticket:${t.id}`,
        host: null,
        recorded: t.state,
        actual: `its cluster ${c.clusterid} is ${c.state}`,
        repair,
        fix,
      });
    }
  }
  return out;
}

/** Ends what a cluster left behind, as its end would have, if the record still shows it (repairs may overlap). */
async function mendCluster(svc: MasterServices, clusterId: string): Promise<void> {
  const c = await svc.db.cluster.findUniqueOrThrow({
    where: { id: clusterId },
    include: { domains: { where: { vmid: 0 }, orderBy: { createdAt: 'desc' }, take: 1 } },
  });
  if (c.state === 'running') {
    const master = c.domains[0];
    if (!master || isLiveDomainState(master.state)) return;
    await endClusterAfterMaster(svc, c.id, c.clusterid, master.state, master.endReason);
    return;
  }
  const leftovers =
    (await svc.db.domain.count({ where: { clusterId, state: { in: [...LIVE_DOMAIN_STATES] } } })) +
    (await svc.db.ticket.count({ where: { clusterId, state: { in: ['unused', 'outstanding'] } } }));
  if (leftovers > 0) await endCluster(svc, clusterId, c.state, 'sf doctor found it ended with live domains or open tickets');
}
