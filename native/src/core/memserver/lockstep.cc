// Lockstep and end-game bookkeeping for the multicast memserver (see lockstep.h).
// Boundary: no clocks read here; callers pass the time.
#include "lockstep.h"

#include <algorithm>

namespace sf::memserver {

uint32_t LockstepTracker::ticks(Clock::duration d) {
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return ns <= 0 ? 0 : static_cast<uint32_t>((ns + kTickNs - 1) / kTickNs);
}

LockstepTracker::LockstepTracker(uint64_t pages, uint64_t data_pages, Clock::duration window,
                                 Clock::duration first_ask_window, Clock::time_point epoch)
    : window_(window),
      window_ticks_(ticks(window)),
      first_ask_ticks_(window_ticks_ == 0 ? 0 : std::max(window_ticks_, ticks(first_ask_window))),
      epoch_(epoch),
      data_pages_(data_pages),
      last_(pages, 0),
      queued_(pages, kNone),
      ever_(pages, false) {}

uint32_t LockstepTracker::tick(Clock::time_point t) const {
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t - epoch_).count();
  const uint32_t v = static_cast<uint32_t>(static_cast<uint64_t>(ns < 0 ? 0 : ns) / kTickNs);
  return v == 0 ? 1 : v;  // 0 means "never"
}

bool LockstepTracker::redundant(uint64_t page, Clock::time_point now, bool urgent, bool retry) const {
  if (window_ticks_ == 0 || page >= last_.size()) return false;
  if (queued_[page] == kUrgent || (queued_[page] == kBulk && !urgent)) return true;
  const uint32_t last = last_[page];
  // Unsigned difference: correct across the wrap of the tick counter.
  return last != 0 && static_cast<uint32_t>(tick(now) - last) < (retry ? window_ticks_ : first_ask_ticks_);
}

void LockstepTracker::sent(uint64_t page, Clock::time_point now, bool is_data) {
  if (page >= last_.size()) return;
  queued_[page] = kNone;
  last_[page] = tick(now);
  if (!ever_[page]) {
    ever_[page] = true;
    if (is_data) ++data_sent_;
  }
}

bool LockstepTracker::sent_since(uint64_t page, Clock::time_point t) const {
  if (page >= last_.size() || last_[page] == 0) return false;
  // Signed difference of the wrapping tick counter: "not before t".
  return static_cast<int32_t>(last_[page] - tick(t)) >= 0;
}

}  // namespace sf::memserver
