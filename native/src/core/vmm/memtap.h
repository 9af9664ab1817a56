// Memtap: lazy clone memory (DESIGN §1 "memtap", notes §6.4). A clone's RAM is an anonymous private
// mapping registered with userfaultfd (MISSING mode); a fault-service thread fills a page on first touch
// from a PageSource (UFFDIO_COPY), or with zeroes (UFFDIO_ZEROPAGE) when the source says the page is all
// zero or the guest hinted it as fresh (SF_HC_FRESH_PAGES). Sources: the frozen snapshot memfd on this
// host (SnapshotFdSource, below) or a memserver over the network (memserver/remote_source.h).
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

#include "../unique_fd.h"
#include "mapping.h"
#include "presence_bitmap.h"
#include "status.h"
#include "thread.h"

namespace sf::vmm {

// Receives pages that a source delivers later (asynchronous fetches). Called from the source's own
// thread; must not block for long.
class PageWaiter {
 public:
  // `data`: the page's 4 KiB, valid for the source's lifetime, or null for an all-zero page; or a failed
  // `status` (the source gave up on the page: timeout, server gone).
  virtual void page_ready(uint64_t page, const uint8_t* data, const Status& status) = 0;

 protected:
  ~PageWaiter() = default;
};

// Where a memtap's pages come from. Shared (shared_ptr) by every memtap of the same snapshot on a host,
// so implementations are thread-safe.
class PageSource {
 public:
  virtual ~PageSource() = default;
  // Size of the snapshot in bytes (a multiple of the page size).
  virtual uint64_t bytes() const = 0;
  // Delivers pages [first, first + n): on success out[i] points at page first + i's 4 KiB, or is null
  // when that page is all zeroes (mapped with UFFDIO_ZEROPAGE, never copied). `scratch` (n pages) is the
  // caller's buffer the source may read into; pointers into it are valid until the caller reuses it,
  // pointers elsewhere (a mapping, a mirror) for the source's lifetime. Blocks until every page is
  // there, `cancel` turns true (ECANCELED) or the source gives up (ETIMEDOUT, EIO, ...: the Status says
  // why).
  virtual Status get(uint64_t first, uint64_t n, uint8_t* scratch, const uint8_t** out,
                     const std::atomic<bool>& cancel) = 0;

  // Sources that wait on a network also fetch single pages without blocking the caller, so one slow
  // page does not hold up faults on others and the thread that receives a page can map it directly.
  virtual bool is_async() const { return false; }
  // Returns OK with *out set (as get()) when the page is available now; EINPROGRESS after arranging one
  // later call of waiter->page_ready(page, ...) from another thread; another error when it cannot even
  // ask. Only for is_async() sources.
  virtual Status fetch_async(uint64_t page, const uint8_t** out, PageWaiter* waiter) {
    (void)page, (void)out, (void)waiter;
    return Status::Error(ENOTSUP, "page source is synchronous");
  }
  // Drops every pending fetch of `waiter`; once this returns, page_ready is not running for it and
  // will not be called again.
  virtual void forget(PageWaiter* waiter) { (void)waiter; }
  // Wakes every get() blocked in this source so it rechecks its cancel flag (Memtap::shutdown).
  virtual void interrupt() {}
};

// The local source: a frozen snapshot memfd on this host. Holes (SEEK_DATA, found once at creation)
// are reported as zero pages; data pages are handed out straight from a read-only shared mapping of
// the memfd (UFFDIO_COPY then copies once, instead of pread into a buffer and copy again), or pread()
// into the caller's scratch if the fd cannot be mapped.
class SnapshotFdSource final : public PageSource {
 public:
  // `snapshot_fd` is dup()ed; it must hold at least `bytes` bytes.
  static Result<std::shared_ptr<SnapshotFdSource>> create(int snapshot_fd, uint64_t bytes);
  uint64_t bytes() const override { return bytes_; }
  Status get(uint64_t first, uint64_t n, uint8_t* scratch, const uint8_t** out,
             const std::atomic<bool>& cancel) override;
  // False for a page the snapshot holds as a hole (reads as zero).
  bool has_data(uint64_t page) const { return has_data_.empty() || (page < has_data_.size() && has_data_[page]); }

 private:
  SnapshotFdSource(snowflock::UniqueFd fd, uint64_t bytes) : fd_(std::move(fd)), bytes_(bytes) {}
  snowflock::UniqueFd fd_;
  const uint64_t bytes_;
  Mapping map_;  // PROT_READ, MAP_SHARED view of fd_ (empty if mmap failed); holes are never read through it
  std::vector<bool> has_data_;  // empty: extents unknown, treat every page as data (always correct)
};

struct MemtapStats {
  uint64_t faults = 0;         // page faults served by the service thread
  uint64_t pages_copied = 0;   // pages filled from the source (faults and prefetch)
  uint64_t zero_pages = 0;     // pages zero-filled (source zero page or FRESH_PAGES hint) without a copy
  uint64_t prefetched = 0;     // pages filled by prefetch() (also counted in pages_copied / zero_pages)
  uint64_t fresh_hints = 0;    // pages named by hint_fresh()
  uint64_t already_present = 0;  // fills that found the page there (EEXIST: raced with another filler)
  uint64_t present = 0;        // presence bits set (pages mapped, or claimed and being fetched)
  uint64_t fetch_failures = 0;   // faults the source could not answer (the faulting thread stays parked)
  uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0;  // fault service time: message read → page mapped
};

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
  Memtap(uint8_t* base, uint64_t bytes, snowflock::UniqueFd uffd, snowflock::UniqueFd wake,
         std::shared_ptr<PageSource> source, MemtapOptions options);
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
  snowflock::UniqueFd uffd_;
  snowflock::UniqueFd wake_;  // eventfd: shutdown() wakes the poll
  const std::shared_ptr<PageSource> source_;
  const MemtapOptions options_;
  const bool async_;         // source_->is_async()
  PresenceBitmap present_;   // claimed by a filler (set before the page is mapped)
  PresenceBitmap fresh_;
  PresenceBitmap pending_;   // claimed and waiting for an asynchronous fetch

  std::atomic<uint64_t> faults_{0}, copied_{0}, zeroed_{0}, prefetched_{0}, hints_{0}, eexist_{0}, failures_{0};
  mutable std::mutex lat_mu_;
  std::vector<uint32_t> lat_ns_;  // fault service times (capped sample count)
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

}  // namespace sf::vmm
