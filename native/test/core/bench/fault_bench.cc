// Page-fault service on one host: touch-to-return of a first read of a lazy page through a Memtap over a
// snapshot memfd, against a bare userfaultfd loop in the same process serving the same memfd (the floor:
// read one message, UFFDIO_COPY from a mapping of the snapshot, nothing else). Prints one JSON line.
// Boundary: measurement only, through the public Memtap API; run by bench/fork.bench.ts. Not a test.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "memory/memtap.h"

namespace {

constexpr uint64_t kPg = 4096;

uint64_t mono() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fault_bench: %s\n", what.c_str());
  std::exit(1);
}

uint64_t pct(std::vector<uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

// Word w of snapshot page p: every page distinct, so a wrong page (or a zero page) is caught.
uint64_t pattern(uint64_t p) { return p * 0x9e3779b97f4a7c15ull + 1; }

uint8_t* fresh_anon(uint64_t bytes) {
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) die(std::string("mmap: ") + std::strerror(errno));
  return static_cast<uint8_t*>(m);
}

// One first read per page, in order; returns each touch's time and checks what the page holds.
std::vector<uint64_t> touch_all(uint8_t* ram, uint64_t pages, bool check, const char* who) {
  std::vector<uint64_t> ns;
  ns.reserve(pages);
  for (uint64_t p = 0; p < pages; ++p) {
    const uint64_t t0 = mono();
    const uint64_t v = *reinterpret_cast<volatile uint64_t*>(ram + p * kPg + 8);
    ns.push_back(mono() - t0);
    if (check && v != pattern(p)) die(std::string(who) + ": page " + std::to_string(p) + " holds the wrong data");
  }
  return ns;
}

// The floor: a userfaultfd service thread that reads one message and copies the page straight from a
// read-only shared mapping of the snapshot memfd (or from one static page) — what any lazy-memory
// handler must do at least. A fresh mapping per round, so it pays the source-side faults a new Memtap
// pays too.
struct BareLoop {
  int uffd = -1, stop_pipe[2] = {-1, -1};
  const uint8_t* src = nullptr;  // snapshot view, or null: copy `still` for every page
  uint64_t bytes = 0;
  alignas(4096) uint8_t still[4096];
  std::thread th;

