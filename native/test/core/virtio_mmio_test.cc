// Tests of the virtio-mmio transport played from the driver's side: identity registers, the status
// handshake and feature negotiation (and every way a driver can get them wrong), queue setup, a request
// round trip through QueueNotify, access widths, interrupts and config generation. Needs no KVM.
#include <gtest/gtest.h>

#include "devices/virtio_mmio.h"
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

constexpr uint64_t kRings = 0x10000;
constexpr uint64_t kBufs = 0x100000;
constexpr uint32_t kHandshake = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk;
constexpr uint64_t kWanted = kFeatureVersion1 | kFeatureIndirectDesc | EchoDevice::kOwnFeature;

class VirtioMmioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = test::make_ram();
    ASSERT_TRUE(mem_);
    auto dev = std::make_unique<EchoDevice>(2, 256);
    dev_ = dev.get();
    auto t = VirtioMmio::create(*mem_, std::move(dev));
    ASSERT_TRUE(t.ok()) << t.status().message;
    t_ = std::move(t).value();
  }
  uint64_t bad() const { return t_->stats().bad_accesses; }
  // Handshake, queue 0 of 16 entries, DRIVER_OK: a device ready to serve.
  void bring_up() {
    const int activations = dev_->activations;
    ASSERT_TRUE(negotiate(*t_, kWanted));
    setup_queue(*t_, 0, layout_at(kRings, 16));
    driver_ok(*t_);
    ASSERT_EQ(dev_->activations, activations + 1);
    ring_ = std::make_unique<RingDriver>(*mem_, layout_at(kRings, 16));
  }

  std::unique_ptr<memory::GuestMemory> mem_;
  EchoDevice* dev_ = nullptr;
  std::unique_ptr<VirtioMmio> t_;
  std::unique_ptr<RingDriver> ring_;
};

TEST_F(VirtioMmioTest, IdentityRegistersAndOffer) {
  EXPECT_EQ(rd(*t_, kMmioMagicValue), 0x74726976u);
  EXPECT_EQ(rd(*t_, kMmioVersion), 2u);
  EXPECT_EQ(rd(*t_, kMmioDeviceId), EchoDevice::kId);
  EXPECT_NE(rd(*t_, kMmioVendorId), 0u);
  const uint64_t offer = test::device_features(*t_);
  EXPECT_EQ(offer, kFeatureVersion1 | kFeatureIndirectDesc | EchoDevice::kOwnFeature)
      << "VERSION_1 always; EVENT_IDX and packed rings never, though the device asked";
  wr(*t_, kMmioDeviceFeaturesSel, 2);
  EXPECT_EQ(rd(*t_, kMmioDeviceFeatures), 0u);
  EXPECT_EQ(rd(*t_, kMmioStatus), 0u);
  EXPECT_EQ(rd(*t_, kMmioShmLenLow), 0xffffffffu) << "no shared memory regions";
  EXPECT_EQ(bad(), 0u);
}

TEST_F(VirtioMmioTest, ReadOnlyRegistersIgnoreWritesAndWriteOnlyOnesReadZero) {
  for (uint32_t reg : {kMmioMagicValue, kMmioVersion, kMmioDeviceId, kMmioVendorId, kMmioDeviceFeatures,
                       kMmioQueueNumMax, kMmioInterruptStatus, kMmioConfigGeneration, 0x0f8u}) {
    wr(*t_, reg, 0x12345678);
  }
  EXPECT_EQ(bad(), 9u);
  EXPECT_EQ(rd(*t_, kMmioMagicValue), 0x74726976u);
  EXPECT_EQ(rd(*t_, kMmioDeviceId), EchoDevice::kId);
  EXPECT_EQ(rd(*t_, kMmioConfigGeneration), 0u);
  EXPECT_EQ(rd(*t_, kMmioInterruptStatus), 0u);
  for (uint32_t reg : {kMmioDeviceFeaturesSel, kMmioDriverFeatures, kMmioQueueSel, kMmioQueueNum, kMmioQueueNotify,
                       kMmioInterruptAck, kMmioQueueDescLow, 0x0f8u}) {
    EXPECT_EQ(rd(*t_, reg), 0u);
  }
  EXPECT_EQ(bad(), 17u);
}

