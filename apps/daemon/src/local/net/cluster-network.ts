// The cluster networks of this host (DESIGN §4.6): per cluster a bridge (no STP), a VXLAN device
// (VNI = clusterid) with forwarding entries for the cluster's other hosts only (flooding) and for each
// VM elsewhere (unicast to its host only), one tap per VM, and on the master's host the router. Made when a cluster's first VM arrives, removed when its last one leaves.
import { isIPv4 } from 'node:net';
import { lookup } from 'node:dns/promises';
import { intToIpv4, ipv4ToInt, vmMac } from '../../common/cluster-addresses.ts';
import { messageOf, SfError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { Mutex } from '../../common/mutex.ts';
import type { ClusterNetSpec, VmNet, VmPlacement } from '../../common/wire.ts';
import type { NetCommands } from './ip-commands.ts';
import { addOwnedLink } from './owned-link.ts';
import { bridgeName, OWNER_ALIAS, routerLegNames, tapName, vniOf, vxlanName } from './names.ts';
import type { GatewaySubnet } from './guest-api-identity.ts';
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
  /** The guest API (guest-api.ts): served on each router's gateway address, its port opened in the rules. */
  guestApi?: {
    port: number;
    open(subnet: GatewaySubnet): Promise<void>;
    close(clusterid: number): Promise<void>;
  } | null;
}

interface Cluster {
  clusterid: number;
  spec: ClusterNetSpec;
  bridge: string;
  vxlan: string;
  /** Resolved page-network addresses of the other hosts (the VXLAN's flood list). */
  peers: string[];
  /** The VXLAN's unicast entries: MAC of a VM on another host → that host's address. */
  remoteMacs: Map<string, string>;
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
  async attach(clusterid: number, vmid: number, net: VmNet, spec: ClusterNetSpec): Promise<string> {
    return (await this.attachMany(clusterid, [{ vmid, net }], spec))[0]!;
  }

  /**
   * Puts several VMs of a cluster on its network at once (a fork's clones): under one hold of the lock the
   * cluster is built or its forwarding entries written once, every tap is made in one `ip -batch` and the
   * rules are applied once — per VM this took five processes, and a host given 8 clones of a fork spent most
   * of a second on them. All or none: on a failure none of these VMs is on the network. Their taps' names.
   */
  attachMany(clusterid: number, vms: { vmid: number; net: VmNet }[], spec: ClusterNetSpec): Promise<string[]> {
    return this.#lock.run(async () => {
      const known = this.#clusters.get(clusterid);
      const cluster = known ?? (await this.#build(clusterid, spec));
      if (known) await this.#writePeers(known, spec.hosts, spec.vms); // a fork may have placed clones on new hosts
      const routed = spec.router !== null && spec.router !== undefined && !cluster.router;
      if (routed) cluster.router = await this.#buildRouter(cluster, spec);
      const fresh = vms.filter((v) => !cluster.vms.has(v.vmid)).map((v) => ({ ...v, tap: tapName(clusterid, v.vmid) }));
      // Taps made ahead (ticket:shells) on a network that has not changed since: the rules already hold them.
      if (fresh.length === 0 && known && !routed) return vms.map((v) => tapName(clusterid, v.vmid));
      try {
        await this.#makePorts(
          fresh.map((v) => v.tap),
          cluster.bridge,
        );
        for (const v of fresh) cluster.vms.set(v.vmid, { tap: v.tap, mac: v.net.mac, ip: v.net.ip });
        await this.#applyRules();
      } catch (err) {
        for (const v of fresh) cluster.vms.delete(v.vmid);
        await this.#deletePorts(fresh.map((v) => v.tap));
        throw err;
      }
      return vms.map((v) => tapName(clusterid, v.vmid));
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
  setHosts(clusterid: number, hosts: string[], vms?: VmPlacement[]): Promise<number> {
    return this.#lock.run(async () => {
      const cluster = this.#clusters.get(clusterid);
      if (!cluster) return 0;
      await this.#writePeers(cluster, hosts, vms);
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
  describe(): Array<{ clusterid: number; bridge: string; taps: string[]; peers: string[]; remoteMacs: string[]; router: boolean }> {
    return [...this.#clusters.values()].map((c) => ({
      clusterid: c.clusterid,
      bridge: c.bridge,
      taps: [...c.vms.values()].map((v) => v.tap),
      peers: c.peers,
      remoteMacs: [...c.remoteMacs.entries()].map(([mac, host]) => `${mac}@${host}`).sort(),
      router: c.router !== null,
    }));
  }

