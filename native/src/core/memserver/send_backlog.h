// The memserver's queue of page runs still to send, each to the group or one requester: faults ahead
// of bulk work, and which pages are queued for which requester (a retry must not queue one twice).
// Boundary: a bounded FIFO pair and a set; no sockets, no page data. One thread.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <deque>
#include <unordered_set>

#include "page_wire.h"

namespace sf::memserver {

struct SendJob {
  Space space = Space::memory;
  uint64_t first = 0;  // pages (or disk blocks) [first, first + n)
  uint32_t n = 0;
  bool multicast = false;
  sockaddr_in to{};                 // unicast destination (unused for the group)
  uint32_t client_id = 0, seq = 0;  // echoed in the replies
  bool streamed = false;            // working-set stream, not a request: counted apart
};

class SendBacklog {
 public:
  // Requests of at most this many pages are faults waiting: they go ahead of bulk fetches.
  static constexpr uint32_t kUrgentPages = 4;
  explicit SendBacklog(uint64_t max_pages) : max_pages_(max_pages) {}

  bool empty() const { return urgent_.empty() && bulk_.empty(); }
  uint64_t pages() const { return pages_; }
  // Whether `n` more pages fit (the caller drops the request otherwise; its client retries).
  bool fits(uint64_t n) const { return pages_ + n <= max_pages_; }
  void push(const SendJob& job, bool urgent) {
    (urgent ? urgent_ : bulk_).push_back(job);
    pages_ += job.n;
  }
  // The job to work on next; valid until the next push/consume.
  SendJob& front() { return urgent_.empty() ? bulk_.front() : urgent_.front(); }
  bool front_is_urgent() const { return !urgent_.empty(); }
  // Records that `page` is queued for unicast to `to`; false if it already was.
  bool mark_unicast(Space space, uint64_t page, const sockaddr_in& to) {
    return unicast_.insert(key(space, page, to)).second;
  }
  void unmark_unicast(Space space, uint64_t page, const sockaddr_in& to) { unicast_.erase(key(space, page, to)); }

  // The front job's first `n` pages were sent (or given up).
  void consume(uint32_t n) {
    SendJob& j = front();
    j.first += n;
    j.n -= n;
    pages_ -= n;
    if (j.n == 0) (urgent_.empty() ? bulk_ : urgent_).pop_front();
  }

 private:
  struct Key {
    uint64_t page;
    uint64_t dest;  // IPv4 address and port, and the space above them
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.page * 0x9e3779b97f4a7c15ull ^ k.dest); }
  };
  static Key key(Space space, uint64_t page, const sockaddr_in& to) {
    return Key{page,
               (uint64_t{static_cast<uint8_t>(space)} << 48) | (uint64_t{to.sin_addr.s_addr} << 16) | to.sin_port};
  }

  const uint64_t max_pages_;
  uint64_t pages_ = 0;
  std::deque<SendJob> urgent_, bulk_;
  std::unordered_set<Key, KeyHash> unicast_;
};

}  // namespace sf::memserver
