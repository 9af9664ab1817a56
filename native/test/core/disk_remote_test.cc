// Disk blocks across hosts (issue 13 item 4): the page protocol's second address space (encode/decode,
// and hostile datagrams: past the disk's end, the wrong space, forged), and a memserver serving a frozen
// disk to RemoteDisk layers through one host mirror over loopback UDP — with injected loss, in unicast
// and multicast mode, and with the server gone.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "devices/disk_image.h"
#include "devices/remote_disk.h"
#include "memserver/disk_fetcher.h"
#include "memserver/memserver.h"
#include "memserver/multicast.h"
#include "memserver/page_wire.h"
#include "memserver/remote_source.h"
#include "memserver_fixture.h"

namespace sf::memserver::test {
namespace {

constexpr uint64_t kId = 0x0d15c0d15c0d15c0ull;
constexpr uint64_t kBlocks = 100;

std::vector<uint8_t> encode(const PageRequest& r, const SnapshotKey& key = test_key()) {
  std::vector<uint8_t> b(kRequestBytes);
  EXPECT_EQ(encode_request(r, key, b), kRequestBytes);
  return b;
}

std::vector<uint8_t> encode(const PageFragment& f, const SnapshotKey& key = test_key()) {
  std::vector<uint8_t> b(kFragmentOverhead + f.length);
  EXPECT_EQ(encode_fragment(f, key, b), b.size());
  return b;
}

PageRequest disk_request(uint64_t first, uint32_t n) {
  PageRequest r;
  r.snapshot_id = kId;
  r.first_page = first;
  r.npages = n;
  r.client_id = 5;
  r.seq = 6;
  r.space = Space::disk;
  return r;
}

TEST(DiskWire, BothSpacesRoundTripAndStayApart) {
  PageRequest got;
  const auto disk = encode(disk_request(90, 10));
  ASSERT_EQ(decode_request(disk, kId, test_key(), &got, kBlocks), WireError::ok);
  EXPECT_EQ(got.space, Space::disk);
  EXPECT_EQ(got.first_page, 90u);
  EXPECT_EQ(got.npages, 10u);
  PageRequest mem = disk_request(90, 10);
  mem.space = Space::memory;
  mem.retry = true;
  ASSERT_EQ(decode_request(encode(mem), kId, test_key(), &got, kBlocks), WireError::ok);
  EXPECT_EQ(got.space, Space::memory);
  EXPECT_TRUE(got.retry);
  // The flag is the only difference: the same fields in the other space are another datagram.
  EXPECT_NE(encode(mem), encode(disk_request(90, 10)));

  std::vector<uint8_t> block(kWirePage);
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<uint8_t>(i * 13 + 1);
  PageFragment f;
  f.snapshot_id = kId;
  f.page = 99;
  f.offset = 1424;
  f.length = 1424;
  f.payload = {block.data() + 1424, 1424};
  f.space = Space::disk;
  PageFragment fg;
  ASSERT_EQ(decode_fragment(encode(f), kId, test_key(), &fg, kBlocks), WireError::ok);
  EXPECT_EQ(fg.space, Space::disk);
  EXPECT_EQ(fg.page, 99u);
  EXPECT_EQ(std::memcmp(fg.payload.data(), block.data() + 1424, 1424), 0);
  PageFragment z;
  z.snapshot_id = kId;
  z.zero = true;
  z.page = 40;
  z.count = 60;  // up to the last block exactly
  z.space = Space::disk;
  ASSERT_EQ(decode_fragment(encode(z), kId, test_key(), &fg, kBlocks), WireError::ok);
  EXPECT_TRUE(fg.zero);
  EXPECT_EQ(fg.space, Space::disk);
  EXPECT_EQ(fg.count, 60u);
  EXPECT_STREQ(space_name(Space::disk), "disk");
}

TEST(DiskWire, HostileDiskDatagramsAreRefusedWithTheirReason) {
  PageRequest r;
  // Past the end, or straddling it: malformed (the server has no such block).
  EXPECT_EQ(decode_request(encode(disk_request(kBlocks, 1)), kId, test_key(), &r, kBlocks), WireError::malformed);
  EXPECT_EQ(decode_request(encode(disk_request(95, 6)), kId, test_key(), &r, kBlocks), WireError::malformed);
  EXPECT_EQ(decode_request(encode(disk_request(UINT64_MAX - 2000, 1000)), kId, test_key(), &r, kBlocks),
            WireError::malformed);
  EXPECT_EQ(decode_request(encode(disk_request(95, 5)), kId, test_key(), &r, kBlocks), WireError::ok);
  // The wrong space: a disk request to a snapshot without a disk (or a receiver that predates disks).
  EXPECT_EQ(decode_request(encode(disk_request(0, 1)), kId, test_key(), &r), WireError::malformed);
  // The disk's bounds say nothing about memory: a memory request past them is the server's range check.
  PageRequest mem = disk_request(5000, 1);
  mem.space = Space::memory;
  EXPECT_EQ(decode_request(encode(mem), kId, test_key(), &r, kBlocks), WireError::ok);
  // Forged: moving a memory request into the disk space (or back) without the key breaks the MAC; so
  // does a request made under another snapshot's key; another snapshot's id is foreign.
  auto flipped = encode(mem);
  flipped[6] ^= static_cast<uint8_t>(kRequestFlagDisk);
  EXPECT_EQ(decode_request(flipped, kId, test_key(), &r, kBlocks), WireError::bad_mac);
  EXPECT_EQ(decode_request(encode(disk_request(1, 1), test_key(9)), kId, test_key(), &r, kBlocks), WireError::bad_mac);
  EXPECT_EQ(decode_request(encode(disk_request(1, 1)), kId + 1, test_key(), &r, kBlocks), WireError::foreign_snapshot);
  // An unknown flag beside the disk one is still malformed.
  auto unknown = encode(disk_request(1, 1));
  unknown[7] = 0x80;
  const uint64_t mac = siphash24(test_key(), unknown.data(), unknown.size() - kMacBytes);
  for (int i = 0; i < 8; ++i) unknown[unknown.size() - kMacBytes + i] = static_cast<uint8_t>(mac >> (8 * i));
  EXPECT_EQ(decode_request(unknown, kId, test_key(), &r, kBlocks), WireError::malformed);

  PageFragment f, got;
  f.snapshot_id = kId;
  f.zero = true;
  f.space = Space::disk;
  f.page = 50;
  f.count = 51;  // one past the end
  EXPECT_EQ(decode_fragment(encode(f), kId, test_key(), &got, kBlocks), WireError::malformed);
  f.page = kBlocks;
  f.count = 1;
  EXPECT_EQ(decode_fragment(encode(f), kId, test_key(), &got, kBlocks), WireError::malformed);
  f.page = 0;
  EXPECT_EQ(decode_fragment(encode(f), kId, test_key(), &got), WireError::malformed);  // no disk here
  auto forged = encode(f);
  forged[6] ^= static_cast<uint8_t>(kFragmentFlagDisk);  // a disk zero run passed off as memory
  EXPECT_EQ(decode_fragment(forged, kId, test_key(), &got, kBlocks), WireError::bad_mac);
}

// A frozen disk image of `bytes` with a pattern per block (some blocks all zero), and its expected bytes.
struct DiskFile {
  std::string path;
  std::vector<uint8_t> expect;
  std::shared_ptr<devices::BlockLayer> layer;
  explicit DiskFile(uint64_t bytes) : expect(bytes, 0) {
    char tmpl[] = "/tmp/sf-disk-remote-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path = tmpl;
    for (uint64_t i = 0; i < bytes; ++i) {
      const uint64_t block = i / kPg;
      if (block % 9 == 4) continue;  // zero blocks travel as zero runs
      expect[i] = static_cast<uint8_t>((i * 2654435761u) >> 13 ^ block);
    }
    EXPECT_EQ(::pwrite(fd, expect.data(), bytes, 0), static_cast<ssize_t>(bytes));
    ::close(fd);
    auto image = devices::DiskImage::open(path);
    EXPECT_TRUE(image.ok()) << image.status().message;
    if (image.ok()) layer = image.value();
  }
  ~DiskFile() { ::unlink(path.c_str()); }
};

struct RemoteDiskRig {
  Snapshot ram{16};
  DiskFile disk;
  std::unique_ptr<Memserver> server;
  std::shared_ptr<RemotePageSource> source;
  std::shared_ptr<DiskFetcher> fetcher;

