// Host capability probe: what this machine offers Snowflock (CPUs, RAM, KVM, userfaultfd, kernel).
// Boundary: plain C++ (no napi.h), read-only probing; every fd it opens is closed before returning.
// Errors are carried as strings in the result, never thrown. In base/ because it needs nothing but the
// kernel and base's fd/errno helpers, and every room above (and the binding) may ask it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sf {

struct KvmInfo {
  bool available = false;           // /dev/kvm opened and speaks API version 12
  int api_version = 0;              // KVM_GET_API_VERSION (0 when /dev/kvm could not be opened)
  std::string error;                // empty when available
  int max_vcpus = 0;                // hard per-VM limit (KVM_CAP_MAX_VCPUS, with the api.rst fallbacks)
  int nr_vcpus = 0;                 // recommended per-VM limit (KVM_CAP_NR_VCPUS)
  int nr_memslots = 0;              // KVM_CAP_NR_MEMSLOTS
  int vcpu_mmap_size = 0;           // KVM_GET_VCPU_MMAP_SIZE: bytes of the shared kvm_run area
  int xsave2_size = 0;              // KVM_CAP_XSAVE2: bytes needed by KVM_GET_XSAVE2 (0 = not supported)
  bool has_user_memory = false;     // KVM_CAP_USER_MEMORY: memslots backed by our own mmap
  bool has_sync_mmu = false;        // KVM_CAP_SYNC_MMU: KVM follows host remaps (needed for fork CoW)
  bool has_irqchip = false;         // KVM_CAP_IRQCHIP: in-kernel PIC/IOAPIC/LAPIC
  bool has_split_irqchip = false;   // KVM_CAP_SPLIT_IRQCHIP
  bool has_pit2 = false;            // KVM_CAP_PIT2
  bool has_irqfd = false;           // KVM_CAP_IRQFD: devices inject interrupts through an eventfd
  bool has_ioeventfd = false;       // KVM_CAP_IOEVENTFD
  bool has_immediate_exit = false;  // KVM_CAP_IMMEDIATE_EXIT: clean vCPU quiesce before a snapshot
};

// How the probe obtained its userfaultfd (see ProbeUffd for the order it tries).
enum class UffdOpenPath {
  kNone,                 // nothing worked
  kSyscallUserModeOnly,  // userfaultfd(UFFD_USER_MODE_ONLY): handles user-space faults only
  kSyscall,              // userfaultfd(): also handles faults taken inside the kernel
  kDevice,               // /dev/userfaultfd + USERFAULTFD_IOC_NEW
};
const char* UffdOpenPathName(UffdOpenPath path);

struct UffdInfo {
  bool available = false;                  // a userfaultfd was created and UFFDIO_API succeeded
  uint64_t api = 0;                        // UFFDIO_API's api field as returned (0xAA)
  uint64_t features = 0;                   // every feature bit the kernel offers
  std::vector<std::string> feature_names;  // names of those bits ("MISSING_SHMEM"; unknown bits as "BIT_n")
  uint64_t ioctls = 0;                     // ioctl bitmask UFFDIO_API reports for the fd
  std::vector<std::string> ioctl_names;    // names of those bits ("REGISTER", "API", ...)
  UffdOpenPath opened_via = UffdOpenPath::kNone;
  // Whether a userfaultfd that also traps kernel-mode faults can be created. KVM touches guest RAM
  // from inside the kernel, so lazy clone memory needs this, not just a user-mode-only fd.
  bool kernel_faults = false;
  std::string error;  // empty when available
};

struct HostCapabilities {
  int cpus = 0;            // online CPUs
  uint64_t ram_bytes = 0;  // total RAM
  KvmInfo kvm;
  UffdInfo uffd;
  std::string kernel_release;  // uname -r
};

KvmInfo ProbeKvm();
UffdInfo ProbeUffd();
HostCapabilities ProbeHostCapabilities();

}  // namespace sf
