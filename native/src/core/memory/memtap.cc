// Memtap: the userfaultfd fault-service thread of a lazy clone (see memtap.h).
// Boundary: userfaultfd plumbing, page-source calls and fill accounting; the mapping belongs to
// GuestMemory, the network to memserver/.
#include "memtap.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../base/guest_abi.h"

namespace sf::memory {

namespace {

constexpr uint64_t kPage = SF_PAGE_SIZE;
constexpr uint64_t kPrefetchChunk = 256;         // pages per source call in prefetch (1 MiB)
constexpr size_t kMaxLatencySamples = 1u << 20;  // fault service samples kept for percentiles
constexpr size_t kMsgBatch = 64;                 // userfaultfd messages read at once

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<uint8_t, FreeDeleter>;
AlignedBuf aligned_buf(uint64_t bytes) { return AlignedBuf(static_cast<uint8_t*>(std::aligned_alloc(kPage, bytes))); }

}  // namespace

Result<std::unique_ptr<Memtap>> Memtap::create(uint8_t* base, uint64_t bytes, int snapshot_fd) {
  if (base == nullptr || bytes == 0 || bytes % kPage != 0 || reinterpret_cast<uintptr_t>(base) % kPage != 0) {
    return Status::Error(EINVAL, "memtap: range must be page-aligned and non-empty");
  }
  auto src = SnapshotFdSource::create(snapshot_fd, bytes);
  if (!src.ok()) return src.status();
  return create(base, bytes, std::move(src).value());
}

Result<std::unique_ptr<Memtap>> Memtap::create(uint8_t* base, uint64_t bytes, std::shared_ptr<PageSource> source,
                                               MemtapOptions options) {
  if (base == nullptr || bytes == 0 || bytes % kPage != 0 || reinterpret_cast<uintptr_t>(base) % kPage != 0) {
    return Status::Error(EINVAL, "memtap: range must be page-aligned and non-empty");
  }
  if (!source) return Status::Error(EINVAL, "memtap: no page source");
  if (source->bytes() < bytes) return Status::Error(EINVAL, "memtap: page source smaller than RAM");
  // Kernel-mode faults too (KVM's own accesses to guest RAM): no UFFD_USER_MODE_ONLY.
  UniqueFd uffd(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)));
  if (!uffd) {
    return Status::FromErrno("userfaultfd (lazy clone memory needs root or vm.unprivileged_userfaultfd=1)", errno);
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = 0;
  if (::ioctl(uffd.get(), UFFDIO_API, &api) != 0) return Status::FromErrno("UFFDIO_API", errno);
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uint64_t>(base);
  reg.range.len = bytes;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (::ioctl(uffd.get(), UFFDIO_REGISTER, &reg) != 0) return Status::FromErrno("UFFDIO_REGISTER(guest RAM)", errno);
  const uint64_t need =
      (uint64_t{1} << _UFFDIO_COPY) | (uint64_t{1} << _UFFDIO_ZEROPAGE) | (uint64_t{1} << _UFFDIO_WAKE);
  if ((reg.ioctls & need) != need)
    return Status::Error(ENOTSUP, "userfaultfd: COPY/ZEROPAGE/WAKE not offered on guest RAM");
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Status::FromErrno("eventfd(memtap)", errno);

  auto tap = std::unique_ptr<Memtap>(
      new Memtap(base, bytes, std::move(uffd), std::move(wake), std::move(source), std::move(options)));
  Status st =
      tap->thread_.start([t = tap.get()] { t->run(); }, "sf-memtap", Thread::Signals::none, nullptr, 128 * 1024);
  if (!st.ok()) return st;
  return tap;
}

Memtap::Memtap(uint8_t* base, uint64_t bytes, UniqueFd uffd, UniqueFd wake, std::shared_ptr<PageSource> source,
               MemtapOptions options)
    : base_(base),
      bytes_(bytes),
      pages_(bytes / kPage),
      uffd_(std::move(uffd)),
      wake_(std::move(wake)),
      source_(std::move(source)),
      options_(std::move(options)),
      async_(source_->is_async()),
      present_(bytes / kPage),
      fresh_(bytes / kPage),
      pending_(bytes / kPage) {}

Memtap::~Memtap() { shutdown(); }

void Memtap::shutdown() {
  std::lock_guard lock(shutdown_mu_);
  stopping_.store(true, std::memory_order_release);
  {
    std::lock_guard s(stall_mu_);
    stall_cv_.notify_all();
  }
  // A fetch blocked in the source (a slow memserver) rechecks `stopping_` now instead of at its timeout.
  source_->interrupt();
  if (wake_) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }
  thread_.join();
  // No page_ready() may run on (or after) a dead memtap: the source forgets us before we go.
  source_->forget(this);
  // Fillers (prefetch, hint_fresh, page_ready) hold fd_mu_ shared while they use the userfaultfd.
  std::unique_lock fd_lock(fd_mu_);
  // Closing the last reference releases the context: the kernel unregisters the range and wakes every
  // thread still waiting in a fault (their retry then sees ordinary anonymous memory).
  uffd_.reset();
  wake_.reset();
}

