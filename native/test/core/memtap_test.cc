// Lazy clone memory (memtap): the presence bitmap, the userfaultfd service on bare memory (copy, holes,
// FRESH_PAGES hints, prefetch, shutdown under a stalled fault, a fault-latency microbenchmark against a
// minimal uffd loop) and lazy clones of real VMs (fork-instant memory, isolation, pages fetched,
// destroying a clone whose vCPU waits for a page).
// Boundary: tests of presence_bitmap.h, memtap.h and Vm::create_from_snapshot(..., lazy = true).
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "memory/memtap.h"
#include "memory/presence_bitmap.h"
#include "test_support.h"
#include "vmm/vm.h"

namespace sf::vmm::test {
namespace {

constexpr uint64_t kPg = 4096;
constexpr uint64_t kCounterGpa = 0x300000;
constexpr uint64_t kPagesGpa = 16ull << 20;
constexpr uint64_t kPages = 2048;

// A snapshot-like memfd: page p holds (p * 7 + 1) in every word for p in [0, data_pages); the rest holes.
struct Fixture {
  sf::UniqueFd fd;
  uint8_t* ram = nullptr;
  uint64_t bytes = 0;
  std::unique_ptr<memory::Memtap> tap;
  Fixture(uint64_t pages, uint64_t data_pages) : bytes(pages * kPg) {
    fd = sf::UniqueFd(::memfd_create("memtap-test", MFD_CLOEXEC));
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(bytes)), 0);
    std::vector<uint64_t> page(kPg / 8);
    for (uint64_t p = 0; p < data_pages; ++p) {
      std::fill(page.begin(), page.end(), p * 7 + 1);
      EXPECT_EQ(::pwrite(fd.get(), page.data(), kPg, static_cast<off_t>(p * kPg)), static_cast<ssize_t>(kPg));
    }
    ram = static_cast<uint8_t*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    EXPECT_NE(ram, MAP_FAILED);
    auto t = memory::Memtap::create(ram, bytes, fd.get());
    EXPECT_TRUE(t.ok()) << t.status().message;
    if (t.ok()) tap = std::move(t).value();
  }
  ~Fixture() {
    tap.reset();
    ::munmap(ram, bytes);
  }
  uint64_t word(uint64_t p) const { return *reinterpret_cast<volatile uint64_t*>(ram + p * kPg + 8); }
};

TEST(PresenceBitmap, SetTestClearCount) {
  memory::PresenceBitmap b(130);
  EXPECT_EQ(b.size(), 130u);
  EXPECT_FALSE(b.test(0));
  EXPECT_TRUE(b.set(0));
  EXPECT_FALSE(b.set(0));
  EXPECT_TRUE(b.set(129));
  EXPECT_FALSE(b.set(130));  // out of range
  EXPECT_TRUE(b.test(129));
  EXPECT_EQ(b.count(), 2u);
  EXPECT_EQ(b.set_range(60, 10), 10u);
  EXPECT_EQ(b.count(), 12u);
  EXPECT_TRUE(b.clear(65));
  EXPECT_FALSE(b.clear(65));
  EXPECT_EQ(b.count(), 11u);
  // Concurrent setters: every bit counted once.
  memory::PresenceBitmap c(1 << 16);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (uint64_t p = 0; p < (1 << 16); ++p) c.set(p);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.count(), uint64_t{1} << 16);
}

