// Helpers of the virtio tests: a test "guest driver" that lays out split rings in a GuestMemory and
// plays the driver's side of rings and registers, and EchoDevice, a small device that answers each
// request with its bytes transformed. Boundary: test support only (the device stands in for net/blk,
// which are not built yet; the driver side is what a guest does, written from the spec).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "devices/virtio_mmio.h"
#include "devices/virtio_spec.h"
#include "devices/virtqueue.h"
#include "memory/guest_memory.h"

namespace sf::devices::test {

inline std::unique_ptr<memory::GuestMemory> make_ram(uint64_t bytes = 4ull << 20) {
  auto m = memory::GuestMemory::create(bytes, /*huge_pages=*/false);
  EXPECT_TRUE(m.ok()) << m.status().message;
  return m.ok() ? std::move(m).value() : nullptr;
}

// A queue laid out the way Linux does it: table, then available ring, then used ring (4-aligned).
inline QueueLayout layout_at(uint64_t base, uint16_t size) {
  QueueLayout l;
  l.size = size;
  l.desc = base;
  l.avail = base + desc_table_bytes(size);
  l.used = (l.avail + avail_ring_bytes(size) + 3) & ~3ull;
  return l;
}

struct RawDesc {
  uint64_t addr = 0;
  uint32_t len = 0;
  uint16_t flags = 0;
  uint16_t next = 0;
};
static_assert(sizeof(RawDesc) == 16);

// The driver's side of one split ring (what a guest's virtio driver writes and reads).
class RingDriver {
 public:
  RingDriver(memory::GuestMemory& mem, const QueueLayout& layout) : mem_(mem), l_(layout) {}
  const QueueLayout& layout() const { return l_; }

  void set_desc(uint16_t index, const RawDesc& d) { ASSERT_TRUE(mem_.write(l_.desc + 16ull * index, d)); }
  void set_table_entry(uint64_t table, uint16_t index, const RawDesc& d) {
    ASSERT_TRUE(mem_.write(table + 16ull * index, d));
  }
  // Makes `head` available: ring entry first, then avail.idx with release (what virtio_wmb orders).
  void publish(uint16_t head) {
    const uint16_t idx = avail_idx_.load(std::memory_order_relaxed);
    ASSERT_TRUE(mem_.write<uint16_t>(l_.avail + 4 + 2ull * (idx & (l_.size - 1)), head));
    set_avail_idx(static_cast<uint16_t>(idx + 1));
  }
  void set_avail_idx(uint16_t idx) {
    avail_idx_.store(idx, std::memory_order_relaxed);
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(host(l_.avail + 2))).store(idx, std::memory_order_release);
  }
  void set_avail_flags(uint16_t flags) { ASSERT_TRUE(mem_.write<uint16_t>(l_.avail, flags)); }
  uint16_t used_idx() const {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(host(l_.used + 2))).load(std::memory_order_acquire);
  }
  struct UsedElem {
    uint32_t id = 0, len = 0;
  };
  UsedElem used(uint16_t n) const {  // the n-th used element ever (mod size)
    UsedElem e;
    EXPECT_TRUE(mem_.read_bytes(l_.used + 4 + 8ull * (n & (l_.size - 1)),
                                std::span<uint8_t>(reinterpret_cast<uint8_t*>(&e), sizeof e)));
    return e;
  }

 private:
  uint8_t* host(uint64_t gpa) const { return mem_.span(gpa, 2)->data(); }
  memory::GuestMemory& mem_;
  QueueLayout l_;
  std::atomic<uint16_t> avail_idx_{0};
};

// A device for the transport tests: one or more queues; each request's readable bytes come back in
// its writable buffers with every byte + 1. Records what the transport asked of it.
class EchoDevice final : public VirtioDevice {
 public:
  static constexpr uint32_t kId = 42;  // not a real device type: nothing here depends on one
  static constexpr uint64_t kOwnFeature = 1ull << 3;

  explicit EchoDevice(uint16_t queues = 1, uint16_t max_size = 256) : queues_(queues), max_size_(max_size) {}

