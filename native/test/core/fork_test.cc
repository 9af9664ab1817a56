// Same-host VM fork: descriptor round trip and hostile input, copy-on-write memory isolation between a
// parent, its clones and their siblings, resumption at the fork instant, parent pause time.
// Boundary: tests of vm.h's fork API and descriptor.h; the guests are test/core/guests' fork modes.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "test_support.h"
#include "vmm/descriptor.h"
#include "vmm/vm.h"

namespace sf::vmm::test {
namespace {

constexpr uint64_t kCounterGpa = 0x300000;
constexpr uint64_t kPagesGpa = 16ull << 20;
constexpr uint64_t kPages = 2048;
constexpr uint64_t kForkcountN = 60000;

uint64_t read_u64(Vm& vm, uint64_t gpa) {
  uint64_t v = 0;
  EXPECT_TRUE(vm.read_guest(gpa, {reinterpret_cast<uint8_t*>(&v), 8}).ok());
  return v;
}

std::vector<uint8_t> read_region(Vm& vm) {
  std::vector<uint8_t> v(kPages * 4096);
  EXPECT_TRUE(vm.read_guest(kPagesGpa, v).ok());
  return v;
}

size_t dir_entries(const char* path) {
  size_t n = 0;
  DIR* d = ::opendir(path);
  while (d != nullptr && ::readdir(d) != nullptr) ++n;
  if (d != nullptr) ::closedir(d);
  return n;
}

size_t open_fds() { return dir_entries("/proc/self/fd"); }
size_t threads() { return dir_entries("/proc/self/task"); }

std::string expected_forkcount_line() {
  uint64_t acc = 0;
  for (uint64_t i = 0; i < kForkcountN; ++i) acc = acc * 6364136223846793005ull + i;
  char buf[40];
  std::snprintf(buf, sizeof buf, "forkcount 0x%016llx\n", static_cast<unsigned long long>(acc));
  return buf;
}

VmConfig user_config(uint64_t ram = 64ull << 20) {
  VmConfig c;
  c.ram_bytes = ram;
  c.privilege = GuestPrivilege::user;
  c.clusterid = 9;
  return c;
}

// The XSAVE state a guest can observe: the x87/SSE area (FCW .. XMM15, bytes 0..415) and the AVX upper halves
// (offset 576, 256 bytes), read as zeros when XSTATE_BV (byte 512) says AVX is in its initial state. Two captures of
// the same state may differ in the raw region (the header's bits for components in their initial state, the
// software-available bytes), so the fork is judged on what a program sees.
std::vector<uint8_t> observable_xsave(const std::vector<uint8_t>& x) {
  std::vector<uint8_t> out(x.begin(), x.begin() + std::min<size_t>(416, x.size()));
  const bool avx_in_use = x.size() >= 832 && (x[512] & 0x4) != 0;
  if (avx_in_use) out.insert(out.end(), x.begin() + 576, x.begin() + 832);
  else out.insert(out.end(), 256, 0);
  return out;
}

void reseal(std::vector<uint8_t>& b) {
  const uint64_t sum = descriptor_checksum(std::span<const uint8_t>(b).subspan(kDescriptorHeaderBytes));
  std::memcpy(b.data() + 24, &sum, 8);
}

TEST(Fork, CloneResumesAtTheForkInstantAndFinishesTheSameWay) {
  SF_REQUIRE_KVM();
  Harness hp, hc;
  auto parent = boot_guest(hp, "forkcount", user_config());
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa) > 5000; }));
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto clone = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks());
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  Vm& c = *clone.value();
  EXPECT_EQ(c.state(), VmState::paused);

  // Same registers as the parent at the fork instant.
  auto parent_desc = parse(snap->descriptor());
  ASSERT_TRUE(parent_desc.ok()) << parent_desc.status().message;
  auto clone_bytes = c.capture_descriptor();
  ASSERT_TRUE(clone_bytes.ok()) << clone_bytes.status().message;
  auto clone_desc = parse(clone_bytes.value());
  ASSERT_TRUE(clone_desc.ok()) << clone_desc.status().message;
  const auto& pv = parent_desc->vcpu[0];
  const auto& cv = clone_desc->vcpu[0];
  EXPECT_EQ(0, std::memcmp(&pv.regs, &cv.regs, sizeof pv.regs));
  EXPECT_EQ(0, std::memcmp(&pv.sregs, &cv.sregs, sizeof pv.sregs));
  EXPECT_EQ(observable_xsave(pv.xsave), observable_xsave(cv.xsave));
  EXPECT_EQ(0, std::memcmp(&pv.xcrs, &cv.xcrs, sizeof pv.xcrs));
  EXPECT_EQ(clone_desc->vmid, 1u);
  EXPECT_EQ(clone_desc->clusterid, 9u);
  // The clone's bootinfo carries its own vmid; the counter is the fork-instant one.
  sf_bootinfo bi{};
  ASSERT_TRUE(c.read_guest(SF_BOOTINFO_GPA, {reinterpret_cast<uint8_t*>(&bi), sizeof bi}).ok());
  EXPECT_EQ(bi.vmid, 1u);
  const uint64_t at_fork = read_u64(c, kCounterGpa);
  EXPECT_GT(at_fork, 5000u);
  EXPECT_LT(at_fork, kForkcountN);

  ASSERT_TRUE(c.resume().ok());
  const std::string line = expected_forkcount_line();
  auto pf = hp.wait_final();
  auto cf = hc.wait_final();
  ASSERT_TRUE(pf && cf);
  EXPECT_EQ(pf->state, VmState::exited) << pf->reason;
  EXPECT_EQ(cf->state, VmState::exited) << cf->reason;
  EXPECT_NE(hp.console().find(line), std::string::npos) << hp.console();
  EXPECT_NE(hc.console().find(line), std::string::npos) << hc.console();
}