TEST(Memtap, CopiesOnFirstTouchAndZeroFillsHoles) {
  SF_REQUIRE_UFFD();
  Fixture f(1024, 512);
  ASSERT_TRUE(f.tap);
  for (uint64_t p : {0ull, 5ull, 511ull}) EXPECT_EQ(f.word(p), p * 7 + 1) << p;
  for (uint64_t p : {512ull, 1000ull}) EXPECT_EQ(f.word(p), 0u) << p;
  f.ram[5 * kPg] = 0xee;  // writes stay private
  uint64_t v = 0;
  ASSERT_EQ(::pread(f.fd.get(), &v, 8, 5 * kPg), 8);
  EXPECT_EQ(v, 5u * 7 + 1);
  auto s = f.tap->stats();
  EXPECT_EQ(s.faults, 5u);
  EXPECT_EQ(s.pages_copied, 3u);
  EXPECT_EQ(s.zero_pages, 2u);
  EXPECT_EQ(s.present, 5u);
  // Each fault served lands in exactly one service-time bucket, and in their sum. The time is counted
  // just after the page is mapped, so the faulting thread may read the stats a moment before it is.
  auto timed = [&] {
    s = f.tap->stats();
    return s.faults_within_10us + s.faults_within_25us + s.faults_within_50us + s.faults_within_100us +
           s.faults_within_250us + s.faults_within_500us + s.faults_within_1ms + s.faults_within_2500us +
           s.faults_within_10ms + s.faults_within_100ms + s.faults_over_100ms;
  };
  for (int i = 0; i < 1000 && timed() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(timed(), 5u);
  EXPECT_GT(s.fault_ns_sum, 0u);
  EXPECT_TRUE(f.tap->presence().test(511));
  EXPECT_FALSE(f.tap->presence().test(6));
}

TEST(Memtap, FreshHintsAreNeverCopied) {
  SF_REQUIRE_UFFD();
  Fixture f(1024, 1024);
  ASSERT_TRUE(f.tap);
  EXPECT_EQ(f.word(10), 71u);  // present before the hint: keeps its contents
  ASSERT_TRUE(f.tap->hint_fresh(0, 100).ok());
  for (uint64_t p = 0; p < 100; ++p) {
    if (p != 10) {
      ASSERT_EQ(f.word(p), 0u) << p;
    }
  }
  EXPECT_EQ(f.word(10), 71u);
  EXPECT_EQ(f.word(100), 701u);
  auto s = f.tap->stats();
  EXPECT_EQ(s.pages_copied, 2u);  // page 10 and page 100
  EXPECT_EQ(s.zero_pages, 99u);
  EXPECT_EQ(s.fresh_hints, 100u);
  EXPECT_EQ(s.faults, 2u);
}

TEST(Memtap, PrefetchFillsBeforeTheFault) {
  SF_REQUIRE_UFFD();
  Fixture f(4096, 2048);
  ASSERT_TRUE(f.tap);
  EXPECT_EQ(f.word(300), 2101u);  // one fault
  ASSERT_TRUE(f.tap->prefetch(0, 3000).ok());
  auto s = f.tap->stats();
  EXPECT_EQ(s.prefetched, 2999u);
  EXPECT_EQ(s.present, 3000u);
  for (uint64_t p = 0; p < 3000; ++p) ASSERT_EQ(f.word(p), p < 2048 ? p * 7 + 1 : 0) << p;
  EXPECT_EQ(f.tap->stats().faults, 1u);           // prefetched pages never fault
  EXPECT_TRUE(f.tap->prefetch(4000, 1000).ok());  // clipped at the end
  EXPECT_EQ(f.tap->stats().present, 3096u);
}

TEST(Memtap, ShutdownWakesAThreadStuckInAFault) {
  SF_REQUIRE_UFFD();
  Fixture f(256, 256);
  ASSERT_TRUE(f.tap);
  f.tap->set_stall(true);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> seen{99};
  std::thread t([&] {
    seen = f.word(7);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(done.load());  // still waiting for the page
  const uint64_t t0 = mono();
  f.tap->shutdown();
  t.join();
  EXPECT_TRUE(done.load());
  EXPECT_LT(mono() - t0, 2'000'000'000ull);
  EXPECT_EQ(seen.load(), 0u);  // after release the range is plain anonymous memory
  EXPECT_FALSE(f.tap->prefetch(0, 1).ok());
  f.tap->shutdown();  // idempotent
}

// A minimal uffd service loop: read one message, UFFDIO_COPY a static page, nothing else.
struct MinimalLoop {
  int uffd = -1, stop_pipe[2] = {-1, -1};
  std::thread th;
  alignas(4096) uint8_t page[4096];
  MinimalLoop(uint8_t* base, uint64_t bytes) {
    std::memset(page, 0x5a, sizeof page);
    uffd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    uffdio_api api{UFFD_API, 0, 0};
    EXPECT_EQ(::ioctl(uffd, UFFDIO_API, &api), 0);
    uffdio_register reg{};
    reg.range = {reinterpret_cast<uint64_t>(base), bytes};
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    EXPECT_EQ(::ioctl(uffd, UFFDIO_REGISTER, &reg), 0);
    EXPECT_EQ(::pipe2(stop_pipe, O_CLOEXEC), 0);
    th = std::thread([this] {
      for (;;) {
        pollfd fds[2] = {{uffd, POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return;
        uffd_msg m;
        if (::read(uffd, &m, sizeof m) != sizeof m) continue;
        uffdio_copy c{};
        c.dst = m.arg.pagefault.address & ~(kPg - 1);
        c.src = reinterpret_cast<uint64_t>(page);
        c.len = kPg;
        ::ioctl(uffd, UFFDIO_COPY, &c);
      }
    });
  }
  ~MinimalLoop() {
    [[maybe_unused]] ssize_t n = ::write(stop_pipe[1], "x", 1);
    th.join();
    ::close(uffd);
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
  }
};

uint64_t p50(std::vector<uint64_t> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

TEST(Memtap, FaultLatencyMicrobenchmark) {
  SF_REQUIRE_UFFD();
  constexpr uint64_t kN = 8192;
  std::vector<uint64_t> tap_ns, min_ns;
  memory::MemtapStats st;
  {
    Fixture f(kN, kN);
    ASSERT_TRUE(f.tap);
    for (uint64_t p = 0; p < kN; ++p) {
      const uint64_t t0 = mono();
      (void)f.word(p);
      tap_ns.push_back(mono() - t0);
    }
    st = f.tap->stats();
    EXPECT_EQ(st.faults, kN);
    EXPECT_EQ(st.pages_copied, kN);
  }
  {
    const uint64_t bytes = kN * kPg;
    auto* ram = static_cast<uint8_t*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    ASSERT_NE(ram, MAP_FAILED);
    {
      MinimalLoop loop(ram, bytes);
      for (uint64_t p = 0; p < kN; ++p) {
        const uint64_t t0 = mono();
        (void)*reinterpret_cast<volatile uint64_t*>(ram + p * kPg);
        min_ns.push_back(mono() - t0);
      }
      EXPECT_EQ(ram[0], 0x5a);
    }
    ::munmap(ram, bytes);
  }
  // And a plain anonymous first touch (no userfaultfd) for scale.
  std::vector<uint64_t> anon_ns;
  {
    const uint64_t bytes = kN * kPg;
    auto* ram = static_cast<uint8_t*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    ASSERT_NE(ram, MAP_FAILED);
    for (uint64_t p = 0; p < kN; ++p) {
      const uint64_t t0 = mono();
      ram[p * kPg] = 1;
      anon_ns.push_back(mono() - t0);
    }
    ::munmap(ram, bytes);
  }
  std::printf(
      "[ memtap ] %llu faults: touch-to-return p50 memtap %llu ns, minimal uffd loop %llu ns, "
      "plain anon write fault %llu ns; memtap service time p50 %llu ns p99 %llu ns max %llu ns\n",
      static_cast<unsigned long long>(kN), static_cast<unsigned long long>(p50(tap_ns)),
      static_cast<unsigned long long>(p50(min_ns)), static_cast<unsigned long long>(p50(anon_ns)),
      static_cast<unsigned long long>(st.p50_ns), static_cast<unsigned long long>(st.p99_ns),
      static_cast<unsigned long long>(st.max_ns));
  EXPECT_GT(st.p50_ns, 0u);
  EXPECT_LE(st.p50_ns, st.p99_ns);
}

// ---- lazy clones of real VMs ----

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

VmConfig user_config(uint64_t ram = 64ull << 20) {
  VmConfig c;
  c.ram_bytes = ram;
  c.privilege = GuestPrivilege::user;
  c.clusterid = 9;
  return c;
}

#define SF_REQUIRE_KVM_UFFD() \
  SF_REQUIRE_KVM();           \
  SF_REQUIRE_UFFD()

void print_stats(const char* what, const memory::MemtapStats& s, uint64_t ram_pages) {
  std::printf(
      "[ lazy ] %s: %llu faults, %llu copied, %llu zero-filled, %llu prefetched, %llu present of %llu "
      "RAM pages; service p50 %llu ns p99 %llu ns\n",
      what, (unsigned long long)s.faults, (unsigned long long)s.pages_copied, (unsigned long long)s.zero_pages,
      (unsigned long long)s.prefetched, (unsigned long long)s.present, (unsigned long long)ram_pages,
      (unsigned long long)s.p50_ns, (unsigned long long)s.p99_ns);
}

TEST(LazyFork, ParentAndSiblingWritesAreInvisibleToALazyClone) {
  SF_REQUIRE_KVM_UFFD();
  Harness hp, ha, hb;
  auto parent = boot_guest(hp, "forkpages", user_config());
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= 2; }));
  ASSERT_TRUE(parent->pause().ok());
  const std::vector<uint8_t> instant = read_region(*parent);
  const uint64_t gen0 = read_u64(*parent, kCounterGpa + 16);
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto a = Vm::create_from_snapshot(snap.value(), 1, ha.callbacks(), /*lazy=*/true);
  auto b = Vm::create_from_snapshot(snap.value(), 2, hb.callbacks(), /*lazy=*/true);
  ASSERT_TRUE(a.ok()) << a.status().message;
  ASSERT_TRUE(b.ok()) << b.status().message;
  ASSERT_TRUE(parent->resume().ok());
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= gen0 + 3; }));
  EXPECT_EQ(read_region(*a.value()), instant);
  EXPECT_EQ(read_region(*b.value()), instant);
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
  auto s = a.value()->memtap_stats();
  ASSERT_TRUE(s.ok()) << s.status().message;
  print_stats("forkpages clone", s.value(), (64ull << 20) / kPg);
  EXPECT_GE(s->pages_copied, kPages);
  EXPECT_FALSE(parent->memtap_stats().ok());  // eager / parent RAM has no memtap
}

TEST(LazyFork, LazyCloneFinishesTheSameWayAndFetchesOnlyWhatItTouches) {
  SF_REQUIRE_KVM_UFFD();
  constexpr uint64_t kRam = 256ull << 20;
  Harness hp, hc;
  auto parent = boot_guest(hp, "forkcount", user_config(kRam));
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa) > 5000; }));
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto clone = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks(), /*lazy=*/true);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  Vm& c = *clone.value();
  sf_bootinfo bi{};
  ASSERT_TRUE(c.read_guest(SF_BOOTINFO_GPA, {reinterpret_cast<uint8_t*>(&bi), sizeof bi}).ok());
  EXPECT_EQ(bi.vmid, 1u);
  ASSERT_TRUE(c.resume().ok());
  auto pf = hp.wait_final();
  auto cf = hc.wait_final();
  ASSERT_TRUE(pf && cf);
  EXPECT_EQ(cf->state, VmState::exited) << cf->reason;
  const auto pl = hp.console().rfind("forkcount ");
  ASSERT_NE(pl, std::string::npos);
  EXPECT_NE(hc.console().find(hp.console().substr(pl)), std::string::npos) << hc.console();
  auto s = c.memtap_stats();
  ASSERT_TRUE(s.ok()) << s.status().message;
  const uint64_t ram_pages = kRam / kPg;
  print_stats("forkcount clone, 256 MiB", s.value(), ram_pages);
  EXPECT_GT(s->faults, 0u);
  EXPECT_LT(s->pages_copied + s->zero_pages, ram_pages / 100);  // ≪ RAM pages
  EXPECT_EQ(c.stats().pages_touched, s->present);
}

