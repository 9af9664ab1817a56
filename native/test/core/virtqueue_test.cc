// Tests of the split virtqueue's device side: layout rules, a request round trip, every chain rule a
// hostile driver can break (each fails that request alone), ring corruption (the queue stops), garbage
// rings that must never hang or escape RAM, and a driver thread racing the device thread. Needs no KVM.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "devices/virtqueue.h"
#include "virtio_test_support.h"

namespace sf::devices {
namespace {

using test::layout_at;
using test::RawDesc;
using test::RingDriver;

constexpr uint64_t kRam = 4ull << 20;
constexpr uint64_t kRings = 0x10000;
constexpr uint64_t kBufs = 0x100000;

class VirtqueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = test::make_ram(kRam);
    ASSERT_TRUE(mem_);
  }
  // A ready queue of `size` entries with its driver.
  void open(uint16_t size = 16, bool indirect = true, uint16_t max = 256) {
    q_ = std::make_unique<Virtqueue>(*mem_, max, counters_);
    const QueueLayout l = layout_at(kRings, size);
    Status s = q_->enable(l, indirect);
    ASSERT_TRUE(s.ok()) << s.message;
    driver_ = std::make_unique<RingDriver>(*mem_, l);
  }
  // Publishes `head` and pops it, expecting a bad chain with `why`; the request goes back with length 0
  // and the queue keeps working.
  void expect_bad(uint16_t head, ChainError why) {
    driver_->publish(head);
    Chain c;
    ASSERT_EQ(q_->pop(&c), PopResult::kBadChain) << "expected: " << chain_error_text(why);
    EXPECT_EQ(c.error(), why) << chain_error_text(c.error()) << " instead of " << chain_error_text(why);
    EXPECT_EQ(c.head(), head);
    EXPECT_TRUE(c.readable().empty() && c.writable().empty()) << "a bad chain exposes no buffers";
    const uint16_t before = driver_->used_idx();
    ASSERT_TRUE(q_->push_used(c, 1234));
    EXPECT_EQ(driver_->used_idx(), static_cast<uint16_t>(before + 1));
    EXPECT_EQ(driver_->used(before).id, head);
    EXPECT_EQ(driver_->used(before).len, 0u) << "a failed request reports no bytes written";
    EXPECT_FALSE(q_->broken());
  }
  // A good one-in, one-out request still works after whatever came before.
  void expect_still_serving() {
    driver_->set_desc(14, {kBufs + 0x8000, 4, kDescFlagNext, 15});
    driver_->set_desc(15, {kBufs + 0x9000, 4, kDescFlagWrite, 0});
    driver_->publish(14);
    Chain c;
    ASSERT_EQ(q_->pop(&c), PopResult::kChain);
    EXPECT_EQ(c.readable_bytes(), 4u);
    EXPECT_EQ(c.writable_bytes(), 4u);
    ASSERT_TRUE(q_->push_used(c, 4));
  }

  VirtioCounters counters_;
  std::unique_ptr<memory::GuestMemory> mem_;
  std::unique_ptr<Virtqueue> q_;
  std::unique_ptr<RingDriver> driver_;
};

