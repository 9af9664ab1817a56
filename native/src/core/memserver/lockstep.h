// Per-page send history of a multicast memserver: lockstep detection (a page multicast moments ago or
// already queued is not sent again) and the end game's measure (data pages multicast at least once).
// Boundary: bookkeeping only; the memserver decides and sends. One thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace sf::memserver {

class LockstepTracker {
 public:
  using Clock = std::chrono::steady_clock;
  // `data_pages`: how many of `pages` hold data (the end game's denominator). A page multicast less
  // than `window` ago is redundant for any request, less than `first_ask_window` ago for a client's
  // first ask (it may simply not have read the page yet; a retry means it lost it). Window 0: no lockstep.
  LockstepTracker(uint64_t pages, uint64_t data_pages, Clock::duration window, Clock::duration first_ask_window,
                  Clock::time_point epoch = Clock::now());

  // Pages past `pages` are never redundant, queued or sent (a unicast server tracks 0 pages).
  bool enabled() const { return window_ticks_ != 0; }
  // Would multicasting `page` now repeat a send that the group just got or is about to get? For an
  // `urgent` request (a fault) a page queued behind bulk work is not: it is sent ahead (and the bulk
  // copy skipped when its turn comes, since the page is then no longer queued).
  bool redundant(uint64_t page, Clock::time_point now, bool urgent, bool retry) const;
  void set_queued(uint64_t page, bool urgent) {
    if (page < queued_.size()) queued_[page] = urgent ? kUrgent : kBulk;
  }
  void unqueue(uint64_t page) {
    if (page < queued_.size()) queued_[page] = kNone;
  }
  bool queued(uint64_t page) const { return page < queued_.size() && queued_[page] != kNone; }
  // `page` went to the group at `now`; `is_data`: it counts towards the end game.
  void sent(uint64_t page, Clock::time_point now, bool is_data);
  bool ever_sent(uint64_t page) const { return page < ever_.size() && ever_[page]; }
  // `page` went to the group at or after `t` (for `t` within the last ~9 hours).
  bool sent_since(uint64_t page, Clock::time_point t) const;

  uint64_t data_pages() const { return data_pages_; }
  uint64_t data_pages_sent() const { return data_sent_; }
  Clock::duration window() const { return window_; }

 private:
  // Send times in ticks of 16 µs since the epoch, 0 = never; they wrap after ~19 hours, when at worst
  // one request is wrongly taken for a lockstep duplicate (its client retries).
  static constexpr int64_t kTickNs = 16000;
  static constexpr uint8_t kNone = 0, kBulk = 1, kUrgent = 2;
  uint32_t tick(Clock::time_point t) const;

  static uint32_t ticks(Clock::duration d);

  const Clock::duration window_;
  const uint32_t window_ticks_, first_ask_ticks_;
  const Clock::time_point epoch_;
  const uint64_t data_pages_;
  uint64_t data_sent_ = 0;
  std::vector<uint32_t> last_;
  std::vector<uint8_t> queued_;  // kNone, kBulk or kUrgent: which queue holds the page
  std::vector<bool> ever_;
};

}  // namespace sf::memserver
