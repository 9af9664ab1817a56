// A VM with the disk option: its virtio-blk device in the slot after the NIC's (bootinfo counts both), refusals
// that name the file, and the fork: the descriptor's DEVICE section carries the disk's state, the snapshot holds
// the frozen disk, the master goes on over a new overlay, a local clone (eager, lazy or from a shell) stacks its
// own overlay and refuses to come up without one, a clone from a bare descriptor (another host) is refused, and
// every overlay file is closed with the VMs.
#include <gtest/gtest.h>

#include "blk_test_support.h"
#include "devices/blk_backend.h"
#include "memory/snapshot_fd_source.h"
#include "test_support.h"
#include "vmm/descriptor.h"
#include "vmm/vm.h"

namespace sf::vmm::test {
namespace {

using devices::test::TempDir;

VmConfig disk_config(const TempDir& dir, const std::string& image, const char* cmdline) {
  VmConfig c;
  c.ram_bytes = 64ull << 20;
  c.privilege = GuestPrivilege::user;
  c.cmdline = cmdline;
  c.disk = DiskConfig{image, dir.path(), "sf-test"};
  return c;
}

uint32_t ndevices(Vm& vm) {
  sf_bootinfo bi{};
  EXPECT_TRUE(vm.read_guest(SF_BOOTINFO_GPA, {reinterpret_cast<uint8_t*>(&bi), sizeof bi}).ok());
  return bi.ndevices;
}

TEST(VmDisk, TheDiskTakesASlotAndBadFilesAreNamed) {
  SF_REQUIRE_KVM();
  TempDir dir;
  const std::string image = devices::test::make_image(dir, "base.img", 1 << 20);
  const int fds = devices::test::open_files_in(dir.path());
  {
    auto vm = Vm::create(disk_config(dir, image, "hello"), {});
    ASSERT_TRUE(vm.ok()) << vm.status().message;
    EXPECT_EQ(ndevices(*vm.value()), 1u);
    auto stats = vm.value()->disk_stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->overlay.blocks_present, 0u);
    EXPECT_FALSE(stats->overlay.frozen);
    EXPECT_EQ(vm.value()->net_stats().status().code, ENOENT);
    EXPECT_EQ(devices::test::open_files_in(dir.path()), fds + 2);  // the image and the overlay
  }
  EXPECT_EQ(devices::test::open_files_in(dir.path()), fds);
  struct Case {
    std::string image, overlay_dir, says;
  } cases[] = {
      {dir.file("absent.img"), dir.path(), "absent.img"},
      {devices::test::make_image(dir, "odd.img", 1000), dir.path(), "not a multiple of 512"},
      {dir.path(), dir.path(), "is not a regular file"},
      {image, dir.file("no-such-dir"), "no-such-dir"},
  };
  for (const Case& c : cases) {
    VmConfig config = disk_config(dir, c.image, "hello");
    config.disk->overlay_dir = c.overlay_dir;
    auto vm = Vm::create(config, {});
    ASSERT_FALSE(vm.ok()) << c.says;
    EXPECT_EQ(vm.status().code, EINVAL) << vm.status().message;
    EXPECT_NE(vm.status().message.find(c.says), std::string::npos) << vm.status().message;
  }
  EXPECT_EQ(devices::test::open_files_in(dir.path()), fds);
}

enum class CloneKind { kEager, kLazy, kShell };

class VmDiskFork : public ::testing::TestWithParam<CloneKind> {};

TEST_P(VmDiskFork, TheSnapshotHoldsTheFrozenDiskAndEachCloneStacksItsOwnOverlay) {
  SF_REQUIRE_KVM();
  const CloneKind kind = GetParam();
  if (kind != CloneKind::kEager) SF_REQUIRE_UFFD();
  if (guest_image().empty()) GTEST_SKIP() << "test guest not built";
  TempDir dir, clone_dir;
  const std::string image = devices::test::make_image(dir, "base.img", 1 << 20);
  const int fds = devices::test::open_files_in(dir.path());
  {
    Harness hm;
    auto master = Vm::create(disk_config(dir, image, "spin"), hm.callbacks());
    ASSERT_TRUE(master.ok()) << master.status().message;
    ASSERT_TRUE(master.value()->load_elf(guest_image()).ok());
    ASSERT_TRUE(master.value()->boot().ok());
    auto snap = master.value()->fork_snapshot();
    ASSERT_TRUE(snap.ok()) << snap.status().message;
    auto d = parse(snap->descriptor());
    ASSERT_TRUE(d.ok()) << d.status().message;
    ASSERT_EQ(d->devices.size(), 1u);
    EXPECT_EQ(d->devices[0].device_id, devices::kDeviceIdBlock);
    ASSERT_TRUE(snap->disk() != nullptr);
    EXPECT_FALSE(snap->disk()->writable()) << "the snapshot's disk is frozen";
    EXPECT_EQ(snap->disk()->size(), 1u << 20);
    auto ms = master.value()->disk_stats();
    ASSERT_TRUE(ms.ok());
    EXPECT_FALSE(ms->overlay.frozen) << "the master writes to a new overlay";
    EXPECT_EQ(master.value()->state(), VmState::running);
    // image + the frozen first overlay + the master's new one.
    EXPECT_EQ(devices::test::open_files_in(dir.path()), fds + 3);

    CloneOptions options;
    options.lazy = kind != CloneKind::kEager;
    auto make = [&](const CloneOptions& o) -> Result<std::unique_ptr<Vm>> {
      if (kind != CloneKind::kShell) return Vm::create_from_snapshot(snap.value(), 1, {}, o);
      auto shell = Vm::create_clone_shell(CloneShape{64ull << 20, 1, GuestPrivilege::user}, {});
      if (!shell.ok()) return shell.status();
      if (Status s = shell.value()->become_clone(snap.value(), 1, o); !s.ok()) return s;
      return std::move(shell).value();
    };
    auto bare = make(options);
    ASSERT_FALSE(bare.ok());
    EXPECT_EQ(bare.status().code, EINVAL);
    EXPECT_NE(bare.status().message.find("needs its own disk.overlayDir"), std::string::npos) << bare.status().message;
    options.disk_overlay_dir = clone_dir.path();
    auto clone = make(options);
    ASSERT_TRUE(clone.ok()) << clone.status().message;
    EXPECT_EQ(ndevices(*clone.value()), 1u);
    ASSERT_TRUE(clone.value()->resume().ok());
    auto cs = clone.value()->disk_stats();
    ASSERT_TRUE(cs.ok());
    EXPECT_FALSE(cs->overlay.frozen);
    EXPECT_EQ(devices::test::open_files_in(clone_dir.path()), 1);
    // A fork of the clone puts the new overlay in the clone's directory.
    auto again = clone.value()->fork_snapshot();
    ASSERT_TRUE(again.ok()) << again.status().message;
    EXPECT_EQ(devices::test::open_files_in(clone_dir.path()), 2);

    // Another host's clone needs a source for the disk's blocks (the memserver's: disk_remote_test.cc,
    // native/lib/disk-remote.test.ts); without one it is refused, saying where they come from.
    auto source = memory::SnapshotFdSource::create(snap->memfd(), snap->ram_bytes());
    ASSERT_TRUE(source.ok());
    CloneOptions remote;
    remote.lazy = true;
    remote.disk_overlay_dir = clone_dir.path();
    if (kind == CloneKind::kLazy) {
      auto far = Vm::create_from_descriptor(snap->descriptor(), 2, {}, remote, source.value());
      ASSERT_FALSE(far.ok());
      EXPECT_EQ(far.status().code, EINVAL);
      EXPECT_NE(far.status().message.find("has no source for its blocks"), std::string::npos) << far.status().message;
    }
    clone.value()->destroy();
    EXPECT_TRUE(clone.value()->disk_stats().ok()) << "the last figures survive destroy";
    master.value()->destroy();
  }
  EXPECT_EQ(devices::test::open_files_in(dir.path()), fds);
  EXPECT_EQ(devices::test::open_files_in(clone_dir.path()), 0);
  EXPECT_TRUE(dir.entries().size() == 1) << "only the image: overlays have no names";
}

INSTANTIATE_TEST_SUITE_P(Clones, VmDiskFork, ::testing::Values(CloneKind::kEager, CloneKind::kLazy, CloneKind::kShell),
                         [](const auto& info) {
                           switch (info.param) {
                             case CloneKind::kEager: return "Eager";
                             case CloneKind::kLazy: return "Lazy";
                             default: return "Shell";
                           }
                         });

}  // namespace
}  // namespace sf::vmm::test
