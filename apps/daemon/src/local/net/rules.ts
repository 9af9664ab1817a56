// The nftables rules of every cluster network on this host as one script, applied atomically by `nft -f`:
// a bridge table (each VM sends only with its own MAC and IP) and an inet table (clusters never route to
// each other; the router NATs to whitelisted outside destinations and lets the outside reach the master's ports).
import { NFT_TABLE } from './names.ts';

export interface VmRule {
  tap: string;
  mac: string;
  ip: string;
}

export interface RouterRule {
  /** The router's end of its leg on the cluster's bridge (holds the gateway address). */
  leg: string;
  /** The host interface towards the outside; null: the host has none (no default route), the cluster stays inside. */
  outside: string | null;
  /** Whitelisted destinations as IPv4 addresses or CIDR blocks (host names resolved already). */
  whitelist: string[];
  gateway: string;
  master: string;
  inboundPorts: number[];
  /** The guest API's TCP port on the gateway address (sfld.cfg guest_api_port); null: not served. */
  apiPort?: number | null;
}

export interface ClusterRules {
  clusterid: number;
  bridge: string;
  vms: VmRule[];
  router: RouterRule | null;
}

const q = (name: string) => `"${name}"`;

function vmChecks(vm: VmRule): string[] {
  const from = `iifname ${q(vm.tap)}`;
  return [
    `${from} ether saddr != ${vm.mac} drop`,
    // Only IPv4 and ARP: a VM has no IPv6 identity to check, so it gets none.
    `${from} ether type != { ip, arp } drop`,
    `${from} ether type ip ip saddr != ${vm.ip} drop`,
    `${from} ether type arp arp saddr ether != ${vm.mac} drop`,
    `${from} ether type arp arp saddr ip != ${vm.ip} drop`,
  ];
}

function routerRules(c: ClusterRules, r: RouterRule) {
  const br = q(r.leg);
  const input = [`iifname ${br} ip daddr ${r.gateway} icmp type echo-request accept`];
  if (r.apiPort) {
    // The guest API answers this cluster's VMs only: from its own leg, never from another cluster's, the outside or this host.
    input.push(`iifname ${br} ip daddr ${r.gateway} tcp dport ${r.apiPort} accept`, `ip daddr ${r.gateway} tcp dport ${r.apiPort} drop`);
  }
  if (r.outside === null) return { sets: [], forward: [], input, prerouting: [], postrouting: [] };
  const out = q(r.outside);
  const set = `wl_${c.clusterid}`;
  const ports = r.inboundPorts.length > 0 ? `{ ${r.inboundPorts.join(', ')} }` : null;
  return {
    sets: [`set ${set} { type ipv4_addr; flags interval; ${r.whitelist.length > 0 ? `elements = { ${r.whitelist.join(', ')} }` : ''} }`],
    forward: [
      `iifname ${br} oifname ${out} ip daddr @${set} accept`,
      // Replies of the master to an inbound connection (whose client need not be whitelisted).
      `iifname ${br} oifname ${out} ct state established,related accept`,
      `iifname ${out} oifname ${br} ct state established,related accept`,
      `iifname ${out} oifname ${br} ct status dnat ip daddr ${r.master} accept`,
    ],
    input,
    prerouting: ports ? [`iifname ${out} meta l4proto { tcp, udp } th dport ${ports} dnat ip to ${r.master}`] : [],
    postrouting: [`iifname ${br} oifname ${out} masquerade`],
  };
}

/** The whole script: both tables dropped and rebuilt in one transaction (nothing when no cluster is left). */
export function nftScript(clusters: ClusterRules[]): string {
  const lines = [
    `add table bridge ${NFT_TABLE}`,
    `delete table bridge ${NFT_TABLE}`,
    `add table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
  ];
  if (clusters.length === 0) return `${lines.join('\n')}\n`;
  const vmChecksAll = clusters.flatMap((c) => c.vms.flatMap(vmChecks));
  const sets: string[] = [];
  const forward: string[] = [];
  const input: string[] = [];
  const prerouting: string[] = [];
  const postrouting: string[] = [];
  for (const c of clusters) {
    const br = q(c.bridge);
    // With br_netfilter, frames bridged between a cluster's ports come through here too, in and out on its bridge.
    forward.push(`iifname ${br} oifname ${br} accept`);
    if (c.router) {
      const r = routerRules(c, c.router);
      sets.push(...r.sets);
      forward.push(...r.forward);
      input.push(...r.input);
      prerouting.push(...r.prerouting);
      postrouting.push(...r.postrouting);
    }
  }
  // Nothing else is routed from or to a cluster: not to another cluster, not to this host's other networks.
  const ends = clusters.flatMap((c) => (c.router ? [c.bridge, c.router.leg] : [c.bridge]));
  for (const e of ends) forward.push(`iifname ${q(e)} drop`, `oifname ${q(e)} drop`);
  for (const e of ends) input.push(`iifname ${q(e)} ct state established,related accept`, `iifname ${q(e)} drop`);
  const chain = (name: string, hook: string, priority: string, rules: string[], type = 'filter') => [
    `  chain ${name} {`,
    `    type ${type} hook ${hook} priority ${priority}; policy accept;`,
    ...rules.map((r) => `    ${r}`),
    '  }',
  ];
  lines.push(
    `table bridge ${NFT_TABLE} {`,
    '  chain from_vms {',
    ...vmChecksAll.map((r) => `    ${r}`),
    '  }',
    ...chain('forward', 'forward', '0', ['jump from_vms']),
    ...chain('input', 'input', '0', ['jump from_vms']),
    '}',
    `table inet ${NFT_TABLE} {`,
    ...sets.map((s) => `  ${s}`),
    // With br_netfilter, frames crossing a cluster's bridge also pass the IP hooks; tracked there, a
    // connection would be confirmed without its NAT before the router ever sees it (and replies
    // un-NATed twice). Bridged frames are not tracked: only the router's leg tracks and NATs.
    ...chain(
      'notrack_bridged',
      'prerouting',
      'raw',
      clusters.map((c) => `iifname ${q(c.bridge)} notrack`),
    ),
    ...chain('forward', 'forward', '0', forward),
    ...chain('input', 'input', '0', input),
    ...chain('prerouting', 'prerouting', 'dstnat', prerouting, 'nat'),
    ...chain('postrouting', 'postrouting', 'srcnat', postrouting, 'nat'),
    '}',
  );
  return `${lines.join('\n')}\n`;
}