TEST_F(VirtqueueTest, LayoutRulesAreCheckedAgainstSizeAlignmentAndRam) {
  Virtqueue q(*mem_, 256, counters_);
  auto refused = [&](QueueLayout l, const char* what) {
    Status s = q.enable(l, false);
    EXPECT_EQ(s.code, EINVAL) << what;
    EXPECT_FALSE(q.ready()) << what;
    if (!s.ok()) std::printf("[ layout ] %s: %s\n", what, s.message.c_str());
  };
  const QueueLayout good = layout_at(kRings, 16);
  refused({0, good.desc, good.avail, good.used}, "size 0");
  refused({3, good.desc, good.avail, good.used}, "size not a power of two");
  refused({100, good.desc, good.avail, good.used}, "size 100");
  refused(layout_at(kRings, 512), "over the device's maximum (256)");
  refused({16, good.desc + 8, good.avail, good.used}, "descriptor table not 16-aligned");
  refused({16, good.desc, good.avail + 1, good.used}, "available ring odd");
  refused({16, good.desc, good.avail, good.used + 2}, "used ring not 4-aligned");
  refused({16, kRam - 16 * 8, good.avail, good.used}, "descriptor table runs past RAM");
  refused({16, good.desc, kRam - 4, good.used}, "available ring runs past RAM");
  refused({16, good.desc, good.avail, kRam}, "used ring starts at the end of RAM");
  refused({16, 0xfffffffffffffff0ull, good.avail, good.used}, "descriptor table at the top of the address space");
  refused({16, good.desc, good.avail, 3ull << 30}, "used ring in the MMIO hole");
  EXPECT_TRUE(q.enable(good, false).ok());
  EXPECT_TRUE(q.ready());
  // The whole ring with its event word must fit: the last legal spot for a used ring of 16 entries.
  Virtqueue edge(*mem_, 256, counters_);
  EXPECT_TRUE(edge.enable({16, good.desc, good.avail, kRam - used_ring_bytes(16) - 2}, false).ok());
}

TEST_F(VirtqueueTest, RequestRoundTripMovesBytesBothWays) {
  open();
  const char msg[] = "hello, device";
  ASSERT_TRUE(mem_->write_bytes(kBufs, std::span(reinterpret_cast<const uint8_t*>(msg), sizeof msg)));
  // Readable split over two descriptors, writable over two: copies cross segment boundaries.
  driver_->set_desc(3, {kBufs, 5, kDescFlagNext, 7});
  driver_->set_desc(7, {kBufs + 5, sizeof msg - 5, kDescFlagNext, 1});
  driver_->set_desc(1, {kBufs + 0x1000, 3, kDescFlagNext | kDescFlagWrite, 2});
  driver_->set_desc(2, {kBufs + 0x2000, 64, kDescFlagWrite, 0});
  Chain c;
  EXPECT_EQ(q_->pop(&c), PopResult::kEmpty);
  driver_->publish(3);
  ASSERT_EQ(q_->pop(&c), PopResult::kChain);
  EXPECT_EQ(c.head(), 3);
  EXPECT_EQ(c.readable().size(), 2u);
  EXPECT_EQ(c.writable().size(), 2u);
  EXPECT_EQ(c.readable_bytes(), sizeof msg);
  EXPECT_EQ(c.writable_bytes(), 67u);
  EXPECT_EQ(q_->in_flight(), 1u);

  std::vector<uint8_t> in(64);
  EXPECT_EQ(q_->read(c, 0, in), sizeof msg) << "the copy stops where the readable part ends";
  EXPECT_EQ(std::memcmp(in.data(), msg, sizeof msg), 0);
  uint8_t part[4];
  EXPECT_EQ(q_->read(c, 4, part), 4u);  // from inside the first segment into the second
  EXPECT_EQ(std::memcmp(part, msg + 4, 4), 0);
  EXPECT_EQ(q_->read(c, sizeof msg, part), 0u);

  const uint8_t reply[6] = {'a', 'b', 'c', 'd', 'e', 'f'};
  EXPECT_EQ(q_->write(c, 0, reply), 6u);
  EXPECT_EQ(*mem_->read<uint8_t>(kBufs + 0x1000 + 2), 'c');
  EXPECT_EQ(*mem_->read<uint8_t>(kBufs + 0x2000), 'd') << "the write continues in the next segment";
  std::vector<uint8_t> big(100, 0x77);
  EXPECT_EQ(q_->write(c, 60, big), 7u) << "only what the chain can take";
  EXPECT_EQ(*mem_->read<uint8_t>(kBufs + 0x2000 + 63), 0x77);
  EXPECT_EQ(*mem_->read<uint8_t>(kBufs + 0x2000 + 64), 0) << "nothing past the last buffer";

  ASSERT_TRUE(q_->push_used(c, 1000));
  EXPECT_EQ(driver_->used_idx(), 1);
  EXPECT_EQ(driver_->used(0).id, 3u);
  EXPECT_EQ(driver_->used(0).len, 67u) << "the length is clamped to the chain's writable bytes";
  EXPECT_EQ(q_->in_flight(), 0u);
  EXPECT_FALSE(q_->push_used(c, 0)) << "returning more chains than were taken would corrupt the ring";
  EXPECT_EQ(q_->pop(&c), PopResult::kEmpty);
  EXPECT_EQ(counters_.requests.load(), 1u);
  EXPECT_EQ(counters_.bad_chains.load(), 0u);
}

