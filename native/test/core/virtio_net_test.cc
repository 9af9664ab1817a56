// virtio-net over a real tap: the test plays the guest's driver (rings in a GuestMemory, registers through
// VirtioMmio) and the network (an AF_PACKET socket on the tap interface). Frames reach rx buffers, tx chains
// reach the tap, DHCP is answered without reaching it, and hostile queues never crash or stall the NIC.
// Skips with the reason without root or /dev/net/tun.
#include "devices/virtio_net.h"

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "devices/tap_backend.h"
#include "net_test_support.h"
#include "virtio_test_support.h"

namespace sf::devices::test {
namespace {

constexpr uint16_t kQ = 64;  // queue size the test driver uses
constexpr uint64_t kRxRing = 0x10000, kTxRing = 0x20000;
constexpr uint64_t kRxBufs = 0x100000, kTxBufs = 0x200000;
constexpr uint32_t kRxBufBytes = 1526;

int count_dir(const char* path) {
  int n = 0;
  if (DIR* d = ::opendir(path)) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

class VirtioNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tap_.usable()) GTEST_SKIP() << tap_.why();
    ram_ = make_ram(4ull << 20);
    cfg_.tap = tap_.name();
    ASSERT_TRUE(parse_mac("02:00:00:00:07:02", cfg_.mac));
    ASSERT_TRUE(parse_ipv4("10.9.0.3", cfg_.ip));
    cfg_.prefix_length = 24;
    ASSERT_TRUE(parse_ipv4("10.9.0.254", cfg_.gateway));
    auto backend = TapBackend::open(tap_.name());
    ASSERT_TRUE(backend.ok()) << backend.status().message;
    auto nic = VirtioNet::create(cfg_, std::move(backend).value());
    ASSERT_TRUE(nic.ok()) << nic.status().message;
    nic_ = nic.value().get();
    auto t = VirtioMmio::create(*ram_, std::move(nic).value());
    ASSERT_TRUE(t.ok());
    mmio_ = std::move(t).value();
    wire_ = std::make_unique<Wire>(tap_.name());
    bring_up();
  }

  void bring_up() {
    ASSERT_TRUE(negotiate(*mmio_, kFeatureVersion1 | kNetFeatureMac | kNetFeatureStatus));
    rx_ = std::make_unique<RingDriver>(*ram_, layout_at(kRxRing, kQ));
    tx_ = std::make_unique<RingDriver>(*ram_, layout_at(kTxRing, kQ));
    std::memset(ram_->span(kRxRing, 0x20000)->data(), 0, 0x20000);
    setup_queue(*mmio_, kNetRxQueue, rx_->layout());
    setup_queue(*mmio_, kNetTxQueue, tx_->layout());
    driver_ok(*mmio_);
    rx_posted_ = tx_sent_ = rx_seen_ = 0;
  }

