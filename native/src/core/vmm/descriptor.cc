// Descriptor: vCPU state capture/restore (notes §6.2/§6.3 orders) and the checked binary form.
// Boundary: see descriptor.h. Everything parse() reads is bounds-checked against the input first.
#include "descriptor.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>

#include "../base/guest_abi.h"
#include "../base/unique_fd.h"
#include "kvm_uapi.h"

namespace sf::vmm {

namespace {

constexpr uint32_t kMsrTscDeadline = 0x6e0;
enum : uint32_t { kTagVm = 1, kTagSerial = 2, kTagVcpu = 3, kTagIdentity = 4, kTagExtents = 5, kTagDevice = 6 };

// The host's MSR index list, asked once per process (notes §1: never hardcode it).
const std::vector<uint32_t>& msr_index_list(Status* error) {
  static std::once_flag once;
  static std::vector<uint32_t> list;
  static Status status;
  std::call_once(once, [] {
    UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!kvm) {
      status = Status::FromErrno("open /dev/kvm", errno);
      return;
    }
    uapi::MsrListHeader probe{0};
    if (::ioctl(kvm.get(), uapi::kGetMsrIndexList, &probe) != 0 && errno != E2BIG) {
      status = Status::FromErrno("KVM_GET_MSR_INDEX_LIST", errno);
      return;
    }
    const uint32_t n = std::min<uint32_t>(probe.nmsrs, kDescriptorMaxMsrs);
    std::vector<uint32_t> buf(1 + n);
    buf[0] = n;
    if (::ioctl(kvm.get(), uapi::kGetMsrIndexList, buf.data()) != 0) {
      status = Status::FromErrno("KVM_GET_MSR_INDEX_LIST", errno);
      return;
    }
    list.assign(buf.begin() + 1, buf.begin() + 1 + std::min<uint32_t>(buf[0], n));
  });
  if (error != nullptr) *error = status;
  return list;
}

uint32_t xsave_bytes(int vcpu_fd) {
  // KVM_CHECK_EXTENSION works on the vCPU fd too (KVM_CAP_CHECK_EXTENSION_VM is implied on 5.x+);
  // fall back to the legacy 4 KiB region.
  const int n = ::ioctl(vcpu_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
  return n > static_cast<int>(sizeof(uapi::Xsave)) ? static_cast<uint32_t>(n) : sizeof(uapi::Xsave);
}

// Runs a GET_MSRS/SET_MSRS call over `entries`; entries KVM refuses are dropped (get) or skipped (set).
Status msr_call(int fd, unsigned long req, std::vector<kvm_msr_entry>& entries, bool drop, uint32_t* skipped) {
  size_t pos = 0;
  std::vector<uint8_t> buf;
  while (pos < entries.size()) {
    const size_t n = entries.size() - pos;
    buf.assign(sizeof(uapi::MsrsHeader) + n * sizeof(kvm_msr_entry), 0);
    uapi::MsrsHeader h{static_cast<uint32_t>(n), 0};
    std::memcpy(buf.data(), &h, sizeof h);
    std::memcpy(buf.data() + sizeof h, entries.data() + pos, n * sizeof(kvm_msr_entry));
    const int rc = ::ioctl(fd, req, buf.data());
    if (rc < 0) return Status::FromErrno(req == uapi::kGetMsrs ? "KVM_GET_MSRS" : "KVM_SET_MSRS", errno);
    std::memcpy(entries.data() + pos, buf.data() + sizeof h, n * sizeof(kvm_msr_entry));
    pos += static_cast<size_t>(rc);
    if (pos < entries.size()) {  // entry `pos` was refused
      if (skipped != nullptr) ++*skipped;
      if (drop) entries.erase(entries.begin() + static_cast<ptrdiff_t>(pos));
      else ++pos;
    }
  }
  return Status::Ok();
}

template <class T>
Status get(int fd, unsigned long req, const char* what, T* out) {
  if (::ioctl(fd, req, out) != 0) return Status::FromErrno(what, errno);
  return Status::Ok();
}

// ---- binary writer / reader ----

class Writer {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
  size_t begin_section(uint32_t tag) {
    put(tag);
    put(uint32_t{0});
    return out.size();
  }
  void end_section(size_t start) {
    const uint32_t len = static_cast<uint32_t>(out.size() - start);
    std::memcpy(out.data() + start - 4, &len, 4);
  }
  std::vector<uint8_t> out;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  template <class T>
  bool get(T* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool bytes(void* p, size_t n) {
    if (in_.size() - pos_ < n) return false;
    if (n != 0) std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  size_t left() const { return in_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

struct VmSection {
  uint32_t clusterid, vmid;
  uint64_t ram_bytes;
  uint32_t privilege, vcpus;
};
struct VcpuFixed {
  uint32_t id, started;
  kvm_mp_state mp;
  uint32_t pad0;
  kvm_regs regs;
  kvm_sregs sregs;
  kvm_fpu fpu;
  kvm_xcrs xcrs;
  kvm_debugregs debugregs;
  kvm_vcpu_events events;
  uint32_t xsave_len, nmsrs, ncpuid, pending_call_nr;
  uint64_t pending_call_block;
};
static_assert(std::is_trivially_copyable_v<VcpuFixed>);

Status bad(const std::string& what) { return Status::Error(EINVAL, "malformed descriptor: " + what); }

}  // namespace

Result<VcpuDescriptor> capture_vcpu(int fd, uint32_t id) {
  VcpuDescriptor d;
  d.id = id;
  d.started = true;
  if (Status s = get(fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE", &d.mp); !s.ok()) return s;
  if (Status s = get(fd, KVM_GET_REGS, "KVM_GET_REGS", &d.regs); !s.ok()) return s;
  if (Status s = get(fd, KVM_GET_SREGS, "KVM_GET_SREGS", &d.sregs); !s.ok()) return s;
  if (Status s = get(fd, KVM_GET_FPU, "KVM_GET_FPU", &d.fpu); !s.ok()) return s;
  const uint32_t xs = xsave_bytes(fd);
  if (xs > kDescriptorMaxXsave) return Status::Error(E2BIG, "XSAVE region larger than the descriptor allows");
  d.xsave.assign(xs, 0);
  const unsigned long xreq = xs > sizeof(uapi::Xsave) ? uapi::kGetXsave2 : uapi::kGetXsave;
  if (::ioctl(fd, xreq, d.xsave.data()) != 0) return Status::FromErrno("KVM_GET_XSAVE", errno);
  if (Status s = get(fd, KVM_GET_XCRS, "KVM_GET_XCRS", &d.xcrs); !s.ok()) return s;
  if (Status s = get(fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", &d.debugregs); !s.ok()) return s;
  {
    std::vector<uint8_t> buf(sizeof(uapi::Cpuid2Header) + kDescriptorMaxCpuid * sizeof(kvm_cpuid_entry2), 0);
    uapi::Cpuid2Header h{kDescriptorMaxCpuid, 0};
    std::memcpy(buf.data(), &h, sizeof h);
    if (::ioctl(fd, uapi::kGetCpuid2, buf.data()) != 0) return Status::FromErrno("KVM_GET_CPUID2", errno);
    std::memcpy(&h, buf.data(), sizeof h);
    const uint32_t n = std::min(h.nent, kDescriptorMaxCpuid);
    d.cpuid.resize(n);
    std::memcpy(d.cpuid.data(), buf.data() + sizeof h, n * sizeof(kvm_cpuid_entry2));
  }
  Status list_status;
  const auto& list = msr_index_list(&list_status);
  if (!list_status.ok()) return list_status;
  d.msrs.resize(list.size());
  for (size_t i = 0; i < list.size(); ++i) d.msrs[i] = kvm_msr_entry{list[i], 0, 0};
  if (Status s = msr_call(fd, uapi::kGetMsrs, d.msrs, /*drop=*/true, nullptr); !s.ok()) return s;
  if (Status s = get(fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", &d.events); !s.ok()) return s;
  return d;
}

Status restore_vcpu(int fd, const VcpuDescriptor& d, uint32_t* msrs_skipped) {
  if (!d.started) return Status::Ok();
  if (!d.cpuid.empty()) {
    std::vector<uint8_t> buf(sizeof(uapi::Cpuid2Header) + d.cpuid.size() * sizeof(kvm_cpuid_entry2));
    uapi::Cpuid2Header h{static_cast<uint32_t>(d.cpuid.size()), 0};
    std::memcpy(buf.data(), &h, sizeof h);
    std::memcpy(buf.data() + sizeof h, d.cpuid.data(), d.cpuid.size() * sizeof(kvm_cpuid_entry2));
    if (::ioctl(fd, uapi::kSetCpuid2, buf.data()) != 0) return Status::FromErrno("KVM_SET_CPUID2", errno);
  }
  if (::ioctl(fd, KVM_SET_MP_STATE, &d.mp) != 0) return Status::FromErrno("KVM_SET_MP_STATE", errno);
  if (::ioctl(fd, KVM_SET_REGS, &d.regs) != 0) return Status::FromErrno("KVM_SET_REGS", errno);
  if (::ioctl(fd, KVM_SET_SREGS, &d.sregs) != 0) return Status::FromErrno("KVM_SET_SREGS", errno);
  if (::ioctl(fd, KVM_SET_FPU, &d.fpu) != 0) return Status::FromErrno("KVM_SET_FPU", errno);
  if (!d.xsave.empty()) {
    // KVM_SET_XSAVE copies the size the vCPU needs (KVM_CAP_XSAVE2): the region must be at least that.
    if (d.xsave.size() < xsave_bytes(fd))
      return Status::Error(EINVAL, "descriptor's XSAVE region is too small for this host");
    if (::ioctl(fd, uapi::kSetXsave, d.xsave.data()) != 0) return Status::FromErrno("KVM_SET_XSAVE", errno);
  }
  if (::ioctl(fd, KVM_SET_XCRS, &d.xcrs) != 0) return Status::FromErrno("KVM_SET_XCRS", errno);
  if (::ioctl(fd, KVM_SET_DEBUGREGS, &d.debugregs) != 0) return Status::FromErrno("KVM_SET_DEBUGREGS", errno);
  std::vector<kvm_msr_entry> first, last;
  for (const auto& e : d.msrs) (e.index == kMsrTscDeadline ? last : first).push_back(e);
  if (Status s = msr_call(fd, uapi::kSetMsrs, first, false, msrs_skipped); !s.ok()) return s;
  if (Status s = msr_call(fd, uapi::kSetMsrs, last, false, msrs_skipped); !s.ok()) return s;
  if (::ioctl(fd, KVM_SET_VCPU_EVENTS, &d.events) != 0) return Status::FromErrno("KVM_SET_VCPU_EVENTS", errno);
  return Status::Ok();
}

Result<std::vector<PageExtent>> scan_data_extents(int fd, uint64_t bytes) {
  auto exact = scan_exact_data_extents(fd, bytes);
  if (!exact.ok()) return exact.status();
  return coarsen_extents(std::move(exact).value(), kDescriptorMaxExtents);
}

Result<std::vector<PageExtent>> scan_exact_data_extents(int fd, uint64_t bytes) {
  std::vector<PageExtent> out;
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < bytes) {
    const off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only holes from here on
    if (data < 0) return Status::FromErrno("lseek(SEEK_DATA) on the snapshot", errno);
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return Status::FromErrno("lseek(SEEK_HOLE) on the snapshot", errno);
    if (static_cast<uint64_t>(hole) > bytes) hole = static_cast<off_t>(bytes);
    const uint64_t first = static_cast<uint64_t>(data) / SF_PAGE_SIZE;
    const uint64_t end = (static_cast<uint64_t>(hole) + SF_PAGE_SIZE - 1) / SF_PAGE_SIZE;
    if (end > first) out.push_back({first, end - first});
    pos = hole;
  }
  return out;
}

std::vector<PageExtent> coarsen_extents(std::vector<PageExtent> extents, size_t max) {
  if (max == 0) max = 1;
  while (extents.size() > max) {
    // Close the smallest holes first: a threshold pass per round keeps this O(n log n) overall.
    std::vector<uint64_t> gaps;
    gaps.reserve(extents.size() - 1);
    for (size_t i = 1; i < extents.size(); ++i)
      gaps.push_back(extents[i].first - (extents[i - 1].first + extents[i - 1].count));
    const size_t merges = extents.size() - max;
    std::nth_element(gaps.begin(), gaps.begin() + static_cast<ptrdiff_t>(merges - 1), gaps.end());
    const uint64_t threshold = gaps[merges - 1];
    std::vector<PageExtent> merged;
    merged.reserve(max);
    size_t left = merges;
    for (const PageExtent& e : extents) {
      if (!merged.empty() && left > 0) {
        PageExtent& last = merged.back();
        const uint64_t gap = e.first - (last.first + last.count);
        if (gap <= threshold) {
          last.count = e.first + e.count - last.first;
          --left;
          continue;
        }
      }
      merged.push_back(e);
    }
    extents = std::move(merged);
  }
  return extents;
}

uint64_t descriptor_checksum(std::span<const uint8_t> body) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : body) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<uint8_t> serialize(const Descriptor& d) {
  Writer w;
  w.put(kDescriptorMagic);
  w.put(kDescriptorVersion);
  w.put(static_cast<uint32_t>(kDescriptorHeaderBytes));
  w.put(uint64_t{0});  // total, patched below
  w.put(uint64_t{0});  // checksum, patched below
  {
    const size_t s = w.begin_section(kTagVm);
    w.put(VmSection{d.clusterid, d.vmid, d.ram_bytes, d.privilege, static_cast<uint32_t>(d.vcpu.size())});
    w.end_section(s);
  }
  {
    const size_t s = w.begin_section(kTagSerial);
    w.put(d.serial);
    w.end_section(s);
  }
  for (const auto& v : d.vcpu) {
    const size_t s = w.begin_section(kTagVcpu);
    VcpuFixed f{};
    f.id = v.id;
    f.started = v.started ? 1 : 0;
    f.mp = v.mp;
    f.regs = v.regs;
    f.sregs = v.sregs;
    f.fpu = v.fpu;
    f.xcrs = v.xcrs;
    f.debugregs = v.debugregs;
    f.events = v.events;
    f.xsave_len = static_cast<uint32_t>(v.xsave.size());
    f.nmsrs = static_cast<uint32_t>(v.msrs.size());
    f.ncpuid = static_cast<uint32_t>(v.cpuid.size());
    f.pending_call_nr = v.pending_call_nr;
    f.pending_call_block = v.pending_call_block;
    w.put(f);
    w.bytes(v.xsave.data(), v.xsave.size());
    w.bytes(v.msrs.data(), v.msrs.size() * sizeof(kvm_msr_entry));
    w.bytes(v.cpuid.data(), v.cpuid.size() * sizeof(kvm_cpuid_entry2));
    w.end_section(s);
  }
  for (const auto& dev : d.devices) {
    const size_t s = w.begin_section(kTagDevice);
    const std::vector<uint8_t> bytes = devices::encode_virtio_state(dev);
    w.bytes(bytes.data(), bytes.size());
    w.end_section(s);
  }
  if (d.identity) {
    const size_t s = w.begin_section(kTagIdentity);
    w.put(d.identity->snapshot_id);
    w.bytes(d.identity->key.data(), d.identity->key.size());
    w.end_section(s);
  }
  if (d.data_extents) {
    const size_t s = w.begin_section(kTagExtents);
    w.put(static_cast<uint64_t>(d.data_extents->size()));
    for (const PageExtent& e : *d.data_extents) {
      w.put(e.first);
      w.put(e.count);
    }
    w.end_section(s);
  }
  const uint64_t total = w.out.size();
  std::memcpy(w.out.data() + 16, &total, 8);
  const uint64_t sum = descriptor_checksum(std::span<const uint8_t>(w.out).subspan(kDescriptorHeaderBytes));
  std::memcpy(w.out.data() + 24, &sum, 8);
  return std::move(w.out);
}

Result<Descriptor> parse(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  uint64_t magic = 0, total = 0, sum = 0;
  uint32_t version = 0, header = 0;
  if (!r.get(&magic) || !r.get(&version) || !r.get(&header) || !r.get(&total) || !r.get(&sum)) {
    return bad("shorter than its header (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (magic != kDescriptorMagic) return bad("wrong magic (not a Snowflock descriptor)");
  if (version != kDescriptorVersion) {
    return bad("version " + std::to_string(version) + ", this build reads version " +
               std::to_string(kDescriptorVersion));
  }
  if (header != kDescriptorHeaderBytes) return bad("header length " + std::to_string(header));
  if (total != bytes.size()) {
    return bad("says " + std::to_string(total) + " bytes but " + std::to_string(bytes.size()) + " were given");
  }
  if (descriptor_checksum(bytes.subspan(kDescriptorHeaderBytes)) != sum) return bad("checksum mismatch");

  Descriptor d;
  bool have_vm = false, have_serial = false;
  while (r.left() > 0) {
    uint32_t tag = 0, len = 0;
    if (!r.get(&tag) || !r.get(&len)) return bad("truncated section header at byte " + std::to_string(r.pos()));
    if (len > r.left()) return bad("section " + std::to_string(tag) + " runs past the end");
    const size_t end = r.pos() + len;
    switch (tag) {
      case kTagVm: {
        VmSection v{};
        if (have_vm || len != sizeof v || !r.get(&v)) return bad("VM section missing size or repeated");
        if (v.vcpus == 0 || v.vcpus > SF_MAX_VCPUS) {
          return bad(std::to_string(v.vcpus) + " vCPUs (1.." + std::to_string(SF_MAX_VCPUS) + " allowed)");
        }
        if (v.ram_bytes < (2ull << 20) || v.ram_bytes > SF_RAM_MAX || v.ram_bytes % SF_PAGE_SIZE != 0) {
          return bad("RAM size " + std::to_string(v.ram_bytes) + " out of range");
        }
        if (v.privilege > 1) return bad("unknown privilege mode " + std::to_string(v.privilege));
        d.clusterid = v.clusterid;
        d.vmid = v.vmid;
        d.ram_bytes = v.ram_bytes;
        d.privilege = v.privilege;
        d.vcpus = v.vcpus;
        have_vm = true;
        break;
      }
      case kTagSerial:
        if (!have_vm || have_serial || len != sizeof(SerialRegisters) || !r.get(&d.serial)) {
          return bad("serial section misplaced, repeated or of the wrong size");
        }
        have_serial = true;
        break;
      case kTagVcpu: {
        if (!have_serial) return bad("vCPU section before the VM and serial sections");
        if (d.vcpu.size() >= d.vcpus) return bad("more vCPU sections than the VM's " + std::to_string(d.vcpus));
        VcpuFixed f{};
        if (len < sizeof f || !r.get(&f)) return bad("vCPU section shorter than its fixed part");
        if (f.xsave_len > kDescriptorMaxXsave || f.nmsrs > kDescriptorMaxMsrs || f.ncpuid > kDescriptorMaxCpuid) {
          return bad("vCPU section counts out of range");
        }
        const uint64_t want = sizeof f + uint64_t{f.xsave_len} + uint64_t{f.nmsrs} * sizeof(kvm_msr_entry) +
                              uint64_t{f.ncpuid} * sizeof(kvm_cpuid_entry2);
        if (want != len) return bad("vCPU section length disagrees with its counts");
        if (f.id != d.vcpu.size() || f.started > 1) return bad("vCPU sections out of order or malformed");
        if (f.pending_call_nr != 0 &&
            (!f.started || f.pending_call_nr < SF_HC_TICKET_REQUEST || f.pending_call_nr > SF_HC_CLUSTER_SHUTDOWN ||
             f.pending_call_block % alignof(sf_hc_block) != 0)) {
          return bad("vCPU " + std::to_string(f.id) + " has a malformed pending guest call");
        }
        VcpuDescriptor v;
        v.id = f.id;
        v.started = f.started != 0;
        v.mp = f.mp;
        v.regs = f.regs;
        v.sregs = f.sregs;
        v.fpu = f.fpu;
        v.xcrs = f.xcrs;
        v.debugregs = f.debugregs;
        v.events = f.events;
        v.pending_call_nr = f.pending_call_nr;
        v.pending_call_block = f.pending_call_block;
        v.xsave.resize(f.xsave_len);
        v.msrs.resize(f.nmsrs);
        v.cpuid.resize(f.ncpuid);
        if (!r.bytes(v.xsave.data(), v.xsave.size()) ||
            !r.bytes(v.msrs.data(), v.msrs.size() * sizeof(kvm_msr_entry)) ||
            !r.bytes(v.cpuid.data(), v.cpuid.size() * sizeof(kvm_cpuid_entry2))) {
          return bad("vCPU section truncated");
        }
        d.vcpu.push_back(std::move(v));
        break;
      }
      case kTagDevice: {
        if (d.vcpu.size() != d.vcpus || d.identity || d.data_extents) return bad("device section misplaced");
        if (d.devices.size() >= SF_MAX_DEVICES) {
          return bad("more than " + std::to_string(SF_MAX_DEVICES) + " device sections");
        }
        std::vector<uint8_t> bytes(len);
        if (!r.bytes(bytes.data(), bytes.size())) return bad("device section truncated");
        auto state = devices::decode_virtio_state(bytes);
        if (!state.ok()) return bad("device " + std::to_string(d.devices.size()) + ": " + state.status().message);
        d.devices.push_back(std::move(state).value());
        break;
      }
      case kTagIdentity: {
        if (d.vcpu.size() != d.vcpus || d.identity || d.data_extents)
          return bad("identity section misplaced or repeated");
        SnapshotIdentity id;
        if (len != sizeof id.snapshot_id + id.key.size() || !r.get(&id.snapshot_id) ||
            !r.bytes(id.key.data(), id.key.size())) {
          return bad("identity section of the wrong size");
        }
        if (id.snapshot_id == 0) return bad("snapshot id 0");
        d.identity = id;
        break;
      }
      case kTagExtents: {
        if (d.vcpu.size() != d.vcpus || d.data_extents) return bad("extents section misplaced or repeated");
        uint64_t n = 0;
        if (len < sizeof n || !r.get(&n) || n > kDescriptorMaxExtents || len != sizeof n + n * sizeof(PageExtent)) {
          return bad("extents section length disagrees with its count");
        }
        const uint64_t pages = d.ram_bytes / SF_PAGE_SIZE;
        std::vector<PageExtent> extents(n);
        uint64_t end_of_previous = 0;
        for (uint64_t i = 0; i < n; ++i) {
          PageExtent& e = extents[i];
          if (!r.get(&e.first) || !r.get(&e.count)) return bad("extents section truncated");
          // Sorted, disjoint, non-empty, inside RAM (checked without overflow).
          if (e.count == 0 || e.first < end_of_previous || e.first >= pages || e.count > pages - e.first) {
            return bad("extent " + std::to_string(i) + " is empty, out of order, overlapping or outside RAM");
          }
          end_of_previous = e.first + e.count;
        }
        d.data_extents = std::move(extents);
        break;
      }
      default: return bad("unknown section tag " + std::to_string(tag));
    }
    if (r.pos() != end) return bad("section " + std::to_string(tag) + " length disagrees with its content");
  }
  if (!have_vm || !have_serial) return bad("VM or serial section missing");
  if (d.vcpu.size() != d.vcpus) {
    return bad(std::to_string(d.vcpu.size()) + " vCPU sections for " + std::to_string(d.vcpus) + " vCPUs");
  }
  if (!d.vcpu[0].started) return bad("vCPU 0 is not started");
  return d;
}

}  // namespace sf::vmm
