// The VMs of this host: boots domains sfmd placed here (native VirtualMachine), forks a master into
// clones from its snapshot, keeps each one's console replay, routes its guest API calls to sfmd as
// that domain, and reports its state changes.
import { stat } from 'node:fs/promises';
import {
  finalVmStates,
  SfStatus,
  VirtualMachine,
  type CloneMemtapStats,
  type DiskStats,
  type Memserver,
  type NetStats,
  type VmSnapshot,
  type VmStateEvent,
} from '@snowflock/native';
import type {
  CloneOutcome,
  ConsoleChunk,
  DomainAddress,
  DomainBootSpec,
  DomainForkResult,
  DomainForkSpec,
  DomainRemoteCloneSpec,
  DomainStateReport,
} from '../common/events.ts';
import { messageOf, SfError } from '../common/errors.ts';
import type { ReportedVmState } from '../common/states.ts';
import type { ClusterNetSpec, HostCommandValue, VmNet } from '../common/wire.ts';
import type { Logger } from '../common/logger.ts';
import type { SfmdClient } from '../common/sfmd-client.ts';
import { ConsoleRing } from './console-ring.ts';
import { answerGuestCall } from './guest-calls.ts';
import {
  DEFAULT_GUEST_CALL_LIMITS,
  GuestCallLimit,
  newGuestCallCounts,
  type GuestCallCounts,
  type GuestCallLimits,
} from './guest-call-limit.ts';
import { CloneShells, type CloneShape } from './clone-shells.ts';
import { fetchDescriptor, type DescriptorShelf } from './descriptor-shelf.ts';
import { diskFiguresOf, nicFiguresOf } from './domain-figures.ts';
import { checkDiskImage } from '../common/config/index.ts';
import { pageLossForTest, resolveIPv4, serveFork } from './fork-serving.ts';
import type { ClusterNetworks } from './net/cluster-network.ts';
import { nicOption } from './net/vm-nic.ts';

export interface DomainManagerHooks {
  /** A tRPC client that acts for `domain` with this host's credentials. */
  clientFor(domain: DomainAddress): { client: SfmdClient; url: string };
  reportState(report: DomainStateReport): void;
  console(chunk: ConsoleChunk): void;
  /** Descriptors of forks served to other hosts, fetched through this sfld's local HTTP port. */
  shelf: DescriptorShelf;
  descriptorPort(): number;
  /** This host's cluster networks; null: VMs get no NIC (sfld.cfg cluster_network = False). */
  networks?: ClusterNetworks | null;
  /** Where VMs' disk overlays go (swept at sfld start); absent: a VM with a disk cannot be booted here. */
  overlayDir?: string;
}

interface Domain {
  vm: VirtualMachine;
  ring: ConsoleRing;
  shape: CloneShape | null;
  /** A master's memservers (one per fork with clones on other hosts): they stop when it ends. */
  memservers: Memserver[];
}

const key = (a: DomainAddress) => `${a.clusterid}:${a.vmid}`;

/** A VM's disk counters, null without a disk or once they cannot be read (torn down). */
function readDiskStats(vm: VirtualMachine): DiskStats | null {
  try {
    return vm.diskStats();
  } catch {
    return null;
  }
}

function reportedState(state: VmStateEvent['state']): ReportedVmState {
  return state === 'destroyed' ? 'stopped' : state === 'created' ? 'running' : state;
}

/** Ended domains whose console replay is kept (oldest forgotten first). */
const KEEP_ENDED = 64;

export class DomainManager {
  readonly #domains = new Map<string, Domain>();
  readonly #ended = new Map<string, ConsoleRing>();
  /** How recent VMs ended (first final report each), told to sfmd when it re-registers this host. */
  readonly #endings = new Map<string, DomainStateReport>();
  readonly #shells: CloneShells;
  readonly #lossForTest = pageLossForTest();
  /** Guest calls of every VM here since sfld started (each VM has its own limit; the counts are the host's). */
  readonly guestCalls: GuestCallCounts = newGuestCallCounts();

