// Memtap: lazy clone memory (DESIGN §1 "memtap", notes §6.4). A clone's RAM is an anonymous private
// mapping registered with userfaultfd (MISSING mode); a fault-service thread fills a page on first touch
// from a PageSource (UFFDIO_COPY), or with zeroes (UFFDIO_ZEROPAGE) when the source says the page is all
// zero or the guest hinted it as fresh (SF_HC_FRESH_PAGES). Sources: the frozen snapshot memfd on this
// host (snapshot_fd_source.h) or a memserver over the network (memserver/remote_source.h).
// Boundary: owns the userfaultfd, the wake eventfd and the service thread, and shares ownership of its
// page source; it does not own the mapping (GuestMemory does) and knows nothing about KVM or sockets.
// The userfaultfd is opened without UFFD_USER_MODE_ONLY because KVM faults on guest RAM from inside
// the kernel (needs root or vm.unprivileged_userfaultfd=1).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "../base/status.h"
#include "../base/thread.h"
#include "../base/unique_fd.h"
#include "memtap_stats.h"
#include "page_source.h"
#include "presence_bitmap.h"
#include "snapshot_fd_source.h"

namespace sf::memory {

struct MemtapOptions {
  // Called when the source fails a fault (memserver gone, timeout) — on the service thread, or on an
  // asynchronous source's receive thread: the clone cannot continue, its owner should tear it down.
  // Must not block or call this memtap's shutdown().
  std::function<void(const Status&)> on_failure;
};

class Memtap final : private PageWaiter {
 public:
  // Registers [base, base + bytes) (page-aligned, anonymous private memory nobody has touched yet) and
  // starts the service thread, filling from the snapshot memfd `snapshot_fd` (dup()ed; it must hold at
  // least `bytes` bytes) through a SnapshotFdSource of its own.
  static Result<std::unique_ptr<Memtap>> create(uint8_t* base, uint64_t bytes, int snapshot_fd);
  // The same, filling from `source` (shared: e.g. one remote source and its host-local mirror for every
  // clone of a snapshot on this host). The source must cover at least `bytes`.
  static Result<std::unique_ptr<Memtap>> create(uint8_t* base, uint64_t bytes, std::shared_ptr<PageSource> source,
                                                MemtapOptions options = {});
  Memtap(const Memtap&) = delete;
  Memtap& operator=(const Memtap&) = delete;
  ~Memtap();  // shutdown()

  // Stops the service thread (interrupting a fetch in progress) and closes the userfaultfd. The kernel
  // then unregisters the range and wakes every faulting thread (a vCPU in KVM_RUN included); their
  // pages, and any later first touch, read as zero. Idempotent. Call it only when the guest is being
  // torn down.
  void shutdown();

  // Fills pages [first_page, first_page + npages) that are not present yet, before anyone asks
  // (clipped to the range); with a remote source the pages also land in the host's mirror. Thread-safe,
  // also against the service thread.
  Status prefetch(uint64_t first_page, uint64_t npages);
  // The guest will overwrite these pages without reading them (SF_HC_FRESH_PAGES): pages not yet
  // present are zero-filled now and never fetched. Pages already present keep their contents.
  // Thread-safe.
  Status hint_fresh(uint64_t first_page, uint64_t npages);

  MemtapStats stats() const;
  // The first failure of the source to deliver a faulted page (OK while there was none). A fault the
  // source failed stays pending — its thread waits until shutdown() (or a later prefetch of the page).
  Status failure() const;
  const PresenceBitmap& presence() const { return present_; }
  uint64_t pages() const { return pages_; }

  // Test hook: while stalled, the service thread leaves faults pending (a slow or stuck memory server).
  // shutdown() still returns promptly.
  void set_stall(bool stalled);

 private:
  enum class Served { ok, pending, parked, stop };
  Memtap(uint8_t* base, uint64_t bytes, UniqueFd uffd, UniqueFd wake, std::shared_ptr<PageSource> source,
         MemtapOptions options);
  void run();
  // Serves one fault read at `t0` (counts it, fills the page unless present, wakes the faulter), or
  // starts an asynchronous fetch that page_ready() completes.
  Served serve(uint64_t page, uint8_t* buf, uint64_t t0);
  // Maps one page this memtap claimed (present_ set): copies `src` or zero-fills if null; wakes its
  // faulters. 0, or the errno (EEXIST: someone mapped it first).
  int map_claimed(uint64_t page, const uint8_t* src);
  // Fills [first, first + n): copies from `src` (n contiguous pages) or zero-fills if src is null. Skips
  // pages that turn out to be present. Returns the number of pages this call filled, or -errno.
  int64_t fill(uint64_t first, uint64_t n, const uint8_t* src);
  // Fills the n pages a source delivered (out[i] as PageSource::get), one ioctl per contiguous run.
  int64_t fill_delivered(uint64_t first, uint64_t n, const uint8_t* const* out);
  // An asynchronous fetch completed (on the source's thread): map the page, which wakes its faulters.
  void page_ready(uint64_t page, const uint8_t* data, const Status& status) override;
  void record_latency(uint64_t ns);
  void record_failure(uint64_t page, const Status& st);

  uint8_t* const base_;
  const uint64_t bytes_;
  const uint64_t pages_;
  UniqueFd uffd_;
  UniqueFd wake_;  // eventfd: shutdown() wakes the poll
  const std::shared_ptr<PageSource> source_;
  const MemtapOptions options_;
  const bool async_;        // source_->is_async()
  PresenceBitmap present_;  // claimed by a filler (set before the page is mapped)
  PresenceBitmap fresh_;
  PresenceBitmap pending_;  // claimed and waiting for an asynchronous fetch

  MemtapCounters counters_;
  mutable std::mutex lat_mu_;
  std::vector<uint32_t> lat_ns_;                     // fault service times (capped sample count)
  std::unordered_map<uint64_t, uint64_t> fetch_t0_;  // page → when its fault was read (async fetches)
  mutable std::mutex failure_mu_;
  Status failure_;

  std::mutex stall_mu_;
  std::condition_variable stall_cv_;
  bool stalled_ = false;
  std::atomic<bool> stopping_{false};  // also the cancel flag of every source fetch
  Thread thread_;
  std::mutex shutdown_mu_;
  std::shared_mutex fd_mu_;  // fillers (shared) vs. closing the userfaultfd (exclusive)
};

}  // namespace sf::memory
