// Ticker: periodic callback thread with prompt, joinable shutdown.
// Boundary: see ticker.h.
#include "ticker.h"

namespace sf {

Status Ticker::start(std::chrono::milliseconds period, std::function<void()> tick, const char* name,
                     const void* owner) {
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  return thread_.start(
      [this, period, tick = std::move(tick)] {
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
          lock.unlock();
          tick();
          lock.lock();
        }
      },
      name, Thread::Signals::none, owner, 128 * 1024);
}

void Ticker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace sf
