// A VM with the net option: MMIO exits reach the device bus (a guest driver's frame goes out on a real tap
// and the tap's answer comes back into its rx buffer), bootinfo.ndevices, clear errors for a missing tap,
// the fork refused while NICs cannot be forked, and a teardown that leaves no fd or thread behind.
#include <dirent.h>
#include <gtest/gtest.h>

#include "devices/virtio_net.h"
#include "net_test_support.h"
#include "test_support.h"
#include "virtio_test_support.h"
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

VmConfig net_config(const std::string& tap, const char* cmdline) {
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
    auto vm = Vm::create(net_config(tap.name(), "virtio"), h.callbacks());
    ASSERT_TRUE(vm.ok()) << vm.status().message;
    EXPECT_EQ(ndevices(*vm.value()), 1u);
    ASSERT_TRUE(vm.value()->load_elf(guest_image()).ok());
    ASSERT_TRUE(vm.value()->boot().ok());
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
    auto stats = vm.value()->net_stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->tx_packets, 1u);
    EXPECT_GE(stats->rx_packets, 1u);
    EXPECT_GE(vm.value()->stats().exits_mmio, 20u);
    // Forking a VM with a NIC is refused until the device state travels in the descriptor.
    EXPECT_EQ(vm.value()->fork_snapshot().status().code, ENOTSUP);
    vm.value()->destroy();
    EXPECT_EQ(vm.value()->net_stats()->tx_packets, 1u);  // the last figures survive destroy
  }
  EXPECT_EQ(count_dir("/proc/self/fd"), fds);
  EXPECT_EQ(count_dir("/proc/self/task"), threads);
  // The tap is free again for the next VM (a clone, a restart).
  auto again = Vm::create(net_config(tap.name(), "hello"), {});
  EXPECT_TRUE(again.ok()) << again.status().message;
}

}  // namespace
}  // namespace sf::vmm::test
