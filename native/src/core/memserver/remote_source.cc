// RemotePageSource (see remote_source.h): blocking fetches ask and retry on the caller's thread; the
// receive thread checks and reassembles replies (from the client socket and the multicast group),
// stores them in the mirror, maps them into waiting clones, measures the receive rate, and drives the
// retries and deadlines of asynchronous fetches.
// Boundary: one client socket (and group socket) per source; the mirror may be shared by several
// sources and memtaps.
#include "remote_source.h"

#include <linux/sockios.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "multicast.h"

namespace sf::memserver {

namespace {

constexpr uint64_t kPage = kWirePage;
constexpr size_t kRecvBatch = 32;
// Room for the largest valid datagram (one whole page in one fragment) plus one byte, so that anything
// longer shows up as oversized (MSG_TRUNC) rather than being cut to a plausible length.
constexpr size_t kRecvBytes = kFragmentOverhead + kWirePage + 16;
constexpr size_t kMaxPartials = 4096;          // half-assembled pages kept at most (16 MiB)
constexpr int kSocketBuffer = 8 << 20;         // a window of replies arrives as one burst
constexpr uint64_t kDiskPartial = 1ull << 63;  // reassembly key bit of a disk block (numbers stay far below)

// A page being reassembled from fragments: which 8-byte units have arrived.
struct Partial {
  std::unique_ptr<uint8_t[]> bytes{new (std::nothrow) uint8_t[kPage]};
  std::bitset<kPage / kFragmentAlign> have;
};

// Room for the kernel's receive timestamp (SO_TIMESTAMPNS) of each datagram.
constexpr size_t kCmsgBytes = CMSG_SPACE(sizeof(timespec));

uint64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// When the datagram reached the socket (the receive rate must not include this thread's own delays).
uint64_t arrival_ns(const msghdr& h, uint64_t fallback) {
  if (h.msg_flags & MSG_CTRUNC) return fallback;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    }
  }
  return fallback;
}

}  // namespace

struct RemotePageSource::Reassembly {
  std::unique_ptr<uint8_t[]> bufs{new (std::nothrow) uint8_t[kRecvBatch * kRecvBytes]};
  std::unique_ptr<uint8_t[]> cmsgs{new (std::nothrow) uint8_t[kRecvBatch * kCmsgBytes]};
  std::unordered_map<uint64_t, Partial> partials;  // by page, disk blocks with kDiskPartial set
  std::vector<Mirror::Range> stored, stored_disk;
};

