// Memtap: lazy clone memory on one host (DESIGN §1 "memtap", notes §6.4). A clone's RAM is an
// anonymous private mapping registered with userfaultfd (MISSING mode); a fault-service thread fills a
// page on first touch from the frozen snapshot memfd (UFFDIO_COPY), or with zeroes (UFFDIO_ZEROPAGE)
// when the snapshot holds a hole there or the guest hinted the page as fresh (SF_HC_FRESH_PAGES).
// Boundary: owns the userfaultfd, the wake eventfd, a dup of the snapshot fd and the service thread;
// it does not own the mapping (GuestMemory does) and knows nothing about KVM. The userfaultfd is opened
// without UFFD_USER_MODE_ONLY because KVM faults on guest RAM from inside the kernel (needs root or
// vm.unprivileged_userfaultfd=1).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <atomic>
#include <thread>
#include <vector>

#include "../unique_fd.h"
#include "presence_bitmap.h"
#include "status.h"

namespace sf::vmm {

struct MemtapStats {
  uint64_t faults = 0;         // page faults served by the service thread
  uint64_t pages_copied = 0;   // pages filled from the snapshot (faults and prefetch)
  uint64_t zero_pages = 0;     // pages zero-filled (snapshot hole or FRESH_PAGES hint) without a copy
  uint64_t prefetched = 0;     // pages filled by prefetch() (also counted in pages_copied / zero_pages)
  uint64_t fresh_hints = 0;    // pages named by hint_fresh()
  uint64_t already_present = 0;  // fills that found the page there (EEXIST: raced with another filler)
  uint64_t present = 0;        // presence bits set
  uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0;  // fault service time: message read → page mapped
};

class Memtap {
 public:
  // Registers [base, base + bytes) (page-aligned, anonymous private memory nobody has touched yet) and
  // starts the service thread. `snapshot_fd` is dup()ed; it must hold at least `bytes` bytes.
  static Result<std::unique_ptr<Memtap>> create(uint8_t* base, uint64_t bytes, int snapshot_fd);
  Memtap(const Memtap&) = delete;
  Memtap& operator=(const Memtap&) = delete;
  ~Memtap();  // shutdown()

  // Stops the service thread and closes the userfaultfd. The kernel then unregisters the range and
  // wakes every faulting thread (a vCPU in KVM_RUN included); their pages, and any later first touch,
  // read as zero. Idempotent. Call it only when the guest is being torn down.
  void shutdown();

  // Fills pages [first_page, first_page + npages) that are not present yet, before anyone asks
  // (clipped to the range). Thread-safe, also against the service thread.
  Status prefetch(uint64_t first_page, uint64_t npages);
  // The guest will overwrite these pages without reading them (SF_HC_FRESH_PAGES): pages not yet
  // present are zero-filled now and never copied from the snapshot. Pages already present keep their
  // contents. Thread-safe.
  Status hint_fresh(uint64_t first_page, uint64_t npages);

  MemtapStats stats() const;
  const PresenceBitmap& presence() const { return present_; }
  uint64_t pages() const { return pages_; }

  // Test hook: while stalled, the service thread leaves faults pending (a slow or stuck memory server).
  // shutdown() still returns promptly.
  void set_stall(bool stalled);

 private:
  Memtap(uint8_t* base, uint64_t bytes, snowflock::UniqueFd uffd, snowflock::UniqueFd wake, snowflock::UniqueFd snap);
  void run();
  // Serves one fault (counts it, fills the page unless present, wakes the faulter); false if the
  // userfaultfd is unusable.
  bool serve(uint64_t page, uint8_t* buf);
  // Fills [first, first + n): copies from `src` (n pages) or zero-fills if src is null. Skips pages
  // that turn out to be present. Returns the number of pages this call filled, or -errno.
  int64_t fill(uint64_t first, uint64_t n, const uint8_t* src);
  bool snapshot_has_data(uint64_t page) const { return has_data_.empty() || has_data_[page]; }
  void record_latency(uint64_t ns);

  uint8_t* const base_;
  const uint64_t bytes_;
  const uint64_t pages_;
  snowflock::UniqueFd uffd_;
  snowflock::UniqueFd wake_;  // eventfd: shutdown() wakes the poll
  snowflock::UniqueFd snap_;
  std::vector<bool> has_data_;  // the snapshot's allocated pages (SEEK_DATA); others read as zero
  PresenceBitmap present_;
  PresenceBitmap fresh_;

  std::atomic<uint64_t> faults_{0}, copied_{0}, zeroed_{0}, prefetched_{0}, hints_{0}, eexist_{0};
  mutable std::mutex lat_mu_;
  std::vector<uint32_t> lat_ns_;  // fault service times (capped sample count)

  std::mutex stall_mu_;
  std::condition_variable stall_cv_;
  bool stalled_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex shutdown_mu_;
  std::shared_mutex fd_mu_;  // fillers (shared) vs. closing the userfaultfd (exclusive)
};

}  // namespace sf::vmm