TEST_F(VirtioMmioTest, HandshakeNegotiatesAndActivates) {
  wr(*t_, kMmioStatus, kStatusAcknowledge);
  EXPECT_EQ(rd(*t_, kMmioStatus), kStatusAcknowledge);
  wr(*t_, kMmioStatus, kStatusAcknowledge | kStatusDriver);
  wr(*t_, kMmioDriverFeaturesSel, 0);
  wr(*t_, kMmioDriverFeatures, static_cast<uint32_t>(kWanted));
  wr(*t_, kMmioDriverFeaturesSel, 1);
  wr(*t_, kMmioDriverFeatures, static_cast<uint32_t>(kWanted >> 32));
  wr(*t_, kMmioStatus, kHandshake);
  EXPECT_EQ(rd(*t_, kMmioStatus), kHandshake);
  EXPECT_EQ(t_->features(), kWanted);
  wr(*t_, kMmioQueueSel, 0);
  EXPECT_EQ(rd(*t_, kMmioQueueNumMax), 256u);
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 0u);
  wr(*t_, kMmioQueueSel, 2);
  EXPECT_EQ(rd(*t_, kMmioQueueNumMax), 0u) << "no such queue";
  setup_queue(*t_, 0, layout_at(kRings, 16));
  wr(*t_, kMmioQueueSel, 0);
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 1u);
  EXPECT_EQ(dev_->activations, 0);
  driver_ok(*t_);
  EXPECT_EQ(rd(*t_, kMmioStatus), kHandshake | kStatusDriverOk);
  EXPECT_EQ(dev_->activations, 1);
  EXPECT_EQ(bad(), 0u);
  // Features are settled once FEATURES_OK is set.
  wr(*t_, kMmioDriverFeaturesSel, 0);
  wr(*t_, kMmioDriverFeatures, 0);
  EXPECT_EQ(bad(), 1u);
  EXPECT_EQ(t_->features(), kWanted);
}

TEST_F(VirtioMmioTest, FeaturesOkIsRefusedForFeaturesNotOfferedOrWithoutVersion1) {
  EXPECT_FALSE(negotiate(*t_, kWanted & ~kFeatureVersion1)) << "a legacy driver: this device is modern-only";
  EXPECT_FALSE(negotiate(*t_, kWanted | kFeatureEventIdx)) << "EVENT_IDX was not offered";
  EXPECT_FALSE(negotiate(*t_, kWanted | (1ull << 50)));
  EXPECT_TRUE(negotiate(*t_, kFeatureVersion1)) << "the minimum";
  EXPECT_EQ(t_->features(), kFeatureVersion1);
}

TEST_F(VirtioMmioTest, StatusStepsOutOfOrderAreRefused) {
  wr(*t_, kMmioStatus, kStatusDriver);  // DRIVER without ACKNOWLEDGE
  EXPECT_EQ(rd(*t_, kMmioStatus), 0u);
  wr(*t_, kMmioStatus, kStatusAcknowledge | kStatusDriverOk);  // DRIVER_OK without FEATURES_OK
  EXPECT_EQ(rd(*t_, kMmioStatus), kStatusAcknowledge);
  EXPECT_EQ(dev_->activations, 0);
  // Features written before DRIVER are refused too.
  wr(*t_, kMmioDriverFeatures, 1);
  wr(*t_, kMmioStatus, kStatusAcknowledge | kStatusDriver);
  wr(*t_, kMmioStatus, kStatusAcknowledge | kStatusDriver | kStatusDriverOk);  // still no FEATURES_OK
  EXPECT_EQ(rd(*t_, kMmioStatus), kStatusAcknowledge | kStatusDriver);
  EXPECT_EQ(dev_->activations, 0);
  ASSERT_TRUE(negotiate(*t_, kWanted));
  wr(*t_, kMmioStatus, kStatusAcknowledge);  // clearing bits: only a reset may
  EXPECT_EQ(rd(*t_, kMmioStatus), kHandshake);
  wr(*t_, kMmioStatus, kHandshake | 0x10);  // an unknown bit
  EXPECT_EQ(rd(*t_, kMmioStatus), kHandshake);
  EXPECT_EQ(bad(), 6u);
  wr(*t_, kMmioStatus, kHandshake | kStatusFailed);  // the driver gives up: allowed any time
  EXPECT_EQ(rd(*t_, kMmioStatus), kHandshake | kStatusFailed);
}

