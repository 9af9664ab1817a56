// A VM with the net option: MMIO exits reach the device bus (a guest driver's frame goes out on a real tap
// and the tap's answer comes back into its rx buffer), bootinfo.ndevices, clear errors for a missing tap, a
// teardown that leaves no fd or thread behind, and the fork: the NIC's state travels in the descriptor (whose
// device sections refuse hostile input), each clone's NIC comes up on its own tap with its own MAC and sees
// a link change.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "devices/virtio_net.h"
#include "net_test_support.h"
#include "test_support.h"
#include "virtio_test_support.h"
#include "vmm/descriptor.h"
#include "vmm/device_bus.h"
#include "vmm/vm.h"

namespace sf::vmm::test {
namespace {

using devices::test::TestTap;

int count_dir(const char* path) {
  int n = 0;
  if (DIR* d = ::opendir(path)) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

VmConfig net_config(const std::string& tap, const char* cmdline = "") {
  VmConfig c;
  c.ram_bytes = 64ull << 20;
  c.privilege = GuestPrivilege::user;
  c.cmdline = cmdline;
  devices::NetConfig n;
  n.tap = tap;
  EXPECT_TRUE(devices::parse_mac("02:00:00:00:03:04", n.mac));
  EXPECT_TRUE(devices::parse_ipv4("10.3.0.5", n.ip));
  n.prefix_length = 24;
  c.net = n;
  return c;
}

uint32_t ndevices(Vm& vm) {
  sf_bootinfo bi{};
  EXPECT_TRUE(vm.read_guest(SF_BOOTINFO_GPA, {reinterpret_cast<uint8_t*>(&bi), sizeof bi}).ok());
  return bi.ndevices;
}

TEST(DeviceBus, RoutesOnlyTheWindowsOfPresentSlots) {
  auto ram = memory::GuestMemory::create(4ull << 20, false);
  ASSERT_TRUE(ram.ok());
  DeviceBus bus;
  auto dev = devices::VirtioMmio::create(*ram.value(), std::make_unique<devices::test::EchoDevice>());
  ASSERT_TRUE(dev.ok());
  ASSERT_TRUE(bus.add(std::move(dev).value()).ok());
  uint8_t b[4] = {};
  ASSERT_TRUE(bus.access(SF_VIRTIO_MMIO_GPA, b, false));
  EXPECT_EQ(b[0] | b[1] << 8 | b[2] << 16 | uint32_t{b[3]} << 24, 0x74726976u);
  EXPECT_FALSE(bus.access(SF_VIRTIO_MMIO_GPA - 4, b, false));
  EXPECT_FALSE(bus.access(SF_VIRTIO_MMIO_GPA + SF_VIRTIO_MMIO_SIZE, b, false));    // past the window
  EXPECT_FALSE(bus.access(SF_VIRTIO_MMIO_GPA + SF_VIRTIO_MMIO_STRIDE, b, false));  // slot 1: empty
  EXPECT_FALSE(bus.access(0xfee00000, b, true));
  for (uint32_t i = 1; i < SF_MAX_DEVICES; ++i) {
    auto more = devices::VirtioMmio::create(*ram.value(), std::make_unique<devices::test::EchoDevice>());
    ASSERT_TRUE(bus.add(std::move(more).value()).ok());
  }
  auto ninth = devices::VirtioMmio::create(*ram.value(), std::make_unique<devices::test::EchoDevice>());
  EXPECT_EQ(bus.add(std::move(ninth).value()).code, EINVAL);
}

TEST(VmNet, WithoutNetThereAreNoDevices) {
  SF_REQUIRE_KVM();
  VmConfig c;
  c.ram_bytes = 16ull << 20;
  auto vm = Vm::create(c, {});
  ASSERT_TRUE(vm.ok()) << vm.status().message;
  EXPECT_EQ(ndevices(*vm.value()), 0u);
  EXPECT_EQ(vm.value()->net_stats().status().code, ENOENT);
}

TEST(VmNet, MissingTapOrBadConfigIsAClearError) {
  SF_REQUIRE_KVM();
  const int fds = count_dir("/proc/self/fd");
  auto vm = Vm::create(net_config("sfnt-absent", "hello"), {});
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().code, EINVAL);
  EXPECT_NE(vm.status().message.find("tap sfnt-absent does not exist: sfld creates it"), std::string::npos)
      << vm.status().message;
  VmConfig bad = net_config("sfnt-absent", "hello");
  bad.net->mac[0] = 0x01;
  auto refused = Vm::create(bad, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message.find("mac"), std::string::npos) << refused.status().message;
  EXPECT_EQ(count_dir("/proc/self/fd"), fds);
}

TEST(VmNet, GuestDriverTalksThroughTheTapAndTeardownLeavesNothing) {
  SF_REQUIRE_KVM();
  TestTap tap;
  if (!tap.usable()) GTEST_SKIP() << tap.why();
  if (guest_image().empty()) GTEST_SKIP() << "test guest not built";
  devices::test::Wire wire(tap.name());
  const int fds = count_dir("/proc/self/fd");
  const int threads = count_dir("/proc/self/task");
  {
    Harness h;
    auto vm = boot_guest(h, "virtio", net_config(tap.name()));
    ASSERT_TRUE(vm);
    EXPECT_EQ(ndevices(*vm), 1u);
    // The guest's frame, out on the tap.
    std::vector<uint8_t> out = wire.receive(devices::test::kTestEtherType, std::chrono::seconds(10));
    ASSERT_EQ(out.size(), 64u) << h.console();
    EXPECT_EQ(std::memcmp(out.data() + 14, "snowflock", 9), 0);
    EXPECT_EQ(std::memcmp(out.data() + 6, "\x02\x00\x00\x00\x03\x04", 6), 0);
    // The answer, into its rx buffer.
    std::vector<uint8_t> back(out);
    std::memcpy(back.data(), out.data() + 6, 6);
    std::memcpy(back.data() + 14, "flocksnow", 9);
    wire.send(back);
    auto end = h.wait_final();
    ASSERT_TRUE(end.has_value()) << h.console();
    EXPECT_EQ(end->state, VmState::exited) << end->reason << "\n" << h.console();
    EXPECT_EQ(end->code, 0) << h.console();
    EXPECT_NE(h.console().find("payload ok"), std::string::npos) << h.console();
    auto stats = vm->net_stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->tx_packets, 1u);
    EXPECT_GE(stats->rx_packets, 1u);
    EXPECT_GE(vm->stats().exits_mmio, 20u);
    vm->destroy();
    EXPECT_EQ(vm->net_stats()->tx_packets, 1u);  // the last figures survive destroy
  }
  EXPECT_EQ(count_dir("/proc/self/fd"), fds);
  EXPECT_EQ(count_dir("/proc/self/task"), threads);
  // The tap is free again for the next VM (a clone, a restart).
  auto again = Vm::create(net_config(tap.name(), "hello"), {});
  EXPECT_TRUE(again.ok()) << again.status().message;
}

devices::NetConfig clone_net(const std::string& tap) {
  devices::NetConfig n;
  n.tap = tap;
  EXPECT_TRUE(devices::parse_mac("02:00:00:00:03:09", n.mac));
  EXPECT_TRUE(devices::parse_ipv4("10.3.0.9", n.ip));
  n.prefix_length = 24;
  return n;
}

// The frame the virtiofork guest sends with `text`, or empty.
std::vector<uint8_t> said(devices::test::Wire& wire, const char* text, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    std::vector<uint8_t> f = wire.receive(devices::test::kTestEtherType, std::chrono::milliseconds(100));
    if (f.size() >= 14 + std::strlen(text) && std::memcmp(f.data() + 14, text, std::strlen(text)) == 0) return f;
  }
  return {};
}

