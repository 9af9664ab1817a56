// Tests of the disk layers: the raw base image and its checks, the copy-on-write overlay (write-then-read,
// partial-block copy-up, reads across present and absent blocks against a model, flush, size limits,
// sparse unnamed files that vanish with the overlay, the sweep), and the fork of a disk (a frozen snapshot
// under the master's fresh overlay and one overlay per clone, none seeing another's writes). No KVM.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "blk_test_support.h"
#include "devices/cow_overlay.h"
#include "devices/disk_image.h"

namespace sf::devices {
namespace {

using test::make_image;
using test::pattern;
using test::TempDir;

constexpr uint64_t kB = kDiskBlockBytes;

std::shared_ptr<DiskImage> open_image(const std::string& path) {
  auto img = DiskImage::open(path);
  EXPECT_TRUE(img.ok()) << img.status().message;
  return img.ok() ? img.value() : nullptr;
}

std::shared_ptr<CowOverlay> overlay_over(std::shared_ptr<BlockLayer> lower, const std::string& dir,
                                         bool named = false) {
  auto o = CowOverlay::create(std::move(lower), dir, named);
  EXPECT_TRUE(o.ok()) << o.status().message;
  return o.ok() ? o.value() : nullptr;
}

std::vector<uint8_t> read_all(BlockLayer& layer, uint64_t offset, size_t len) {
  std::vector<uint8_t> v(len);
  Status s = layer.read(offset, v);
  EXPECT_TRUE(s.ok()) << s.message;
  return v;
}

std::vector<uint8_t> filled(size_t len, uint8_t value) { return std::vector<uint8_t>(len, value); }

// ---- the base image ----

TEST(DiskImageTest, ReadsTheFileAndNothingPastIt) {
  TempDir dir;
  auto img = open_image(make_image(dir, "base.img", 3 * kB + 512));
  ASSERT_TRUE(img);
  EXPECT_EQ(img->size(), 3 * kB + 512);
  EXPECT_FALSE(img->writable());
  EXPECT_EQ(read_all(*img, 0, 3 * kB + 512), pattern(0, 3 * kB + 512));
  EXPECT_EQ(read_all(*img, 3 * kB + 100, 412), pattern(3 * kB + 100, 412));
  std::vector<uint8_t> buf(513);
  EXPECT_EQ(img->read(3 * kB, buf).code, EINVAL) << "one byte past the end";
  EXPECT_EQ(img->read(UINT64_MAX - 10, std::span(buf).first(20)).code, EINVAL) << "offset + len wraps";
  EXPECT_TRUE(img->read(3 * kB + 512, std::span(buf).first(0)).ok()) << "an empty read at the end";
  EXPECT_EQ(img->write(0, buf).code, EROFS);
  EXPECT_TRUE(img->block_present(3)) << "the partial last block is the image's";
  EXPECT_FALSE(img->block_present(4));
}

TEST(DiskImageTest, RefusesWhatIsNotADisk) {
  TempDir dir;
  auto expect_refused = [](const std::string& path, int code, const char* says) {
    auto img = DiskImage::open(path);
    ASSERT_FALSE(img.ok()) << path;
    EXPECT_EQ(img.status().code, code) << img.status().message;
    EXPECT_NE(img.status().message.find(says), std::string::npos) << img.status().message;
    EXPECT_NE(img.status().message.find(path), std::string::npos) << "the message names the file";
  };
  expect_refused(dir.file("missing.img"), ENOENT, "No such file");
  expect_refused(dir.path(), EINVAL, "not a regular file");
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  expect_refused(dir.file("fifo"), EINVAL, "not a regular file");
  make_image(dir, "empty.img", 0);
  expect_refused(dir.file("empty.img"), EINVAL, "empty");
  make_image(dir, "odd.img", 1000);
  expect_refused(dir.file("odd.img"), EINVAL, "multiple of 512");
  // Sparse: costs no space.
  const std::string huge = dir.file("huge.img");
  FILE* f = std::fopen(huge.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ASSERT_EQ(::truncate(huge.c_str(), static_cast<off_t>(kMaxDiskBytes + 512)), 0);
  expect_refused(huge, EFBIG, "over the limit");
}

// ---- the overlay ----

TEST(CowOverlayTest, WritesLandInTheOverlayAndNeverInTheBase) {
  TempDir dir;
  auto img = open_image(make_image(dir, "base.img", 16 * kB));
  auto ov = overlay_over(img, dir.path());
  ASSERT_TRUE(ov);
  EXPECT_TRUE(ov->writable());
  EXPECT_EQ(ov->size(), 16 * kB);
  EXPECT_EQ(read_all(*ov, 0, 16 * kB), pattern(0, 16 * kB)) << "an empty overlay shows the base";
  ASSERT_TRUE(ov->write(2 * kB, filled(2 * kB, 0xab)).ok());
  EXPECT_EQ(read_all(*ov, 2 * kB, 2 * kB), filled(2 * kB, 0xab));
  EXPECT_EQ(read_all(*img, 2 * kB, 2 * kB), pattern(2 * kB, 2 * kB)) << "the base is never written";
  EXPECT_TRUE(ov->block_present(2) && ov->block_present(3));
  EXPECT_FALSE(ov->block_present(1) || ov->block_present(4));
  const OverlayStats s = ov->stats();
  EXPECT_EQ(s.blocks_present, 2u);
  EXPECT_EQ(s.copied_up, 0u) << "whole blocks need no copy-up";
  EXPECT_TRUE(ov->flush().ok());
}

TEST(CowOverlayTest, APartialBlockWriteCopiesTheBlockUpFirst) {
  TempDir dir;
  auto ov = overlay_over(open_image(make_image(dir, "base.img", 16 * kB)), dir.path());
  ASSERT_TRUE(ov);
  // 512 bytes in the middle of block 1.
  ASSERT_TRUE(ov->write(kB + 1024, filled(512, 0x5a)).ok());
  auto expect = pattern(0, 16 * kB);
  std::fill(expect.begin() + kB + 1024, expect.begin() + kB + 1536, 0x5a);
  EXPECT_EQ(read_all(*ov, 0, 16 * kB), expect);
  EXPECT_EQ(ov->stats().copied_up, 1u);
  // A second partial write into the same (now present) block copies nothing.
  ASSERT_TRUE(ov->write(kB, filled(100, 0x11)).ok());
  std::fill(expect.begin() + kB, expect.begin() + kB + 100, 0x11);
  EXPECT_EQ(read_all(*ov, kB, kB), std::vector<uint8_t>(expect.begin() + kB, expect.begin() + 2 * kB));
  EXPECT_EQ(ov->stats().copied_up, 1u);
  // From the middle of block 4 to the middle of block 7: the two ends copied up, 5 and 6 written whole.
  ASSERT_TRUE(ov->write(4 * kB + 3000, filled(3 * kB, 0x77)).ok());
  std::fill(expect.begin() + 4 * kB + 3000, expect.begin() + 7 * kB + 3000, 0x77);
  EXPECT_EQ(read_all(*ov, 0, 16 * kB), expect);
  EXPECT_EQ(ov->stats().copied_up, 3u);
  EXPECT_EQ(ov->stats().blocks_present, 5u);
}

TEST(CowOverlayTest, TheLastBlockOfADiskOfOddBlocksIsShort) {
  TempDir dir;
  const uint64_t size = 3 * kB + 1024;  // block 3 holds 1 KiB
  auto ov = overlay_over(open_image(make_image(dir, "base.img", size)), dir.path());
  ASSERT_TRUE(ov);
  ASSERT_TRUE(ov->write(3 * kB, filled(1024, 0x42)).ok());
  EXPECT_EQ(ov->stats().copied_up, 0u) << "1 KiB covers the whole last block";
  ASSERT_TRUE(ov->write(2 * kB + 4000, filled(200, 0x43)).ok());  // the end of block 2, the start of 3
  auto expect = pattern(0, size);
  std::fill(expect.begin() + 3 * kB, expect.end(), 0x42);
  std::fill(expect.begin() + 2 * kB + 4000, expect.begin() + 2 * kB + 4200, 0x43);
  EXPECT_EQ(read_all(*ov, 0, size), expect);
  EXPECT_EQ(ov->stats().copied_up, 1u) << "block 2 copied up; block 3 was present";
  std::vector<uint8_t> one(1);
  EXPECT_EQ(ov->write(size, one).code, EINVAL);
  EXPECT_EQ(ov->write(size - 512, filled(513, 1)).code, EINVAL);
  EXPECT_EQ(ov->read(UINT64_MAX, one).code, EINVAL);
}

TEST(CowOverlayTest, RandomWritesAndReadsMatchAModel) {
  TempDir dir;
  const uint64_t size = 256 * kB;
  auto ov = overlay_over(open_image(make_image(dir, "base.img", size)), dir.path());
  ASSERT_TRUE(ov);
  auto model = pattern(0, size);
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 600; ++i) {
    // Mostly sector-aligned like a guest, sometimes any byte (the layer takes both).
    const bool aligned = rng() % 4 != 0;
    uint64_t len = 1 + rng() % (3 * kB * (1 + rng() % 4));
    uint64_t off = rng() % size;
    if (aligned) {
      off &= ~(kSectorBytes - 1);
      len = (len + kSectorBytes - 1) & ~(kSectorBytes - 1);
    }
    len = std::min(len, size - off);
    if (rng() % 2 == 0) {
      std::vector<uint8_t> data(len);
      for (auto& b : data) b = static_cast<uint8_t>(rng());
      ASSERT_TRUE(ov->write(off, data).ok());
      std::copy(data.begin(), data.end(), model.begin() + static_cast<ptrdiff_t>(off));
    } else {
      ASSERT_EQ(read_all(*ov, off, len), std::vector<uint8_t>(model.begin() + off, model.begin() + off + len))
          << "read [" << off << ", +" << len << ") after " << i << " operations";
    }
  }
  EXPECT_EQ(read_all(*ov, 0, size), model);
  EXPECT_GT(ov->stats().copied_up, 0u);
  EXPECT_GT(ov->stats().lower_reads, 0u);
}

TEST(CowOverlayTest, ItsFileIsSparseUnnamedAndGoesWithIt) {
  for (const bool named : {false, true}) {
    SCOPED_TRACE(named ? "named then unlinked (the fallback)" : "O_TMPFILE");
    TempDir dir;
    TempDir images;
    const uint64_t size = 64ull << 20;
    auto img = open_image(make_image(images, "base.img", size));
    ASSERT_TRUE(img);
    auto ov = overlay_over(img, dir.path(), named);
    ASSERT_TRUE(ov);
    ASSERT_TRUE(ov->write(0, filled(kB, 1)).ok());
    ASSERT_TRUE(ov->write(60ull << 20, filled(512, 2)).ok());
    struct stat st {};
    ASSERT_EQ(::fstat(ov->fd(), &st), 0);
    EXPECT_EQ(st.st_nlink, 0u) << "no name: a crash leaves nothing";
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
    EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 256 * 1024u) << "two blocks written of 64 MiB";
    EXPECT_EQ(ov->stats().allocated_bytes, static_cast<uint64_t>(st.st_blocks) * 512);
    EXPECT_TRUE(dir.entries().empty());
    EXPECT_EQ(test::open_files_in(dir.path()), 1);
    ov.reset();
    EXPECT_EQ(test::open_files_in(dir.path()), 0) << "the overlay's file is closed (and so freed) with it";
  }
}

TEST(CowOverlayTest, RefusesAWritableLowerLayerAndAMissingDirectory) {
  TempDir dir;
  auto img = open_image(make_image(dir, "base.img", 4 * kB));
  auto ov = overlay_over(img, dir.path());
  ASSERT_TRUE(ov);
  auto on_writable = CowOverlay::create(ov, dir.path());
  ASSERT_FALSE(on_writable.ok());
  EXPECT_NE(on_writable.status().message.find("freeze it first"), std::string::npos);
  auto no_dir = CowOverlay::create(img, dir.file("nope"));
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(no_dir.status().code, ENOENT) << no_dir.status().message;
  EXPECT_FALSE(CowOverlay::create(nullptr, dir.path()).ok());
}

TEST(CowOverlayTest, SweepRemovesOnlyStaleOverlayFiles) {
  TempDir dir;
  for (const char* name : {"sf-overlay-abc123", "sf-overlay-zzz", "keep.img"}) {
    FILE* f = std::fopen(dir.file(name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  ASSERT_EQ(::mkdir(dir.file("sf-overlay-dir").c_str(), 0700), 0);
  auto removed = sweep_overlays(dir.path());
  ASSERT_TRUE(removed.ok()) << removed.status().message;
  EXPECT_EQ(removed.value(), 2u);
  auto left = dir.entries();
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"keep.img", "sf-overlay-dir"})) << "directories are not overlays";
  ::rmdir(dir.file("sf-overlay-dir").c_str());
  EXPECT_FALSE(sweep_overlays(dir.file("missing")).ok());
}

// A read-only layer standing in for one that can fail (a remote layer whose fetch times out): the
// overlay's behaviour above such a layer is what the test is about, not the layer.
class FlakyLayer final : public BlockLayer {
 public:
  explicit FlakyLayer(uint64_t size) : bytes_(pattern(0, size, 0x3c)) {}
  uint64_t size() const override { return bytes_.size(); }
  Status read(uint64_t offset, std::span<uint8_t> out) override {
    if (Status s = check_range(offset, out.size(), size()); !s.ok()) return s;
    ++reads;
    for (uint64_t b = offset / kB; out.size() > 0 && b <= (offset + out.size() - 1) / kB; ++b) {
      if (b == failing) return Status::Error(ETIMEDOUT, "block " + std::to_string(b) + " did not arrive");
    }
    std::copy_n(bytes_.begin() + static_cast<ptrdiff_t>(offset), out.size(), out.begin());
    return Status::Ok();
  }
  bool block_present(uint64_t block) const override { return block < bytes_.size() / kB && block != failing; }