TEST(LazyFork, FreshHintsAndPrefetchOnAClone) {
  SF_REQUIRE_KVM_UFFD();
  Harness hp, ha, hb;
  auto parent = boot_guest(hp, "forkpages", user_config());
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= 2; }));
  ASSERT_TRUE(parent->pause().ok());
  const std::vector<uint8_t> instant = read_region(*parent);
  const uint64_t gen0 = read_u64(*parent, kCounterGpa + 16);
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  // A: the 8 MiB region hinted fresh (the guest overwrites it): never copied.
  auto a = Vm::create_from_snapshot(snap.value(), 1, ha.callbacks(), true);
  ASSERT_TRUE(a.ok()) << a.status().message;
  const auto before = a.value()->memtap_stats().value();
  ASSERT_TRUE(a.value()->hint_fresh(kPagesGpa, kPages).ok());
  EXPECT_FALSE(a.value()->hint_fresh(kPagesGpa + 1, 1).ok());
  ASSERT_TRUE(a.value()->resume().ok());
  ASSERT_TRUE(wait_for([&] { return read_u64(*a.value(), kCounterGpa + 16) >= gen0 + 2; }));
  ASSERT_TRUE(a.value()->pause().ok());
  const auto sa = a.value()->memtap_stats().value();
  print_stats("fresh-hinted clone", sa, (64ull << 20) / kPg);
  EXPECT_EQ(sa.fresh_hints, kPages);
  EXPECT_GE(sa.zero_pages - before.zero_pages, kPages);
  EXPECT_LT(sa.pages_copied - before.pages_copied, 64u);  // code, stack, counters: not the region
  const auto ra = read_region(*a.value());
  for (uint64_t p = 0; p < kPages; ++p) {
    uint64_t w[2];
    std::memcpy(w, ra.data() + p * 4096, 16);
    ASSERT_EQ(w[1], 1u) << p;
  }
  // B: prefetch the region, then read it: no faults for it, fork-instant contents.
  auto b = Vm::create_from_snapshot(snap.value(), 2, hb.callbacks(), true);
  ASSERT_TRUE(b.ok()) << b.status().message;
  // (creation itself prefetches the pages the VMM writes: the bootinfo)
  const auto sb_made = b.value()->memtap_stats().value();
  ASSERT_TRUE(b.value()->prefetch(kPagesGpa, kPages).ok());
  const auto sb0 = b.value()->memtap_stats().value();
  EXPECT_EQ(sb0.prefetched - sb_made.prefetched, kPages);
  EXPECT_EQ(read_region(*b.value()), instant);
  const auto sb1 = b.value()->memtap_stats().value();
  EXPECT_EQ(sb1.faults, sb0.faults);
  EXPECT_FALSE(b.value()->prefetch(SF_RAM_MAX, 1).ok());
}

