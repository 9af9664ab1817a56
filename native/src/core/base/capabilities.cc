// Host capability probe: CPUs, RAM, kernel release, /dev/kvm and userfaultfd support.
// Boundary: read-only questions to the kernel; creates no VM and registers no memory. Every fd lives in a
// UniqueFd and is closed before the probe returns; failures become error strings in the result.
#include "capabilities.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <iterator>

#include "errno_text.h"
#include "unique_fd.h"

// The system headers are older (Linux 6.1) than kernels we run on, so newer uapi constants are
// defined here with the values from include/uapi/linux/userfaultfd.h. Guarded so newer headers win.
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
#endif

namespace sf {
namespace {

// The API version every KVM since 2.6.22 reports; anything else means an ABI we do not understand.
constexpr int kKvmApiVersion = 12;

struct NamedBit {
  uint64_t mask;
  const char* name;
};

constexpr NamedBit kUffdFeatures[] = {
    {UFFD_FEATURE_PAGEFAULT_FLAG_WP, "PAGEFAULT_FLAG_WP"},
    {UFFD_FEATURE_EVENT_FORK, "EVENT_FORK"},
    {UFFD_FEATURE_EVENT_REMAP, "EVENT_REMAP"},
    {UFFD_FEATURE_EVENT_REMOVE, "EVENT_REMOVE"},
    {UFFD_FEATURE_MISSING_HUGETLBFS, "MISSING_HUGETLBFS"},
    {UFFD_FEATURE_MISSING_SHMEM, "MISSING_SHMEM"},
    {UFFD_FEATURE_EVENT_UNMAP, "EVENT_UNMAP"},
    {UFFD_FEATURE_SIGBUS, "SIGBUS"},
    {UFFD_FEATURE_THREAD_ID, "THREAD_ID"},
    {UFFD_FEATURE_MINOR_HUGETLBFS, "MINOR_HUGETLBFS"},
    {UFFD_FEATURE_MINOR_SHMEM, "MINOR_SHMEM"},
    {UFFD_FEATURE_EXACT_ADDRESS, "EXACT_ADDRESS"},
    {UFFD_FEATURE_WP_HUGETLBFS_SHMEM, "WP_HUGETLBFS_SHMEM"},
    {UFFD_FEATURE_WP_UNPOPULATED, "WP_UNPOPULATED"},
    {UFFD_FEATURE_POISON, "POISON"},
    {UFFD_FEATURE_WP_ASYNC, "WP_ASYNC"},
    {UFFD_FEATURE_MOVE, "MOVE"},
};

constexpr NamedBit kUffdIoctls[] = {
    {1ULL << _UFFDIO_REGISTER, "REGISTER"},
    {1ULL << _UFFDIO_UNREGISTER, "UNREGISTER"},
    {1ULL << _UFFDIO_WAKE, "WAKE"},
    {1ULL << _UFFDIO_COPY, "COPY"},
    {1ULL << _UFFDIO_ZEROPAGE, "ZEROPAGE"},
    {1ULL << _UFFDIO_MOVE, "MOVE"},
    {1ULL << _UFFDIO_WRITEPROTECT, "WRITEPROTECT"},
    {1ULL << _UFFDIO_CONTINUE, "CONTINUE"},
    {1ULL << _UFFDIO_POISON, "POISON"},
    {1ULL << _UFFDIO_API, "API"},
};

// Names every set bit; bits a newer kernel adds are kept visible as "BIT_n" rather than dropped.
template <size_t N>
std::vector<std::string> NameBits(uint64_t value, const NamedBit (&table)[N]) {
  std::vector<std::string> names;
  for (const NamedBit& bit : table) {
    if (value & bit.mask) names.emplace_back(bit.name);
  }
  uint64_t known = 0;
  for (const NamedBit& bit : table) known |= bit.mask;
  for (int i = 0; i < 64; ++i) {
    if ((value & ~known) & (1ULL << i)) names.push_back("BIT_" + std::to_string(i));
  }
  return names;
}

// KVM_CHECK_EXTENSION returns 0 for "absent" and a positive value (often a size or count) when present.
int CheckExtension(int kvm_fd, int cap) {
  const int r = ::ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

// One way of creating a userfaultfd. O_NONBLOCK because the fault readers will poll; O_CLOEXEC so
// spawned helpers never inherit a handle to guest memory faults.
UniqueFd OpenUffd(UffdOpenPath path, std::string* error) {
  constexpr int kFlags = O_CLOEXEC | O_NONBLOCK;
  switch (path) {
    case UffdOpenPath::kSyscallUserModeOnly: {
      UniqueFd fd(static_cast<int>(::syscall(SYS_userfaultfd, kFlags | UFFD_USER_MODE_ONLY)));
      if (!fd) *error = ErrnoText("userfaultfd(UFFD_USER_MODE_ONLY)", errno);
      return fd;
    }
    case UffdOpenPath::kSyscall: {
      UniqueFd fd(static_cast<int>(::syscall(SYS_userfaultfd, kFlags)));
      if (!fd) *error = ErrnoText("userfaultfd()", errno);
      return fd;
    }
    case UffdOpenPath::kDevice: {
      // /dev/userfaultfd (Linux 6.1+) is gated by file permissions instead of vm.unprivileged_userfaultfd,
      // so it can work where the syscall is denied.
      UniqueFd dev(::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
      if (!dev) {
        *error = ErrnoText("open /dev/userfaultfd", errno);
        return dev;
      }
      UniqueFd fd(::ioctl(dev.get(), USERFAULTFD_IOC_NEW, kFlags));
      if (!fd) *error = ErrnoText("ioctl(/dev/userfaultfd, USERFAULTFD_IOC_NEW)", errno);
      return fd;
    }
    case UffdOpenPath::kNone: break;
  }
  *error = "no userfaultfd open path";
  return UniqueFd();
}

int OnlineCpus() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 0;
}

uint64_t TotalRamBytes() {
  struct sysinfo info {};
  if (::sysinfo(&info) != 0) return 0;
  // totalram is counted in mem_unit-sized blocks (1 on most 64-bit kernels, but not guaranteed).
  return static_cast<uint64_t>(info.totalram) * info.mem_unit;
}

std::string KernelRelease() {
  struct utsname uts {};
  if (::uname(&uts) != 0) return std::string();
  return uts.release;
}

}  // namespace

const char* UffdOpenPathName(UffdOpenPath path) {
  switch (path) {
    case UffdOpenPath::kSyscallUserModeOnly: return "syscall-user-mode-only";
    case UffdOpenPath::kSyscall: return "syscall";
    case UffdOpenPath::kDevice: return "dev-userfaultfd";
    case UffdOpenPath::kNone: break;
  }
  return "none";
}

KvmInfo ProbeKvm() {
  KvmInfo info;
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) {
    info.error = ErrnoText("open /dev/kvm", errno);
    return info;
  }
  const int version = ::ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (version < 0) {
    info.error = ErrnoText("ioctl(KVM_GET_API_VERSION)", errno);
    return info;
  }
  info.api_version = version;
  if (version != kKvmApiVersion) {
    info.error = "KVM API version " + std::to_string(version) + ", expected " + std::to_string(kKvmApiVersion);
    return info;
  }

