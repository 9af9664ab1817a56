// Tests of the virtio-blk device driven from the driver's side through real split rings in a GuestMemory:
// configuration, read/write/flush/get-id round trips with data checks (scattered, split, indirect),
// hostile requests (past the end, overflowing lengths, buffers outside RAM, loops, no status byte,
// wrong directions) refused and counted, a broken ring, the fork (quiesce, capture, rebind, a clone
// restored over its own overlay), and the device thread racing a driver thread. No KVM.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include "blk_test_support.h"
#include "devices/cow_overlay.h"
#include "devices/disk_image.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_mmio.h"
#include "virtio_test_support.h"

namespace sf::devices {
namespace {

using test::driver_ok;
using test::layout_at;
using test::negotiate;
using test::pattern;
using test::RawDesc;
using test::rd;
using test::RingDriver;
using test::setup_queue;
using test::TempDir;
using test::wr;

constexpr uint64_t kRings = 0x10000;
constexpr uint64_t kHdr = 0x100000;     // request headers
constexpr uint64_t kStatus = 0x100800;  // status bytes
constexpr uint64_t kData = 0x101000;    // data buffers
constexpr uint64_t kDiskBytes = 1ull << 20;
constexpr uint64_t kSectors = kDiskBytes / kSectorBytes;
constexpr uint64_t kWanted =
    kFeatureVersion1 | kFeatureIndirectDesc | kBlkFeatureSegMax | kBlkFeatureBlkSize | kBlkFeatureFlush;
constexpr uint8_t kUntouched = 0xee;  // a status byte the device never wrote

// One buffer of a request as the driver lays it out.
struct Buf {
  uint64_t gpa = 0;
  uint32_t len = 0;
  bool writable = false;
};

struct Done {
  uint8_t status = kUntouched;  // the byte at the chain's last writable position (or kUntouched)
  uint32_t len = 0;             // what the used ring says was written
};

// Polls `f` until it holds; false after 10 s.
template <class F>
bool poll_until(F&& f) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

// Waits (spinning politely) until `ring` has returned more than `count` chains; false after 10 s.
bool wait_used(const RingDriver& ring, uint16_t count) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (static_cast<uint16_t>(ring.used_idx() - count) == 0) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

class VirtioBlkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = test::make_ram();
    ASSERT_TRUE(mem_);
    auto img = DiskImage::open(test::make_image(images_, "base.img", kDiskBytes));
    ASSERT_TRUE(img.ok()) << img.status().message;
    img_ = img.value();
    auto ov = CowOverlay::create(img_, dir_.path());
    ASSERT_TRUE(ov.ok()) << ov.status().message;
    ov_ = ov.value();
    auto blk = VirtioBlk::create(ov_, "sf-test-disk");
    ASSERT_TRUE(blk.ok()) << blk.status().message;
    blk_ = blk.value().get();
    auto t = VirtioMmio::create(*mem_, std::move(blk).value());
    ASSERT_TRUE(t.ok()) << t.status().message;
    t_ = std::move(t).value();
    bring_up();
  }

  void bring_up(uint16_t size = 16) {
    // A driver starts from zeroed rings (a reset leaves the old used.idx in guest memory).
    ASSERT_TRUE(mem_->write_bytes(kRings, std::vector<uint8_t>(0x4000, 0)));
    ASSERT_TRUE(negotiate(*t_, kWanted));
    setup_queue(*t_, 0, layout_at(kRings, size));
    driver_ok(*t_);
    ring_ = std::make_unique<RingDriver>(*mem_, layout_at(kRings, size));
    posted_ = 0;
  }

  void header(uint64_t gpa, uint32_t type, uint64_t sector) {
    ASSERT_TRUE(mem_->write(gpa, type));
    ASSERT_TRUE(mem_->write<uint32_t>(gpa + 4, 0));
    ASSERT_TRUE(mem_->write(gpa + 8, sector));
  }

  // Lays `bufs` out as a direct chain from descriptor `first`, publishes it and notifies; waits for it.
  Done submit(const std::vector<Buf>& bufs, uint16_t first = 0) {
    for (size_t i = 0; i < bufs.size(); ++i) {
      const bool last = i + 1 == bufs.size();
      const uint16_t flags = (bufs[i].writable ? kDescFlagWrite : 0) | (last ? 0 : kDescFlagNext);
      ring_->set_desc(static_cast<uint16_t>(first + i),
                      {bufs[i].gpa, bufs[i].len, flags, static_cast<uint16_t>(first + i + 1)});
    }
    return publish_and_wait(first, bufs);
  }

