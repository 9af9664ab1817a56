// DeviceSignal, what SF_HC_WAIT sleeps on: a raise before the wait is not lost (it is a level, consumed by
// one wait), a raise from another thread ends a sleeping wait at once, the deadline bounds the wait, and a
// pause/stop (the leave flag plus wake) ends it promptly without a raise.
#include "vmm/device_signal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace sf::vmm::test {
namespace {

using Clock = DeviceSignal::Clock;
using std::chrono::milliseconds;

TEST(DeviceSignal, ARaiseBeforeTheWaitEndsItAtOnceAndIsConsumed) {
  DeviceSignal s;
  std::atomic<bool> leave{false};
  s.raise();
  s.raise();  // two raises before one wait: still one level
  const auto t0 = Clock::now();
  EXPECT_TRUE(s.wait_until(t0 + std::chrono::seconds(5), leave));
  EXPECT_LT(Clock::now() - t0, milliseconds(100));
  // Consumed: the next wait sleeps until its deadline.
  const auto t1 = Clock::now();
  EXPECT_FALSE(s.wait_until(t1 + milliseconds(30), leave));
  EXPECT_GE(Clock::now() - t1, milliseconds(30));
  EXPECT_EQ(s.raises(), 2u);
}

TEST(DeviceSignal, ARaiseFromAnotherThreadWakesASleeper) {
  DeviceSignal s;
  std::atomic<bool> leave{false};
  for (int round = 0; round < 20; ++round) {
    std::thread raiser([&] {
      std::this_thread::sleep_for(milliseconds(2));
      s.raise();
    });
    const auto t0 = Clock::now();
    EXPECT_TRUE(s.wait_until(t0 + std::chrono::seconds(10), leave)) << "round " << round;
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << "round " << round;
    raiser.join();
  }
}

TEST(DeviceSignal, LeaveAndWakeEndAWaitWithoutARaise) {
  DeviceSignal s;
  std::atomic<bool> leave{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(20));
    leave.store(true);
    s.wake();
  });
  const auto t0 = Clock::now();
  EXPECT_FALSE(s.wait_until(t0 + std::chrono::seconds(10), leave));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  stopper.join();
  // While leave holds, a wait returns at once.
  const auto t1 = Clock::now();
  EXPECT_FALSE(s.wait_until(t1 + std::chrono::seconds(10), leave));
  EXPECT_LT(Clock::now() - t1, milliseconds(100));
}

}  // namespace
}  // namespace sf::vmm::test
