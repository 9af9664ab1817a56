// WorkingSet: the pages of one snapshot its clients asked for (recorded by the memserver) and the pages
// it was told to expect (a seed: an earlier fork's working set) — REAP's record of what clones touch.
// Boundary: bits only, written by the memserver's thread, read from any thread; no sockets, no policy.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace sf::memserver {

class WorkingSet {
 public:
  explicit WorkingSet(uint64_t pages);
  WorkingSet(const WorkingSet&) = delete;
  WorkingSet& operator=(const WorkingSet&) = delete;

  uint64_t pages() const { return pages_; }
  // Seeds the set with `pages` (any order, duplicates allowed); pages past the snapshot and pages
  // `keep` rejects (holes) are left out. Returns how many distinct pages went in. Before readers start.
  uint64_t seed(std::span<const uint32_t> pages, const std::function<bool(uint64_t)>& keep);
  // Clients asked for [first, first + n) (clipped to the snapshot).
  void record(uint64_t first, uint64_t n);

  bool seeded(uint64_t page) const { return test(seeded_.get(), page); }
  bool recorded(uint64_t page) const { return test(recorded_.get(), page); }
  // Pages in the union of seed and record.
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t seeded_count() const { return seeded_count_; }
  uint64_t recorded_count() const { return recorded_count_.load(std::memory_order_relaxed); }

  // The first page ≥ `from` that is seeded (or recorded, if `with_recorded`); pages() if none.
  uint64_t next(uint64_t from, bool with_recorded) const;
  // The union, sorted: what the next fork's memserver is given as its seed.
  std::vector<uint32_t> list() const;

 private:
  static bool test(const std::atomic<uint64_t>* words, uint64_t page) {
    return (words[page / 64].load(std::memory_order_relaxed) >> (page % 64)) & 1;
  }
  uint64_t words() const { return (pages_ + 63) / 64; }

  const uint64_t pages_;
  std::unique_ptr<std::atomic<uint64_t>[]> seeded_, recorded_;
  uint64_t seeded_count_ = 0;
  std::atomic<uint64_t> recorded_count_{0}, count_{0};
};

}  // namespace sf::memserver