  // Posts rx buffer descriptors [from, from + n) (one writable buffer each).
  void post_rx(uint16_t n) {
    for (uint16_t i = 0; i < n; ++i) {
      const uint16_t d = static_cast<uint16_t>(rx_posted_ % kQ);
      rx_->set_desc(d, {kRxBufs + 2048ull * d, kRxBufBytes, kDescFlagWrite, 0});
      rx_->publish(d);
      ++rx_posted_;
    }
  }
  // Waits for the next used rx entry; returns the frame after the header (or fails the test).
  std::vector<uint8_t> next_rx(std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    const auto end = Clock::now() + timeout;
    while (rx_->used_idx() == rx_seen_) {
      if (Clock::now() > end) {
        ADD_FAILURE() << "no rx frame within " << timeout.count() << " ms";
        return {};
      }
      std::this_thread::yield();
    }
    const RingDriver::UsedElem e = rx_->used(rx_seen_++);
    if (e.len < kNetHeaderBytes) return {};
    std::vector<uint8_t> all(e.len);
    EXPECT_TRUE(ram_->read_bytes(kRxBufs + 2048ull * e.id, all));
    EXPECT_EQ(all[10], 1);  // num_buffers
    EXPECT_TRUE(std::all_of(all.begin(), all.begin() + 10, [](uint8_t b) { return b == 0; }));
    return {all.begin() + kNetHeaderBytes, all.end()};
  }
  // The next frame of our ethertype (or, with dhcp, the next DHCP answer), skipping whatever else the
  // kernel sends on the tap (IPv6 router solicitations and MLD reports).
  std::vector<uint8_t> next_test_rx(bool dhcp = false) {
    for (int i = 0; i < 32; ++i) {
      std::vector<uint8_t> f = next_rx();
      if (f.empty()) return f;
      if (!dhcp && get16(f, 12) == kTestEtherType) return f;
      if (dhcp && f.size() > kBootp + 240 && get16(f, 12) == 0x0800 && get16(f, 34) == 67) return f;
      post_rx(1);
    }
    return {};
  }
  // Sends `frame` as a two-descriptor tx chain (header, frame) and notifies.
  void send_tx(std::span<const uint8_t> frame, bool notify = true) {
    const uint16_t d = static_cast<uint16_t>((2 * tx_sent_) % kQ);
    const uint64_t at = kTxBufs + 2048ull * (d / 2);
    std::vector<uint8_t> hdr(kNetHeaderBytes, 0);
    ASSERT_TRUE(ram_->write_bytes(at, hdr));
    ASSERT_TRUE(ram_->write_bytes(at + 16, frame));
    tx_->set_desc(d, {at, static_cast<uint32_t>(kNetHeaderBytes), kDescFlagNext, static_cast<uint16_t>(d + 1)});
    tx_->set_desc(d + 1, {at + 16, static_cast<uint32_t>(frame.size()), 0, 0});
    tx_->publish(d);
    ++tx_sent_;
    if (notify) wr(*mmio_, kMmioQueueNotify, kNetTxQueue);
  }
  bool wait_tx_used(uint16_t n, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    const auto end = Clock::now() + timeout;
    while (tx_->used_idx() != n) {
      if (Clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return true;
  }

  TestTap tap_;
  NetConfig cfg_;
  std::unique_ptr<memory::GuestMemory> ram_;
  std::unique_ptr<VirtioMmio> mmio_;
  VirtioNet* nic_ = nullptr;
  std::unique_ptr<Wire> wire_;
  std::unique_ptr<RingDriver> rx_, tx_;
  uint16_t rx_posted_ = 0, tx_sent_ = 0, rx_seen_ = 0;
};

TEST_F(VirtioNetTest, ConfigSpaceCarriesMacAndLinkUp) {
  EXPECT_EQ(rd(*mmio_, kMmioDeviceId), 1u);
  const uint64_t offered = device_features(*mmio_);
  EXPECT_EQ(offered, kFeatureVersion1 | kNetFeatureMac | kNetFeatureStatus);
  uint8_t mac[6];
  for (int i = 0; i < 6; ++i) mmio_->read(kMmioConfig + i, std::span<uint8_t>(mac + i, 1));
  EXPECT_EQ(std::memcmp(mac, cfg_.mac.data(), 6), 0);
  uint8_t status[2];
  mmio_->read(kMmioConfig + 6, status);
  EXPECT_EQ(status[0] | status[1] << 8, kNetStatusLinkUp);
}

TEST_F(VirtioNetTest, FrameFromTheNetworkArrivesInAnRxBuffer) {
  post_rx(8);
  const std::vector<uint8_t> frame = test_frame(cfg_.mac, 1000, 3);
  wire_->send(frame);
  EXPECT_EQ(next_test_rx(), frame);
  EXPECT_GE(nic_->stats().rx_packets, 1u);
  EXPECT_GE(nic_->stats().rx_bytes, frame.size());
}

TEST_F(VirtioNetTest, FramesWaitInTheTapUntilTheGuestPostsBuffers) {
  // No rx buffers: the frames stay in the tap's queue (flat guests do not notify rx; the NIC polls).
  std::vector<std::vector<uint8_t>> sent;
  for (uint8_t i = 0; i < 5; ++i) {
    sent.push_back(test_frame(cfg_.mac, 100 + i, i));
    wire_->send(sent.back());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(nic_->stats().rx_drops, 0u);
  post_rx(16);
  for (const auto& f : sent) EXPECT_EQ(next_test_rx(), f);
}

TEST_F(VirtioNetTest, TxChainAppearsOnTheTap) {
  const MacAddress peer{0x02, 0x99, 0, 0, 0, 1};
  const std::vector<uint8_t> frame = test_frame(peer, 1500, 9);  // the largest frame: 1514 bytes
  send_tx(frame);
  EXPECT_EQ(wire_->receive(kTestEtherType, std::chrono::seconds(3)), frame);
  EXPECT_TRUE(wait_tx_used(1));
  EXPECT_EQ(nic_->stats().tx_packets, 1u);
  // Without a notify the NIC still notices within its idle poll.
  send_tx(test_frame(peer, 60, 1), /*notify=*/false);
  EXPECT_FALSE(wire_->receive(kTestEtherType, std::chrono::seconds(1)).empty());
}

TEST_F(VirtioNetTest, DhcpIsAnsweredAndNeverReachesTheTap) {
  post_rx(8);
  send_tx(dhcp_client_frame(cfg_.mac, 1, 0x42));
  std::vector<uint8_t> offer = next_test_rx(/*dhcp=*/true);
  ASSERT_FALSE(offer.empty());
  EXPECT_EQ(dhcp_option(offer, 53), std::vector<uint8_t>{2});
  EXPECT_EQ(get32(offer, kBootp + 16), cfg_.ip);
  EXPECT_EQ(get32(offer, kBootp + 4), 0x42u);
  send_tx(dhcp_client_frame(cfg_.mac, 3, 0x43, cfg_.ip, cfg_.gateway));
  std::vector<uint8_t> ack = next_test_rx(/*dhcp=*/true);
  ASSERT_FALSE(ack.empty());
  ASSERT_EQ(dhcp_option(ack, 53), std::vector<uint8_t>{5});
  ASSERT_EQ(dhcp_option(ack, 3).size(), 4u);
  EXPECT_EQ(get32(dhcp_option(ack, 3), 0), cfg_.gateway);
  EXPECT_TRUE(wire_->receive(0x0800, std::chrono::milliseconds(200)).empty());
  EXPECT_EQ(nic_->stats().dhcp_answers, 2u);
}

TEST_F(VirtioNetTest, BadLengthsAreDroppedAndCounted) {
  const MacAddress peer{0x02, 0x99, 0, 0, 0, 1};
  send_tx(test_frame(peer, 1501, 0));  // 1515 bytes: one over
  // A chain shorter than the header.
  tx_->set_desc(10, {kTxBufs, 8, 0, 0});
  tx_->publish(10);
  wr(*mmio_, kMmioQueueNotify, kNetTxQueue);
  ASSERT_TRUE(wait_tx_used(2));
  EXPECT_EQ(nic_->stats().tx_drops, 2u);
  EXPECT_EQ(tx_->used(0).len, 0u);
  // A frame larger than the guest's rx buffer is dropped, the buffer returned empty.
  rx_->set_desc(0, {kRxBufs, 100, kDescFlagWrite, 0});
  rx_->publish(0);
  wire_->send(test_frame(cfg_.mac, 200, 0));
  const auto end = Clock::now() + std::chrono::seconds(3);
  while (rx_->used_idx() == 0 && Clock::now() < end) std::this_thread::yield();
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(rx_->used(0).len, 0u);
  EXPECT_GE(nic_->stats().rx_drops, 1u);
}

TEST_F(VirtioNetTest, HostileQueuesFailTheRequestAndTheNicGoesOn) {
  const MacAddress peer{0x02, 0x99, 0, 0, 0, 1};
  const uint16_t base = 40;
  // tx: a buffer outside RAM, a 4 GiB length, a descriptor loop; then a good frame.
  tx_->set_desc(base, {0x7fff0000000ull, 100, 0, 0});
  tx_->publish(base);
  tx_->set_desc(base + 1, {kTxBufs, 0xffffffffu, 0, 0});
  tx_->publish(base + 1);
  tx_->set_desc(base + 2, {kTxBufs, 12, kDescFlagNext, static_cast<uint16_t>(base + 3)});
  tx_->set_desc(base + 3, {kTxBufs + 16, 60, kDescFlagNext, static_cast<uint16_t>(base + 2)});
  tx_->publish(base + 2);
  tx_sent_ = 0;
  const std::vector<uint8_t> good = test_frame(peer, 80, 5);
  send_tx(good);
  EXPECT_EQ(wire_->receive(kTestEtherType, std::chrono::seconds(3)), good);
  ASSERT_TRUE(wait_tx_used(4));
  EXPECT_EQ(nic_->stats().bad_chains, 3u);
  // rx: a buffer outside RAM and a 4 GiB one come back empty; the frame lands in the next good buffer.
  rx_->set_desc(0, {0x7fff0000000ull, kRxBufBytes, kDescFlagWrite, 0});
  rx_->publish(0);
  rx_->set_desc(1, {kRxBufs, 0xffffffffu, kDescFlagWrite, 0});
  rx_->publish(1);
  rx_posted_ = 2;
  post_rx(1);
  const std::vector<uint8_t> frame = test_frame(cfg_.mac, 300, 7);
  wire_->send(frame);
  EXPECT_TRUE(next_rx().empty());
  EXPECT_TRUE(next_rx().empty());
  EXPECT_EQ(next_test_rx(), frame);
  EXPECT_EQ(nic_->stats().bad_chains, 5u);
}

TEST_F(VirtioNetTest, BrokenRingNeedsResetAndTheDeviceComesBack) {
  tx_->set_avail_idx(kQ * 4);  // avail.idx a whole ring and more ahead: the ring itself is broken
  wr(*mmio_, kMmioQueueNotify, kNetTxQueue);
  const auto end = Clock::now() + std::chrono::seconds(3);
  while ((rd(*mmio_, kMmioStatus) & kStatusNeedsReset) == 0 && Clock::now() < end) std::this_thread::yield();
  EXPECT_NE(rd(*mmio_, kMmioStatus) & kStatusNeedsReset, 0u);
  bring_up();  // reset, set the queues up again
  const MacAddress peer{0x02, 0x99, 0, 0, 0, 1};
  const std::vector<uint8_t> frame = test_frame(peer, 70, 2);
  send_tx(frame);
  EXPECT_EQ(wire_->receive(kTestEtherType, std::chrono::seconds(3)), frame);
}

TEST_F(VirtioNetTest, NotifyFloodFromManyThreadsNeitherStallsNorStarves) {
  post_rx(32);
  std::atomic<bool> go{true};
  std::vector<std::thread> flooders;
  std::atomic<uint64_t> notifies{0};
  for (int t = 0; t < 3; ++t) {
    flooders.emplace_back([&] {
      while (go.load()) {
        wr(*mmio_, kMmioQueueNotify, kNetTxQueue);
        wr(*mmio_, kMmioQueueNotify, kNetRxQueue);
        notifies.fetch_add(2);
      }
    });
  }
  const MacAddress peer{0x02, 0x99, 0, 0, 0, 1};
  const auto t0 = Clock::now();
  for (uint8_t i = 0; i < 20; ++i) {
    const std::vector<uint8_t> out = test_frame(peer, 64 + i, i);
    send_tx(out);
    EXPECT_EQ(wire_->receive(kTestEtherType, std::chrono::seconds(3)), out);
    const std::vector<uint8_t> in = test_frame(cfg_.mac, 64 + i, i);
    wire_->send(in);
    EXPECT_EQ(next_test_rx(), in);
  }
  go = false;
  for (auto& t : flooders) t.join();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::printf("[ figures ] 20 tx + 20 rx under %llu notifies: %lld ms\n",
              static_cast<unsigned long long>(notifies.load()), static_cast<long long>(ms));
  EXPECT_LT(ms, 5000);
  // Reset under way is bounded too.
  const auto r0 = Clock::now();
  wr(*mmio_, kMmioStatus, 0);
  EXPECT_LT(Clock::now() - r0, std::chrono::milliseconds(500));
}

TEST_F(VirtioNetTest, RoundTripLatency) {
  // rx latency: a frame written on the wire until its used entry is visible to the polling driver.
  post_rx(kQ);
  std::vector<double> us;
  for (int i = 0; i < 200; ++i) {
    const std::vector<uint8_t> in = test_frame(cfg_.mac, 64, static_cast<uint8_t>(i));
    const auto t0 = Clock::now();
    wire_->send(in);
    std::vector<uint8_t> got = next_test_rx();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    ASSERT_EQ(got, in);
    post_rx(1);
  }
  std::sort(us.begin(), us.end());
  std::vector<double> tx_us;
  const MacAddress peer{0x02, 0x99, 0, 0, 0, 1};
  for (int i = 0; i < 200; ++i) {
    const std::vector<uint8_t> out = test_frame(peer, 64, static_cast<uint8_t>(i));
    const auto t0 = Clock::now();
    send_tx(out);
    ASSERT_EQ(wire_->receive(kTestEtherType, std::chrono::seconds(3)), out);
    tx_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(tx_us.begin(), tx_us.end());
  std::printf("[ figures ] tap -> rx buffer p50 %.1f us p99 %.1f us; tx chain -> tap p50 %.1f us p99 %.1f us\n",
              us[100], us[198], tx_us[100], tx_us[198]);
}

TEST(VirtioNetTeardown, MissingTapIsAClearErrorAndNothingLeaks) {
  const int fds = count_dir("/proc/self/fd");
  auto missing = TapBackend::open("sfnt-nothere");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code, EINVAL);
  EXPECT_NE(missing.status().message.find("does not exist: sfld creates it"), std::string::npos)
      << missing.status().message;
  EXPECT_EQ(count_dir("/proc/self/fd"), fds);

  TestTap tap;
  if (!tap.usable()) GTEST_SKIP() << tap.why();
  const int threads = count_dir("/proc/self/task");
  for (int round = 0; round < 3; ++round) {
    auto ram = make_ram();
    NetConfig c;
    c.tap = tap.name();
    ASSERT_TRUE(parse_mac("02:00:00:00:00:09", c.mac));
    c.ip = 0x0a000005;
    auto backend = TapBackend::open(tap.name());
    ASSERT_TRUE(backend.ok()) << backend.status().message;
    // One VM per tap: a second attach is refused while the first holds it.
    auto second = TapBackend::open(tap.name());
    EXPECT_FALSE(second.ok());
    auto nic = VirtioNet::create(c, std::move(backend).value());
    ASSERT_TRUE(nic.ok());
    auto t = VirtioMmio::create(*ram, std::move(nic).value());
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(negotiate(*t.value(), kFeatureVersion1 | kNetFeatureMac | kNetFeatureStatus));
    setup_queue(*t.value(), 0, layout_at(kRxRing, kQ));
    setup_queue(*t.value(), 1, layout_at(kTxRing, kQ));
    driver_ok(*t.value());
    EXPECT_EQ(count_dir("/proc/self/task"), threads + 1);  // the NIC thread
  }
  EXPECT_EQ(count_dir("/proc/self/task"), threads);
  EXPECT_EQ(count_dir("/proc/self/fd"), fds);
}

}  // namespace
}  // namespace sf::devices::test
