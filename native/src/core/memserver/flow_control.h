// Server side of mcdist flow control: a weighted average of the receive rates clients piggyback on
// requests, and a token-bucket pace a little above it (so it probes upward while nobody falls behind).
// Boundary: arithmetic only; the caller passes the time and says what it sent. One thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sf::memserver {

struct FlowControlConfig {
  bool enabled = true;
  double weight = 0.125;         // of each new report in the weighted average
  double headroom = 0.25;        // pace = average × (1 + headroom): room to find out whether clients take more
  uint64_t min_rate = 8u << 20;  // bytes/s: a floor, so one slow or confused report cannot starve everyone
  uint64_t max_rate = 0;         // bytes/s ceiling, also the pace before any report; 0: none
};

class FlowControl {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FlowControl(const FlowControlConfig& config) : config_(config) {}

  // A client reported receiving at `rate` bytes/s (0 is ignored).
  void report(uint64_t rate);
  uint64_t reports() const { return reports_; }
  // The weighted average of the reports, bytes/s (0: none yet).
  uint64_t average() const { return static_cast<uint64_t>(average_); }
  // The pace the sender keeps to, bytes/s; 0: unpaced (disabled, or no report and no ceiling).
  uint64_t pace() const;

  // How long the sender must wait before its next datagram (zero: send now).
  Clock::duration delay(Clock::time_point now);
  // The sender just put `bytes` on the wire.
  void spent(size_t bytes, Clock::time_point now);

 private:
  void refill(Clock::time_point now);

  const FlowControlConfig config_;
  double average_ = 0;
  uint64_t reports_ = 0;
  double tokens_ = 0;  // bytes the sender may still send; negative: debt to wait out
  Clock::time_point refilled_{};
};

}  // namespace sf::memserver
