// CowOverlay: the unnamed sparse data file, block-run reads, copy-up writes, freezing; fork_disk and
// the sweep of fallback files. Boundary: see cow_overlay.h.
#include "cow_overlay.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace sf::devices {

namespace {

constexpr uint64_t kBlock = kDiskBlockBytes;

Result<UniqueFd> open_data_file(const std::string& dir, bool named) {
  if (!named) {
    UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (fd) return fd;
    // Only "this file system cannot" falls back; a missing or unwritable directory is the caller's.
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      return Status::FromErrno("disk overlay: creating an unnamed file in " + dir, errno);
    }
  }
  std::string path = dir + "/" + kOverlayFilePrefix + "XXXXXX";
  UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return Status::FromErrno("disk overlay: creating a file in " + dir, errno);
  // ENOENT: a sweep got there first, which is just as good.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno("disk overlay: unlinking " + path + " (remove it by hand)", errno);
  }
  return fd;
}

}  // namespace

Result<std::shared_ptr<CowOverlay>> CowOverlay::create(std::shared_ptr<BlockLayer> lower, const std::string& dir,
                                                       bool named) {
  if (lower && lower->writable()) {
    // A layer that still changes under the overlay would show through in blocks not copied up yet.
    return Status::Error(EINVAL, "disk overlay: the layer below is still writable (freeze it first)");
  }
  return make(std::move(lower), dir, named);
}

Result<std::shared_ptr<CowOverlay>> CowOverlay::make(std::shared_ptr<BlockLayer> lower, const std::string& dir,
                                                     bool named) {
  if (!lower) return Status::Error(EINVAL, "disk overlay: no layer below");
  const uint64_t size = lower->size();
  if (size == 0 || size % kSectorBytes != 0 || size > kMaxDiskBytes) {
    return Status::Error(EINVAL, "disk overlay: the layer below has an impossible size " + std::to_string(size));
  }
  auto fd = open_data_file(dir, named);
  if (!fd.ok()) return fd.status();
  // The file's length is the disk's; its blocks are allocated only where written (sparse).
  if (::ftruncate(fd->get(), static_cast<off_t>(size)) != 0) {
    return Status::FromErrno("disk overlay: sizing its file in " + dir, errno);
  }
  return std::shared_ptr<CowOverlay>(new CowOverlay(std::move(lower), std::move(fd).value()));
}

CowOverlay::CowOverlay(std::shared_ptr<BlockLayer> lower, UniqueFd fd)
    : lower_(std::move(lower)), fd_(std::move(fd)), size_(lower_->size()), present_((size_ + kBlock - 1) / kBlock) {}

Status CowOverlay::read(uint64_t offset, std::span<uint8_t> out) {
  if (Status s = check_range(offset, out.size(), size_); !s.ok()) return s;
  const uint64_t end = offset + out.size();
  uint64_t pos = offset;
  while (pos < end) {
    // The longest run of blocks that are all here or all below: one pread or one read below each.
    const bool here = present_.test(pos / kBlock);
    uint64_t run_end = std::min(end, (pos / kBlock + 1) * kBlock);
    while (run_end < end && present_.test(run_end / kBlock) == here) run_end = std::min(end, run_end + kBlock);
    const auto part = out.subspan(pos - offset, run_end - pos);
    Status s;
    if (here) {
      s = pread_full(fd_.get(), part, pos, "disk overlay");
    } else {
      counters_.lower_reads.fetch_add(1, std::memory_order_relaxed);
      counters_.lower_read_bytes.fetch_add(part.size(), std::memory_order_relaxed);
      s = lower_->read(pos, part);
    }
    if (!s.ok()) return s;
    pos = run_end;
  }
  return Status::Ok();
}

bool CowOverlay::needs_copy_up(uint64_t block, uint64_t offset, uint64_t end) const {
  return !present_.test(block) && (offset > block * kBlock || end < block_end(block));
}

