// The VM option `net` (tap, MAC, IP, prefix, gateway, DNS) for a VM whose tap sfld made: what the native NIC
// attaches to and what its DHCP answers give the guest. No tap (the cluster network is off here): no NIC.
import type { NetOptions } from '@snowflock/native';
import type { VmNet } from '../../common/wire.ts';

/** Spread into VirtualMachine.create/createClone/createRemoteClone/becomeClone options. */
export function nicOption(tap: string | null, net: VmNet | undefined): { net?: NetOptions } {
  return tap && net ? { net: { tap, ...net } } : {};
}
