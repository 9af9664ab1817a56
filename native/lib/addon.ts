// Loads build/Release/snowflock.node once, on first use, and declares once what each of its exports takes and returns.
// Boundary: loading and the binding's shapes (read off native/src/binding/*.cc); each wrapper's checks live in its file.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { messageOf } from './message.ts';

// ---- host probes (capabilities_binding.cc) ----

export interface KvmCapabilities {
  /** /dev/kvm could be opened and speaks KVM API version 12. */
  available: boolean;
  /** KVM_GET_API_VERSION; 0 when /dev/kvm could not be opened. */
  apiVersion: number;
  /** Why KVM is unavailable (with errno text), or null. */
  error: string | null;
  /** Hard per-VM vCPU limit. */
  maxVcpus: number;
  /** Recommended per-VM vCPU limit (usually the host's CPU count). */
  nrVcpus: number;
  nrMemslots: number;
  /** Size in bytes of each vCPU's shared kvm_run area. */
  vcpuMmapSize: number;
  /** Bytes KVM_GET_XSAVE2 needs; 0 when unsupported. */
  xsave2Size: number;
  hasUserMemory: boolean;
  /** KVM follows host remaps of guest RAM (copy-on-write fork relies on it). */
  hasSyncMmu: boolean;
  hasIrqchip: boolean;
  hasSplitIrqchip: boolean;
  hasPit2: boolean;
  hasIrqfd: boolean;
  hasIoeventfd: boolean;
  hasImmediateExit: boolean;
}

export type UffdOpenPath = 'syscall-user-mode-only' | 'syscall' | 'dev-userfaultfd' | 'none';

export interface UserfaultfdCapabilities {
  /** A userfaultfd could be created and its UFFDIO_API handshake succeeded. */
  available: boolean;
  /** The API id the kernel answered (0xAA), or 0. */
  api: number;
  /** Raw UFFD_FEATURE_* bitmask the kernel offers. */
  featureMask: number;
  /** UFFD_FEATURE_* names without the prefix, e.g. 'MISSING_SHMEM'; unknown bits appear as 'BIT_n'. */
  features: string[];
  /** ioctls the fd accepts before any range is registered, e.g. 'REGISTER', 'API'. */
  ioctls: string[];
  /** How the probe got its fd (least privilege first). */
  openedVia: UffdOpenPath;
  /** A userfaultfd that also traps kernel-mode faults (what KVM-backed clone memory needs) can be created. */
  kernelFaults: boolean;
  /** Why userfaultfd is unavailable (with errno text), or null. */
  error: string | null;
}

export interface HostCapabilities {
  /** Online CPUs. */
  cpus: number;
  /** Total RAM in bytes. */
  ramBytes: number;
  /** `uname -r`. */
  kernelRelease: string;
  kvm: KvmCapabilities;
  userfaultfd: UserfaultfdCapabilities;
}

export interface ShmemHugePages {
  /** The active mode of /sys/kernel/mm/transparent_hugepage/shmem_enabled ('' when unreadable). */
  mode: string;
  /** Guest RAM gets huge pages (advise, within_size, always or force). */
  usable: boolean;
  /** allowShmemHugePages() switched it from never/deny to advise. */
  changed: boolean;
  /** Why it could not be read or changed, or null. */
  error: string | null;
}

// ---- NativeVm (vm_binding.cc, vm_convert.cc) ----

/** create()'s config (VmConfigFromJs). */
export interface NativeVmConfig {
  vcpus: number;
  ramBytes: number;
  cmdline: string;
  clusterid: number;
  vmid: number;
  imagePath: string;
  privilege: 'user' | 'kernel';
  /** One virtio-net NIC (NetConfigFromJs); absent or null: none. */
  net?: NativeNetConfig | null;
  /** One virtio-blk disk (DiskConfigFromJs); absent or null: none. */
  disk?: NativeDiskConfig | null;
}

/** config.disk: checked by disk-options.ts, read again by the binding. */
export interface NativeDiskConfig {
  image: string;
  overlayDir: string;
  id: string;
}