Status CowOverlay::copy_up(uint64_t block, uint64_t offset, std::span<const uint8_t> in) {
  const uint64_t start = block * kBlock, stop = block_end(block);
  uint8_t buf[kBlock];
  const std::span<uint8_t> whole(buf, stop - start);
  if (Status s = lower_->read(start, whole); !s.ok()) return s;
  const uint64_t from = std::max(offset, start), to = std::min(offset + in.size(), stop);
  std::memcpy(buf + (from - start), in.data() + (from - offset), to - from);
  if (Status s = pwrite_full(fd_.get(), whole, start, "disk overlay"); !s.ok()) return s;
  counters_.copied_up.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Status CowOverlay::write(uint64_t offset, std::span<const uint8_t> in) {
  if (Status s = check_range(offset, in.size(), size_); !s.ok()) return s;
  std::lock_guard lock(write_mu_);
  if (frozen_.load(std::memory_order_acquire)) {
    return Status::Error(EROFS, "disk overlay is frozen (a fork's snapshot): write to the overlay above it");
  }
  if (in.empty()) return Status::Ok();
  const uint64_t end = offset + in.size();
  const uint64_t first = offset / kBlock, last = (end - 1) / kBlock;
  // Only the first and the last block can be partly covered; everything between goes out in one pwrite.
  uint64_t direct_from = offset, direct_to = end;
  if (needs_copy_up(first, offset, end)) {
    if (Status s = copy_up(first, offset, in); !s.ok()) return s;
    direct_from = std::min(end, block_end(first));
  }
  if (last != first && needs_copy_up(last, offset, end)) {
    if (Status s = copy_up(last, offset, in); !s.ok()) return s;
    direct_to = last * kBlock;
  }
  if (direct_from < direct_to) {
    const auto part = in.subspan(direct_from - offset, direct_to - direct_from);
    if (Status s = pwrite_full(fd_.get(), part, direct_from, "disk overlay"); !s.ok()) return s;
  }
  // Bits after the data: a reader that sees a block present finds its bytes in the file.
  for (uint64_t b = first; b <= last; ++b) present_.set(b);
  return Status::Ok();
}

Status CowOverlay::flush() {
  if (frozen_.load(std::memory_order_acquire)) return Status::Ok();
  if (::fdatasync(fd_.get()) != 0) return Status::FromErrno("disk overlay: fdatasync", errno);
  return Status::Ok();
}

void CowOverlay::freeze() {
  // Under the write lock: a write in progress finishes before the layer counts as frozen.
  std::lock_guard lock(write_mu_);
  frozen_.store(true, std::memory_order_release);
}

OverlayStats CowOverlay::stats() const {
  OverlayStats s;
  add_counters(counters_, s);
  s.blocks_present = present_.count();
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0) s.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  s.frozen = !writable();
  return s;
}

Result<DiskFork> fork_disk(std::shared_ptr<BlockLayer> top, const std::string& dir) {
  if (!top) return Status::Error(EINVAL, "disk fork: no disk");
  // The master's overlay needs a layer that no longer changes: it is made first (so a failure leaves
  // the disk writable as it was) and the promise kept right after; nothing writes in between, as the
  // caller has quiesced the device.
  auto master = CowOverlay::make(top, dir, /*named=*/false);
  if (!master.ok()) return master.status();
  top->freeze();
  return DiskFork{std::move(top), std::move(master).value()};
}

Result<uint32_t> sweep_overlays(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno("disk overlay sweep: opening " + dir, errno);
  const size_t prefix = std::strlen(kOverlayFilePrefix);
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, kOverlayFilePrefix, prefix) == 0) stale.emplace_back(e->d_name);
  }
  ::closedir(d);
  uint32_t removed = 0;
  for (const std::string& name : stale) {
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::unlink(path.c_str()) == 0) ++removed;
    else if (errno != ENOENT) return Status::FromErrno("disk overlay sweep: removing " + path, errno);
  }
  return removed;
}

}  // namespace sf::devices
