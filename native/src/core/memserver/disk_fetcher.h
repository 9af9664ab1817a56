// DiskFetcher: a remote clone's disk blocks through the memserver (issue 13 item 4): the BlockFetcher
// of devices/remote_disk.h over a RemotePageSource's disk space and its host-local disk mirror, so N
// clones of a snapshot on one host reading a block cost one fetch.
// Boundary: adapts; the protocol, retries and storage are RemotePageSource's and Mirror's.
#pragma once

#include <cstring>
#include <memory>

#include "../devices/remote_disk.h"
#include "remote_source.h"

namespace sf::memserver {

class DiskFetcher final : public devices::BlockFetcher {
 public:
  // `source` must have a disk mirror; `disk_bytes` is the disk's exact size (the mirror holds it in
  // whole blocks).
  static Result<std::shared_ptr<DiskFetcher>> create(std::shared_ptr<RemotePageSource> source, uint64_t disk_bytes) {
    const auto& m = source ? source->disk_mirror() : nullptr;
    if (!m) return Status::Error(EINVAL, "disk fetcher: the page source has no disk mirror");
    if (disk_bytes == 0 || (disk_bytes + kWirePage - 1) / kWirePage != m->pages())
      return Status::Error(EINVAL, "disk fetcher: the disk's size disagrees with its mirror");
    return std::shared_ptr<DiskFetcher>(new DiskFetcher(std::move(source), disk_bytes));
  }

  uint64_t disk_bytes() const override { return disk_bytes_; }
  bool has(uint64_t block) const override { return block < mirror_.pages() && mirror_.has(block); }
  Status fetch(uint64_t first, uint64_t n, const std::atomic<bool>& cancel) override {
    return source_->fetch_disk(first, n, cancel);
  }
  void prefetch(uint64_t first, uint64_t n) override { source_->request_disk(first, n); }
  void copy(uint64_t block, uint64_t offset, std::span<uint8_t> out) const override {
    if (mirror_.is_zero(block)) {
      std::memset(out.data(), 0, out.size());
    } else {
      std::memcpy(out.data(), mirror_.data(block) + offset, out.size());
    }
  }
  uint64_t blocks_here() const override { return mirror_.stats().pages; }
  const std::shared_ptr<RemotePageSource>& source() const { return source_; }

 private:
  DiskFetcher(std::shared_ptr<RemotePageSource> source, uint64_t disk_bytes)
      : source_(std::move(source)), mirror_(*source_->disk_mirror()), disk_bytes_(disk_bytes) {}
  const std::shared_ptr<RemotePageSource> source_;  // keeps the mirror alive
  const Mirror& mirror_;
  const uint64_t disk_bytes_;
};

}  // namespace sf::memserver