TEST_F(VirtioMmioTest, QueueSetupNeedsFeaturesOkAndAValidLayout) {
  // Before FEATURES_OK, queue registers are refused.
  wr(*t_, kMmioStatus, kStatusAcknowledge | kStatusDriver);
  setup_queue(*t_, 0, layout_at(kRings, 16));
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 0u);
  EXPECT_EQ(bad(), 8u);
  const uint64_t before = bad();
  ASSERT_TRUE(negotiate(*t_, kWanted));
  // A size that is not a power of two: the queue stays unready and the device needs a reset.
  setup_queue(*t_, 0, layout_at(kRings, 24));
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 0u);
  EXPECT_NE(rd(*t_, kMmioStatus) & kStatusNeedsReset, 0u);
  EXPECT_EQ(t_->stats().queue_errors, 1u);
  ASSERT_TRUE(negotiate(*t_, kWanted));  // (negotiate resets first)
  EXPECT_EQ(rd(*t_, kMmioStatus) & kStatusNeedsReset, 0u) << "a reset clears NEEDS_RESET";
  QueueLayout misaligned = layout_at(kRings, 16);
  misaligned.used += 2;
  setup_queue(*t_, 0, misaligned);
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 0u);
  ASSERT_TRUE(negotiate(*t_, kWanted));
  setup_queue(*t_, 0, layout_at((4ull << 20) - 0x100, 16));  // past the end of RAM
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 0u);
  ASSERT_TRUE(negotiate(*t_, kWanted));
  wr(*t_, kMmioQueueNum, 2048);  // more than any queue may have: refused at once
  EXPECT_EQ(t_->stats().queue_errors, 3u);
  EXPECT_EQ(bad(), before + 1);
  // A ready queue's registers are frozen until reset.
  setup_queue(*t_, 1, layout_at(kRings, 16));
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 1u);
  wr(*t_, kMmioQueueDescLow, 0x5000);
  EXPECT_EQ(bad(), before + 2);
  EXPECT_EQ(t_->queue(1).layout(), layout_at(kRings, 16));
}

TEST_F(VirtioMmioTest, ARequestRoundTripsThroughQueueNotify) {
  bring_up();
  const uint8_t msg[4] = {1, 2, 3, 4};
  ASSERT_TRUE(mem_->write_bytes(kBufs, msg));
  ring_->set_desc(0, {kBufs, 4, kDescFlagNext, 1});
  ring_->set_desc(1, {kBufs + 0x100, 4, kDescFlagWrite, 0});
  ring_->publish(0);
  wr(*t_, kMmioQueueNotify, 0);
  EXPECT_EQ(dev_->notifies, 1);
  ASSERT_EQ(ring_->used_idx(), 1);
  EXPECT_EQ(ring_->used(0).id, 0u);
  EXPECT_EQ(ring_->used(0).len, 4u);
  uint8_t out[4];
  ASSERT_TRUE(mem_->read_bytes(kBufs + 0x100, out));
  EXPECT_EQ(out[0], 2);
  EXPECT_EQ(out[3], 5);
  EXPECT_EQ(rd(*t_, kMmioInterruptStatus), kInterruptUsedBuffer);
  wr(*t_, kMmioInterruptAck, kInterruptUsedBuffer);
  EXPECT_EQ(rd(*t_, kMmioInterruptStatus), 0u);
  const VirtioStats s = t_->stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.notifies, 1u);
  EXPECT_EQ(s.bad_accesses, 0u);
}