TEST(Fork, ParentAndSiblingWritesAreInvisibleToAClone) {
  SF_REQUIRE_KVM();
  Harness hp, ha, hb;
  auto parent = boot_guest(hp, "forkpages", user_config());
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= 2; }));
  ASSERT_TRUE(parent->pause().ok());
  const std::vector<uint8_t> instant = read_region(*parent);
  const uint64_t gen0 = read_u64(*parent, kCounterGpa + 16);
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  EXPECT_EQ(parent->state(), VmState::paused);  // fork leaves a paused parent paused
  auto a = Vm::create_from_snapshot(snap.value(), 1, ha.callbacks());
  auto b = Vm::create_from_snapshot(snap.value(), 2, hb.callbacks());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(parent->resume().ok());
  // The parent rewrites every page (at least two full passes).
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= gen0 + 3; }));
  EXPECT_EQ(read_region(*a.value()), instant);
  EXPECT_EQ(read_region(*b.value()), instant);
  // Clone A runs and rewrites every page with its vmid: B and the parent never see that.
  ASSERT_TRUE(a.value()->resume().ok());
  ASSERT_TRUE(wait_for([&] { return read_u64(*a.value(), kCounterGpa + 16) >= gen0 + 3; }));
  ASSERT_TRUE(a.value()->pause().ok());
  ASSERT_TRUE(parent->pause().ok());
  const auto ra = read_region(*a.value());
  const auto rp = read_region(*parent);
  EXPECT_EQ(read_region(*b.value()), instant);
  for (uint64_t p = 0; p < kPages; ++p) {
    uint64_t wa[2], wp[2], wi[2];
    std::memcpy(wa, ra.data() + p * 4096, 16);
    std::memcpy(wp, rp.data() + p * 4096, 16);
    std::memcpy(wi, instant.data() + p * 4096, 16);
    ASSERT_EQ(wa[1], 1u) << "page " << p;
    ASSERT_EQ(wp[1], 0u) << "page " << p;
    ASSERT_NE(wp[0], wi[0]) << "page " << p;
  }
}

TEST(Fork, ThreeForksEachSeeTheirOwnInstant) {
  SF_REQUIRE_KVM();
  Harness hp;
  auto parent = boot_guest(hp, "forkpages", user_config());
  ASSERT_TRUE(parent);
  std::vector<Snapshot> snaps;
  std::vector<std::vector<uint8_t>> instants;
  for (int k = 0; k < 3; ++k) {
    const uint64_t g = read_u64(*parent, kCounterGpa + 16);
    ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= g + 2; }));
    ASSERT_TRUE(parent->pause().ok());
    instants.push_back(read_region(*parent));
    auto snap = parent->fork_snapshot();
    ASSERT_TRUE(snap.ok()) << snap.status().message;
    snaps.push_back(snap.value());
    ASSERT_TRUE(parent->resume().ok());
    std::printf("[ fork %d ] pause-free freeze %.3f ms\n", k, snap->timing().freeze_ns / 1e6);
  }
  EXPECT_NE(instants[0], instants[1]);
  EXPECT_NE(instants[1], instants[2]);
  std::vector<std::unique_ptr<Harness>> hs;
  for (int k = 0; k < 3; ++k) {
    hs.push_back(std::make_unique<Harness>());
    auto c = Vm::create_from_snapshot(snaps[k], 10 + k, hs.back()->callbacks());
    ASSERT_TRUE(c.ok()) << c.status().message;
    EXPECT_EQ(read_region(*c.value()), instants[k]) << "fork " << k;
  }
}

