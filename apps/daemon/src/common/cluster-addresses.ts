// Who a VM is on its cluster's network (DESIGN §4.6): the cluster's subnet carved from sfmd.cfg's
// cluster_network, a VM's IP (host number vmid + 1), the router's gateway and the VM's MAC. Pure arithmetic.
import { SfError } from './errors.ts';

/** The block clusters' subnets are carved from, and the size of each (sfmd.cfg cluster_network, cluster_prefix). */
export interface ClusterNetworkPlan {
  /** e.g. '10.128.0.0/12' */
  block: string;
  /** Prefix length of each cluster's subnet, e.g. 24. */
  prefix: number;
}

export const DEFAULT_CLUSTER_NETWORK = '10.128.0.0/12';
export const DEFAULT_CLUSTER_PREFIX = 24;
/** A cluster's subnet holds at least the master, one clone and the gateway; at most 65536 addresses (MACs carry 16 bits of vmid). */
export const MIN_CLUSTER_PREFIX = 16;
export const MAX_CLUSTER_PREFIX = 29;

/** RFC 1918 blocks: the only ones a cluster network may use, so no VM ever shadows a real outside address. */
const PRIVATE_BLOCKS: ReadonlyArray<[number, number]> = [
  [ipv4ToInt('10.0.0.0'), 8],
  [ipv4ToInt('172.16.0.0'), 12],
  [ipv4ToInt('192.168.0.0'), 16],
];

export function ipv4ToInt(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new SfError('BAD_INPUT', `'${text}' is not a dotted IPv4 address`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const maskOf = (bits: number) => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);

/** '10.128.0.0/12' → its first address and prefix; null when it is not an aligned IPv4 CIDR block. */
export function parseIpv4Cidr(text: string): { base: number; bits: number } | null {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) return null;
  let base: number;
  try {
    base = ipv4ToInt(m[1]!);
  } catch {
    return null;
  }
  const bits = Number(m[2]);
  return (base & maskOf(bits)) >>> 0 === base ? { base, bits } : null;
}

/** Why a plan cannot be used (for BAD_CONFIG naming cluster_network / cluster_prefix), or null. */
export function planProblem(plan: ClusterNetworkPlan): { key: 'cluster_network' | 'cluster_prefix'; message: string } | null {
  const block = parseIpv4Cidr(plan.block);
  if (!block) return { key: 'cluster_network', message: `expected an aligned IPv4 block like '10.128.0.0/12', got '${plan.block}'` };
  const inside = PRIVATE_BLOCKS.some(([base, bits]) => block.bits >= bits && (block.base & maskOf(bits)) >>> 0 === base);
  if (!inside) {
    return {
      key: 'cluster_network',
      message: `'${plan.block}' is not inside a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16): VMs would shadow real addresses`,
    };
  }
  if (!Number.isInteger(plan.prefix) || plan.prefix < MIN_CLUSTER_PREFIX || plan.prefix > MAX_CLUSTER_PREFIX) {
    return {
      key: 'cluster_prefix',
      message: `expected a prefix length from ${MIN_CLUSTER_PREFIX} to ${MAX_CLUSTER_PREFIX}, got ${plan.prefix}`,
    };
  }
  if (plan.prefix < block.bits) {
    return {
      key: 'cluster_prefix',
      message: `/${plan.prefix} subnets do not fit in ${plan.block}: use a prefix of at least ${block.bits}`,
    };
  }
  return null;
}

/** One cluster's network: what sfld builds and every VM's DHCP answer says. */
export interface ClusterSubnet {
  /** '10.128.1.0' */
  network: string;
  prefixLength: number;
  /** The router's address: the subnet's last usable host. */
  gateway: string;
  /** How many vmids fit (0 … maxVms - 1): every host number but the gateway's. */
  maxVms: number;
}

/** How many subnets the block holds: cluster ids wrap around it (sfmd refuses a live clash). */
export function subnetCount(plan: ClusterNetworkPlan): number {
  return 2 ** (plan.prefix - parseIpv4Cidr(plan.block)!.bits);
}

/** Which of the block's subnets a cluster uses: deterministic, so every host and restart agree. */
export function subnetIndex(plan: ClusterNetworkPlan, clusterid: number): number {
  return clusterid % subnetCount(plan);
}

export function clusterSubnet(plan: ClusterNetworkPlan, clusterid: number): ClusterSubnet {
  const block = parseIpv4Cidr(plan.block)!;
  const size = 2 ** (32 - plan.prefix);
  const network = block.base + subnetIndex(plan, clusterid) * size;
  return { network: intToIpv4(network), prefixLength: plan.prefix, gateway: intToIpv4(network + size - 2), maxVms: size - 3 };
}

/** A VM's address: host number vmid + 1 (seed §7); NO_RESOURCES when the subnet has no room for that vmid. */
export function vmIp(plan: ClusterNetworkPlan, clusterid: number, vmid: number): string {
  const subnet = clusterSubnet(plan, clusterid);
  if (vmid >= subnet.maxVms) {
    throw new SfError(
      'NO_RESOURCES',
      `cluster ${clusterid}'s /${plan.prefix} subnet has room for vmids 0-${subnet.maxVms - 1}, not ${vmid}: ` +
        'ask for fewer clones or give sfmd.cfg a smaller cluster_prefix',
    );
  }
  return intToIpv4(ipv4ToInt(subnet.network) + vmid + 1);
}

/**
 * A VM's MAC: 02:CC:CC:CC:VV:VV — 02 = locally administered unicast, then the low 24 bits of the clusterid
 * and 16 bits of the vmid (a subnet holds at most 65536 addresses). Unique within a cluster, and across
 * clusters whose ids differ below 2^24 (a MAC never leaves its cluster's network anyway).
 */
export function vmMac(clusterid: number, vmid: number): string {
  const c = clusterid % 2 ** 24;
  const bytes = [0x02, (c >>> 16) & 255, (c >>> 8) & 255, c & 255, (vmid >>> 8) & 255, vmid & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
