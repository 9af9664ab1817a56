// Client side of mcdist flow control: the receive rate within trains of back-to-back reply datagrams
// (what the path and this receiver take, not how much was asked for), smoothed, piggybacked on requests.
// Boundary: arithmetic on (arrival time, bytes) samples; add() from one thread, rate() from any.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sf::memserver {

class RateMeter {
 public:
  // Datagrams further apart than this belong to different trains (the gap is idleness or the
  // server's pacing, not the path's speed). A fault's three datagrams are no train: no sample. Lost
  // datagrams (on the way, or to a full socket buffer) lower the rate.
  static constexpr uint64_t kGapNs = 500000;
  // A train yields a sample once it has lasted this long (and again every time after)...
  static constexpr uint64_t kSampleSpanNs = 4000000;
  // ...or when it ends, if it held at least this many datagrams over a measurable time.
  static constexpr uint32_t kMinDatagrams = 8;

  // One valid datagram of `bytes` arrived at `now_ns` (any clock that does not run backwards much:
  // the kernel's receive timestamps); the receive thread only.
  void add(uint64_t now_ns, size_t bytes);
  // Smoothed receive rate in bytes per second; 0 until the first train has been measured.
  uint64_t rate() const { return rate_.load(std::memory_order_relaxed); }
  // The same in KiB/s for the wire (0: not measured), saturating.
  uint32_t rate_kib() const;

 private:
  void sample(uint64_t end_ns);

  uint64_t start_ = 0, last_ = 0;
  uint64_t bytes_ = 0;  // bytes after the train's first datagram (n datagrams span n − 1 gaps)
  uint32_t datagrams_ = 0;
  std::atomic<uint64_t> rate_{0};
};

}  // namespace sf::memserver
