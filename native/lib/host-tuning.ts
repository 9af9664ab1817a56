// Shmem huge pages from JS: whether guest RAM can use them (the fork pause stays flat in memory size only
// then), and the switch sfld flips at start. Boundary: shape checks (types: addon.ts); the work is C++ (src/core/base/host_tuning.cc).
import { loadAddon, type ShmemHugePages } from './addon.ts';
import { VmError } from './errors.ts';

export type { ShmemHugePages } from './addon.ts';

function parse(value: unknown): ShmemHugePages {
  const o = value as Record<string, unknown> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.mode !== 'string' ||
    typeof o.usable !== 'boolean' ||
    typeof o.changed !== 'boolean' ||
    !(o.error === null || typeof o.error === 'string')
  ) {
    throw new VmError('INTERNAL', 'The native addon returned a malformed shmem huge-page report.');
  }
  return { mode: o.mode, usable: o.usable, changed: o.changed, error: o.error as string | null };
}

/** The host's shmem huge-page mode, read-only. */
export function shmemHugePages(): ShmemHugePages {
  return parse(loadAddon().shmemHugePages());
}

/**
 * Makes shmem huge pages available to mappings that ask for them (mode never/deny → advise; other shmem
 * users are unaffected). Needs root; otherwise `error` says why and forks of large VMs pause longer.
 */
export function allowShmemHugePages(): ShmemHugePages {
  return parse(loadAddon().allowShmemHugePages());
}
