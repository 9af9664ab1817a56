// The allocator contract: a pure placement function from a snapshot of free host capacity to VM placements.
// Ticket bookkeeping, `min` checks and blocking for resources belong to the caller, never to an allocator.

/** Free capacity of one host at the moment of the request (already net of other reservations). */
export interface HostCapacity {
  hostId: string;
  name: string;
  cpusFree: number;
  /** bytes */
  ramFree: number;
  /**
   * Clones already on the host (running, or reserved by an unused ticket), of every cluster: the balance rule
   * (seed §9: no host runs more than one clone more than another) counts them. Absent: 0.
   */
  running?: number;
}

/** REQUEST_CLONE_TICKET(nclones, procs, min, block) in allocator units; `block` stays with the caller. */
export interface AllocationRequest {
  /** clones, or processors when procs = true (>= 1) */
  amount: number;
  procs: boolean;
  /** 0..amount, same unit as amount */
  min: number;
  /** vcpus of the master VM (>= 1): a clone has exactly this many in clone mode, at most this many in procs mode */
  masterVcpus: number;
  /** bytes of RAM each clone needs (the master's memory) */
  memory: number;
}

/** One clone VM: vmids run 1..n in the order an allocator returns them (0 is the master). */
export interface Placement {
  vmid: number;
  hostId: string;
  processors: number;
  memory: number;
}

export interface Allocator {
  readonly name: string;
  /** Places as much of the request as fits; never more than `amount`. The caller compares the total with `min`. */
  allocate(hosts: readonly HostCapacity[], request: AllocationRequest, random?: () => number): Placement[];
}

/** What a set of placements grants, in the request's unit: clones, or processors in procs mode. */
export function placedAmount(request: AllocationRequest, placements: readonly Placement[]): number {
  if (!request.procs) return placements.length;
  let sum = 0;
  for (const p of placements) sum += p.processors;
  return sum;
}