TEST_F(VirtioMmioTest, NotifiesForUnreadyOrMissingQueuesNeverReachTheDevice) {
  ASSERT_TRUE(negotiate(*t_, kWanted));
  setup_queue(*t_, 0, layout_at(kRings, 16));
  wr(*t_, kMmioQueueNotify, 0);  // before DRIVER_OK
  driver_ok(*t_);
  wr(*t_, kMmioQueueNotify, 1);  // queue 1 never made ready
  wr(*t_, kMmioQueueNotify, 2);  // no queue 2
  wr(*t_, kMmioQueueNotify, 0xffffffffu);
  EXPECT_EQ(dev_->notifies, 0);
  EXPECT_EQ(bad(), 4u);
  // A flood of notifies on a ready, empty queue costs nothing and breaks nothing.
  for (int i = 0; i < 100000; ++i) wr(*t_, kMmioQueueNotify, 0);
  EXPECT_EQ(dev_->notifies, 100000);
  EXPECT_EQ(t_->stats().requests, 0u);
  EXPECT_EQ(rd(*t_, kMmioStatus) & kStatusNeedsReset, 0u);
}

TEST_F(VirtioMmioTest, RegistersTakeOnlyAligned32BitAccessesConfigSpaceNarrowerOnes) {
  uint8_t b1[1], b2[2], b8[8];
  t_->read(kMmioMagicValue, b1);
  EXPECT_EQ(b1[0], 0);
  t_->read(kMmioMagicValue, b2);
  t_->read(kMmioMagicValue, b8);
  t_->read(kMmioMagicValue + 2, std::span<uint8_t>(b8, 4));  // misaligned
  EXPECT_EQ(bad(), 4u);
  const uint8_t ack[1] = {kStatusAcknowledge};
  t_->write(kMmioStatus, ack);
  EXPECT_EQ(rd(*t_, kMmioStatus), 0u) << "a byte-wide status write is ignored";
  EXPECT_EQ(bad(), 5u);
  // Configuration space: 8/16/32-bit, aligned, inside the device's 8 bytes.
  EXPECT_EQ(rd(*t_, kMmioConfig), 0xc0ffee00u);
  t_->read(kMmioConfig + 1, b1);
  EXPECT_EQ(b1[0], 0xee);
  t_->read(kMmioConfig + 2, b2);
  EXPECT_EQ(b2[1], 0xc0);
  wr(*t_, kMmioConfig + 4, 0xabcd);
  EXPECT_EQ(dev_->config_reg, 0xabcdu);
  const uint8_t one[1] = {0x11};
  t_->write(kMmioConfig + 7, one);
  EXPECT_EQ(dev_->config_reg, 0x1100abcdu);
  EXPECT_EQ(bad(), 5u);
  t_->read(kMmioConfig + 8, std::span<uint8_t>(b8, 4));  // past the config space
  t_->read(kMmioConfig + 6, std::span<uint8_t>(b8, 4));  // straddles its end (and misaligned)
  t_->read(kMmioConfig + 1, b2);                         // misaligned
  t_->read(kMmioConfig, b8);                             // 64-bit
  wr(*t_, kMmioWindowBytes - 4, 1);
  t_->read(kMmioWindowBytes, std::span<uint8_t>(b8, 4));  // outside the window
  EXPECT_EQ(bad(), 11u);
  EXPECT_EQ(dev_->config_reg, 0x1100abcdu);
}

