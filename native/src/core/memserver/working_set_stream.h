// Working-set streams: which clients of a snapshot have been seen, and for each new one a cursor over
// the working set (working_set.h) that hands the memserver the next run of pages to push to it, minus
// the pages that client asked for itself since its stream began (its demand path has those).
// Boundary: scheduling only (round-robin over streams, bounded clients and streams); the memserver
// decides per page (lockstep, end game) and sends. One thread.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_set>
#include <vector>

#include "working_set.h"

namespace sf::memserver {

class WorkingSetStreams {
 public:
  using Clock = std::chrono::steady_clock;
  struct Target {
    uint32_t client_id = 0;
    sockaddr_in to{};        // the client's request address (unicast replies)
    bool multicast = false;  // the client is in the group: stream to the group
  };
  struct Run {
    Target target;
    Clock::time_point started;  // when the stream began (the client's first request)
    uint64_t first = 0;
    uint32_t n = 0;
  };

  // `pages`: the snapshot's size. At most `max_clients` client ids are remembered (later ones get no
  // stream) and `max_streams` streams run at once (a client arriving beyond that gets none).
  WorkingSetStreams(uint64_t pages, uint32_t max_clients, uint32_t max_streams)
      : pages_(pages), max_clients_(max_clients), max_streams_(max_streams) {}

  // True the first time `client_id` is seen (and there was room to remember it).
  bool first_request(uint32_t client_id);
  // Starts a stream for a client; false if `max_streams` are already running.
  bool start(const Target& target, Clock::time_point now);
  // The client asked for [first, first + n) itself: its stream leaves those out.
  void asked(uint32_t client_id, uint64_t first, uint64_t n);

  bool empty() const { return streams_.empty(); }
  size_t active() const { return streams_.size(); }
  // The next run of at most `max_pages` consecutive pages of `set` (seeded, plus recorded if
  // `with_recorded`) for the stream whose turn it is, leaving out pages its client asked for and pages
  // `skip` rejects (holes); streams take turns run by run and end when their cursor passes the set's
  // end. `examined` counts the pages looked at (also those left out); once it reaches `max_examined`
  // the scan stops with an empty run (n = 0) so the caller can serve requests first. nullopt: no
  // stream has more.
  std::optional<Run> next(const WorkingSet& set, bool with_recorded, uint32_t max_pages,
                          const std::function<bool(uint64_t)>& skip, uint64_t max_examined, uint64_t* examined);

 private:
  struct Stream {
    Target target;
    Clock::time_point started;
    uint64_t cursor = 0;
    std::vector<uint64_t> asked;  // a bit per page the client asked for since the stream began
    bool was_asked(uint64_t page) const { return (asked[page / 64] >> (page % 64)) & 1; }
  };

  const uint64_t pages_;
  const uint32_t max_clients_, max_streams_;
  std::unordered_set<uint32_t> seen_;
  std::deque<Stream> streams_;
};

}  // namespace sf::memserver