// SF_HC_WAIT with a real NIC: a wait is bounded (an hour asked for is SF_WAIT_MAX_NS), honours a shorter
// timeout and answers the clock; a frame from the tap ends it at once; a pause or stop ends it at once.
TEST(VmNet, WaitHypercallSleepsUntilAFrameAndStaysBounded) {
  SF_REQUIRE_KVM();
  TestTap tap;
  if (!tap.usable()) GTEST_SKIP() << tap.why();
  if (guest_image().empty()) GTEST_SKIP() << "test guest not built";
  devices::test::Wire wire(tap.name());
  Harness h;
  auto vm = boot_guest(h, "devwait", net_config(tap.name()));
  ASSERT_TRUE(vm);
  ASSERT_TRUE(h.wait_console("devwait ready")) << h.console();
  uint64_t out[6] = {};
  auto read_out = [&] { ASSERT_TRUE(vm->read_guest(0x300000, {reinterpret_cast<uint8_t*>(out), sizeof out}).ok()); };
  read_out();
  // Nothing arrives meanwhile: each wait sleeps its whole timeout, and never more than the cap.
  EXPECT_GE(out[0], SF_WAIT_MAX_NS);
  EXPECT_LT(out[0], 20 * SF_WAIT_MAX_NS);
  EXPECT_GE(out[1], 2000000u);
  EXPECT_LT(out[2], 20 * SF_WAIT_MAX_NS);
  EXPECT_EQ(out[3], 1u) << "a WAIT answered a time outside the TIME_NS calls around it";

  // Frames wake it: the guest's answer comes back far sooner than a 10 ms wait would end (median of rounds).
  std::vector<int64_t> us;
  for (int k = 1; k <= 10; ++k) {
    std::vector<uint8_t> f(64, 0);
    std::memset(f.data(), 0xff, 6);
    std::memcpy(f.data() + 6, "\x02\x00\x00\x00\x0f\x0f", 6);
    f[12] = devices::test::kTestEtherType >> 8;
    f[13] = devices::test::kTestEtherType & 0xff;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // the guest is asleep again by now
    const auto t0 = std::chrono::steady_clock::now();
    wire.send(f);
    std::vector<uint8_t> back = said(wire, "woke", std::chrono::seconds(5));
    ASSERT_FALSE(back.empty()) << "round " << k << "\n" << h.console();
    us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("[ figures ] frame -> answer of a guest asleep in SF_HC_WAIT: p50 %lld us, max %lld us\n",
              static_cast<long long>(us[us.size() / 2]), static_cast<long long>(us.back()));
  // (Without the wake-up each answer waits for the guest's 10 ms wait to end: ~7 ms here, 3 ms after the last.)
  EXPECT_LT(us[us.size() / 2], 3000) << "frames do not end the wait: it ran to its timeout";
  ASSERT_TRUE(h.wait_console("devwait idle")) << h.console();

  // Idle: asleep (not spinning), woken at most every SF_WAIT_MAX_NS; the NIC thread asleep too.
  const VmStats a = vm->stats();
  const uint64_t nic_a = vm->net_stats()->wakeups;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const VmStats b = vm->stats();
  EXPECT_LE(vm->net_stats()->wakeups - nic_a, 5u) << "an idle NIC thread keeps waking up";
  EXPECT_LE(b.device_waits - a.device_waits, 60u);
  EXPECT_GE(b.device_waits - a.device_waits, 10u);
  EXPECT_LT(b.vcpu_cpu_ns - a.vcpu_cpu_ns, 60'000'000u) << "an idle waiting guest used its core";

  // A pause does not wait for the guest's timeout to pass.
  std::vector<int64_t> pause_us;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(vm->pause().ok());
    pause_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_EQ(vm->state(), VmState::paused);
    ASSERT_TRUE(vm->resume().ok());
  }
  std::sort(pause_us.begin(), pause_us.end());
  std::printf("[ figures ] pause of a guest asleep in SF_HC_WAIT: p50 %lld us, max %lld us\n",
              static_cast<long long>(pause_us[pause_us.size() / 2]), static_cast<long long>(pause_us.back()));
  EXPECT_LT(pause_us[pause_us.size() / 2], 2000);
  read_out();
  EXPECT_EQ(out[4], 10u);
  EXPECT_GT(out[5], 0u);
  const auto t0 = std::chrono::steady_clock::now();
  vm->destroy();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(vm->state(), VmState::destroyed);
}

