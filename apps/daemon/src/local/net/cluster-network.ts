// The cluster networks of this host (DESIGN §4.6): per cluster a bridge (no STP), a VXLAN device
// (VNI = clusterid) with forwarding entries for the cluster's other hosts only, one tap per VM, and on
// the master's host the router. Made when a cluster's first VM arrives, removed when its last one leaves.
import { isIPv4 } from 'node:net';
import { lookup } from 'node:dns/promises';
import { intToIpv4, ipv4ToInt } from '../../common/cluster-addresses.ts';
import { messageOf, SfError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { Mutex } from '../../common/mutex.ts';
import type { ClusterNetSpec, VmNet } from '../../common/wire.ts';
import type { NetCommands } from './ip-commands.ts';
import { bridgeName, OWNER_ALIAS, routerLegNames, tapName, vniOf, vxlanName } from './names.ts';
import { buildRouter, defaultRouteInterface, resolveWhitelist } from './router.ts';
import { nftScript, type ClusterRules, type RouterRule } from './rules.ts';
import { sweep, type SweepResult } from './sweep.ts';

export interface ClusterNetworksOptions {
  /** sfld.cfg outside_interface; null: the default route's. */
  outsideInterface?: string | null;
  /**
   * Makes the VM's port on the bridge (default: a persistent tap the VMM opens by name). Tests put a
   * veth whose other end sits in a namespace standing in for the VM.
   */
  makePort?: (name: string) => Promise<void>;
}

interface Cluster {
  clusterid: number;
  spec: ClusterNetSpec;
  bridge: string;
  vxlan: string;
  /** Resolved page-network addresses of the other hosts (the VXLAN's flood list). */
  peers: string[];
  vms: Map<number, { tap: string; mac: string; ip: string }>;
  router: RouterRule | null;
}

const ZERO_MAC = '00:00:00:00:00:00';

async function ipv4Of(name: string): Promise<string> {
  if (isIPv4(name)) return name;
  const found = await lookup(name, { family: 4 }).catch(() => null);
  if (!found)
    throw new SfError('BAD_CONFIG', `cannot resolve host '${name}' to an IPv4 address for the cluster network: fix sfmd.cfg cluster_hosts`);
  return found.address;
}

export class ClusterNetworks {
  readonly #clusters = new Map<number, Cluster>();
  readonly #lock = new Mutex();

  constructor(
    private readonly cmd: NetCommands,
    private readonly log: Logger,
    private readonly options: ClusterNetworksOptions = {},
  ) {}

  /** At start: nothing of an earlier run is needed (its VMs died with it), so all of it goes. */
  start(): Promise<SweepResult> {
    return this.#lock.run(async () => {
      const swept = await sweep(this.cmd);
      if (swept.links.length > 0 || swept.tables > 0) this.log.warn(swept, 'removed cluster network leftovers of an earlier sfld');
      return swept;
    });
  }

  /** Puts a VM on its cluster's network (building that here first if needed); returns its tap's name. */
  attach(clusterid: number, vmid: number, net: VmNet, spec: ClusterNetSpec): Promise<string> {
    return this.#lock.run(async () => {
      const known = this.#clusters.get(clusterid);
      const cluster = known ?? (await this.#build(clusterid, spec));
      if (known) await this.#writePeers(known, spec.hosts); // a fork may have placed clones on new hosts
      if (spec.router && !cluster.router) cluster.router = await this.#buildRouter(cluster, spec);
      const tap = tapName(clusterid, vmid);
      if (!cluster.vms.has(vmid)) {
        await this.cmd.quiet('ip', ['link', 'del', 'dev', tap]); // a VM's earlier port (a crash mid-attach)
        await (this.options.makePort ?? this.#makeTap)(tap);
        await this.cmd.run('ip', ['link', 'set', 'dev', tap, 'alias', OWNER_ALIAS]);
        await this.cmd.run('ip', ['link', 'set', 'dev', tap, 'master', cluster.bridge, 'up']);
        cluster.vms.set(vmid, { tap, mac: net.mac, ip: net.ip });
      }
      try {
        await this.#applyRules();
      } catch (err) {
        cluster.vms.delete(vmid);
        await this.cmd.quiet('ip', ['link', 'del', 'dev', tap]);
        throw err;
      }
      return tap;
    });
  }

  /** Takes a VM off its cluster's network; the cluster's devices and rules go with its last VM here. */
  detach(clusterid: number, vmid: number): Promise<void> {
    return this.#lock.run(async () => {
      const cluster = this.#clusters.get(clusterid);
      const vm = cluster?.vms.get(vmid);
      if (!cluster || !vm) return;
      cluster.vms.delete(vmid);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', vm.tap]);
      if (cluster.vms.size === 0) await this.#remove(cluster);
      await this.#applyRules();
    });
  }

  /** The cluster's hosts changed: rewrite the VXLAN's forwarding entries (nothing to do without the cluster). */
  setHosts(clusterid: number, hosts: string[]): Promise<number> {
    return this.#lock.run(async () => {
      const cluster = this.#clusters.get(clusterid);
      if (!cluster) return 0;
      await this.#writePeers(cluster, hosts);
      return cluster.peers.length;
    });
  }

  /** Everything this sfld made, gone (sfld stops and its VMs with it). */
  stop(): Promise<void> {
    return this.#lock.run(async () => {
      for (const c of [...this.#clusters.values()]) await this.#remove(c);
      await this.#applyRules();
    });
  }

  /** For /healthz and tests: the clusters with their VMs' taps. */
  describe(): Array<{ clusterid: number; bridge: string; taps: string[]; peers: string[]; router: boolean }> {
    return [...this.#clusters.values()].map((c) => ({
      clusterid: c.clusterid,
      bridge: c.bridge,
      taps: [...c.vms.values()].map((v) => v.tap),
      peers: c.peers,
      router: c.router !== null,
    }));
  }

  #makeTap = async (name: string) => {
    await this.cmd.run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
  };

  async #build(clusterid: number, spec: ClusterNetSpec): Promise<Cluster> {
    const cluster: Cluster = {
      clusterid,
      spec,
      bridge: bridgeName(clusterid),
      vxlan: vxlanName(clusterid),
      peers: [],
      vms: new Map(),
      router: null,
    };
    try {
      const local = await ipv4Of(spec.local);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.vxlan]);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.bridge]);
      // No STP (one bridge per cluster per host, no loops), no forwarding delay: ports forward at once.
      await this.cmd.run('ip', ['link', 'add', 'name', cluster.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
      await this.cmd.run('ip', ['link', 'set', 'dev', cluster.bridge, 'alias', OWNER_ALIAS]);
      // The bridge is no host interface: it never answers ARP for this host's addresses (the router's
      // leg answers for the gateway) and speaks no IPv6.
      await this.cmd.run('sysctl', ['-qw', `net.ipv4.conf.${cluster.bridge}.arp_ignore=8`]);
      await this.cmd.quiet('sysctl', ['-qw', `net.ipv6.conf.${cluster.bridge}.disable_ipv6=1`]);
      await this.cmd.run('ip', ['link', 'set', 'dev', cluster.bridge, 'up']);
      await this.cmd.run('ip', [
        'link',
        'add',
        'name',
        cluster.vxlan,
        'type',
        'vxlan',
        'id',
        String(vniOf(clusterid)),
        'dstport',
        String(spec.vxlanPort),
        'local',
        local,
        'nolearning',
      ]);
      await this.cmd.run('ip', ['link', 'set', 'dev', cluster.vxlan, 'alias', OWNER_ALIAS]);
      await this.cmd.run('ip', ['link', 'set', 'dev', cluster.vxlan, 'master', cluster.bridge, 'up']);
      this.#clusters.set(clusterid, cluster);
      await this.#writePeers(cluster, spec.hosts, local);
    } catch (err) {
      this.#clusters.delete(clusterid);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.vxlan]);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.bridge]);
      throw new SfError(
        err instanceof SfError && err.code === 'BAD_CONFIG' ? 'BAD_CONFIG' : 'UNAVAILABLE',
        `cannot build cluster ${clusterid}'s network on this host: ${messageOf(err)}`,
      );
    }
    this.log.info({ cluster: clusterid, bridge: cluster.bridge, peers: cluster.peers }, 'cluster network built');
    return cluster;
  }

  async #buildRouter(cluster: Cluster, spec: ClusterNetSpec): Promise<RouterRule> {
    const router = spec.router!;
    const outside = this.options.outsideInterface ?? (await defaultRouteInterface(this.cmd));
    if (outside === null) {
      this.log.warn(
        { cluster: cluster.clusterid },
        "this host has no default route: the cluster's router reaches nothing outside (add a route, or set outside_interface in sfld.cfg)",
      );
    }
    const leg = await buildRouter(this.cmd, cluster.clusterid, cluster.bridge, spec.gateway, spec.prefixLength, router);
    const rule: RouterRule = {
      leg: leg.gateway,
      outside,
      whitelist: await resolveWhitelist(router.whitelist),
      gateway: spec.gateway,
      // Inbound connections go to the master: host number 1 (vmid 0 + 1).
      master: intToIpv4(ipv4ToInt(spec.network) + 1),
      inboundPorts: router.inboundPorts,
    };
    this.log.info({ cluster: cluster.clusterid, outside, gateway: spec.gateway, capMbit: router.bandwidthCapMbit }, 'cluster router built');
    return rule;
  }

  /** Static entries: broadcast and unknown frames go to the cluster's other hosts only (the zero MAC's list). */
  async #writePeers(cluster: Cluster, hosts: string[], local?: string) {
    const self = local ?? (await ipv4Of(cluster.spec.local));
    const peers = [...new Set(await Promise.all(hosts.map(ipv4Of)))].filter((a) => a !== self).sort();
    for (const gone of cluster.peers.filter((p) => !peers.includes(p))) {
      await this.cmd.quiet('bridge', ['fdb', 'del', ZERO_MAC, 'dev', cluster.vxlan, 'dst', gone]);
    }
    for (const added of peers.filter((p) => !cluster.peers.includes(p))) {
      await this.cmd.run('bridge', ['fdb', 'append', ZERO_MAC, 'dev', cluster.vxlan, 'dst', added]);
    }
    cluster.peers = peers;
  }

  async #remove(cluster: Cluster) {
    this.#clusters.delete(cluster.clusterid);
    for (const vm of cluster.vms.values()) await this.cmd.quiet('ip', ['link', 'del', 'dev', vm.tap]);
    await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.vxlan]);
    await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.bridge]); // its address and qdiscs go with it
    if (cluster.router) await this.cmd.quiet('ip', ['link', 'del', 'dev', routerLegNames(cluster.clusterid).port]);
    this.log.info({ cluster: cluster.clusterid }, 'cluster network removed');
  }

  async #applyRules() {
    const rules: ClusterRules[] = [...this.#clusters.values()].map((c) => ({
      clusterid: c.clusterid,
      bridge: c.bridge,
      vms: [...c.vms.values()],
      router: c.router,
    }));
    await this.cmd.run('nft', ['-f', '-'], nftScript(rules));
  }
}
