// Mirror storage (see mirror.h): a MAP_SHARED memfd view written once per page, and the waiters.
// Boundary: no I/O besides the memfd; thread-safe.
#include "mirror.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sf::memserver {

Result<std::shared_ptr<Mirror>> Mirror::create(uint64_t snapshot_id, uint64_t bytes) {
  if (bytes == 0 || bytes % kPage != 0) return Status::Error(EINVAL, "mirror: size must be whole pages");
  UniqueFd fd(::memfd_create("snowflock-mirror", MFD_CLOEXEC));
  if (!fd) return Status::FromErrno("memfd_create(mirror)", errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) return Status::FromErrno("ftruncate(mirror)", errno);
  // NORESERVE: the mirror only ever holds what was touched somewhere, not the whole snapshot.
  void* addr = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd.get(), 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap(mirror)", errno);
  Mapping map(addr, bytes);
  return std::shared_ptr<Mirror>(new Mirror(snapshot_id, bytes, std::move(fd), std::move(map)));
}

Mirror::Mirror(uint64_t snapshot_id, uint64_t bytes, UniqueFd fd, Mapping map)
    : snapshot_id_(snapshot_id),
      bytes_(bytes),
      fd_(std::move(fd)),
      map_(std::move(map)),
      claimed_(bytes / kPage),
      zero_(bytes / kPage),
      present_(bytes / kPage) {}

bool Mirror::install(uint64_t page, const uint8_t* bytes) {
  if (page >= pages() || present_.test(page)) return false;
  // One writer per page: a second copy of the same page (a retry's duplicate, another source) is
  // dropped rather than rewritten under a reader's feet.
  if (!claimed_.set(page)) return false;
  // Stored through this process's mapping so the page table is populated: a memtap's UFFDIO_COPY
  // from here then takes no fault of its own.
  std::memcpy(map_.bytes() + page * kPage, bytes, kPage);
  present_.set(page);
  return true;
}

uint64_t Mirror::install_zero(uint64_t first, uint64_t n) {
  uint64_t added = 0;
  for (uint64_t p = first; p < pages() && p - first < n; ++p) {
    if (!claimed_.set(p)) continue;
    zero_.set(p);
    present_.set(p);
    ++added;
  }
  return added;
}

void Mirror::interrupt() {
  // Taking the lock orders this wake-up after any waiter's predicate check: no lost wake-ups.
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

void Mirror::publish(std::span<const Range> installed) {
  if (installed.empty()) return;
  interrupt();
  // Pairs with the fence in wait_async(): the installer stored the presence bits and then reads the
  // waiter count; a registrant announced itself in the count and then reads the bits. With a full
  // fence on both sides at least one sees the other, so a page cannot be installed "between" a
  // registrant's check and its registration unnoticed (a lost wake-up: a fault parked forever).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (nwaiters_.load(std::memory_order_relaxed) == 0) return;
  std::vector<std::pair<uint64_t, memory::PageWaiter*>> ready;
  std::lock_guard deliver(deliver_mu_);
  {
    std::lock_guard lock(waiters_mu_);
    for (const Range& r : installed) {
      if (r.n <= 64) {
        for (uint64_t p = r.first; p < r.first + r.n; ++p) {
          auto [b, e] = waiters_.equal_range(p);
          for (auto it = b; it != e; ++it) ready.emplace_back(p, it->second);
          waiters_.erase(b, e);
        }
      } else {  // a long zero run: walk the (short) waiter list instead of the range
        for (auto it = waiters_.begin(); it != waiters_.end();) {
          if (it->first >= r.first && it->first - r.first < r.n) {
            ready.emplace_back(it->first, it->second);
            it = waiters_.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
    nwaiters_.store(waiters_.size(), std::memory_order_release);
  }
  for (auto& [page, w] : ready) w->page_ready(page, zero_.test(page) ? nullptr : data(page), Status::Ok());
}

void Mirror::deliver_early(uint64_t page, const uint8_t* bytes) {
  if (nwaiters_.load(std::memory_order_acquire) == 0) return;
  std::vector<memory::PageWaiter*> ready;
  std::lock_guard deliver(deliver_mu_);
  {
    std::lock_guard lock(waiters_mu_);
    auto [b, e] = waiters_.equal_range(page);
    for (auto it = b; it != e; ++it) ready.push_back(it->second);
    waiters_.erase(b, e);
    nwaiters_.store(waiters_.size(), std::memory_order_release);
  }
  for (memory::PageWaiter* w : ready) w->page_ready(page, bytes, Status::Ok());
}

bool Mirror::wait_async(uint64_t page, memory::PageWaiter* waiter) {
  if (page >= pages()) return false;
  std::lock_guard lock(waiters_mu_);
  // Announce the registration before checking the page (see publish()): either the installer sees a
  // waiter and delivers under this lock, after we registered, or this check sees its page.
  nwaiters_.store(waiters_.size() + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (present_.test(page)) {
    nwaiters_.store(waiters_.size(), std::memory_order_release);
    return true;
  }
  waiters_.emplace(page, waiter);
  return false;
}

void Mirror::fail(uint64_t page, const Status& status) {
  std::vector<memory::PageWaiter*> failed;
  std::lock_guard deliver(deliver_mu_);
  {
    std::lock_guard lock(waiters_mu_);
    auto [b, e] = waiters_.equal_range(page);
    for (auto it = b; it != e; ++it) failed.push_back(it->second);
    waiters_.erase(b, e);
    nwaiters_.store(waiters_.size(), std::memory_order_release);
  }
  // The page may have arrived (through another fetcher) since the caller gave up: then it is no failure.
  const bool arrived = present_.test(page);
  for (memory::PageWaiter* w : failed) {
    if (arrived) {
      w->page_ready(page, zero_.test(page) ? nullptr : data(page), Status::Ok());
    } else {
      w->page_ready(page, nullptr, status);
    }
  }
}

void Mirror::forget(memory::PageWaiter* waiter) {
  {
    std::lock_guard lock(waiters_mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();)
      it = it->second == waiter ? waiters_.erase(it) : std::next(it);
    nwaiters_.store(waiters_.size(), std::memory_order_release);
  }
  // A delivery that took this waiter's entry before we removed it finishes before we return.
  std::lock_guard deliver(deliver_mu_);
}

bool Mirror::has_all(uint64_t first, uint64_t n) const {
  if (first >= pages() || n > pages() - first) return false;
  for (uint64_t p = first; p < first + n; ++p) {
    if (!present_.test(p)) return false;
  }
  return true;
}

bool Mirror::wait(uint64_t first, uint64_t n, Clock::time_point deadline, const std::atomic<bool>& cancel) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (has_all(first, n)) return true;
    if (cancel.load(std::memory_order_acquire)) return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return has_all(first, n);
    // Woken by a batch of installs or an interrupt: recheck both.
  }
}

MirrorStats Mirror::stats() const { return MirrorStats{present_.count(), zero_.count()}; }

}  // namespace sf::memserver
