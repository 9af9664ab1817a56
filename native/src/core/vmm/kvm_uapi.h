// Wire-correct stand-ins for the <linux/kvm.h> structs that end in a flexible array, and their ioctl
// numbers. Boundary: layout only.
// Why: linux-libc-dev 6.1 declares those arrays with __DECLARE_FLEX_ARRAY, which in C++ adds an empty
// struct (1 byte): g++ then puts kvm_cpuid2::entries at offset 12 instead of 8 and sizeof(kvm_xsave)
// becomes 4100, so both the layouts and the size-encoding ioctl numbers (KVM_SET_CPUID2,
// KVM_GET_MSRS, KVM_GET_XSAVE, ...) disagree with the kernel (EINVAL). C++ code must use these.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace sf::vmm::uapi {

// struct kvm_cpuid2: this header, then `nent` struct kvm_cpuid_entry2 (offset 8).
struct Cpuid2Header {
  uint32_t nent;
  uint32_t padding;
};
// struct kvm_msrs: this header, then `nmsrs` struct kvm_msr_entry (offset 8).
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
// struct kvm_msr_list: this header, then `nmsrs` __u32 indices (offset 4).
struct MsrListHeader {
  uint32_t nmsrs;
};
// struct kvm_xsave: 4 KiB region (KVM_GET_XSAVE2 may need more: KVM_CAP_XSAVE2 says how much).
struct Xsave {
  uint32_t region[1024];
};

static_assert(sizeof(Cpuid2Header) == 8 && sizeof(MsrsHeader) == 8 && sizeof(MsrListHeader) == 4);
static_assert(sizeof(Xsave) == 4096);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

inline constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, Cpuid2Header);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, Cpuid2Header);
inline constexpr unsigned long kGetCpuid2 = _IOWR(KVMIO, 0x91, Cpuid2Header);
inline constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, Xsave);
inline constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, Xsave);
inline constexpr unsigned long kGetXsave2 = _IOR(KVMIO, 0xcf, Xsave);

// The values the kernel defines (checked against the C definitions: _IOC(dir, 0xae, nr, size)).
static_assert(kGetSupportedCpuid == 0xc008ae05ul, "KVM_GET_SUPPORTED_CPUID");
static_assert(kSetCpuid2 == 0x4008ae90ul, "KVM_SET_CPUID2");
static_assert(kGetMsrs == 0xc008ae88ul, "KVM_GET_MSRS");
static_assert(kGetXsave == 0x9000aea4ul, "KVM_GET_XSAVE");

}  // namespace sf::vmm::uapi