  Done publish_and_wait(uint16_t head, const std::vector<Buf>& bufs) {
    Done d;
    // The status byte's place, preset so that "never written" shows.
    uint64_t status_gpa = 0;
    bool has_status = false;
    for (const Buf& b : bufs) {
      if (b.writable && b.len > 0) {
        status_gpa = b.gpa + b.len - 1;
        has_status = true;
      }
    }
    if (has_status) {
      EXPECT_TRUE(mem_->write<uint8_t>(status_gpa, kUntouched));
    }
    ring_->publish(head);
    const uint16_t before = posted_++;
    wr(*t_, kMmioQueueNotify, 0);
    EXPECT_TRUE(wait_used(*ring_, before)) << "the device never answered";
    const auto used = ring_->used(before);
    EXPECT_EQ(used.id, head);
    d.len = used.len;
    if (has_status) d.status = *mem_->read<uint8_t>(status_gpa);
    return d;
  }

  // The usual three-part request: header, one data buffer at kData, status.
  Done rw(uint32_t type, uint64_t sector, uint32_t len) {
    header(kHdr, type, sector);
    std::vector<Buf> bufs{{kHdr, 16, false}};
    if (len > 0) bufs.push_back({kData, len, type == kBlkTypeIn || type == kBlkTypeGetId});
    bufs.push_back({kStatus, 1, true});
    return submit(bufs);
  }
  std::vector<uint8_t> guest_bytes(uint64_t gpa, size_t len) {
    std::vector<uint8_t> v(len);
    EXPECT_TRUE(mem_->read_bytes(gpa, v));
    return v;
  }
  void put_guest(uint64_t gpa, const std::vector<uint8_t>& bytes) { ASSERT_TRUE(mem_->write_bytes(gpa, bytes)); }
  std::vector<uint8_t> disk_bytes(BlockLayer& l, uint64_t offset, size_t len) {
    std::vector<uint8_t> v(len);
    EXPECT_TRUE(l.read(offset, v).ok());
    return v;
  }
  // A good read still works: whatever came before failed alone.
  void expect_still_serving() {
    const Done d = rw(kBlkTypeIn, 16, 1024);
    EXPECT_EQ(d.status, kBlkStatusOk);
    EXPECT_EQ(guest_bytes(kData, 1024), disk_bytes(*ov_, 16 * 512, 1024));
    EXPECT_EQ(t_->status() & kStatusNeedsReset, 0u);
  }

  TempDir dir_, images_;
  std::unique_ptr<memory::GuestMemory> mem_;
  std::shared_ptr<DiskImage> img_;
  std::shared_ptr<CowOverlay> ov_;
  VirtioBlk* blk_ = nullptr;
  std::unique_ptr<VirtioMmio> t_;
  std::unique_ptr<RingDriver> ring_;
  uint16_t posted_ = 0;
};

TEST_F(VirtioBlkTest, OffersAMinimalDiskAndSaysItsSize) {
  EXPECT_EQ(rd(*t_, kMmioDeviceId), kDeviceIdBlock);
  wr(*t_, kMmioStatus, 0);
  EXPECT_EQ(test::device_features(*t_), kWanted);
  EXPECT_EQ(rd(*t_, kMmioConfig + kBlkConfigCapacity), kSectors);
  EXPECT_EQ(rd(*t_, kMmioConfig + kBlkConfigCapacity + 4), 0u);
  EXPECT_EQ(rd(*t_, kMmioConfig + kBlkConfigSegMax), kBlkSegMax);
  EXPECT_EQ(rd(*t_, kMmioConfig + kBlkConfigBlkSize), 512u);
  uint8_t byte = 0xff;
  t_->read(kMmioConfig + kBlkConfigCapacity + 1, std::span(&byte, 1));
  EXPECT_EQ(byte, kSectors >> 8) << "byte reads of the configuration space";
  EXPECT_EQ(t_->stats().bad_accesses, 0u);
  // Creation refuses ids a guest could not show.
  EXPECT_FALSE(VirtioBlk::create(ov_, "an-id-longer-than-twenty").ok());
  EXPECT_FALSE(VirtioBlk::create(ov_, "tab\there").ok());
  EXPECT_FALSE(VirtioBlk::create(nullptr, "x").ok());
}

