// KvmVm: one KVM virtual machine: /dev/kvm, the VM fd, memslots, the optional in-kernel irqchip,
// vCPU fds, CPUID.
// Boundary: the VM-wide ioctls and their order (RAM before the irqchip: ≈7 ms faster on this host);
// per-vCPU register state is long_mode.cc's, the run loop is vcpu.cc's.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>

#include "../base/status.h"
#include "../base/unique_fd.h"
#include "../memory/guest_memory.h"

namespace sf::vmm {

class KvmVm {
 public:
  // Opens /dev/kvm, checks the API version and creates an (empty) VM.
  static Result<std::unique_ptr<KvmVm>> create();

  KvmVm(const KvmVm&) = delete;
  KvmVm& operator=(const KvmVm&) = delete;

  // Registers every RAM region of `memory` as a memslot (low RAM is slot 0). Call before
  // create_irqchip(): registering memory after KVM_CREATE_IRQCHIP costs milliseconds here.
  Status add_ram(const memory::GuestMemory& memory);
  // TSS and identity-map pages in the hole below 4 GiB. Only VMX without unrestricted guest uses them
  // (to emulate real mode), with or without an irqchip; they cost nothing to set up or tear down.
  // Before any vCPU exists.
  Status set_vmx_helper_pages();
  // The in-kernel PIC/IOAPIC (and a LAPIC per vCPU created afterwards) and optionally the PIT (a
  // kernel thread per VM). Optional: flat guests take no interrupts, and with an irqchip closing the
  // VM fd costs ≈15 ms on this host (≈23 ms with the PIT) instead of ≈0.3 ms. Without it HLT exits to
  // user space (KVM_EXIT_HLT) and LAPIC/IOAPIC accesses are plain MMIO exits. Before any vCPU exists.
  Status create_irqchip(bool with_pit);
  // KVM_CREATE_VCPU; the caller maps vcpu_mmap_size() bytes of it for kvm_run.
  Result<UniqueFd> create_vcpu(uint32_t vcpu_id);
  // The host's supported CPUID with per-vCPU fix-ups (APIC id, hypervisor bit, topology; APIC and
  // x2APIC cleared when there is no in-kernel irqchip, as there is then no local APIC), installed
  // with KVM_SET_CPUID2. Must run before the vCPU's first KVM_RUN.
  Status set_cpuid(int vcpu_fd, uint32_t vcpu_id, uint32_t vcpus) const;

  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
  uint32_t max_vcpus() const { return max_vcpus_; }
  // KVM copies the general registers into kvm_run on every exit and back on entry (KVM_CAP_SYNC_REGS): a
  // hypercall then needs no KVM_GET_REGS/KVM_SET_REGS ioctls.
  bool sync_regs() const { return sync_regs_; }
  int fd() const { return vm_.get(); }

 private:
  KvmVm() = default;

  UniqueFd kvm_;  // /dev/kvm: supported CPUID and mmap size are asked here
  UniqueFd vm_;
  size_t vcpu_mmap_size_ = 0;
  uint32_t max_vcpus_ = 1;
  bool sync_regs_ = false;
  bool irqchip_ = false;  // create_irqchip() succeeded: vCPUs get a LAPIC (set_cpuid advertises it)
};

}  // namespace sf::vmm