// The guest's QueueNotify writes reach the NIC through KVM_IOEVENTFD: thousands of them cost no exit to
// user space, and the NIC still sees them (the frame after them goes out).
TEST(VmNet, NotifiesReachTheNicWithoutAnExit) {
  SF_REQUIRE_KVM();
  TestTap tap;
  if (!tap.usable()) GTEST_SKIP() << tap.why();
  if (guest_image().empty()) GTEST_SKIP() << "test guest not built";
  devices::test::Wire wire(tap.name());
  Harness h;
  auto vm = boot_guest(h, "exitcost notify", net_config(tap.name()));
  ASSERT_TRUE(vm);
  ASSERT_FALSE(said(wire, "notified", std::chrono::seconds(20)).empty()) << h.console();
  auto end = h.wait_final();
  ASSERT_TRUE(end.has_value()) << h.console();
  EXPECT_EQ(end->state, VmState::exited) << end->reason;
  const VmStats st = vm->stats();
  std::printf("[ figures ] 20000 QueueNotify writes: %llu MMIO exits, vCPU CPU time %llu ms\n",
              static_cast<unsigned long long>(st.exits_mmio),
              static_cast<unsigned long long>(st.vcpu_cpu_ns / 1000000));
  EXPECT_LT(st.exits_mmio, 1000u);
}

