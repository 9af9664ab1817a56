// Virtqueue: one split virtqueue (virtio 1.2 §2.7) seen from the device side, over guest RAM: the layout
// check, taking the next available chain with every descriptor validated, returning it on the used ring.
// Boundary: ring mechanics and bounds only; what a request means is the device's business, and which
// queue a notify names is the transport's.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "../base/status.h"
#include "../memory/guest_memory.h"
#include "virtio_spec.h"
#include "virtio_stats.h"

namespace sf::devices {

// Where the driver put a queue's three parts, and how many entries it has.
struct QueueLayout {
  uint16_t size = 0;
  uint64_t desc = 0;   // descriptor table
  uint64_t avail = 0;  // available ring (the driver area)
  uint64_t used = 0;   // used ring (the device area)
  bool operator==(const QueueLayout&) const = default;
};

// Size a power of two in [1, min(max_size, kMaxQueueSize)], each part aligned as the spec says and
// wholly inside one RAM region. EINVAL with the first rule broken.
Status check_layout(const memory::GuestMemory& memory, const QueueLayout& layout, uint16_t max_size);

// One guest buffer of a chain, inside RAM (checked when the chain was taken). Zero-length buffers are
// validated but not kept.
struct Segment {
  uint64_t gpa = 0;
  uint32_t len = 0;
};

// Why a chain was refused. The request fails alone; the queue goes on.
enum class ChainError : uint8_t {
  kNone = 0,
  kNextOutOfRange,         // a `next` index past the end of its table
  kLoop,                   // a descriptor reached twice
  kTooLong,                // more descriptors than a chain may have
  kAddressWraps,           // addr + len overflows 64 bits
  kOutOfRam,               // a buffer not wholly inside one RAM region
  kReadableAfterWritable,  // the spec orders device-readable buffers first
  kTooManyBytes,           // one direction over 4 GiB - 1 (the used ring's length is 32 bits)
  kIndirectNotNegotiated,  // INDIRECT flag without VIRTIO_F_INDIRECT_DESC
  kIndirectWithNext,       // INDIRECT and NEXT together
  kIndirectBadSize,        // a table of 0 bytes, not a multiple of 16, or over kMaxQueueSize entries
  kIndirectOutOfRam,       // the table itself outside RAM
  kNestedIndirect,         // an INDIRECT descriptor inside a table
};
const char* chain_error_text(ChainError error);

// A request taken from the available ring: its head index (what goes back on the used ring) and its
// buffers, device-readable ones first. Reusable: pop() refills it without giving its memory back.
class Chain {
 public:
  uint16_t head() const { return head_; }
  ChainError error() const { return error_; }
  std::span<const Segment> readable() const { return std::span(segments_).first(first_writable_); }
  std::span<const Segment> writable() const { return std::span(segments_).subspan(first_writable_); }
  uint64_t readable_bytes() const { return readable_bytes_; }
  uint64_t writable_bytes() const { return writable_bytes_; }

 private:
  friend class Virtqueue;
  void clear(uint16_t head);
  // Validates one descriptor's buffer and appends it.
  ChainError add(const memory::GuestMemory& memory, uint64_t addr, uint32_t len, bool writable);

  uint16_t head_ = 0;
  ChainError error_ = ChainError::kNone;
  std::vector<Segment> segments_;
  size_t first_writable_ = 0;
  bool seen_writable_ = false;  // zero-length writable buffers count too: they are not kept
  uint64_t readable_bytes_ = 0, writable_bytes_ = 0;
};

enum class PopResult : uint8_t {
  kEmpty,       // nothing new on the available ring (or the queue is not ready)
  kChain,       // the chain is valid
  kBadChain,    // the chain broke a rule (chain.error()): fail the request, push_used(chain, 0), go on
  kQueueError,  // the ring itself is broken (avail.idx ran ahead, a head index past the table): the
                // queue stops until the driver resets the device
};

// A queue's progress: what the fork descriptor carries so that a clone resumes where the parent was.
struct QueueIndices {
  uint16_t last_avail = 0;  // the next available-ring entry to take
  uint16_t used = 0;        // the used ring's idx as last published
  bool broken = false;
  bool operator==(const QueueIndices&) const = default;
};

// Threads: one device thread at a time pops, pushes and copies; enable/restore/reset come from the
// transport only while no device thread uses the queue (VirtioDevice::reset() stops them first). The
// guest runs concurrently on its vCPUs: avail.idx is read with acquire, used.idx written with release.
class Virtqueue {
 public:
  Virtqueue(memory::GuestMemory& memory, uint16_t max_size, VirtioCounters& counters)
      : memory_(memory), max_size_(max_size), counters_(counters) {}
  Virtqueue(const Virtqueue&) = delete;
  Virtqueue& operator=(const Virtqueue&) = delete;

