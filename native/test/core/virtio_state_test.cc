// Tests of a virtio device's fork state: quiesce and capture with a driver mid-life, the binary form's
// round trip, a clone's transport resuming exactly where the parent was (and each going on alone),
// restores that do not fit, and decode of truncated, flipped, garbled and well-sealed hostile input.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "devices/virtio_mmio.h"
#include "devices/virtio_state.h"
#include "virtio_test_support.h"

namespace sf::devices {
namespace {

using test::driver_ok;
using test::EchoDevice;
using test::layout_at;
using test::negotiate;
using test::rd;
using test::RingDriver;
using test::setup_queue;
using test::wr;

constexpr uint64_t kRam = 4ull << 20;
constexpr uint64_t kRings = 0x300000;  // high in RAM: a clone with less RAM cannot hold them
constexpr uint64_t kBufs = 0x100000;
constexpr uint64_t kWanted = kFeatureVersion1 | kFeatureIndirectDesc | EchoDevice::kOwnFeature;

void reseal(std::vector<uint8_t>& b) {
  const uint64_t sum = virtio_state_checksum(std::span<const uint8_t>(b).subspan(kVirtioStateHeaderBytes));
  std::memcpy(b.data() + 16, &sum, 8);
}

std::unique_ptr<VirtioMmio> transport(memory::GuestMemory& mem, EchoDevice** dev, uint16_t queues = 2,
                                      uint16_t max = 256) {
  auto d = std::make_unique<EchoDevice>(queues, max);
  *dev = d.get();
  auto t = VirtioMmio::create(mem, std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().message;
  return t.ok() ? std::move(t).value() : nullptr;
}

// One echo request on queue 0 of `t`, checked.
void round_trip(VirtioMmio& t, RingDriver& ring, memory::GuestMemory& mem, uint8_t value) {
  const uint16_t used = ring.used_idx();
  ASSERT_TRUE(mem.write<uint8_t>(kBufs, value));
  ring.set_desc(0, {kBufs, 1, kDescFlagNext, 1});
  ring.set_desc(1, {kBufs + 0x100, 1, kDescFlagWrite, 0});
  ring.publish(0);
  wr(t, kMmioQueueNotify, 0);
  ASSERT_EQ(ring.used_idx(), static_cast<uint16_t>(used + 1));
  EXPECT_EQ(*mem.read<uint8_t>(kBufs + 0x100), static_cast<uint8_t>(value + 1));
}

class VirtioStateTest : public ::testing::Test {
 protected:
  // A parent whose driver is mid-life: queue 0 ready and used 3 times, queue 1 half set up, the
  // device's own register written, an interrupt pending, the config generation moved.
  void SetUp() override {
    mem_ = test::make_ram(kRam);
    ASSERT_TRUE(mem_);
    t_ = transport(*mem_, &dev_);
    ASSERT_TRUE(t_);
    ASSERT_TRUE(negotiate(*t_, kWanted));
    setup_queue(*t_, 0, layout_at(kRings, 16));
    wr(*t_, kMmioQueueSel, 1);
    wr(*t_, kMmioQueueNum, 8);
    wr(*t_, kMmioQueueDescLow, 0x7000);
    driver_ok(*t_);
    wr(*t_, kMmioConfig + 4, 0x55aa);
    ring_ = std::make_unique<RingDriver>(*mem_, layout_at(kRings, 16));
    for (uint8_t i = 0; i < 3; ++i) round_trip(*t_, *ring_, *mem_, i);
    dev_->host()->config_changed();
    ASSERT_TRUE(t_->quiesce(std::chrono::milliseconds(100)).ok());
    auto s = t_->capture();
    ASSERT_TRUE(s.ok()) << s.status().message;
    state_ = std::move(s).value();
    bytes_ = encode_virtio_state(state_);
  }

  std::unique_ptr<memory::GuestMemory> mem_;
  EchoDevice* dev_ = nullptr;
  std::unique_ptr<VirtioMmio> t_;
  std::unique_ptr<RingDriver> ring_;
  VirtioState state_;
  std::vector<uint8_t> bytes_;
};

TEST_F(VirtioStateTest, CaptureHoldsWhatTheDriverDid) {
  EXPECT_EQ(state_.device_id, EchoDevice::kId);
  EXPECT_EQ(state_.status, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  EXPECT_EQ(state_.driver_features, kWanted);
  ASSERT_EQ(state_.queues.size(), 2u);
  EXPECT_TRUE(state_.queues[0].ready);
  EXPECT_EQ(state_.queues[0].num, 16);
  EXPECT_EQ(state_.queues[0].driver, layout_at(kRings, 16).avail);
  EXPECT_EQ(state_.queues[0].indices, (QueueIndices{3, 3, false}));
  EXPECT_FALSE(state_.queues[1].ready);
  EXPECT_EQ(state_.queues[1].num, 8);
  EXPECT_EQ(state_.queues[1].desc, 0x7000u);
  EXPECT_EQ(state_.queue_sel, 1u);
  EXPECT_EQ(state_.config_generation, 1u);
  EXPECT_EQ(state_.interrupt_status, kInterruptUsedBuffer | kInterruptConfigChange);
  EXPECT_EQ(state_.device.size(), 4u);
  EXPECT_EQ(bytes_.size(), kVirtioStateHeaderBytes + kVirtioStateTransportBytes + 2 * kVirtioStateQueueBytes + 4);
  auto back = decode_virtio_state(bytes_);
  ASSERT_TRUE(back.ok()) << back.status().message;
  EXPECT_EQ(back.value(), state_);
  EXPECT_EQ(encode_virtio_state(back.value()), bytes_);
}

TEST_F(VirtioStateTest, AClonesTransportResumesExactlyWhereTheParentWas) {
  // The clone's RAM: a copy of the parent's (what the fork's copy-on-write mapping shows it).
  auto clone_mem = test::make_ram(kRam);
  ASSERT_TRUE(clone_mem);
  std::vector<uint8_t> all(kRam);
  ASSERT_TRUE(mem_->read_bytes(0, all));
  ASSERT_TRUE(clone_mem->write_bytes(0, all));
  EchoDevice* clone_dev = nullptr;
  auto clone = transport(*clone_mem, &clone_dev);
  ASSERT_TRUE(clone);
  auto decoded = decode_virtio_state(bytes_);
  ASSERT_TRUE(decoded.ok());
  Status s = clone->restore(decoded.value());
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(clone_dev->activations, 1) << "the parent's driver had reached DRIVER_OK";
  EXPECT_EQ(clone_dev->config_reg, 0x55aau) << "device state restored";

  // Every register reads as in the parent.
  for (uint32_t reg : {kMmioStatus, kMmioInterruptStatus, kMmioConfigGeneration, kMmioDeviceId, kMmioConfig + 4}) {
    EXPECT_EQ(rd(*clone, reg), rd(*t_, reg)) << "register " << reg;
  }
  for (uint32_t q : {0u, 1u}) {
    wr(*t_, kMmioQueueSel, q);
    wr(*clone, kMmioQueueSel, q);
    EXPECT_EQ(rd(*clone, kMmioQueueReady), rd(*t_, kMmioQueueReady)) << q;
    EXPECT_EQ(rd(*clone, kMmioQueueNumMax), rd(*t_, kMmioQueueNumMax)) << q;
  }
  EXPECT_EQ(clone->features(), t_->features());
  auto again = clone->capture();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), state_) << "captured again, the clone is the parent's state";

  // The clone's driver goes on from index 3, in its own RAM; the parent's is untouched and goes on too.
  RingDriver clone_ring(*clone_mem, layout_at(kRings, 16));
  clone_ring.set_avail_idx(3);
  round_trip(*clone, clone_ring, *clone_mem, 40);
  EXPECT_EQ(clone_ring.used_idx(), 4);
  EXPECT_EQ(ring_->used_idx(), 3);
  EXPECT_EQ(*mem_->read<uint8_t>(kBufs + 0x100), 3) << "the parent's last answer (2 + 1)";
  t_->resume();
  round_trip(*t_, *ring_, *mem_, 90);
  EXPECT_EQ(ring_->used_idx(), 4);
  EXPECT_EQ(*clone_mem->read<uint8_t>(kBufs + 0x100), 41);
  // The clone's half-set-up queue 1 can be finished the way the parent's driver would have.
  wr(*clone, kMmioQueueSel, 1);
  wr(*clone, kMmioQueueDescLow, 0x7000);
  wr(*clone, kMmioQueueDriverLow, 0x7080);
  wr(*clone, kMmioQueueDeviceLow, 0x7100);
  wr(*clone, kMmioQueueReady, 1);
  EXPECT_EQ(rd(*clone, kMmioQueueReady), 1u);
  EXPECT_EQ(clone->queue(1).layout(), (QueueLayout{8, 0x7000, 0x7080, 0x7100}));
}

TEST_F(VirtioStateTest, CaptureRefusesRequestsInFlightAndQuiesceWaitsBounded) {
  t_->resume();
  ring_->set_desc(0, {kBufs, 1, kDescFlagNext, 1});
  ring_->set_desc(1, {kBufs + 0x100, 1, kDescFlagWrite, 0});
  ring_->publish(0);
  Chain held;
  ASSERT_TRUE(dev_->take_one(0, &held));
  auto s = t_->capture();
  EXPECT_EQ(s.status().code, EBUSY);
  EXPECT_EQ(t_->quiesce(std::chrono::milliseconds(10)).code, EBUSY) << "the device says idle but holds a chain";
  dev_->stuck = true;
  Status q = t_->quiesce(std::chrono::milliseconds(10));
  EXPECT_EQ(q.code, ETIMEDOUT);
  std::printf("[ quiesce ] %s\n", q.message.c_str());
  dev_->stuck = false;
  ASSERT_TRUE(t_->queue(0).push_used(held, 1));
  EXPECT_TRUE(t_->quiesce(std::chrono::milliseconds(10)).ok());
  auto ok = t_->capture();
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->queues[0].indices, (QueueIndices{4, 4, false}));
}

TEST_F(VirtioStateTest, RestoreRefusesWhatDoesNotFitAndLeavesTheTransportFresh) {
  auto expect_refused = [&](VirtioMmio& t, EchoDevice& d, const VirtioState& s, const char* what) {
    Status st = t.restore(s);
    EXPECT_FALSE(st.ok()) << what;
    std::printf("[ restore ] %s: %s\n", what, st.message.c_str());
    EXPECT_EQ(t.status(), 0u) << what;
    EXPECT_FALSE(t.queue(0).ready()) << what;
    EXPECT_EQ(d.activations, 0) << what;
    // Still fresh: a driver can start over on it.
    EXPECT_TRUE(negotiate(t, kWanted)) << what;
    wr(t, kMmioStatus, 0);
  };
  EchoDevice* d = nullptr;
  auto other = transport(*mem_, &d, 1);
  expect_refused(*other, *d, state_, "one queue where the parent had two");
  auto small_queues = transport(*mem_, &d, 2, 8);
  expect_refused(*small_queues, *d, state_, "queue 0 larger than this device allows");
  auto fresh = transport(*mem_, &d);
  VirtioState s = state_;
  s.device_id = 43;
  expect_refused(*fresh, *d, s, "another device type");
  s = state_;
  s.device_features |= 1ull << 5;
  expect_refused(*fresh, *d, s, "the parent's device made another offer");
  s = state_;
  s.device = {1, 2, 3};
  expect_refused(*fresh, *d, s, "device state the device refuses");
  s = state_;
  s.queues[0].indices = {5, 4, false};
  expect_refused(*fresh, *d, s, "a request in flight");
  auto small_mem = test::make_ram(2ull << 20);
  auto in_small = transport(*small_mem, &d);
  expect_refused(*in_small, *d, state_, "rings outside the clone's RAM");
  // Only a fresh transport takes a state.
  ASSERT_TRUE(negotiate(*fresh, kWanted));
  EXPECT_EQ(fresh->restore(state_).code, EBUSY);
  wr(*fresh, kMmioStatus, 0);
  EXPECT_TRUE(fresh->restore(state_).ok());
}

TEST_F(VirtioStateTest, TruncatedFlippedAndPaddedBytesAreRejected) {
  for (size_t n = 0; n < bytes_.size(); ++n) {
    auto d = decode_virtio_state(std::span<const uint8_t>(bytes_.data(), n));
    ASSERT_FALSE(d.ok()) << "accepted a state truncated to " << n << " bytes";
    ASSERT_FALSE(d.status().message.empty());
  }
  std::vector<uint8_t> b = bytes_;
  for (size_t i = 0; i < b.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0x5a}) {
      b[i] ^= flip;
      ASSERT_FALSE(decode_virtio_state(b).ok()) << "accepted byte " << i << " flipped with " << int(flip);
      b[i] ^= flip;
    }
  }
  b.push_back(0);
  EXPECT_FALSE(decode_virtio_state(b).ok()) << "trailing garbage";
}

