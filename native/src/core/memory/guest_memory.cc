// GuestMemory: memfd-backed guest RAM, its guest-physical layout and bounds-checked accessors.
// Boundary: host mapping and layout only; memslot registration is vmm/kvm.cc's job.
#include "guest_memory.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "../base/guest_abi.h"

namespace sf::memory {

namespace {

constexpr uint64_t kMinRam = 2ull << 20;
constexpr uint64_t kHugePage = 2ull << 20;
std::vector<RamRegion> layout(uint64_t ram_bytes);

// Maps `bytes` of fd (or anonymous memory when fd < 0) at a 2 MiB-aligned address, so that shmem can
// back guest RAM with transparent huge pages and KVM can map them whole. That is what keeps a fork's
// pause flat: remapping RAM copy-on-write zaps one entry per 2 MiB instead of one per 4 KiB page
// (512 MiB of touched RAM: ≈0.1 ms instead of ≈30 ms here).
Result<Mapping> map_aligned(uint64_t bytes, int flags, int fd) {
  void* reserve = ::mmap(nullptr, bytes + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserve == MAP_FAILED) return Status::FromErrno("mmap(reserve guest RAM)", errno);
  const uintptr_t start = reinterpret_cast<uintptr_t>(reserve);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  // Trim the reservation to exactly [aligned, aligned + bytes), then map the memory over it.
  if (aligned > start) ::munmap(reserve, aligned - start);
  const uintptr_t tail = aligned + bytes;
  if (start + bytes + kHugePage > tail) ::munmap(reinterpret_cast<void*>(tail), start + bytes + kHugePage - tail);
  void* addr =
      ::mmap(reinterpret_cast<void*>(aligned), bytes, PROT_READ | PROT_WRITE, flags | MAP_FIXED | MAP_NORESERVE, fd, 0);
  if (addr == MAP_FAILED) {
    const int err = errno;
    ::munmap(reinterpret_cast<void*>(aligned), bytes);
    return Status::FromErrno("mmap(guest RAM)", err);
  }
  return Mapping(addr, bytes);
}

// Asks for huge pages where the host allows them for shmem (shmem_enabled = advise or more; see
// host_tuning.h); elsewhere this is a no-op and RAM stays in 4 KiB pages.
void advise_huge(const Mapping& map) { (void)::madvise(map.get(), map.size(), MADV_HUGEPAGE); }

}  // namespace

Result<std::unique_ptr<GuestMemory>> GuestMemory::create(uint64_t ram_bytes, bool huge_pages) {
  if (ram_bytes < kMinRam || ram_bytes > SF_RAM_MAX || ram_bytes % SF_PAGE_SIZE != 0) {
    return Status::Error(EINVAL, "guest RAM must be a multiple of 4 KiB between 2 MiB and 64 GiB (got " +
                                     std::to_string(ram_bytes) + " bytes)");
  }
  // A memfd rather than anonymous memory: fork (copy-on-write clones) remaps the same file MAP_PRIVATE,
  // and the fd is what a snapshot hands on. CLOEXEC so spawned processes never inherit guest RAM.
  UniqueFd fd(::memfd_create("snowflock-guest-ram", MFD_CLOEXEC));
  if (!fd) return Status::FromErrno("memfd_create(guest RAM)", errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(ram_bytes)) != 0) {
    return Status::FromErrno("ftruncate(guest RAM, " + std::to_string(ram_bytes) + ")", errno);
  }
  // NORESERVE: RAM is committed page by page as the guest touches it, never up front.
  auto map = map_aligned(ram_bytes, MAP_SHARED, fd.get());
  if (!map.ok()) return map.status();
  if (huge_pages) advise_huge(map.value());

  return std::unique_ptr<GuestMemory>(
      new GuestMemory(ram_bytes, std::move(fd), std::move(map).value(), layout(ram_bytes)));
}

void GuestMemory::advise_huge_pages() { advise_huge(map_); }

