// The allocator package's public face: the contract, the default policy and the by-name registry.
// Callers (the ticket service) import from here, not from the individual files.
export type { AllocationRequest, Allocator, HostCapacity, Placement } from './types.ts';
export { placedAmount } from './types.ts';
export { assertUniqueHosts, assertValidRequest } from './validate.ts';
export { defaultAllocator } from './default-allocator.ts';
export { allocatorNames, getAllocator, registerAllocator } from './registry.ts';
