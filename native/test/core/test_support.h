// Shared helpers of the native tests: KVM and userfaultfd availability (tests skip with a reason
// without them), polling with a timeout, the test guest image, and a Harness that records a VM's
// callbacks and waits for them with timeouts.
// Boundary: test support only.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "vmm/vm.h"

namespace sf::vmm {
// Readable parameter names in gtest/ctest output.
inline void PrintTo(GuestPrivilege p, std::ostream* os) { *os << (p == GuestPrivilege::user ? "user" : "kernel"); }
}  // namespace sf::vmm

namespace sf::vmm::test {

inline bool kvm_usable(std::string* why) {
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *why = std::string("/dev/kvm cannot be opened: ") + std::strerror(errno);
    return false;
  }
  ::close(fd);
  return true;
}

#define SF_REQUIRE_KVM()                                           \
  do {                                                             \
    std::string why_;                                              \
    if (!::sf::vmm::test::kvm_usable(&why_)) GTEST_SKIP() << why_; \
  } while (0)

inline bool uffd_usable(std::string* why) {
  const int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) {
    *why = std::string("userfaultfd unavailable: ") + std::strerror(errno);
    return false;
  }
  ::close(fd);
  return true;
}

#define SF_REQUIRE_UFFD()                                           \
  do {                                                              \
    std::string why_;                                               \
    if (!::sf::vmm::test::uffd_usable(&why_)) GTEST_SKIP() << why_; \
  } while (0)

// Monotonic nanoseconds (latency figures).
inline uint64_t mono() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// Polls `f` every millisecond until it holds or `timeout` passes; returns its last answer.
inline bool wait_for(const std::function<bool()>& f, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return f();
}

inline const std::vector<uint8_t>& guest_image() {
  static const std::vector<uint8_t> image = [] {
    std::vector<uint8_t> v;
    FILE* f = std::fopen(SF_TEST_GUEST_PATH, "rb");
    if (f == nullptr) return v;
    int c;
    while ((c = std::fgetc(f)) != EOF) v.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
    return v;
  }();
  return image;
}

struct StateRecord {
  VmState state;
  int code;
  std::string reason;
};

class Harness {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kTimeout = std::chrono::seconds(20);

  VmCallbacks callbacks() {
    VmCallbacks cb;
    cb.on_console = [this](std::string_view s) {
      std::lock_guard l(mu_);
      console_.append(s);
      ++console_calls_;
      cv_.notify_all();
    };
    cb.on_state = [this](VmState st, int code, const std::string& reason) {
      std::lock_guard l(mu_);
      states_.push_back({st, code, reason});
      cv_.notify_all();
    };
    cb.on_guest_call = [this](const GuestCall& call) {
      std::lock_guard l(mu_);
      calls_.push_back(call);
      ++calls_seen_;
      cv_.notify_all();
    };
    return cb;
  }

  bool wait_state(VmState s, std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, timeout, [&] {
      for (auto& r : states_)
        if (r.state == s) return true;
      return false;
    });
  }
  // Waits for any of the final guest states (halted/exited/crashed).
  std::optional<StateRecord> wait_final(std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock l(mu_);
    std::optional<StateRecord> out;
    cv_.wait_for(l, timeout, [&] {
      for (auto& r : states_) {
        if (r.state == VmState::halted || r.state == VmState::exited || r.state == VmState::crashed) {
          out = r;
          return true;
        }
      }
      return false;
    });
    return out;
  }
  bool wait_console(const std::string& needle, std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, timeout, [&] { return console_.find(needle) != std::string::npos; });
  }
  std::optional<GuestCall> wait_call(std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock l(mu_);
    if (!cv_.wait_for(l, timeout, [&] { return !calls_.empty(); })) return std::nullopt;
    GuestCall c = calls_.front();
    calls_.pop_front();
    return c;
  }
  std::string console() {
    std::lock_guard l(mu_);
    return console_;
  }
  size_t console_calls() {
    std::lock_guard l(mu_);
    return console_calls_;
  }
  std::vector<StateRecord> states() {
    std::lock_guard l(mu_);
    return states_;
  }
  size_t calls_seen() {
    std::lock_guard l(mu_);
    return calls_seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string console_;
  size_t console_calls_ = 0;
  std::vector<StateRecord> states_;
  std::deque<GuestCall> calls_;
  size_t calls_seen_ = 0;
};

// Creates a VM running the test guest in `mode` (the first word of the command line) and boots it.
inline std::unique_ptr<Vm> boot_guest(Harness& h, const std::string& cmdline, VmConfig cfg = {}) {
  if (cfg.ram_bytes == 0) cfg.ram_bytes = 64ull << 20;
  cfg.cmdline = cmdline;
  auto vm = Vm::create(cfg, h.callbacks());
  EXPECT_TRUE(vm.ok()) << vm.status().message;
  if (!vm.ok()) return nullptr;
  Status s = vm.value()->load_elf(guest_image());
  EXPECT_TRUE(s.ok()) << s.message;
  s = vm.value()->boot();
  EXPECT_TRUE(s.ok()) << s.message;
  return std::move(vm).value();
}

}  // namespace sf::vmm::test
