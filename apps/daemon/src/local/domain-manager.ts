// The VMs of this host: boots domains sfmd placed here (native VirtualMachine), forks a master into
// clones from its snapshot, keeps each one's console replay, routes its guest API calls to sfmd as
// that domain, and reports its state changes.
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import {
  finalVmStates,
  inspectDescriptor,
  SfStatus,
  VirtualMachine,
  type CloneMemtapStats,
  type DiskStats,
  type Memserver,
  type NetStats,
  remoteSourceStats,
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
import { roundMs, stopwatch } from '../common/stopwatch.ts';
import type { ReportedVmState } from '../common/states.ts';
import type { ClusterNetSpec, HostCommandPayload, HostCommandValue, VmNet, VmPlacement } from '../common/wire.ts';
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
import { fetchHandoff } from './descriptor-fetch.ts';
import type { DescriptorShelf } from './descriptor-shelf.ts';
import { diskFiguresOf, nicFiguresOf } from './domain-figures.ts';
import { checkDiskImage } from '../common/config/index.ts';
import { pageLossForTest, resolveIPv4, serveFork } from './fork-serving.ts';
import type { ClusterNetworks } from './net/cluster-network.ts';
import { nicOption } from './net/vm-nic.ts';
import { type DataPlaneFigures, HostTotals } from './host-totals.ts';

export interface DomainManagerHooks {
  /** A tRPC client that acts for `domain` with this host's credentials. */
  clientFor(domain: DomainAddress): { client: SfmdClient; url: string };
  reportState(report: DomainStateReport): void;
  console(chunk: ConsoleChunk): void;
  /** Descriptors of forks served to other hosts, handed over through this sfld's local HTTP port. */
  shelf: DescriptorShelf;
  /** This host's cluster networks; null: VMs get no NIC (sfld.cfg cluster_network = False). */
  networks?: ClusterNetworks | null;
  /** Where VMs' disk overlays go (swept at sfld start); absent: a VM with a disk cannot be booted here. */
  overlayDir?: string;
  /** sfld.cfg page_mtu: sizes the datagrams of this host's memservers (absent/null: a 1500-byte path). */
  pageMtu?: number | 'auto' | null;
  /** sfld.cfg page_liveness_ms: how long remote clones here wait on a silent memserver (absent: the binding's 10 s). */
  pageLivenessMs?: number;
}

interface Domain {
  vm: VirtualMachine;
  ring: ConsoleRing;
  shape: CloneShape | null;
  /**
   * A master's running memservers (one per fork with clones on other hosts): each stops when the last of its
   * remote clones ends (sfmd says so, releaseFork) or with the master.
   */
  memservers: Memserver[];
  /** Which fork each running memserver serves. */
  served: Map<Memserver, { ticket: string; snapshotId: string }>;
  /** The master's latest memserver, running or stopped: the next fork streams the pages its clones wanted. */
  lastServer?: Memserver;
  /** A remote clone's snapshot id (its page source is shared with the snapshot's other clones here). */
  remoteSnapshot?: string;
  /**
   * A shell adopted before the fork makes it a clone (its guest calls are answered from its first instruction):
   * its state and exit events wait here until the fork says it became one, and are dropped if it did not.
   */
  held?: (() => void)[] | null;
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
  /** Taps made with a ticket's shells (ticket:shells), until its fork takes them or its shells are released. */
  readonly #preparedNets = new Map<string, { clusterid: number; vmids: number[] }>();
  readonly #lossForTest = pageLossForTest();
  /** Guest calls of every VM here since sfld started (each VM has its own limit; the counts are the host's). */
  readonly guestCalls: GuestCallCounts = newGuestCallCounts();
  /** The data plane's counters summed over this host's VMs, ended ones included (for /metrics). */
  readonly #totals = new HostTotals(remoteSourceStats);

  constructor(
    private readonly log: Logger,
    private readonly hooks: DomainManagerHooks,
    private readonly callLimits: GuestCallLimits = DEFAULT_GUEST_CALL_LIMITS,
  ) {
    this.#shells = new CloneShells(log, undefined, undefined, undefined, (ticket) => this.#releaseNets(ticket));
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

  /** What this host's VMs did since sfld started (faults, memservers, page sources, NICs, disks). */
  dataPlane(): DataPlaneFigures {
    return this.#totals.now(this.#domains.values());
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

  /**
   * A remote clone's own overlay, when the descriptor says its master has a disk: the clone reads the disk
   * snapshot's blocks through the memserver, under an overlay here like a local clone's.
   */
  #remoteCloneDisk(descriptor: Buffer): { disk?: { overlayDir: string } } {
    if (inspectDescriptor(descriptor).diskBytes === null) return {};
    if (!this.hooks.overlayDir) throw new SfError('INTERNAL', 'this sfld has no overlay directory: cannot give a remote clone its disk');
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
  #adopt(vm: VirtualMachine, address: DomainAddress, shape: CloneShape | null, held = false): Domain {
    const id = key(address);
    const domain: Domain = { vm, ring: new ConsoleRing(), shape, memservers: [], served: new Map(), held: held ? [] : null };
    this.#domains.set(id, domain);
    vm.on('console', (data) => {
      domain.ring.write(data);
      this.hooks.console({ ...address, data });
    });
    let ended = false;
    const unlessHeld = (run: () => void) => (domain.held ? domain.held.push(run) : run());
    vm.on('state', (event) =>
      unlessHeld(() => {
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
      }),
    );
    vm.on('exit', (event) =>
      unlessHeld(() => {
        // A clone's data-plane figures go to the log with its end (pages fetched, fault service, mcdist).
        let memtap: unknown = null;
        try {
          memtap = vm.memtapStats();
        } catch {
          /* already torn down */
        }
        // Its disk figures too (requests, bytes, what its overlay took; a remote clone's blocks fetched through the
        // memserver): the overlay itself is gone with the VM.
        const diskStats = readDiskStats(vm);
        const disk = diskStats ? { ...diskFiguresOf(diskStats), ...(diskStats.remote ? { remote: diskStats.remote } : {}) } : null;
        this.log.info({ domain: id, state: event.state, exitCode: event.exitCode, reason: event.reason, memtap, disk }, 'VM ended');
        // A finished VM's memory goes back at once; its console replay is kept a while longer.
        if (this.#domains.get(id) === domain) this.#retire(id, domain);
        if (event.state !== 'destroyed') void vm.destroy();
      }),
    );
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
    // The targets asked for the descriptor when this command was sent: they wait for it, or learn why it failed.
    const handoff = spec.serve?.handoff;
    if (handoff) this.hooks.shelf.expect(handoff.key, handoff.token, key(spec));
    try {
      return await this.#fork(spec);
    } catch (err) {
      if (handoff) this.hooks.shelf.refuse(handoff.key, `the fork of ${key(spec)} failed: ${messageOf(err)}`);
      throw err;
    }
  }

  async #fork(spec: DomainForkSpec): Promise<DomainForkResult> {
    const master = this.#get(spec);
    for (const c of spec.clones) {
      if (this.#domains.has(key({ clusterid: spec.clusterid, vmid: c.vmid }))) {
        throw new SfError('BAD_INPUT', `domain ${spec.clusterid}:${c.vmid} already runs on this host`);
      }
    }
    // The master's network must reach the clones' hosts even when none of them runs here (no attach would
    // tell it): without this a master whose clones all went elsewhere could not answer them.
    const watch = stopwatch();
    if (spec.cluster) await this.hooks.networks?.setHosts(spec.clusterid, spec.cluster.hosts, spec.cluster.vms);
    const networkMs = watch.lap();
    // Before the fork: every clone's tap, and the shells that will become clones in the fork call itself
    // (shells have the master's shape: a clone given fewer processors needs a VM of its own size).
    const [shells, taps] = await Promise.all([
      this.#shells.take(spec.ticket, spec.clones.length),
      this.#attachNets(spec.clusterid, spec.clones, spec.cluster),
    ]);
    this.#preparedNets.delete(spec.ticket); // the taps made at the grant are these clones' now
    const plans = await Promise.all(
      spec.clones.map(async ({ vmid, net, vcpus }, i) => {
        const address = { clusterid: spec.clusterid, vmid };
        const cloneReply = { status: SfStatus.OK, vmid, count: spec.nclones, ticket: spec.ticket };
        let shell = shells[i];
        if (shell && vcpus !== undefined && vcpus !== master.shape?.vcpus) {
          await shell.destroy();
          shell = undefined;
        }
        try {
          const tap = taps[i]!;
          if (tap instanceof Error) throw tap;
          return { vmid, vcpus, address, cloneReply, shell, nic: nicOption(tap, net), error: null };
        } catch (err) {
          await shell?.destroy();
          return {
            vmid,
            vcpus,
            address,
            cloneReply,
            shell: undefined,
            nic: {},
            error: `clone ${key(address)} could not be created: ${messageOf(err)}`,
          };
        }
      }),
    );
    const shellsMs = watch.lap();
    const cloneDisk = this.#cloneDisk(master.vm);
    const fast = plans.filter((p) => p.shell && !p.error);
    // Adopted first: a clone answers its guest calls from its first instruction, which comes before forkInto returns;
    // its state reports wait until the fork says it is a clone.
    const adopted = fast.map((p) => this.#adopt(p.shell!, p.address, null, true));
    let snapshot: VmSnapshot;
    let errors: (Error | null)[];
    try {
      ({ snapshot, errors } = await master.vm.forkInto(
        fast.map((p) => ({ shell: p.shell!, vmid: p.vmid, cloneReply: p.cloneReply, ...p.nic, ...cloneDisk })),
      ));
    } catch (err) {
      // Not forked: the shells are untouched, and go.
      // Their events stay held for good: what their destroy reports is housekeeping, not a clone's end.
      for (const p of fast) this.#domains.delete(key(p.address));
      await Promise.all(fast.map((p) => p.shell!.destroy()));
      for (const p of plans) if (!p.error) this.#detachNet(p.address);
      throw new SfError('INTERNAL', `cannot fork domain ${key(spec)}: ${messageOf(err)}`);
    }
    const snapshotMs = watch.lap();
    try {
      // Clones on other hosts fetch their pages from here: serve the snapshot while the master lives. First, so the
      // targets waiting for the descriptor make their clones while this host makes its fresh ones.
      let served: DomainForkResult['served'] = null;
      if (spec.serve) {
        // Not serving fails only the clones on other hosts (sfmd records why); those here already run.
        try {
          const fork = await serveFork(snapshot, spec.serve, {
            shelf: this.hooks.shelf,
            previous: master.lastServer,
            lossForTest: this.#lossForTest,
            pageMtu: this.hooks.pageMtu ?? null,
          });
          master.memservers.push(fork.memserver);
          master.served.set(fork.memserver, { ticket: spec.ticket, snapshotId: fork.served.snapshotId });
          master.lastServer = fork.memserver;
          served = fork.served;
        } catch (err) {
          this.log.error({ domain: key(spec), err: messageOf(err) }, 'cannot serve the fork to other hosts');
          this.hooks.shelf.refuse(spec.serve.handoff.key, `${key(spec)}'s host could not serve the fork: ${messageOf(err)}`);
        }
      }
      const serveMs = watch.lap();
      const outcomes = new Map<number, CloneOutcome>();
      for (const [i, p] of fast.entries()) {
        const domain = adopted[i]!;
        if (errors[i] === null) {
          outcomes.set(p.vmid, { vmid: p.vmid, ok: true, error: null });
          const pending = domain.held ?? [];
          domain.held = null;
          for (const run of pending) run(); // what it did meanwhile (ran, maybe ended) is reported in order
          continue;
        }
        // A shell that could not become a clone (a failed attach or resume): made afresh below, like one without.
        // Its events stay held for good (its destroy is housekeeping).
        this.log.warn({ ticket: spec.ticket, vmid: p.vmid, err: messageOf(errors[i]) }, 'clone shell not usable');
        this.#domains.delete(key(p.address));
        await p.shell!.destroy();
        p.shell = undefined;
      }
      // Clones without a usable shell: made from the snapshot now, then let go.
      const made = await Promise.all(
        plans
          .filter((p) => !outcomes.has(p.vmid))
          .map(async (p) => {
            if (p.error) return { vmid: p.vmid, vm: null, error: p.error };
            try {
              const vm = await VirtualMachine.createClone(snapshot, {
                vmid: p.vmid,
                lazy: true,
                cloneReply: p.cloneReply,
                ...p.nic,
                ...cloneDisk,
                ...(p.vcpus !== undefined ? { vcpus: p.vcpus } : {}),
              });
              return { vmid: p.vmid, vm, error: null };
            } catch (err) {
              this.#detachNet(p.address);
              return { vmid: p.vmid, vm: null, error: `clone ${key(p.address)} could not be created: ${messageOf(err)}` };
            }
          }),
      );
      const createMs = watch.lap();
      for (const m of made) if (m.vm) this.#adopt(m.vm, { clusterid: spec.clusterid, vmid: m.vmid }, null);
      for (const o of await Promise.all(
        made.map((m) => (m.vm ? this.#start({ clusterid: spec.clusterid, vmid: m.vmid }) : { vmid: m.vmid, ok: false, error: m.error })),
      )) {
        outcomes.set(o.vmid, o);
      }
      const started = spec.clones.map((c) => outcomes.get(c.vmid)!);
      const fromShells = fast.filter((_, i) => errors[i] === null).length;
      const startMs = watch.lap();
      const timing = { networkMs, snapshotMs, shellsMs, serveMs, createMs, startMs };
      this.log.info(
        {
          domain: key(spec),
          ticket: spec.ticket,
          clones: started.filter((c) => c.ok).length,
          pauseMs: snapshot.timing.pauseNs / 1e6,
          memserverPort: served?.memserverPort,
          group: served?.group,
          timing,
        },
        'VM forked',
      );
      return {
        clones: started,
        pauseMs: snapshot.timing.pauseNs / 1e6,
        descriptorBytes: snapshot.descriptor().length,
        fromShells,
        served,
        timing,
      };
    } finally {
      // Clones keep the frozen memory alive; the snapshot goes with the last of them.
      snapshot.release();
    }
  }

  /**
   * Clones of a VM forked on another host (DESIGN §4.4 step 3), asked while that host forks: the descriptor is
   * handed over by the master host's sfld once the fork is served (requested at once, so no control hop follows
   * the capture), while this host takes the ticket's shells and makes the taps; pages come from the master
   * host's memserver through this host's mirror (multicast: on the group).
   */
  async cloneRemote(spec: DomainRemoteCloneSpec): Promise<HostCommandValue<'domain:clone-remote'>> {
    const since = (t: number) => roundMs(performance.now() - t);
    const t0 = performance.now();
    const fresh = spec.clones.filter((c) => !this.#domains.has(key({ clusterid: spec.clusterid, vmid: c.vmid })));
    const timing = { descriptorMs: 0, shellsMs: 0, netMs: 0, clonesMs: 0 };
    const [got, shells, taps] = await Promise.all([
      (async () => {
        try {
          const [masterAddress, iface] = await Promise.all([
            resolveIPv4(spec.descriptor.host, "the master's host"),
            resolveIPv4(spec.interface, "this host's page-network name"),
          ]);
          const handoff = await fetchHandoff(spec.descriptor, masterAddress);
          return { handoff, server: `${masterAddress}:${handoff.memserverPort}`, iface, error: null };
        } catch (err) {
          return { handoff: null, server: '', iface: '', error: messageOf(err) };
        } finally {
          timing.descriptorMs = since(t0);
        }
      })(),
      // Shells prepared here when the ticket was granted (ticket:shells) save each clone its VM's making.
      this.#shells.take(spec.ticket, spec.clones.length).finally(() => {
        timing.shellsMs = since(t0);
      }),
      this.#attachNets(spec.clusterid, fresh, spec.cluster).finally(() => {
        timing.netMs = since(t0);
      }),
    ]);
    this.#preparedNets.delete(spec.ticket); // the taps made at the grant are these clones' now
    const ready = performance.now();
    if (!got.handoff) {
      // No fork to clone (it failed, or its host is unreachable): what was prepared for it goes.
      await Promise.all(shells.map((shell) => shell.destroy()));
      for (const [i, c] of fresh.entries()) if (!(taps[i] instanceof Error)) this.#detachNet({ clusterid: spec.clusterid, vmid: c.vmid });
      return { clones: spec.clones.map((c) => ({ vmid: c.vmid, ok: false, error: got.error })), timing };
    }
    const { descriptor, group } = got.handoff;
    const { server, iface } = got;
    const tapOf = new Map(fresh.map((c, i) => [c.vmid, taps[i]!]));
    let fromShells = 0;
    const results = await Promise.all(
      spec.clones.map(async ({ vmid, net, vcpus }, i) => {
        const address = { clusterid: spec.clusterid, vmid };
        let shell = shells[i];
        if (this.#domains.has(key(address))) {
          await shell?.destroy();
          return { vmid, ok: false, error: `domain ${key(address)} already runs on this host` };
        }
        let vm: VirtualMachine;
        try {
          const tap = tapOf.get(vmid) ?? null;
          if (tap instanceof Error) throw tap;
          const options = {
            ...nicOption(tap, net),
            ...this.#remoteCloneDisk(descriptor),
            vmid,
            ...(vcpus !== undefined ? { vcpus } : {}),
            server,
            bind: '0.0.0.0:0',
            group,
            interface: iface,
            ...(this.#lossForTest > 0 ? { dropForTest: this.#lossForTest } : {}),
            ...(this.hooks.pageLivenessMs !== undefined ? { pageLivenessMs: this.hooks.pageLivenessMs } : {}),
            cloneReply: { status: SfStatus.OK, vmid, count: spec.nclones, ticket: spec.ticket },
          };
          if (shell) {
            try {
              // A clone given fewer processors than the master has is refused by its shell's shape, and made afresh.
              await shell.becomeRemoteClone(descriptor, options);
              fromShells++;
            } catch (err) {
              this.log.warn({ ticket: spec.ticket, vmid, err: messageOf(err) }, 'clone shell not usable');
              await shell.destroy();
              shell = undefined;
            }
          }
          vm = shell ?? (await VirtualMachine.createRemoteClone(descriptor, options));
        } catch (err) {
          await shell?.destroy();
          this.#detachNet(address);
          return { vmid, ok: false, error: `clone ${key(address)} could not be made from ${server}: ${messageOf(err)}` };
        }
        this.#adopt(vm, address, null).remoteSnapshot = got.handoff.snapshotId;
        return this.#start(address);
      }),
    );
    timing.clonesMs = since(ready); // where the rest of this host's time went (remoteCloneTimingSchema)
    this.log.info(
      {
        cluster: spec.clusterid,
        ticket: spec.ticket,
        server,
        group,
        clones: results.filter((r) => r.ok).length,
        fromShells,
        timing,
      },
      'remote clones made',
    );
    return { clones: results, fromShells, timing };
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
    this.#totals.retire(domain);
    domain.memservers.length = 0;
    domain.served.clear();
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

  /**
   * A fork's clones on their cluster's network in one go (ClusterNetworks.attachMany): per clone its tap (null: no
   * NIC), or an Error for every clone when the network could not take them.
   */
  async #attachNets(
    clusterid: number,
    clones: { vmid: number; net?: VmNet | undefined }[],
    cluster: ClusterNetSpec | undefined,
  ): Promise<(string | null | Error)[]> {
    const networks = this.hooks.networks;
    const wanted = clones.filter((c): c is { vmid: number; net: VmNet } => c.net !== undefined);
    if (!networks || !cluster || wanted.length === 0) return clones.map(() => null);
    try {
      const taps = await networks.attachMany(clusterid, wanted, cluster);
      return clones.map((c) => (c.net ? taps[wanted.indexOf(c as { vmid: number; net: VmNet })]! : null));
    } catch (err) {
      return clones.map(() => (err instanceof Error ? err : new Error(String(err))));
    }
  }

  /** The VM's tap goes (and the cluster's network with its last VM here); a failure is logged, the sweep at start mops up. */
  #detachNet(address: DomainAddress): void {
    this.hooks.networks?.detach(address.clusterid, address.vmid).catch((err: unknown) => {
      this.log.warn({ domain: key(address), err: messageOf(err) }, 'could not take a VM off its cluster network');
    });
  }

  /** The cluster's hosts changed (sfmd's placement): the VXLAN's flood list follows. */
  async clusterPeers(clusterid: number, hosts: string[], vms?: VmPlacement[]): Promise<HostCommandValue<'cluster:peers'>> {
    return { peers: (await this.hooks.networks?.setHosts(clusterid, hosts, vms)) ?? 0 };
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

  /**
   * sfmd granted a ticket some of whose clones run here: shells for them (for a fork here or on the master's host),
   * and their taps on the cluster's network (building it here if needed), so that the fork finds both ready.
   */
  prepareShells(spec: HostCommandPayload<'ticket:shells'>): HostCommandValue<'ticket:shells'> {
    this.#shells.prepare(spec.ticket, { memoryMiB: spec.memoryMiB, vcpus: spec.vcpus, remote: spec.remote ?? true }, spec.count, true);
    const { net } = spec;
    const networks = this.hooks.networks;
    if (net && networks) {
      const vmids = net.clones.map((c) => c.vmid).filter((vmid) => !this.#domains.has(key({ clusterid: net.clusterid, vmid })));
      this.#preparedNets.set(spec.ticket, { clusterid: net.clusterid, vmids });
      const wanted = net.clones.filter((c) => vmids.includes(c.vmid));
      // No clone here (the master's host, its clones all elsewhere): only the forwarding entries the fork will need.
      const preparing =
        wanted.length > 0
          ? networks.attachMany(net.clusterid, wanted, net.cluster)
          : networks.setHosts(net.clusterid, net.cluster.hosts, net.cluster.vms);
      preparing.catch((err: unknown) => {
        // The fork makes them then (and says why if it cannot).
        this.#preparedNets.delete(spec.ticket);
        this.log.warn(
          { ticket: spec.ticket, cluster: net.clusterid, err: messageOf(err) },
          "cannot prepare the clones' taps ahead of the fork",
        );
      });
    }
    return { preparing: spec.count };
  }

  /** Taps prepared for a ticket whose shells went unused: gone, unless a VM of that address runs here now. */
  #releaseNets(ticket: string): void {
    const prepared = this.#preparedNets.get(ticket);
    if (!prepared) return;
    this.#preparedNets.delete(ticket);
    for (const vmid of prepared.vmids) {
      const address = { clusterid: prepared.clusterid, vmid };
      if (!this.#domains.has(key(address))) this.#detachNet(address);
    }
  }

  /** sfmd says a ticket ended by another path than its master's own call: its shells are not wanted. */
  async ticketEnded(ticket: string): Promise<HostCommandValue<'ticket:ended'>> {
    const released = await this.#shells.release(ticket);
    if (released > 0) this.log.info({ ticket, shells: released }, 'clone shells released: sfmd says their ticket ended');
    return { released };
  }

  /**
   * sfmd says the last clone on another host of `ticket`'s fork ended: its memserver stops and its descriptor
   * goes, so the fork's frozen memory is released once no local clone holds it (each holds its own). The master
   * runs on; its next fork still gets the pages this one's clones wanted. Idempotent: 0 when none runs.
   */
  releaseFork(clusterid: number, ticket: string): HostCommandValue<'fork:release'> {
    const master = this.#domains.get(key({ clusterid, vmid: 0 }));
    let stopped = 0;
    for (const [server, fork] of master?.served ?? []) {
      if (fork.ticket !== ticket) continue;
      server.stop();
      master!.served.delete(server);
      master!.memservers.splice(master!.memservers.indexOf(server), 1);
      this.#totals.retireServer(server);
      this.hooks.shelf.withdraw(fork.snapshotId);
      stopped++;
      this.log.info(
        { domain: key({ clusterid, vmid: 0 }), ticket, endpoint: server.endpoint, stats: server.stats() },
        'memserver stopped: the remote clones of its fork ended',
      );
    }
    return { stopped };
  }

  /** Memservers running on this host (forks whose clones on other hosts may still fetch pages). */
  get memserverCount(): number {
    let n = 0;
    for (const d of this.#domains.values()) n += d.memservers.length;
    return n;
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