  // The driver set QueueReady = 1: checks the layout (check_layout) and starts at index 0. On error the
  // queue stays unready. `indirect`: VIRTIO_F_INDIRECT_DESC was negotiated.
  Status enable(const QueueLayout& layout, bool indirect);
  // A clone's queue: the parent's layout and indices, checked against this VM's RAM. Reads no ring
  // memory (a lazy clone's pages come when touched, not at restore).
  Status restore(const QueueLayout& layout, bool indirect, const QueueIndices& indices);
  void reset();

  bool ready() const { return ready_.load(std::memory_order_acquire); }
  bool broken() const { return broken_.load(std::memory_order_acquire); }
  uint16_t max_size() const { return max_size_; }
  const QueueLayout& layout() const { return layout_; }
  QueueIndices indices() const { return {last_avail_, used_idx_, broken()}; }
  // Chains taken and not yet returned (what a fork's quiesce waits to reach 0).
  uint32_t in_flight() const { return in_flight_.load(std::memory_order_acquire); }
  memory::GuestMemory& memory() const { return memory_; }

  PopResult pop(Chain* chain);
  // Puts the chain on the used ring with `written` bytes (clamped to what the chain can take; a bad
  // chain gets 0) and publishes used.idx. False if the chain was not taken from this queue.
  bool push_used(const Chain& chain, uint32_t written);
  // After push_used: whether the driver wants an interrupt (it did not set VIRTQ_AVAIL_F_NO_INTERRUPT).
  // Flat guests poll and never ask; Linux guests will.
  bool interrupt_wanted() const;

  // Notification suppression (VIRTQ_USED_F_NO_NOTIFY): false tells the driver it may skip notifies because
  // the device looks at the queue by itself. Turning notifies back on is followed by a full fence, so that
  // the device's next look at avail.idx (has_available) sees what a driver published while they were off.
  void set_notify(bool wanted);
  // Whether the driver published entries the device has not taken (reads avail.idx; takes nothing).
  bool has_available() const;

  // Copies the chain's readable bytes from `offset` into `out` / `in` into its writable bytes from
  // `offset`. Returns how many bytes moved (fewer when the chain ends first).
  size_t read(const Chain& chain, uint64_t offset, std::span<uint8_t> out) const;
  size_t write(const Chain& chain, uint64_t offset, std::span<const uint8_t> in) const;

 private:
  ChainError walk(uint16_t head, Chain* chain) const;
  ChainError walk_indirect(uint64_t addr, uint32_t len, Chain* chain) const;
  void set_broken();
  uint16_t* avail_idx() const { return reinterpret_cast<uint16_t*>(avail_ + 2); }
  uint16_t* avail_flags() const { return reinterpret_cast<uint16_t*>(avail_); }
  uint16_t* used_idx_word() const { return reinterpret_cast<uint16_t*>(used_ + 2); }

  memory::GuestMemory& memory_;
  const uint16_t max_size_;
  VirtioCounters& counters_;

  QueueLayout layout_;
  bool indirect_ = false;
  // Host views of the three parts (checked inside RAM by enable/restore; the mapping never moves:
  // a fork remaps RAM at the same address).
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  uint16_t last_avail_ = 0;
  uint16_t used_idx_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> broken_{false};
  std::atomic<uint32_t> in_flight_{0};
};

}  // namespace sf::devices
