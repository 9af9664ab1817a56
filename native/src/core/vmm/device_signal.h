// DeviceSignal: the VM's one "a device has something for the guest" line, which flat guests (no interrupt
// controller) sleep on through the SF_HC_WAIT hypercall instead of spinning on their used rings.
// Boundary: a level-triggered pending flag plus the wait; devices raise it (their interrupt), vCPU threads
// wait on it, RunControl's waker ends waits for a pause or stop. Nothing here knows about rings or KVM.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace sf::vmm {

class DeviceSignal {
 public:
  using Clock = std::chrono::steady_clock;

  DeviceSignal() = default;
  DeviceSignal(const DeviceSignal&) = delete;
  DeviceSignal& operator=(const DeviceSignal&) = delete;

  // A device returned buffers or changed its configuration (any thread, lock-free when nobody waits).
  void raise();
  // Waits until a raise since the previous wait (the flag is consumed), `deadline`, or `leave` becoming
  // true (a pause or stop: whoever sets it calls wake()). True when a raise ended (or preceded) the wait.
  // A raise between the guest's last look at its rings and this call is not lost: the flag stays set.
  bool wait_until(Clock::time_point deadline, const std::atomic<bool>& leave);
  // A wait with no time to sleep: consumes the flag, true when it was set. Lock-free.
  bool take() { return pending_.exchange(false, std::memory_order_seq_cst); }
  // Ends every wait so it re-checks its `leave` flag. Any thread; takes only this object's lock.
  void wake();
  uint64_t raises() const { return raises_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> pending_{false};
  std::atomic<uint32_t> waiters_{0};
  std::atomic<uint64_t> raises_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace sf::vmm