  info.nr_vcpus = CheckExtension(kvm.get(), KVM_CAP_NR_VCPUS);
  info.max_vcpus = CheckExtension(kvm.get(), KVM_CAP_MAX_VCPUS);
  // Documented fallbacks (Documentation/virt/kvm/api.rst): no MAX_VCPUS means NR_VCPUS is the limit,
  // and no NR_VCPUS means 4.
  if (info.nr_vcpus == 0) info.nr_vcpus = 4;
  if (info.max_vcpus == 0) info.max_vcpus = info.nr_vcpus;
  info.nr_memslots = CheckExtension(kvm.get(), KVM_CAP_NR_MEMSLOTS);
  info.xsave2_size = CheckExtension(kvm.get(), KVM_CAP_XSAVE2);
  info.has_user_memory = CheckExtension(kvm.get(), KVM_CAP_USER_MEMORY) > 0;
  info.has_sync_mmu = CheckExtension(kvm.get(), KVM_CAP_SYNC_MMU) > 0;
  info.has_irqchip = CheckExtension(kvm.get(), KVM_CAP_IRQCHIP) > 0;
  info.has_split_irqchip = CheckExtension(kvm.get(), KVM_CAP_SPLIT_IRQCHIP) > 0;
  info.has_pit2 = CheckExtension(kvm.get(), KVM_CAP_PIT2) > 0;
  info.has_irqfd = CheckExtension(kvm.get(), KVM_CAP_IRQFD) > 0;
  info.has_ioeventfd = CheckExtension(kvm.get(), KVM_CAP_IOEVENTFD) > 0;
  info.has_immediate_exit = CheckExtension(kvm.get(), KVM_CAP_IMMEDIATE_EXIT) > 0;

