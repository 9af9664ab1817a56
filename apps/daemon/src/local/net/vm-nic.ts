// The VM option `net` (issue 12 contract item 2: tap, MAC, IP, prefix, gateway, DNS) for a VM whose tap
// sfld made. The native VmOptions on this branch has no `net` yet: until it lands VMs get no NIC.
import type { VmNet } from '../../common/wire.ts';

/** Spread into VirtualMachine.create/createClone/createRemoteClone options. */
export function nicOption(_tap: string | null, _net: VmNet | undefined): Record<string, never> {
  // When native/lib's VmOptions gains `net`: return tap && net ? { net: { tap, ...net } } : {};
  return {};
}