TEST_F(VirtioMmioTest, ConfigChangeBumpsTheGenerationAndRaisesTheInterrupt) {
  int raised = 0;
  t_->set_interrupt([&] { ++raised; });
  bring_up();
  const uint32_t gen = rd(*t_, kMmioConfigGeneration);
  dev_->host()->config_changed();
  EXPECT_EQ(rd(*t_, kMmioConfigGeneration), gen + 1);
  EXPECT_EQ(rd(*t_, kMmioInterruptStatus), kInterruptConfigChange);
  EXPECT_EQ(raised, 1);
  // Used-buffer interrupts only when the driver wants them.
  ring_->set_avail_flags(kAvailFlagNoInterrupt);
  dev_->host()->used_buffers(0);
  EXPECT_EQ(raised, 1);
  ring_->set_avail_flags(0);
  dev_->host()->used_buffers(0);
  EXPECT_EQ(raised, 2);
  EXPECT_EQ(rd(*t_, kMmioInterruptStatus), kInterruptConfigChange | kInterruptUsedBuffer);
}

TEST_F(VirtioMmioTest, ABrokenRingShowsAsNeedsResetUntilTheDriverResets) {
  bring_up();
  ring_->set_avail_idx(100);  // far more than 16 entries ahead
  wr(*t_, kMmioQueueNotify, 0);
  EXPECT_NE(rd(*t_, kMmioStatus) & kStatusNeedsReset, 0u);
  EXPECT_EQ(t_->stats().queue_errors, 1u);
  EXPECT_TRUE(t_->queue(0).broken());
  const int resets = dev_->resets;
  const uint64_t counted = t_->stats().resets;
  wr(*t_, kMmioStatus, 0);
  EXPECT_EQ(rd(*t_, kMmioStatus), 0u);
  EXPECT_EQ(dev_->resets, resets + 1);
  EXPECT_FALSE(t_->queue(0).ready());
  EXPECT_FALSE(t_->queue(0).broken());
  EXPECT_EQ(t_->features(), 0u);
  wr(*t_, kMmioQueueSel, 0);
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 0u);
  EXPECT_EQ(t_->stats().resets, counted + 1);
  // The driver starts over and the device works again.
  bring_up();
  ring_->set_desc(0, {kBufs, 4, kDescFlagNext, 1});
  ring_->set_desc(1, {kBufs + 0x100, 4, kDescFlagWrite, 0});
  ring_->publish(0);
  wr(*t_, kMmioQueueNotify, 0);
  EXPECT_EQ(ring_->used_idx(), 1);
}

TEST_F(VirtioMmioTest, AQueueCannotBeTakenAwayFromARunningDevice) {
  bring_up();
  wr(*t_, kMmioQueueSel, 0);
  wr(*t_, kMmioQueueReady, 0);
  EXPECT_EQ(rd(*t_, kMmioQueueReady), 1u) << "needs VIRTIO_F_RING_RESET, which is not offered";
  EXPECT_EQ(bad(), 1u);
  // Linux's teardown: reset, then QueueReady = 0 on every queue and read back 0. Nothing refused.
  wr(*t_, kMmioStatus, 0);
  for (uint32_t q : {0u, 1u}) {
    wr(*t_, kMmioQueueSel, q);
    wr(*t_, kMmioQueueReady, 0);
    EXPECT_EQ(rd(*t_, kMmioQueueReady), 0u);
  }
  EXPECT_EQ(bad(), 1u);
}

TEST(VirtioMmioCreate, RefusesDevicesItCannotServe) {
  auto mem = test::make_ram();
  ASSERT_TRUE(mem);
  EXPECT_EQ(VirtioMmio::create(*mem, nullptr).status().code, EINVAL);
  EXPECT_EQ(VirtioMmio::create(*mem, std::make_unique<EchoDevice>(0, 256)).status().code, EINVAL);
  EXPECT_EQ(VirtioMmio::create(*mem, std::make_unique<EchoDevice>(kMaxQueues + 1, 256)).status().code, EINVAL);
  EXPECT_EQ(VirtioMmio::create(*mem, std::make_unique<EchoDevice>(1, 100)).status().code, EINVAL);
  EXPECT_EQ(VirtioMmio::create(*mem, std::make_unique<EchoDevice>(1, 2048)).status().code, EINVAL);
  EXPECT_TRUE(VirtioMmio::create(*mem, std::make_unique<EchoDevice>(kMaxQueues, kMaxQueueSize)).ok());
}

}  // namespace
}  // namespace sf::devices