  uint64_t failing = UINT64_MAX;
  int reads = 0;

 private:
  std::vector<uint8_t> bytes_;
};

TEST(CowOverlayTest, AFailingLayerBelowFailsOnlyWhatNeedsIt) {
  TempDir dir;
  auto below = std::make_shared<FlakyLayer>(8 * kB);
  auto ov = overlay_over(below, dir.path());
  ASSERT_TRUE(ov);
  below->failing = 2;
  std::vector<uint8_t> buf(kB);
  EXPECT_EQ(ov->read(2 * kB, buf).code, ETIMEDOUT) << "the layer's reason comes through";
  EXPECT_TRUE(ov->read(kB, buf).ok());
  // A partial write needs the block from below: it fails, and the block stays absent.
  EXPECT_EQ(ov->write(2 * kB + 512, filled(512, 1)).code, ETIMEDOUT);
  EXPECT_FALSE(ov->block_present(2));
  EXPECT_EQ(ov->stats().copied_up, 0u);
  // A whole-block write needs nothing from below: a remote block overwritten is never fetched.
  const int reads = below->reads;
  ASSERT_TRUE(ov->write(3 * kB, filled(kB, 2)).ok());
  EXPECT_EQ(below->reads, reads);
  // Once the block arrives, the failed write has left no trace.
  below->failing = UINT64_MAX;
  EXPECT_EQ(read_all(*ov, 2 * kB, kB), pattern(2 * kB, kB, 0x3c));
  EXPECT_EQ(read_all(*ov, 3 * kB, kB), filled(kB, 2));
}

// ---- the fork of a disk ----

TEST(DiskForkTest, ClonesSeeTheSnapshotAndNeverEachOthersOrTheMastersLaterWrites) {
  TempDir dir, images;
  const uint64_t size = 32 * kB;
  auto img = open_image(make_image(images, "base.img", size));
  auto master0 = overlay_over(img, dir.path());
  ASSERT_TRUE(master0);
  ASSERT_TRUE(master0->write(1 * kB, filled(kB, 0xa0)).ok());  // before the fork: every clone sees it
  ASSERT_TRUE(master0->write(5 * kB + 512, filled(512, 0xa5)).ok());

  auto fork = fork_disk(master0, dir.path());
  ASSERT_TRUE(fork.ok()) << fork.status().message;
  std::shared_ptr<BlockLayer> snap = fork->snapshot;
  std::shared_ptr<CowOverlay> master = fork->master;
  EXPECT_EQ(snap.get(), master0.get()) << "the master's old overlay is the snapshot";
  EXPECT_FALSE(snap->writable());
  EXPECT_TRUE(master0->stats().frozen);
  EXPECT_EQ(snap->write(0, filled(512, 1)).code, EROFS) << "a frozen layer takes no writes";
  EXPECT_TRUE(snap->flush().ok());

  auto c1 = overlay_over(snap, dir.path());
  auto c2 = overlay_over(snap, dir.path());
  ASSERT_TRUE(c1 && c2);
  auto at_fork = pattern(0, size);
  std::fill(at_fork.begin() + kB, at_fork.begin() + 2 * kB, 0xa0);
  std::fill(at_fork.begin() + 5 * kB + 512, at_fork.begin() + 5 * kB + 1024, 0xa5);
  for (BlockLayer* l : {static_cast<BlockLayer*>(c1.get()), static_cast<BlockLayer*>(c2.get()),
                        static_cast<BlockLayer*>(master.get())}) {
    EXPECT_EQ(read_all(*l, 0, size), at_fork) << "every VM starts from the snapshot";
  }

  // After the fork, each VM writes the same blocks with its own bytes.
  ASSERT_TRUE(c1->write(1 * kB + 512, filled(512, 0xc1)).ok());
  ASSERT_TRUE(c2->write(1 * kB + 512, filled(512, 0xc2)).ok());
  ASSERT_TRUE(master->write(1 * kB + 512, filled(512, 0xee)).ok());
  ASSERT_TRUE(c1->write(9 * kB, filled(kB, 0xc1)).ok());
  ASSERT_TRUE(master->write(10 * kB, filled(kB, 0xee)).ok());

  auto expect_c1 = at_fork, expect_c2 = at_fork, expect_m = at_fork;
  std::fill(expect_c1.begin() + kB + 512, expect_c1.begin() + kB + 1024, 0xc1);
  std::fill(expect_c1.begin() + 9 * kB, expect_c1.begin() + 10 * kB, 0xc1);
  std::fill(expect_c2.begin() + kB + 512, expect_c2.begin() + kB + 1024, 0xc2);
  std::fill(expect_m.begin() + kB + 512, expect_m.begin() + kB + 1024, 0xee);
  std::fill(expect_m.begin() + 10 * kB, expect_m.begin() + 11 * kB, 0xee);
  EXPECT_EQ(read_all(*c1, 0, size), expect_c1);
  EXPECT_EQ(read_all(*c2, 0, size), expect_c2);
  EXPECT_EQ(read_all(*master, 0, size), expect_m);
  EXPECT_EQ(read_all(*snap, 0, size), at_fork) << "the snapshot never changes";
  EXPECT_EQ(read_all(*img, 0, size), pattern(0, size));

  // Clones end: their overlays (and files) go, the snapshot stays for the master.
  EXPECT_EQ(test::open_files_in(dir.path()), 4);  // master0 (= snap), master, c1, c2
  c1.reset();
  c2.reset();
  EXPECT_EQ(test::open_files_in(dir.path()), 2);
  EXPECT_EQ(read_all(*master, 0, size), expect_m);
}

TEST(DiskForkTest, AForkOfAForkStacksAnotherSnapshot) {
  TempDir dir;
  const uint64_t size = 8 * kB;
  auto img = open_image(make_image(dir, "base.img", size));
  // A master with no overlay yet: the base is the snapshot.
  auto f1 = fork_disk(img, dir.path());
  ASSERT_TRUE(f1.ok()) << f1.status().message;
  EXPECT_EQ(f1->snapshot.get(), img.get());
  auto clone = overlay_over(f1->snapshot, dir.path());
  ASSERT_TRUE(clone);
  ASSERT_TRUE(clone->write(0, filled(kB, 0x01)).ok());
  // The clone forks in turn: its grandchildren see its writes, the master does not.
  auto f2 = fork_disk(clone, dir.path());
  ASSERT_TRUE(f2.ok());
  auto grandchild = overlay_over(f2->snapshot, dir.path());
  ASSERT_TRUE(grandchild);
  ASSERT_TRUE(f2->master->write(kB, filled(kB, 0x02)).ok());
  ASSERT_TRUE(grandchild->write(2 * kB + 100, filled(10, 0x03)).ok());
  auto expect = pattern(0, size);
  std::fill(expect.begin(), expect.begin() + kB, 0x01);
  auto expect_child = expect;
  std::fill(expect_child.begin() + kB, expect_child.begin() + 2 * kB, 0x02);
  std::fill(expect.begin() + 2 * kB + 100, expect.begin() + 2 * kB + 110, 0x03);
  EXPECT_EQ(read_all(*grandchild, 0, size), expect);
  EXPECT_EQ(read_all(*f2->master, 0, size), expect_child);
  EXPECT_EQ(read_all(*f1->master, 0, size), pattern(0, size));
}

TEST(DiskForkTest, AFailedForkLeavesTheDiskWritable) {
  TempDir dir;
  auto img = open_image(make_image(dir, "base.img", 4 * kB));
  auto ov = overlay_over(img, dir.path());
  ASSERT_TRUE(ov);
  auto f = fork_disk(ov, dir.file("missing"));
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(ov->writable()) << "nothing froze";
  EXPECT_TRUE(ov->write(0, filled(512, 9)).ok());
}

// ---- figures ----

// Sequential throughput of the layers against the same file read and written directly (page cache warm
// for both; the figure is the overlay's overhead, not the disk's speed). Asserts the bytes, prints the rest.
TEST(CowOverlayTest, ThroughputAgainstTheRawFile) {
  TempDir dir;
  const uint64_t size = 32ull << 20, chunk = 1ull << 20;
  const std::string path = make_image(dir, "base.img", size);
  auto img = open_image(path);
  auto ov = overlay_over(img, dir.path());
  ASSERT_TRUE(ov);
  std::vector<uint8_t> buf(chunk);
  const auto mib_s = [&](double secs) { return static_cast<double>(size) / (1 << 20) / secs; };
  // Best of three passes: the first pass over anything pays for warming caches and clocks.
  const auto run = [&](auto&& op) {
    double best = 0;
    for (int pass = 0; pass < 3; ++pass) {
      const auto t0 = std::chrono::steady_clock::now();
      for (uint64_t at = 0; at < size; at += chunk) op(at);
      best = std::max(best, mib_s(test::seconds_since(t0)));
    }
    return best;
  };
  const int raw = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  const double raw_read = run([&](uint64_t at) { ASSERT_TRUE(pread_full(raw, buf, at, "raw").ok()); });
  const double base_read = run([&](uint64_t at) { ASSERT_TRUE(img->read(at, buf).ok()); });
  const double absent_read = run([&](uint64_t at) { ASSERT_TRUE(ov->read(at, buf).ok()); });
  EXPECT_EQ(buf, pattern(size - chunk, chunk));
  for (auto& b : buf) b ^= 0xff;
  const double ov_write = run([&](uint64_t at) { ASSERT_TRUE(ov->write(at, buf).ok()); });
  const double present_read = run([&](uint64_t at) { ASSERT_TRUE(ov->read(at, buf).ok()); });
  const double raw_write = run([&](uint64_t at) { ASSERT_TRUE(pwrite_full(raw, buf, at, "raw").ok()); });
  ::close(raw);
  EXPECT_EQ(ov->stats().copied_up, 0u);
  // The copy-up path: one 512-byte write into each absent block of a fresh overlay.
  auto ov2 = overlay_over(img, dir.path());
  ASSERT_TRUE(ov2);
  const std::vector<uint8_t> sector(512, 0x33);
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t n = 4096;
  for (uint64_t b = 0; b < n; ++b) ASSERT_TRUE(ov2->write(b * kB + 1024, sector).ok());
  const double copy_ups_per_s = static_cast<double>(n) / test::seconds_since(t0);
  EXPECT_EQ(ov2->stats().copied_up, n);
  std::printf(
      "[ figures ] 32 MiB in 1 MiB requests, MiB/s: raw file read %.0f, base image read %.0f, overlay read of "
      "absent blocks %.0f, of present blocks %.0f; raw file write %.0f, overlay write %.0f; partial-block "
      "copy-ups %.0f/s\n",
      raw_read, base_read, absent_read, present_read, raw_write, ov_write, copy_ups_per_s);
}

}  // namespace
}  // namespace sf::devices
