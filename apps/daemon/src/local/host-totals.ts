// What this host's data plane did since sfld started, summed over its VMs: page faults and their service
// times, memserver and page-source traffic, NIC and disk counters. A VM's own counters die with it, so its
// last figures are added to the ended VMs' total as it leaves, and every total only ever grows.
import {
  FAULT_TIME_BUCKETS,
  type DiskStats,
  type MemserverStats,
  type MemtapStats,
  type NetStats,
  type RemoteSourceStats,
} from '@snowflock/native';

/** One VM as the totals read it; the domain manager's records fit this. */
export interface VmParts {
  vm: { memtapStats(): MemtapStats | null; netStats(): NetStats | null; diskStats(): DiskStats | null };
  /** A master's memservers (running or stopped: a stopped one still answers stats()). */
  memservers: ReadonlyArray<{ stats(): MemserverStats }>;
  /** A remote clone's snapshot: its page source is the host's for that snapshot, shared by its clones here. */
  remoteSnapshot?: string;
}

/** Every counter a host total has; `faultTimes` holds the fault-time buckets in FAULT_TIME_BUCKETS order. */
export interface DataPlaneCounters {
  faults: number;
  pagesFetched: number;
  zeroPages: number;
  prefetched: number;
  freshHints: number;
  faultNsSum: number;
  faultTimes: number[];
  memserverRequests: number;
  memserverPagesServed: number;
  memserverBytesSent: number;
  memserverMulticastDatagrams: number;
  memserverUnicastDatagrams: number;
  memserverSendErrors: number;
  memserverDropped: number;
  memserverOutOfRange: number;
  memserverBacklogFull: number;
  streamsStarted: number;
  streamsRefused: number;
  streamedPages: number;
  mirrorHits: number;
  mirrorMisses: number;
  sourceRequestsSent: number;
  sourceBytesReceived: number;
  sourceDatagramsReceived: number;
  sourceDropped: number;
  sourceTimeouts: number;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  rxDrops: number;
  txDrops: number;
  diskReads: number;
  diskWrites: number;
  diskReadBytes: number;
  diskWrittenBytes: number;
}

export interface DataPlaneFigures extends DataPlaneCounters {
  /** Gauges of the running VMs only. */
  memserversRunning: number;
  streamsActive: number;
}

export function emptyCounters(): DataPlaneCounters {
  return {
    faults: 0,
    pagesFetched: 0,
    zeroPages: 0,
    prefetched: 0,
    freshHints: 0,
    faultNsSum: 0,
    faultTimes: FAULT_TIME_BUCKETS.map(() => 0),
    memserverRequests: 0,
    memserverPagesServed: 0,
    memserverBytesSent: 0,
    memserverMulticastDatagrams: 0,
    memserverUnicastDatagrams: 0,
    memserverSendErrors: 0,
    memserverDropped: 0,
    memserverOutOfRange: 0,
    memserverBacklogFull: 0,
    streamsStarted: 0,
    streamsRefused: 0,
    streamedPages: 0,
    mirrorHits: 0,
    mirrorMisses: 0,
    sourceRequestsSent: 0,
    sourceBytesReceived: 0,
    sourceDatagramsReceived: 0,
    sourceDropped: 0,
    sourceTimeouts: 0,
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    rxDrops: 0,
    txDrops: 0,
    diskReads: 0,
    diskWrites: 0,
    diskReadBytes: 0,
    diskWrittenBytes: 0,
  };
}

/** A reading that throws means the VM was torn down between listing and reading: it has nothing to add. */
function tryRead<T>(read: () => T | null | undefined): T | null {
  try {
    return read() ?? null;
  } catch {
    return null;
  }
}

function addMemtap(to: DataPlaneCounters, m: MemtapStats): void {
  to.faults += m.faults;
  to.pagesFetched += m.pagesCopied;
  to.zeroPages += m.zeroPages;
  to.prefetched += m.prefetched;
  to.freshHints += m.freshHints;
  to.faultNsSum += m.faultNsSum;
  FAULT_TIME_BUCKETS.forEach(([key], i) => {
    to.faultTimes[i]! += m[key];
  });
}

function addMemserver(to: DataPlaneCounters, s: MemserverStats): void {
  to.memserverRequests += s.requests;
  to.memserverPagesServed += s.pagesServed;
  to.memserverBytesSent += s.bytesSent;
  to.memserverMulticastDatagrams += s.multicastDatagrams;
  to.memserverUnicastDatagrams += s.unicastDatagrams;
  to.memserverSendErrors += s.sendErrors;
  to.memserverDropped += s.dropped;
  to.memserverOutOfRange += s.outOfRange;
  to.memserverBacklogFull += s.backlogFull;
  to.streamsStarted += s.streamsStarted;
  to.streamsRefused += s.streamsRefused;
  to.streamedPages += s.streamedPages;
}