TEST_F(VirtioBlkTest, ReadsAndWritesRoundTripThroughTheOverlay) {
  Done d = rw(kBlkTypeIn, 0, 4096);
  EXPECT_EQ(d.status, kBlkStatusOk);
  EXPECT_EQ(d.len, 4097u) << "data and status written";
  EXPECT_EQ(guest_bytes(kData, 4096), pattern(0, 4096));

  const auto data = pattern(0, 3 * 512, 0x5c);
  put_guest(kData, data);
  d = rw(kBlkTypeOut, 5, 3 * 512);
  EXPECT_EQ(d.status, kBlkStatusOk);
  EXPECT_EQ(d.len, 1u) << "a write returns only its status";
  EXPECT_EQ(disk_bytes(*ov_, 5 * 512, 3 * 512), data);
  EXPECT_EQ(disk_bytes(*img_, 5 * 512, 3 * 512), pattern(5 * 512, 3 * 512)) << "the base image is never written";

  d = rw(kBlkTypeIn, 4, 8 * 512);
  EXPECT_EQ(d.status, kBlkStatusOk);
  auto expect = pattern(4 * 512, 8 * 512);
  std::copy(data.begin(), data.end(), expect.begin() + 512);
  EXPECT_EQ(guest_bytes(kData, 8 * 512), expect);
  // The last sector of the disk.
  d = rw(kBlkTypeIn, kSectors - 1, 512);
  EXPECT_EQ(d.status, kBlkStatusOk);
  EXPECT_EQ(guest_bytes(kData, 512), pattern(kDiskBytes - 512, 512));

  const BlkStats s = blk_->stats();
  EXPECT_EQ(s.reads, 3u);
  EXPECT_EQ(s.writes, 1u);
  EXPECT_EQ(s.read_bytes, 4096u + 4096 + 512);
  EXPECT_EQ(s.written_bytes, 1536u);
  EXPECT_EQ(s.bad_requests + s.bad_chains + s.io_errors, 0u);
  EXPECT_EQ(ov_->stats().copied_up, 1u) << "sectors 5..7 are part of block 0";
}

TEST_F(VirtioBlkTest, ScatteredSegmentsASplitHeaderAndAnIndirectTable) {
  // Header in two pieces, data over three writable buffers, the status sharing the last one.
  header(kHdr, kBlkTypeIn, 10);
  Done d = submit({{kHdr, 8, false},
                   {kHdr + 8, 8, false},
                   {kData, 512, true},
                   {kData + 0x2000, 1024, true},
                   {kData + 0x4000, 2560 + 1, true}});
  EXPECT_EQ(d.status, kBlkStatusOk);
  const auto want = pattern(10 * 512, 4096);
  EXPECT_EQ(guest_bytes(kData, 512), std::vector<uint8_t>(want.begin(), want.begin() + 512));
  EXPECT_EQ(guest_bytes(kData + 0x2000, 1024), std::vector<uint8_t>(want.begin() + 512, want.begin() + 1536));
  EXPECT_EQ(guest_bytes(kData + 0x4000, 2560), std::vector<uint8_t>(want.begin() + 1536, want.end()));

  // A write in an indirect table (what Linux sends once INDIRECT_DESC is negotiated).
  const uint64_t table = kData + 0x8000;
  const auto data = pattern(0, 2048, 0x99);
  put_guest(kData + 0x10000, data);
  header(kHdr, kBlkTypeOut, 100);
  ring_->set_table_entry(table, 0, {kHdr, 16, kDescFlagNext, 1});
  ring_->set_table_entry(table, 1, {kData + 0x10000, 1024, kDescFlagNext, 2});
  ring_->set_table_entry(table, 2, {kData + 0x10400, 1024, kDescFlagNext, 3});
  ring_->set_table_entry(table, 3, {kStatus, 1, kDescFlagWrite, 0});
  ring_->set_desc(0, {table, 4 * 16, kDescFlagIndirect, 0});
  d = publish_and_wait(0, {{kStatus, 1, true}});
  EXPECT_EQ(d.status, kBlkStatusOk);
  EXPECT_EQ(disk_bytes(*ov_, 100 * 512, 2048), data);
}

