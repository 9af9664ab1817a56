// Weighted average of client receive rates and a token-bucket pacer (see flow_control.h).
// Boundary: no clocks read here; callers pass the time, so tests can drive it.
#include "flow_control.h"

#include <algorithm>

namespace sf::memserver {

namespace {
// The bucket holds at most this long at the current pace, and never less than this many bytes: a
// fault's reply (a few datagrams) is never held back behind an idle period.
constexpr double kBurstSeconds = 0.002;
constexpr double kMinBurstBytes = 128 * 1024;
}  // namespace

void FlowControl::report(uint64_t rate) {
  if (rate == 0) return;
  const double r = static_cast<double>(rate);
  average_ = reports_ == 0 ? r : (1.0 - config_.weight) * average_ + config_.weight * r;
  ++reports_;
}

uint64_t FlowControl::pace() const {
  if (!config_.enabled) return 0;
  if (reports_ == 0) return config_.max_rate;
  double p = average_ * (1.0 + config_.headroom);
  p = std::max(p, static_cast<double>(config_.min_rate));
  if (config_.max_rate != 0) p = std::min(p, static_cast<double>(config_.max_rate));
  return static_cast<uint64_t>(p);
}

void FlowControl::refill(Clock::time_point now) {
  const uint64_t rate = pace();
  if (refilled_ == Clock::time_point{} || rate == 0) {
    refilled_ = now;
    tokens_ = std::max(tokens_, 0.0);
    return;
  }
  if (now <= refilled_) return;
  const double secs = std::chrono::duration<double>(now - refilled_).count();
  const double cap = std::max(kMinBurstBytes, static_cast<double>(rate) * kBurstSeconds);
  tokens_ = std::min(cap, tokens_ + secs * static_cast<double>(rate));
  refilled_ = now;
}

FlowControl::Clock::duration FlowControl::delay(Clock::time_point now) {
  refill(now);
  const uint64_t rate = pace();
  if (rate == 0 || tokens_ >= 0) return Clock::duration::zero();
  const double secs = -tokens_ / static_cast<double>(rate);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs)) +
         std::chrono::microseconds(1);
}

void FlowControl::spent(size_t bytes, Clock::time_point now) {
  refill(now);
  if (pace() == 0) return;
  tokens_ -= static_cast<double>(bytes);
}

}  // namespace sf::memserver
