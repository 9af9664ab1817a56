// sfmd's half of the cluster network (DESIGN §4.6): each domain's IP and MAC at creation, the cluster's
// subnet, and what an sfld needs to wire a VM in (its `net`, the cluster's hosts and router) on the wire.
import { clusterSubnet, subnetCount, subnetIndex, vmIp, vmMac } from '../common/cluster-addresses.ts';
import { messageOf, SfError } from '../common/errors.ts';
import type { ClusterNetSpec, VmNet, VmPlacement } from '../common/wire.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES } from './store/states.ts';

/** The IP and MAC a domain is recorded with (NO_RESOURCES when its vmid does not fit the cluster's subnet). */
export function vmIdentity(svc: Pick<MasterServices, 'config'>, clusterid: number, vmid: number): { ip: string; mac: string } {
  return { ip: vmIp(svc.config.clusterNetwork, clusterid, vmid), mac: vmMac(clusterid, vmid) };
}

/** Subnets wrap around the block: a new cluster may not share its subnet with a live one. */
export async function assertSubnetFree(svc: MasterServices, clusterid: number): Promise<void> {
  const plan = svc.config.clusterNetwork;
  const count = subnetCount(plan);
  const index = subnetIndex(plan, clusterid);
  const live = await svc.db.cluster.findMany({ where: { state: 'running' }, select: { clusterid: true } });
  const clash = live.find((c) => subnetIndex(plan, c.clusterid) === index);
  if (clash) {
    throw new SfError(
      'NO_RESOURCES',
      `cluster ${clusterid} would share subnet ${clusterSubnet(plan, clusterid).network}/${plan.prefix} with live cluster ` +
        `${clash.clusterid} (cluster_network holds ${count} subnets): shut a cluster down or give sfmd.cfg a larger cluster_network`,
    );
  }
}

/** A VM's network settings as its sfld and NIC apply them (the tap name is the sfld's choice). */
export function vmNet(svc: Pick<MasterServices, 'config'>, clusterid: number, vmid: number): VmNet {
  const subnet = clusterSubnet(svc.config.clusterNetwork, clusterid);
  return {
    ...vmIdentity(svc, clusterid, vmid),
    prefixLength: subnet.prefixLength,
    gateway: subnet.gateway,
    dns: [],
  };
}

/**
 * The cluster's network as the sfld of one of its hosts builds it, from where each of its VMs runs
 * (`vms`: page-network host names); the router goes with the master's host.
 */
export function clusterNetSpec(
  svc: Pick<MasterServices, 'config'>,
  clusterid: number,
  local: string,
  vms: VmPlacement[],
  router: { inboundPorts: number[] } | null,
): ClusterNetSpec {
  const subnet = clusterSubnet(svc.config.clusterNetwork, clusterid);
  return {
    network: subnet.network,
    prefixLength: subnet.prefixLength,
    gateway: subnet.gateway,
    vxlanPort: svc.config.vxlanPort,
    local,
    hosts: [...new Set(vms.map((v) => v.host))].sort(),
    vms,
    router: router && {
      whitelist: svc.config.networkWhitelist,
      bandwidthCapMbit: svc.config.bandwidthCap,
      inboundPorts: router.inboundPorts,
    },
  };
}

/**
 * After a cluster's clones ended, its remaining hosts stop flooding to hosts that run none of its VMs any
 * more and drop the ended VMs' unicast entries. Best effort: a stale entry only wastes a copy of
 * broadcasts to a host that drops them.
 */
export async function tellClusterHosts(svc: MasterServices, clusterId: string): Promise<void> {
  const live = await svc.db.domain.findMany({
    where: { clusterId, state: { in: [...LIVE_DOMAIN_STATES] } },
    select: { vmid: true, host: { select: { name: true, multicast: true } }, cluster: { select: { clusterid: true } } },
  });
  if (live.length === 0) return;
  const vms = live.map((d) => ({ vmid: d.vmid, host: d.host.multicast }));
  const hosts = [...new Set(vms.map((v) => v.host))];
  const clusterid = live[0]!.cluster.clusterid;
  for (const name of new Set(live.map((d) => d.host.name))) {
    svc.links.command(name, 'cluster:peers', { clusterid, hosts, vms }, 5_000).catch((err: unknown) => {
      svc.log.debug({ host: name, clusterid, err: messageOf(err) }, 'could not update the cluster network peers');
    });
  }
}
