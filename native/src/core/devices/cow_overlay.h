// CowOverlay: a copy-on-write layer over any read-only layer (a base image, a fork's frozen snapshot,
// later a remote one): written 4 KiB blocks live in a sparse, unnamed file, a presence bitmap says which,
// and everything else is read from below. fork_disk() turns a VM's disk into a snapshot plus a fresh
// overlay (DESIGN §4.7); each clone stacks its own overlay on the same snapshot.
// Boundary: one layer's bytes and bookkeeping; which VM uses it, and when, is the caller's business.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "../base/status.h"
#include "../base/unique_fd.h"
#include "../memory/presence_bitmap.h"
#include "blk_backend.h"
#include "blk_stats.h"

namespace sf::devices {

// What a fallback overlay file is called for the instant it has a name (see CowOverlay::create).
inline constexpr const char* kOverlayFilePrefix = "sf-overlay-";

struct DiskFork;

// Every overlay is transient, the master's included: its VM lives in this process and ends with it, so
// a disk the VM can never read again is worth nothing, and persisting the bitmap would only buy stale
// files to clean up. The data file therefore has no name: created with O_TMPFILE, it is freed by the
// kernel when the last layer holding it goes (the clone ends, the process crashes), and nothing needs
// deleting. Where the file system lacks O_TMPFILE the file is created named and unlinked at once; a
// crash in between leaves a kOverlayFilePrefix file that sweep_overlays() removes at the next start.
class CowOverlay final : public BlockLayer {
 public:
  // An empty overlay over `lower` (which must not change while this overlay lives: a base image or a
  // frozen layer), its data file in `dir` (a directory on a file system with sparse files). `named`:
  // take the fallback path even where O_TMPFILE works (tests of it).
  static Result<std::shared_ptr<CowOverlay>> create(std::shared_ptr<BlockLayer> lower, const std::string& dir,
                                                    bool named = false);
  CowOverlay(const CowOverlay&) = delete;
  CowOverlay& operator=(const CowOverlay&) = delete;

  uint64_t size() const override { return size_; }
  // Runs of present blocks come from the file, runs of absent ones from the layer below.
  Status read(uint64_t offset, std::span<uint8_t> out) override;
  // An absent block only partly covered by the write is copied up first (read from below, merged,
  // written whole), so a present block always holds a whole block of the disk's current bytes.
  Status write(uint64_t offset, std::span<const uint8_t> in) override;
  // fdatasync of the data file (a frozen overlay has nothing new to sync).
  Status flush() override;
  bool writable() const override { return !frozen_.load(std::memory_order_acquire); }
  void freeze() override;
  bool block_present(uint64_t block) const override { return present_.test(block); }

  OverlayStats stats() const;
  const std::shared_ptr<BlockLayer>& lower() const { return lower_; }
  // The data file (tests and figures: its allocation, its link count).
  int fd() const { return fd_.get(); }

 private:
  friend Result<DiskFork> fork_disk(std::shared_ptr<BlockLayer> top, const std::string& dir);
  // create() without the check that `lower` is read-only (fork_disk freezes it right after).
  static Result<std::shared_ptr<CowOverlay>> make(std::shared_ptr<BlockLayer> lower, const std::string& dir,
                                                  bool named);
  CowOverlay(std::shared_ptr<BlockLayer> lower, UniqueFd fd);
  uint64_t block_end(uint64_t block) const { return std::min((block + 1) * kDiskBlockBytes, size_); }
  // Whether writing [offset, end) must copy `block` up first: absent and not wholly covered.
  bool needs_copy_up(uint64_t block, uint64_t offset, uint64_t end) const;
  // Writes `block` whole: its bytes from below with the part of `in` (at `offset`) that falls in it.
  Status copy_up(uint64_t block, uint64_t offset, std::span<const uint8_t> in);

  const std::shared_ptr<BlockLayer> lower_;
  const UniqueFd fd_;
  const uint64_t size_;
  memory::PresenceBitmap present_;
  std::mutex write_mu_;  // one write (or freeze) at a time: copy-ups read-modify-write whole blocks
  std::atomic<bool> frozen_{false};
  mutable OverlayCounters counters_;
};

// A VM's disk at a fork: `snapshot` is its top layer frozen (the base plus every write so far), which
// each clone's overlay and `master` (the parent's fresh writable overlay, in `dir`) stack on. The new
// overlay is made before anything is frozen, so a failure leaves the disk as it was.
struct DiskFork {
  std::shared_ptr<BlockLayer> snapshot;
  std::shared_ptr<CowOverlay> master;
};
Result<DiskFork> fork_disk(std::shared_ptr<BlockLayer> top, const std::string& dir);

// Removes kOverlayFilePrefix files from `dir` (what a crash can leave on the fallback path); returns
// how many. Harmless to a live overlay: its file is open and was unlinked (or is about to be) anyway.
Result<uint32_t> sweep_overlays(const std::string& dir);

}  // namespace sf::devices