// Fork of a fork: a lazy clone that has fetched some pages and written others is itself forked; the
// grandchildren (eager and lazy) see the clone's memory at that instant, not its parent's.
TEST(Fork, ALazyCloneForksItsOwnInstant) {
  SF_REQUIRE_KVM();
  Harness hp, hc, hg1, hg2;
  auto parent = boot_guest(hp, "forkpages", user_config());
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= 2; }));
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto clone = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks(), /*lazy=*/true);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  Vm& c = *clone.value();
  const uint64_t g = read_u64(c, kCounterGpa + 16);
  ASSERT_TRUE(c.resume().ok());
  ASSERT_TRUE(wait_for([&] { return read_u64(c, kCounterGpa + 16) >= g + 2; }));
  ASSERT_TRUE(c.pause().ok());
  const auto instant = read_region(c);
  auto snap2 = c.fork_snapshot();
  ASSERT_TRUE(snap2.ok()) << snap2.status().message;
  ASSERT_TRUE(c.resume().ok());  // the clone goes on rewriting its pages: its snapshot must not follow
  ASSERT_TRUE(wait_for([&] { return read_u64(c, kCounterGpa + 16) >= g + 4; }));
  auto g1 = Vm::create_from_snapshot(snap2.value(), 2, hg1.callbacks(), /*lazy=*/false);
  auto g2 = Vm::create_from_snapshot(snap2.value(), 3, hg2.callbacks(), /*lazy=*/true);
  ASSERT_TRUE(g1.ok() && g2.ok());
  EXPECT_EQ(read_region(*g1.value()), instant);
  EXPECT_EQ(read_region(*g2.value()), instant);
  // Every page of the region says it was last written by the clone (vmid 1).
  EXPECT_EQ(read_u64(*g1.value(), kPagesGpa + 8), 1u);
}

// Clone shells: made before the fork, they become clones that behave exactly like clones made at the
// fork; a shell of the wrong shape is refused and goes away.
TEST(Fork, AShellMadeBeforeTheForkBecomesTheClone) {
  SF_REQUIRE_KVM();
  Harness hp, hs, hw, hf;
  CloneShape shape;
  shape.ram_bytes = 1ull << 30;
  auto shell = Vm::create_clone_shell(shape, hs.callbacks());
  ASSERT_TRUE(shell.ok()) << shell.status().message;
  EXPECT_EQ(shell.value()->state(), VmState::created);
  CloneShape other = shape;
  other.vcpus = 2;
  auto wrong = Vm::create_clone_shell(other, hw.callbacks());
  ASSERT_TRUE(wrong.ok()) << wrong.status().message;

  auto parent = boot_guest(hp, "forkcount", user_config(1ull << 30));
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa) > 5000; }));
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  CloneOptions lazy;
  lazy.lazy = true;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(shell.value()->become_clone(snap.value(), 4, lazy).ok());
  const auto t1 = std::chrono::steady_clock::now();
  auto fresh = Vm::create_from_snapshot(snap.value(), 5, hf.callbacks(), lazy);
  const auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(fresh.ok());
  std::printf("[ shell ] 1 GiB clone: from a shell %.3f ms, from scratch %.3f ms\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count(),
              std::chrono::duration<double, std::milli>(t2 - t1).count());
  Vm& c = *shell.value();
  EXPECT_EQ(c.state(), VmState::paused);
  sf_bootinfo bi{};
  ASSERT_TRUE(c.read_guest(SF_BOOTINFO_GPA, {reinterpret_cast<uint8_t*>(&bi), sizeof bi}).ok());
  EXPECT_EQ(bi.vmid, 4u);
  ASSERT_TRUE(c.resume().ok());
  auto cf = hs.wait_final();
  ASSERT_TRUE(cf);
  EXPECT_EQ(cf->state, VmState::exited) << cf->reason;
  EXPECT_NE(hs.console().find(expected_forkcount_line()), std::string::npos) << hs.console();
  EXPECT_FALSE(c.become_clone(snap.value(), 6, lazy).ok()) << "a shell is used once";

  Status refused = wrong.value()->become_clone(snap.value(), 7, lazy);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message.find("shape"), std::string::npos) << refused.message;
  EXPECT_EQ(wrong.value()->state(), VmState::destroyed);
}

// A shell's vCPU threads are made with it, parked: a clone made in it starts them (checked above); a shell
// destroyed unused, or refused for its shape, takes them away, and its fds.
TEST(Fork, AnUnusedShellTakesItsParkedVcpuThreadsAway) {
  SF_REQUIRE_KVM();
  CloneShape shape;
  shape.ram_bytes = 64ull << 20;
  shape.vcpus = 3;
  {
    // Warm-up: whatever the process makes once, on its first VM, is in the baseline.
    Harness hw;
    auto warm = Vm::create_clone_shell(shape, hw.callbacks());
    ASSERT_TRUE(warm.ok()) << warm.status().message;
  }
  const size_t fds = open_fds();
  const size_t before = threads();
  {
    Harness h;
    auto shell = Vm::create_clone_shell(shape, h.callbacks());
    ASSERT_TRUE(shell.ok()) << shell.status().message;
    EXPECT_GE(threads(), before + 3) << "three vCPU threads wait in the shell";
    shell.value()->destroy();
    EXPECT_EQ(shell.value()->state(), VmState::destroyed);
  }
  EXPECT_EQ(threads(), before);
  EXPECT_EQ(open_fds(), fds);
}

