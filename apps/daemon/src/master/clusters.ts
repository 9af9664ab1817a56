// Clusters: seeding a new master VM (placed by the allocator like any clone) and shutting a cluster
// down (every domain stopped, unused tickets disposed, outstanding ones merged, resources released).
import { messageOf, SfError } from '../common/errors.ts';
import { freeCapacity } from './capacity.ts';
import { assertSubnetFree, vmIdentity } from './cluster-net.ts';
import { announceDomain, requireMaster, type LiveDomain } from './domains.ts';
import { endClones } from './clones.ts';
import { bootDomain, destroyDomainVm, DISK_ONLY_SEED } from './domain-lifecycle.ts';
import { runOperation } from './operations.ts';
import type { SeedConfig } from './seed-config.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES } from './store/states.ts';
import { requester } from './tickets.ts';
import { tellClusterTicketsEnded } from './ticket-ended.ts';

const MiB = 1024 * 1024;

export async function seedCluster(svc: MasterServices, config: SeedConfig, requesterName: string) {
  if (!config.diskImage && !config.kernel) {
    throw new SfError('BAD_CONFIG', 'the seed config needs disk_image or kernel: say what the master VM boots');
  }
  // Refused before anything is placed: a disk-only seed is a Linux guest.
  if (!config.kernel) throw new SfError('BAD_CONFIG', DISK_ONLY_SEED);
  return runOperation(
    svc,
    { kind: 'cluster.seed', target: config.name ?? 'new cluster', requester: requesterName, detail: { ...config } },
    async (op) => {
      const { cluster, hostName } = await svc.placementLock.run(async () => {
        const hosts = await freeCapacity(svc.db);
        const [placement] = svc.allocator.allocate(hosts, {
          amount: 1,
          procs: false,
          min: 1,
          masterVcpus: config.vcpus,
          memory: config.memoryMiB * MiB,
        });
        if (!placement) {
          const online = hosts.length;
          throw new SfError(
            'NO_RESOURCES',
            online === 0
              ? 'no host is online: start sfld on a host listed in sfmd.cfg (sfld start)'
              : `no online host has ${config.vcpus} free cpus and ${config.memoryMiB} MiB free RAM: shut down a cluster or ask for less`,
          );
        }
        const last = await svc.db.cluster.findFirst({ orderBy: { clusterid: 'desc' } });
        // sfmd.cfg's clusterid is where numbering starts; raised later, new clusters start there (seed §12).
        const clusterid = Math.max(last ? last.clusterid + 1 : 0, svc.config.clusterId);
        await assertSubnetFree(svc, clusterid);
        const cluster = await svc.db.cluster.create({
          data: {
            clusterid,
            name: config.name,
            seedConfig: JSON.stringify(config),
            state: 'running',
            domains: {
              create: {
                vmid: 0,
                hostId: placement.hostId,
                vcpus: config.vcpus,
                memory: BigInt(config.memoryMiB * MiB),
                state: 'defined',
                ...vmIdentity(svc, clusterid, 0),
              },
            },
          },
        });
        const hostName = hosts.find((h) => h.hostId === placement.hostId)!.name;
        return { cluster, hostName };
      });
      announceDomain(svc, cluster.clusterid, 0, hostName, 'defined');
      const master = await svc.db.domain.findFirstOrThrow({ where: { clusterId: cluster.id, vmid: 0 } });
      try {
        await bootDomain(svc, master.id);
      } catch (err) {
        // Nothing runs: give the reservation back at once, and leave no cluster behind (a refused seed
        // is not a cluster that was lost; the operation row keeps why it was refused).
        await endCluster(svc, cluster.id, 'lost', `its master did not boot (${messageOf(err)})`);
        await forgetCluster(svc, cluster.id);
        throw err;
      }
      // Only now: a refused seed's cluster is forgotten and its id given to the next one, whose page must not show it.
      await op.belongsTo(cluster.clusterid);
      return clusterDetail(svc, cluster.clusterid);
    },
  );
}

/**
 * Ends a cluster: clones of outstanding tickets are stopped and their tickets merged, unused tickets
 * disposed, every remaining VM destroyed, and the cluster marked `state`. Its resources are free after.
 * `why` says what ended it ("shut down by domain:1:0", "its master 1:0 crashed (…)"): every domain it
 * ends carries it as its end reason, so an orderly stop and a crash never look alike in the record.
 */
export async function endCluster(svc: MasterServices, clusterId: string, state: 'shutdown' | 'lost', why: string) {
  const cluster = await svc.db.cluster.findUniqueOrThrow({ where: { id: clusterId } });
  const reason = `cluster ${cluster.clusterid} ${state === 'shutdown' ? 'was shut down' : 'was lost'}: ${why}`;
  const tickets = await svc.db.ticket.findMany({ where: { clusterId, state: { in: ['unused', 'outstanding'] } } });
  for (const t of tickets) {
    // An outstanding ticket's clones were made: it ends merged (they are over); an unused one was never used: disposed.
    if (t.state === 'outstanding') await endClones(svc, t.id, 'stopped', reason);
    await svc.db.ticket.updateMany({
      where: { id: t.id, state: t.state },
      data: { state: t.state === 'unused' ? 'disposed' : 'merged', endedAt: new Date() },
    });
  }
  await tellClusterTicketsEnded(
    svc,
    clusterId,
    tickets.map((t) => t.id),
  );
  const rest = await svc.db.domain.findMany({
    where: { clusterId, state: { in: [...LIVE_DOMAIN_STATES] } },
    include: { host: true, cluster: true },
  });
  for (const d of rest) await destroyDomainVm(svc, d);
  const now = new Date();
  await svc.db.domain.updateMany({
    where: { id: { in: rest.map((d) => d.id) } },
    data: { state: 'stopped', endedAt: now, endReason: reason },
  });
  await svc.db.cluster.update({ where: { id: clusterId }, data: { state, endedAt: now } });
  for (const d of rest) announceDomain(svc, cluster.clusterid, d.vmid, d.host.name, 'stopped');
  svc.events.emit('capacity');
}