class VmNetFork : public ::testing::TestWithParam<bool> {};

TEST_P(VmNetFork, CloneComesUpOnItsOwnTapWithItsOwnMacAndSeesALinkChange) {
  SF_REQUIRE_KVM();
  const bool lazy = GetParam();
  if (lazy) SF_REQUIRE_UFFD();
  TestTap master_tap, clone_tap;
  if (!master_tap.usable()) GTEST_SKIP() << master_tap.why();
  if (guest_image().empty()) GTEST_SKIP() << "test guest not built";
  devices::test::Wire master_wire(master_tap.name()), clone_wire(clone_tap.name());
  Harness hm, hc;
  auto master = boot_guest(hm, "virtiofork", net_config(master_tap.name()));
  ASSERT_TRUE(master);
  ASSERT_FALSE(said(master_wire, "parent", std::chrono::seconds(10)).empty()) << hm.console();

  const auto t0 = std::chrono::steady_clock::now();
  auto snap = master->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto d = parse(snap->descriptor());
  ASSERT_TRUE(d.ok()) << d.status().message;
  ASSERT_EQ(d->devices.size(), 1u);
  EXPECT_EQ(d->devices[0].device_id, devices::kDeviceIdNet);
  EXPECT_NE(d->devices[0].status & devices::kStatusDriverOk, 0u);

  CloneOptions options;
  options.lazy = lazy;
  // Without its own NIC, or on the master's tap, a clone is refused with the reason.
  auto bare = Vm::create_from_snapshot(snap.value(), 1, {}, options);
  ASSERT_FALSE(bare.ok());
  EXPECT_NE(bare.status().message.find("needs its own net option"), std::string::npos) << bare.status().message;
  options.net = clone_net(master_tap.name());
  auto same_tap = Vm::create_from_snapshot(snap.value(), 1, {}, options);
  ASSERT_FALSE(same_tap.ok());
  EXPECT_NE(same_tap.status().message.find("one VM per tap"), std::string::npos) << same_tap.status().message;

  options.net = clone_net(clone_tap.name());
  auto clone = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks(), options);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  ASSERT_TRUE(clone.value()->resume().ok());
  std::vector<uint8_t> hello = said(clone_wire, "clone", std::chrono::seconds(10));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(hello.empty()) << hc.console();
  // Its own MAC, read from its config space after the link change.
  EXPECT_EQ(std::memcmp(hello.data() + 6, "\x02\x00\x00\x00\x03\x09", 6), 0);
  auto end = hc.wait_final();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->state, VmState::exited) << end->reason << hc.console();
  EXPECT_EQ(end->code, 0);
  std::printf("[ figures ] %s fork -> clone's first frame on its own tap: %lld ms\n", lazy ? "lazy" : "eager",
              static_cast<long long>(ms));
  // The master saw no link change and goes on on its own tap.
  EXPECT_TRUE(said(master_wire, "clone", std::chrono::milliseconds(200)).empty());
  EXPECT_EQ(master->state(), VmState::running);
  EXPECT_EQ(master->net_stats()->tx_packets, 1u);
  EXPECT_EQ(clone.value()->net_stats()->tx_packets, 1u);
}