  /** VMs' ports on `bridge`, each made, marked sfld's and up (an earlier port of the same name goes first: a crash mid-attach). */
  async #makePorts(names: string[], bridge: string) {
    if (names.length === 0) return;
    await this.#deletePorts(names);
    if (this.options.makePort) {
      for (const name of names) {
        await this.options.makePort(name);
        await this.cmd.run('ip', ['link', 'set', 'dev', name, 'alias', OWNER_ALIAS]);
        await this.cmd.run('ip', ['link', 'set', 'dev', name, 'master', bridge, 'up']);
      }
      return;
    }
    // Made and marked in one process (owned-link.ts: a SIGKILLed sfld leaves no unmarked tap), then enslaved.
    const lines = names.flatMap((name) => [
      `tuntap add dev ${name} mode tap`,
      `link set dev ${name} alias ${OWNER_ALIAS}`,
      `link set dev ${name} master ${bridge} up`,
    ]);
    await this.cmd.run('ip', ['-batch', '-'], `${lines.join('\n')}\n`);
  }

  /** Ports that may be there or not, gone in one process. */
  async #deletePorts(names: string[]) {
    if (names.length > 0) await this.cmd.quiet('ip', ['-force', '-batch', '-'], `${names.map((n) => `link del dev ${n}`).join('\n')}\n`);
  }

  async #build(clusterid: number, spec: ClusterNetSpec): Promise<Cluster> {
    const cluster: Cluster = {
      clusterid,
      spec,
      bridge: bridgeName(clusterid),
      vxlan: vxlanName(clusterid),
      peers: [],
      remoteMacs: new Map(),
      vms: new Map(),
      router: null,
    };
    try {
      const local = await ipv4Of(spec.local);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.vxlan]);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.bridge]);
      // No STP (one bridge per cluster per host, no loops), no forwarding delay: ports forward at once.
      const bridgeArgs = ['link', 'add', 'name', cluster.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'];
      await addOwnedLink(this.cmd, bridgeArgs, [cluster.bridge]);
      // The bridge is no host interface: it never answers ARP for this host's addresses (the router's
      // leg answers for the gateway) and speaks no IPv6.
      await this.cmd.run('sysctl', ['-qw', `net.ipv4.conf.${cluster.bridge}.arp_ignore=8`]);
      await this.cmd.quiet('sysctl', ['-qw', `net.ipv6.conf.${cluster.bridge}.disable_ipv6=1`]);
      await this.cmd.run('ip', ['link', 'set', 'dev', cluster.bridge, 'up']);
      await addOwnedLink(
        this.cmd,
        [
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
        ],
        [cluster.vxlan],
      );
      await this.cmd.run('ip', ['link', 'set', 'dev', cluster.vxlan, 'master', cluster.bridge, 'up']);
      this.#clusters.set(clusterid, cluster);
      await this.#writePeers(cluster, spec.hosts, spec.vms, local);
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
      apiPort: this.options.guestApi?.port ?? null,
    };
    await this.options.guestApi?.open({
      clusterid: cluster.clusterid,
      network: spec.network,
      prefixLength: spec.prefixLength,
      gateway: spec.gateway,
    });
    this.log.info({ cluster: cluster.clusterid, outside, gateway: spec.gateway, capMbit: router.bandwidthCapMbit }, 'cluster router built');
    return rule;
  }

  /**
   * Static entries: broadcast and unknown frames go to the cluster's other hosts only (the zero MAC's
   * list), and — when sfmd sent the placement — a frame for a VM on another host goes to that host alone
   * instead of being copied to every peer. Without a placement the unicast entries are left as they are.
   */
  async #writePeers(cluster: Cluster, hosts: string[], vms: VmPlacement[] | undefined, local?: string) {
    const self = local ?? (await ipv4Of(cluster.spec.local));
    const peers = [...new Set(await Promise.all(hosts.map(ipv4Of)))].filter((a) => a !== self).sort();
    const gone = cluster.peers.filter((p) => !peers.includes(p)).map((p) => `fdb del ${ZERO_MAC} dev ${cluster.vxlan} dst ${p}`);
    const added = peers.filter((p) => !cluster.peers.includes(p)).map((p) => `fdb append ${ZERO_MAC} dev ${cluster.vxlan} dst ${p}`);
    await this.#fdb(gone, added);
    cluster.peers = peers;
    if (vms) await this.#writeRemoteMacs(cluster, vms, self);
  }

  async #writeRemoteMacs(cluster: Cluster, vms: VmPlacement[], self: string) {
    const wanted = new Map<string, string>();
    const hosts = await Promise.all(vms.map((vm) => ipv4Of(vm.host)));
    vms.forEach((vm, i) => {
      if (hosts[i] !== self) wanted.set(vmMac(cluster.clusterid, vm.vmid), hosts[i]!);
    });
    const gone = [...cluster.remoteMacs.keys()].filter((mac) => !wanted.has(mac)).map((mac) => `fdb del ${mac} dev ${cluster.vxlan}`);
    const changed = [...wanted]
      .filter(([mac, host]) => cluster.remoteMacs.get(mac) !== host)
      .map(([mac, host]) => `fdb replace ${mac} dev ${cluster.vxlan} dst ${host} static`);
    await this.#fdb(gone, changed);
    cluster.remoteMacs = wanted;
  }

  /**
   * Forwarding-entry changes in two `bridge -batch` processes (one per fork, not one per VM: a fork of 32 placed
   * dozens): `gone` may be gone already (-force goes on past a failed line), `wanted` must all succeed.
   */
  async #fdb(gone: string[], wanted: string[]) {
    if (gone.length > 0) await this.cmd.quiet('bridge', ['-force', '-batch', '-'], `${gone.join('\n')}\n`);
    if (wanted.length > 0) await this.cmd.run('bridge', ['-batch', '-'], `${wanted.join('\n')}\n`);
  }

  async #remove(cluster: Cluster) {
    this.#clusters.delete(cluster.clusterid);
    for (const vm of cluster.vms.values()) await this.cmd.quiet('ip', ['link', 'del', 'dev', vm.tap]);
    await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.vxlan]);
    await this.cmd.quiet('ip', ['link', 'del', 'dev', cluster.bridge]); // its address and qdiscs go with it
    if (cluster.router) {
      await this.options.guestApi?.close(cluster.clusterid);
      await this.cmd.quiet('ip', ['link', 'del', 'dev', routerLegNames(cluster.clusterid).port]);
    }
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
