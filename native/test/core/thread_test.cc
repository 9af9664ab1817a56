// Thread: vCPU threads run guest work below the host's threads (nice), helper threads keep the
// creator's priority, so busy guests cannot starve heartbeats, memtap or consoles.
#include "base/thread.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>

namespace sf::vmm {
namespace {

int nice_of_new_thread(Thread::Signals signals) {
  std::atomic<int> seen{-100};
  Thread t;
  EXPECT_TRUE(t.start(
                   [&] {
                     errno = 0;
                     seen = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
                   },
                   "sf-nice-test", signals)
                  .ok());
  t.join();
  return seen.load();
}

TEST(Thread, VcpuThreadsRunBelowHostThreads) {
  const int own = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  ASSERT_TRUE(install_kick_handler().ok());
  // Absolute nice: a test run already niced above kGuestNice keeps its (lower) priority.
  EXPECT_EQ(nice_of_new_thread(Thread::Signals::kick), std::max(own, kGuestNice));
  EXPECT_EQ(nice_of_new_thread(Thread::Signals::none), own);
}

}  // namespace
}  // namespace sf::vmm