TEST_F(VirtqueueTest, IndicesWrapAround16Bits) {
  open(4);
  driver_->set_desc(0, {kBufs, 8, 0, 0});
  for (int i = 0; i < 70000; ++i) {
    driver_->publish(0);
    Chain c;
    ASSERT_EQ(q_->pop(&c), PopResult::kChain) << i;
    ASSERT_TRUE(q_->push_used(c, 0));
  }
  EXPECT_EQ(driver_->used_idx(), static_cast<uint16_t>(70000));
  EXPECT_EQ(q_->indices().last_avail, static_cast<uint16_t>(70000));
}

TEST_F(VirtqueueTest, BuffersOutsideRamFailTheRequestAlone) {
  open();
  driver_->set_desc(0, {kRam - 8, 16, 0, 0});
  expect_bad(0, ChainError::kOutOfRam);
  driver_->set_desc(0, {kBufs, 0xffffffffu, kDescFlagWrite, 0});  // a 4 GiB length
  expect_bad(0, ChainError::kOutOfRam);
  driver_->set_desc(0, {3ull << 30, 4096, 0, 0});  // the MMIO hole
  expect_bad(0, ChainError::kOutOfRam);
  driver_->set_desc(0, {kRam + 4096, 0, 0, 0});  // even an empty buffer must point into RAM
  expect_bad(0, ChainError::kOutOfRam);
  // A good first buffer does not excuse a bad second one.
  driver_->set_desc(0, {kBufs, 16, kDescFlagNext, 1});
  driver_->set_desc(1, {kRam - 1, 2, kDescFlagWrite, 0});
  expect_bad(0, ChainError::kOutOfRam);
  expect_still_serving();
  EXPECT_EQ(counters_.bad_chains.load(), 5u);
}

TEST_F(VirtqueueTest, AddressPlusLengthWrapping64BitsIsRefused) {
  open();
  driver_->set_desc(0, {UINT64_MAX - 10, 100, 0, 0});
  expect_bad(0, ChainError::kAddressWraps);
  driver_->set_desc(0, {UINT64_MAX, 1, kDescFlagWrite, 0});
  expect_bad(0, ChainError::kAddressWraps);
  expect_still_serving();
}

TEST_F(VirtqueueTest, LoopsAndRunawayChainsEndInBoundedTime) {
  open();
  driver_->set_desc(0, {kBufs, 8, kDescFlagNext, 0});  // itself
  expect_bad(0, ChainError::kLoop);
  driver_->set_desc(0, {kBufs, 8, kDescFlagNext, 1});
  driver_->set_desc(1, {kBufs, 8, kDescFlagNext, 2});
  driver_->set_desc(2, {kBufs, 8, kDescFlagNext, 1});  // back to 1
  expect_bad(0, ChainError::kLoop);
  driver_->set_desc(2, {kBufs, 8, kDescFlagNext, 16});  // past the table
  expect_bad(0, ChainError::kNextOutOfRange);
  driver_->set_desc(2, {kBufs, 8, kDescFlagNext, 0xffff});
  expect_bad(0, ChainError::kNextOutOfRange);
  // A chain through every descriptor of the table is as long as a chain may be, and fine...
  for (uint16_t i = 0; i < 16; ++i) driver_->set_desc(i, {kBufs + 64ull * i, 64, kDescFlagNext, uint16_t(i + 1)});
  driver_->set_desc(15, {kBufs + 64ull * 15, 64, 0, 0});
  driver_->publish(0);
  Chain c;
  ASSERT_EQ(q_->pop(&c), PopResult::kChain);
  EXPECT_EQ(c.readable().size(), 16u);
  ASSERT_TRUE(q_->push_used(c, 0));
  // ...one more link is longer than the queue and necessarily revisits a descriptor.
  driver_->set_desc(15, {kBufs, 64, kDescFlagNext, 3});
  expect_bad(0, ChainError::kLoop);
}