function addSource(to: DataPlaneCounters, s: RemoteSourceStats): void {
  to.mirrorHits += s.mirrorHits;
  to.mirrorMisses += s.mirrorMisses;
  to.sourceRequestsSent += s.requestsSent;
  to.sourceBytesReceived += s.bytesReceived;
  to.sourceDatagramsReceived += s.datagramsReceived;
  to.sourceDropped += s.dropped;
  to.sourceTimeouts += s.timeouts;
}

function addNet(to: DataPlaneCounters, n: NetStats): void {
  to.rxBytes += n.rxBytes;
  to.txBytes += n.txBytes;
  to.rxPackets += n.rxPackets;
  to.txPackets += n.txPackets;
  to.rxDrops += n.rxDrops;
  to.txDrops += n.txDrops + n.badChains;
}

function addDisk(to: DataPlaneCounters, d: DiskStats): void {
  to.diskReads += d.device.reads;
  to.diskWrites += d.device.writes;
  to.diskReadBytes += d.device.readBytes;
  to.diskWrittenBytes += d.device.writtenBytes;
}

/** One VM's own counters (its page source's are the host's: added once per snapshot by the caller). */
function addVm(to: DataPlaneCounters, parts: VmParts): MemserverStats[] {
  const memtap = tryRead(() => parts.vm.memtapStats());
  if (memtap) addMemtap(to, memtap);
  const net = tryRead(() => parts.vm.netStats());
  if (net) addNet(to, net);
  const disk = tryRead(() => parts.vm.diskStats());
  if (disk) addDisk(to, disk);
  const servers = parts.memservers.map((m) => tryRead(() => m.stats())).filter((s): s is MemserverStats => s !== null);
  for (const s of servers) addMemserver(to, s);
  return servers;
}

/** Snapshots whose page-source figures are kept apart before they are folded into the ended total. */
const KEPT_SOURCES = 256;

export class HostTotals {
  /** What VMs that left had done. */
  readonly #ended = emptyCounters();
  /**
   * The last figures of each recent snapshot's page source, by snapshot. Kept apart rather than added to
   * #ended because a source's figures are cumulative and shared: a clone of the snapshot that starts here
   * after the others ended (clones of one fork arrive one by one, short ones end early) reads the same
   * source again, which must replace these figures, not add to them.
   */
  readonly #sources = new Map<string, RemoteSourceStats>();

  constructor(private readonly sourceStats: (snapshotId: string) => RemoteSourceStats | null) {}

  /** `parts` leaves this host: its last figures join the ended total, its page source's the kept ones. */
  retire(parts: VmParts): void {
    addVm(this.#ended, parts);
    const snapshot = parts.remoteSnapshot;
    if (!snapshot) return;
    const source = tryRead(() => this.sourceStats(snapshot));
    if (source) this.#keepSource(snapshot, source);
  }

  #keepSource(snapshot: string, stats: RemoteSourceStats): void {
    this.#sources.delete(snapshot); // re-inserted last: the map's order is oldest first
    this.#sources.set(snapshot, stats);
    while (this.#sources.size > KEPT_SOURCES) {
      const [oldest, figures] = this.#sources.entries().next().value!;
      addSource(this.#ended, figures);
      this.#sources.delete(oldest);
    }
  }

  /** A memserver that stopped while its master runs on: its figures join the ended total. */
  retireServer(server: { stats(): MemserverStats }): void {
    const stats = tryRead(() => server.stats());
    if (stats) addMemserver(this.#ended, stats);
  }

  /** The totals now: the ended VMs' plus what the running `live` ones have done so far. */
  now(live: Iterable<VmParts>): DataPlaneFigures {
    const sum: DataPlaneFigures = { ...emptyCounters(), memserversRunning: 0, streamsActive: 0 };
    for (const [key, value] of Object.entries(this.#ended) as [keyof DataPlaneCounters, number | number[]][]) {
      if (Array.isArray(value)) sum[key as 'faultTimes'] = [...value];
      else sum[key as Exclude<keyof DataPlaneCounters, 'faultTimes'>] = value;
    }
    const snapshots = new Set<string>();
    for (const parts of live) {
      const servers = addVm(sum, parts);
      sum.memserversRunning += servers.length;
      for (const s of servers) sum.streamsActive += s.streamsActive;
      if (parts.remoteSnapshot) snapshots.add(parts.remoteSnapshot);
    }
    for (const snapshot of snapshots) {
      const source = tryRead(() => this.sourceStats(snapshot));
      if (source) this.#keepSource(snapshot, source);
    }
    for (const source of this.#sources.values()) addSource(sum, source);
    return sum;
  }
}
