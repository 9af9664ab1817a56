// The VM option `disk` (a raw base image, read-only, under a copy-on-write overlay of the VM's own), a clone's
// `disk` (where its overlay goes), the disk's counters, and sweepOverlays for the leftovers of a crash.
// Boundary: the options' shape and the checks that name the file at fault; the disk itself is core/devices'.
import { type Stats, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';

import { loadAddon, type NativeDiskConfig, type NativeDiskStats } from './addon.ts';
import { malformedAnswer, readCounters } from './addon-results.ts';
import { badInput, describe } from './argument-checks.ts';
import { VmError } from './errors.ts';
import { messageOf } from './message.ts';

export interface DiskOptions {
  /** A raw disk image (e.g. `tar cf disk.img DIR`): a multiple of 512 bytes, at most 1 TiB. Never written. */
  image: string;
  /** An existing directory for the VM's overlay files (sparse and unnamed: they vanish with the VM). */
  overlayDir: string;
  /** What the device's GET_ID answers: at most 20 printable ASCII characters; default ''. */
  id?: string;
}

/** A clone's disk: its own overlay over the fork's disk snapshot (the image is the snapshot's). */
export interface CloneDiskOptions {
  overlayDir: string;
}

/** virtio-blk's request counters (core/devices/blk_stats.h SF_BLK_COUNTERS). */
export interface BlkDeviceStats {
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
}

/** The VM's current overlay (the one its writes go to; a new one after each fork). */
export interface OverlayStats {
  copiedUp: number;
  lowerReads: number;
  lowerReadBytes: number;
  blocksPresent: number;
  /** Disk space its sparse file takes. */
  allocatedBytes: number;
  frozen: boolean;
}

/** A clone on another host than its master's: what its reads of the fork's disk snapshot cost through the memserver. */
export interface RemoteDiskStats {
  /** Blocks its reads found missing on this host and waited for (fetched from the master's host). */
  blocksFetched: number;
  /** Their bytes (4 KiB blocks). */
  bytesFetched: number;
  /** Blocks its reads found on this host already (fetched earlier, for it or a sibling clone). */
  blocksLocal: number;
  /** Blocks asked for ahead of its sequential reads. */
  readaheadBlocks: number;
  /** Reads that failed because the memserver did not deliver (the guest saw an I/O error). */
  fetchErrors: number;
  /** The snapshot's blocks this host holds, for all its clones. */
  blocksOnHost: number;
}

export interface DiskStats {
  device: BlkDeviceStats;
  overlay: OverlayStats;
  /** null unless the VM is a clone reading its disk snapshot from another host. */
  remote: RemoteDiskStats | null;
}

const deviceKeys = [
  'reads',
  'writes',
  'flushes',
  'getIds',
  'readBytes',
  'writtenBytes',
  'badRequests',
  'unsupported',
  'ioErrors',
  'badChains',
  'queueErrors',
] as const satisfies readonly (keyof NativeDiskStats['device'])[];
const overlayKeys = ['copiedUp', 'lowerReads', 'lowerReadBytes', 'blocksPresent', 'allocatedBytes'] as const;
const remoteKeys = [
  'blocksFetched',
  'bytesFetched',
  'blocksLocal',
  'readaheadBlocks',
  'fetchErrors',
  'blocksOnHost',
] as const satisfies readonly (keyof RemoteDiskStats)[];

const SECTOR = 512;
const MAX_DISK_BYTES = 2 ** 40;

function checkPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') badInput(`${name} must be a path, got ${describe(value)}.`);
  if (value.includes('\0')) badInput(`${name} must not contain NUL characters.`);
  return value;
}

async function statOrRefuse(name: string, path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? messageOf(error);
    badInput(`${name} ${path} cannot be used: ${why === 'ENOENT' ? 'it does not exist' : why}.`);
  }
}

async function checkOverlayDir(name: string, value: unknown): Promise<string> {
  const dir = checkPath(name, value);
  if (!(await statOrRefuse(name, dir)).isDirectory()) badInput(`${name} ${dir} is not a directory.`);
  return dir;
}

/** `disk` as the binding takes it; null when absent. Throws VmError('BAD_INPUT') naming the file and the rule. */
export async function checkDiskOptions(value: unknown): Promise<NativeDiskConfig | null> {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) badInput(`disk must be an object or null, got ${describe(value)}.`);
  const o = value as Partial<Record<keyof DiskOptions, unknown>>;
  const image = checkPath('disk.image', o.image);
  const info = await statOrRefuse('disk.image', image);
  if (!info.isFile()) badInput(`disk.image ${image} is not a regular file (give a raw image, e.g. one made with tar cf).`);
  if (info.size === 0) badInput(`disk.image ${image} is empty: a disk needs at least one 512-byte sector.`);
  if (info.size % SECTOR !== 0) {
    badInput(`disk.image ${image} is ${info.size} bytes, not a multiple of 512: pad it (truncate -s %512 ${image}).`);
  }
  if (info.size > MAX_DISK_BYTES) badInput(`disk.image ${image} is ${info.size} bytes, over the 1 TiB limit.`);
  const overlayDir = await checkOverlayDir('disk.overlayDir', o.overlayDir);
  const id = o.id ?? '';
  if (typeof id !== 'string' || !/^[\x20-\x7e]{0,20}$/.test(id)) {
    badInput(`disk.id must be at most 20 printable ASCII characters, got ${describe(id)}.`);
  }
  return { image, overlayDir, id };
}

/** A clone's `disk`; null when absent. Synchronous (one stat), as the clone calls check their options at once. */
export function checkCloneDiskOptions(value: unknown): { overlayDir: string } | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) badInput(`disk must be an object or null, got ${describe(value)}.`);
  const dir = checkPath('disk.overlayDir', (value as { overlayDir?: unknown }).overlayDir);
  let info: Stats;
  try {
    info = statSync(dir);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? messageOf(error);
    badInput(`disk.overlayDir ${dir} cannot be used: ${why === 'ENOENT' ? 'it does not exist' : why}.`);
  }
  if (!info.isDirectory()) badInput(`disk.overlayDir ${dir} is not a directory.`);
  return { overlayDir: dir };
}

/** diskStats(): null when the VM has no disk. */
export function parseDiskStats(value: unknown): DiskStats | null {
  if (value === null) return null;
  const o = (typeof value === 'object' && value !== null ? value : {}) as { device?: unknown; overlay?: unknown; remote?: unknown };
  const device = readCounters(o.device, deviceKeys, (k, v) => malformedAnswer(`diskStats.device.${k}`, v));
  const counts = readCounters(o.overlay, overlayKeys, (k, v) => malformedAnswer(`diskStats.overlay.${k}`, v));
  const frozen = (o.overlay as { frozen?: unknown }).frozen;
  if (typeof frozen !== 'boolean') malformedAnswer('diskStats.overlay.frozen', frozen);
  const remote =
    o.remote === null || o.remote === undefined
      ? null
      : readCounters(o.remote, remoteKeys, (k, v) => malformedAnswer(`diskStats.remote.${k}`, v));
  return { device, overlay: { ...counts, frozen }, remote };
}

/**
 * Removes the overlay files a crashed process left in `dir` (only where the file system lacks O_TMPFILE can there
 * be any) and returns how many; for sfld's start. VmError('BAD_INPUT') when `dir` cannot be read.
 */
export function sweepOverlays(dir: string): number {
  checkPath('dir', dir);
  try {
    return loadAddon().sweepOverlays(dir);
  } catch (error) {
    throw new VmError('BAD_INPUT', `sweepOverlays(): ${messageOf(error)}`, { cause: error });
  }
}