/** diskStats() (DiskStatsToJs): SF_BLK_COUNTERS, SF_OVERLAY_COUNTERS and SF_REMOTE_DISK_COUNTERS (core/devices/blk_stats.h). */
export interface NativeDiskStats {
  device: {
    reads: number;
    writes: number;
    flushes: number;
    getIds: number;
    readBytes: number;
    writtenBytes: number;
    badRequests: number;
    unsupported: number;
    ioErrors: number;
    badChains: number;
    queueErrors: number;
  };
  overlay: {
    copiedUp: number;
    lowerReads: number;
    lowerReadBytes: number;
    blocksPresent: number;
    allocatedBytes: number;
    frozen: boolean;
  };
  /** A clone on another host than its master's: its reads of the disk snapshot through the memserver; else null. */
  remote: {
    blocksFetched: number;
    bytesFetched: number;
    blocksLocal: number;
    readaheadBlocks: number;
    fetchErrors: number;
    blocksOnHost: number;
  } | null;
}

/** config.net: checked and normalised by net-options.ts, parsed again by the binding. */
export interface NativeNetConfig {
  tap: string;
  mac: string;
  ip: string;
  prefixLength: number;
  gateway: string | null;
  dns: string[];
}

/** The keys of SF_NET_COUNTERS (core/devices/net_stats.h). */
export interface NativeNetStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxDrops: number;
  txDrops: number;
  badChains: number;
  dhcpAnswers: number;
  wakeups: number;
}

/** A guest-call answer as answerCall takes it: `struct sf_hc_reply`, every field present (GuestReplyFromJs). */
export interface NativeGuestReply {
  status: number;
  count: number;
  vmid: number;
  nunused: number;
  noutstanding: number;
  ticket: string;
  errmsg: string;
  tickets: string[];
  alloc: { vmid: number; processors: number }[];
  exits: { vmid: number; status: number; how: number }[];
}

/** createClone / becomeClone options (CloneOptionsFromJs); cloneReply null: the clone's sf_clone gets -SF_EUNAVAIL. */
export interface NativeCloneOptions {
  vmid: number;
  lazy: boolean;
  cloneReply: NativeGuestReply | null;
  /** The parent's vCPUs 0 .. vcpus-1 run in the clone (CloneOptions::vcpus); absent: all. */
  vcpus?: number;
  /** The clone's own NIC; required when the parent had one. */
  net?: NativeNetConfig | null;
  /** The clone's own overlay (CloneDiskFromJs); required when the parent had a disk. */
  disk?: { overlayDir: string } | null;
}

/** createRemoteClone options: the clone's, plus its page source's network (RemoteSourceOptionsFromJs). */
export interface NativeRemoteCloneOptions extends NativeCloneOptions {
  server: string;
  bind?: string;
  group?: string;
  interface?: string;
  dropForTest?: number;
  pageLivenessMs?: number;
}

/** prepareClone()'s shape (CloneShapeFromJs). */
export interface NativeCloneShape {
  ramBytes: number;
  vcpus: number;
  privilege: 'user' | 'kernel';
  /** For a fork on another host (becomeRemoteClone); absent/false: for this host's forks (becomeClone, forkInto). */
  remote?: boolean;
}

/** What the onGuestCall hook receives (GuestCallToJs): `struct sf_hc_request` as the guest wrote it. */
export interface NativeGuestCall {
  id: bigint;
  nr: number;
  vcpu: number;
  request: { nr: number; flags: number; nclones: number; min: number; status: number; timeoutMs: number; ticket: string };
}

/** stats() (VmStatsToJs); every counter a JS number. */
export interface NativeVmStats {
  exitsIo: number;
  exitsMmio: number;
  exitsHlt: number;
  exitsOther: number;
  ioUnhandled: number;
  hypercalls: number;
  serialBytes: number;
  freshPageHints: number;
  vcpuRunNs: number;
  pagesTouched: number;
  consoleBytesDropped: number;
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
  /** Every fault's service time added up (ns): the fault-time histogram's sum. */
  faultNsSum: number;
  /** Faults by service time, one bucket each (upper bounds inclusive; not cumulative). FAULT_TIME_BUCKETS names them. */
  faultsWithin10us: number;
  faultsWithin25us: number;
  faultsWithin50us: number;
  faultsWithin100us: number;
  faultsWithin250us: number;
  faultsWithin500us: number;
  faultsWithin1ms: number;
  faultsWithin2500us: number;
  faultsWithin10ms: number;
  faultsWithin100ms: number;
  faultsOver100ms: number;
}

