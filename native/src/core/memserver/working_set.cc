// The working-set bitmaps (see working_set.h): seeding with clipping, recording, and word-wise scans.
// Boundary: memory only; relaxed atomics suffice (readers want a recent picture, not a consistent cut).
#include "working_set.h"

#include <algorithm>
#include <bit>

namespace sf::memserver {

WorkingSet::WorkingSet(uint64_t pages)
    : pages_(pages),
      seeded_(new std::atomic<uint64_t>[(pages + 63) / 64]),
      recorded_(new std::atomic<uint64_t>[(pages + 63) / 64]) {
  for (uint64_t i = 0; i < words(); ++i) {
    seeded_[i].store(0, std::memory_order_relaxed);
    recorded_[i].store(0, std::memory_order_relaxed);
  }
}

uint64_t WorkingSet::seed(std::span<const uint32_t> pages, const std::function<bool(uint64_t)>& keep) {
  uint64_t added = 0;
  for (const uint32_t p : pages) {
    // A set from another fork may name pages this snapshot does not have (a smaller VM) or no longer
    // holds data in: those cost nothing to skip and would cost a datagram each to send.
    if (p >= pages_ || (keep && !keep(p))) continue;
    const uint64_t bit = uint64_t{1} << (p % 64);
    if (seeded_[p / 64].fetch_or(bit, std::memory_order_relaxed) & bit) continue;
    ++added;
    if (!recorded(p)) count_.fetch_add(1, std::memory_order_relaxed);
  }
  seeded_count_ += added;
  return added;
}

void WorkingSet::record(uint64_t first, uint64_t n) {
  if (first >= pages_) return;
  const uint64_t end = first + std::min(n, pages_ - first);
  for (uint64_t p = first; p < end; ++p) {
    const uint64_t bit = uint64_t{1} << (p % 64);
    if (recorded_[p / 64].fetch_or(bit, std::memory_order_relaxed) & bit) continue;
    recorded_count_.fetch_add(1, std::memory_order_relaxed);
    if (!seeded(p)) count_.fetch_add(1, std::memory_order_relaxed);
  }
}

uint64_t WorkingSet::next(uint64_t from, bool with_recorded) const {
  if (from >= pages_) return pages_;
  uint64_t w = from / 64;
  // Bits below `from` in its word are masked off; later words are taken whole.
  uint64_t mask = ~uint64_t{0} << (from % 64);
  for (; w < words(); ++w, mask = ~uint64_t{0}) {
    uint64_t bits = seeded_[w].load(std::memory_order_relaxed);
    if (with_recorded) bits |= recorded_[w].load(std::memory_order_relaxed);
    bits &= mask;
    if (bits != 0) return std::min(pages_, w * 64 + static_cast<uint64_t>(std::countr_zero(bits)));
  }
  return pages_;
}

std::vector<uint32_t> WorkingSet::list() const {
  std::vector<uint32_t> out;
  out.reserve(count());
  for (uint64_t w = 0; w < words(); ++w) {
    uint64_t bits = seeded_[w].load(std::memory_order_relaxed) | recorded_[w].load(std::memory_order_relaxed);
    while (bits != 0) {
      const uint64_t p = w * 64 + static_cast<uint64_t>(std::countr_zero(bits));
      if (p < pages_) out.push_back(static_cast<uint32_t>(p));
      bits &= bits - 1;
    }
  }
  return out;
}

}  // namespace sf::memserver
