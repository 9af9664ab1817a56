// Snapshot: what a same-host fork hands to clones (DESIGN §4.4 step 2): the descriptor bytes and a
// shared handle on the frozen memfd that holds the parent's RAM at the fork instant.
// Boundary: a value type; the fork sequence itself is Vm::fork_snapshot, the clone side
// Vm::create_from_snapshot. The memfd stays open while any Snapshot copy exists, and stays alive
// (without an fd) while any clone maps it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "../base/unique_fd.h"
#include "../memory/snapshot_fd_source.h"

namespace sf::devices {
class BlockLayer;
}

namespace sf::vmm {

struct ForkTiming {
  uint64_t pause_ns = 0;    // parent out of KVM_RUN: pause() start → resume() done
  uint64_t capture_ns = 0;  // vCPU + device state capture and serialisation
  uint64_t freeze_ns = 0;   // RAM switched to copy-on-write (remap, or materialise + remap)
};

class Snapshot {
 public:
  Snapshot() = default;
  Snapshot(std::vector<uint8_t> descriptor, UniqueFd memfd, uint64_t ram_bytes, ForkTiming timing)
      : descriptor_(std::make_shared<const std::vector<uint8_t>>(std::move(descriptor))),
        memfd_(std::make_shared<const UniqueFd>(std::move(memfd))),
        ram_bytes_(ram_bytes),
        timing_(timing) {}

  bool valid() const { return descriptor_ != nullptr && memfd_ != nullptr && memfd_->valid(); }
  std::span<const uint8_t> descriptor() const {
    return descriptor_ ? std::span<const uint8_t>(*descriptor_) : std::span<const uint8_t>();
  }
  // The frozen RAM image: read-only by contract (writing it would change every clone's memory).
  int memfd() const { return memfd_ ? memfd_->get() : -1; }
  uint64_t ram_bytes() const { return ram_bytes_; }
  const ForkTiming& timing() const { return timing_; }
  // A VM with a disk: its disk at the fork instant (frozen), which every local clone's overlay sits on.
  const std::shared_ptr<devices::BlockLayer>& disk() const { return disk_; }
  void set_disk(std::shared_ptr<devices::BlockLayer> disk) { disk_ = std::move(disk); }
  // The frozen RAM as a page source, made once at the fork and shared by every lazy clone made here from it
  // (null: each clone makes its own).
  const std::shared_ptr<memory::SnapshotFdSource>& page_source() const { return page_source_; }
  void set_page_source(std::shared_ptr<memory::SnapshotFdSource> source) { page_source_ = std::move(source); }

 private:
  std::shared_ptr<const std::vector<uint8_t>> descriptor_;
  std::shared_ptr<const UniqueFd> memfd_;
  uint64_t ram_bytes_ = 0;
  ForkTiming timing_{};
  std::shared_ptr<devices::BlockLayer> disk_;
  std::shared_ptr<memory::SnapshotFdSource> page_source_;
};

}  // namespace sf::vmm