TEST(Fork, CloneOutlivesItsParentAndFdsReturnToBaseline) {
  SF_REQUIRE_KVM();
  // One warm-up VM so that lazily opened process-wide fds (if any) are in the baseline.
  {
    Harness hw;
    auto w = boot_guest(hw, "hello", user_config());
    ASSERT_TRUE(w);
    hw.wait_final();
  }
  const size_t baseline = open_fds();
  {
    Harness hp, hc;
    auto parent = boot_guest(hp, "forkcount", user_config());
    ASSERT_TRUE(parent);
    ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa) > 2000; }));
    std::unique_ptr<Vm> clone;
    {
      auto snap = parent->fork_snapshot();
      ASSERT_TRUE(snap.ok()) << snap.status().message;
      auto c = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks());
      ASSERT_TRUE(c.ok()) << c.status().message;
      clone = std::move(c).value();
    }  // the snapshot (and its fd) is gone: only the clone's mapping and dup keep the memory
    ASSERT_TRUE(clone->resume().ok());
    parent->destroy();
    parent.reset();
    auto cf = hc.wait_final();
    ASSERT_TRUE(cf);
    EXPECT_EQ(cf->state, VmState::exited) << cf->reason;
    EXPECT_NE(hc.console().find(expected_forkcount_line()), std::string::npos) << hc.console();
  }
  EXPECT_EQ(open_fds(), baseline);
}

TEST(Fork, ParentPauseDoesNotGrowWithRam) {
  SF_REQUIRE_KVM();
  double pause_ms[2] = {0, 0};
  const uint64_t sizes[2] = {256ull << 20, 1ull << 30};
  size_t desc_bytes = 0;
  for (int i = 0; i < 2; ++i) {
    Harness h;
    auto vm = boot_guest(h, "forkpages", user_config(sizes[i]));
    ASSERT_TRUE(vm);
    ASSERT_TRUE(wait_for([&] { return read_u64(*vm, kCounterGpa + 16) >= 1; }));
    auto snap = vm->fork_snapshot();
    ASSERT_TRUE(snap.ok()) << snap.status().message;
    pause_ms[i] = snap->timing().pause_ns / 1e6;
    desc_bytes = snap->descriptor().size();
    std::printf("[ fork ] RAM %4llu MiB: pause %.3f ms (capture %.3f ms, freeze %.3f ms), descriptor %zu bytes\n",
                static_cast<unsigned long long>(sizes[i] >> 20), pause_ms[i], snap->timing().capture_ns / 1e6,
                snap->timing().freeze_ns / 1e6, desc_bytes);
  }
  EXPECT_LT(pause_ms[1], 20.0);
  EXPECT_LT(desc_bytes, 64u * 1024);
}

// A four-vCPU parent forked while every vCPU is mid-computation: the clone finishes each vCPU's work
// from the fork instant and prints exactly what the parent prints.
TEST(Fork, MultiVcpuParentForkedMidComputation) {
  SF_REQUIRE_KVM();
  Harness hp, hc;
  VmConfig cfg = user_config();
  cfg.vcpus = 4;
  auto parent = boot_guest(hp, "forksmp", cfg);
  ASSERT_TRUE(parent);
  constexpr uint64_t kN = 15000;
  auto step = [&](uint32_t id) { return read_u64(*parent, kCounterGpa + 64 * id); };
  ASSERT_TRUE(wait_for([&] { return step(0) > 1000 && step(1) > 500 && step(2) > 500 && step(3) > 500; }));
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto desc = parse(snap->descriptor());
  ASSERT_TRUE(desc.ok());
  for (const auto& v : desc->vcpu) EXPECT_TRUE(v.started) << "vCPU " << v.id;
  auto clone = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks(), /*lazy=*/true);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  uint64_t at_fork[4];
  for (uint32_t id = 0; id < 4; ++id) {
    at_fork[id] = read_u64(*clone.value(), kCounterGpa + 64 * id);
    EXPECT_LT(at_fork[id], kN) << "vCPU " << id << " had finished before the fork";
  }
  ASSERT_TRUE(clone.value()->resume().ok());
  uint64_t x = 0;
  for (uint64_t id = 0; id < 4; ++id) {
    uint64_t acc = 0;
    for (uint64_t i = 0; i < kN; ++i) acc = acc * 6364136223846793005ull + i + id;
    x ^= acc;
  }
  char line[40];
  std::snprintf(line, sizeof line, "forksmp 0x%016llx\n", static_cast<unsigned long long>(x));
  auto pf = hp.wait_final(), cf = hc.wait_final();
  ASSERT_TRUE(pf && cf);
  EXPECT_EQ(pf->state, VmState::exited) << pf->reason;
  EXPECT_EQ(cf->state, VmState::exited) << cf->reason;
  EXPECT_NE(hp.console().find(line), std::string::npos) << hp.console();
  EXPECT_NE(hc.console().find(line), std::string::npos) << hc.console();
}

