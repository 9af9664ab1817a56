// VM fork from JS: the snapshot a fork hands to clones (descriptor + frozen memory) and the shapes of
// clone options and lazy-memory (memtap) counters. Boundary: types and checks; VirtualMachine.fork() and
// VirtualMachine.createClone() (vm.ts) do the work through the binding (src/binding/snapshot_binding.cc).
import { loadAddon } from './addon.ts';
import { VmError } from './errors.ts';

/** The binding's snapshot handle (src/binding/snapshot_binding.cc). */
export interface NativeSnapshotHandle {
  descriptor(): Buffer;
  ramBytes(): number;
  timing(): { pauseNs: number; captureNs: number; freezeNs: number };
  release(): void;
  released(): boolean;
}

/** How long the parent was stopped for the fork, and the parts of it. */
export interface ForkTiming {
  /** The parent out of KVM_RUN: pause start → resume done (0 if it was paused already). */
  pauseNs: number;
  /** vCPU and device state captured and serialised. */
  captureNs: number;
  /** Guest RAM switched to copy-on-write against the frozen snapshot. */
  freezeNs: number;
}

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

/** Lazy clone memory counters (memtap). */
export interface MemtapStats {
  /** Page faults served by the memtap thread. */
  faults: number;
  /** Pages filled from the snapshot (faults and prefetch). */
  pagesCopied: number;
  /** Pages zero-filled without a copy (snapshot holes and fresh-page hints). */
  zeroPages: number;
  prefetched: number;
  /** Pages the guest named as fresh (SF_HC_FRESH_PAGES): never fetched. */
  freshHints: number;
  alreadyPresent: number;
  /** Presence bits set: pages this clone holds. */
  present: number;
  /** Fault service time: message read → page mapped. */
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
}

export function parseMemtapStats(value: unknown): MemtapStats | null {
  if (value === null) return null;
  const o = value as Record<string, unknown>;
  const keys = ['faults', 'pagesCopied', 'zeroPages', 'prefetched', 'freshHints', 'alreadyPresent', 'present', 'p50Ns', 'p99Ns', 'maxNs'] as const;
  const out = {} as Record<(typeof keys)[number], number>;
  for (const k of keys) {
    const v = o?.[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new VmError('INTERNAL', `The native addon returned a malformed memtapStats.${k} (${String(v)}).`);
    }
    out[k] = v;
  }
  return out;
}

/** What a descriptor says about itself, read with the same checks a clone applies. */
export interface DescriptorInfo {
  /** 16 hex digits; null for a plain capture (not a fork). */
  snapshotId: string | null;
  ramBytes: number;
  vcpus: number;
  /** Pages that may hold data (the rest are zero); null when the descriptor does not say. */
  dataPages: number | null;
}

/** Parses and checks a descriptor received from elsewhere; throws VmError('BAD_INPUT') if it is not valid. */
export function inspectDescriptor(descriptor: Buffer): DescriptorInfo {
  if (!Buffer.isBuffer(descriptor)) throw new VmError('BAD_INPUT', 'inspectDescriptor() needs the descriptor as a Buffer.');
  const addon = loadAddon() as unknown as { inspectDescriptor(b: Buffer): DescriptorInfo };
  try {
    return addon.inspectDescriptor(descriptor);
  } catch (error) {
    throw new VmError('BAD_INPUT', error instanceof Error ? error.message : String(error));
  }
}