Result<std::shared_ptr<RemotePageSource>> RemotePageSource::create(const RemoteSourceConfig& config,
                                                                   std::shared_ptr<Mirror> mirror,
                                                                   std::shared_ptr<Mirror> disk_mirror) {
  if (!mirror) return Status::Error(EINVAL, "remote page source: no mirror");
  if (mirror->snapshot_id() != config.snapshot_id ||
      (disk_mirror && disk_mirror->snapshot_id() != config.snapshot_id)) {
    return Status::Error(EINVAL, "remote page source: mirror holds another snapshot");
  }
  if (config.max_request_pages == 0 || config.max_request_pages > kMaxRequestPages || config.window_pages == 0) {
    return Status::Error(EINVAL, "remote page source: request/window sizes out of range");
  }
  if (config.first_retry.count() <= 0 || config.timeout.count() <= 0 || config.hard_timeout.count() <= 0) {
    return Status::Error(EINVAL, "remote page source: retry and timeouts must be positive");
  }
  RemoteSourceConfig cfg = config;
  while (cfg.client_id == 0) {
    if (::getrandom(&cfg.client_id, sizeof cfg.client_id, 0) != sizeof cfg.client_id)
      cfg.client_id = static_cast<uint32_t>(::getpid());
  }
  if (cfg.max_retry < cfg.first_retry) cfg.max_retry = cfg.first_retry;
  if (cfg.hard_timeout < cfg.timeout) cfg.hard_timeout = cfg.timeout;
  if (!(cfg.drop_for_test >= 0.0 && cfg.drop_for_test <= 1.0)) {
    return Status::Error(EINVAL, "remote page source: drop_for_test must be in [0, 1]");
  }
  Endpoint local;
  auto sock = open_udp(cfg.bind, &local, kSocketBuffer, 1 << 20);
  if (!sock.ok()) return sock.status();
  Endpoint group{};
  UniqueFd group_sock;
  if (cfg.group.addr != 0) {
    group = Endpoint{cfg.group.addr, cfg.group.port != 0 ? cfg.group.port : cfg.server.port};
    auto g = open_group_receiver(group, cfg.multicast_interface, kSocketBuffer);
    if (!g.ok()) return Status::Error(g.status().code, "remote page source: " + g.status().message);
    group_sock = std::move(g).value();
  }
  // Kernel arrival times for the rate meter; without them it falls back to the time of reading.
  const int one = 1;
  (void)::setsockopt(sock.value().get(), SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  if (group_sock) (void)::setsockopt(group_sock.get(), SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Status::FromErrno("eventfd(remote page source)", errno);
  auto src = std::shared_ptr<RemotePageSource>(new RemotePageSource(cfg, std::move(mirror), std::move(disk_mirror),
                                                                    std::move(sock).value(), std::move(group_sock),
                                                                    std::move(wake), local, group));
  Status st = src->thread_.start([s = src.get()] { s->receive_loop(); }, "sf-memclient", Thread::Signals::none, nullptr,
                                 128 * 1024);
  if (!st.ok()) return st;
  return src;
}

RemotePageSource::RemotePageSource(const RemoteSourceConfig& config, std::shared_ptr<Mirror> mirror,
                                   std::shared_ptr<Mirror> disk_mirror, UniqueFd sock, UniqueFd group_sock,
                                   UniqueFd wake, Endpoint local, Endpoint group)
    : config_(config),
      server_(config.server.sockaddr()),
      mirror_(std::move(mirror)),
      disk_mirror_(std::move(disk_mirror)),
      disk_blocks_(disk_mirror_ ? disk_mirror_->pages() : 0),
      sock_(std::move(sock)),
      group_sock_(std::move(group_sock)),
      wake_(std::move(wake)),
      local_(local),
      group_(group),
      loss_(config.drop_for_test, (uint64_t{config.client_id} << 32) ^ config.snapshot_id ^ 0x6c6f7373ull) {
  for (auto& d : dropped_) d.store(0, std::memory_order_relaxed);
  last_heard_.store(Clock::now().time_since_epoch().count(), std::memory_order_release);
}

RemotePageSource::~RemotePageSource() {
  stopping_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

RemoteSourceStats RemotePageSource::stats() const {
  RemoteSourceStats s;
  add_counters(counters_, s);
  s.receive_rate = config_.report_rate_for_test != 0 ? config_.report_rate_for_test : meter_.rate();
  for (size_t i = 0; i < kWireErrorCount; ++i) {
    s.dropped[i] = dropped_[i].load(std::memory_order_relaxed);
    s.dropped_total += s.dropped[i];
  }
  return s;
}

void RemotePageSource::send_request(Space space, uint64_t first, uint32_t n, bool retry) {
  PageRequest req;
  req.space = space;
  req.snapshot_id = config_.snapshot_id;
  req.first_page = first;
  req.npages = n;
  req.client_id = config_.client_id;
  req.seq = seq_.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t forced = config_.report_rate_for_test;
  req.rate_kib =
      forced != 0 ? static_cast<uint32_t>(std::clamp<uint64_t>(forced / 1024, 1, UINT32_MAX)) : meter_.rate_kib();
  req.unicast = !group_sock_;  // not in the group: a multicast reply would never reach us
  req.retry = retry;
  uint8_t buf[kRequestBytes];
  const size_t len = encode_request(req, config_.key, buf);
  if (len == 0) return;
  for (;;) {
    const ssize_t r = ::sendto(sock_.get(), buf, len, 0, reinterpret_cast<const sockaddr*>(&server_), sizeof server_);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      counters_.send_errors.fetch_add(1, std::memory_order_relaxed);  // the retry timer covers it
      return;
    }
    break;
  }
  counters_.requests_sent.fetch_add(1, std::memory_order_relaxed);
  if (space == Space::disk) {
    counters_.disk_requests_sent.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.pages_requested.fetch_add(n, std::memory_order_relaxed);
  }
}

void RemotePageSource::request(uint64_t first, uint64_t n) { request_missing(Space::memory, first, n, false); }

void RemotePageSource::request_missing(Space space, uint64_t first, uint64_t n, bool retry) {
  const Mirror& mirror = mirror_for(space);
  const uint64_t pages = mirror.pages();
  if (first >= pages) return;
  const uint64_t end = first + std::min(n, pages - first);
  uint64_t p = first;
  while (p < end) {
    if (mirror.has(p)) {
      ++p;
      continue;
    }
    // A run of missing pages, at most one request's worth.
    uint64_t q = p + 1;
    while (q < end && q - p < config_.max_request_pages && !mirror.has(q)) ++q;
    send_request(space, p, static_cast<uint32_t>(q - p), retry);
    p = q;
  }
}

void RemotePageSource::request_disk(uint64_t first, uint64_t n) {
  if (!disk_mirror_ || first >= disk_blocks_) return;
  n = std::min(n, disk_blocks_ - first);
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(ahead_mu_);
    // Bounded: entries older than the retry interval say nothing any more.
    if (asked_ahead_.size() > 4096)
      std::erase_if(asked_ahead_, [&](const auto& e) { return now - e.second >= config_.first_retry; });
    for (uint64_t b = first; b < first + n; ++b)
      if (!disk_mirror_->has(b)) asked_ahead_[b] = now;
  }
  request_missing(Space::disk, first, n, false);
}

bool RemotePageSource::asked_ahead(uint64_t block, Clock::time_point now) {
  std::lock_guard lock(ahead_mu_);
  auto it = asked_ahead_.find(block);
  return it != asked_ahead_.end() && now - it->second < config_.first_retry;
}

Status RemotePageSource::fetch_disk(uint64_t first, uint64_t n, const std::atomic<bool>& cancel) {
  if (!disk_mirror_) return Status::Error(EINVAL, "remote page source: the snapshot has no disk");
  if (first >= disk_blocks_ || n > disk_blocks_ - first)
    return Status::Error(EINVAL, "remote page source: block range outside the disk");
  for (uint64_t w = first; w < first + n; w += config_.window_pages) {
    const uint64_t len = std::min<uint64_t>(config_.window_pages, first + n - w);
    if (disk_mirror_->has_all(w, len)) continue;
    Status st = fetch_window(Space::disk, w, len, cancel);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status RemotePageSource::get(uint64_t first, uint64_t n, uint8_t* scratch, const uint8_t** out,
                             const std::atomic<bool>& cancel) {
  (void)scratch;  // pages are handed out from the mirror itself
  const uint64_t pages = mirror_->pages();
  if (first >= pages || n > pages - first)
    return Status::Error(EINVAL, "remote page source: page range outside the snapshot");
  uint64_t missing = 0;
  for (uint64_t p = first; p < first + n; ++p) missing += mirror_->has(p) ? 0 : 1;
  counters_.mirror_hits.fetch_add(n - missing, std::memory_order_relaxed);
  if (missing > 0) {
    counters_.mirror_misses.fetch_add(missing, std::memory_order_relaxed);
    for (uint64_t w = first; w < first + n; w += config_.window_pages) {
      Status st = fetch_window(Space::memory, w, std::min<uint64_t>(config_.window_pages, first + n - w), cancel);
      if (!st.ok()) return st;
    }
  }
  for (uint64_t i = 0; i < n; ++i) out[i] = mirror_->is_zero(first + i) ? nullptr : mirror_->data(first + i);
  return Status::Ok();
}

Status RemotePageSource::fetch_async(uint64_t page, const uint8_t** out, memory::PageWaiter* waiter) {
  if (page >= mirror_->pages()) return Status::Error(EINVAL, "remote page source: page outside the snapshot");
  if (mirror_->has(page) || mirror_->wait_async(page, waiter)) {
    counters_.mirror_hits.fetch_add(1, std::memory_order_relaxed);
    *out = mirror_->is_zero(page) ? nullptr : mirror_->data(page);
    return Status::Ok();
  }
  counters_.mirror_misses.fetch_add(1, std::memory_order_relaxed);
  bool ask = false, kick = false;
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(asks_mu_);
    // One ask per page however many clones wait for it; the receive thread owns the retries.
    auto [it, inserted] = asks_.try_emplace(page);
    if (inserted) {
      it->second = Ask{now, now + config_.first_retry, now + config_.hard_timeout, config_.first_retry, 1};
      ask = true;
    }
    last_ask_ = now;
    // Under the lock: the receive thread decides to sleep without a tick under it too.
    kick = rx_idle_.load(std::memory_order_acquire);
  }
  if (ask) send_request(Space::memory, page, 1, false);
  if (kick) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }
  return Status::Error(EINPROGRESS, "page fetch in flight");
}

Status RemotePageSource::timeout_status(Space space, uint64_t page, uint64_t sends, bool silent) const {
  const std::string what = std::string(space == Space::disk ? "disk block " : "page ") + std::to_string(page) +
                           " of snapshot " + std::to_string(config_.snapshot_id);
  const std::string server = "memserver " + config_.server.to_string();
  if (silent) {
    return Status::Error(ETIMEDOUT, server + " has not answered for " + std::to_string(config_.timeout.count()) +
                                        " ms (gone or unreachable) while " + what + " was awaited (" +
                                        std::to_string(sends) + " requests)");
  }
  return Status::Error(ETIMEDOUT, server + " did not deliver " + what + " within " +
                                      std::to_string(config_.hard_timeout.count()) + " ms (" + std::to_string(sends) +
                                      " requests)");
}

int RemotePageSource::service_asks() {
  // How long the receive thread keeps ticking after the last ask: a burst of faults then needs no kicks.
  constexpr auto kLinger = std::chrono::seconds(1);
  std::vector<std::pair<uint64_t, uint32_t>> resend;
  std::vector<std::tuple<uint64_t, uint32_t, bool>> expired;
  const Clock::time_point now = Clock::now();
  const Clock::time_point heard = last_heard();
  Clock::time_point due = Clock::time_point::max();
  {
    std::lock_guard lock(asks_mu_);
    for (auto it = asks_.begin(); it != asks_.end();) {
      Ask& a = it->second;
      if (mirror_->has(it->first)) {
        it = asks_.erase(it);  // arrived (the mirror already told the waiters)
        continue;
      }
      // Silent since this page was asked for (or since the server last said anything, if later).
      const Clock::time_point silent_until = std::max(a.first, heard) + config_.timeout;
      if (now >= a.give_up || now >= silent_until) {
        expired.emplace_back(it->first, a.sends, now >= silent_until);
        it = asks_.erase(it);
        continue;
      }
      if (now >= a.next) {
        resend.emplace_back(it->first, a.sends);
        a.retry = std::min(a.retry * 2, config_.max_retry);
        a.next = std::min(now + a.retry, a.give_up);
        ++a.sends;
      }
      due = std::min({due, a.next, a.give_up, silent_until});
      ++it;
    }
    if (asks_.empty()) {
      if (now - last_ask_ >= kLinger) {
        rx_idle_.store(true, std::memory_order_release);
      } else {
        due = now + config_.first_retry;
      }
    }
  }
  for (auto& [page, sends] : resend) {
    // The reply may have landed since the sweep: a retry for a page we hold is wasted server work.
    if (!mirror_->has(page)) send_request(Space::memory, page, 1, true);
  }
  for (auto& [page, sends, silent] : expired) {
    counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    mirror_->fail(page, timeout_status(Space::memory, page, sends, silent));
  }
  if (due == Clock::time_point::max()) return -1;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count() + 1;
  return static_cast<int>(std::clamp<int64_t>(ms, 1, 60000));
}

Status RemotePageSource::fetch_window(Space space, uint64_t first, uint64_t n, const std::atomic<bool>& cancel) {
  Mirror& mirror = mirror_for(space);
  auto count_present = [&] {
    uint64_t c = 0;
    for (uint64_t p = first; p < first + n; ++p) c += mirror.has(p) ? 1 : 0;
    return c;
  };
  auto retry = config_.first_retry;
  uint64_t have = count_present();
  uint64_t asks = 0;
  Clock::time_point last_progress = Clock::now();
  bool ask = true, deferred = false;
  for (;;) {
    if (mirror.has_all(first, n)) return Status::Ok();
    if (cancel.load(std::memory_order_acquire)) return Status::Error(ECANCELED, "page fetch cancelled");
    const Clock::time_point now = Clock::now();
    const Clock::time_point silent_until = std::max(last_progress, last_heard()) + config_.timeout;
    const Clock::time_point give_up = std::min(silent_until, last_progress + config_.hard_timeout);
    if (now >= give_up) {
      (space == Space::disk ? counters_.disk_timeouts : counters_.timeouts).fetch_add(1, std::memory_order_relaxed);
      uint64_t p = first;
      while (p < first + n && mirror.has(p)) ++p;
      return timeout_status(space, p, asks, now >= silent_until);
    }
    if (ask && asks == 0 && space == Space::disk) {
      // The first ask leaves out blocks a readahead asked for moments ago (their replies are on the way);
      // if they do not come, the retry a moment later asks for everything still missing.
      uint64_t p = first;
      while (p < first + n) {
        if (mirror.has(p) || asked_ahead(p, now)) {
          ++p;
          continue;
        }
        uint64_t q = p + 1;
        while (q < first + n && q - p < config_.max_request_pages && !mirror.has(q) && !asked_ahead(q, now)) ++q;
        send_request(space, p, static_cast<uint32_t>(q - p), false);
        p = q;
      }
      ++asks;
    } else if (ask) {
      request_missing(space, first, n, asks > 0);  // only what is still missing
      ++asks;
    }
    mirror.wait(first, n, std::min(now + retry, give_up), cancel);
    const uint64_t now_have = count_present();
    if (now_have > have) {
      // Replies are still arriving for the earlier requests: re-asking now would only duplicate them.
      have = now_have;
      last_progress = Clock::now();
      ask = false;
    } else if (!deferred && replies_waiting()) {
      // Nothing new, but datagrams sit unread: the receive thread is behind (a busy host), and they
      // may be these very pages. Give it one more interval — only one, so a flood of junk keeping
      // the socket busy cannot stop the retries.
      deferred = true;
      ask = false;
    } else {
      // A whole interval brought nothing: ask again, and back off (a loaded or distant server).
      deferred = false;
      ask = true;
      retry = std::min(retry * 2, config_.max_retry);
    }
  }
}

bool RemotePageSource::replies_waiting() const {
  // SIOCINQ on UDP: the size of the next queued datagram, 0 if none.
  int bytes = 0;
  if (::ioctl(sock_.get(), SIOCINQ, &bytes) == 0 && bytes > 0) return true;
  return group_sock_ && ::ioctl(group_sock_.get(), SIOCINQ, &bytes) == 0 && bytes > 0;
}

void RemotePageSource::receive_loop() {
  Reassembly rx;
  if (!rx.bufs || !rx.cmsgs) return;
  int timeout_ms = -1;
  for (;;) {
    pollfd fds[3] = {{wake_.get(), POLLIN, 0}, {sock_.get(), POLLIN, 0}, {group_sock_.get(), POLLIN, 0}};
    const int r = ::poll(fds, group_sock_ ? 3 : 2, timeout_ms);
    if (stopping_.load(std::memory_order_acquire)) return;
    // This thread also fails overdue fetches, so it never gives up on its own: a fault must not wait
    // forever because a socket call failed. (poll cannot fail here short of a bug; don't spin if it does.)
    if (r < 0 && errno != EINTR) ::usleep(1000);
    rx_idle_.store(false, std::memory_order_release);
    if (r > 0 && (fds[0].revents & POLLIN)) {  // a kick: a new ask needs the retry tick
      uint64_t v;
      [[maybe_unused]] ssize_t n = ::read(wake_.get(), &v, sizeof v);
    }
    for (int i = 1; r > 0 && i < (group_sock_ ? 3 : 2); ++i) {
      if ((fds[i].revents & (POLLERR | POLLNVAL)) && !(fds[i].revents & POLLIN)) {
        int err = 0;
        socklen_t len = sizeof err;
        (void)::getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      if (!(fds[i].revents & POLLIN)) continue;
      rx.stored.clear();
      rx.stored_disk.clear();
      drain(fds[i].fd, i == 2, rx);
      // One publication per batch: blocked waiters rescan once; asynchronous waiters (faulting clones)
      // get their pages mapped right here, on this thread.
      mirror_->publish(rx.stored);
      if (disk_mirror_ && !rx.stored_disk.empty()) disk_mirror_->publish(rx.stored_disk);
    }
    timeout_ms = service_asks();
  }
}

void RemotePageSource::drain(int fd, bool from_group, Reassembly& rx) {
  mmsghdr msgs[kRecvBatch];
  iovec iov[kRecvBatch];
  std::memset(msgs, 0, sizeof msgs);
  for (size_t i = 0; i < kRecvBatch; ++i) {
    iov[i] = {rx.bufs.get() + i * kRecvBytes, kRecvBytes};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = rx.cmsgs.get() + i * kCmsgBytes;
    msgs[i].msg_hdr.msg_controllen = kCmsgBytes;
  }
  // MSG_TRUNC: msg_len is the datagram's real length, so an oversized one is recognised, not cut.
  const int n = ::recvmmsg(fd, msgs, kRecvBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
  if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) ::usleep(1000);
  const uint64_t pages = mirror_->pages();
  const uint64_t read_ns = n > 0 ? realtime_ns() : 0;
  for (int i = 0; i < n; ++i) {
    if (loss_.drop()) {  // test-only: as if the network had lost it
      counters_.test_drops.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const size_t len = msgs[i].msg_len;
    counters_.datagrams_received.fetch_add(1, std::memory_order_relaxed);
    counters_.bytes_received.fetch_add(len, std::memory_order_relaxed);
    if (from_group) {
      counters_.group_datagrams.fetch_add(1, std::memory_order_relaxed);
      counters_.group_bytes_received.fetch_add(len, std::memory_order_relaxed);
    }
    PageFragment f;
    WireError err;
    if (len > kRecvBytes || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
      err = WireError::oversized;
    } else {
      err = decode_fragment({rx.bufs.get() + static_cast<size_t>(i) * kRecvBytes, len}, config_.snapshot_id,
                            config_.key, &f, disk_blocks_);
    }
    if (err != WireError::ok) {
      dropped_[static_cast<size_t>(err)].fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    // Authentic: the server lives (even if this is a page nobody waits for any more).
    last_heard_.store(Clock::now().time_since_epoch().count(), std::memory_order_release);
    // Authentic, but does it fit this snapshot? (A different-size snapshot under the same id and
    // key would be a bug on the other side; never write past the mirror.)
    // (The decoder checked disk blocks against the disk's size.)
    const bool disk = f.space == Space::disk;
    if (!disk && (f.page >= pages || f.count > pages - f.page)) {
      counters_.out_of_range.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    meter_.add(arrival_ns(msgs[i].msg_hdr, read_ns), len);
    Mirror& mirror = mirror_for(f.space);
    std::vector<Mirror::Range>& stored = disk ? rx.stored_disk : rx.stored;
    auto& installed = disk ? counters_.disk_blocks_installed : counters_.pages_installed;
    const uint64_t partial_key = disk ? (f.page | kDiskPartial) : f.page;
    if (f.zero) {
      const uint64_t added = mirror.install_zero(f.page, f.count);
      (disk ? counters_.disk_blocks_installed : counters_.zero_pages_installed)
          .fetch_add(added, std::memory_order_relaxed);
      if (added < f.count) counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
      if (added > 0) stored.push_back({f.page, f.count});
      continue;
    }
    if (mirror.has(f.page)) {
      counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
      rx.partials.erase(partial_key);
      continue;
    }
    if (f.offset == 0 && f.length == kPage) {  // a whole page in one datagram: no reassembly
      mirror.deliver_early(f.page, f.payload.data());
      if (mirror.install(f.page, f.payload.data())) {
        installed.fetch_add(1, std::memory_order_relaxed);
        stored.push_back({f.page, 1});
      }
      continue;
    }
    auto it = rx.partials.find(partial_key);
    if (it == rx.partials.end()) {
      if (rx.partials.size() >= kMaxPartials) {
        // Bounded memory beats completeness: pages in flight this long are re-asked for anyway.
        counters_.reassembly_evictions.fetch_add(rx.partials.size(), std::memory_order_relaxed);
        rx.partials.clear();
      }
      it = rx.partials.try_emplace(partial_key).first;
      if (!it->second.bytes) {
        rx.partials.erase(it);
        continue;
      }
    }
    Partial& part = it->second;
    std::memcpy(part.bytes.get() + f.offset, f.payload.data(), f.length);
    for (uint32_t u = f.offset / kFragmentAlign; u < (uint32_t{f.offset} + f.length) / kFragmentAlign; ++u)
      part.have.set(u);
    if (part.have.all()) {
      mirror.deliver_early(f.page, part.bytes.get());
      if (mirror.install(f.page, part.bytes.get())) {
        installed.fetch_add(1, std::memory_order_relaxed);
        stored.push_back({f.page, 1});
      }
      rx.partials.erase(it);
    }
  }
}

}  // namespace sf::memserver
