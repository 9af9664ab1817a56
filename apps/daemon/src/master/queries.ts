// Read-only views for admins and the dashboard: hosts with their use, domains, clusters, operations.
// They read through svc.reads, a connection of their own, so a flood of them never queues ahead of the record's writes.
import { SfError } from '../common/errors.ts';
import { freeCapacity } from './capacity.ts';
import { figureRelay, type FigureRelay } from './dashboard-figures.ts';
import { diskView } from './disk-view.ts';
import type { MasterServices } from './services.ts';
import { isLiveDomainState, LIVE_DOMAIN_STATES, type DomainState } from './store/states.ts';
import { hostView, operationView } from './views.ts';

export async function listHosts(svc: MasterServices) {
  const [hosts, free] = await Promise.all([svc.reads.host.findMany({ orderBy: { name: 'asc' } }), freeCapacity(svc.reads)]);
  const freeById = new Map(free.map((f) => [f.hostId, f]));
  return hosts.map((h) => {
    const f = freeById.get(h.id);
    return hostView(h, svc, f ? { cpus: h.cpus - f.cpusFree, ram: Number(h.ram) - f.ramFree } : undefined);
  });
}

export async function getHost(svc: MasterServices, name: string) {
  const host = (await listHosts(svc)).find((h) => h.name === name);
  if (!host) throw new SfError('HOST_UNKNOWN', `there is no host '${name}': hosts come from cluster_hosts in sfmd.cfg`);
  return host;
}

/** A domain's NIC figures: `live` ones from its sfld's last batch while it runs, the final ones on its record after. */
export interface NicView {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  drops: number;
  live: boolean;
}

interface NicColumns {
  clusterid: number;
  vmid: number;
  host: string;
  state: DomainState;
  rxBytes: bigint | null;
  txBytes: bigint | null;
  rxPackets: bigint | null;
  txPackets: bigint | null;
  netDrops: bigint | null;
}

function nicView(d: NicColumns, relay: FigureRelay | null): NicView | null {
  if (isLiveDomainState(d.state)) {
    const sample = relay?.nicOf(d.clusterid, d.vmid);
    if (!sample || sample.host !== d.host) return null;
    const { rxBytes, txBytes, rxPackets, txPackets, drops } = sample;
    return { rxBytes, txBytes, rxPackets, txPackets, drops, live: true };
  }
  if (d.rxBytes === null) return null;
  return {
    rxBytes: Number(d.rxBytes),
    txBytes: Number(d.txBytes ?? 0n),
    rxPackets: Number(d.rxPackets ?? 0n),
    txPackets: Number(d.txPackets ?? 0n),
    drops: Number(d.netDrops ?? 0n),
    live: false,
  };
}

/** What `all` lists at most unless asked for more: ended domains pile up, and a listing is read whole. */
export const DEFAULT_DOMAIN_LIMIT = 1000;

/**
 * The live domains, or with `all` the newest `limit` of every state (oldest first, as always; `limit` bounds
 * the live listing too when given); only the
 * columns the view shows are read (the record's reads cost per row, and ten thousand ended domains are many).
 */
export async function listDomains(svc: MasterServices, opts: { all: boolean; clusterid?: number | undefined; limit?: number | undefined }) {
  const newest = await svc.reads.domain.findMany({
    where: {
      ...(opts.all ? {} : { state: { in: [...LIVE_DOMAIN_STATES] } }),
      ...(opts.clusterid !== undefined ? { cluster: { clusterid: opts.clusterid } } : {}),
    },
    omit: { id: true, clusterId: true, hostId: true },
    include: { cluster: { select: { clusterid: true, seedConfig: true } }, host: { select: { name: true } } },
    orderBy: [{ createdAt: 'desc' }, { vmid: 'desc' }],
    take: opts.limit ?? (opts.all ? DEFAULT_DOMAIN_LIMIT : undefined),
  });
  const domains = newest.reverse();
  const relay = figureRelay(svc);
  return domains.map((d) => ({
    domain: `${d.cluster.clusterid}:${d.vmid}`,
    clusterid: d.cluster.clusterid,
    vmid: d.vmid,
    host: d.host.name,
    vcpus: d.vcpus,
    memory: Number(d.memory),
    state: d.state,
    exitCode: d.exitCode,
    endReason: d.endReason,
    ip: d.ip,
    mac: d.mac,
    /** What its NIC moved (rx: frames to the VM); null: no NIC, or no figures yet. */
    net: nicView({ ...d, clusterid: d.cluster.clusterid, host: d.host.name }, relay),
    /** Its disk: the cluster's image and what the VM read and wrote; null: the cluster has no disk. */
    disk: diskView({ ...d, clusterid: d.cluster.clusterid, host: d.host.name, seedConfig: d.cluster.seedConfig }, relay),
    ticket: d.ticketId,
    createdAt: d.createdAt.toISOString(),
    endedAt: d.endedAt?.toISOString() ?? null,
  }));
}

export async function listClusters(svc: MasterServices) {
  const clusters = await svc.reads.cluster.findMany({
    orderBy: { clusterid: 'asc' },
    include: { _count: { select: { domains: { where: { state: { in: [...LIVE_DOMAIN_STATES] } } } } } },
  });
  return clusters.map((c) => ({
    clusterid: c.clusterid,
    name: c.name,
    state: c.state,
    liveDomains: c._count.domains,
    createdAt: c.createdAt.toISOString(),
    endedAt: c.endedAt?.toISOString() ?? null,
  }));
}

export async function listOperations(svc: MasterServices, opts: { limit: number; kind?: string | undefined }) {
  const ops = await svc.reads.operation.findMany({
    where: opts.kind ? { kind: opts.kind } : {},
    orderBy: { startedAt: 'desc' },
    take: opts.limit,
  });
  return ops.map(operationView);
}

export async function getOperation(svc: MasterServices, id: string) {
  const op = await svc.reads.operation.findUnique({ where: { id } });
  if (!op) throw new SfError('OPERATION_UNKNOWN', `there is no operation ${id}: list operations with sf ops`);
  return operationView(op);
}
