// Shmem huge pages from JS: whether guest RAM can use them (the fork pause stays flat in memory size only
// then), and the switch sfld flips at start. Boundary: types and shape checks; the work is C++ (src/core/host_tuning.cc).
import { loadAddon } from './addon.ts';
import { VmError } from './errors.ts';

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

interface HostTuningAddon {
  shmemHugePages(): unknown;
  allowShmemHugePages(): unknown;
}

function parse(value: unknown): ShmemHugePages {
  const o = value as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || typeof o['mode'] !== 'string' || typeof o['usable'] !== 'boolean' ||
      typeof o['changed'] !== 'boolean' || !(o['error'] === null || typeof o['error'] === 'string')) {
    throw new VmError('INTERNAL', 'The native addon returned a malformed shmem huge-page report.');
  }
  return { mode: o['mode'], usable: o['usable'], changed: o['changed'], error: o['error'] as string | null };
}

function addon(): HostTuningAddon {
  return loadAddon() as unknown as HostTuningAddon;
}

/** The host's shmem huge-page mode, read-only. */
export function shmemHugePages(): ShmemHugePages {
  return parse(addon().shmemHugePages());
}

/**
 * Makes shmem huge pages available to mappings that ask for them (mode never/deny → advise; other shmem
 * users are unaffected). Needs root; otherwise `error` says why and forks of large VMs pause longer.
 */
export function allowShmemHugePages(): ShmemHugePages {
  return parse(addon().allowShmemHugePages());
}
