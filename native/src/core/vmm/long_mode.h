// Long-mode boot state of a flat guest: the GDT, identity page tables and (user mode) the VMM's small
// supervisor in guest RAM, and the segment/control/general registers and FPU of a vCPU that starts
// directly in 64-bit mode.
// Boundary: writes the layout abi.h defines; knows nothing of ELF files or run loops.
#pragma once

#include <cstdint>

#include "../base/status.h"
#include "../memory/guest_memory.h"
#include "vm_state.h"

namespace sf::vmm {

// GDT at SF_GDT_GPA; PML4 at SF_PAGETABLE_GPA, PDPT after it, one PD per GiB at SF_PAGEDIR_GPA:
// 2 MiB pages identity-mapping [0, memory.gpa_end()) rounded up to a GiB (the hole included), user-
// accessible in user mode. User mode also gets the supervisor: IDT, exception stubs, one TSS per vCPU
// (ring-0 stack, I/O bitmap allowing every port), in [SF_SUPERVISOR_GPA, SF_SUPERVISOR_END).
Status write_boot_tables(memory::GuestMemory& memory, GuestPrivilege privilege, uint32_t vcpus);

// Puts vCPU `vcpu_id` in 64-bit mode at `entry` with rsp = stack_top, rdi = rdi, interrupts off,
// SSE enabled, at CPL 3 (user) or CPL 0 (kernel).
Status enter_long_mode(int vcpu_fd, uint32_t vcpu_id, GuestPrivilege privilege, uint64_t entry, uint64_t stack_top,
                       uint64_t rdi);

// How many page directories (GiB) write_boot_tables maps for `gpa_end`.
uint64_t page_directories_for(uint64_t gpa_end);

// Guest-physical addresses inside the supervisor area (user mode), for tests and fault reports.
struct SupervisorLayout {
  static constexpr uint64_t kIdt = 0x58000;         // 32 interrupt gates
  static constexpr uint64_t kEntryStubs = 0x58200;  // 32 x 16 bytes: push error/vector, jmp common
  static constexpr uint64_t kCommon = 0x58400;      // the shared handler
  static constexpr uint64_t kTss = 0x59000;         // one 128-byte slot per vCPU
  static constexpr uint64_t kTssSlot = 0x80;
  static constexpr uint64_t kIoBitmap = 0x5a000;     // 8 KiB of zero bits (every port allowed) + 0xff
  static constexpr uint64_t kRing0Stacks = 0x60000;  // 2 KiB per vCPU
  static constexpr uint64_t kRing0StackSize = 0x800;
  static uint64_t tss(uint32_t vcpu) { return kTss + vcpu * kTssSlot; }
  static uint64_t ring0_stack_top(uint32_t vcpu) { return kRing0Stacks + (uint64_t{vcpu} + 1) * kRing0StackSize; }
};

}  // namespace sf::vmm
