// Rejects requests and host snapshots no allocator can place sensibly (fractions, negatives, duplicate hosts),
// so every allocator can rely on integer units and on one entry per host when it checks overcommit.
import { SfError } from '../../common/errors.ts';
import type { AllocationRequest, HostCapacity } from './types.ts';

const isCount = (n: number, least: number): boolean => Number.isSafeInteger(n) && n >= least;

export function assertValidRequest(request: AllocationRequest): void {
  const { amount, min, masterVcpus, memory } = request;
  if (!isCount(amount, 1)) {
    throw new SfError(
      'BAD_INPUT',
      `allocation amount must be an integer >= 1, got ${amount}; ask for at least one ${request.procs ? 'processor' : 'clone'}`,
    );
  }
  if (!isCount(min, 0) || min > amount) {
    throw new SfError('BAD_INPUT', `allocation min must be an integer in 0..${amount}, got ${min}; lower min or raise the amount`);
  }
  if (!isCount(masterVcpus, 1)) {
    throw new SfError('BAD_INPUT', `master vcpus must be an integer >= 1, got ${masterVcpus}; check the master domain's record`);
  }
  if (!Number.isFinite(memory) || memory < 0) {
    throw new SfError('BAD_INPUT', `clone memory must be a finite number of bytes >= 0, got ${memory}; check the master domain's record`);
  }
}

export function assertUniqueHosts(hosts: readonly HostCapacity[]): void {
  const seen = new Set<string>();
  for (const h of hosts) {
    if (seen.has(h.hostId)) {
      throw new SfError('BAD_INPUT', `host ${h.hostId} (${h.name}) appears twice in the capacity snapshot; pass one entry per host`);
    }
    seen.add(h.hostId);
  }
}
