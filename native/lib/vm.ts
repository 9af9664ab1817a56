// VirtualMachine: one KVM flat-guest VM driven from JS (create, boot, pause, resume, destroy, fork, clones, console,
// guest calls). Boundary: lifecycle, events and the answer-once discipline; checks, ABI and the VMM live elsewhere.
import { EventEmitter } from 'node:events';

import {
  loadAddon,
  type MemtapStats,
  type NativeSnapshotHandle,
  type NativeVmHandle,
  type NativeVmStats,
  type RemoteSourceStats,
} from './addon.ts';
import { readCounters, shapeError } from './addon-results.ts';
import { badInput, describe, intInRange } from './argument-checks.ts';
import { makeVmErrorFromStatus, VmError } from './errors.ts';
import { parseMemtapStats, VmSnapshot } from './fork.ts';
import { type CloneDiskOptions, type DiskStats, parseDiskStats } from './disk-options.ts';
import { type NetOptions, type NetStats, parseNetStats } from './net-options.ts';
import { SfAbi, SfStatus } from './guest-abi.ts';
import {
  failureReply,
  normalizeGuestReply,
  parseGuestCall,
  type GuestCall,
  type GuestCallHandler,
  type GuestReply,
  type NormalizedGuestReply,
} from './guest-call.ts';
import { remoteSourceStats } from './memserver.ts';
import { messageOf } from './message.ts';
import {
  checkCloneOptions,
  checkCloneShape,
  checkCloneSpec,
  checkCreateOptions,
  checkRemoteCloneOptions,
  type CloneOptions,
  type CloneShape,
  type RemoteCloneOptions,
  type VirtualMachineOptions,
} from './vm-options.ts';

// ---- VM state, events, statistics ----

export const vmStates = ['created', 'running', 'paused', 'halted', 'exited', 'crashed', 'destroyed'] as const;
export type VmStateName = (typeof vmStates)[number];
/** States a VM never leaves on its own (waitForExit resolves on these). */
export const finalVmStates: readonly VmStateName[] = ['halted', 'exited', 'crashed', 'destroyed'];

export interface VmStateEvent {
  state: VmStateName;
  /** The guest's exit code (SF_HC_EXIT); meaningful for 'exited'. */
  exitCode: number;
  /** Why the state changed (crash reason, panic message, ...); may be ''. */
  reason: string;
}

export interface VmStats {
  exits: { io: number; mmio: number; hlt: number; other: number };
  /** Port accesses no device owns (reads see 0xff). */
  ioUnhandled: number;
  hypercalls: number;
  /** Bytes the guest wrote to its console (serial port and SF_HC_CONSOLE_WRITE). */
  consoleBytes: number;
  /** Console bytes the binding dropped because JS fell more than 8 MiB behind. */
  consoleBytesDropped: number;
  freshPageHints: number;
  /** Wall time all vCPU threads spent inside KVM_RUN, in nanoseconds. A JS number: exact up to ~104 days. */
  vcpuTimeNs: number;
  /** Resident guest RAM pages (4 KiB); 0 after destroy(). */
  pagesTouched: number;
}

export interface VirtualMachineEvents {
  /** Console output, in order, in chunks of any size. */
  console: [chunk: Buffer];
  /** Every state change the VMM reports (including the final 'destroyed'). */
  state: [event: VmStateEvent];
  /** Once, when the VM first reaches a final state (halted, exited, crashed, destroyed). */
  exit: [event: VmStateEvent];
  /** A guest call's handler threw or returned an invalid reply (the guest got -SF_EINTERNAL), or the answer failed. */
  guestCallError: [error: Error, call: GuestCall];
}

/** A lazy clone's memtap counters; `remote`: a remote clone's page source on this host (null: a local clone). */
export type CloneMemtapStats = MemtapStats & { remote: RemoteSourceStats | null };

/** One clone of VirtualMachine.forkInto(): the shell it is made in, and its becomeClone() options. */
export interface ForkIntoClone {
  shell: VirtualMachine;
  vmid: number;
  cloneReply?: GuestReply;
  net?: NetOptions | null;
  disk?: CloneDiskOptions | null;
}

// Checked here rather than trusted: an addon built before NativeVm existed must fail with a clear message.
function nativeVmClass(): new () => NativeVmHandle {
  const { NativeVm } = loadAddon();
  if (typeof NativeVm !== 'function') {
    throw new VmError('INTERNAL', 'The native addon has no NativeVm export; rebuild it (`npm run build -w native`).');
  }
  return NativeVm;
}

