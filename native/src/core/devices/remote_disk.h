// RemoteDisk: the bottom layer of a clone's disk on another host than its master's (DESIGN §4.7): the
// fork's disk snapshot, read lazily block by block from wherever a BlockFetcher gets them (the master
// host's memserver, memserver/disk_fetcher.h) into host-local storage shared by that host's clones.
// Boundary: the BlockLayer face and its figures; no sockets here (devices sit below the memserver).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "../base/status.h"
#include "blk_backend.h"
#include "blk_stats.h"

namespace sf::devices {

// Where a remote disk's 4 KiB blocks come from. Shared by every clone of one snapshot on a host, so
// thread-safe: a block fetched for one clone is there for the others.
class BlockFetcher {
 public:
  virtual ~BlockFetcher() = default;
  // The disk snapshot's size in bytes (a multiple of kSectorBytes).
  virtual uint64_t disk_bytes() const = 0;
  // Whether block `block` is on this host already (a read of it costs no fetch).
  virtual bool has(uint64_t block) const = 0;
  // Blocks until [first, first + n) are on this host, or `cancel` turns true (ECANCELED), or the
  // source gives up (ETIMEDOUT when the memserver stops answering; the Status says why).
  virtual Status fetch(uint64_t first, uint64_t n, const std::atomic<bool>& cancel) = 0;
  // Asks for [first, first + n) without waiting (readahead); blocks already here are skipped.
  virtual void prefetch(uint64_t first, uint64_t n) = 0;
  // Copies `out.size()` bytes at `offset` inside block `block`, which has(block) (zeroes for a zero block).
  virtual void copy(uint64_t block, uint64_t offset, std::span<uint8_t> out) const = 0;
  // How many of the disk's blocks are on this host (figures).
  virtual uint64_t blocks_here() const = 0;
};

class RemoteDisk final : public BlockLayer {
 public:
  // Blocks asked for ahead of a sequential read (128 KiB): the guest's next read finds them here.
  static constexpr uint64_t kReadaheadBlocks = 32;

  static Result<std::shared_ptr<RemoteDisk>> create(std::shared_ptr<BlockFetcher> fetcher);
  RemoteDisk(const RemoteDisk&) = delete;
  RemoteDisk& operator=(const RemoteDisk&) = delete;

  uint64_t size() const override { return size_; }
  // Waits for the blocks the range needs that this host lacks (bounded by the fetcher's timeout); a
  // fetch that fails fails the read (the device answers IOERR; the VM goes on).
  Status read(uint64_t offset, std::span<uint8_t> out) override;
  bool block_present(uint64_t block) const override { return block < blocks_ && fetcher_->has(block); }
  // Ends every wait of this layer's reads at once (ECANCELED) and for good: the VM is going away.
  void cancel() { cancel_.store(true, std::memory_order_release); }

  RemoteDiskStats stats() const;

 private:
  explicit RemoteDisk(std::shared_ptr<BlockFetcher> fetcher);
  const std::shared_ptr<BlockFetcher> fetcher_;
  const uint64_t size_, blocks_;
  std::atomic<bool> cancel_{false};
  std::atomic<uint64_t> next_offset_{UINT64_MAX};  // where the last read ended: the next one is sequential there
  mutable RemoteDiskCounters counters_;
};

}  // namespace sf::devices
