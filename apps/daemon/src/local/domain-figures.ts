// Once a second, the data-plane figures of this host's lazy clones (memtap counters: faults, pages
// fetched, fault service times) and every VM's NIC and disk counters go to sfmd as one `domain:figures` batch.
import type { CloneMemtapStats, DiskStats, NetStats } from '@snowflock/native';
import type { DomainAddress, DomainFigures, DomainFiguresBatch } from '../common/events.ts';
import type { DiskFigures, NicFigures } from '../common/wire.ts';
import type { Logger } from '../common/logger.ts';

/** What this module needs from the domain manager: the domains here and a lazy clone's counters. */
export interface FigureSource {
  addresses(): DomainAddress[];
  /** null for a VM that is not a lazy clone, or one that is ending. */
  memtapStats?(address: DomainAddress): CloneMemtapStats | null;
  /** null for a VM without a NIC. */
  netStats?(address: DomainAddress): NetStats | null;
  /** null for a VM without a disk. */
  diskStats?(address: DomainAddress): DiskStats | null;
}

export const FIGURES_INTERVAL_MS = 1000;

export function figuresOf(address: DomainAddress, stats: CloneMemtapStats): DomainFigures {
  return {
    ...address,
    faults: stats.faults,
    pagesFetched: stats.pagesCopied,
    zeroPages: stats.zeroPages,
    prefetched: stats.prefetched,
    freshHints: stats.freshHints,
    present: stats.present,
    faultP50Ns: stats.p50Ns,
    faultP99Ns: stats.p99Ns,
    multicastBytes: stats.remote ? stats.remote.groupBytesReceived : null,
  };
}

/** The NIC counters under the record's names: both directions' drops (and bad chains) are one figure. */
export function nicFiguresOf(stats: NetStats): NicFigures {
  return {
    rxBytes: stats.rxBytes,
    txBytes: stats.txBytes,
    rxPackets: stats.rxPackets,
    txPackets: stats.txPackets,
    drops: stats.rxDrops + stats.txDrops + stats.badChains,
  };
}

/** The disk counters under the record's names: every kind of refused request is one figure. */
export function diskFiguresOf(stats: DiskStats): DiskFigures {
  const d = stats.device;
  return {
    reads: d.reads,
    writes: d.writes,
    readBytes: d.readBytes,
    writtenBytes: d.writtenBytes,
    refused: d.badRequests + d.unsupported + d.ioErrors + d.badChains + d.queueErrors,
    overlayBytes: stats.overlay.allocatedBytes,
    // A clone away from its master's host: the snapshot blocks it read, all of which came from the master's
    // host through the memserver — fetched for it, or already on this host (a sibling's fetch, multicast, readahead).
    remoteBlocks: (stats.remote?.blocksFetched ?? 0) + (stats.remote?.blocksLocal ?? 0),
  };
}

/** A reading that fails means the VM was destroyed between listing and reading: nothing to report for it. */
function tryRead<T>(read: () => T | null | undefined): T | null {
  try {
    return read() ?? null;
  } catch {
    return null;
  }
}

/** One batch: every lazy clone's figures and every NIC's counters now; a VM that ends while being read is left out. */
export function sampleFigures(source: FigureSource, now = Date.now()): DomainFiguresBatch {
  const domains: DomainFigures[] = [];
  const nics: NonNullable<DomainFiguresBatch['nics']> = [];
  const disks: NonNullable<DomainFiguresBatch['disks']> = [];
  for (const address of source.addresses()) {
    const stats = tryRead(() => source.memtapStats?.(address));
    if (stats) domains.push(figuresOf(address, stats));
    const net = tryRead(() => source.netStats?.(address));
    if (net) nics.push({ ...address, ...nicFiguresOf(net) });
    const disk = tryRead(() => source.diskStats?.(address));
    if (disk) disks.push({ ...address, ...diskFiguresOf(disk) });
  }
  return { sampledAt: now, domains, nics, disks };
}

/**
 * Starts the once-a-second batches while `connected()` says sfmd listens; an empty batch is not sent,
 * and nothing is sent until a clone, a NIC or a disk exists. Returns the stop function.
 */
export function startDomainFigures(
  socket: { emit(event: 'domain:figures', batch: DomainFiguresBatch): unknown },
  source: FigureSource,
  connected: () => boolean,
  log: Logger,
): () => void {
  if (typeof source.memtapStats !== 'function') {
    // Until the domain manager can read a clone's counters, the dashboard simply shows no figures.
    log.warn("domain figures are off: this sfld cannot read its clones' memtap counters");
    return () => {};
  }
  const timer = setInterval(() => {
    if (!connected()) return;
    const batch = sampleFigures(source);
    if (batch.domains.length > 0 || (batch.nics?.length ?? 0) > 0 || (batch.disks?.length ?? 0) > 0) socket.emit('domain:figures', batch);
  }, FIGURES_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