TEST_F(VirtioBlkTest, FlushAndGetId) {
  Done d = rw(kBlkTypeFlush, 0, 0);
  EXPECT_EQ(d.status, kBlkStatusOk);
  EXPECT_EQ(blk_->stats().flushes, 1u);
  put_guest(kData, std::vector<uint8_t>(32, 0x7f));
  d = rw(kBlkTypeGetId, 0, 20);
  EXPECT_EQ(d.status, kBlkStatusOk);
  EXPECT_EQ(d.len, 21u);
  auto id = guest_bytes(kData, 20);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(id.data())), "sf-test-disk");
  EXPECT_EQ(id[19], 0) << "NUL-padded to 20 bytes";
  d = rw(kBlkTypeGetId, 0, 8);
  EXPECT_EQ(d.status, kBlkStatusIoErr) << "20 bytes or nothing";
  EXPECT_EQ(blk_->stats().get_ids, 1u);
}

TEST_F(VirtioBlkTest, HostileRequestsFailAloneAndAreCounted) {
  const auto disk_before = disk_bytes(*ov_, 0, kDiskBytes);
  // Past the end, straddling it, and a sector whose byte offset overflows 64 bits.
  EXPECT_EQ(rw(kBlkTypeIn, kSectors, 512).status, kBlkStatusIoErr);
  EXPECT_EQ(rw(kBlkTypeIn, kSectors - 1, 1024).status, kBlkStatusIoErr);
  EXPECT_EQ(rw(kBlkTypeOut, kSectors - 1, 1024).status, kBlkStatusIoErr);
  EXPECT_EQ(rw(kBlkTypeIn, UINT64_MAX / 512 + 1, 512).status, kBlkStatusIoErr);
  EXPECT_EQ(rw(kBlkTypeOut, UINT64_MAX, 512).status, kBlkStatusIoErr);
  // A length that is not whole sectors.
  EXPECT_EQ(rw(kBlkTypeIn, 0, 100).status, kBlkStatusIoErr);
  // Wrong directions: a read into a device-readable buffer, a write from a device-writable one.
  header(kHdr, kBlkTypeIn, 0);
  EXPECT_EQ(submit({{kHdr, 16, false}, {kData, 512, false}, {kStatus, 1, true}}).status, kBlkStatusIoErr);
  header(kHdr, kBlkTypeOut, 0);
  EXPECT_EQ(submit({{kHdr, 16, false}, {kData, 512, true}, {kStatus, 1, true}}).status, kBlkStatusIoErr);
  // A flush carrying data.
  header(kHdr, kBlkTypeFlush, 0);
  EXPECT_EQ(submit({{kHdr, 16, false}, {kData, 512, false}, {kStatus, 1, true}}).status, kBlkStatusIoErr);
  // A header cut short.
  header(kHdr, kBlkTypeIn, 0);
  EXPECT_EQ(submit({{kHdr, 8, false}, {kStatus, 1, true}}).status, kBlkStatusIoErr);
  EXPECT_EQ(blk_->stats().bad_requests, 10u);
  // An unknown type (DISCARD is not offered either).
  EXPECT_EQ(rw(99, 0, 0).status, kBlkStatusUnsupp);
  EXPECT_EQ(rw(11, 0, 0).status, kBlkStatusUnsupp);
  EXPECT_EQ(blk_->stats().unsupported, 2u);

  // Chains that cannot be answered: returned with length 0 and the status byte left alone.
  const auto unanswered = [&](const Done& d) {
    EXPECT_EQ(d.len, 0u);
    EXPECT_EQ(d.status, kUntouched);
  };
  header(kHdr, kBlkTypeIn, 0);
  unanswered(submit({{kHdr, 16, false}, {0xc0000000, 512, true}, {kStatus, 1, true}}));    // the MMIO hole
  unanswered(submit({{kHdr, 16, false}, {kData, 0xffffffff, true}, {kStatus, 1, true}}));  // 4 GiB past RAM
  unanswered(submit({{0, 0, false}}));                                                     // zero-length chain
  header(kHdr, kBlkTypeOut, 0);
  unanswered(submit({{kHdr, 16, false}, {kData, 512, false}, {kStatus, 1, false}}));  // status byte readable
  unanswered(submit({{kHdr, 16, false}, {kData, 512, true}, {kStatus, 1, false}}));   // readable after writable
  // A loop: 0 -> 1 -> 0.
  ring_->set_desc(0, {kHdr, 16, kDescFlagNext, 1});
  ring_->set_desc(1, {kStatus, 1, kDescFlagWrite | kDescFlagNext, 0});
  unanswered(publish_and_wait(0, {}));
  // Over 4 GiB in one direction: an indirect table of 1024 buffers, each all of RAM.
  const uint64_t table = 0x200000;
  for (uint16_t i = 0; i < 1024; ++i) {
    ring_->set_table_entry(
        table, i, {0, static_cast<uint32_t>(4ull << 20), kDescFlagWrite | kDescFlagNext, static_cast<uint16_t>(i + 1)});
  }
  ring_->set_table_entry(table, 1023, {0, static_cast<uint32_t>(4ull << 20), kDescFlagWrite, 0});
  ring_->set_desc(0, {table, 1024 * 16, kDescFlagIndirect, 0});
  unanswered(publish_and_wait(0, {}));
  // Just under 4 GiB of whole sectors (999 x 4 MiB) after a good header: far past the disk's end.
  header(kHdr, kBlkTypeIn, 0);
  ring_->set_table_entry(table, 0, {kHdr, 16, kDescFlagNext, 1});
  for (uint16_t i = 1; i <= 999; ++i) {
    ring_->set_table_entry(
        table, i, {0, static_cast<uint32_t>(4ull << 20), kDescFlagWrite | kDescFlagNext, static_cast<uint16_t>(i + 1)});
  }
  ring_->set_table_entry(table, 1000, {kStatus, 1, kDescFlagWrite, 0});
  ring_->set_desc(0, {table, 1001 * 16, kDescFlagIndirect, 0});
  const Done huge = publish_and_wait(0, {{kStatus, 1, true}});
  EXPECT_EQ(huge.len, 1u) << "refused with a status, nothing transferred";
  EXPECT_EQ(huge.status, kBlkStatusIoErr);

  const BlkStats s = blk_->stats();
  EXPECT_EQ(s.bad_chains, 7u);
  EXPECT_EQ(s.bad_requests, 11u);
  EXPECT_EQ(s.reads + s.writes, 0u);
  EXPECT_EQ(t_->stats().bad_chains, 5u) << "the ones the queue itself refused";
  EXPECT_EQ(disk_bytes(*ov_, 0, kDiskBytes), disk_before) << "no refused request wrote the disk";
  expect_still_serving();
}