TEST_F(VirtqueueTest, ReadableBuffersMustComeBeforeWritableOnes) {
  open();
  driver_->set_desc(0, {kBufs, 8, kDescFlagWrite | kDescFlagNext, 1});
  driver_->set_desc(1, {kBufs + 8, 8, 0, 0});
  expect_bad(0, ChainError::kReadableAfterWritable);
  driver_->set_desc(0, {kBufs, 0, kDescFlagWrite | kDescFlagNext, 1});  // even an empty writable one
  expect_bad(0, ChainError::kReadableAfterWritable);
  // Write-only chains (a NIC's receive buffers) and read-only ones are fine.
  driver_->set_desc(0, {kBufs, 8, kDescFlagWrite, 0});
  driver_->publish(0);
  Chain c;
  ASSERT_EQ(q_->pop(&c), PopResult::kChain);
  EXPECT_EQ(c.readable_bytes(), 0u);
  EXPECT_EQ(c.writable_bytes(), 8u);
  ASSERT_TRUE(q_->push_used(c, 8));
}

TEST_F(VirtqueueTest, IndirectTablesAreFollowedWithTheSameChecks) {
  open();
  const uint64_t table = kBufs + 0x40000;
  test::RingDriver& d = *driver_;
  // Two direct descriptors, then a table of three (the spec allows direct ones before the table).
  d.set_desc(0, {kBufs, 4, kDescFlagNext, 5});
  d.set_desc(5, {table, 3 * 16, kDescFlagIndirect | kDescFlagWrite /* ignored on a table */, 0});
  d.set_table_entry(table, 0, {kBufs + 4, 4, kDescFlagNext, 2});
  d.set_table_entry(table, 2, {kBufs + 0x1000, 32, kDescFlagWrite | kDescFlagNext, 1});
  d.set_table_entry(table, 1, {kBufs + 0x2000, 32, kDescFlagWrite, 0});
  d.publish(0);
  Chain c;
  ASSERT_EQ(q_->pop(&c), PopResult::kChain) << chain_error_text(c.error());
  EXPECT_EQ(c.readable().size(), 2u);
  EXPECT_EQ(c.writable().size(), 2u);
  EXPECT_EQ(c.writable()[1].gpa, kBufs + 0x2000);
  ASSERT_TRUE(q_->push_used(c, 64));
  EXPECT_EQ(d.used(0).len, 64u);

  d.set_desc(5, {table, 3 * 16, kDescFlagIndirect | kDescFlagNext, 6});
  expect_bad(0, ChainError::kIndirectWithNext);
  d.set_desc(5, {kRam - 16, 32, kDescFlagIndirect, 0});
  expect_bad(0, ChainError::kIndirectOutOfRam);
  d.set_desc(5, {UINT64_MAX - 15, 32, kDescFlagIndirect, 0});
  expect_bad(0, ChainError::kAddressWraps);
  d.set_desc(5, {table, 0, kDescFlagIndirect, 0});
  expect_bad(0, ChainError::kIndirectBadSize);
  d.set_desc(5, {table, 40, kDescFlagIndirect, 0});
  expect_bad(0, ChainError::kIndirectBadSize);
  d.set_desc(5, {table, 16 * (kMaxQueueSize + 1), kDescFlagIndirect, 0});
  expect_bad(0, ChainError::kIndirectBadSize);
  d.set_desc(5, {table, 3 * 16, kDescFlagIndirect, 0});
  d.set_table_entry(table, 1, {table, 16, kDescFlagIndirect, 0});
  expect_bad(0, ChainError::kNestedIndirect);
  d.set_table_entry(table, 1, {kBufs + 0x2000, 32, kDescFlagWrite | kDescFlagNext, 2});  // 0 → 2 → 1 → 2
  expect_bad(0, ChainError::kLoop);
  d.set_table_entry(table, 1, {kBufs + 0x2000, 32, kDescFlagWrite | kDescFlagNext, 3});  // past the table
  expect_bad(0, ChainError::kNextOutOfRange);
  d.set_table_entry(table, 1, {kRam, 32, kDescFlagWrite, 0});
  expect_bad(0, ChainError::kOutOfRam);
  // A table as long as any chain may be is fine; its entries count as buffers.
  for (uint16_t i = 0; i < kMaxQueueSize; ++i) {
    d.set_table_entry(table, i, {kBufs + i, 1, uint16_t(i + 1 < kMaxQueueSize ? kDescFlagNext : 0), uint16_t(i + 1)});
  }
  d.set_desc(0, {table, 16 * kMaxQueueSize, kDescFlagIndirect, 0});
  d.publish(0);
  ASSERT_EQ(q_->pop(&c), PopResult::kChain) << chain_error_text(c.error());
  EXPECT_EQ(c.readable().size(), kMaxQueueSize);
  ASSERT_TRUE(q_->push_used(c, 0));
  expect_still_serving();
}

