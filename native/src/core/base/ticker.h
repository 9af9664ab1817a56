// Ticker: a helper thread that calls a function at a fixed period until stopped.
// Boundary: timing and lifetime only. The VM uses it to flush console output that has no newline yet
// and to probe quiet vCPUs for a halt they can never leave.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "status.h"
#include "thread.h"

namespace sf {

class Ticker {
 public:
  Ticker() = default;
  ~Ticker() { stop(); }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // `owner` as for Thread::start.
  Status start(std::chrono::milliseconds period, std::function<void()> tick, const char* name,
               const void* owner = nullptr);
  // Returns after the thread has ended; the tick function is not running and will not run again.
  void stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  Thread thread_;
};

}  // namespace sf