  RemoteDiskRig(uint64_t disk_bytes, NetworkMode mode, double loss) : disk(disk_bytes) {
    MemserverConfig c;
    c.snapshot_fd = ram.fd.get();
    c.ram_bytes = ram.bytes();
    c.snapshot_id = kId;
    c.key = test_key();
    c.disk = disk.layer;
    c.mode = mode;
    c.send_drop_for_test = loss;
    if (mode == NetworkMode::multicast) c.group = derive_multicast_group(kId, 0);
    auto s = Memserver::create(c);
    EXPECT_TRUE(s.ok()) << s.status().message;
    if (!s.ok()) return;
    server = std::move(s).value();
    RemoteSourceConfig rc;
    rc.server = server->endpoint();
    rc.snapshot_id = kId;
    rc.key = test_key();
    rc.drop_for_test = loss;
    rc.timeout = std::chrono::milliseconds(600);
    if (mode == NetworkMode::multicast) rc.group = server->group();
    auto mirror = Mirror::create(kId, ram.bytes());
    auto disk_mirror = Mirror::create(kId, (disk_bytes + kPg - 1) / kPg * kPg);
    EXPECT_TRUE(mirror.ok() && disk_mirror.ok());
    auto src = RemotePageSource::create(rc, mirror.value(), disk_mirror.value());
    EXPECT_TRUE(src.ok()) << src.status().message;
    if (!src.ok()) return;
    source = src.value();
    auto f = DiskFetcher::create(source, disk_bytes);
    EXPECT_TRUE(f.ok()) << f.status().message;
    if (f.ok()) fetcher = f.value();
  }