TEST_F(VirtioBlkTest, ABrokenRingAsksForAResetAndIsCountedOnce) {
  ring_->set_avail_idx(100);  // 100 requests on a 16-entry ring
  wr(*t_, kMmioQueueNotify, 0);
  ASSERT_TRUE(poll_until([&] { return (rd(*t_, kMmioStatus) & kStatusNeedsReset) != 0; }));
  wr(*t_, kMmioQueueNotify, 0);
  wr(*t_, kMmioQueueNotify, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(blk_->stats().queue_errors, 1u);
  wr(*t_, kMmioStatus, 0);
  bring_up();
  expect_still_serving();
}

TEST_F(VirtioBlkTest, TheForkFreezesTheDiskAndAClonesWritesStayItsOwn) {
  // Before the fork: the master writes sector 8 (block 1).
  put_guest(kData, std::vector<uint8_t>(512, 0xa1));
  ASSERT_EQ(rw(kBlkTypeOut, 8, 512).status, kBlkStatusOk);

  // The fork: quiesce, capture, freeze the disk, the master's device onto its new overlay, resume.
  ASSERT_TRUE(t_->quiesce(std::chrono::milliseconds(500)).ok());
  auto state = t_->capture();
  ASSERT_TRUE(state.ok()) << state.status().message;
  EXPECT_EQ(state->device.size(), 36u) << "version, size, GET_ID answer";
  auto fork = fork_disk(blk_->disk(), dir_.path());
  ASSERT_TRUE(fork.ok()) << fork.status().message;
  ASSERT_TRUE(blk_->rebind(fork->master).ok());
  t_->resume();
  EXPECT_EQ(blk_->rebind(fork->master).code, EBUSY) << "not while the device runs";

  // The clone: a copy of the parent's RAM, its own overlay on the snapshot, the transport restored.
  auto mem2 = test::make_ram();
  ASSERT_TRUE(mem2);
  {
    std::vector<uint8_t> ram(4ull << 20);
    ASSERT_TRUE(mem_->read_bytes(0, ram));
    ASSERT_TRUE(mem2->write_bytes(0, ram));
  }
  auto cov = CowOverlay::create(fork->snapshot, dir_.path());
  ASSERT_TRUE(cov.ok());
  auto blk2 = VirtioBlk::create(cov.value(), "sf-test-disk");
  ASSERT_TRUE(blk2.ok());
  auto t2 = VirtioMmio::create(*mem2, std::move(blk2).value());
  ASSERT_TRUE(t2.ok());
  Status rs = t2.value()->restore(state.value());
  ASSERT_TRUE(rs.ok()) << rs.message;
  RingDriver ring2(*mem2, layout_at(kRings, 16));
  ring2.set_avail_idx(posted_);

  // Each writes sector 8 after the fork; each reads its own bytes; the snapshot keeps the master's first.
  const auto clone_io = [&](uint32_t type, uint64_t sector) {
    header(kHdr, type, sector);  // in the parent's RAM: copy the request into the clone's
    std::vector<uint8_t> hdr(16);
    EXPECT_TRUE(mem_->read_bytes(kHdr, hdr));
    EXPECT_TRUE(mem2->write_bytes(kHdr, hdr));
    ring2.set_desc(0, {kHdr, 16, kDescFlagNext, 1});
    ring2.set_desc(1,
                   {kData, 512, static_cast<uint16_t>((type == kBlkTypeIn ? kDescFlagWrite : 0) | kDescFlagNext), 2});
    ring2.set_desc(2, {kStatus, 1, kDescFlagWrite, 0});
    const uint16_t before = ring2.used_idx();
    ring2.publish(0);
    wr(*t2.value(), kMmioQueueNotify, 0);
    EXPECT_TRUE(wait_used(ring2, before));
    return *mem2->read<uint8_t>(kStatus);
  };
  ASSERT_EQ(clone_io(kBlkTypeIn, 8), kBlkStatusOk);
  std::vector<uint8_t> got(512);
  ASSERT_TRUE(mem2->read_bytes(kData, got));
  EXPECT_EQ(got, std::vector<uint8_t>(512, 0xa1)) << "the clone sees the master's write from before the fork";
  ASSERT_TRUE(mem2->write_bytes(kData, std::vector<uint8_t>(512, 0xc1)));
  ASSERT_EQ(clone_io(kBlkTypeOut, 8), kBlkStatusOk);
  put_guest(kData, std::vector<uint8_t>(512, 0xa2));
  ASSERT_EQ(rw(kBlkTypeOut, 8, 512).status, kBlkStatusOk);

  ASSERT_EQ(rw(kBlkTypeIn, 8, 512).status, kBlkStatusOk);
  EXPECT_EQ(guest_bytes(kData, 512), std::vector<uint8_t>(512, 0xa2)) << "the master's own write";
  ASSERT_EQ(clone_io(kBlkTypeIn, 8), kBlkStatusOk);
  ASSERT_TRUE(mem2->read_bytes(kData, got));
  EXPECT_EQ(got, std::vector<uint8_t>(512, 0xc1)) << "the clone's own write, not the master's";
  EXPECT_EQ(disk_bytes(*fork->snapshot, 8 * 512, 512), std::vector<uint8_t>(512, 0xa1));

  // A clone whose disk is not the parent's size is refused.
  TempDir other;
  auto small = DiskImage::open(test::make_image(other, "small.img", kDiskBytes / 2));
  ASSERT_TRUE(small.ok());
  auto blk3 = VirtioBlk::create(small.value(), "x");
  ASSERT_TRUE(blk3.ok());
  auto t3 = VirtioMmio::create(*mem2, std::move(blk3).value());
  ASSERT_TRUE(t3.ok());
  const Status bad = t3.value()->restore(state.value());
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message.find("disk snapshot"), std::string::npos) << bad.message;
  EXPECT_EQ(blk_->rebind(small.value()).code, EINVAL);
}