// A clone given k of its parent's vCPUs (a processor ticket's share) has exactly vCPUs 0 .. k-1, each restored as
// the parent left it, and every boot info it has says k; more than the parent has is refused.
TEST(Fork, ACloneRunsTheFirstKOfItsParentsVcpus) {
  SF_REQUIRE_KVM();
  Harness hp, hc;
  VmConfig cfg = user_config();
  cfg.vcpus = 4;
  auto parent = boot_guest(hp, "forksmp", cfg);
  ASSERT_TRUE(parent);
  auto step = [&](uint32_t id) { return read_u64(*parent, kCounterGpa + 64 * id); };
  ASSERT_TRUE(wait_for([&] { return step(0) > 100 && step(3) > 100; }));
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  CloneOptions too_many;
  too_many.vcpus = 5;
  auto refused = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks(), too_many);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code, EINVAL) << refused.status().message;
  CloneOptions two;
  two.vcpus = 2;
  two.lazy = true;
  auto clone = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks(), two);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  for (uint32_t id = 0; id < 2; ++id) {
    sf_bootinfo bi{};
    ASSERT_TRUE(
        clone.value()->read_guest(SF_BOOTINFO_GPA + id * sizeof bi, {reinterpret_cast<uint8_t*>(&bi), sizeof bi}).ok());
    EXPECT_EQ(bi.vcpus, 2u) << "vCPU " << id;
    EXPECT_EQ(bi.vmid, 1u) << "vCPU " << id;
  }
  auto bytes = clone.value()->capture_descriptor();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message;
  auto desc = parse(bytes.value());
  ASSERT_TRUE(desc.ok());
  ASSERT_EQ(desc->vcpus, 2u);
  for (const auto& v : desc->vcpu) EXPECT_TRUE(v.started) << "vCPU " << v.id;
  clone.value()->destroy();
  // The parent keeps all four and finishes.
  auto pf = hp.wait_final();
  ASSERT_TRUE(pf);
  EXPECT_EQ(pf->state, VmState::exited) << pf->reason;
}

// The clone path: the master's vCPU waits inside CLONE_MASTER while it is forked; each clone returns
// from that call with its own answer, the master with the one its embedder gives.
TEST(Fork, EveryVmReturnsFromTheCloneCallWithItsOwnAnswer) {
  SF_REQUIRE_KVM();
  Harness hp, h1, h2, h3;
  auto vm = boot_guest(hp, "forkcall", user_config());
  ASSERT_TRUE(vm);
  auto call = hp.wait_call();
  ASSERT_TRUE(call);
  EXPECT_EQ(call->nr, static_cast<uint32_t>(SF_HC_CLONE_MASTER));
  auto snap = vm->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto desc = parse(snap->descriptor());
  ASSERT_TRUE(desc.ok()) << desc.status().message;
  EXPECT_EQ(desc->vcpu[0].pending_call_nr, static_cast<uint32_t>(SF_HC_CLONE_MASTER));

  std::vector<std::unique_ptr<Vm>> clones;
  Harness* hs[] = {&h1, &h2};
  for (uint32_t vmid = 1; vmid <= 2; ++vmid) {
    CloneOptions o;
    o.lazy = vmid == 2;  // both memory kinds
    sf_hc_reply r{};
    r.vmid = static_cast<int>(vmid);
    r.count = 2;
    o.clone_reply = r;
    auto c = Vm::create_from_snapshot(snap.value(), vmid, hs[vmid - 1]->callbacks(), o);
    ASSERT_TRUE(c.ok()) << c.status().message;
    ASSERT_TRUE(c.value()->resume().ok());
    clones.push_back(std::move(c).value());
  }
  // A clone made without an answer for the pending call sees it fail, not hang.
  auto orphan = Vm::create_from_snapshot(snap.value(), 3, h3.callbacks(), CloneOptions{});
  ASSERT_TRUE(orphan.ok()) << orphan.status().message;
  ASSERT_TRUE(orphan.value()->resume().ok());

  sf_hc_reply master{};
  master.count = 2;
  ASSERT_TRUE(vm->answer_call(call->id, master).ok());

  auto f0 = hp.wait_final(), f1 = h1.wait_final(), f2 = h2.wait_final(), f3 = h3.wait_final();
  ASSERT_TRUE(f0 && f1 && f2 && f3);
  EXPECT_EQ(f0->code, 0) << hp.console();
  EXPECT_EQ(f1->code, 1) << h1.console();
  EXPECT_EQ(f2->code, 2) << h2.console();
  EXPECT_EQ(f3->code, 100 + static_cast<int>(SF_EUNAVAIL)) << h3.console();
  EXPECT_NE(
      hp.console().find(
          "rax=0x0000000000000000 vmid=0x0000000000000000 count=0x0000000000000002 boot=0x0000000000000000 memory ok"),
      std::string::npos)
      << hp.console();
  EXPECT_NE(h1.console().find("vmid=0x0000000000000001 count=0x0000000000000002 boot=0x0000000000000001 memory ok"),
            std::string::npos)
      << h1.console();
  EXPECT_NE(h2.console().find("vmid=0x0000000000000002 count=0x0000000000000002 boot=0x0000000000000002 memory ok"),
            std::string::npos)
      << h2.console();
}

