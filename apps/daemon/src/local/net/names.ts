// The names of the kernel objects sfld makes for cluster networks, and how it recognises its own:
// every link carries the alias OWNER_ALIAS, so a sweep never touches an interface someone else named alike.
import { SfError } from '../../common/errors.ts';

/** Set as the alias (ifalias) of every link sfld makes: what the sweep at start looks for. */
export const OWNER_ALIAS = 'snowflock';
/** The nftables tables sfld owns (one per family), rebuilt whole on every change. */
export const NFT_TABLE = 'snowflock';

// Interface names are at most 15 bytes: 'sf' + up to 8 hex digits of the clusterid + a kind letter
// (+ up to 4 hex digits of the vmid for a tap): bridge sf1b, VXLAN sf1x, router leg sf1r/sf1g, taps sf1v0 … sf7fffffffvffff.
const hex = (n: number) => n.toString(16);
const NAME = /^sf([0-9a-f]{1,8})(b|x|r|g|v([0-9a-f]{1,4}))$/;

/** A VM's MAC carries 16 bits of vmid; a tap name no more. */
export const MAX_NET_VMID = 0xffff;

export const bridgeName = (clusterid: number) => `sf${hex(clusterid)}b`;
export const vxlanName = (clusterid: number) => `sf${hex(clusterid)}x`;
/**
 * The router's leg: a veth pair, `port` on the bridge and `gateway` (with the gateway address) in the host's
 * routing. Each end's egress queue caps one direction of the outside traffic; frames between the
 * cluster's own ports never cross it.
 */
export const routerLegNames = (clusterid: number) => ({ port: `sf${hex(clusterid)}r`, gateway: `sf${hex(clusterid)}g` });

export function tapName(clusterid: number, vmid: number): string {
  if (vmid > MAX_NET_VMID) throw new SfError('BAD_INPUT', `vmid ${vmid} is too large for a cluster network (at most ${MAX_NET_VMID})`);
  return `sf${hex(clusterid)}v${hex(vmid)}`;
}

/** VXLAN network ids have 24 bits; sfmd never lets two live clusters share the low 24 bits (their subnets would clash). */
export const vniOf = (clusterid: number) => clusterid % 2 ** 24;

export type NetObject =
  | { kind: 'bridge'; clusterid: number }
  | { kind: 'vxlan'; clusterid: number }
  | { kind: 'router'; clusterid: number }
  | { kind: 'tap'; clusterid: number; vmid: number };

/** What a link name made by sfld stands for; null for any other name. */
export function parseNetName(name: string): NetObject | null {
  const m = NAME.exec(name);
  if (!m) return null;
  const clusterid = Number.parseInt(m[1]!, 16);
  if (m[2] === 'b') return { kind: 'bridge', clusterid };
  if (m[2] === 'x') return { kind: 'vxlan', clusterid };
  if (m[2] === 'r' || m[2] === 'g') return { kind: 'router', clusterid };
  return { kind: 'tap', clusterid, vmid: Number.parseInt(m[3]!, 16) };
}
