// PageSource: the interface a memtap fetches a lazy clone's pages through, and PageWaiter, how an
// asynchronous source hands a page over later. Implementations: SnapshotFdSource (snapshot_fd_source.h)
// and memserver/remote_source.h. Boundary: interfaces only; no userfaultfd, no sockets.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "../base/status.h"

namespace sf::memory {

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

}  // namespace sf::memory