TEST(Fork, PendingCallBlockOutsideRamIsRejected) {
  SF_REQUIRE_KVM();
  Harness hp, hc;
  auto vm = boot_guest(hp, "forkcall", user_config());
  ASSERT_TRUE(vm);
  auto call = hp.wait_call();
  ASSERT_TRUE(call);
  auto snap = vm->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto d = parse(snap->descriptor());
  ASSERT_TRUE(d.ok());
  d->vcpu[0].pending_call_block = (64ull << 20) - 64;  // aligned, but the block runs past RAM
  Snapshot hostile(serialize(d.value()), sf::UniqueFd(::dup(snap->memfd())), snap->ram_bytes(), {});
  auto c = Vm::create_from_snapshot(hostile, 1, hc.callbacks(), CloneOptions{});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message.find("outside RAM"), std::string::npos) << c.status().message;
  sf_hc_reply r{};
  ASSERT_TRUE(vm->answer_call(call->id, r).ok());
  auto f = hp.wait_final();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->code, 0);
}

class DescriptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!kvm_usable(&why)) GTEST_SKIP() << why;
    vm_ = boot_guest(h_, "forkcount", user_config());
    ASSERT_TRUE(vm_);
    ASSERT_TRUE(vm_->pause().ok());
    auto b = vm_->capture_descriptor();
    ASSERT_TRUE(b.ok()) << b.status().message;
    bytes_ = std::move(b).value();
  }
  Harness h_;
  std::unique_ptr<Vm> vm_;
  std::vector<uint8_t> bytes_;
};

TEST_F(DescriptorTest, RoundTripIsIdentical) {
  auto d = parse(bytes_);
  ASSERT_TRUE(d.ok()) << d.status().message;
  EXPECT_EQ(serialize(d.value()), bytes_);
  EXPECT_EQ(d->vcpus, 1u);
  EXPECT_EQ(d->ram_bytes, 64ull << 20);
  EXPECT_EQ(d->privilege, 1u);
  EXPECT_FALSE(d->vcpu[0].msrs.empty());
  EXPECT_FALSE(d->vcpu[0].xsave.empty());
  EXPECT_LT(bytes_.size(), 64u * 1024);
  std::printf("[ descriptor ] %zu bytes, %zu MSRs, %zu CPUID entries, %zu-byte XSAVE\n", bytes_.size(),
              d->vcpu[0].msrs.size(), d->vcpu[0].cpuid.size(), d->vcpu[0].xsave.size());
}

TEST(Fork, SnapshotCarriesItsIdentityAndZeroPageMap) {
  SF_REQUIRE_KVM();
  Harness h;
  auto vm = boot_guest(h, "forkcount", user_config());
  ASSERT_TRUE(vm);
  ASSERT_TRUE(wait_for([&] { return read_u64(*vm, kCounterGpa) > 100; }));
  auto a = vm->fork_snapshot();
  auto b = vm->fork_snapshot();
  ASSERT_TRUE(a.ok() && b.ok());
  auto da = parse(a->descriptor()), db = parse(b->descriptor());
  ASSERT_TRUE(da.ok() && db.ok()) << da.status().message << db.status().message;
  ASSERT_TRUE(da->identity && db->identity);
  EXPECT_NE(da->identity->snapshot_id, db->identity->snapshot_id);
  EXPECT_NE(da->identity->key, db->identity->key);
  ASSERT_TRUE(da->data_extents.has_value());
  auto covered = [&](uint64_t gpa) {
    for (const auto& e : *da->data_extents) {
      if (gpa / 4096 >= e.first && gpa / 4096 < e.first + e.count) return true;
    }
    return false;
  };
  EXPECT_TRUE(covered(kCounterGpa)) << "the page the guest writes holds data";
  EXPECT_TRUE(covered(SF_BOOTINFO_GPA));
  EXPECT_FALSE(covered((64ull << 20) - 4096)) << "the last page of RAM was never touched";
  uint64_t pages = 0;
  for (const auto& e : *da->data_extents) pages += e.count;
  std::printf("[ extents ] %zu extents, %llu of %llu pages may hold data\n", da->data_extents->size(),
              static_cast<unsigned long long>(pages), static_cast<unsigned long long>((64ull << 20) / 4096));
  EXPECT_LT(pages, (64ull << 20) / 4096 / 4);
}

