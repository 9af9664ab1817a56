// DeviceSignal: the pending flag and the wait (see device_signal.h).
// Boundary: synchronisation only. pending_ and waiters_ are seq_cst so that a raiser that sees no waiter
// and a waiter that sees no raise cannot both happen (then the waiter would sleep through the raise).
#include "device_signal.h"

namespace sf::vmm {

void DeviceSignal::raise() {
  raises_.fetch_add(1, std::memory_order_relaxed);
  // Already pending: whoever waits next returns at once, and a sleeper was woken by the first raise.
  if (pending_.exchange(true, std::memory_order_seq_cst)) return;
  if (waiters_.load(std::memory_order_seq_cst) == 0) return;
  // Taking the lock orders this after a sleeper's predicate check: it is either asleep (and notified) or
  // has not looked yet (and sees pending_).
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

bool DeviceSignal::wait_until(Clock::time_point deadline, const std::atomic<bool>& leave) {
  if (pending_.exchange(false, std::memory_order_seq_cst)) return true;
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline,
                   [&] { return pending_.load(std::memory_order_seq_cst) || leave.load(std::memory_order_seq_cst); });
  }
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return pending_.exchange(false, std::memory_order_seq_cst);
}

void DeviceSignal::wake() {
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

}  // namespace sf::vmm
