// SnapshotFdSource: the local page source, a frozen snapshot memfd on this host (DESIGN §4.4).
// Boundary: reads the memfd (through a read-only mapping where it can); knows nothing about userfaultfd.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "../base/mapping.h"
#include "../base/status.h"
#include "../base/unique_fd.h"
#include "page_source.h"

namespace sf::memory {

// The local source: a frozen snapshot memfd on this host. Holes (SEEK_DATA, found once at creation)
// are reported as zero pages; data pages are handed out straight from a read-only shared mapping of
// the memfd (UFFDIO_COPY then copies once, instead of pread into a buffer and copy again), or pread()
// into the caller's scratch if the fd cannot be mapped.
class SnapshotFdSource final : public PageSource {
 public:
  // `snapshot_fd` is dup()ed; it must hold at least `bytes` bytes.
  static Result<std::shared_ptr<SnapshotFdSource>> create(int snapshot_fd, uint64_t bytes);
  // The same when the caller has found the data pages already (`has_data`, one flag per page: the fork's own
  // scan for the descriptor), so the snapshot is not scanned twice.
  static Result<std::shared_ptr<SnapshotFdSource>> create_with_extents(int snapshot_fd, uint64_t bytes,
                                                                       std::vector<bool> has_data);
  uint64_t bytes() const override { return bytes_; }
  Status get(uint64_t first, uint64_t n, uint8_t* scratch, const uint8_t** out,
             const std::atomic<bool>& cancel) override;
  // False for a page the snapshot holds as a hole (reads as zero).
  bool has_data(uint64_t page) const { return has_data_.empty() || (page < has_data_.size() && has_data_[page]); }

 private:
  SnapshotFdSource(UniqueFd fd, uint64_t bytes) : fd_(std::move(fd)), bytes_(bytes) {}
  UniqueFd fd_;
  const uint64_t bytes_;
  Mapping map_;  // PROT_READ, MAP_SHARED view of fd_ (empty if mmap failed); holes are never read through it
  std::vector<bool> has_data_;  // empty: extents unknown, treat every page as data (always correct)
};

}  // namespace sf::memory