GuestMemory::GuestMemory(uint64_t ram_bytes, UniqueFd memfd, Mapping map, std::vector<RamRegion> regions)
    : ram_bytes_(ram_bytes), memfd_(std::move(memfd)), map_(std::move(map)), regions_(std::move(regions)) {}

std::optional<std::span<uint8_t>> GuestMemory::span(uint64_t gpa, uint64_t len) const {
  for (const RamRegion& r : regions_) {
    if (gpa < r.gpa) continue;
    const uint64_t off = gpa - r.gpa;
    // off <= size and len <= size - off: no addition, so no overflow.
    if (off > r.size || len > r.size - off) continue;
    return std::span<uint8_t>(map_.bytes() + r.offset + off, static_cast<size_t>(len));
  }
  return std::nullopt;
}

bool GuestMemory::write_bytes(uint64_t gpa, std::span<const uint8_t> bytes) {
  auto s = span(gpa, bytes.size());
  if (!s) return false;
  if (!bytes.empty()) std::memcpy(s->data(), bytes.data(), bytes.size());
  return true;
}

bool GuestMemory::zero(uint64_t gpa, uint64_t len) {
  auto s = span(gpa, len);
  if (!s) return false;
  if (len == 0) return true;
  if (private_) {  // punching the memfd would change the frozen template under every clone
    std::memset(s->data(), 0, len);
    return true;
  }
  constexpr uint64_t kPage = SF_PAGE_SIZE;
  const uint64_t begin = static_cast<uint64_t>(s->data() - map_.bytes());  // memfd offset
  const uint64_t end = begin + len;
  const uint64_t first_full = (begin + kPage - 1) / kPage * kPage;
  const uint64_t last_full = end / kPage * kPage;
  if (last_full > first_full &&
      ::fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(first_full),
                  static_cast<off_t>(last_full - first_full)) == 0) {
    std::memset(map_.bytes() + begin, 0, first_full - begin);
    std::memset(map_.bytes() + last_full, 0, end - last_full);
  } else {
    std::memset(s->data(), 0, len);  // small range, or the hole punch failed: write zeroes
  }
  return true;
}

bool GuestMemory::read_bytes(uint64_t gpa, std::span<uint8_t> out) const {
  auto s = span(gpa, out.size());
  if (!s) return false;
  if (!out.empty()) std::memcpy(out.data(), s->data(), out.size());
  return true;
}