TEST_F(VirtqueueTest, IndirectTablesNeedTheFeature) {
  open(16, /*indirect=*/false);
  driver_->set_desc(0, {kBufs + 0x40000, 16, kDescFlagIndirect, 0});
  driver_->set_table_entry(kBufs + 0x40000, 0, {kBufs, 8, 0, 0});
  expect_bad(0, ChainError::kIndirectNotNegotiated);
}

TEST_F(VirtqueueTest, AnAvailIndexRunningAheadBreaksTheQueueInsteadOfLooping) {
  open();
  driver_->set_desc(0, {kBufs, 8, 0, 0});
  driver_->set_avail_idx(17);  // 17 new entries in a ring of 16
  Chain c;
  EXPECT_EQ(q_->pop(&c), PopResult::kQueueError);
  EXPECT_TRUE(q_->broken());
  EXPECT_EQ(counters_.queue_errors.load(), 1u);
  driver_->set_avail_idx(1);  // even a sane index later: the queue stays stopped until a reset
  EXPECT_EQ(q_->pop(&c), PopResult::kQueueError);
  EXPECT_EQ(counters_.queue_errors.load(), 1u) << "counted once per breakage";
  EXPECT_EQ(counters_.requests.load(), 0u);

  open();
  driver_->set_avail_idx(0xffff);  // "backwards": 65535 entries ahead
  EXPECT_EQ(q_->pop(&c), PopResult::kQueueError);

  open();
  driver_->set_desc(0, {kBufs, 8, 0, 0});
  driver_->set_avail_idx(16);  // exactly a full ring is legal
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(q_->pop(&c), PopResult::kChain);
    ASSERT_TRUE(q_->push_used(c, 0));
  }
  EXPECT_EQ(q_->pop(&c), PopResult::kEmpty);
}

TEST_F(VirtqueueTest, AHeadIndexPastTheTableBreaksTheQueue) {
  open();
  driver_->publish(16);
  Chain c;
  EXPECT_EQ(q_->pop(&c), PopResult::kQueueError);
  EXPECT_TRUE(q_->broken());
  q_->reset();
  EXPECT_FALSE(q_->broken());
  EXPECT_FALSE(q_->ready());
  EXPECT_EQ(q_->pop(&c), PopResult::kEmpty);
}

TEST_F(VirtqueueTest, InterruptWantedFollowsTheDriversNoInterruptFlag) {
  open();
  EXPECT_TRUE(q_->interrupt_wanted());
  driver_->set_avail_flags(kAvailFlagNoInterrupt);
  EXPECT_FALSE(q_->interrupt_wanted()) << "a polling driver asked for no interrupts";
  driver_->set_avail_flags(0);
  EXPECT_TRUE(q_->interrupt_wanted());
}

