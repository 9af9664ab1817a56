// Working-set stream scheduling (see working_set_stream.h): client bookkeeping, per-stream cursors and
// the pages each client already asked for.
// Boundary: no sockets, no clocks read here (callers pass the time).
#include "working_set_stream.h"

#include <algorithm>

namespace sf::memserver {

bool WorkingSetStreams::first_request(uint32_t client_id) {
  if (seen_.contains(client_id)) return false;
  // Remembering every id forever would let a long-lived snapshot grow without bound; a client beyond
  // the limit just faults its pages on demand.
  if (seen_.size() >= max_clients_) return false;
  seen_.insert(client_id);
  return true;
}

bool WorkingSetStreams::start(const Target& target, Clock::time_point now) {
  if (streams_.size() >= max_streams_ || pages_ == 0) return false;
  Stream s;
  s.target = target;
  s.started = now;
  s.asked.assign((pages_ + 63) / 64, 0);
  streams_.push_back(std::move(s));
  return true;
}

void WorkingSetStreams::asked(uint32_t client_id, uint64_t first, uint64_t n) {
  if (first >= pages_) return;
  const uint64_t end = first + std::min(n, pages_ - first);
  for (Stream& s : streams_) {
    if (s.target.client_id != client_id) continue;
    for (uint64_t p = first; p < end; ++p) s.asked[p / 64] |= uint64_t{1} << (p % 64);
  }
}

std::optional<WorkingSetStreams::Run> WorkingSetStreams::next(const WorkingSet& set, bool with_recorded,
                                                              uint32_t max_pages,
                                                              const std::function<bool(uint64_t)>& skip,
                                                              uint64_t max_examined, uint64_t* examined) {
  while (!streams_.empty()) {
    Stream& s = streams_.front();
    uint64_t p = set.next(s.cursor, with_recorded);
    // Skip what this client has or is getting another way, then take the run of pages that follows.
    while (p < pages_ && (s.was_asked(p) || (skip && skip(p)))) {
      if (++*examined >= max_examined) {
        // A long stretch of pages nobody needs: come back to it later, requests may be waiting.
        s.cursor = p + 1;
        return Run{s.target, s.started, p + 1, 0};
      }
      p = set.next(p + 1, with_recorded);
    }
    if (p >= pages_) {
      streams_.pop_front();  // done: every page of the set went out (or was not needed)
      continue;
    }
    Run run{s.target, s.started, p, 1};
    uint64_t q = p + 1;
    while (run.n < max_pages && q < pages_ && (set.seeded(q) || (with_recorded && set.recorded(q))) &&
           !s.was_asked(q) && !(skip && skip(q))) {
      ++run.n;
      ++q;
    }
    *examined += run.n;
    s.cursor = q;
    // Round robin: every stream makes progress, so a second host joining late is not starved by the first.
    if (streams_.size() > 1) {
      streams_.push_back(std::move(s));
      streams_.pop_front();
    }
    return run;
  }
  return std::nullopt;
}

}  // namespace sf::memserver
