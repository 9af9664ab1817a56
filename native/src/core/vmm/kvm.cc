// KvmVm: VM creation, memslots, irqchip, vCPU creation and CPUID.
// Boundary: VM-wide KVM ioctls only; no vCPU register state, no run loop.
#include "kvm.h"

#include "kvm_uapi.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace sf::vmm {

namespace {

constexpr int kKvmApiVersion = 12;
// Outside RAM: inside the hole [3 GiB, 4 GiB), clear of the IOAPIC (0xFEC00000) and LAPIC (0xFEE00000).
constexpr uint64_t kIdentityMapGpa = 0xfffbc000;
constexpr unsigned long kTssGpa = 0xfffbd000;

// KVM_GET_SUPPORTED_CPUID is the same for every VM of this process: ask once, keep the entries.
struct SupportedCpuid {
  Status status;
  std::vector<kvm_cpuid_entry2> entries;
};

const SupportedCpuid& supported_cpuid(int kvm_fd) {
  static SupportedCpuid cache;
  static std::once_flag once;
  std::call_once(once, [kvm_fd] {
    // The count is not known in advance: grow on E2BIG.
    for (uint32_t n = 128; n <= 4096; n *= 2) {
      // uapi::Cpuid2Header + entries, not struct kvm_cpuid2 (its C++ layout is wrong, see kvm_uapi.h).
      std::vector<uint8_t> buf(sizeof(uapi::Cpuid2Header) + n * sizeof(kvm_cpuid_entry2));
      uapi::Cpuid2Header header{n, 0};
      std::memcpy(buf.data(), &header, sizeof header);
      if (::ioctl(kvm_fd, uapi::kGetSupportedCpuid, buf.data()) == 0) {
        std::memcpy(&header, buf.data(), sizeof header);
        const uint32_t count = std::min(header.nent, n);
        cache.entries.resize(count);
        std::memcpy(cache.entries.data(), buf.data() + sizeof header, count * sizeof(kvm_cpuid_entry2));
        return;
      }
      if (errno != E2BIG) {
        cache.status = Status::FromErrno("KVM_GET_SUPPORTED_CPUID", errno);
        return;
      }
    }
    cache.status = Status::Error(E2BIG, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
  });
  return cache;
}

Status open_error(int err) {
  std::string hint;
  if (err == ENOENT) hint = " (no KVM on this host: load kvm_intel/kvm_amd, or use a host with virtualisation)";
  if (err == EACCES || err == EPERM) hint = " (give this user read/write access to /dev/kvm, e.g. group kvm)";
  return Status::Error(err, ErrnoText("open /dev/kvm", err) + hint);
}

}  // namespace

Result<std::unique_ptr<KvmVm>> KvmVm::create() {
  std::unique_ptr<KvmVm> vm(new KvmVm());
  vm->kvm_.reset(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!vm->kvm_) return open_error(errno);
  const int version = ::ioctl(vm->kvm_.get(), KVM_GET_API_VERSION, 0);
  if (version != kKvmApiVersion) {
    return Status::Error(ENOTSUP, "/dev/kvm speaks API version " + std::to_string(version) + ", expected 12");
  }
  const int mmap_size = ::ioctl(vm->kvm_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size < static_cast<int>(sizeof(kvm_run))) return Status::FromErrno("KVM_GET_VCPU_MMAP_SIZE", errno);
  vm->vcpu_mmap_size_ = static_cast<size_t>(mmap_size);
  // KVM_CAP_MAX_VCPUS is the hard limit; old kernels only answer NR_VCPUS (api.rst: assume 4 if neither).
  int max = ::ioctl(vm->kvm_.get(), KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
  if (max <= 0) max = ::ioctl(vm->kvm_.get(), KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
  vm->max_vcpus_ = max > 0 ? static_cast<uint32_t>(max) : 4;
  if (!::ioctl(vm->kvm_.get(), KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT)) {
    // Pause and snapshot rely on it to stop a vCPU without losing an instruction.
    return Status::Error(ENOTSUP, "KVM lacks KVM_CAP_IMMEDIATE_EXIT (Linux >= 4.11 needed)");
  }
  const int sync = ::ioctl(vm->kvm_.get(), KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
  vm->sync_regs_ = sync > 0 && (sync & KVM_SYNC_X86_REGS) != 0;
  vm->vm_.reset(::ioctl(vm->kvm_.get(), KVM_CREATE_VM, 0));
  if (!vm->vm_) return Status::FromErrno("KVM_CREATE_VM", errno);
  // Keep the fd from leaking into child processes (ioctl-created fds are O_CLOEXEC already on modern
  // kernels; this makes it explicit).
  ::fcntl(vm->vm_.get(), F_SETFD, FD_CLOEXEC);
  return vm;
}

Status KvmVm::add_ram(const memory::GuestMemory& memory) {
  uint32_t slot = 0;
  for (const memory::RamRegion& r : memory.regions()) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = r.gpa;
    region.memory_size = r.size;
    region.userspace_addr = reinterpret_cast<uint64_t>(memory.host_base() + r.offset);
    if (::ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
      return Status::FromErrno("KVM_SET_USER_MEMORY_REGION(slot " + std::to_string(slot) + ")", errno);
    }
    ++slot;
  }
  return Status::Ok();
}

Status KvmVm::set_vmx_helper_pages() {
  if (::ioctl(vm_.get(), KVM_SET_TSS_ADDR, kTssGpa) != 0) return Status::FromErrno("KVM_SET_TSS_ADDR", errno);
  uint64_t idmap = kIdentityMapGpa;
  if (::ioctl(vm_.get(), KVM_SET_IDENTITY_MAP_ADDR, &idmap) != 0) {
    return Status::FromErrno("KVM_SET_IDENTITY_MAP_ADDR", errno);
  }
  return Status::Ok();
}

Status KvmVm::create_irqchip(bool with_pit) {
  if (::ioctl(vm_.get(), KVM_CREATE_IRQCHIP, 0) != 0) return Status::FromErrno("KVM_CREATE_IRQCHIP", errno);
  irqchip_ = true;
  if (with_pit) {
    kvm_pit_config pit{};
    pit.flags = KVM_PIT_SPEAKER_DUMMY;  // port 0x61 handled in-kernel, no exits
    if (::ioctl(vm_.get(), KVM_CREATE_PIT2, &pit) != 0) return Status::FromErrno("KVM_CREATE_PIT2", errno);
  }
  return Status::Ok();
}

Result<UniqueFd> KvmVm::create_vcpu(uint32_t vcpu_id) {
  UniqueFd fd(::ioctl(vm_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(vcpu_id)));
  if (!fd) return Status::FromErrno("KVM_CREATE_VCPU(" + std::to_string(vcpu_id) + ")", errno);
  ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
  return fd;
}

Status KvmVm::set_cpuid(int vcpu_fd, uint32_t vcpu_id, uint32_t vcpus) const {
  const SupportedCpuid& supported = supported_cpuid(kvm_.get());
  if (!supported.status.ok()) return supported.status;
  std::vector<kvm_cpuid_entry2> entries(supported.entries.size());
  for (size_t i = 0; i < supported.entries.size(); ++i) {
    kvm_cpuid_entry2 e = supported.entries[i];
    if (e.function == 1) {
      // EBX[31:24] initial APIC id, [23:16] logical processors; ECX[31] "running under a hypervisor"
      // (lets Linux find the KVM leaves); EDX[28] HTT when there is more than one logical CPU.
      e.ebx = (e.ebx & 0x0000ffffu) | ((vcpus & 0xffu) << 16) | ((vcpu_id & 0xffu) << 24);
      e.ecx |= 1u << 31;
      if (vcpus > 1) e.edx |= 1u << 28;
      else e.edx &= ~(1u << 28);
      if (!irqchip_) {
        // No in-kernel LAPIC: do not advertise one. EDX[9] APIC, ECX[21] x2APIC, ECX[24] TSC deadline
        // (a LAPIC timer mode).
        e.edx &= ~(1u << 9);
        e.ecx &= ~((1u << 21) | (1u << 24));
      }
    } else if (e.function == 0xb || e.function == 0x1f) {
      e.edx = vcpu_id;  // x2APIC id
    }
    entries[i] = e;
  }
  const uapi::Cpuid2Header header{static_cast<uint32_t>(entries.size()), 0};
  std::vector<uint8_t> buf(sizeof header + entries.size() * sizeof(kvm_cpuid_entry2));
  std::memcpy(buf.data(), &header, sizeof header);
  std::memcpy(buf.data() + sizeof header, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  if (::ioctl(vcpu_fd, uapi::kSetCpuid2, buf.data()) != 0) return Status::FromErrno("KVM_SET_CPUID2", errno);
  return Status::Ok();
}

}  // namespace sf::vmm