/** The records of a cluster whose master never ran: its domain rows and the cluster itself. */
async function forgetCluster(svc: MasterServices, clusterId: string): Promise<void> {
  await svc.db.$transaction([svc.db.domain.deleteMany({ where: { clusterId } }), svc.db.cluster.delete({ where: { id: clusterId } })]);
}

/** What a shutdown would end besides the master: clones still out and tickets not yet merged or disposed. */
export async function shutdownBlockers(svc: MasterServices, clusterId: string) {
  const clones = await svc.db.domain.findMany({
    where: { clusterId, vmid: { gt: 0 }, state: { in: [...LIVE_DOMAIN_STATES] } },
    select: { vmid: true, state: true, ticketId: true, host: { select: { name: true } } },
    orderBy: { vmid: 'asc' },
  });
  const tickets = await svc.db.ticket.findMany({
    where: { clusterId, state: { in: ['unused', 'outstanding'] } },
    select: { id: true, state: true },
    orderBy: { createdAt: 'asc' },
  });
  return {
    clones: clones.map((c) => ({ vmid: c.vmid, state: c.state, ticket: c.ticketId, host: c.host.name })),
    tickets: tickets.map((t) => ({ ticket: t.id, state: t.state })),
  };
}

/** TICKET_STATE naming what is still out, unless nothing is: the seed's shutdown does not proceed then. */
export async function refuseWhileOut(svc: MasterServices, clusterId: string, clusterid: number): Promise<void> {
  const { clones, tickets } = await shutdownBlockers(svc, clusterId);
  if (clones.length === 0 && tickets.length === 0) return;
  const parts = [
    clones.length > 0 ? `clones still out: ${clones.map((x) => `${clusterid}:${x.vmid}`).join(', ')}` : null,
    tickets.length > 0 ? `tickets not merged: ${tickets.map((t) => `${t.ticket} (${t.state})`).join(', ')}` : null,
  ].filter(Boolean);
  throw new SfError(
    'TICKET_STATE',
    `cluster ${clusterid} was not shut down: ${parts.join('; ')}. Merge them first (sfmerge '' merges all, sf dispose gives an ` +
      'unused ticket back), or force the shutdown (sfshutdown --force) to stop everything',
  );
}

/**
 * SHUTDOWN_CLUSTER: the master (or an admin acting for it) ends the whole cluster. As the seed says, it does not
 * proceed while clones are out or tickets are unmerged (the error names them); `force` stops them all anyway.
 */
export async function shutdownCluster(svc: MasterServices, domain: LiveDomain, options: { force?: boolean } = {}) {
  requireMaster(domain, 'cluster.shutdown');
  if (!options.force) await refuseWhileOut(svc, domain.clusterId, domain.cluster.clusterid);
  return runOperation(
    svc,
    {
      kind: 'cluster.shutdown',
      target: `cluster:${domain.cluster.clusterid}`,
      requester: requester(domain),
      detail: { force: options.force === true },
    },
    async () => {
      await endCluster(svc, domain.clusterId, 'shutdown', `shut down by ${requester(domain)}`);
      return clusterDetail(svc, domain.cluster.clusterid);
    },
  );
}

export async function clusterDetail(svc: MasterServices, clusterid: number) {
  const cluster = await svc.db.cluster.findUnique({
    where: { clusterid },
    include: {
      domains: { include: { host: true }, orderBy: [{ createdAt: 'asc' }, { vmid: 'asc' }] },
      tickets: { orderBy: { createdAt: 'asc' } },
    },
  });
  if (!cluster) throw new SfError('CLUSTER_UNKNOWN', `there is no cluster ${clusterid}: list clusters with sfstate`);
  return {
    clusterid: cluster.clusterid,
    name: cluster.name,
    state: cluster.state,
    seedConfig: JSON.parse(cluster.seedConfig) as SeedConfig,
    createdAt: cluster.createdAt.toISOString(),
    endedAt: cluster.endedAt?.toISOString() ?? null,
    domains: cluster.domains.map((d) => ({
      vmid: d.vmid,
      host: d.host.name,
      vcpus: d.vcpus,
      memory: Number(d.memory),
      state: d.state,
      ticket: d.ticketId,
      ip: d.ip,
      mac: d.mac,
    })),
    tickets: cluster.tickets.map((t) => ({ ticket: t.id, state: t.state, requested: t.requested, granted: t.granted, procs: t.procs })),
  };
}