void Memtap::set_stall(bool stalled) {
  std::lock_guard s(stall_mu_);
  stalled_ = stalled;
  stall_cv_.notify_all();
}

void Memtap::run() {
  AlignedBuf buf = aligned_buf(kPage);
  if (!buf) return;
  uffd_msg msgs[kMsgBatch];
  for (;;) {
    pollfd fds[2] = {{uffd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    const int r = ::poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) break;
    if (stopping_.load(std::memory_order_acquire) || (fds[1].revents & POLLIN)) break;
    {
      std::unique_lock s(stall_mu_);
      stall_cv_.wait(s, [&] { return !stalled_ || stopping_.load(std::memory_order_acquire); });
    }
    if (stopping_.load(std::memory_order_acquire)) break;
    if (r <= 0) continue;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) break;
    const ssize_t n = ::read(uffd_.get(), msgs, sizeof msgs);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      break;
    }
    const uint64_t t0 = now_ns();
    const size_t count = static_cast<size_t>(n) / sizeof(uffd_msg);
    const uint64_t base = reinterpret_cast<uint64_t>(base_);
    for (size_t i = 0; i < count; ++i) {
      if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
      const uint64_t addr = msgs[i].arg.pagefault.address;
      if (addr < base || addr >= base + bytes_) continue;
      const Served s = serve((addr - base) / kPage, buf.get(), t0);
      if (s == Served::stop) return;
      if (s == Served::ok) record_latency(now_ns() - t0);
    }
  }
}

Memtap::Served Memtap::serve(uint64_t page, uint8_t* buf, uint64_t t0) {
  // Bookkeeping first: the faulting thread resumes inside the ioctl, and whoever it tells must already
  // see the page counted and present. Claiming the bit also keeps prefetch/hint_fresh off this page.
  counters_.faults.fetch_add(1, std::memory_order_relaxed);
  const uint64_t addr = reinterpret_cast<uint64_t>(base_) + page * kPage;
  if (present_.set(page)) {
    const uint8_t* src = nullptr;
    if (!fresh_.test(page)) {
      Status st;
      if (async_) {
        // page_ready() may run on the source's thread before fetch_async() even returns: everything it
        // relies on is in place first.
        pending_.set(page);
        {
          std::lock_guard lock(lat_mu_);
          fetch_t0_[page] = t0;
        }
        st = source_->fetch_async(page, &src, this);
        if (st.code == EINPROGRESS) return Served::pending;  // this thread serves other faults meanwhile
        {
          std::lock_guard lock(lat_mu_);
          fetch_t0_.erase(page);
        }
        pending_.clear(page);
      } else {
        st = source_->get(page, 1, buf, &src, stopping_);
      }
      if (!st.ok()) {
        // Not ours to fill after all: a later prefetch or fresh hint may still map it (and wake the
        // parked thread, since UFFDIO_COPY/ZEROPAGE wake the range).
        present_.clear(page);
        if (stopping_.load(std::memory_order_acquire)) return Served::stop;
        record_failure(page, st);
        return Served::parked;
      }
    }
    const int err = map_claimed(page, src);
    if (err == 0) return Served::ok;
    if (err != EEXIST) return Served::stop;
  }
  // A second thread faulting on a page whose fetch is under way: the fill's UFFDIO_COPY wakes every
  // thread waiting on the page, this one included. Waking it now would only make it fault again.
  if (pending_.test(page)) return Served::pending;
  // Someone else mapped it (prefetch, a fresh hint), possibly after this fault queued: make sure the
  // faulting thread is awake.
  uffdio_range range{addr, kPage};
  if (::ioctl(uffd_.get(), UFFDIO_WAKE, &range) != 0 && errno != EAGAIN) return Served::stop;
  return Served::ok;
}