function parseState(value: unknown): VmStateName {
  const match = vmStates.find((s) => s === value);
  if (match === undefined) shapeError('VM state', value);
  return match;
}

const nativeStatsKeys = [
  'exitsIo',
  'exitsMmio',
  'exitsHlt',
  'exitsOther',
  'ioUnhandled',
  'hypercalls',
  'serialBytes',
  'consoleBytesDropped',
  'freshPageHints',
  'vcpuRunNs',
  'pagesTouched',
] as const satisfies readonly (keyof NativeVmStats)[];

function parseStats(value: unknown): VmStats {
  if (typeof value !== 'object' || value === null) shapeError('stats', value);
  const n = readCounters(value, nativeStatsKeys, (key, v) => shapeError(`stats.${key}`, v));
  return {
    exits: { io: n.exitsIo, mmio: n.exitsMmio, hlt: n.exitsHlt, other: n.exitsOther },
    ioUnhandled: n.ioUnhandled,
    hypercalls: n.hypercalls,
    consoleBytes: n.serialBytes,
    consoleBytesDropped: n.consoleBytesDropped,
    freshPageHints: n.freshPageHints,
    vcpuTimeNs: n.vcpuRunNs,
    pagesTouched: n.pagesTouched,
  };
}

// Exceptions thrown by user listeners must not unwind into the binding's dispatch loop: report them the way
// Node reports a throwing listener of any native event (as an uncaught exception), just one tick later.
function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

/**
 * A flat-guest VM. Create with `await VirtualMachine.create({...})`, listen for 'console' / 'state' / 'exit',
 * set `onGuestCall`, then `boot()`. Lifecycle calls are serialised: each waits for the previous one.
 * A booted VM keeps Node's event loop alive until it reaches a final state or is destroyed.
 */
export class VirtualMachine extends EventEmitter<VirtualMachineEvents> {
  /**
   * Answers the guest's seed-API hypercalls. Unset: every call is answered -SF_ENOSYS. If it throws (or its
   * promise rejects, or the reply is invalid), the guest gets -SF_EINTERNAL with the message in errmsg and
   * 'guestCallError' is emitted. Every call is answered exactly once, so no vCPU is left waiting.
   */
  onGuestCall: GuestCallHandler | undefined = undefined;

  readonly #native: NativeVmHandle;
  #lastEvent: VmStateEvent = { state: 'created', exitCode: 0, reason: '' };
  #exitEvent: VmStateEvent | undefined;
  #ops: Promise<unknown> = Promise.resolve();
  #destroying: Promise<void> | undefined;
  #destroyed = false;
  #remoteSnapshot: string | undefined; // a remote clone's snapshot id: its page source's stats are the host's

