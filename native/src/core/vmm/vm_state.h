// VmState (the lifecycle states of a VM) and GuestPrivilege (the CPU mode a flat guest runs in):
// small enums shared by the public face (vm.h) and the internals. Boundary: enums and names only.
#pragma once

namespace sf::vmm {

// created → running ⇄ paused → halted | exited | crashed → destroyed (destroy() works from any state).
enum class VmState { created, running, paused, halted, exited, crashed, destroyed };

const char* to_string(VmState state);

// kernel (default, abi.h's entry contract): CPL 0, no IDT (an exception is a triple fault); on kvm_pvm
// hosts every CPL 0 instruction is emulated (~1 us) and SSE fails, so guests drop to ring 3 themselves
// (the SDK's crt0 does). user: CPL 3 under a small VMM supervisor (IDT + exception stubs): runs natively
// on kvm_pvm, SSE works, exceptions are reported with vector/rip/error code; for guests without a
// runtime of their own. See abi.h "Privilege".
enum class GuestPrivilege { kernel, user };

// halted, exited, crashed: the guest will not run again; destroyed: resources released.
inline bool is_final(VmState s) {
  return s == VmState::halted || s == VmState::exited || s == VmState::crashed || s == VmState::destroyed;
}

}  // namespace sf::vmm
