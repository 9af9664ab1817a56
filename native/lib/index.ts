// Public TypeScript face of @snowflock/native: re-exports the typed wrappers around snowflock.node.
// Boundary: exports only; each wrapper (types + argument/shape checks) lives in its own file.
export { AddonNotBuiltError, FAULT_TIME_BUCKETS } from './addon.ts';
export { hostCapabilities } from './capabilities.ts';
export { allowShmemHugePages, shmemHugePages } from './host-tuning.ts';
export type { ShmemHugePages } from './host-tuning.ts';
export type {
  HostCapabilities,
  KvmCapabilities,
  UffdOpenPath,
  UserfaultfdCapabilities,
} from './capabilities.ts';
export { inspectDescriptor, VmSnapshot } from './fork.ts';
export { checkMemserverOptions, Memserver, remoteSourceStats, startMemserver } from './memserver.ts';
export type { MemserverOptions, MemserverStats, RemoteSourceStats, WorkingSet } from './memserver.ts';
export type { DescriptorInfo, ForkTiming, MemtapStats } from './fork.ts';
export { VmError, vmErrorCodes, vmErrorCodeFor, makeVmErrorFromStatus } from './errors.ts';
export type { NativeOperation, VmErrorCode, VmErrorOptions } from './errors.ts';
export { SfAbi, SfExitHow, SfHypercall, SfStatus } from './guest-abi.ts';
export type { SfHypercallName, SfHypercallNumber, SfStatusName } from './guest-abi.ts';
export { exitOrJoinReply, joinReply, normalizeGuestReply } from './guest-call.ts';
export type {
  GuestCall,
  GuestCallHandler,
  GuestExitRecord,
  GuestReply,
  GuestRequest,
  NormalizedGuestReply,
} from './guest-call.ts';
export { sweepOverlays } from './disk-options.ts';
export type { BlkDeviceStats, CloneDiskOptions, DiskOptions, DiskStats, OverlayStats, RemoteDiskStats } from './disk-options.ts';
export { checkNetOptions } from './net-options.ts';
export type { NetOptions, NetStats } from './net-options.ts';
export type { VirtualMachineOptions } from './vm-options.ts';
export { finalVmStates, VirtualMachine, vmStates } from './vm.ts';
export type { CloneMemtapStats, ForkIntoClone, VirtualMachineEvents, VmStateEvent, VmStateName, VmStats } from './vm.ts';