  uint32_t device_id() const override { return kId; }
  uint64_t device_features() const override {
    // Also asks for transport bits the transport must not pass on (EVENT_IDX, packed rings).
    return kOwnFeature | kFeatureIndirectDesc | kFeatureEventIdx | kFeatureRingPacked;
  }
  uint16_t num_queues() const override { return queues_; }
  uint16_t max_queue_size(uint16_t) const override { return max_size_; }
  uint32_t config_bytes() const override { return 8; }
  void read_config(uint32_t offset, std::span<uint8_t> out) const override {
    uint8_t config[8];
    const uint32_t magic = 0xc0ffee00, reg = config_reg;
    std::memcpy(config, &magic, 4);
    std::memcpy(config + 4, &reg, 4);
    std::memcpy(out.data(), config + offset, out.size());
  }
  void write_config(uint32_t offset, std::span<const uint8_t> in) override {
    if (offset < 4) return;  // the first word is read-only
    uint8_t reg[4];
    std::memcpy(reg, &config_reg, 4);
    std::memcpy(reg + (offset - 4), in.data(), in.size());
    std::memcpy(&config_reg, reg, 4);
  }
  void activate(VirtioDeviceHost& host) override {
    host_ = &host;
    ++activations;
  }
  void queue_notify(uint16_t index) override {
    ++notifies;
    if (hold) return;  // leaves the request on the ring (tests of in-flight and quiesce)
    serve(index);
  }
  // Serves every available request of `index` (also what a device thread would do).
  void serve(uint16_t index) {
    Virtqueue& q = host_->queue(index);
    Chain chain;
    for (;;) {
      const PopResult r = q.pop(&chain);
      if (r == PopResult::kEmpty) break;
      if (r == PopResult::kQueueError) {
        host_->needs_reset();
        break;
      }
      if (r == PopResult::kBadChain) {
        last_error = chain.error();
        EXPECT_TRUE(q.push_used(chain, 0));
        continue;
      }
      std::vector<uint8_t> bytes(chain.readable_bytes());
      EXPECT_EQ(q.read(chain, 0, bytes), bytes.size());
      for (auto& b : bytes) ++b;
      const size_t n = q.write(chain, 0, bytes);
      EXPECT_TRUE(q.push_used(chain, static_cast<uint32_t>(n)));
    }
    host_->used_buffers(index);
  }
  // Takes one request and keeps it (a request in flight).
  bool take_one(uint16_t index, Chain* chain) { return host_->queue(index).pop(chain) == PopResult::kChain; }
  void reset() override {
    host_ = nullptr;
    ++resets;
  }
  bool quiesce(std::chrono::milliseconds) override { return !stuck; }
  std::vector<uint8_t> capture_state() const override {
    std::vector<uint8_t> s(4);
    std::memcpy(s.data(), &config_reg, 4);
    return s;
  }
  Status restore_state(std::span<const uint8_t> state) override {
    if (state.size() != 4) return Status::Error(EINVAL, "echo device state must be 4 bytes");
    std::memcpy(&config_reg, state.data(), 4);
    return Status::Ok();
  }

  VirtioDeviceHost* host() const { return host_; }

  uint32_t config_reg = 0;
  int activations = 0, resets = 0, notifies = 0;
  bool hold = false, stuck = false;
  ChainError last_error = ChainError::kNone;

 private:
  uint16_t queues_, max_size_;
  VirtioDeviceHost* host_ = nullptr;
};

// ---- register access as a driver does it (aligned 32-bit) ----

inline uint32_t rd(VirtioMmio& t, uint32_t offset) {
  uint8_t b[4];
  t.read(offset, b);
  uint32_t v;
  std::memcpy(&v, b, 4);
  return v;
}
inline void wr(VirtioMmio& t, uint32_t offset, uint32_t value) {
  uint8_t b[4];
  std::memcpy(b, &value, 4);
  t.write(offset, b);
}

inline uint64_t device_features(VirtioMmio& t) {
  wr(t, kMmioDeviceFeaturesSel, 0);
  const uint64_t low = rd(t, kMmioDeviceFeatures);
  wr(t, kMmioDeviceFeaturesSel, 1);
  return low | uint64_t{rd(t, kMmioDeviceFeatures)} << 32;
}

// ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; true if the device kept FEATURES_OK (spec §3.1.1).
inline bool negotiate(VirtioMmio& t, uint64_t features) {
  wr(t, kMmioStatus, 0);
  wr(t, kMmioStatus, kStatusAcknowledge);
  wr(t, kMmioStatus, kStatusAcknowledge | kStatusDriver);
  wr(t, kMmioDriverFeaturesSel, 0);
  wr(t, kMmioDriverFeatures, static_cast<uint32_t>(features));
  wr(t, kMmioDriverFeaturesSel, 1);
  wr(t, kMmioDriverFeatures, static_cast<uint32_t>(features >> 32));
  wr(t, kMmioStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  return (rd(t, kMmioStatus) & kStatusFeaturesOk) != 0;
}

inline void setup_queue(VirtioMmio& t, uint16_t index, const QueueLayout& l) {
  wr(t, kMmioQueueSel, index);
  wr(t, kMmioQueueNum, l.size);
  wr(t, kMmioQueueDescLow, static_cast<uint32_t>(l.desc));
  wr(t, kMmioQueueDescHigh, static_cast<uint32_t>(l.desc >> 32));
  wr(t, kMmioQueueDriverLow, static_cast<uint32_t>(l.avail));
  wr(t, kMmioQueueDriverHigh, static_cast<uint32_t>(l.avail >> 32));
  wr(t, kMmioQueueDeviceLow, static_cast<uint32_t>(l.used));
  wr(t, kMmioQueueDeviceHigh, static_cast<uint32_t>(l.used >> 32));
  wr(t, kMmioQueueReady, 1);
}

inline void driver_ok(VirtioMmio& t) {
  wr(t, kMmioStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
}

}  // namespace sf::devices::test