TEST_F(VirtioBlkTest, ItsStateCarriesTheDisksSizeAndIdForClonesElsewhere) {
  const std::vector<uint8_t> state = blk_->capture_state();
  auto parsed = parse_blk_state(state);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message;
  EXPECT_EQ(parsed->capacity_bytes, kDiskBytes);
  EXPECT_EQ(parsed->id, "sf-test-disk");
  EXPECT_EQ(blk_state_capacity(state).value(), kDiskBytes);
  // A version-1 state (no id) from an older build still reads: the id is empty.
  std::vector<uint8_t> v1(state.begin(), state.begin() + 16);
  v1[0] = 1;
  parsed = parse_blk_state(v1);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message;
  EXPECT_EQ(parsed->capacity_bytes, kDiskBytes);
  EXPECT_EQ(parsed->id, "");
  EXPECT_TRUE(blk_->restore_state(v1).ok());
  // Refused: the wrong length for its version, an unknown version, an id no guest could be shown.
  EXPECT_FALSE(parse_blk_state({state.data(), 16}).ok());
  auto bad = state;
  bad[0] = 3;
  EXPECT_FALSE(parse_blk_state(bad).ok());
  bad = state;
  bad[16] = 0x07;
  EXPECT_FALSE(parse_blk_state(bad).ok());
  bad = state;
  bad[16 + 19] = 'x';  // a character after the NUL padding began
  EXPECT_FALSE(parse_blk_state(bad).ok());
  EXPECT_FALSE(blk_->restore_state(bad).ok());
}