  std::shared_ptr<devices::RemoteDisk> layer() {
    auto d = devices::RemoteDisk::create(fetcher);
    EXPECT_TRUE(d.ok()) << d.status().message;
    return d.ok() ? d.value() : nullptr;
  }
};

// Reads the whole disk in `chunk`-byte requests (sequential, like a guest streaming a file).
void read_all(devices::RemoteDisk& d, const DiskFile& f, uint64_t chunk) {
  std::vector<uint8_t> buf(chunk);
  for (uint64_t at = 0; at < f.expect.size(); at += chunk) {
    const uint64_t n = std::min<uint64_t>(chunk, f.expect.size() - at);
    const Status st = d.read(at, {buf.data(), n});
    ASSERT_TRUE(st.ok()) << "at " << at << ": " << st.message;
    ASSERT_EQ(std::memcmp(buf.data(), f.expect.data() + at, n), 0) << "bytes differ at " << at;
  }
}

void check_served_under_loss(NetworkMode mode) {
  // 1 MiB + 1 sector: the last block is short and travels zero-padded.
  const uint64_t bytes = (1u << 20) + 512;
  RemoteDiskRig rig(bytes, mode, 0.05);
  ASSERT_TRUE(rig.fetcher);
  EXPECT_EQ(rig.server->disk_blocks(), 257u);
  auto first = rig.layer();
  read_all(*first, rig.disk, 16 * 1024);
  // An unaligned read across blocks, then a sibling clone on the same host: everything is here already.
  std::vector<uint8_t> odd(10000);
  ASSERT_TRUE(first->read(4096 * 7 + 100, odd).ok());
  EXPECT_EQ(std::memcmp(odd.data(), rig.disk.expect.data() + 4096 * 7 + 100, odd.size()), 0);
  auto sibling = rig.layer();
  read_all(*sibling, rig.disk, 64 * 1024);
  const auto a = first->stats(), b = sibling->stats();
  EXPECT_GT(a.blocks_fetched, 0u);
  EXPECT_EQ(a.bytes_fetched, a.blocks_fetched * kPg);
  EXPECT_GT(a.readahead_blocks, 0u) << "sequential reads ask ahead";
  EXPECT_EQ(a.fetch_errors, 0u);
  EXPECT_EQ(b.blocks_fetched, 0u) << "the sibling found every block in the host mirror";
  EXPECT_EQ(b.blocks_on_host, 257u);
  const MemserverStats s = rig.server->stats();
  EXPECT_EQ(s.disk_blocks, 257u);
  EXPECT_GE(s.disk_blocks_served, 257u);
  EXPECT_GT(s.disk_zero_blocks, 0u);
  EXPECT_GT(s.disk_requests, 0u);
  EXPECT_GT(s.disk_bytes_sent, bytes / 2);
  EXPECT_GT(s.test_send_drops, 0u) << "loss was injected";
  EXPECT_EQ(s.pages_served, 0u) << "no memory page was asked for";
  EXPECT_EQ(s.working_set_recorded, 0u) << "disk blocks are not memory's working set";
  if (mode == NetworkMode::multicast) EXPECT_GT(s.disk_blocks_multicast, 0u);
  const RemoteSourceStats r = rig.source->stats();
  EXPECT_GE(r.disk_blocks_installed, 257u);
  EXPECT_GT(r.disk_requests_sent, 0u);
  EXPECT_EQ(r.pages_installed, 0u);
  EXPECT_EQ(r.dropped_total, 0u);
}

TEST(DiskRemote, BlocksArriveIntactUnderLossByUnicast) { check_served_under_loss(NetworkMode::unicast); }

TEST(DiskRemote, BlocksArriveIntactUnderLossByMulticast) { check_served_under_loss(NetworkMode::multicast); }

// A second host in the rig's multicast group: its own source and disk mirror, the same server.
std::shared_ptr<DiskFetcher> another_host(RemoteDiskRig& rig, uint64_t disk_bytes) {
  RemoteSourceConfig rc;
  rc.server = rig.server->endpoint();
  rc.snapshot_id = kId;
  rc.key = test_key();
  rc.group = rig.server->group();
  auto mirror = Mirror::create(kId, rig.ram.bytes());
  auto disk_mirror = Mirror::create(kId, (disk_bytes + kPg - 1) / kPg * kPg);
  EXPECT_TRUE(mirror.ok() && disk_mirror.ok());
  auto src = RemotePageSource::create(rc, mirror.value(), disk_mirror.value());
  EXPECT_TRUE(src.ok()) << src.status().message;
  if (!src.ok()) return nullptr;
  auto f = DiskFetcher::create(src.value(), disk_bytes);
  return f.ok() ? f.value() : nullptr;
}

TEST(DiskRemote, TwoHostsInTheGroupCostAboutOneCopyAndTheEndGameBegins) {
  const uint64_t bytes = 2u << 20;
  RemoteDiskRig rig(bytes, NetworkMode::multicast, 0.0);
  ASSERT_TRUE(rig.fetcher);
  auto other = another_host(rig, bytes);
  ASSERT_TRUE(other);
  auto a = rig.layer();
  auto b = devices::RemoteDisk::create(other).value();
  // Both hosts stream the disk at once: what one asks for, the other gets through the group.
  std::thread second([&] { read_all(*b, rig.disk, 32 * 1024); });
  read_all(*a, rig.disk, 32 * 1024);
  second.join();
  const MemserverStats s = rig.server->stats();
  const uint64_t blocks = bytes / kPg;
  EXPECT_GE(s.disk_blocks_served, blocks);
  EXPECT_LT(s.disk_blocks_served, blocks * 3 / 2) << "two hosts, about one copy";
  EXPECT_EQ(s.disk_blocks_multicast, blocks);
  EXPECT_TRUE(s.disk_endgame) << "every block went to the group";
  EXPECT_FALSE(s.endgame) << "memory's end game is its own";
  // Unicast only for retransmissions once the end game began (a block the group had, asked for again).
  if (s.unicast_datagrams > 0) EXPECT_GT(s.endgame_unicast_pages, 0u);
  EXPECT_GT(other->source()->stats().group_datagrams, 0u);
  EXPECT_GE(other->source()->stats().disk_blocks_installed, blocks);
}

TEST(DiskRemote, HostileRequestsToALiveServerAreDroppedAndCounted) {
  RemoteDiskRig rig(64 * 1024, NetworkMode::unicast, 0.0);
  ASSERT_TRUE(rig.server);
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  const sockaddr_in to = rig.server->endpoint().sockaddr();
  auto send = [&](const std::vector<uint8_t>& b) {
    ASSERT_EQ(::sendto(sock, b.data(), b.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(b.size()));
  };
  send(encode(disk_request(16, 1)));              // one past the 16-block disk
  send(encode(disk_request(0, 1), test_key(3)));  // forged
  send(encode(disk_request(15, 1)));              // fine: the last block
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  MemserverStats s;
  do {
    s = rig.server->stats();
  } while ((s.disk_blocks_served < 1 || s.dropped_total < 2) && std::chrono::steady_clock::now() < deadline &&
           (::usleep(2000), true));
  ::close(sock);
  EXPECT_EQ(s.dropped[static_cast<size_t>(WireError::malformed)], 1u);
  EXPECT_EQ(s.dropped[static_cast<size_t>(WireError::bad_mac)], 1u);
  EXPECT_EQ(s.disk_requests, 1u);
  EXPECT_EQ(s.disk_blocks_served, 1u);
}

TEST(DiskRemote, AReadFailsCleanlyWhenTheServerIsGone) {
  RemoteDiskRig rig(256 * 1024, NetworkMode::unicast, 0.0);
  ASSERT_TRUE(rig.fetcher);
  auto d = rig.layer();
  std::vector<uint8_t> buf(4096);
  ASSERT_TRUE(d->read(0, buf).ok());
  rig.server->stop();
  // A block fetched before is still readable; a new one times out (bounded), counted.
  ASSERT_TRUE(d->read(0, buf).ok());
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = d->read(40 * 4096, buf);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(st.code, ETIMEDOUT) << st.message;
  EXPECT_NE(st.message.find("disk block"), std::string::npos) << st.message;
  EXPECT_LT(waited, std::chrono::seconds(3));
  EXPECT_EQ(d->stats().fetch_errors, 1u);
  EXPECT_EQ(rig.source->stats().disk_timeouts, 1u);
  // Past the end is the layer's refusal, not a fetch; cancel() ends waits at once.
  EXPECT_EQ(d->read(256 * 1024, buf).code, EINVAL);
  d->cancel();
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(d->read(50 * 4096, buf).code, ECANCELED);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::milliseconds(300));
}

TEST(DiskRemote, AMemserverRefusesAWritableDisk) {
  Snapshot ram(4);
  DiskFile disk(8192);
  MemserverConfig c;
  c.snapshot_fd = ram.fd.get();
  c.ram_bytes = ram.bytes();
  c.snapshot_id = kId;
  c.key = test_key();
  struct Writable final : devices::BlockLayer {
    uint64_t size() const override { return 4096; }
    Status read(uint64_t, std::span<uint8_t>) override { return Status::Ok(); }
    bool writable() const override { return true; }
    bool block_present(uint64_t) const override { return true; }
  };
  c.disk = std::make_shared<Writable>();
  EXPECT_EQ(Memserver::create(c).status().code, EINVAL);
  c.disk = disk.layer;
  EXPECT_TRUE(Memserver::create(c).ok());
}

}  // namespace
}  // namespace sf::memserver::test
