// Descriptor: the small architectural snapshot that seeds a clone (DESIGN §1): every vCPU's registers,
// FPU/XSAVE, MSRs, events and debug registers, the VM's memory layout and identity, the serial port's
// registers. No page contents. Boundary: capture/restore through vCPU ioctls and a versioned,
// length-checked, checksummed binary form; parse() trusts nothing it is given.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "../base/status.h"
#include "../devices/virtio_state.h"

namespace sf::vmm {

inline constexpr uint64_t kDescriptorMagic = 0x3143534544464c53ull;  // "SLFDESC1" little-endian
inline constexpr uint32_t kDescriptorVersion = 3;  // 2: a vCPU's pending guest call; 3: virtio devices
inline constexpr size_t kDescriptorHeaderBytes = 32;
inline constexpr uint32_t kDescriptorMaxMsrs = 1024;
inline constexpr uint32_t kDescriptorMaxCpuid = 256;
inline constexpr uint32_t kDescriptorMaxXsave = 64 * 1024;
// Data extents are coarsened to at most this many (16 bytes each) so a descriptor stays small.
inline constexpr uint32_t kDescriptorMaxExtents = 1024;

struct VcpuDescriptor {
  uint32_t id = 0;
  bool started = false;  // false: the guest never started this vCPU (VCPU_START); nothing else is meaningful
  kvm_mp_state mp{};
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_fpu fpu{};
  std::vector<uint8_t> xsave;  // KVM_GET_XSAVE(2) region, KVM_CAP_XSAVE2 bytes (4 KiB here)
  kvm_xcrs xcrs{};
  kvm_debugregs debugregs{};
  kvm_vcpu_events events{};
  std::vector<kvm_msr_entry> msrs;      // readable entries of KVM_GET_MSR_INDEX_LIST, probed at runtime
  std::vector<kvm_cpuid_entry2> cpuid;  // what KVM_GET_CPUID2 reports
  // A vCPU forked while it waits for a guest call (the master's vCPU inside sf_clone): the call's
  // number and request block. The clone answers it with its own reply (its vmid) before it runs.
  uint32_t pending_call_nr = 0;  // 0: none
  uint64_t pending_call_block = 0;
};

struct SerialRegisters {
  uint8_t ier = 0, lcr = 0x03, mcr = 0, scr = 0, dll = 0x01, dlm = 0;
  uint8_t fifo_enabled = 0, reserved = 0;
};

// Who a fork's pages belong to: every page message of the snapshot carries the id and is authenticated
// with the key (DESIGN §8), so foreign, stale and forged pages can be told apart.
struct SnapshotIdentity {
  uint64_t snapshot_id = 0;
  std::array<uint8_t, 16> key{};
};

// Pages [first, first + count) may hold data; every page outside all extents is zero in the snapshot,
// so a clone zero-fills it instead of fetching it.
struct PageExtent {
  uint64_t first = 0, count = 0;
  bool operator==(const PageExtent&) const = default;
};

struct Descriptor {
  uint32_t clusterid = 0, vmid = 0;
  uint64_t ram_bytes = 0;
  uint32_t privilege = 0;  // GuestPrivilege as an integer
  uint32_t vcpus = 0;      // == vcpu.size()
  SerialRegisters serial;
  std::vector<VcpuDescriptor> vcpu;
  // The virtio devices, slot by slot (at most SF_MAX_DEVICES), quiesced: no request in flight.
  std::vector<devices::VirtioState> devices;
  // Set by a fork (absent from a plain capture of a paused VM).
  std::optional<SnapshotIdentity> identity;
  // Absent: unknown, any page may hold data. Sorted, disjoint, inside RAM, at most kDescriptorMaxExtents.
  std::optional<std::vector<PageExtent>> data_extents;
};

// The data extents of a frozen memory image (SEEK_DATA / SEEK_HOLE), coarsened to fit the descriptor.
Result<std::vector<PageExtent>> scan_data_extents(int fd, uint64_t bytes);
// The same before coarsening: exactly the allocated pages, however many extents they make.
Result<std::vector<PageExtent>> scan_exact_data_extents(int fd, uint64_t bytes);
// Merges the extents separated by the smallest holes until at most `max` remain: the result covers
// every page the input covers (a hole merged in is only fetched, never lost).
std::vector<PageExtent> coarsen_extents(std::vector<PageExtent> extents, size_t max);

// vCPU state of a stopped vCPU (outside KVM_RUN, any pending I/O completed), notes §6.2 order.
Result<VcpuDescriptor> capture_vcpu(int vcpu_fd, uint32_t id);
// Restores into a fresh vCPU that has never run, notes §6.3 order. MSRs that KVM refuses are skipped
// (counted in *msrs_skipped when given), IA32_TSC_DEADLINE last.
Status restore_vcpu(int vcpu_fd, const VcpuDescriptor& d, uint32_t* msrs_skipped = nullptr);

// Binary form: header {magic u64, version u32, header bytes u32, total bytes u64, checksum u64 (FNV-1a 64
// of every byte after the header)}, then sections {tag u32, length u32, payload}: one VM section first,
// one SERIAL section, then exactly `vcpus` VCPU sections, then one DEVICE section per device slot (its
// payload encode_virtio_state's form), then optionally one IDENTITY and one EXTENTS section. Host byte order (x86-64, same-architecture).
std::vector<uint8_t> serialize(const Descriptor& d);
Result<Descriptor> parse(std::span<const uint8_t> bytes);
// The checksum over `body` (tests use it to forge otherwise well-formed hostile input).
uint64_t descriptor_checksum(std::span<const uint8_t> body);

}  // namespace sf::vmm