  constructor(
    private readonly log: Logger,
    private readonly hooks: DomainManagerHooks,
    private readonly callLimits: GuestCallLimits = DEFAULT_GUEST_CALL_LIMITS,
  ) {
    this.#shells = new CloneShells(log);
    if (this.#lossForTest > 0)
      log.warn({ loss: this.#lossForTest }, 'TEST KNOB: page datagrams are dropped on purpose (SNOWFLOCK_TEST_PAGE_LOSS)');
  }

  get running(): number {
    return this.#domains.size;
  }

  /** A lazy clone's data-plane counters (memtap, and the host's page source for remote clones); null otherwise. */
  memtapStats(address: DomainAddress): CloneMemtapStats | null {
    return this.#domains.get(key(address))?.vm.memtapStats() ?? null;
  }

  /** A VM's NIC counters; null without a NIC. */
  netStats(address: DomainAddress): NetStats | null {
    return this.#domains.get(key(address))?.vm.netStats() ?? null;
  }

  /** A VM's disk counters; null without a disk. */
  diskStats(address: DomainAddress): DiskStats | null {
    return this.#domains.get(key(address))?.vm.diskStats() ?? null;
  }

  /** A clone's own overlay, when its master has a disk (its clones must each have one). */
  #cloneDisk(master: VirtualMachine): { disk?: { overlayDir: string } } {
    if (!this.hooks.overlayDir || master.diskStats() === null) return {};
    return { disk: { overlayDir: this.hooks.overlayDir } };
  }

  /** The domains whose VMs run here now. */
  addresses(): DomainAddress[] {
    return [...this.#domains.keys()].map((id) => {
      const [clusterid, vmid] = id.split(':').map(Number);
      return { clusterid: clusterid!, vmid: vmid! };
    });
  }

  /** The domains whose VMs run here now, each with its VM's state (what sf doctor compares with the record). */
  inventory(): Array<DomainAddress & { state: ReportedVmState }> {
    return this.addresses().map((a) => ({ ...a, state: reportedState(this.#domains.get(key(a))!.vm.state) }));
  }

  /** How the VMs that ended here lately ended, oldest first (at most KEEP_ENDED). */
  endings(): DomainStateReport[] {
    return [...this.#endings.values()];
  }

  async boot(spec: DomainBootSpec): Promise<HostCommandValue<'domain:boot'>> {
    const id = key(spec);
    if (this.#domains.has(id)) throw new SfError('BAD_INPUT', `domain ${id} already runs on this host`);
    const image = await stat(spec.image).catch(() => null);
    if (!image?.isFile()) {
      throw new SfError(
        'BAD_CONFIG',
        `guest image ${spec.image} is not a file on this host: build the guests (npm run build) or fix kernel in the seed config`,
      );
    }
    let disk: { image: string; overlayDir: string } | undefined;
    if (spec.disk) {
      if (!this.hooks.overlayDir) throw new SfError('INTERNAL', `this sfld has no overlay directory: cannot give VM ${id} its disk`);
      // Checked here too: the path sfmd passes must name a usable image on this host, not only where the seed was made.
      await checkDiskImage(spec.disk.image, 'disk_image (on this host)');
      disk = { image: spec.disk.image, overlayDir: this.hooks.overlayDir };
    }
    let vm: VirtualMachine;
    const tap = await this.#attachNet(spec, spec.net, spec.cluster);
    try {
      vm = await VirtualMachine.create({
        vcpus: spec.vcpus,
        memoryMiB: spec.memoryMiB,
        image: spec.image,
        cmdline: spec.args,
        clusterid: spec.clusterid,
        vmid: spec.vmid,
        ...nicOption(tap, spec.net),
        ...(disk ? { disk } : {}),
      });
    } catch (err) {
      this.#detachNet(spec);
      const code = (err as { code?: string }).code;
      throw new SfError(
        code === 'KVM_UNAVAILABLE' ? 'KVM_UNAVAILABLE' : code === 'BAD_INPUT' || code === 'BAD_IMAGE' ? 'BAD_CONFIG' : 'INTERNAL',
        `cannot create VM ${id}: ${messageOf(err)}`,
      );
    }
    this.#adopt(vm, { clusterid: spec.clusterid, vmid: spec.vmid }, { memoryMiB: spec.memoryMiB, vcpus: spec.vcpus });
    try {
      await vm.boot();
    } catch (err) {
      this.#domains.delete(id);
      this.#detachNet(spec);
      await vm.destroy();
      throw new SfError('INTERNAL', `VM ${id} did not boot: ${messageOf(err)}`);
    }
    this.log.info({ domain: id, vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, image: spec.image, disk: disk?.image ?? null }, 'VM booted');
    return { state: reportedState(vm.state) };
  }

  /** Tracks a VM as a domain of this host: console replay, state reports, guest calls as that domain. */
  #adopt(vm: VirtualMachine, address: DomainAddress, shape: CloneShape | null): Domain {
    const id = key(address);
    const domain: Domain = { vm, ring: new ConsoleRing(), shape, memservers: [] };
    this.#domains.set(id, domain);
    vm.on('console', (data) => {
      domain.ring.write(data);
      this.hooks.console({ ...address, data });
    });
    let ended = false;
    vm.on('state', (event) => {
      // Only the first final state counts: the destroy that follows an exit is housekeeping.
      if (ended) return;
      ended = (finalVmStates as readonly string[]).includes(event.state);
      const report: DomainStateReport = {
        ...address,
        state: reportedState(event.state),
        exitCode: event.state === 'exited' ? event.exitCode : null,
        reason: event.reason || null,
      };
      if (ended) {
        // The record keeps what the VM's NIC moved: its counters as the VM ends (the guest sends no more).
        let net: NetStats | null = null;
        try {
          net = vm.netStats();
        } catch {
          /* already torn down */
        }
        if (net) report.nic = nicFiguresOf(net);
        const disk = readDiskStats(vm);
        if (disk) report.disk = diskFiguresOf(disk);
        this.#endings.delete(id); // re-inserted last: the map stays oldest first
        this.#endings.set(id, report);
        while (this.#endings.size > KEEP_ENDED) this.#endings.delete(this.#endings.keys().next().value!);
      }
      this.hooks.reportState(report);
    });
    vm.on('exit', (event) => {
      // A clone's data-plane figures go to the log with its end (pages fetched, fault service, mcdist).
      let memtap: unknown = null;
      try {
        memtap = vm.memtapStats();
      } catch {
        /* already torn down */
      }
      // Its disk figures too (requests, bytes, what its overlay took): the overlay itself is gone with the VM.
      const diskStats = readDiskStats(vm);
      const disk = diskStats ? diskFiguresOf(diskStats) : null;
      this.log.info({ domain: id, state: event.state, exitCode: event.exitCode, reason: event.reason, memtap, disk }, 'VM ended');
      // A finished VM's memory goes back at once; its console replay is kept a while longer.
      if (this.#domains.get(id) === domain) this.#retire(id, domain);
      if (event.state !== 'destroyed') void vm.destroy();
    });
    // Every VM's own bucket: a clone made by a fork starts with a full one, like any new VM.
    const limit = new GuestCallLimit(id, this.guestCalls, this.log, this.callLimits);
    vm.onGuestCall = (call) =>
      limit.run(async () => {
        // Held back by the limit while the VM ended: nobody waits for the answer, sfmd need not hear it.
        if (this.#domains.get(id) !== domain) return { status: -SfStatus.EUNAVAIL, errmsg: `VM ${id} has ended` };
        const { client, url } = this.hooks.clientFor(address);
        const reply = await answerGuestCall(client, url, call);
        // A granted ticket is a fork to come (shells prepared while the master goes on); one disposed of,
        // merged or joined has its shells released.
        this.#shells.afterGuestCall(call, reply, domain.shape);
        return reply;
      });
    return domain;
  }

  /**
   * VM fork: freezes the master (paused only for the capture; its vCPU stays inside sf_clone until
   * sfmd answers it), creates each clone from the snapshot with lazy memory and its own sf_clone
   * answer, then lets them all run. A clone that cannot be created is reported, not fatal to the rest.
   */
  async fork(spec: DomainForkSpec): Promise<DomainForkResult> {
    const master = this.#get(spec);
    for (const c of spec.clones) {
      if (this.#domains.has(key({ clusterid: spec.clusterid, vmid: c.vmid }))) {
        throw new SfError('BAD_INPUT', `domain ${spec.clusterid}:${c.vmid} already runs on this host`);
      }
    }
    let snapshot: VmSnapshot;
    try {
      snapshot = await master.vm.fork();
    } catch (err) {
      throw new SfError('INTERNAL', `cannot fork domain ${key(spec)}: ${messageOf(err)}`);
    }
    try {
      const shells = await this.#shells.take(spec.ticket, spec.clones.length);
      const cloneDisk = this.#cloneDisk(master.vm);
      const made = await Promise.all(
        spec.clones.map(async ({ vmid, net }, i) => {
          const cloneReply = { status: SfStatus.OK, vmid, count: spec.nclones, ticket: spec.ticket };
          const address = { clusterid: spec.clusterid, vmid };
          try {
            const tap = await this.#attachNet(address, net, spec.cluster);
            const shell = shells[i];
            if (shell) {
              try {
                await shell.becomeClone(snapshot, { vmid, cloneReply, ...nicOption(tap, net), ...cloneDisk });
                return { vmid, vm: shell, error: null, fromShell: true };
              } catch (err) {
                // A shell of another shape (the master changed?) or a failed attach: make this one afresh.
                this.log.warn({ ticket: spec.ticket, vmid, err: messageOf(err) }, 'clone shell not usable');
              }
            }
            const vm = await VirtualMachine.createClone(snapshot, { vmid, lazy: true, cloneReply, ...nicOption(tap, net), ...cloneDisk });
            return { vmid, vm, error: null, fromShell: false };
          } catch (err) {
            this.#detachNet(address);
            return { vmid, vm: null, fromShell: false, error: `clone ${spec.clusterid}:${vmid} could not be created: ${messageOf(err)}` };
          }
        }),
      );
      for (const m of made) if (m.vm) this.#adopt(m.vm, { clusterid: spec.clusterid, vmid: m.vmid }, null);
      const started = await Promise.all(
        made.map((m) => (m.vm ? this.#start({ clusterid: spec.clusterid, vmid: m.vmid }) : { vmid: m.vmid, ok: false, error: m.error })),
      );
      // Clones on other hosts fetch their pages from here: serve the snapshot while the master lives.
      let served: DomainForkResult['served'] = null;
      if (spec.serve) {
        // Not serving fails only the clones on other hosts (sfmd records why); those here already run.
        try {
          const fork = await serveFork(snapshot, spec.serve, {
            shelf: this.hooks.shelf,
            owner: key(spec),
            descriptorPort: this.hooks.descriptorPort(),
            previous: master.memservers.at(-1),
            lossForTest: this.#lossForTest,
          });
          master.memservers.push(fork.memserver);
          served = fork.served;
        } catch (err) {
          this.log.error({ domain: key(spec), err: messageOf(err) }, 'cannot serve the fork to other hosts');
        }
      }
      this.log.info(
        {
          domain: key(spec),
          ticket: spec.ticket,
          clones: started.filter((c) => c.ok).length,
          pauseMs: snapshot.timing.pauseNs / 1e6,
          memserverPort: served?.memserverPort,
          group: served?.group,
        },
        'VM forked',
      );
      return {
        clones: started,
        pauseMs: snapshot.timing.pauseNs / 1e6,
        descriptorBytes: snapshot.descriptor().length,
        fromShells: made.filter((m) => m.fromShell).length,
        served,
      };
    } finally {
      // Clones keep the frozen memory alive; the snapshot goes with the last of them.
      snapshot.release();
    }
  }

  /**
   * Clones of a VM forked on another host (DESIGN §4.4 step 3): the descriptor comes over TCP from the
   * master host's sfld, pages from its memserver through this host's mirror (multicast: on the group).
   */
  async cloneRemote(spec: DomainRemoteCloneSpec): Promise<HostCommandValue<'domain:clone-remote'>> {
    let descriptor: Buffer, server: string, iface: string;
    try {
      const [masterAddress, serverAddress] = await Promise.all([
        resolveIPv4(spec.descriptor.host, "the master's host"),
        resolveIPv4(spec.server.slice(0, spec.server.lastIndexOf(':')), "the memserver's host"),
      ]);
      iface = await resolveIPv4(spec.interface, "this host's page-network name");
      server = `${serverAddress}:${spec.server.slice(spec.server.lastIndexOf(':') + 1)}`;
      descriptor = await fetchDescriptor(spec.descriptor, masterAddress);
    } catch (err) {
      const error = messageOf(err);
      return { clones: spec.clones.map((c) => ({ vmid: c.vmid, ok: false, error })) };
    }
    const results = await Promise.all(
      spec.clones.map(async ({ vmid, net }) => {
        const address = { clusterid: spec.clusterid, vmid };
        if (this.#domains.has(key(address))) return { vmid, ok: false, error: `domain ${key(address)} already runs on this host` };
        let vm: VirtualMachine;
        try {
          const tap = await this.#attachNet(address, net, spec.cluster);
          vm = await VirtualMachine.createRemoteClone(descriptor, {
            ...nicOption(tap, net),
            vmid,
            server,
            bind: '0.0.0.0:0',
            group: spec.group,
            interface: iface,
            ...(this.#lossForTest > 0 ? { dropForTest: this.#lossForTest } : {}),
            cloneReply: { status: SfStatus.OK, vmid, count: spec.nclones, ticket: spec.ticket },
          });
        } catch (err) {
          this.#detachNet(address);
          return { vmid, ok: false, error: `clone ${key(address)} could not be made from ${server}: ${messageOf(err)}` };
        }
        this.#adopt(vm, address, null);
        return this.#start(address);
      }),
    );
    this.log.info(
      { cluster: spec.clusterid, ticket: spec.ticket, server, group: spec.group, clones: results.filter((r) => r.ok).length },
      'remote clones made',
    );
    return { clones: results };
  }

  /** Lets an adopted clone run; one that cannot is destroyed (it holds nothing) and reported. */
  async #start(address: DomainAddress): Promise<CloneOutcome> {
    try {
      await this.#get(address).vm.resume();
      return { vmid: address.vmid, ok: true, error: null };
    } catch (err) {
      await this.destroy(address);
      return { vmid: address.vmid, ok: false, error: `clone ${key(address)} did not start: ${messageOf(err)}` };
    }
  }

  #retire(id: string, domain: Domain): void {
    for (const server of domain.memservers) {
      server.stop();
      this.log.info(
        { domain: id, endpoint: server.endpoint, mode: server.mode, group: server.group, stats: server.stats() },
        'memserver stopped',
      );
    }
    domain.memservers.length = 0;
    this.hooks.shelf.withdrawOwner(id);
    this.#domains.delete(id);
    const [clusterid, vmid] = id.split(':').map(Number);
    this.#detachNet({ clusterid: clusterid!, vmid: vmid! });
    this.#ended.set(id, domain.ring);
    while (this.#ended.size > KEEP_ENDED) this.#ended.delete(this.#ended.keys().next().value!);
  }

  /** Puts the VM's tap on its cluster's network first (the VMM opens it by name); null: no NIC. */
  async #attachNet(address: DomainAddress, net: VmNet | undefined, cluster: ClusterNetSpec | undefined): Promise<string | null> {
    const networks = this.hooks.networks;
    if (!networks || !net || !cluster) return null;
    return networks.attach(address.clusterid, address.vmid, net, cluster);
  }

  /** The VM's tap goes (and the cluster's network with its last VM here); a failure is logged, the sweep at start mops up. */
  #detachNet(address: DomainAddress): void {
    this.hooks.networks?.detach(address.clusterid, address.vmid).catch((err: unknown) => {
      this.log.warn({ domain: key(address), err: messageOf(err) }, 'could not take a VM off its cluster network');
    });
  }

  /** The cluster's hosts changed (sfmd's placement): the VXLAN's flood list follows. */
  async clusterPeers(clusterid: number, hosts: string[]): Promise<HostCommandValue<'cluster:peers'>> {
    return { peers: (await this.hooks.networks?.setHosts(clusterid, hosts)) ?? 0 };
  }

  #get(address: DomainAddress): Domain {
    const domain = this.#domains.get(key(address));
    if (!domain) throw new SfError('DOMAIN_UNKNOWN', `domain ${key(address)} does not run on this host`);
    return domain;
  }

  async destroy(address: DomainAddress): Promise<HostCommandValue<'domain:destroy'>> {
    const domain = this.#domains.get(key(address));
    if (!domain) return { state: 'stopped' }; // already gone: destroying is idempotent
    this.#retire(key(address), domain);
    await domain.vm.destroy();
    return { state: 'stopped' };
  }

  input(address: DomainAddress, data: Buffer): HostCommandValue<'domain:input'> {
    this.#get(address).vm.consoleInput(data);
    return { accepted: data.length };
  }

  replay(address: DomainAddress): HostCommandValue<'domain:console-replay'> {
    const ring = this.#domains.get(key(address))?.ring ?? this.#ended.get(key(address));
    if (!ring) throw new SfError('DOMAIN_UNKNOWN', `domain ${key(address)} has no console on this host`);
    return { data: ring.contents() };
  }

  /** sfmd says a ticket ended by another path than its master's own call: its shells are not wanted. */
  async ticketEnded(ticket: string): Promise<HostCommandValue<'ticket:ended'>> {
    const released = await this.#shells.release(ticket);
    if (released > 0) this.log.info({ ticket, shells: released }, 'clone shells released: sfmd says their ticket ended');
    return { released };
  }

  /** Shells held or being made on this host. */
  get shellCount(): number {
    return this.#shells.count;
  }

  async destroyAll(): Promise<void> {
    const all = [...this.#domains.values()];
    this.#domains.clear();
    await this.#shells.releaseAll();
    await Promise.all(all.map((d) => d.vm.destroy()));
    await this.hooks.networks?.stop();
  }
}