TEST_F(VirtqueueTest, RestoredQueueResumesAtItsIndices) {
  open();
  driver_->set_desc(0, {kBufs, 8, 0, 0});
  for (int i = 0; i < 5; ++i) {
    driver_->publish(0);
    Chain c;
    ASSERT_EQ(q_->pop(&c), PopResult::kChain);
    ASSERT_TRUE(q_->push_used(c, 0));
  }
  const QueueIndices at = q_->indices();
  EXPECT_EQ(at, (QueueIndices{5, 5, false}));
  driver_->publish(0);  // the sixth request waits in the ring
  Virtqueue clone(*mem_, 256, counters_);
  ASSERT_TRUE(clone.restore(q_->layout(), true, at).ok());
  Chain c;
  ASSERT_EQ(clone.pop(&c), PopResult::kChain) << "the clone takes the request the parent had not taken";
  ASSERT_TRUE(clone.push_used(c, 0));
  EXPECT_EQ(driver_->used_idx(), 6);
  EXPECT_EQ(clone.pop(&c), PopResult::kEmpty);
  EXPECT_EQ(clone.restore({3, kRings, kRings + 0x1000, kRings + 0x2000}, true, at).code, EINVAL);
  EXPECT_FALSE(clone.ready());
}

// A driver that writes garbage everywhere: every pop must end (no hang), and nothing a chain exposes
// may lie outside RAM. Deterministic seeds, so a failure replays.
TEST_F(VirtqueueTest, GarbageRingsNeverHangOrEscapeRam) {
  std::mt19937_64 rng(12345);
  int chains = 0, bad = 0, broken = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 300; ++round) {
    const uint16_t size = uint16_t(1u << (rng() % 9));  // 1..256
    open(size, rng() % 2 == 0);
    const uint64_t table = kBufs + 0x80000;
    auto garbage = [&]() -> RawDesc {
      RawDesc d;
      switch (rng() % 4) {
        case 0: d.addr = rng(); break;
        case 1: d.addr = kBufs + rng() % 0x10000; break;
        case 2: d.addr = kRam - rng() % 64; break;
        default: d.addr = table; break;
      }
      d.len = rng() % 3 == 0 ? static_cast<uint32_t>(rng()) : static_cast<uint32_t>(rng() % 512);
      d.flags = static_cast<uint16_t>(rng() % 8);
      d.next = rng() % 4 == 0 ? static_cast<uint16_t>(rng()) : static_cast<uint16_t>(rng() % size);
      return d;
    };
    for (uint16_t i = 0; i < size; ++i) driver_->set_desc(i, garbage());
    for (uint16_t i = 0; i < 64; ++i) driver_->set_table_entry(table, i, garbage());
    for (uint16_t i = 0; i < size; ++i) {
      ASSERT_TRUE(
          mem_->write<uint16_t>(layout_at(kRings, size).avail + 4 + 2ull * i,
                                rng() % 8 == 0 ? static_cast<uint16_t>(rng()) : static_cast<uint16_t>(rng() % size)));
    }
    driver_->set_avail_idx(static_cast<uint16_t>(rng() % 8 == 0 ? rng() : rng() % (size + 1)));
    Chain c;
    for (int step = 0; step <= size + 1; ++step) {
      const PopResult r = q_->pop(&c);
      if (r == PopResult::kEmpty) break;
      if (r == PopResult::kQueueError) {
        ++broken;
        break;
      }
      if (r == PopResult::kBadChain) ++bad;
      else ++chains;
      for (const Segment& s : c.readable()) ASSERT_TRUE(mem_->contains(s.gpa, s.len));
      for (const Segment& s : c.writable()) ASSERT_TRUE(mem_->contains(s.gpa, s.len));
      std::vector<uint8_t> scratch(std::min<uint64_t>(c.writable_bytes(), 4096), 0xee);
      q_->write(c, 0, scratch);
      ASSERT_TRUE(q_->push_used(c, 0));
      ASSERT_LT(step, size + 1) << "more chains than the ring announced";
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("[ garbage ] 300 rings: %d chains taken, %d refused, %d rings broken, %lld ms\n", chains, bad, broken,
              static_cast<long long>(ms.count()));
  EXPECT_GT(bad, 0);
  EXPECT_GT(broken, 0);
}

// The guest runs on its own vCPU thread while the device serves: a driver thread submits requests
// (descriptors, then the ring entry, then avail.idx with release) and checks every answer; the device
// thread pops, answers and publishes used.idx with release. Runs a bounded time.
TEST_F(VirtqueueTest, ADriverThreadAndADeviceThreadAgreeOnEveryRequest) {
  constexpr uint16_t kSize = 64;
  open(kSize, false);
  constexpr uint16_t kSlots = kSize / 2;  // each request: one readable and one writable descriptor
  auto slot_in = [](uint16_t s) { return kBufs + 16ull * s; };
  auto slot_out = [](uint16_t s) { return kBufs + 0x10000 + 16ull * s; };
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> served{0};

  std::thread device([&] {
    Chain c;
    while (!stop.load(std::memory_order_relaxed)) {
      const PopResult r = q_->pop(&c);
      if (r == PopResult::kEmpty) {
        std::this_thread::yield();
        continue;
      }
      ASSERT_EQ(r, PopResult::kChain) << chain_error_text(c.error());
      uint64_t seq = 0;
      ASSERT_EQ(q_->read(c, 0, std::span(reinterpret_cast<uint8_t*>(&seq), 8)), 8u);
      const uint64_t answer = seq * 3 + 1;
      ASSERT_EQ(q_->write(c, 0, std::span(reinterpret_cast<const uint8_t*>(&answer), 8)), 8u);
      ASSERT_TRUE(q_->push_used(c, 8));
      served.fetch_add(1, std::memory_order_relaxed);
    }
  });

  std::vector<uint64_t> seq_of(kSlots, 0);
  std::vector<bool> busy(kSlots, false);
  std::vector<uint16_t> free_slots;
  for (uint16_t s = 0; s < kSlots; ++s) free_slots.push_back(s);
  uint64_t next_seq = 1, done = 0;
  uint16_t seen_used = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  bool failed = false;
  while (std::chrono::steady_clock::now() < deadline && !failed) {
    while (!free_slots.empty()) {
      const uint16_t s = free_slots.back();
      free_slots.pop_back();
      seq_of[s] = next_seq++;
      // (EXPECT, not ASSERT: returning early would leave the device thread unjoined)
      EXPECT_TRUE(mem_->write<uint64_t>(slot_in(s), seq_of[s]));
      EXPECT_TRUE(mem_->write<uint64_t>(slot_out(s), 0));
      driver_->set_desc(uint16_t(2 * s), {slot_in(s), 8, kDescFlagNext, uint16_t(2 * s + 1)});
      driver_->set_desc(uint16_t(2 * s + 1), {slot_out(s), 8, kDescFlagWrite, 0});
      busy[s] = true;
      driver_->publish(uint16_t(2 * s));
    }
    const uint16_t used = driver_->used_idx();  // acquire: the element and the answer are visible
    for (; seen_used != used; ++seen_used) {
      const auto e = driver_->used(seen_used);
      const uint16_t s = static_cast<uint16_t>(e.id / 2);
      if (e.id % 2 != 0 || s >= kSlots || !busy[s] || e.len != 8 ||
          *mem_->read<uint64_t>(slot_out(s)) != seq_of[s] * 3 + 1) {
        ADD_FAILURE() << "bad answer: id " << e.id << " len " << e.len;
        failed = true;
        break;
      }
      busy[s] = false;
      free_slots.push_back(s);
      ++done;
    }
    std::this_thread::yield();
  }
  stop.store(true);
  device.join();
  std::printf("[ concurrent ] %llu requests answered in 400 ms (%llu served)\n", static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(served.load()));
  EXPECT_GT(done, 1000u);
  EXPECT_EQ(counters_.bad_chains.load(), 0u);
  EXPECT_EQ(counters_.queue_errors.load(), 0u);
}

}  // namespace
}  // namespace sf::devices
