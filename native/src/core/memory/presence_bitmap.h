// PresenceBitmap: one bit per guest page (DESIGN §1 "presence bitmap"), atomic test/set/clear from any
// thread, plus a running count of set bits. Used by memtap (which pages a lazy clone already holds) and
// for the guest's FRESH_PAGES hints (which pages need no copy from the snapshot).
// Boundary: bits only; no knowledge of guest memory or userfaultfd.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace sf::memory {

class PresenceBitmap {
 public:
  explicit PresenceBitmap(uint64_t pages) : pages_(pages), words_(new std::atomic<uint64_t>[(pages + 63) / 64]) {
    for (uint64_t i = 0; i < (pages + 63) / 64; ++i) words_[i].store(0, std::memory_order_relaxed);
  }
  PresenceBitmap(const PresenceBitmap&) = delete;
  PresenceBitmap& operator=(const PresenceBitmap&) = delete;

  uint64_t size() const { return pages_; }
  bool test(uint64_t page) const {
    if (page >= pages_) return false;
    return (words_[page / 64].load(std::memory_order_acquire) >> (page % 64)) & 1;
  }
  // Sets the bit; true if this call set it (it was clear before). Out of range: false.
  bool set(uint64_t page) {
    if (page >= pages_) return false;
    const uint64_t bit = uint64_t{1} << (page % 64);
    const bool was_clear = (words_[page / 64].fetch_or(bit, std::memory_order_acq_rel) & bit) == 0;
    if (was_clear) count_.fetch_add(1, std::memory_order_relaxed);
    return was_clear;
  }
  // Clears the bit; true if this call cleared it.
  bool clear(uint64_t page) {
    if (page >= pages_) return false;
    const uint64_t bit = uint64_t{1} << (page % 64);
    const bool was_set = (words_[page / 64].fetch_and(~bit, std::memory_order_acq_rel) & bit) != 0;
    if (was_set) count_.fetch_sub(1, std::memory_order_relaxed);
    return was_set;
  }
  // Sets [first, first + n) (clipped to the bitmap); returns how many bits this call set.
  uint64_t set_range(uint64_t first, uint64_t n) {
    uint64_t done = 0;
    for (uint64_t p = first; p < pages_ && p - first < n; ++p) done += set(p) ? 1 : 0;
    return done;
  }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  const uint64_t pages_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
  std::atomic<uint64_t> count_{0};
};

}  // namespace sf::memory
