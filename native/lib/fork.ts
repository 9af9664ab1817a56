// VM fork from JS: the snapshot a fork hands to clones (descriptor + frozen memory), its check as an argument, the
// check of lazy-memory (memtap) counters and descriptor inspection. Boundary: vm.ts does the work through the binding.
import { loadAddon, type DescriptorInfo, type ForkTiming, type MemtapStats, type NativeSnapshotHandle } from './addon.ts';
import { malformedAnswer, readCounters } from './addon-results.ts';
import { badInput, describe } from './argument-checks.ts';
import { VmError } from './errors.ts';
import { messageOf } from './message.ts';

export type { DescriptorInfo, ForkTiming, MemtapStats } from './addon.ts';

/**
 * A VM's state at one instant: its descriptor and its frozen memory. Clones are made from it with
 * `VirtualMachine.createClone(snapshot, …)`. `release()` drops this handle's hold on the frozen memory
 * (clones already made keep theirs); the memory goes away with the last clone.
 */
export class VmSnapshot {
  readonly #native: NativeSnapshotHandle;
  readonly timing: ForkTiming;
  readonly ramBytes: number;

  constructor(native: NativeSnapshotHandle) {
    this.#native = native;
    this.timing = native.timing();
    this.ramBytes = native.ramBytes();
  }

  /** The fork's snapshot id (16 hex digits): every page message of this fork carries it. */
  get id(): string {
    return inspectDescriptor(this.descriptor()).snapshotId ?? '';
  }

  /** The serialised descriptor (a copy): vCPU and device state, memory layout, identity; no page contents. */
  descriptor(): Buffer {
    if (this.released) throw new VmError('BAD_STATE', 'descriptor(): the snapshot was released.');
    return this.#native.descriptor();
  }

  get released(): boolean {
    return this.#native.released();
  }

  release(): void {
    this.#native.release();
  }

  /** For vm.ts: the handle the binding takes. */
  get handle(): NativeSnapshotHandle {
    return this.#native;
  }
}

const memtapKeys = [
  'faults',
  'pagesCopied',
  'zeroPages',
  'prefetched',
  'freshHints',
  'alreadyPresent',
  'present',
  'p50Ns',
  'p99Ns',
  'maxNs',
  'faultNsSum',
  'faultsWithin10us',
  'faultsWithin25us',
  'faultsWithin50us',
  'faultsWithin100us',
  'faultsWithin250us',
  'faultsWithin500us',
  'faultsWithin1ms',
  'faultsWithin2500us',
  'faultsWithin10ms',
  'faultsWithin100ms',
  'faultsOver100ms',
] as const;

/** Checks a NativeVm's memtapStats() answer (null: not a lazy clone). */
export function parseMemtapStats(value: unknown): MemtapStats | null {
  if (value === null) return null;
  return readCounters(value, memtapKeys, (k, v) => malformedAnswer(`memtapStats.${k}`, v));
}

/**
 * `snapshot` as an argument of `operation`: a VmSnapshot from fork() (else VmError 'BAD_INPUT') that has not been
 * released (else 'BAD_STATE').
 */
export function checkLiveSnapshot(operation: string, snapshot: unknown): VmSnapshot {
  if (!(snapshot instanceof VmSnapshot)) badInput(`${operation}() needs a VmSnapshot from fork(), got ${describe(snapshot)}.`);
  if (snapshot.released) throw new VmError('BAD_STATE', `${operation}(): the snapshot was released.`);
  return snapshot;
}

/** Parses and checks a descriptor received from elsewhere; throws VmError('BAD_INPUT') if it is not valid. */
export function inspectDescriptor(descriptor: Buffer): DescriptorInfo {
  if (!Buffer.isBuffer(descriptor)) throw new VmError('BAD_INPUT', 'inspectDescriptor() needs the descriptor as a Buffer.');
  try {
    return loadAddon().inspectDescriptor(descriptor);
  } catch (error) {
    throw new VmError('BAD_INPUT', messageOf(error));
  }
}