  const int mmap_size = ::ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size < 0) {
    info.error = ErrnoText("ioctl(KVM_GET_VCPU_MMAP_SIZE)", errno);
    return info;
  }
  info.vcpu_mmap_size = mmap_size;
  info.available = true;
  return info;
}

UffdInfo ProbeUffd() {
  UffdInfo info;
  // Least privilege first: a user-mode-only fd is allowed even when vm.unprivileged_userfaultfd=0.
  // Then the full syscall, then the device node for when the syscall itself is denied (seccomp, sysctl).
  constexpr UffdOpenPath kOrder[] = {UffdOpenPath::kSyscallUserModeOnly, UffdOpenPath::kSyscall, UffdOpenPath::kDevice};
  UniqueFd uffd;
  std::string errors;
  for (UffdOpenPath path : kOrder) {
    std::string error;
    uffd = OpenUffd(path, &error);
    if (uffd) {
      info.opened_via = path;
      break;
    }
    errors += (errors.empty() ? "" : "; ") + error;
  }
  if (!uffd) {
    info.error = errors;
    return info;
  }

  // A user-mode-only fd says nothing about kernel-mode faults (the ones KVM takes on guest RAM),
  // so check separately whether a full fd could be had; the test fd closes at once.
  info.kernel_faults = info.opened_via != UffdOpenPath::kSyscallUserModeOnly;
  for (size_t i = 1; !info.kernel_faults && i < std::size(kOrder); ++i) {
    std::string ignored;
    info.kernel_faults = OpenUffd(kOrder[i], &ignored).valid();
  }

  // Requesting no features makes the handshake succeed on any kernel, and the kernel answers with the
  // full set it supports. The fd is discarded afterwards, so enabling nothing costs nothing.
  struct uffdio_api api {};
  api.api = UFFD_API;
  api.features = 0;
  if (::ioctl(uffd.get(), UFFDIO_API, &api) != 0) {
    info.error = ErrnoText("ioctl(UFFDIO_API)", errno);
    return info;
  }
  info.api = api.api;
  info.features = api.features;
  info.feature_names = NameBits(api.features, kUffdFeatures);
  info.ioctls = api.ioctls;
  info.ioctl_names = NameBits(api.ioctls, kUffdIoctls);
  info.available = true;
  return info;
}

HostCapabilities ProbeHostCapabilities() {
  HostCapabilities caps;
  caps.cpus = OnlineCpus();
  caps.ram_bytes = TotalRamBytes();
  caps.kvm = ProbeKvm();
  caps.uffd = ProbeUffd();
  caps.kernel_release = KernelRelease();
  return caps;
}

}  // namespace sf
