// RemoteDisk (see remote_disk.h): reads wait for the blocks this host lacks, copy from the host's
// blocks, and ask ahead of sequential reads.
// Boundary: range checks and figures; fetching and storage are the BlockFetcher's.
#include "remote_disk.h"

#include <algorithm>

namespace sf::devices {

Result<std::shared_ptr<RemoteDisk>> RemoteDisk::create(std::shared_ptr<BlockFetcher> fetcher) {
  if (!fetcher) return Status::Error(EINVAL, "remote disk: no block fetcher");
  const uint64_t size = fetcher->disk_bytes();
  if (size == 0 || size % kSectorBytes != 0 || size > kMaxDiskBytes) {
    return Status::Error(EINVAL, "remote disk: the disk snapshot is " + std::to_string(size) +
                                     " bytes, not a whole number of sectors up to 1 TiB");
  }
  return std::shared_ptr<RemoteDisk>(new RemoteDisk(std::move(fetcher)));
}

RemoteDisk::RemoteDisk(std::shared_ptr<BlockFetcher> fetcher)
    : fetcher_(std::move(fetcher)),
      size_(fetcher_->disk_bytes()),
      blocks_((size_ + kDiskBlockBytes - 1) / kDiskBlockBytes) {}

Status RemoteDisk::read(uint64_t offset, std::span<uint8_t> out) {
  if (Status s = check_range(offset, out.size(), size_); !s.ok()) return s;
  if (out.empty()) return Status::Ok();
  const uint64_t first = offset / kDiskBlockBytes;
  const uint64_t last = (offset + out.size() - 1) / kDiskBlockBytes;
  const uint64_t n = last - first + 1;
  uint64_t missing = 0;
  for (uint64_t b = first; b <= last; ++b) missing += fetcher_->has(b) ? 0 : 1;
  // A read that continues the previous one: the guest is streaming a file, so ask for what follows
  // now, while this read is served, rather than one round trip per request.
  const bool sequential = next_offset_.exchange(offset + out.size(), std::memory_order_relaxed) == offset;
  if (sequential && last + 1 < blocks_) {
    const uint64_t ra_first = last + 1;
    const uint64_t ra_n = std::min(kReadaheadBlocks, blocks_ - ra_first);
    uint64_t asked = 0;
    for (uint64_t b = ra_first; b < ra_first + ra_n; ++b) asked += fetcher_->has(b) ? 0 : 1;
    if (asked > 0) {
      fetcher_->prefetch(ra_first, ra_n);
      counters_.readahead_blocks.fetch_add(asked, std::memory_order_relaxed);
    }
  }
  if (missing > 0) {
    counters_.blocks_fetched.fetch_add(missing, std::memory_order_relaxed);
    counters_.bytes_fetched.fetch_add(missing * kDiskBlockBytes, std::memory_order_relaxed);
    if (Status s = fetcher_->fetch(first, n, cancel_); !s.ok()) {
      counters_.fetch_errors.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
  counters_.blocks_local.fetch_add(n - missing, std::memory_order_relaxed);
  uint64_t done = 0;
  while (done < out.size()) {
    const uint64_t at = offset + done;
    const uint64_t in_block = at % kDiskBlockBytes;
    const uint64_t len = std::min<uint64_t>(kDiskBlockBytes - in_block, out.size() - done);
    fetcher_->copy(at / kDiskBlockBytes, in_block, out.subspan(done, len));
    done += len;
  }
  return Status::Ok();
}

RemoteDiskStats RemoteDisk::stats() const {
  RemoteDiskStats s;
  add_counters(counters_, s);
  s.blocks_on_host = fetcher_->blocks_here();
  return s;
}

}  // namespace sf::devices