int Memtap::map_claimed(uint64_t page, const uint8_t* src) {
  // Counted before the ioctl: the faulting thread resumes inside it, and whoever it tells must already
  // see the page counted.
  const uint64_t addr = reinterpret_cast<uint64_t>(base_) + page * kPage;
  const bool zero = src == nullptr;
  std::atomic<uint64_t>& counter = zero ? counters_.zero_pages : counters_.pages_copied;
  counter.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    int rc;
    if (zero) {
      uffdio_zeropage z{};
      z.range = {addr, kPage};
      rc = ::ioctl(uffd_.get(), UFFDIO_ZEROPAGE, &z);
    } else {
      uffdio_copy c{};
      c.dst = addr;
      c.src = reinterpret_cast<uint64_t>(src);
      c.len = kPage;
      rc = ::ioctl(uffd_.get(), UFFDIO_COPY, &c);
    }
    if (rc == 0) return 0;
    const int err = errno;
    if (err == EAGAIN || err == EINTR) continue;
    counter.fetch_sub(1, std::memory_order_relaxed);
    if (err == EEXIST) counters_.already_present.fetch_add(1, std::memory_order_relaxed);  // a filler mapped it first
    return err;
  }
}

void Memtap::page_ready(uint64_t page, const uint8_t* data, const Status& status) {
  uint64_t t0 = 0;
  {
    std::lock_guard lock(lat_mu_);
    if (auto it = fetch_t0_.find(page); it != fetch_t0_.end()) {
      t0 = it->second;
      fetch_t0_.erase(it);
    }
  }
  std::shared_lock fd_lock(fd_mu_);
  if (!uffd_ || !pending_.test(page)) return;  // shut down, or not a fetch of ours
  if (!status.ok()) {
    // The faulting threads stay parked (see failure()); the page may still be prefetched later.
    present_.clear(page);
    pending_.clear(page);
    record_failure(page, status);
    return;
  }
  // Maps the page and wakes every thread faulting on it; EEXIST cannot happen (we hold the claim), and
  // a failing userfaultfd leaves nothing else to do.
  (void)map_claimed(page, data);
  pending_.clear(page);
  if (t0 != 0) record_latency(now_ns() - t0);
}

void Memtap::record_failure(uint64_t page, const Status& st) {
  counters_.fetch_failures.fetch_add(1, std::memory_order_relaxed);
  Status report = Status::Error(st.code, "memtap: page " + std::to_string(page) + " unavailable: " + st.message);
  {
    std::lock_guard lock(failure_mu_);
    if (failure_.ok()) failure_ = report;
  }
  if (options_.on_failure) options_.on_failure(report);
}

Status Memtap::failure() const {
  std::lock_guard lock(failure_mu_);
  return failure_;
}

int64_t Memtap::fill(uint64_t first, uint64_t n, const uint8_t* src) {
  int64_t filled = 0;
  uint64_t off = first * kPage;
  uint64_t len = n * kPage;
  const uint64_t src_base = first * kPage;
  while (len > 0) {
    uint64_t done = 0;
    int rc;
    if (src != nullptr) {
      uffdio_copy c{};
      c.dst = reinterpret_cast<uint64_t>(base_) + off;
      c.src = reinterpret_cast<uint64_t>(src) + (off - src_base);
      c.len = len;
      c.mode = 0;
      rc = ::ioctl(uffd_.get(), UFFDIO_COPY, &c);
      done = rc == 0 ? len : (c.copy > 0 ? static_cast<uint64_t>(c.copy) : 0);
    } else {
      uffdio_zeropage z{};
      z.range.start = reinterpret_cast<uint64_t>(base_) + off;
      z.range.len = len;
      z.mode = 0;
      rc = ::ioctl(uffd_.get(), UFFDIO_ZEROPAGE, &z);
      done = rc == 0 ? len : (z.zeropage > 0 ? static_cast<uint64_t>(z.zeropage) : 0);
    }
    const int err = rc == 0 ? 0 : errno;
    for (uint64_t p = off / kPage; p < (off + done) / kPage; ++p) present_.set(p);
    (src != nullptr ? counters_.pages_copied : counters_.zero_pages).fetch_add(done / kPage, std::memory_order_relaxed);
    filled += static_cast<int64_t>(done / kPage);
    off += done;
    len -= done;
    if (rc == 0) break;
    if (err == EAGAIN || err == EINTR) continue;
    if (err == EEXIST) {  // already mapped by someone else: "already there"
      present_.set(off / kPage);
      counters_.already_present.fetch_add(1, std::memory_order_relaxed);
      off += kPage;
      len -= kPage;
      continue;
    }
    return -err;
  }
  return filled;
}

int64_t Memtap::fill_delivered(uint64_t first, uint64_t n, const uint8_t* const* out) {
  int64_t filled = 0;
  uint64_t i = 0;
  while (i < n) {
    // A run: all zero pages, or data pages adjacent in the source's memory (one UFFDIO_COPY).
    uint64_t j = i + 1;
    if (out[i] == nullptr) {
      while (j < n && out[j] == nullptr) ++j;
    } else {
      while (j < n && out[j] == out[j - 1] + kPage) ++j;
    }
    const int64_t got = fill(first + i, j - i, out[i]);
    if (got < 0) return got;
    filled += got;
    i = j;
  }
  return filled;
}

