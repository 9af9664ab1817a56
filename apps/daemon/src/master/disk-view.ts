// A domain's disk as views show it: the cluster's image, and its figures (live from its sfld's last batch
// while it runs, the final ones on its record after). The overlay itself is gone once the VM ends.
import type { FigureRelay } from './dashboard-figures.ts';
import type { SeedConfig } from './seed-config.ts';
import { isLiveDomainState, type DomainState } from './store/states.ts';

export interface DiskView {
  /** The base image (the seed's disk_image, a path on the VM's host); every VM of the cluster reads it. */
  image: string;
  /** null: none yet (a VM that just started) or none reported (it ended without a final report). */
  figures: DiskViewFigures | null;
  live: boolean;
}

export interface DiskViewFigures {
  reads: number;
  writes: number;
  readBytes: number;
  writtenBytes: number;
  overlayBytes: number;
  /** 4 KiB blocks of the fork's disk snapshot fetched from the master's host (0 on that host). */
  remoteBlocks: number;
}

interface DiskColumns {
  clusterid: number;
  vmid: number;
  host: string;
  state: DomainState;
  seedConfig: string;
  diskReads: bigint | null;
  diskWrites: bigint | null;
  diskReadBytes: bigint | null;
  diskWrittenBytes: bigint | null;
  overlayBytes: bigint | null;
  diskRemoteBlocks: bigint | null;
}

export function diskView(d: DiskColumns, relay: FigureRelay | null): DiskView | null {
  const image = (JSON.parse(d.seedConfig) as SeedConfig).diskImage;
  if (!image) return null;
  if (isLiveDomainState(d.state)) {
    const sample = relay?.diskOf(d.clusterid, d.vmid);
    if (!sample || sample.host !== d.host) return { image, figures: null, live: true };
    const { reads, writes, readBytes, writtenBytes, overlayBytes, remoteBlocks } = sample;
    return { image, figures: { reads, writes, readBytes, writtenBytes, overlayBytes, remoteBlocks }, live: true };
  }
  if (d.diskReads === null) return { image, figures: null, live: false };
  return {
    image,
    figures: {
      reads: Number(d.diskReads),
      writes: Number(d.diskWrites ?? 0n),
      readBytes: Number(d.diskReadBytes ?? 0n),
      writtenBytes: Number(d.diskWrittenBytes ?? 0n),
      overlayBytes: Number(d.overlayBytes ?? 0n),
      remoteBlocks: Number(d.diskRemoteBlocks ?? 0n),
    },
    live: false,
  };
}