  private constructor(native: NativeVmHandle) {
    super();
    this.#native = native;
    native.makeError = makeVmErrorFromStatus;
    native.onConsole = (chunk) => {
      if (this.#destroyed) return;
      try {
        this.emit('console', chunk);
      } catch (error) {
        rethrowLater(error);
      }
    };
    native.onState = (state, exitCode, reason) => {
      if (this.#destroyed) return;
      try {
        this.#deliverState({ state: parseState(state), exitCode, reason });
      } catch (error) {
        rethrowLater(error);
      }
    };
    native.onGuestCall = (raw) => this.#dispatchGuestCall(raw);
  }

  /**
   * Validates the options (VmError 'BAD_INPUT' before any native code runs), then creates the VM and loads the
   * image on a worker thread. Rejects with VmError ('KVM_UNAVAILABLE', 'BAD_IMAGE', 'NO_RESOURCES', ...).
   */
  static async create(options: VirtualMachineOptions): Promise<VirtualMachine> {
    const config = await checkCreateOptions(options);
    const native = new (nativeVmClass())();
    const vm = new VirtualMachine(native);
    await native.create(config);
    return vm;
  }

  /**
   * A clone of `snapshot` (see fork()), created paused at the fork instant with its own `vmid`; resume() lets it
   * run. A vCPU forked inside sf_clone returns from it with `cloneReply` (normally `{status: 0, vmid, count,
   * ticket}`); without one that call fails with -SF_EUNAVAIL in the clone. `lazy`: memory arrives page by page on
   * first touch (userfaultfd memtap) instead of being mapped copy-on-write all at once.
   */
  static async createClone(snapshot: VmSnapshot, options: CloneOptions): Promise<VirtualMachine> {
    const checked = checkCloneOptions('createClone', snapshot, options);
    const native = new (nativeVmClass())();
    const vm = new VirtualMachine(native);
    await native.createClone(snapshot.handle, checked);
    return vm;
  }

  /**
   * A lazy clone on this host of a VM forked on another: `descriptor` is the fork's (VmSnapshot.descriptor()),
   * pages come from the memserver at `server` ('address:port', see startMemserver) through this host's mirror,
   * shared by every clone of that snapshot here; `bind` is the local UDP address to use ('127.0.0.1:0' by
   * default). `group` (the memserver's Memserver.group; null/absent: unicast replies) is joined on the
   * interface that owns `interface` (default: the bind address, or 127.0.0.1). The first clone of a
   * snapshot on this host decides these; a later one asking for another group is refused (BAD_INPUT).
   * Created paused. If the memserver stops answering while the clone needs a page, the clone ends as
   * crashed with the reason.
   */
  static async createRemoteClone(descriptor: Buffer, options: RemoteCloneOptions): Promise<VirtualMachine> {
    const { snapshotId, native: checked } = checkRemoteCloneOptions(descriptor, options);
    const native = new (nativeVmClass())();
    const vm = new VirtualMachine(native);
    try {
      await native.createRemoteClone(descriptor, checked);
    } catch (error) {
      // EINVAL here is about what the caller passed (the descriptor, a group that disagrees with this
      // host's earlier clones of the snapshot), whatever the generic table says.
      if (error instanceof VmError && error.errno === 'EINVAL') {
        throw new VmError('BAD_INPUT', error.message, { statusCode: error.statusCode, operation: error.operation, errno: error.errno });
      }
      throw error;
    }
    vm.#remoteSnapshot = snapshotId;
    return vm;
  }

  /**
   * A clone shell: the parts of a lazy clone that do not depend on the snapshot (KVM VM, vCPUs, empty RAM),
   * made ahead of a fork (e.g. when a ticket is granted) so that becomeClone() after the fork only restores
   * state. `memoryMiB`, `vcpus` and `privilege` must match the master's. Never runs until becomeClone().
   */
  static async prepareClone(shape: CloneShape): Promise<VirtualMachine> {
    const checked = checkCloneShape(shape);
    const native = new (nativeVmClass())();
    const vm = new VirtualMachine(native);
    await native.prepareClone(checked);
    return vm;
  }

  /**
   * Makes this clone shell (prepareClone with `remote: true`) a clone of a fork on another host, exactly as
   * createRemoteClone would make one (same descriptor and options, parked until resume()). On failure the shell
   * is gone.
   */
  async becomeRemoteClone(descriptor: Buffer, options: RemoteCloneOptions): Promise<void> {
    const { snapshotId, native: checked } = checkRemoteCloneOptions(descriptor, options);
    await this.#lifecycle('becomeRemoteClone', () => this.#native.becomeRemoteClone(descriptor, checked));
    this.#remoteSnapshot = snapshotId;
  }

  /**
   * Makes this clone shell (prepareClone) a lazy clone of `snapshot`, parked at the fork instant like
   * createClone's; resume() lets it run. The snapshot must have the shell's shape. On failure the shell is gone.
   */
  becomeClone(
    snapshot: VmSnapshot,
    options: { vmid: number; cloneReply?: GuestReply; net?: NetOptions | null; disk?: CloneDiskOptions | null },
  ): Promise<void> {
    const checked = checkCloneOptions('becomeClone', snapshot, { ...options, lazy: true });
    return this.#lifecycle('becomeClone', () => this.#native.becomeClone(snapshot.handle, checked));
  }

  /**
   * Forks this VM (running or paused; it comes back in the same state): pauses it for the capture only
   * (≈1 ms whatever its memory size), makes its memory copy-on-write against a frozen snapshot and returns
   * that snapshot. A vCPU waiting inside sf_clone is captured there: answer the parent's call as usual.
   */
  fork(): Promise<VmSnapshot> {
    let snapshot: VmSnapshot | undefined;
    return this.#lifecycle('fork', async () => {
      snapshot = new VmSnapshot(await this.#native.fork());
    }).then(() => snapshot!);
  }

  /**
   * The fast fork (issue 19): forks this VM, makes each shell (prepareClone) a lazy clone of the snapshot and
   * lets them all run, in one native call — no JS turn between the fork and the clones' first instruction.
   * The clones run before this resolves: give each shell its onGuestCall and listeners first. Resolves with
   * the snapshot and, per clone, null (running) or the Error that stopped it (a shell that failed to become a
   * clone is gone; one that failed to resume is a parked clone: destroy() either). Rejects only when the fork
   * itself failed (the shells are then untouched).
   */
  async forkInto(clones: ForkIntoClone[]): Promise<{ snapshot: VmSnapshot; errors: (Error | null)[] }> {
    const specs = clones.map(({ shell: _, ...options }) => checkCloneSpec({ ...options, lazy: true }));
    const shells = clones.map((c) => c.shell);
    if (shells.some((s) => !(s instanceof VirtualMachine) || s === this)) {
      throw new VmError('BAD_INPUT', 'forkInto(): every clone needs a shell of its own (VirtualMachine.prepareClone()).');
    }
    let result: { snapshot: NativeSnapshotHandle; errors: (Error | null)[] } | undefined;
    // The shells' own queued operations finish first; theirs and ours are one operation until it settles.
    const before = Promise.all(shells.map((s) => s.#ops.catch(() => undefined)));
    const run = this.#lifecycle('forkInto', async () => {
      await before;
      for (const s of shells) if (s.#destroying) throw new VmError('BAD_STATE', 'forkInto(): a shell is destroyed.');
      result = await this.#native.forkInto(
        shells.map((s) => s.#native),
        specs,
      );
    });
    for (const s of shells) s.#ops = run;
    await run;
    return { snapshot: new VmSnapshot(result!.snapshot), errors: result!.errors };
  }

  /**
   * Lazy clones: memtap counters (pages fetched, fault service times) and, for remote clones, this host's
   * shared source of the snapshot's pages under `remote` (null for local clones); null for other VMs.
   */
  memtapStats(): CloneMemtapStats | null {
    if (this.#destroying) return null;
    const local = parseMemtapStats(this.#native.memtapStats());
    if (!local) return null;
    return { ...local, remote: this.#remoteSnapshot ? remoteSourceStats(this.#remoteSnapshot) : null };
  }

  /** Lazy clones: fetch [gpa, gpa + npages pages) before the guest touches them. No-op for other VMs. */
  prefetch(gpa: number, npages: number): void {
    if (this.#destroying) throw new VmError('BAD_STATE', 'prefetch(): the VM is destroyed.');
    this.#native.prefetch(intInRange('gpa', gpa, 0, SfAbi.RAM_MAX + 2 ** 32), intInRange('npages', npages, 0, SfAbi.RAM_MAX / 4096));
  }

  /**
   * Live VM state as the VMM sees it now ('destroyed' from the moment destroy() is called). 'state' events may
   * lag behind it; after any awaited lifecycle call they have caught up.
   */
  get state(): VmStateName {
    return parseState(this.#native.state());
  }

  /** The guest's exit code (0 unless it exited through SF_HC_EXIT); kept after destroy(). */
  get exitCode(): number {
    return this.#native.exitCode();
  }

  /** Why the VM stopped ('triple fault at rip=…', 'the guest exited with code 3', ...), or ''. */
  get reason(): string {
    return this.#native.reason();
  }

  /** Starts the vCPUs. */
  boot(): Promise<void> {
    return this.#lifecycle('boot', () => this.#native.boot());
  }

  /** Stops all vCPUs; resolves once every vCPU is parked. */
  pause(): Promise<void> {
    return this.#lifecycle('pause', () => this.#native.pause());
  }

  resume(): Promise<void> {
    return this.#lifecycle('resume', () => this.#native.resume());
  }

  /**
   * Stops the VM, answers nothing more, joins its threads and frees its memory. Idempotent: every call returns
   * the same promise. Waits for a lifecycle call already in progress. After it resolves no event is emitted,
   * `state` is 'destroyed' and `stats()` returns the final counters.
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#ops
      .catch(() => undefined)
      .then(() => this.#native.destroy())
      .then(() => {
        // Defensive: the VMM reports 'destroyed' itself (drained before native destroy() resolved).
        const final: VmStateEvent = { state: 'destroyed', exitCode: this.exitCode, reason: this.reason };
        if (this.#lastEvent.state !== 'destroyed') {
          try {
            this.#deliverState(final);
          } catch (error) {
            rethrowLater(error);
          }
        }
        this.#destroyed = true;
      });
    return this.#destroying;
  }

  /** Bytes for the guest's console input (the serial port's receive side). */
  consoleInput(data: string | Uint8Array): void {
    if (this.#destroying) throw new VmError('BAD_STATE', 'consoleInput(): the VM is destroyed.');
    let bytes: Uint8Array;
    if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
    else if (data instanceof Uint8Array) bytes = data;
    else badInput(`consoleInput() takes a string or a Uint8Array, got ${describe(data)}.`);
    if (bytes.length > 0) this.#native.consoleInput(bytes);
  }

  /** The NIC's counters (frames and bytes each way, drops, DHCP answers); null without a NIC. After destroy(), the final ones. */
  netStats(): NetStats | null {
    return parseNetStats(this.#native.netStats());
  }

  /**
   * The disk's counters (requests, bytes, refusals) and its current overlay's (blocks held, space its sparse file
   * takes); null without a disk. After destroy(), the final ones.
   */
  diskStats(): DiskStats | null {
    return parseDiskStats(this.#native.diskStats());
  }

  /** Counters since creation. Cheap (no vCPU is stopped). After destroy(), the final counters. */
  stats(): VmStats {
    return parseStats(this.#native.stats());
  }

  /**
   * Resolves with the first final state ('halted', 'exited', 'crashed' or 'destroyed') once its event has been
   * emitted, i.e. after all console output before it. Rejects with VmError 'TIMEOUT' after `timeoutMs` (if given).
   */
  waitForExit(timeoutMs?: number): Promise<VmStateEvent> {
    if (timeoutMs !== undefined) intInRange('timeoutMs', timeoutMs, 0, 0x7fff_ffff);
    if (this.#exitEvent) return Promise.resolve({ ...this.#exitEvent });
    return new Promise<VmStateEvent>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onExit = (event: VmStateEvent): void => {
        if (timer) clearTimeout(timer);
        resolve({ ...event });
      };
      this.once('exit', onExit);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.off('exit', onExit);
          const message = `waitForExit(): the VM did not stop within ${timeoutMs} ms (state ${this.state}).`;
          reject(new VmError('TIMEOUT', message));
        }, timeoutMs);
      }
    });
  }

  // ---- internals ----

  #deliverState(event: VmStateEvent): void {
    this.#lastEvent = event;
    const first = !this.#exitEvent && finalVmStates.includes(event.state);
    if (first) this.#exitEvent = event;
    this.emit('state', { ...event });
    if (first) this.emit('exit', { ...event });
  }

  #lifecycle(name: string, op: () => Promise<void>): Promise<void> {
    if (this.#destroying) return Promise.reject(new VmError('BAD_STATE', `${name}(): the VM is destroyed.`));
    const run = this.#ops
      .catch(() => undefined)
      .then(() => {
        if (this.#destroying) throw new VmError('BAD_STATE', `${name}(): the VM is destroyed.`);
        return op();
      });
    this.#ops = run;
    return run;
  }

  #dispatchGuestCall(raw: unknown): void {
    let call: GuestCall;
    try {
      call = parseGuestCall(raw);
    } catch (error) {
      // Without a usable id there is nothing to answer; the binding's checks make this unreachable.
      rethrowLater(error);
      return;
    }
    const handler = this.onGuestCall;
    if (handler === undefined) {
      this.#answer(call, failureReply(SfStatus.ENOSYS, `no guest-call handler for ${call.name}`));
      return;
    }
    let pending: GuestReply | Promise<GuestReply>;
    try {
      pending = handler(call);
    } catch (error) {
      this.#answerFailure(call, error);
      return;
    }
    Promise.resolve(pending).then(
      (reply) => {
        let checked: NormalizedGuestReply;
        try {
          checked = normalizeGuestReply(reply);
        } catch (error) {
          this.#answerFailure(call, error);
          return;
        }
        this.#answer(call, checked);
      },
      (error: unknown) => this.#answerFailure(call, error),
    );
  }

  #answerFailure(call: GuestCall, error: unknown): void {
    const message = messageOf(error);
    this.#answer(call, failureReply(SfStatus.EINTERNAL, message));
    this.#reportCallError(error instanceof Error ? error : new Error(message), call);
  }

  #answer(call: GuestCall, reply: NormalizedGuestReply): void {
    // After destroy() started, the VMM itself releases waiting vCPUs; a late answer has nowhere to go.
    if (this.#destroying) return;
    try {
      this.#native.answerCall(call.id, reply);
    } catch (error) {
      // The VM stopped (crash, exit from another vCPU) while the handler ran: nobody waits any more.
      if (finalVmStates.includes(this.state)) return;
      this.#reportCallError(error instanceof Error ? error : new Error(String(error)), call);
    }
  }

  #reportCallError(error: Error, call: GuestCall): void {
    if (this.listenerCount('guestCallError') === 0) return;
    try {
      this.emit('guestCallError', error, call);
    } catch (listenerError) {
      rethrowLater(listenerError);
    }
  }
}
