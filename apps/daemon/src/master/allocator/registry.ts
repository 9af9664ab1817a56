// Allocators by configured name (sfmd.cfg picks one); 'default' is built in, SGE/Slurm-style ones register
// themselves here. Unknown names are configuration errors that list what is available.
import { SfError } from '../../common/errors.ts';
import { defaultAllocator } from './default-allocator.ts';
import type { Allocator } from './types.ts';

// 'slurm' and 'sge' hand clone tickets to the site's batch scheduler (master/scheduler/, started by main.ts);
// the master VM a cluster starts with is still placed by the default policy on Snowflock's own hosts.
const batchAllocator = (name: string): Allocator => ({ name, allocate: defaultAllocator.allocate });

const allocators = new Map<string, Allocator>([defaultAllocator, batchAllocator('slurm'), batchAllocator('sge')].map((a) => [a.name, a]));

export function registerAllocator(a: Allocator): void {
  if (!a.name) throw new SfError('INTERNAL', 'an allocator needs a non-empty name before it can be registered');
  const existing = allocators.get(a.name);
  // Silently replacing one would change placement for every cluster without a trace; re-registering is fine.
  if (existing && existing !== a) {
    throw new SfError('INTERNAL', `an allocator named '${a.name}' is already registered; pick another name`);
  }
  allocators.set(a.name, a);
}

export function allocatorNames(): string[] {
  return [...allocators.keys()].sort();
}

export function getAllocator(name: string): Allocator {
  const a = allocators.get(name);
  if (!a) {
    throw new SfError('BAD_CONFIG', `unknown allocator '${name}'; known allocators: ${allocatorNames().join(', ')}`);
  }
  return a;
}
