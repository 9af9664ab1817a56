// Who is calling the guest API on a cluster's gateway: the TCP peer's address is the VM's identity (the bridge
// rules let a VM send only with its own IP), so host number - 1 in the cluster's subnet is its vmid (DESIGN §4.6).
import { ipv4ToInt } from '../../common/cluster-addresses.ts';
import { SfError } from '../../common/errors.ts';

/** One cluster's listener: its subnet and the gateway address the connection came in on. */
export interface GatewaySubnet {
  clusterid: number;
  network: string;
  prefixLength: number;
  gateway: string;
}

/** Node gives IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d. */
const plainIpv4 = (address: string | undefined) => (address ?? '').replace(/^::ffff:/i, '');

function toInt(address: string): number | null {
  try {
    return ipv4ToInt(address);
  } catch {
    return null;
  }
}

/**
 * The domain a connection acts for, or FORBIDDEN: it must have come in on this cluster's gateway address from a
 * VM's address of the same subnet (not the network or broadcast address, not the gateway itself, i.e. not this host).
 */
export function callerOf(subnet: GatewaySubnet, localAddress: string | undefined, remoteAddress: string | undefined) {
  const local = plainIpv4(localAddress);
  const remote = plainIpv4(remoteAddress);
  const refuse = (why: string) => new SfError('FORBIDDEN', `the guest API of cluster ${subnet.clusterid} answers only its own VMs: ${why}`);
  if (local !== subnet.gateway) throw refuse(`the call came in on ${local || 'no address'}, not on the gateway ${subnet.gateway}`);
  const peer = toInt(remote);
  const size = 2 ** (32 - subnet.prefixLength);
  const network = ipv4ToInt(subnet.network);
  const host = peer === null ? -1 : peer - network;
  if (host < 1 || host >= size - 1)
    throw refuse(`${remote || 'an unknown address'} is not on its network ${subnet.network}/${subnet.prefixLength}`);
  if (remote === subnet.gateway) throw refuse('the gateway itself (this host) is no VM');
  return { clusterid: subnet.clusterid, vmid: host - 1 };
}