TEST_F(VirtioBlkTest, AReadOnlyDiskFailsWritesWithIoErr) {
  ASSERT_TRUE(t_->quiesce(std::chrono::milliseconds(500)).ok());
  ASSERT_TRUE(blk_->rebind(img_).ok());
  t_->resume();
  EXPECT_EQ(rw(kBlkTypeOut, 0, 512).status, kBlkStatusIoErr);
  EXPECT_EQ(blk_->stats().io_errors, 1u);
  EXPECT_EQ(rw(kBlkTypeIn, 0, 512).status, kBlkStatusOk);
}

// The device thread against a driver thread keeping 16 requests in flight, with a third thread
// quiescing and resuming the device as forks would: every answer right, every quiesce clean, bounded.
TEST_F(VirtioBlkTest, DeviceThreadRacesADriverAndForks) {
  wr(*t_, kMmioStatus, 0);
  bring_up(64);
  constexpr int kSlots = 16, kRequests = 3000;
  constexpr uint64_t kSlotSectors = 64;  // each slot owns its own part of the disk: answers are exact
  std::vector<std::vector<uint8_t>> model(kSlots);
  for (int s = 0; s < kSlots; ++s) model[s] = disk_bytes(*ov_, s * kSlotSectors * 512, kSlotSectors * 512);

  std::atomic<bool> done{false};
  std::atomic<int> quiesces{0}, bad_quiesces{0};
  std::thread forker([&] {
    while (!done.load()) {
      if (t_->quiesce(std::chrono::milliseconds(2000)).ok()) {
        ++quiesces;
      } else {
        ++bad_quiesces;
      }
      t_->resume();
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });

  std::mt19937 rng(7);
  struct Pending {
    bool busy = false, read = false;
    uint64_t sector = 0;
    uint32_t len = 0;
  };
  std::vector<Pending> slots(kSlots);
  int issued = 0, completed = 0, wrong = 0;
  uint16_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (completed < kRequests && std::chrono::steady_clock::now() < deadline) {
    for (int s = 0; s < kSlots && issued < kRequests; ++s) {
      Pending& p = slots[s];
      if (p.busy) continue;
      p = {true, rng() % 2 == 0, rng() % (kSlotSectors - 8), static_cast<uint32_t>(512 * (1 + rng() % 8))};
      const uint64_t hdr = kHdr + 16ull * s, data = kData + 0x1000ull * s, status = kStatus + s;
      header(hdr, p.read ? kBlkTypeIn : kBlkTypeOut, s * kSlotSectors + p.sector);
      if (!p.read) {
        auto bytes = pattern(p.sector * 512, p.len, static_cast<uint8_t>(issued));
        put_guest(data, bytes);
        std::copy(bytes.begin(), bytes.end(), model[s].begin() + p.sector * 512);
      }
      const auto head = static_cast<uint16_t>(3 * s);
      ring_->set_desc(head, {hdr, 16, kDescFlagNext, static_cast<uint16_t>(head + 1)});
      ring_->set_desc(head + 1, {data, p.len, static_cast<uint16_t>((p.read ? kDescFlagWrite : 0) | kDescFlagNext),
                                 static_cast<uint16_t>(head + 2)});
      ring_->set_desc(head + 2, {status, 1, kDescFlagWrite, 0});
      EXPECT_TRUE(mem_->write<uint8_t>(status, kUntouched));
      ring_->publish(head);
      ++issued;
      wr(*t_, kMmioQueueNotify, 0);
    }
    while (seen != ring_->used_idx()) {
      const auto e = ring_->used(seen++);
      const int s = static_cast<int>(e.id / 3);
      Pending& p = slots[s];
      if (*mem_->read<uint8_t>(kStatus + s) != kBlkStatusOk) ++wrong;
      if (p.read &&
          guest_bytes(kData + 0x1000ull * s, p.len) !=
              std::vector<uint8_t>(model[s].begin() + p.sector * 512, model[s].begin() + p.sector * 512 + p.len)) {
        ++wrong;
      }
      p.busy = false;
      ++completed;
    }
    std::this_thread::yield();
  }
  done = true;
  forker.join();
  EXPECT_EQ(completed, kRequests) << "timed out";
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(bad_quiesces.load(), 0) << "a quiesce found a request in flight";
  EXPECT_GT(quiesces.load(), 0);
  for (int s = 0; s < kSlots; ++s) EXPECT_EQ(disk_bytes(*ov_, s * kSlotSectors * 512, kSlotSectors * 512), model[s]);
  std::printf("[ figures ] %d requests with 16 in flight, %d quiesce/resume cycles during them\n", kRequests,
              quiesces.load());
}

TEST_F(VirtioBlkTest, ResetAndTeardownWithRequestsOutstanding) {
  const auto post_five = [&] {
    for (uint16_t i = 0; i < 5; ++i) {
      header(kHdr + 16 * i, kBlkTypeIn, i);
      ring_->set_desc(3 * i, {kHdr + 16ull * i, 16, kDescFlagNext, static_cast<uint16_t>(3 * i + 1)});
      ring_->set_desc(3 * i + 1,
                      {kData + 0x1000ull * i, 4096, kDescFlagWrite | kDescFlagNext, static_cast<uint16_t>(3 * i + 2)});
      ring_->set_desc(3 * i + 2, {kStatus + i, 1, kDescFlagWrite, 0});
      ring_->publish(3 * i);
    }
    wr(*t_, kMmioQueueNotify, 0);
  };
  post_five();
  wr(*t_, kMmioStatus, 0);  // returns only once the device thread has let go of the queue
  EXPECT_EQ(rd(*t_, kMmioStatus), 0u);
  bring_up();
  expect_still_serving();
  post_five();
  t_.reset();  // the device thread is stopped and joined with work on the ring
}

// Sequential reads through the whole device path (ring, thread, overlay, base) against pread of the
// image file: the figure is the device's overhead per byte. Asserts the bytes.
TEST_F(VirtioBlkTest, SequentialReadFigure) {
  TempDir big;
  const uint64_t size = 16ull << 20, chunk = 64 << 10;
  const std::string path = test::make_image(big, "big.img", size);
  auto img = DiskImage::open(path);
  ASSERT_TRUE(img.ok());
  auto ov = CowOverlay::create(img.value(), dir_.path());
  ASSERT_TRUE(ov.ok());
  // A disk of another size needs a device of its own (rebind keeps the guest's capacity).
  t_.reset();
  auto blk = VirtioBlk::create(ov.value(), "big");
  ASSERT_TRUE(blk.ok());
  blk_ = blk.value().get();
  t_ = std::move(VirtioMmio::create(*mem_, std::move(blk).value())).value();
  bring_up();
  std::vector<uint8_t> buf(chunk);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  double raw = 0, dev = 0;
  for (int pass = 0; pass < 3; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t at = 0; at < size; at += chunk) ASSERT_TRUE(pread_full(fd, buf, at, "raw").ok());
    raw = std::max(raw, static_cast<double>(size) / (1 << 20) / test::seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    for (uint64_t at = 0; at < size; at += chunk) {
      ASSERT_EQ(rw(kBlkTypeIn, at / 512, chunk).status, kBlkStatusOk);
    }
    dev = std::max(dev, static_cast<double>(size) / (1 << 20) / test::seconds_since(t0));
  }
  ::close(fd);
  EXPECT_EQ(guest_bytes(kData, chunk), pattern(size - chunk, chunk));
  std::printf("[ figures ] 16 MiB sequential in 64 KiB requests, MiB/s: pread of the image %.0f, virtio-blk %.0f\n",
              raw, dev);
}

}  // namespace
}  // namespace sf::devices