TEST(Descriptor, CoarsenedExtentsStillCoverEveryPage) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<PageExtent> in;
    uint64_t at = rng() % 5;
    const size_t n = 1 + rng() % 3000;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t len = 1 + rng() % 8;
      in.push_back({at, len});
      at += len + 1 + rng() % 50;
    }
    const size_t max = 1 + rng() % 1100;
    auto out = coarsen_extents(in, max);
    ASSERT_LE(out.size(), max);
    ASSERT_LE(out.size(), in.size());
    for (size_t i = 1; i < out.size(); ++i) ASSERT_GT(out[i].first, out[i - 1].first + out[i - 1].count - 1);
    size_t j = 0;
    for (const auto& e : in) {
      while (j < out.size() && out[j].first + out[j].count <= e.first) ++j;
      ASSERT_LT(j, out.size());
      ASSERT_LE(out[j].first, e.first);
      ASSERT_GE(out[j].first + out[j].count, e.first + e.count);
    }
  }
}

TEST_F(DescriptorTest, HostileIdentityAndExtentsAreRejected) {
  auto d = parse(bytes_);
  ASSERT_TRUE(d.ok());
  const uint64_t pages = d->ram_bytes / 4096;
  auto reject = [&](const std::function<void(Descriptor&)>& mutate, const char* what) {
    Descriptor h = d.value();
    h.identity = SnapshotIdentity{42, {}};
    h.data_extents = std::vector<PageExtent>{{0, 16}, {100, 4}};
    mutate(h);
    auto p = parse(serialize(h));
    EXPECT_FALSE(p.ok()) << what;
  };
  reject([](Descriptor& h) { h.identity->snapshot_id = 0; }, "snapshot id 0");
  reject([&](Descriptor& h) { h.data_extents = std::vector<PageExtent>{{10, 4}, {12, 4}}; }, "overlapping");
  reject([&](Descriptor& h) { h.data_extents = std::vector<PageExtent>{{50, 4}, {10, 4}}; }, "unsorted");
  reject([&](Descriptor& h) { h.data_extents = std::vector<PageExtent>{{5, 0}}; }, "empty");
  reject([&](Descriptor& h) { h.data_extents = std::vector<PageExtent>{{pages - 1, 2}}; }, "past RAM");
  reject([&](Descriptor& h) { h.data_extents = std::vector<PageExtent>{{1, UINT64_MAX}}; }, "overflowing");
  reject(
      [&](Descriptor& h) {
        h.data_extents = std::vector<PageExtent>(kDescriptorMaxExtents + 1, PageExtent{0, 1});
      },
      "too many");
  Descriptor ok = d.value();
  ok.identity = SnapshotIdentity{42, {1, 2, 3}};
  ok.data_extents = std::vector<PageExtent>{{0, 16}, {100, 4}};
  auto p = parse(serialize(ok));
  ASSERT_TRUE(p.ok()) << p.status().message;
  EXPECT_EQ(p->identity->snapshot_id, 42u);
  EXPECT_EQ(p->identity->key, ok.identity->key);
  EXPECT_EQ(*p->data_extents, *ok.data_extents);
}

TEST_F(DescriptorTest, HostilePendingCallsAreRejected) {
  auto d = parse(bytes_);
  ASSERT_TRUE(d.ok());
  auto reject = [&](uint32_t nr, uint64_t block, const char* what) {
    Descriptor h = d.value();
    h.vcpu[0].pending_call_nr = nr;
    h.vcpu[0].pending_call_block = block;
    auto p = parse(serialize(h));
    EXPECT_FALSE(p.ok()) << what;
  };
  reject(SF_HC_EXIT, 0x10000, "a VMM-answered hypercall cannot be pending");
  reject(SF_HC_CLUSTER_SHUTDOWN + 1, 0x10000, "unknown call number");
  reject(SF_HC_CLONE_MASTER, 0x10001, "misaligned block");
  Descriptor ok = d.value();
  ok.vcpu[0].pending_call_nr = SF_HC_CLONE_MASTER;
  ok.vcpu[0].pending_call_block = 0x10000;
  auto p = parse(serialize(ok));
  ASSERT_TRUE(p.ok()) << p.status().message;
  EXPECT_EQ(p->vcpu[0].pending_call_block, 0x10000u);
}