Status Memtap::prefetch(uint64_t first_page, uint64_t npages) {
  std::shared_lock fd_lock(fd_mu_);
  if (!uffd_) return Status::Error(EBADF, "memtap is shut down");
  if (first_page >= pages_) return Status::Ok();
  const uint64_t end = first_page + std::min(npages, pages_ - first_page);
  uint64_t p = first_page;
  while (p < end && (present_.test(p) || fresh_.test(p))) ++p;
  if (p == end) return Status::Ok();  // the common case for a clone's hot pages: nothing to allocate
  // Sized to the request: a clone's first-touched pages are prefetched one at a time, and a 1 MiB buffer each
  // time (an mmap and munmap in the allocator) cost more than the copies.
  const uint64_t chunk = std::min(kPrefetchChunk, end - p);
  AlignedBuf buf = aligned_buf(chunk * kPage);
  if (!buf) return Status::Error(ENOMEM, "memtap: prefetch buffer");
  std::vector<const uint8_t*> out(chunk);
  while (p < end) {
    // Runs of pages this clone lacks and needs from the source (fresh pages are zero-filled by hint).
    if (present_.test(p) || fresh_.test(p)) {
      ++p;
      continue;
    }
    uint64_t q = p + 1;
    while (q < end && q - p < chunk && !present_.test(q) && !fresh_.test(q)) ++q;
    Status st = source_->get(p, q - p, buf.get(), out.data(), stopping_);
    if (!st.ok()) return Status::Error(st.code, "memtap: prefetch: " + st.message);
    const int64_t got = fill_delivered(p, q - p, out.data());
    if (got < 0) return Status::FromErrno("memtap: prefetch fill", static_cast<int>(-got));
    counters_.prefetched.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
    p = q;
  }
  return Status::Ok();
}

Status Memtap::hint_fresh(uint64_t first_page, uint64_t npages) {
  std::shared_lock fd_lock(fd_mu_);
  if (!uffd_) return Status::Error(EBADF, "memtap is shut down");
  if (first_page >= pages_) return Status::Ok();
  const uint64_t end = first_page + std::min(npages, pages_ - first_page);
  counters_.fresh_hints.fetch_add(end - first_page, std::memory_order_relaxed);
  for (uint64_t p = first_page; p < end; ++p) fresh_.set(p);
  uint64_t p = first_page;
  while (p < end) {
    if (present_.test(p)) {
      ++p;
      continue;
    }
    uint64_t q = p + 1;
    while (q < end && !present_.test(q)) ++q;
    const int64_t got = fill(p, q - p, nullptr);
    if (got < 0) return Status::FromErrno("memtap: zero-fill fresh pages", static_cast<int>(-got));
    p = q;
  }
  return Status::Ok();
}

void Memtap::record_latency(uint64_t ns) {
  // Fixed bounds, so hosts' histograms add up; the percentiles below stay for the log and the dashboard.
  counters_.fault_ns_sum.fetch_add(ns, std::memory_order_relaxed);
  std::atomic<uint64_t>& bucket = ns <= 10'000        ? counters_.faults_within_10us
                                  : ns <= 25'000      ? counters_.faults_within_25us
                                  : ns <= 50'000      ? counters_.faults_within_50us
                                  : ns <= 100'000     ? counters_.faults_within_100us
                                  : ns <= 250'000     ? counters_.faults_within_250us
                                  : ns <= 500'000     ? counters_.faults_within_500us
                                  : ns <= 1'000'000   ? counters_.faults_within_1ms
                                  : ns <= 2'500'000   ? counters_.faults_within_2500us
                                  : ns <= 10'000'000  ? counters_.faults_within_10ms
                                  : ns <= 100'000'000 ? counters_.faults_within_100ms
                                                      : counters_.faults_over_100ms;
  bucket.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(lat_mu_);
  if (lat_ns_.size() < kMaxLatencySamples) lat_ns_.push_back(static_cast<uint32_t>(std::min<uint64_t>(ns, UINT32_MAX)));
}

MemtapStats Memtap::stats() const {
  MemtapStats s;
  add_counters(counters_, s);
  s.present = present_.count();
  std::vector<uint32_t> v;
  {
    std::lock_guard lock(lat_mu_);
    v = lat_ns_;
  }
  if (!v.empty()) {
    auto pct = [&](double q) {
      const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
      std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
      return static_cast<uint64_t>(v[k]);
    };
    s.p50_ns = pct(0.50);
    s.p99_ns = pct(0.99);
    s.max_ns = *std::max_element(v.begin(), v.end());
  }
  return s;
}

}  // namespace sf::memory
