// Mirror: the host-local copy of one snapshot (DESIGN §4.4 step 3): a memfd of RAM size that fills up
// with every valid page that reaches this host, plus atomic presence/zero bitmaps, shared by all clones
// of that snapshot on the host. A clone faulting a page the mirror holds is served from here without a
// request; a page fetched for one clone is thereby a prefetch for its siblings.
// Boundary: storage, presence and telling waiters (blocked threads, or memtaps via PageWaiter) that
// pages arrived; who fetches pages (remote_source.h) and how a clone maps them (memory/memtap.h) live elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>

#include "../base/mapping.h"
#include "../base/status.h"
#include "../base/unique_fd.h"
#include "../memory/page_source.h"
#include "../memory/presence_bitmap.h"

namespace sf::memserver {

struct MirrorStats {
  uint64_t pages = 0;       // pages held (data + zero)
  uint64_t zero_pages = 0;  // of which all-zero (left as holes in the memfd)
};

class Mirror {
 public:
  using Clock = std::chrono::steady_clock;

  static Result<std::shared_ptr<Mirror>> create(uint64_t snapshot_id, uint64_t bytes);
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  uint64_t snapshot_id() const { return snapshot_id_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t pages() const { return present_.size(); }
  // The memfd: data pages at their offsets, holes elsewhere (so it can seed a local snapshot later).
  int fd() const { return fd_.get(); }

  bool has(uint64_t page) const { return present_.test(page); }
  // Valid once has(page): true if the page is all zeroes (nothing stored).
  bool is_zero(uint64_t page) const { return zero_.test(page); }
  // Valid once has(page) and !is_zero(page): the page's bytes, for the mirror's lifetime.
  const uint8_t* data(uint64_t page) const { return map_.bytes() + page * kPage; }
  const memory::PresenceBitmap& presence() const { return present_; }

  // Stores one page (4 KiB at `bytes`) unless the mirror has it or another thread is storing it; true
  // if this call stored it. Installers publish() what they stored after a batch.
  bool install(uint64_t page, const uint8_t* bytes);
  // Records [first, first + n) as zero pages (clipped); returns how many were new.
  uint64_t install_zero(uint64_t first, uint64_t n);
  struct Range {
    uint64_t first, n;
  };
  // Tells waiters about pages just installed: wakes blocked wait()ers and calls page_ready for
  // asynchronous waiters of those pages (on the caller's thread).
  void publish(std::span<const Range> installed);

  // Blocks until every page of [first, first + n) is present (true), or `cancel` is set, or interrupt()
  // is called, or `deadline` passes (false).
  bool wait(uint64_t first, uint64_t n, Clock::time_point deadline, const std::atomic<bool>& cancel);
  void interrupt();

  // For a fetcher holding a complete page that the mirror lacks: hands `bytes` to the page's
  // asynchronous waiters right now, before install() copies it into the memfd — a faulting clone
  // resumes without waiting for that copy. Waiters registering afterwards get it through publish().
  void deliver_early(uint64_t page, const uint8_t* bytes);

  // Asynchronous waiting (memtaps whose source is_async): true if `page` is present (nothing
  // registered); else `waiter` gets one page_ready for it when it is published or failed.
  bool wait_async(uint64_t page, memory::PageWaiter* waiter);
  // A fetcher gave up on `page`: its asynchronous waiters get `status` (unless the page arrived).
  void fail(uint64_t page, const Status& status);
  // Removes every registration of `waiter`; when this returns no page_ready for it is running.
  void forget(memory::PageWaiter* waiter);
  // True if every page of [first, first + n) is present.
  bool has_all(uint64_t first, uint64_t n) const;

  MirrorStats stats() const;

 private:
  static constexpr uint64_t kPage = 4096;
  Mirror(uint64_t snapshot_id, uint64_t bytes, UniqueFd fd, Mapping map);

  const uint64_t snapshot_id_;
  const uint64_t bytes_;
  UniqueFd fd_;
  Mapping map_;                     // MAP_SHARED view of fd_: stores go through it, memtaps copy from it
  memory::PresenceBitmap claimed_;  // someone is storing (or has stored) the page
  memory::PresenceBitmap zero_;     // set before present_ for zero pages
  memory::PresenceBitmap present_;  // set after the bytes are in place (release), read with acquire
  std::mutex mu_;
  std::condition_variable cv_;
  // Asynchronous waiters. deliver_mu_ is held while page_ready calls run, so forget() can wait them out;
  // lock order: deliver_mu_, then waiters_mu_.
  std::mutex deliver_mu_;
  std::mutex waiters_mu_;
  std::unordered_multimap<uint64_t, memory::PageWaiter*> waiters_;
  std::atomic<uint64_t> nwaiters_{0};  // lets publish() skip the locks when nobody waits
};

}  // namespace sf::memserver
