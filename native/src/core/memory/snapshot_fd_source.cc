// SnapshotFdSource: finds the snapshot's holes once, then hands out data pages from a read-only
// mapping of the memfd (or pread). Boundary: see snapshot_fd_source.h.
#include "snapshot_fd_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "../base/guest_abi.h"

namespace sf::memory {

namespace {

constexpr uint64_t kPage = SF_PAGE_SIZE;

// Reads [off, off + len) of the snapshot; holes read as zero without allocating (shmem read path).
bool pread_full(int fd, uint8_t* out, uint64_t len, uint64_t off) {
  uint64_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, out + done, len - done, static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) {  // past EOF (cannot happen: size checked): zeroes
      std::memset(out + done, 0, len - done);
      return true;
    }
    done += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

namespace {

// The snapshot's allocated pages (SEEK_DATA/SEEK_HOLE); nullopt when the file system cannot say.
std::optional<std::vector<bool>> scan_data_pages(int fd, uint64_t bytes) {
  const uint64_t pages = bytes / kPage;
  std::vector<bool> data(pages, false);
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < bytes) {
    const off_t d = ::lseek(fd, pos, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break;  // no data past pos
      return std::nullopt;
    }
    const off_t h = ::lseek(fd, d, SEEK_HOLE);
    if (h < 0) return std::nullopt;
    for (uint64_t p = static_cast<uint64_t>(d) / kPage; p < pages && p * kPage < static_cast<uint64_t>(h); ++p)
      data[p] = true;
    pos = h;
  }
  return data;
}

}  // namespace

Result<std::shared_ptr<SnapshotFdSource>> SnapshotFdSource::create(int snapshot_fd, uint64_t bytes) {
  if (bytes == 0 || bytes % kPage != 0) return Status::Error(EINVAL, "snapshot source: size must be whole pages");
  auto data = scan_data_pages(snapshot_fd, bytes);
  // Unknown extents: every page is treated as data (always correct) and pread, see create_with_extents.
  return create_with_extents(snapshot_fd, bytes, data ? std::move(*data) : std::vector<bool>());
}

Result<std::shared_ptr<SnapshotFdSource>> SnapshotFdSource::create_with_extents(int snapshot_fd, uint64_t bytes,
                                                                                std::vector<bool> has_data) {
  if (bytes == 0 || bytes % kPage != 0) return Status::Error(EINVAL, "snapshot source: size must be whole pages");
  if (!has_data.empty() && has_data.size() != bytes / kPage) {
    return Status::Error(EINVAL, "snapshot source: the data map does not match the size");
  }
  struct stat st {};
  if (::fstat(snapshot_fd, &st) != 0) return Status::FromErrno("memtap: fstat(snapshot)", errno);
  if (static_cast<uint64_t>(st.st_size) < bytes) return Status::Error(EINVAL, "memtap: snapshot smaller than RAM");
  UniqueFd fd(::fcntl(snapshot_fd, F_DUPFD_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("memtap: dup(snapshot)", errno);
  auto src = std::shared_ptr<SnapshotFdSource>(new SnapshotFdSource(std::move(fd), bytes));
  if (has_data.empty()) return src;  // every page is data, pread: a hole read through a mapping would be allocated
  src->has_data_ = std::move(has_data);
  // Read-only and shared: the snapshot is frozen, nobody writes it, and the view costs no memory.
  // Only with known extents: reading a hole through a shared mapping would allocate it in the memfd.
  void* addr = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED | MAP_NORESERVE, src->fd_.get(), 0);
  if (addr != MAP_FAILED) src->map_ = Mapping(addr, bytes);
  return src;
}

Status SnapshotFdSource::get(uint64_t first, uint64_t n, uint8_t* scratch, const uint8_t** out,
                             const std::atomic<bool>& cancel) {
  (void)cancel;  // a memfd read never waits for long
  if (first >= bytes_ / kPage || n > bytes_ / kPage - first)
    return Status::Error(EINVAL, "snapshot source: page range outside the snapshot");
  uint64_t i = 0;
  while (i < n) {
    if (!has_data(first + i)) {
      out[i++] = nullptr;
      continue;
    }
    // One read per run of data pages.
    uint64_t j = i + 1;
    while (j < n && has_data(first + j)) ++j;
    if (map_.valid()) {
      for (; i < j; ++i) out[i] = map_.bytes() + (first + i) * kPage;
      continue;
    }
    if (!pread_full(fd_.get(), scratch + i * kPage, (j - i) * kPage, (first + i) * kPage)) {
      return Status::FromErrno("memtap: read snapshot", errno);
    }
    for (; i < j; ++i) out[i] = scratch + i * kPage;
  }
  return Status::Ok();
}

}  // namespace sf::memory
