// The default placement policy (seed §9): one VM at a time onto the host with the fewest clones (those it runs
// already plus those placed so far) that still fits one, ties broken at random, never overcommitting a host's
// free cpus or RAM. Pure and synchronous over a capacity snapshot.
import type { AllocationRequest, Allocator, HostCapacity, Placement } from './types.ts';
import { assertUniqueHosts, assertValidRequest } from './validate.ts';

interface Slot {
  hostId: string;
  cpus: number;
  ram: number;
  count: number;
}

// Fractional or NaN capacities come from sloppy reporting; rounding down can only under-commit, never over.
function slotOf(h: HostCapacity): Slot {
  const cpus = Number.isNaN(h.cpusFree) ? 0 : Math.floor(h.cpusFree);
  const ram = Number.isNaN(h.ramFree) ? 0 : h.ramFree;
  const running = Number.isSafeInteger(h.running) && h.running! > 0 ? h.running! : 0;
  return { hostId: h.hostId, cpus, ram, count: running };
}

// Random values of exactly 1 (a broken or hand-written source) must not index past the end.
function pickIndex(random: () => number, length: number): number {
  const i = Math.floor(random() * length);
  return Math.min(Math.max(i, 0), length - 1);
}

export const defaultAllocator: Allocator = {
  name: 'default',
  allocate(hosts: readonly HostCapacity[], request: AllocationRequest, random: () => number = Math.random): Placement[] {
    assertValidRequest(request);
    assertUniqueHosts(hosts);
    const { amount, procs, masterVcpus, memory } = request;
    // A clone-mode VM needs all of the master's vcpus; a procs-mode VM can make do with a single one.
    const cpusNeeded = procs ? 1 : masterVcpus;
    const fits = (s: Slot): boolean => s.cpus >= cpusNeeded && s.ram >= memory;

    const slots = hosts.map(slotOf);
    const placements: Placement[] = [];
    let placed = 0;
    const tied: Slot[] = [];
    while (placed < amount) {
      let least = Infinity;
      tied.length = 0;
      for (const s of slots) {
        if (!fits(s)) continue;
        if (s.count < least) {
          least = s.count;
          tied.length = 0;
        }
        if (s.count === least) tied.push(s);
      }
      if (tied.length === 0) break;
      const s = tied[pickIndex(random, tied.length)]!;
      const processors = procs ? Math.min(masterVcpus, amount - placed, s.cpus) : masterVcpus;
      s.cpus -= processors;
      s.ram -= memory;
      s.count += 1;
      placed += procs ? processors : 1;
      placements.push({ vmid: placements.length + 1, hostId: s.hostId, processors, memory });
    }
    return placements;
  },
};
