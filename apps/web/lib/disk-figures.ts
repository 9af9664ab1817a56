// A VM's disk as the Cluster View shows it: the cluster's image, what the guest wrote, what its own overlay holds
// on its host, and the blocks it fetched from the master's host; live batches fold into a map like NIC counters. Pure.
import type { DomainFiguresEvent } from './api-types.ts';

export const DISK_BLOCK_BYTES = 4096;

export interface DiskFigureView {
  writtenBytes: number;
  overlayBytes: number;
  /** 4 KiB blocks of the fork's disk snapshot fetched from the master's host (0 for a VM on that host). */
  remoteBlocks: number;
}

/** A domain row's disk (sfmd's disk view): live figures while it runs, the record's final ones after. */
export interface RowDisk {
  image: string;
  figures: DiskFigureView | null;
  live: boolean;
}

/** Live disk counters by vmid, with the host that measured them. */
export type DiskMap = Record<number, DiskFigureView & { host: string }>;

export function foldDisks(map: DiskMap, clusterid: number, event: DomainFiguresEvent): DiskMap {
  const mine = (event.disks ?? []).filter((d) => d.clusterid === clusterid);
  if (mine.length === 0) return map;
  const next: DiskMap = { ...map };
  for (const d of mine) {
    next[d.vmid] = { host: event.host, writtenBytes: d.writtenBytes, overlayBytes: d.overlayBytes, remoteBlocks: d.remoteBlocks };
  }
  return next;
}

export interface DiskView extends RowDisk {
  /** The image's file name (the full path is the row's title). */
  name: string;
}

/**
 * A domain's disk now: for a live one the latest batch if measured where the record puts it, else its row's
 * figures (as of the row); null when the VM has no disk.
 */
export function diskFor(map: DiskMap, node: { vmid: number; host: string; live: boolean; disk?: RowDisk | null }): DiskView | null {
  if (!node.disk) return null;
  const name = node.disk.image.split('/').pop() || node.disk.image;
  const sample = node.live ? map[node.vmid] : undefined;
  if (sample && sample.host === node.host) {
    const { writtenBytes, overlayBytes, remoteBlocks } = sample;
    return { image: node.disk.image, name, figures: { writtenBytes, overlayBytes, remoteBlocks }, live: true };
  }
  return { ...node.disk, name };
}
