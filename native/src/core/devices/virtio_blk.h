// VirtioBlk: the virtio-blk device (device id 2, virtio 1.2 §5.2): one request queue served by a device
// thread, read/write/flush/get-id against a BlockLayer stack (disk_image.h, cow_overlay.h), every request
// checked before a byte moves. Boundary: the device side of virtio-blk; the transport is VirtioMmio's,
// the bytes the layers'. Which layers a VM gets (and a clone after a fork) is the caller's choice.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../base/status.h"
#include "../base/thread.h"
#include "../base/unique_fd.h"
#include "blk_backend.h"
#include "blk_stats.h"
#include "virtio_device.h"

namespace sf::devices {

// Device feature bits (spec §5.2.3) this device offers.
inline constexpr uint64_t kBlkFeatureSegMax = 1ull << 2;
inline constexpr uint64_t kBlkFeatureBlkSize = 1ull << 6;
inline constexpr uint64_t kBlkFeatureFlush = 1ull << 9;

// Request types and status values (spec §5.2.6).
inline constexpr uint32_t kBlkTypeIn = 0;
inline constexpr uint32_t kBlkTypeOut = 1;
inline constexpr uint32_t kBlkTypeFlush = 4;
inline constexpr uint32_t kBlkTypeGetId = 8;
inline constexpr uint8_t kBlkStatusOk = 0;
inline constexpr uint8_t kBlkStatusIoErr = 1;
inline constexpr uint8_t kBlkStatusUnsupp = 2;

inline constexpr uint64_t kBlkHeaderBytes = 16;  // {le32 type, le32 reserved, le64 sector}
inline constexpr size_t kBlkIdBytes = 20;        // GET_ID's answer, NUL-padded
inline constexpr uint16_t kBlkQueueSize = 256;
// Data segments per request: a direct chain must also hold the header and the status descriptors.
inline constexpr uint32_t kBlkSegMax = kBlkQueueSize - 2;
// Configuration space offsets (spec §5.2.4) up to blk_size, the last field offered.
inline constexpr uint32_t kBlkConfigCapacity = 0;  // le64, in 512-byte sectors
inline constexpr uint32_t kBlkConfigSegMax = 12;   // le32
inline constexpr uint32_t kBlkConfigBlkSize = 20;  // le32
inline constexpr uint32_t kBlkConfigBytes = 24;

// What a captured virtio-blk state (VirtioBlk::capture_state, in the fork descriptor) records: the disk's
// size — a clone on another host learns its parent's disk snapshot geometry from it — and its GET_ID
// answer, which a clone's device gives too. EINVAL for a state this build cannot read (or an id create()
// would refuse).
struct BlkState {
  uint64_t capacity_bytes = 0;
  std::string id;
};
Result<BlkState> parse_blk_state(std::span<const uint8_t> state);
Result<uint64_t> blk_state_capacity(std::span<const uint8_t> state);

class VirtioBlk final : public VirtioDevice {
 public:
  // Requests served per wake-up before the thread looks at stop/quiesce/reset again.
  static constexpr uint32_t kBudget = 32;

  // `disk`: the top of the VM's layer stack. `id`: what GET_ID answers (at most kBlkIdBytes printable
  // ASCII characters; Linux shows it as /sys/block/vda/serial).
  static Result<std::unique_ptr<VirtioBlk>> create(std::shared_ptr<BlockLayer> disk, const std::string& id);
  ~VirtioBlk() override;  // stops and joins the device thread

  uint32_t device_id() const override { return kDeviceIdBlock; }
  uint64_t device_features() const override;
  uint16_t num_queues() const override { return 1; }
  uint16_t max_queue_size(uint16_t) const override { return kBlkQueueSize; }
  uint32_t config_bytes() const override { return kBlkConfigBytes; }
  void read_config(uint32_t offset, std::span<uint8_t> out) const override;
  void activate(VirtioDeviceHost& host) override;
  // Hands the work to the device thread (an eventfd write): the vCPU goes back to the guest at once.
  void queue_notify(uint16_t index) override;
  int notify_fd(uint16_t index) const override { return index == 0 ? wake_.get() : -1; }
  void reset() override;
  bool quiesce(std::chrono::milliseconds limit) override;
  void resume() override;
  // The disk's size and id: a clone's device refuses a parent whose disk size differs.
  std::vector<uint8_t> capture_state() const override;
  Status restore_state(std::span<const uint8_t> state) override;

  // Fork: the master's device goes on over its new overlay (fork_disk). Only while quiesced or not
  // activated (EBUSY otherwise), and only to a disk of the same size (the guest knows its capacity).
  Status rebind(std::shared_ptr<BlockLayer> disk);
  std::shared_ptr<BlockLayer> disk() const;
  BlkStats stats() const;

 private:
  VirtioBlk(std::shared_ptr<BlockLayer> disk, const std::string& id, UniqueFd wake);
  void run();
  void wake();
  // Recomputes yield_ from the flags below (under mu_).
  void update_yield();
  // Serves up to kBudget chains; true when it stopped with work possibly left.
  bool serve(VirtioDeviceHost& host, BlockLayer& disk);
  // One well-formed chain: the bytes written into it (status included), or 0 with no status byte.
  uint32_t handle(Virtqueue& q, const Chain& chain, BlockLayer& disk);
  // Moves `len` bytes between the disk at `disk_offset` and the chain's segments, `skip` bytes in.
  Status transfer(Virtqueue& q, std::span<const Segment> segments, uint64_t skip, uint64_t len, uint64_t disk_offset,
                  BlockLayer& disk, bool to_guest);

  const uint64_t capacity_bytes_;
  char id_[kBlkIdBytes] = {};
  UniqueFd wake_;  // eventfd: notifies, activation, resume, stop
  mutable BlkCounters counters_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::shared_ptr<BlockLayer> disk_;  // under mu_
  VirtioDeviceHost* host_ = nullptr;  // under mu_: set by activate, cleared by reset
  bool stop_ = false, hold_ = false;  // under mu_: destruction; quiesce until resume
  bool busy_ = false;                 // under mu_: the thread is inside serve()
  std::atomic<bool> yield_{true};     // stop_ || hold_ || !host_: checked between requests
  Chain chain_;                       // the device thread's
  bool broken_seen_ = false;          // the device thread's: the queue error is counted already
  Thread thread_;                     // last: joined before the members it uses go
};

}  // namespace sf::devices