uint64_t GuestMemory::pages_touched() const {
  if (memtap_) return memtap_->presence().count();  // lazy RAM: the pages fetched or zero-filled so far
  // tmpfs/shmem (which backs a memfd) counts st_blocks in 512-byte units of allocated pages, swapped-out
  // pages included.
  struct stat st {};
  if (::fstat(memfd_.get(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512 / SF_PAGE_SIZE;
}

namespace {

std::vector<RamRegion> layout(uint64_t ram_bytes) {
  std::vector<RamRegion> regions;
  const uint64_t low = std::min<uint64_t>(ram_bytes, SF_RAM_LOW_MAX);
  regions.push_back({0, low, 0});
  if (ram_bytes > low) regions.push_back({SF_RAM_HIGH_GPA, ram_bytes - low, low});
  return regions;
}

}  // namespace

Result<std::unique_ptr<GuestMemory>> GuestMemory::create_private(uint64_t ram_bytes, int template_fd) {
  if (ram_bytes < kMinRam || ram_bytes > SF_RAM_MAX || ram_bytes % SF_PAGE_SIZE != 0) {
    return Status::Error(EINVAL, "guest RAM size " + std::to_string(ram_bytes) + " out of range");
  }
  struct stat st {};
  if (::fstat(template_fd, &st) != 0) return Status::FromErrno("fstat(snapshot memfd)", errno);
  if (static_cast<uint64_t>(st.st_size) < ram_bytes) {
    return Status::Error(EINVAL, "snapshot memory (" + std::to_string(st.st_size) + " bytes) is smaller than RAM");
  }
  UniqueFd fd(::fcntl(template_fd, F_DUPFD_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("dup(snapshot memfd)", errno);
  auto map = map_aligned(ram_bytes, MAP_PRIVATE, fd.get());
  if (!map.ok()) return map.status();
  advise_huge(map.value());
  auto mem = std::unique_ptr<GuestMemory>(
      new GuestMemory(ram_bytes, std::move(fd), std::move(map).value(), layout(ram_bytes)));
  mem->private_ = true;
  return mem;
}

Result<std::unique_ptr<GuestMemory>> GuestMemory::create_lazy(uint64_t ram_bytes, int template_fd) {
  auto mem = create_unfilled(ram_bytes);
  if (!mem.ok()) return mem.status();
  if (Status s = mem.value()->attach_lazy(template_fd); !s.ok()) return s;
  return mem;
}

Result<std::unique_ptr<GuestMemory>> GuestMemory::create_unfilled(uint64_t ram_bytes) {
  if (ram_bytes < kMinRam || ram_bytes > SF_RAM_MAX || ram_bytes % SF_PAGE_SIZE != 0) {
    return Status::Error(EINVAL, "guest RAM size " + std::to_string(ram_bytes) + " out of range");
  }
  void* addr = ::mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap(lazy clone RAM)", errno);
  Mapping map(addr, ram_bytes);
  auto mem = std::unique_ptr<GuestMemory>(new GuestMemory(ram_bytes, UniqueFd(), std::move(map), layout(ram_bytes)));
  mem->private_ = true;
  return mem;
}

Status GuestMemory::prepare_lazy() {
  if (memtap_ || memfd_ || !private_) return Status::Error(EALREADY, "this RAM is not unfilled");
  auto deferred = std::make_shared<DeferredSource>(ram_bytes_);
  auto tap = Memtap::create(map_.bytes(), ram_bytes_, deferred);
  if (!tap.ok()) return tap.status();
  memtap_ = std::move(tap).value();
  deferred_ = std::move(deferred);
  return Status::Ok();
}

Status GuestMemory::attach_lazy(int template_fd, std::shared_ptr<SnapshotFdSource> shared) {
  if (memfd_ || (memtap_ && !deferred_)) return Status::Error(EALREADY, "this RAM already has its snapshot");
  struct stat st {};
  if (::fstat(template_fd, &st) != 0) return Status::FromErrno("fstat(snapshot memfd)", errno);
  if (static_cast<uint64_t>(st.st_size) < ram_bytes_) {
    return Status::Error(EINVAL, "snapshot memory (" + std::to_string(st.st_size) + " bytes) is smaller than RAM");
  }
  // The template fd stays with us too: freeze() of a lazy clone finds the snapshot's data through it.
  UniqueFd fd(::fcntl(template_fd, F_DUPFD_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("dup(snapshot memfd)", errno);
  std::shared_ptr<SnapshotFdSource> source = std::move(shared);
  if (!source || source->bytes() < ram_bytes_) {
    auto own = SnapshotFdSource::create(fd.get(), ram_bytes_);
    if (!own.ok()) return own.status();
    source = std::move(own).value();
  }
  if (deferred_) {
    if (Status s = deferred_->bind(std::move(source)); !s.ok()) return s;
    deferred_.reset();
  } else {
    auto tap = Memtap::create(map_.bytes(), ram_bytes_, std::move(source));
    if (!tap.ok()) return tap.status();
    memtap_ = std::move(tap).value();
  }
  memfd_ = std::move(fd);
  return Status::Ok();
}

Status GuestMemory::hint_fresh(uint64_t gpa, uint64_t npages) {
  if (!memtap_) return Status::Ok();
  if (npages > UINT64_MAX / SF_PAGE_SIZE || gpa % SF_PAGE_SIZE != 0) return Status::Error(EINVAL, "bad fresh range");
  auto s = span(gpa, npages * SF_PAGE_SIZE);
  if (!s) return Status::Error(EFAULT, "fresh range is outside RAM");
  return memtap_->hint_fresh(static_cast<uint64_t>(s->data() - map_.bytes()) / SF_PAGE_SIZE, npages);
}

namespace {

// /proc/self/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
constexpr uint64_t kPagemapPresent = 1ull << 63, kPagemapSwapped = 1ull << 62, kPagemapFile = 1ull << 61;

// PAGEMAP_SCAN (Linux 6.7; the system headers are older): the kernel returns only the matching ranges,
// which for a mostly untouched GiB is far cheaper than reading one pagemap entry per page.
struct PageRegion {
  uint64_t start, end, categories;
};
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
constexpr uint64_t kPageIsFile = 1ull << 2, kPageIsPresent = 1ull << 3, kPageIsSwapped = 1ull << 4;

// Page ranges [first, end) of the mapping that are ours alone: present or swapped, not page cache.
// nullopt when the kernel has no PAGEMAP_SCAN.
std::optional<std::vector<std::pair<uint64_t, uint64_t>>> scan_private_pages(int pagemap, const uint8_t* base,
                                                                             uint64_t bytes) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  std::vector<PageRegion> vec(512);
  uint64_t at = reinterpret_cast<uintptr_t>(base);
  const uint64_t end = at + bytes;
  while (at < end) {
    PmScanArg arg{};
    arg.size = sizeof arg;
    arg.start = at;
    arg.end = end;
    arg.vec = reinterpret_cast<uintptr_t>(vec.data());
    arg.vec_len = vec.size();
    arg.category_inverted = kPageIsFile;
    arg.category_mask = kPageIsFile;  // inverted: "not a file page"
    arg.category_anyof_mask = kPageIsPresent | kPageIsSwapped;
    arg.return_mask = kPageIsPresent | kPageIsSwapped | kPageIsFile;
    const int n = ::ioctl(pagemap, kPagemapScan, &arg);
    if (n < 0) return std::nullopt;
    for (int i = 0; i < n; ++i) {
      out.emplace_back((vec[i].start - reinterpret_cast<uintptr_t>(base)) / SF_PAGE_SIZE,
                       (vec[i].end - reinterpret_cast<uintptr_t>(base)) / SF_PAGE_SIZE);
    }
    if (arg.walk_end <= at) break;  // no progress: should not happen, never loop forever
    at = arg.walk_end;
  }
  return out;
}

// Copies [off, off + len) of `src` (a mapping) into `fd` at the same offset.
Status write_range(int fd, const uint8_t* src, uint64_t off, uint64_t len) {
  const uint64_t end = off + len;
  while (off < end) {
    const ssize_t n = ::pwrite(fd, src + off, end - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("write(fork overlay)", n < 0 ? errno : EIO);
    off += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Result<UniqueFd> new_memfd(uint64_t bytes, const char* what) {
  UniqueFd fd(::memfd_create("snowflock-guest-ram", MFD_CLOEXEC));
  if (!fd) return Status::FromErrno(std::string("memfd_create(") + what + ")", errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
    return Status::FromErrno(std::string("ftruncate(") + what + ")", errno);
  return fd;
}

// Copies every data extent of `from` (SEEK_DATA) into `to` at the same offsets, in the kernel.
Status copy_data(int from, int to, uint64_t bytes) {
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < bytes) {
    off_t data = ::lseek(from, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;
    if (data < 0) return Status::FromErrno("lseek(SEEK_DATA)", errno);
    off_t hole = ::lseek(from, data, SEEK_HOLE);
    if (hole < 0) return Status::FromErrno("lseek(SEEK_HOLE)", errno);
    if (static_cast<uint64_t>(hole) > bytes) hole = static_cast<off_t>(bytes);
    loff_t in = data, out = data;
    while (in < hole) {
      const ssize_t n = ::copy_file_range(from, &in, to, &out, static_cast<size_t>(hole - in), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::FromErrno("copy_file_range(fork image)", n < 0 ? errno : EIO);
    }
    pos = hole;
  }
  return Status::Ok();
}

}  // namespace

Result<UniqueFd> GuestMemory::FrozenMemory::image() {
  if (!overlay) return UniqueFd(::fcntl(base.get(), F_DUPFD_CLOEXEC, 0));
  auto out = new_memfd(bytes, "fork image");
  if (!out.ok()) return out.status();
  if (Status s = copy_data(base.get(), out->get(), bytes); !s.ok()) return s;
  if (Status s = copy_data(overlay.get(), out->get(), bytes); !s.ok()) return s;
  return out;
}

Status GuestMemory::attach_source(std::shared_ptr<PageSource> source, MemtapOptions options) {
  if (memtap_ || memfd_) return Status::Error(EALREADY, "this RAM already has its snapshot");
  auto tap = Memtap::create(map_.bytes(), ram_bytes_, std::move(source), std::move(options));
  if (!tap.ok()) return tap.status();
  memtap_ = std::move(tap).value();
  return Status::Ok();
}

Result<GuestMemory::FrozenMemory> GuestMemory::freeze() {
  FrozenMemory frozen;
  if (private_ && !memfd_) {
    return Status::Error(ENOTSUP, "a clone whose memory comes from another host cannot be forked yet");
  }
  frozen.bytes = ram_bytes_;
  if (!private_) {
    void* addr = ::mmap(map_.bytes(), ram_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
                        memfd_.get(), 0);
    if (addr == MAP_FAILED) return Status::FromErrno("mmap(MAP_PRIVATE|MAP_FIXED guest RAM)", errno);
    advise_huge(map_);
    private_ = true;
    frozen.base = UniqueFd(::fcntl(memfd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!frozen.base) return Status::FromErrno("dup(fork template)", errno);
    return frozen;
  }
  // Our private pages: present or swapped, and anonymous (not the template's page cache).
  UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!pagemap) return Status::FromErrno("open /proc/self/pagemap", errno);
  auto overlay = new_memfd(ram_bytes_, "fork overlay");
  if (!overlay.ok()) return overlay.status();
  if (auto ranges = scan_private_pages(pagemap.get(), map_.bytes(), ram_bytes_)) {
    for (const auto& [first, end] : *ranges) {
      if (Status s = write_range(overlay->get(), map_.bytes(), first * SF_PAGE_SIZE, (end - first) * SF_PAGE_SIZE);
          !s.ok())
        return s;
      frozen.overlay_pages += end - first;
    }
    frozen.base = UniqueFd(::fcntl(memfd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!frozen.base) return Status::FromErrno("dup(fork template)", errno);
    frozen.overlay = std::move(overlay).value();
    return frozen;
  }
  // Older kernels: one pagemap entry per page.
  const uint64_t pages = ram_bytes_ / SF_PAGE_SIZE;
  std::vector<uint64_t> entries(pages);
  const off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(map_.bytes()) / SF_PAGE_SIZE * sizeof(uint64_t));
  uint64_t got = 0;
  while (got < pages * sizeof(uint64_t)) {
    const ssize_t n = ::pread(pagemap.get(), reinterpret_cast<uint8_t*>(entries.data()) + got,
                              pages * sizeof(uint64_t) - got, at + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("read /proc/self/pagemap", n < 0 ? errno : EIO);
    got += static_cast<uint64_t>(n);
  }
  auto mine = [&](uint64_t p) {
    return (entries[p] & (kPagemapPresent | kPagemapSwapped)) != 0 && (entries[p] & kPagemapFile) == 0;
  };
  for (uint64_t p = 0; p < pages;) {
    if (!mine(p)) {
      ++p;
      continue;
    }
    uint64_t q = p;
    while (q < pages && mine(q)) ++q;
    if (Status s = write_range(overlay->get(), map_.bytes(), p * SF_PAGE_SIZE, (q - p) * SF_PAGE_SIZE); !s.ok())
      return s;
    frozen.overlay_pages += q - p;
    p = q;
  }
  frozen.base = UniqueFd(::fcntl(memfd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!frozen.base) return Status::FromErrno("dup(fork template)", errno);
  frozen.overlay = std::move(overlay).value();
  return frozen;
}

}  // namespace sf::memory