INSTANTIATE_TEST_SUITE_P(Memory, VmNetFork, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Lazy" : "Eager"; });

// A descriptor that parses, with `n` NIC states.
Descriptor descriptor_with_devices(size_t n) {
  Descriptor d;
  d.ram_bytes = 16ull << 20;
  d.vcpus = 1;
  d.vcpu.resize(1);
  d.vcpu[0].started = true;
  devices::VirtioState s;
  s.device_id = devices::kDeviceIdNet;
  s.device_features = devices::kFeatureVersion1 | devices::kNetFeatureMac | devices::kNetFeatureStatus;
  s.queues.resize(2);
  s.queues[0].num = s.queues[1].num = 256;
  d.devices.assign(n, s);
  return d;
}

// Re-seals a forged descriptor with a valid outer checksum, so that only the inner check can refuse it.
void reseal(std::vector<uint8_t>& b) {
  const uint64_t sum = descriptor_checksum(std::span<const uint8_t>(b).subspan(kDescriptorHeaderBytes));
  std::memcpy(b.data() + 24, &sum, 8);
}

TEST(DescriptorDevices, RoundTripAndHostileDeviceSections) {
  const Descriptor good = descriptor_with_devices(1);
  auto back = parse(serialize(good));
  ASSERT_TRUE(back.ok()) << back.status().message;
  EXPECT_EQ(back->devices, good.devices);
  EXPECT_TRUE(parse(serialize(descriptor_with_devices(SF_MAX_DEVICES))).ok());

  auto refused = [](std::vector<uint8_t> b, const char* why) {
    auto r = parse(b);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.status().code, EINVAL);
    EXPECT_NE(r.status().message.find("malformed descriptor"), std::string::npos) << r.status().message;
  };
  refused(serialize(descriptor_with_devices(SF_MAX_DEVICES + 1)), "too many devices");
  Descriptor impossible = descriptor_with_devices(1);
  impossible.devices[0].status = devices::kStatusDriverOk;  // DRIVER_OK without the handshake before it
  refused(serialize(impossible), "impossible state");
  Descriptor in_flight = descriptor_with_devices(1);
  in_flight.devices[0].status = devices::kStatusAcknowledge | devices::kStatusDriver | devices::kStatusFeaturesOk;
  in_flight.devices[0].driver_features = devices::kFeatureVersion1;
  in_flight.devices[0].queues[0] = {256, true, 0x10000, 0x11000, 0x12000, {5, 4, false}};
  refused(serialize(in_flight), "a request in flight");

  // The device section's own bytes garbled (outer checksum made valid again): its inner checksum refuses.
  std::vector<uint8_t> bytes = serialize(good);
  const std::vector<uint8_t> inner = devices::encode_virtio_state(good.devices[0]);
  const auto at = std::search(bytes.begin(), bytes.end(), inner.begin(), inner.end());
  ASSERT_NE(at, bytes.end());
  const size_t off = static_cast<size_t>(at - bytes.begin());
  for (size_t i : {size_t{0}, size_t{9}, size_t{30}, inner.size() - 1}) {
    std::vector<uint8_t> b = bytes;
    b[off + i] ^= 0x5a;
    reseal(b);
    refused(b, "garbled device state");
  }
  // Truncated inside the section (the section length and the total shrunk to match).
  {
    std::vector<uint8_t> b(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(off + inner.size() - 8));
    b.insert(b.end(), bytes.begin() + static_cast<ptrdiff_t>(off + inner.size()), bytes.end());
    uint32_t len = 0;
    std::memcpy(&len, b.data() + off - 4, 4);
    len -= 8;
    std::memcpy(b.data() + off - 4, &len, 4);
    const uint64_t total = b.size();
    std::memcpy(b.data() + 16, &total, 8);
    reseal(b);
    refused(b, "truncated device state");
  }
  // Random garbage of every length up to the real one in place of the state.
  std::mt19937 rng(3);
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> b = bytes;
    for (size_t i = 0; i < inner.size(); ++i) {
      if (rng() % 8 == 0) b[off + i] = static_cast<uint8_t>(rng());
    }
    reseal(b);
    auto r = parse(b);
    if (r.ok()) {
      EXPECT_EQ(r->devices.size(), 1u);  // only an unchanged state can pass (both checksums)
    }
  }
}

}  // namespace
}  // namespace sf::vmm::test
