// The host mirror under mcdist's traffic pattern: pages requested by other hosts arrive exactly while
// this host's clones fault on them, so an installer's publish() races a fault's wait_async(). Every
// registration that was not answered at once must get its page_ready (no lost wake-ups).
// Boundary: a stress test of memserver/mirror.h alone.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "memserver/mirror.h"

namespace sf::memserver::test {
namespace {

struct CountingWaiter final : memory::PageWaiter {
  std::atomic<uint64_t> ready{0};
  void page_ready(uint64_t, const uint8_t*, const Status& st) override {
    EXPECT_TRUE(st.ok());
    ready.fetch_add(1);
  }
};

TEST(McdistMirror, NoLostWakeUpsWhenPagesArriveAsFaultsRegister) {
  // Zero pages, so a million pages cost bitmaps, not memory. (Before the fix this lost about one
  // wake-up per few hundred thousand races on this machine.)
  constexpr uint64_t kPages = 1000000;
  auto made = Mirror::create(7, kPages * 4096);
  ASSERT_TRUE(made.ok()) << made.status().message;
  std::shared_ptr<Mirror> m = made.value();
  CountingWaiter w;
  std::atomic<uint64_t> cursor{0};
  uint64_t registered = 0, immediate = 0;
  std::thread installer([&] {
    for (uint64_t p = 0; p < kPages; ++p) {
      cursor.store(p, std::memory_order_release);
      m->install_zero(p, 1);
      const Mirror::Range r{p, 1};
      m->publish({&r, 1});
    }
  });
  // The "fault" for page p registers right as the installer reaches p.
  for (uint64_t p = 0; p < kPages; ++p) {
    while (cursor.load(std::memory_order_acquire) < p) {
    }
    if (m->wait_async(p, &w)) {
      ++immediate;
    } else {
      ++registered;
    }
  }
  installer.join();
  EXPECT_EQ(registered + immediate, kPages);
  EXPECT_EQ(w.ready.load(), registered) << "lost wake-ups: " << registered - w.ready.load();
  m->forget(&w);
}

}  // namespace
}  // namespace sf::memserver::test