TEST_F(DescriptorTest, TruncatedAndFlippedInputIsRejected) {
  for (size_t n = 0; n < bytes_.size(); ++n) {
    auto d = parse(std::span<const uint8_t>(bytes_.data(), n));
    ASSERT_FALSE(d.ok()) << "accepted a descriptor truncated to " << n << " bytes";
    ASSERT_FALSE(d.status().message.empty());
  }
  std::vector<uint8_t> b = bytes_;
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] ^= 0x5a;
    ASSERT_FALSE(parse(b).ok()) << "accepted a flipped byte at " << i;
    b[i] ^= 0x5a;
  }
  // Trailing garbage.
  b.push_back(0);
  EXPECT_FALSE(parse(b).ok());
}

TEST_F(DescriptorTest, WellSealedButHostileFieldsAreRejected) {
  auto expect_reject = [&](const std::function<void(std::vector<uint8_t>&)>& mutate, const char* what,
                           bool seal = true) {
    std::vector<uint8_t> b = bytes_;
    mutate(b);
    if (seal) reseal(b);
    auto d = parse(b);
    EXPECT_FALSE(d.ok()) << what;
    if (!d.ok()) std::printf("[ hostile ] %s: %s\n", what, d.status().message.c_str());
  };
  auto put32 = [](std::vector<uint8_t>& b, size_t off, uint32_t v) { std::memcpy(b.data() + off, &v, 4); };
  auto put64 = [](std::vector<uint8_t>& b, size_t off, uint64_t v) { std::memcpy(b.data() + off, &v, 8); };
  expect_reject([&](auto& b) { put32(b, 8, 1); }, "older version");
  expect_reject([&](auto& b) { put32(b, 8, kDescriptorVersion + 1); }, "newer version");
  expect_reject([&](auto& b) { put64(b, 0, 0x1122334455667788ull); }, "wrong magic");
  expect_reject([&](auto& b) { put64(b, 16, b.size() + 1); }, "total length too big");
  expect_reject([&](auto& b) { put32(b, 60, 1000000); }, "huge vCPU count");
  expect_reject([&](auto& b) { put32(b, 60, 0); }, "zero vCPUs");
  expect_reject([&](auto& b) { put32(b, 60, 2); }, "more vCPUs than sections");
  expect_reject([&](auto& b) { put64(b, 48, 1ull << 50); }, "RAM above SF_RAM_MAX");
  expect_reject([&](auto& b) { put64(b, 48, (64ull << 20) + 1); }, "RAM not page-aligned");
  expect_reject([&](auto& b) { put32(b, 36, 0xfffffff0u); }, "section length past the end");
  expect_reject([&](auto& b) { put32(b, 36, 8); }, "section length disagrees");
  // The VCPU section's counts live after its fixed part; find them from the section header.
  const size_t vcpu_hdr = 32 + 8 + 24 + 8 + 8;  // VM section (24) + serial section (8)
  const size_t counts = vcpu_hdr + 8 + (bytes_.size() >= vcpu_hdr + 8 ? 0 : 0);
  uint32_t vlen = 0;
  std::memcpy(&vlen, bytes_.data() + vcpu_hdr + 4, 4);
  ASSERT_EQ(vcpu_hdr + 8 + vlen, bytes_.size());
  auto d = parse(bytes_);
  ASSERT_TRUE(d.ok());
  const size_t fixed = vlen - d->vcpu[0].xsave.size() - d->vcpu[0].msrs.size() * sizeof(kvm_msr_entry) -
                       d->vcpu[0].cpuid.size() * sizeof(kvm_cpuid_entry2);
  const size_t nmsrs_off = counts + fixed - 20;  // xsave_len, nmsrs, ncpuid, pending call nr, block
  expect_reject([&](auto& b) { put32(b, nmsrs_off, 0xffffffffu); }, "huge MSR count");
  expect_reject([&](auto& b) { put32(b, nmsrs_off, static_cast<uint32_t>(d->vcpu[0].msrs.size() + 1)); },
                "MSR count disagrees with length");
  expect_reject([&](auto& b) { put32(b, nmsrs_off - 4, 0x7fffffffu); }, "huge XSAVE length");
  expect_reject([&](auto& b) { put32(b, nmsrs_off + 4, 100000); }, "huge CPUID count");
  expect_reject(
      [&](auto& b) {
        b.resize(b.size() - 16);
        put64(b, 16, b.size());
      },
      "cut section, sealed");
}

}  // namespace
}  // namespace sf::vmm::test