/** The fault-time buckets of MemtapStats, shortest first, with each one's upper bound in seconds (Infinity: the rest). */
export const FAULT_TIME_BUCKETS = [
  ['faultsWithin10us', 10e-6],
  ['faultsWithin25us', 25e-6],
  ['faultsWithin50us', 50e-6],
  ['faultsWithin100us', 100e-6],
  ['faultsWithin250us', 250e-6],
  ['faultsWithin500us', 500e-6],
  ['faultsWithin1ms', 1e-3],
  ['faultsWithin2500us', 2.5e-3],
  ['faultsWithin10ms', 10e-3],
  ['faultsWithin100ms', 100e-3],
  ['faultsOver100ms', Number.POSITIVE_INFINITY],
] as const satisfies ReadonlyArray<readonly [keyof MemtapStats, number]>;

/**
 * One VM. Its hooks are plain properties the binding calls if they are functions (not persistent references),
 * so an unused VM and its JS wrapper can be collected. Lifecycle calls reject, and the synchronous ones throw,
 * with whatever `makeError` builds from the failed status.
 */
export interface NativeVmHandle {
  onConsole?: (chunk: Buffer) => void;
  onState?: (state: string, exitCode: number, reason: string) => void;
  /** Unset: the binding answers every guest call -SF_ENOSYS itself. */
  onGuestCall?: (call: NativeGuestCall) => void;
  makeError?: (statusCode: number, message: string, operation: string) => Error;
  create(config: NativeVmConfig): Promise<void>;
  /** This object becomes a paused clone of the snapshot. */
  createClone(snapshot: NativeSnapshotHandle, options: NativeCloneOptions): Promise<void>;
  fork(): Promise<NativeSnapshotHandle>;
  /** fork(), then each shell becomeClone()d and resumed, in one worker; errors[i]: null when clone i runs. */
  forkInto(shells: NativeVmHandle[], options: NativeCloneOptions[]): Promise<{ snapshot: NativeSnapshotHandle; errors: (Error | null)[] }>;
  /** This object becomes a clone shell (no snapshot yet), waiting for becomeClone. */
  prepareClone(shape: NativeCloneShape): Promise<void>;
  /** The binding forces `lazy` on: a remote clone's memory always comes page by page. */
  createRemoteClone(descriptor: Buffer, options: NativeRemoteCloneOptions): Promise<void>;
  becomeClone(snapshot: NativeSnapshotHandle, options: NativeCloneOptions): Promise<void>;
  /** A shell made with {remote: true} becomes a clone of a fork on another host (createRemoteClone's options). */
  becomeRemoteClone(descriptor: Buffer, options: NativeRemoteCloneOptions): Promise<void>;
  /** null: not a lazy clone (or gone). */
  memtapStats(): MemtapStats | null;
  /** null: no NIC. Once destroyed, the last counters. */
  netStats(): NativeNetStats | null;
  /** null: no disk. Once destroyed, the last counters. */
  diskStats(): NativeDiskStats | null;
  prefetch(gpa: number, npages: number): void;
  boot(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  destroy(): Promise<void>;
  answerCall(id: bigint, reply: NativeGuestReply): void;
  consoleInput(bytes: Uint8Array): void;
  stats(): NativeVmStats;
  /** One of vm.ts's vmStates. */
  state(): string;
  exitCode(): number;
  reason(): string;
}

// ---- NativeSnapshot (snapshot_binding.cc) ----

/** How long the parent was stopped for the fork, and the parts of it. */
export interface ForkTiming {
  /** The parent out of KVM_RUN: pause start → resume done (0 if it was paused already). */
  pauseNs: number;
  /** vCPU and device state captured and serialised. */
  captureNs: number;
  /** Guest RAM switched to copy-on-write against the frozen snapshot. */
  freezeNs: number;
}

/** What a descriptor says about itself, read with the same checks a clone applies. */
export interface DescriptorInfo {
  /** 16 hex digits; null for a plain capture (not a fork). */
  snapshotId: string | null;
  ramBytes: number;
  vcpus: number;
  /** Pages that may hold data (the rest are zero); null when the descriptor does not say. */
  dataPages: number | null;
  /** The disk snapshot's size in bytes (a clone fetches its blocks); null when the VM had no disk. */
  diskBytes: number | null;
  /** The disk's GET_ID answer (its clones answer the same); null when the VM had no disk. */
  diskId: string | null;
}

/** A fork's descriptor and frozen memory, as NativeVm.fork() hands it out. */
export interface NativeSnapshotHandle {
  /** A copy. */
  descriptor(): Buffer;
  ramBytes(): number;
  timing(): ForkTiming;
  /** Clones already made keep their memory. */
  release(): void;
  released(): boolean;
}

// ---- NativeMemserver and remote sources (memserver_binding.cc) ----

/**
 * The pages clients of a snapshot asked for (and were streamed): sorted, distinct page numbers of a
 * guest RAM of `ramBytes`. Plain data: it can be kept, copied and passed to the next fork's memserver.
 */
export interface WorkingSet {
  ramBytes: number;
  pages: Uint32Array;
}

/** startMemserver()'s options (MemserverOptionsFromJs); memserver.ts's MemserverOptions says what each means. */
export interface NativeMemserverOptions {
  bind: string;
  mode?: 'multicast' | 'unicast';
  group?: string;
  interface?: string;
  maxDatagram?: number;
  /** Only `pages` is read. */
  workingSet?: { pages: Uint32Array } | null;
  reap?: boolean;
  lossForTest?: number;
}

export interface MemserverStats {
  /** Authentic requests answered (or found already on their way: lockstep). */
  requests: number;
  /** Pages sent (data + zero). */
  pagesServed: number;
  /** Of which answered as zero (snapshot hole or all-zero page). */
  zeroPages: number;
  datagramsSent: number;
  /** UDP payload bytes. */
  bytesSent: number;
  /** Datagrams the kernel refused (the client retries). */
  sendErrors: number;
  /** Authentic requests for pages past the snapshot: dropped. */
  outOfRange: number;
  /** Malformed, foreign or forged datagrams dropped. */
  dropped: number;
  /** Of datagramsSent: to the multicast group. */
  multicastDatagrams: number;
  /** Of datagramsSent: to one requester. */
  unicastDatagrams: number;
  /** Requested pages not sent: multicast moments ago or already queued. */
  lockstepSuppressed: number;
  /** Requested pages already queued by unicast for the same requester. */
  queuedDuplicates: number;
  /** Retransmissions answered by unicast in the end game. */
  endgameUnicastPages: number;
  /** The end game has begun (most data pages multicast at least once). */
  endgame: boolean;
  /** The snapshot's data (non-hole) pages. */
  dataPages: number;
  /** Of which multicast at least once. */
  dataPagesMulticast: number;
  /** Requests that carried a receive rate. */
  rateReports: number;
  /** Weighted average of the clients' reported receive rates, bytes/s. */
  clientRate: number;
  /** The group's send pace, bytes/s (0: unpaced; always in unicast mode). */
  pace: number;
  /** Times sending paused to keep the pace. */
  pacedWaits: number;
  /** Pages queued for sending now. */
  backlogPages: number;
  /** Requests dropped because the send queue was full (clients retry). */
  backlogFull: number;
  /** Datagrams the test-only loss knob did not send. */
  testSendDrops: number;
  /** Pages in workingSet(): the seed (in range, holding data) plus the pages clients asked for. */
  workingSetPages: number;
  /** Of the workingSet option's pages, those in range and holding data. */
  workingSetSeeded: number;
  /** Pages clients asked for. */
  workingSetRecorded: number;
  /** New clients a working-set stream began for. */
  streamsStarted: number;
  /** New clients that got none (too many streams at once). */
  streamsRefused: number;
  streamsActive: number;
  /** Pages sent by working-set streams (data + zero). */
  streamedPages: number;
  streamedDatagrams: number;
  /** Working-set pages a stream left out: its client asked for them itself, or had them through the group. */
  streamSkipped: number;
  /** The disk snapshot's 4 KiB blocks served in the disk space (0: no disk); the page counts above exclude them. */
  diskBlocks: number;
  diskRequests: number;
  /** Disk blocks sent (data + zero runs). */
  diskBlocksServed: number;
  diskZeroBlocks: number;
  /** UDP payload bytes of disk datagrams (included in bytesSent). */
  diskBytesSent: number;
  /** Disk blocks multicast at least once. */
  diskBlocksMulticast: number;
  diskEndgame: boolean;
}

/** A running memserver (startMemserver); stats() and workingSet() still answer after stop(). */
export interface NativeMemserverHandle {
  endpoint(): string;
  mode(): 'multicast' | 'unicast';
  /** null in unicast mode. */
  group(): string | null;
  stats(): MemserverStats;
  workingSet(): WorkingSet;
  stop(): void;
  stallForTest(stalled: boolean): void;
}

/**
 * A remote clone's page source on this host (shared by every clone of the snapshot here, so the figures
 * are the host's for that snapshot, not one clone's).
 */
export interface RemoteSourceStats {
  /** Page requests sent to the memserver (retries included). */
  requestsSent: number;
  pagesRequested: number;
  sendErrors: number;
  /** Pages found in this host's mirror: no request. */
  mirrorHits: number;
  mirrorMisses: number;
  datagramsReceived: number;
  /** Of datagramsReceived: through the multicast group. */
  groupDatagrams: number;
  /** UDP payload bytes received. */
  bytesReceived: number;
  /** Of which through the multicast group. */
  groupBytesReceived: number;
  /** Data pages stored in the mirror. */
  pagesInstalled: number;
  zeroPagesInstalled: number;
  /** Valid datagrams for pages the mirror already held. */
  duplicates: number;
  outOfRange: number;
  /** Malformed, foreign or forged datagrams dropped. */
  dropped: number;
  /** Fetches that gave up. */
  timeouts: number;
  /** Datagrams the test-only loss knob discarded. */
  testDrops: number;
  /** Measured receive rate, bytes/s. */
  receiveRate: number;
  /** Of requestsSent: for disk blocks. */
  diskRequestsSent: number;
  /** Disk blocks stored in this host's disk mirror (data + zero). */
  diskBlocksInstalled: number;
  /** Disk fetches that gave up (the read failed with IOERR). */
  diskTimeouts: number;
}

// ---- the module ----

/**
 * Every export of snowflock.node. Functions throw a plain Error (or TypeError) on bad arguments, except NativeVm's
 * methods, whose failures go through its `makeError` hook. NativeSnapshot and NativeMemserver are exported so the
 * binding can recognise its own objects; one made with `new` from JS is empty: get them from fork() and
 * startMemserver().
 */
export interface NativeAddon {
  hostCapabilities(): HostCapabilities;
  shmemHugePages(): ShmemHugePages;
  allowShmemHugePages(): ShmemHugePages;
  NativeVm: new () => NativeVmHandle;
  NativeSnapshot: new () => NativeSnapshotHandle;
  /** Throws when the buffer is not a valid descriptor ('not a valid descriptor: …'). */
  inspectDescriptor(descriptor: Buffer): DescriptorInfo;
  NativeMemserver: new () => NativeMemserverHandle;
  startMemserver(snapshot: NativeSnapshotHandle, options: NativeMemserverOptions): NativeMemserverHandle;
  /** `snapshotId`: 16 hex digits. null when no clone of that snapshot lives on this host. */
  remoteSourceStats(snapshotId: string): RemoteSourceStats | null;
  /** Removes overlay files a crash left in the directory; throws (statusCode = errno) when it cannot be read. */
  sweepOverlays(dir: string): number;
}

/** Thrown when the addon binary has not been built yet (native/ is built by the root `npm run build`). */
export class AddonNotBuiltError extends Error {
  constructor(readonly addonPath: string) {
    super(
      `The Snowflock native addon is not built (${addonPath} is missing). ` +
        'Run `npm run build` at the repository root (or `npm run build -w native`).',
    );
    this.name = 'AddonNotBuiltError';
  }
}

const addonUrl = new URL('../build/Release/snowflock.node', import.meta.url);
let cached: NativeAddon | undefined;

// Lazy so that importing native/ for its types (or on a machine without a build) costs nothing and
// throws only when native code is actually needed.
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const addonPath = fileURLToPath(addonUrl);
  if (!existsSync(addonPath)) throw new AddonNotBuiltError(addonPath);
  const require = createRequire(import.meta.url);
  let loaded: unknown;
  try {
    loaded = require(addonPath);
  } catch (cause) {
    const reason = messageOf(cause);
    throw new Error(`Failed to load the Snowflock native addon ${addonPath}: ${reason}. Try \`npm run build\`.`, {
      cause,
    });
  }
  if (typeof loaded !== 'object' || loaded === null || typeof (loaded as NativeAddon).hostCapabilities !== 'function') {
    throw new Error(`${addonPath} does not look like the Snowflock addon (no hostCapabilities export); rebuild it.`);
  }
  // The one place the binary's exports are taken to be NativeAddon; addon.test.ts checks the names against it.
  cached = loaded as NativeAddon;
  return cached;
}
