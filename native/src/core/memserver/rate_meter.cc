// Train-rate measurement for mcdist flow control (see rate_meter.h).
// Boundary: no clocks read here; callers pass the arrival times, so tests can drive it.
#include "rate_meter.h"

#include <algorithm>

namespace sf::memserver {

void RateMeter::add(uint64_t now_ns, size_t bytes) {
  // A clock step backwards (or a reordered timestamp) starts a new train rather than a negative span.
  if (datagrams_ > 0 && (now_ns < last_ || now_ns - last_ > kGapNs)) {
    sample(last_);  // the previous train ended
    datagrams_ = 0;
  }
  if (datagrams_ == 0) {
    start_ = last_ = now_ns;
    bytes_ = 0;
    datagrams_ = 1;
    return;
  }
  bytes_ += bytes;
  ++datagrams_;
  last_ = now_ns;
  if (now_ns - start_ >= kSampleSpanNs) {
    sample(now_ns);
    start_ = now_ns;  // keep measuring the same stream in fresh intervals
    bytes_ = 0;
    datagrams_ = 1;
  }
}

void RateMeter::sample(uint64_t end_ns) {
  if (datagrams_ < kMinDatagrams || end_ns <= start_ || bytes_ == 0) return;
  const double r = static_cast<double>(bytes_) * 1e9 / static_cast<double>(end_ns - start_);
  const uint64_t old = rate_.load(std::memory_order_relaxed);
  // An exponentially weighted average (¼ per sample): one odd train moves it, not flips it.
  const double next = old == 0 ? r : 0.75 * static_cast<double>(old) + 0.25 * r;
  rate_.store(std::max<uint64_t>(1, static_cast<uint64_t>(next)), std::memory_order_relaxed);
}

uint32_t RateMeter::rate_kib() const {
  const uint64_t r = rate();
  if (r == 0) return 0;
  return static_cast<uint32_t>(std::clamp<uint64_t>(r / 1024, 1, UINT32_MAX));
}

}  // namespace sf::memserver