TEST_F(VirtioStateTest, WellSealedButImpossibleStatesAreRejected) {
  auto reject = [&](const std::function<void(VirtioState&)>& mutate, const char* what) {
    VirtioState s = state_;
    mutate(s);
    auto d = decode_virtio_state(encode_virtio_state(s));
    EXPECT_FALSE(d.ok()) << what;
    EXPECT_FALSE(check_virtio_state(s).ok()) << what;
    if (!d.ok()) std::printf("[ hostile ] %s: %s\n", what, d.status().message.c_str());
  };
  reject([](VirtioState& s) { s.device_id = 0; }, "device id 0");
  reject([](VirtioState& s) { s.status |= 0x10; }, "unknown status bit");
  reject([](VirtioState& s) { s.status = kStatusDriver; }, "DRIVER without ACKNOWLEDGE");
  reject([](VirtioState& s) { s.status = kStatusAcknowledge | kStatusFeaturesOk; }, "FEATURES_OK without DRIVER");
  reject([](VirtioState& s) { s.status = kStatusAcknowledge | kStatusDriver | kStatusDriverOk; },
         "DRIVER_OK without FEATURES_OK");
  reject([](VirtioState& s) { s.driver_features |= 1ull << 7; }, "a feature that was not offered");
  reject([](VirtioState& s) { s.device_features &= ~kFeatureVersion1; }, "an offer without VERSION_1");
  reject([](VirtioState& s) { s.driver_features &= ~kFeatureVersion1; }, "FEATURES_OK without VERSION_1");
  reject([](VirtioState& s) { s.interrupt_status = 4; }, "unknown interrupt bit");
  reject([](VirtioState& s) { s.queues.clear(); }, "no queues");
  reject([](VirtioState& s) { s.queues.resize(kMaxQueues + 1); }, "too many queues");
  reject([](VirtioState& s) { s.device.resize(kVirtioDeviceStateMax + 1); }, "device state too large");
  reject([](VirtioState& s) { s.queues[1].num = 2048; }, "an unready queue too large");
  reject([](VirtioState& s) { s.queues[0].num = 24; }, "a ready queue of 24 entries");
  reject([](VirtioState& s) { s.queues[0].num = 0; }, "a ready queue of 0 entries");
  reject([](VirtioState& s) { s.queues[0].desc += 8; }, "a misaligned descriptor table");
  reject([](VirtioState& s) { s.queues[0].driver += 1; }, "a misaligned available ring");
  reject([](VirtioState& s) { s.queues[0].device += 2; }, "a misaligned used ring");
  reject([](VirtioState& s) { s.queues[0].indices.used -= 1; }, "a request in flight");
  reject([](VirtioState& s) { s.queues[1].indices.last_avail = 1; }, "progress on an unready queue");
  reject(
      [](VirtioState& s) {
        s.status = kStatusAcknowledge | kStatusDriver;
        s.driver_features = 0;
      },
      "a ready queue before FEATURES_OK");

  auto reject_raw = [&](const std::function<void(std::vector<uint8_t>&)>& mutate, const char* what) {
    std::vector<uint8_t> b = bytes_;
    mutate(b);
    reseal(b);
    auto d = decode_virtio_state(b);
    EXPECT_FALSE(d.ok()) << what;
    if (!d.ok()) std::printf("[ hostile ] %s: %s\n", what, d.status().message.c_str());
  };
  auto put16 = [](std::vector<uint8_t>& b, size_t at, uint16_t v) { std::memcpy(b.data() + at, &v, 2); };
  auto put32 = [](std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); };
  const size_t q0 = kVirtioStateHeaderBytes + kVirtioStateTransportBytes;
  reject_raw([&](auto& b) { put32(b, 8, kVirtioStateVersion + 1); }, "a newer version");
  reject_raw([&](auto& b) { put32(b, 8, 0); }, "version 0");
  reject_raw([&](auto& b) { b[0] ^= 1; }, "wrong magic");
  reject_raw([&](auto& b) { put32(b, 12, static_cast<uint32_t>(b.size() + 32)); }, "total says more");
  reject_raw([&](auto& b) { put16(b, 24 + 46, 1); }, "reserved 16 bits");
  reject_raw([&](auto& b) { put32(b, 24 + 52, 1); }, "reserved 32 bits");
  reject_raw([&](auto& b) { put16(b, 24 + 44, 3); }, "queue count disagrees with the length");
  reject_raw([&](auto& b) { put16(b, 24 + 44, 0xffff); }, "huge queue count");
  reject_raw([&](auto& b) { put32(b, 24 + 48, 5); }, "device bytes disagree with the length");
  reject_raw([&](auto& b) { put32(b, 24 + 48, 0xffffffffu); }, "huge device bytes");
  reject_raw([&](auto& b) { put16(b, q0 + 2, 1 | 8); }, "unknown queue flag");
  reject_raw([&](auto& b) { put16(b, q0 + kVirtioStateQueueBytes + 2, 2); }, "broken but not ready");
  reject_raw(
      [&](auto& b) {
        b.resize(b.size() - 4);
        put32(b, 12, static_cast<uint32_t>(b.size()));
      },
      "device bytes cut off (total patched)");
}

// Random bodies behind a valid header: decode must never crash, and whatever it accepts must be a
// state it would have written itself.
TEST_F(VirtioStateTest, RandomSealedBodiesNeverCrashAndAcceptedOnesRoundTrip) {
  std::mt19937_64 rng(99);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> b = bytes_;
    // Keep magic/version/total; scramble a few bytes of the body, or all of it.
    if (round % 10 == 0) {
      for (size_t i = kVirtioStateHeaderBytes; i < b.size(); ++i) b[i] = static_cast<uint8_t>(rng());
    } else {
      for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
        b[kVirtioStateHeaderBytes + rng() % (b.size() - kVirtioStateHeaderBytes)] = static_cast<uint8_t>(rng());
      }
    }
    reseal(b);
    auto d = decode_virtio_state(b);
    if (!d.ok()) continue;
    ++accepted;
    ASSERT_TRUE(check_virtio_state(d.value()).ok());
    ASSERT_EQ(encode_virtio_state(d.value()), b);
  }
  std::printf("[ fuzz ] %d of 20000 scrambled states were well-formed\n", accepted);
}

}  // namespace
}  // namespace sf::devices