TEST(LazyFork, DestroyingACloneWhoseVcpuWaitsForAPageDoesNotHang) {
  SF_REQUIRE_KVM_UFFD();
  Harness hp, hc;
  auto parent = boot_guest(hp, "forkpages", user_config());
  ASSERT_TRUE(parent);
  ASSERT_TRUE(wait_for([&] { return read_u64(*parent, kCounterGpa + 16) >= 1; }));
  auto snap = parent->fork_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message;
  auto clone = Vm::create_from_snapshot(snap.value(), 1, hc.callbacks(), true);
  ASSERT_TRUE(clone.ok()) << clone.status().message;
  Vm& c = *clone.value();
  const auto s0 = c.memtap_stats().value();
  ASSERT_TRUE(c.set_memtap_stall_for_test(true).ok());
  ASSERT_TRUE(c.resume().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(c.memtap_stats().value().faults, s0.faults);  // the vCPU waits on its first page
  EXPECT_EQ(c.state(), VmState::running);
  const uint64_t t0 = mono();
  c.destroy();
  const uint64_t ms = (mono() - t0) / 1000000;
  std::printf("[ lazy ] destroy with a vCPU stuck in a fault: %llu ms\n", static_cast<unsigned long long>(ms));
  EXPECT_LT(ms, 5000u);
  EXPECT_EQ(c.state(), VmState::destroyed);
  EXPECT_FALSE(c.memtap_stats().ok());
}

}  // namespace
}  // namespace sf::vmm::test
