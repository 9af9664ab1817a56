// GuestMemory: memfd-backed guest RAM, its guest-physical layout and bounds-checked accessors.
// Boundary: host mapping and layout only; memslot registration is kvm.cc's job.
#include "guest_memory.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "guest_abi.h"

namespace sf::vmm {

namespace {

constexpr uint64_t kMinRam = 2ull << 20;
std::vector<RamRegion> layout(uint64_t ram_bytes);

}  // namespace

Result<std::unique_ptr<GuestMemory>> GuestMemory::create(uint64_t ram_bytes) {
  if (ram_bytes < kMinRam || ram_bytes > SF_RAM_MAX || ram_bytes % SF_PAGE_SIZE != 0) {
    return Status::Error(EINVAL, "guest RAM must be a multiple of 4 KiB between 2 MiB and 64 GiB (got " +
                                     std::to_string(ram_bytes) + " bytes)");
  }
  // A memfd rather than anonymous memory: fork (copy-on-write clones) remaps the same file MAP_PRIVATE,
  // and the fd is what a snapshot hands on. CLOEXEC so spawned processes never inherit guest RAM.
  snowflock::UniqueFd fd(::memfd_create("snowflock-guest-ram", MFD_CLOEXEC));
  if (!fd) return Status::FromErrno("memfd_create(guest RAM)", errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(ram_bytes)) != 0) {
    return Status::FromErrno("ftruncate(guest RAM, " + std::to_string(ram_bytes) + ")", errno);
  }
  // NORESERVE: RAM is committed page by page as the guest touches it, never up front.
  void* addr = ::mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd.get(), 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap(guest RAM)", errno);
  Mapping map(addr, ram_bytes);

  return std::unique_ptr<GuestMemory>(new GuestMemory(ram_bytes, std::move(fd), std::move(map), layout(ram_bytes)));
}

GuestMemory::GuestMemory(uint64_t ram_bytes, snowflock::UniqueFd memfd, Mapping map, std::vector<RamRegion> regions)
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
  snowflock::UniqueFd fd(::fcntl(template_fd, F_DUPFD_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("dup(snapshot memfd)", errno);
  void* addr = ::mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd.get(), 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap(clone RAM)", errno);
  Mapping map(addr, ram_bytes);
  auto mem = std::unique_ptr<GuestMemory>(new GuestMemory(ram_bytes, std::move(fd), std::move(map), layout(ram_bytes)));
  mem->private_ = true;
  return mem;
}

Result<std::unique_ptr<GuestMemory>> GuestMemory::create_lazy(uint64_t ram_bytes, int template_fd) {
  if (ram_bytes < kMinRam || ram_bytes > SF_RAM_MAX || ram_bytes % SF_PAGE_SIZE != 0) {
    return Status::Error(EINVAL, "guest RAM size " + std::to_string(ram_bytes) + " out of range");
  }
  struct stat st {};
  if (::fstat(template_fd, &st) != 0) return Status::FromErrno("fstat(snapshot memfd)", errno);
  if (static_cast<uint64_t>(st.st_size) < ram_bytes) {
    return Status::Error(EINVAL, "snapshot memory (" + std::to_string(st.st_size) + " bytes) is smaller than RAM");
  }
  // The template fd stays with us too: freeze() of a lazy clone finds the snapshot's data through it.
  snowflock::UniqueFd fd(::fcntl(template_fd, F_DUPFD_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("dup(snapshot memfd)", errno);
  void* addr = ::mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap(lazy clone RAM)", errno);
  Mapping map(addr, ram_bytes);
  auto mem = std::unique_ptr<GuestMemory>(new GuestMemory(ram_bytes, std::move(fd), std::move(map), layout(ram_bytes)));
  mem->private_ = true;
  auto tap = Memtap::create(mem->map_.bytes(), ram_bytes, mem->memfd_.get());
  if (!tap.ok()) return tap.status();
  mem->memtap_ = std::move(tap).value();
  return mem;
}

Status GuestMemory::hint_fresh(uint64_t gpa, uint64_t npages) {
  if (!memtap_) return Status::Ok();
  if (npages > UINT64_MAX / SF_PAGE_SIZE || gpa % SF_PAGE_SIZE != 0) return Status::Error(EINVAL, "bad fresh range");
  auto s = span(gpa, npages * SF_PAGE_SIZE);
  if (!s) return Status::Error(EFAULT, "fresh range is outside RAM");
  return memtap_->hint_fresh(static_cast<uint64_t>(s->data() - map_.bytes()) / SF_PAGE_SIZE, npages);
}

Result<snowflock::UniqueFd> GuestMemory::freeze() {
  if (private_) {
    // Materialise: a page with any content is resident either in the template (SEEK_DATA finds it) or
    // in our mapping (mincore: template page cache or our private copy); everything else reads as zero.
    snowflock::UniqueFd next(::memfd_create("snowflock-guest-ram", MFD_CLOEXEC));
    if (!next) return Status::FromErrno("memfd_create(fork template)", errno);
    if (::ftruncate(next.get(), static_cast<off_t>(ram_bytes_)) != 0) return Status::FromErrno("ftruncate(fork template)", errno);
    const uint64_t pages = ram_bytes_ / SF_PAGE_SIZE;
    std::vector<unsigned char> resident(pages, 0);
    if (::mincore(map_.bytes(), ram_bytes_, resident.data()) != 0) return Status::FromErrno("mincore(guest RAM)", errno);
    off_t pos = 0;
    while (static_cast<uint64_t>(pos) < ram_bytes_) {
      const off_t data = ::lseek(memfd_.get(), pos, SEEK_DATA);
      if (data < 0) break;  // ENXIO: no more data
      off_t hole = ::lseek(memfd_.get(), data, SEEK_HOLE);
      if (hole < 0) hole = static_cast<off_t>(ram_bytes_);
      for (uint64_t p = static_cast<uint64_t>(data) / SF_PAGE_SIZE; p < pages && p * SF_PAGE_SIZE < static_cast<uint64_t>(hole); ++p) {
        resident[p] |= 1;
      }
      pos = hole;
    }
    uint64_t p = 0;
    while (p < pages) {
      if (!(resident[p] & 1)) {
        ++p;
        continue;
      }
      uint64_t q = p;
      while (q < pages && (resident[q] & 1)) ++q;
      uint64_t off = p * SF_PAGE_SIZE;
      const uint64_t end = q * SF_PAGE_SIZE;
      while (off < end) {
        const ssize_t n = ::pwrite(next.get(), map_.bytes() + off, end - off, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Status::FromErrno("write(fork template)", n < 0 ? errno : EIO);
        off += static_cast<uint64_t>(n);
      }
      p = q;
    }
    memfd_ = std::move(next);
    // Lazy RAM is now fully materialised in `next`; the remap below drops the userfaultfd registration.
    memtap_.reset();
  }
  void* addr = ::mmap(map_.bytes(), ram_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
                      memfd_.get(), 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap(MAP_PRIVATE|MAP_FIXED guest RAM)", errno);
  private_ = true;
  snowflock::UniqueFd out(::fcntl(memfd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!out) return Status::FromErrno("dup(fork template)", errno);
  return out;
}

}  // namespace sf::vmm