  BareLoop(uint8_t* base, uint64_t len, int snapshot_fd) : bytes(len) {
    std::memset(still, 0x5a, sizeof still);
    if (snapshot_fd >= 0) {
      void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED | MAP_NORESERVE, snapshot_fd, 0);
      if (m == MAP_FAILED) die(std::string("mmap(snapshot): ") + std::strerror(errno));
      src = static_cast<const uint8_t*>(m);
    }
    uffd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    if (uffd < 0) die(std::string("userfaultfd: ") + std::strerror(errno));
    uffdio_api api{UFFD_API, 0, 0};
    if (::ioctl(uffd, UFFDIO_API, &api) != 0) die("UFFDIO_API failed");
    uffdio_register reg{};
    reg.range = {reinterpret_cast<uint64_t>(base), len};
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (::ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) die("UFFDIO_REGISTER failed");
    if (::pipe2(stop_pipe, O_CLOEXEC) != 0) die("pipe2 failed");
    const uint64_t b = reinterpret_cast<uint64_t>(base);
    th = std::thread([this, b] {
      for (;;) {
        pollfd fds[2] = {{uffd, POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return;
        uffd_msg m;
        if (::read(uffd, &m, sizeof m) != sizeof m) continue;
        const uint64_t dst = m.arg.pagefault.address & ~(kPg - 1);
        uffdio_copy c{};
        c.dst = dst;
        c.src = reinterpret_cast<uint64_t>(src ? src + (dst - b) : still);
        c.len = kPg;
        ::ioctl(uffd, UFFDIO_COPY, &c);
      }
    });
  }
  ~BareLoop() {
    [[maybe_unused]] ssize_t n = ::write(stop_pipe[1], "x", 1);
    th.join();
    ::close(uffd);
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    if (src) ::munmap(const_cast<uint8_t*>(src), bytes);
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Usage: sf_fault_bench [pages per round] [rounds]
  const uint64_t pages = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 16384;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 6;
  if (pages < 16 || rounds < 1) die("usage: sf_fault_bench [pages >= 16] [rounds >= 1]");
  const uint64_t bytes = pages * kPg;

  // The snapshot: a memfd whose every page holds data (no holes: every fault is a real copy).
  sf::UniqueFd snap(::memfd_create("fault-bench-snapshot", MFD_CLOEXEC));
  if (!snap) die(std::string("memfd_create: ") + std::strerror(errno));
  if (::ftruncate(snap.get(), static_cast<off_t>(bytes)) != 0) die("ftruncate failed");
  {
    std::vector<uint64_t> page(kPg / 8);
    for (uint64_t p = 0; p < pages; ++p) {
      std::fill(page.begin(), page.end(), pattern(p));
      if (::pwrite(snap.get(), page.data(), kPg, static_cast<off_t>(p * kPg)) != static_cast<ssize_t>(kPg))
        die("pwrite failed");
    }
  }

  std::vector<uint64_t> tap_ns, bare_ns, still_ns, anon_ns, svc_p50, svc_p99;
  // Interleaved rounds: drift on a noisy 2-core machine hits each variant alike.
  for (int r = 0; r < rounds; ++r) {
    {
      uint8_t* ram = fresh_anon(bytes);
      auto tap = sf::memory::Memtap::create(ram, bytes, snap.get());
      if (!tap.ok()) die("Memtap::create: " + tap.status().message);
      auto ns = touch_all(ram, pages, true, "memtap");
      const sf::memory::MemtapStats st = tap.value()->stats();
      if (st.faults < pages || st.pages_copied != pages) {
        die("memtap served " + std::to_string(st.faults) + " faults, copied " + std::to_string(st.pages_copied) +
            " pages, expected " + std::to_string(pages));
      }
      svc_p50.push_back(st.p50_ns);
      svc_p99.push_back(st.p99_ns);
      tap_ns.insert(tap_ns.end(), ns.begin(), ns.end());
      tap.value()->shutdown();
      ::munmap(ram, bytes);
    }
    {
      uint8_t* ram = fresh_anon(bytes);
      std::vector<uint64_t> ns;
      {
        BareLoop loop(ram, bytes, snap.get());
        ns = touch_all(ram, pages, true, "bare uffd loop");
      }
      bare_ns.insert(bare_ns.end(), ns.begin(), ns.end());
      ::munmap(ram, bytes);
    }
    {
      uint8_t* ram = fresh_anon(bytes);
      std::vector<uint64_t> ns;
      {
        BareLoop loop(ram, bytes, -1);
        ns = touch_all(ram, pages, false, "bare uffd loop (static page)");
        if (ram[0] != 0x5a) die("bare uffd loop (static page): wrong data");
      }
      still_ns.insert(still_ns.end(), ns.begin(), ns.end());
      ::munmap(ram, bytes);
    }
    {
      // A plain first touch of anonymous memory (no userfaultfd at all), for scale.
      uint8_t* ram = fresh_anon(bytes);
      auto ns = touch_all(ram, pages, false, "anon");
      anon_ns.insert(anon_ns.end(), ns.begin(), ns.end());
      ::munmap(ram, bytes);
    }
  }

  const double ratio = static_cast<double>(pct(tap_ns, 0.5)) / static_cast<double>(pct(bare_ns, 0.5));
  const double ratio_still = static_cast<double>(pct(tap_ns, 0.5)) / static_cast<double>(pct(still_ns, 0.5));
  std::printf(
      "{\"bench\":\"fault\",\"fault_pages_per_round\":%llu,\"fault_rounds\":%d,"
      "\"fault_memtap_touch_p50_ns\":%llu,\"fault_memtap_touch_p99_ns\":%llu,"
      "\"fault_bare_uffd_touch_p50_ns\":%llu,\"fault_bare_uffd_touch_p99_ns\":%llu,"
      "\"fault_bare_uffd_static_touch_p50_ns\":%llu,\"fault_anon_touch_p50_ns\":%llu,"
      "\"fault_memtap_service_p50_ns\":%llu,\"fault_memtap_service_p99_ns\":%llu,"
      "\"fault_memtap_vs_bare_p50_ratio\":%.2f,\"fault_memtap_vs_bare_static_p50_ratio\":%.2f}\n",
      static_cast<unsigned long long>(pages), rounds, static_cast<unsigned long long>(pct(tap_ns, 0.5)),
      static_cast<unsigned long long>(pct(tap_ns, 0.99)), static_cast<unsigned long long>(pct(bare_ns, 0.5)),
      static_cast<unsigned long long>(pct(bare_ns, 0.99)), static_cast<unsigned long long>(pct(still_ns, 0.5)),
      static_cast<unsigned long long>(pct(anon_ns, 0.5)), static_cast<unsigned long long>(pct(svc_p50, 0.5)),
      static_cast<unsigned long long>(pct(svc_p99, 0.5)), ratio, ratio_still);
  return 0;
}
