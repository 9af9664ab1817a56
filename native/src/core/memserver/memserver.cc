// Memserver service loop (see memserver.h): receive a batch of requests, check each, decide per page
// (multicast, unicast, or already on its way: lockstep), queue, and send zero runs and data fragments
// in batches at the flow-control pace.
// Boundary: one UDP socket, one snapshot; nothing a datagram says is used before it is checked.
#include "memserver.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>

namespace sf::memserver {

namespace {

constexpr uint64_t kPage = kWirePage;
constexpr size_t kRecvBatch = 16;
constexpr size_t kRecvBytes = 512;  // requests are 48 bytes; anything longer is dropped as oversized
constexpr int kSocketBuffer = 4 << 20;
// Working-set streams: pages queued per turn (small, so a request arriving meanwhile waits little), and
// set pages looked at per pump at most (a stretch the client already has must not hold requests up).
constexpr uint32_t kStreamRunPages = 32;
constexpr uint64_t kStreamExaminePerPump = 4096;

bool all_zero(const uint8_t* p) {
  // Word-wise OR; most data pages differ from zero in their first cache line, so check that first.
  const auto* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t acc = 0;
  for (size_t i = 0; i < 8; ++i) acc |= w[i];
  if (acc != 0) return false;
  for (size_t i = 8; i < kPage / 8; ++i) acc |= w[i];
  return acc == 0;
}

}  // namespace

Result<std::unique_ptr<Memserver>> Memserver::create(const MemserverConfig& config) {
  if (config.ram_bytes == 0 || config.ram_bytes % kPage != 0)
    return Status::Error(EINVAL, "memserver: RAM size must be whole pages");
  if (config.disk && (config.disk->size() == 0 || config.disk->writable()))
    return Status::Error(EINVAL, "memserver: the disk must be a fork's frozen disk snapshot (read-only, not empty)");
  const bool multicast = config.mode == NetworkMode::multicast;
  uint32_t max_datagram = config.max_datagram;
  if (max_datagram == 0) {
    // Size datagrams from the interface replies leave by: whole pages on jumbo or loopback MTUs. (A
    // server bound to the wildcard has no interface of its own: the configured multicast one stands in.)
    const uint32_t via = multicast || config.bind.addr == 0 ? config.multicast_interface : config.bind.addr;
    auto mtu = interface_mtu(via);
    if (!mtu.ok())
      return Status::Error(mtu.status().code,
                           "memserver: max_datagram 0 needs the interface MTU: " + mtu.status().message);
    max_datagram = std::min<uint32_t>(datagram_for_mtu(mtu.value()), kFragmentOverhead + kWirePage);
  }
  if (fragment_payload(max_datagram) == 0 || max_datagram > kMaxDatagram) {
    return Status::Error(EINVAL, "memserver: max_datagram " + std::to_string(max_datagram) + " out of range");
  }
  if (config.max_request_pages == 0 || config.max_request_pages > kMaxRequestPages) {
    return Status::Error(EINVAL, "memserver: max_request_pages out of range");
  }
  if (config.max_backlog_pages < config.max_request_pages) {
    return Status::Error(EINVAL, "memserver: max_backlog_pages must hold at least one request");
  }
  if (!(config.endgame_share > 0.0) || std::isnan(config.endgame_share) || config.lockstep_window.count() < 0 ||
      config.lockstep_first_ask_window.count() < 0) {
    return Status::Error(EINVAL, "memserver: endgame_share must be > 0 and the lockstep windows ≥ 0");
  }
  auto source = memory::SnapshotFdSource::create(config.snapshot_fd, config.ram_bytes);
  if (!source.ok()) return source.status();
  Endpoint bound;
  auto sock = open_udp(config.bind, &bound, kSocketBuffer, kSocketBuffer);
  if (!sock.ok()) return sock.status();
  Endpoint group{};
  if (multicast) {
    group = Endpoint{config.group.addr, config.group.port != 0 ? config.group.port : bound.port};
    if (!is_multicast(group.addr)) {
      return Status::Error(EINVAL,
                           "memserver: multicast mode needs a 224.0.0.0/4 group, not " + config.group.to_string());
    }
    Status st = set_multicast_sender(sock.value().get(), config.multicast_interface, config.multicast_ttl);
    if (!st.ok()) return Status::Error(st.code, "memserver: " + st.message);
  }
  uint64_t data_pages = 0;
  for (uint64_t p = 0; p < config.ram_bytes / kPage; ++p) data_pages += source.value()->has_data(p) ? 1 : 0;
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Status::FromErrno("eventfd(memserver)", errno);
  auto server = std::unique_ptr<Memserver>(new Memserver(config, std::move(source).value(), std::move(sock).value(),
                                                         std::move(wake), bound, group, max_datagram, data_pages));
  if (!server->pagebuf_ || !server->arena_) return Status::Error(ENOMEM, "memserver: buffers");
  Status st = server->thread_.start([s = server.get()] { s->run(); }, "sf-memserver", Thread::Signals::none, nullptr,
                                    128 * 1024);
  if (!st.ok()) return st;
  return server;
}

Memserver::Memserver(const MemserverConfig& config, std::shared_ptr<memory::SnapshotFdSource> source, UniqueFd sock,
                     UniqueFd wake, Endpoint endpoint, Endpoint group, uint32_t max_datagram, uint64_t data_pages)
    : snapshot_id_(config.snapshot_id),
      key_(config.key),
      pages_(config.ram_bytes / kPage),
      payload_(fragment_payload(max_datagram)),
      max_request_pages_(config.max_request_pages),
      slot_bytes_(kFragmentOverhead + fragment_payload(max_datagram)),
      mode_(config.mode),
      group_(group),
      group_sa_(group.sockaddr()),
      endgame_share_(config.endgame_share),
      source_(std::move(source)),
      disk_(config.disk),
      disk_blocks_(config.disk ? (config.disk->size() + kPage - 1) / kPage : 0),
      sock_(std::move(sock)),
      wake_(std::move(wake)),
      endpoint_(endpoint),
      pagebuf_(new (std::nothrow) uint8_t[kPage]),
      arena_(new (std::nothrow) uint8_t[kSendBatch * (kFragmentOverhead + fragment_payload(max_datagram))]),
      backlog_(config.max_backlog_pages),
      // The send history (4 bytes and 2 bits a page) only matters to a multicast server.
      lockstep_(config.mode == NetworkMode::multicast ? config.ram_bytes / kPage : 0, data_pages,
                config.lockstep_window, config.lockstep_first_ask_window),
      disk_lockstep_(config.mode == NetworkMode::multicast ? disk_blocks_ : 0, disk_blocks_, config.lockstep_window,
                     config.lockstep_first_ask_window),
      flow_(config.flow),
      send_loss_(config.send_drop_for_test, config.snapshot_id ^ 0x6d63646973740000ull),
      working_set_(config.ram_bytes / kPage),
      streams_(config.ram_bytes / kPage, config.max_stream_clients, config.max_streams),
      reap_(config.reap),
      data_pages_(data_pages) {
  for (auto& d : dropped_) d.store(0, std::memory_order_relaxed);
  // Clones never ask for holes (their descriptor says which pages hold data): streaming them is waste.
  working_set_.seed(config.working_set_seed, [this](uint64_t p) { return source_->has_data(p); });
  counters_.pace.store(mode_ == NetworkMode::multicast ? flow_.pace() : 0, std::memory_order_relaxed);
}

Memserver::~Memserver() { stop(); }

void Memserver::stop() {
  std::lock_guard lock(stop_mu_);
  stopping_.store(true, std::memory_order_release);
  if (wake_) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }
  thread_.join();
  sock_.reset();
  wake_.reset();
}

MemserverStats Memserver::stats() const {
  MemserverStats s;
  add_counters(counters_, s);
  for (size_t i = 0; i < kWireErrorCount; ++i) {
    s.dropped[i] = dropped_[i].load(std::memory_order_relaxed);
    s.dropped_total += s.dropped[i];
  }
  s.endgame = endgame_flag_.load(std::memory_order_relaxed);
  s.disk_endgame = disk_endgame_flag_.load(std::memory_order_relaxed);
  s.data_pages = data_pages_;
  s.disk_blocks = disk_blocks_;
  s.working_set_pages = working_set_.count();
  s.working_set_seeded = working_set_.seeded_count();
  s.working_set_recorded = working_set_.recorded_count();
  return s;
}

void Memserver::publish_stats() {
  counters_.backlog_pages.store(backlog_.pages(), std::memory_order_relaxed);
  counters_.data_pages_multicast.store(lockstep_.data_pages_sent(), std::memory_order_relaxed);
  counters_.disk_blocks_multicast.store(disk_lockstep_.data_pages_sent(), std::memory_order_relaxed);
  endgame_flag_.store(endgame_[0], std::memory_order_relaxed);
  disk_endgame_flag_.store(endgame_[1], std::memory_order_relaxed);
  counters_.client_rate.store(flow_.average(), std::memory_order_relaxed);
  counters_.pace.store(mode_ == NetworkMode::multicast ? flow_.pace() : 0, std::memory_order_relaxed);
  counters_.streams_active.store(streams_.active(), std::memory_order_relaxed);
}

void Memserver::run() {
  std::unique_ptr<uint8_t[]> bufs(new (std::nothrow) uint8_t[kRecvBatch * kRecvBytes]);
  if (!bufs) return;
  mmsghdr msgs[kRecvBatch];
  iovec iov[kRecvBatch];
  sockaddr_in from[kRecvBatch];
  Clock::duration wait = Clock::duration::zero();
  for (;;) {
    // Idle: sleep until a request or stop(). Work queued (or a stream to continue): come back when the
    // pace allows more (or at once if the last pump only stopped because its batch was full).
    timespec ts{};
    timespec* timeout = nullptr;
    if (!backlog_.empty() || !streams_.empty()) {
      const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout = &ts;
    }
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    const int r = ::ppoll(fds, 2, timeout, nullptr);
    if (stopping_.load(std::memory_order_acquire)) return;
    if (r < 0) {
      // Cannot fail here short of a bug; a server that quietly stopped would look like a dead one.
      if (errno != EINTR) ::usleep(1000);
      continue;
    }
    if (r > 0 && !(fds[0].revents & POLLIN) && (fds[0].revents & (POLLERR | POLLNVAL))) {
      // A pending ICMP error on the socket (a client went away): reading it clears it.
      int err = 0;
      socklen_t len = sizeof err;
      (void)::getsockopt(sock_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (r > 0 && (fds[0].revents & POLLIN)) {
      std::memset(msgs, 0, sizeof msgs);
      for (size_t i = 0; i < kRecvBatch; ++i) {
        iov[i] = {bufs.get() + i * kRecvBytes, kRecvBytes};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      }
      // MSG_TRUNC: msg_len is the datagram's real length, so an oversized one is recognised, not cut.
      const int n = ::recvmmsg(sock_.get(), msgs, kRecvBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
      if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) ::usleep(1000);
      for (int i = 0; i < n; ++i) {
        const size_t len = msgs[i].msg_len;
        WireError err = WireError::ok;
        PageRequest req;
        if (len > kRecvBytes || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
          err = WireError::oversized;
        } else {
          err = decode_request({bufs.get() + static_cast<size_t>(i) * kRecvBytes, len}, snapshot_id_, key_, &req,
                               disk_blocks_);
        }
        if (err == WireError::ok && req.npages > max_request_pages_) err = WireError::malformed;
        if (err != WireError::ok) {
          dropped_[static_cast<size_t>(err)].fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        // (Disk ranges are checked by the decoder: one past the disk's end is malformed.)
        if (req.space == Space::memory && (req.first_page >= pages_ || req.npages > pages_ - req.first_page)) {
          counters_.out_of_range.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (stalled_.load(std::memory_order_acquire)) continue;
        if (msgs[i].msg_hdr.msg_namelen != sizeof(sockaddr_in) || from[i].sin_family != AF_INET) continue;
        admit(req, from[i]);
      }
    }
    wait = pump();
    publish_stats();
  }
}

void Memserver::admit(const PageRequest& req, const sockaddr_in& from) {
  if (!backlog_.fits(req.npages)) {
    counters_.backlog_full.fetch_add(1, std::memory_order_relaxed);  // the client's retry asks again later
    return;
  }
  (req.space == Space::disk ? counters_.disk_requests : counters_.requests).fetch_add(1, std::memory_order_relaxed);
  if (req.rate_kib != 0) {
    flow_.report(uint64_t{req.rate_kib} * 1024);
    counters_.rate_reports.fetch_add(1, std::memory_order_relaxed);
  }
  const Clock::time_point now = Clock::now();
  // Disk blocks are not memory's working set: neither recorded nor a reason to start a stream.
  if (req.space == Space::memory) note_request(req, from, now);
  const bool urgent = req.npages <= SendBacklog::kUrgentPages;
  const bool group = mode_ == NetworkMode::multicast && !req.unicast;
  LockstepTracker& history = lockstep(req.space);
  const bool endgame = endgame_[static_cast<size_t>(req.space)];
  SendJob run;
  run.space = req.space;
  run.to = from;
  run.client_id = req.client_id;
  run.seq = req.seq;
  auto close_run = [&] {
    if (run.n > 0) backlog_.push(run, urgent);
    run.n = 0;
  };
  uint64_t suppressed = 0, endgame_unicast = 0, duplicates = 0;
  for (uint64_t page = req.first_page; page < req.first_page + req.npages; ++page) {
    bool to_group = group;
    if (group) {
      if (endgame && history.ever_sent(page)) {
        // Everyone else had their chance at this page: a retransmission goes to the one who lost it.
        to_group = false;
      } else if (history.redundant(page, now, urgent, req.retry)) {
        ++suppressed;  // the group just got it or is about to: this requester gets that copy too
        close_run();
        continue;
      } else {
        history.set_queued(page, urgent);
      }
    }
    if (!to_group) {
      if (!backlog_.mark_unicast(req.space, page, from)) {
        ++duplicates;  // a retry that overtook its original: that copy is still on its way
        close_run();
        continue;
      }
      if (group) ++endgame_unicast;
    }
    if (run.n > 0 && (run.multicast != to_group || run.first + run.n != page)) close_run();
    if (run.n == 0) {
      run.first = page;
      run.multicast = to_group;
    }
    ++run.n;
  }
  close_run();
  if (suppressed > 0) counters_.lockstep_suppressed.fetch_add(suppressed, std::memory_order_relaxed);
  if (endgame_unicast > 0) counters_.endgame_unicast_pages.fetch_add(endgame_unicast, std::memory_order_relaxed);
  if (duplicates > 0) counters_.queued_duplicates.fetch_add(duplicates, std::memory_order_relaxed);
}

void Memserver::note_request(const PageRequest& req, const sockaddr_in& from, Clock::time_point now) {
  if (streams_.first_request(req.client_id)) {
    // A client new to this snapshot (a host whose clones just started) will probably touch what the
    // earlier ones touched: send it that in bulk rather than fault by fault.
    if (working_set_.seeded_count() > 0 || (reap_ && working_set_.recorded_count() > 0)) {
      const WorkingSetStreams::Target target{req.client_id, from, mode_ == NetworkMode::multicast && !req.unicast};
      (streams_.start(target, now) ? counters_.streams_started : counters_.streams_refused)
          .fetch_add(1, std::memory_order_relaxed);
    }
  }
  streams_.asked(req.client_id, req.first_page, req.npages);
  working_set_.record(req.first_page, req.npages);
}

bool Memserver::queue_stream(uint64_t* examined) {
  auto hole = [this](uint64_t p) { return !source_->has_data(p); };
  auto run = streams_.next(working_set_, reap_, kStreamRunPages, hole, kStreamExaminePerPump, examined);
  if (!run) return false;
  const bool group = mode_ == NetworkMode::multicast && run->target.multicast;
  SendJob job;
  job.to = run->target.to;
  job.client_id = run->target.client_id;
  job.streamed = true;
  auto close_job = [&] {
    if (job.n > 0) backlog_.push(job, /*urgent=*/false);
    job.n = 0;
  };
  uint64_t skipped = 0;
  // As for a bulk request (admit), plus: a group member gets every page the group gets from its first
  // request on, so pages sent since then are not sent again (which also keeps two newcomers' streams
  // from sending a page twice). Lockstep as for a first ask: a page the group got moments ago (or that
  // is queued) is not sent again — hosts that just got it are not flooded; a newcomer that was not yet
  // listening faults it on demand.
  const Clock::time_point now = Clock::now();
  for (uint64_t page = run->first; page < run->first + run->n; ++page) {
    bool to_group = group;
    if (group) {
      if (lockstep_.sent_since(page, run->started)) {
        ++skipped;
        close_job();
        continue;
      }
      if (endgame_[0] && lockstep_.ever_sent(page)) {
        to_group = false;  // the other hosts had it: only the newcomer needs it
      } else if (lockstep_.redundant(page, now, /*urgent=*/false, /*retry=*/false)) {
        ++skipped;
        close_job();
        continue;
      } else {
        lockstep_.set_queued(page, /*urgent=*/false);
      }
    }
    if (!to_group && !backlog_.mark_unicast(Space::memory, page, job.to)) {
      ++skipped;  // already queued for this client
      close_job();
      continue;
    }
    if (job.n > 0 && (job.multicast != to_group || job.first + job.n != page)) close_job();
    if (job.n == 0) {
      job.first = page;
      job.multicast = to_group;
    }
    ++job.n;
  }
  close_job();
  if (skipped > 0) counters_.stream_skipped.fetch_add(skipped, std::memory_order_relaxed);
  return true;
}

Memserver::Clock::duration Memserver::pump() {
  Clock::duration wait = Clock::duration::zero();
  size_t budget = kSendBatch;  // datagrams per pump, so requests are read (and coalesced) in between
  uint64_t examined = 0;       // working-set pages looked at this pump
  while (budget > 0 && !stopping_.load(std::memory_order_acquire)) {
    if (backlog_.empty()) {
      // Requests' replies are all out: continue a working-set stream, if any.
      if (examined >= kStreamExaminePerPump || !queue_stream(&examined)) break;
      continue;
    }
    // The reported rates describe the group's stream, which every receiver gets: pace that. (In
    // unicast mode each receiver gets only its own replies, and one receiver's rate says nothing
    // about the sum.) A fault's few datagrams are not held back; what they spend delays bulk work.
    if (mode_ == NetworkMode::multicast && !backlog_.front_is_urgent()) {
      if (const Clock::duration d = flow_.delay(Clock::now()); d > Clock::duration::zero()) {
        counters_.paced_waits.fetch_add(1, std::memory_order_relaxed);
        wait = d;
        break;
      }
    }
    SendJob& job = backlog_.front();
    const uint64_t page = job.first;
    const Space space = job.space;
    const bool disk = space == Space::disk;
    LockstepTracker& history = lockstep(space);
    // A page that is no longer queued went out with a fault's request that overtook this job.
    const bool lockstep = job.multicast && history.enabled();
    if (lockstep && !history.queued(page)) {
      counters_.lockstep_suppressed.fetch_add(1, std::memory_order_relaxed);
      backlog_.consume(1);
      continue;
    }
    const uint8_t* data = nullptr;
    if (!read_unit(space, page, &data)) {
      // A memfd (or disk file) read failed: nothing sensible to send; the client retries.
      if (job.multicast) {
        history.unqueue(page);
      } else {
        backlog_.unmark_unicast(space, page, job.to);
      }
      backlog_.consume(1);
      continue;
    }
    const bool streamed = job.streamed;
    uint64_t datagrams = 0;
    PageFragment f;
    f.snapshot_id = snapshot_id_;
    f.client_id = job.client_id;
    f.seq = job.seq;
    f.page = page;
    f.space = space;
    uint32_t done = 1;
    if (data == nullptr || all_zero(data)) {
      // Holes and pages that happen to be all zero cost one small datagram per run, not 4 KiB each.
      while (done < job.n && (!lockstep || history.queued(page + done))) {
        const uint8_t* next = nullptr;
        if (!read_unit(space, page + done, &next) || (next != nullptr && !all_zero(next))) break;
        ++done;
      }
      f.zero = true;
      f.count = done;
      queue(f, job);
      --budget;
      datagrams = 1;
      (disk ? counters_.disk_zero_blocks : counters_.zero_pages).fetch_add(done, std::memory_order_relaxed);
    } else {
      for (uint32_t off = 0; off < kPage; off += payload_) {
        f.zero = false;
        f.count = 1;
        f.offset = static_cast<uint16_t>(off);
        f.length = static_cast<uint16_t>(std::min<uint32_t>(payload_, kPage - off));
        f.payload = {data + off, f.length};
        queue(f, job);
        budget = budget > 0 ? budget - 1 : 0;
        ++datagrams;
      }
    }
    if (!job.multicast) {
      for (uint32_t i = 0; i < done; ++i) backlog_.unmark_unicast(space, page + i, job.to);
    } else {
      const Clock::time_point now = Clock::now();
      for (uint32_t i = 0; i < done; ++i) history.sent(page + i, now, disk || source_->has_data(page + i));
      bool& endgame = endgame_[static_cast<size_t>(space)];
      if (!endgame && history.data_pages() > 0 &&
          static_cast<double>(history.data_pages_sent()) >=
              endgame_share_ * static_cast<double>(history.data_pages())) {
        endgame = true;
      }
    }
    (disk ? counters_.disk_blocks_served : counters_.pages_served).fetch_add(done, std::memory_order_relaxed);
    if (streamed) {
      counters_.streamed_pages.fetch_add(done, std::memory_order_relaxed);
      counters_.streamed_datagrams.fetch_add(datagrams, std::memory_order_relaxed);
    }
    backlog_.consume(done);
  }
  flush();
  return wait;
}

bool Memserver::read_unit(Space space, uint64_t n, const uint8_t** data) {
  if (space == Space::memory) return source_->get(n, 1, pagebuf_.get(), data, stopping_).ok();
  // The disk's last block may be short (sizes are whole sectors): it travels zero-padded.
  const uint64_t offset = n * kPage;
  const uint64_t len = std::min<uint64_t>(kPage, disk_->size() - offset);
  if (len < kPage) std::memset(pagebuf_.get() + len, 0, kPage - len);
  if (!disk_->read(offset, {pagebuf_.get(), static_cast<size_t>(len)}).ok()) return false;
  *data = pagebuf_.get();
  return true;
}

void Memserver::queue(const PageFragment& frag, const SendJob& job) {
  if (send_loss_.drop()) {  // test-only: as if the network lost it on the way to everyone
    counters_.test_send_drops.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (queued_ == kSendBatch) flush();
  const size_t len = encode_fragment(frag, key_, {arena_.get() + queued_ * slot_bytes_, slot_bytes_});
  if (len == 0) return;  // cannot happen: the fields come from checked requests and the payload size
  lens_[queued_] = len;
  to_group_[queued_] = job.multicast;
  for_disk_[queued_] = frag.space == Space::disk;
  dests_[queued_] = job.multicast ? group_sa_ : job.to;
  ++queued_;
}

void Memserver::flush() {
  if (queued_ == 0) return;
  mmsghdr msgs[kSendBatch];
  iovec iov[kSendBatch];
  std::memset(msgs, 0, sizeof(mmsghdr) * queued_);
  for (size_t i = 0; i < queued_; ++i) {
    iov[i] = {arena_.get() + i * slot_bytes_, lens_[i]};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &dests_[i];
    msgs[i].msg_hdr.msg_namelen = sizeof dests_[i];
  }
  size_t sent = 0;
  int stalls = 0;
  uint64_t bytes = 0, group = 0, ok = 0, disk_bytes = 0;
  while (sent < queued_) {
    const int n = ::sendmmsg(sock_.get(), msgs + sent, static_cast<unsigned>(queued_ - sent), 0);
    if (n > 0) {
      for (size_t i = sent; i < sent + static_cast<size_t>(n); ++i) {
        bytes += lens_[i];
        group += to_group_[i] ? 1 : 0;
        disk_bytes += for_disk_[i] ? lens_[i] : 0;
      }
      ok += static_cast<uint64_t>(n);
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == ENOBUFS) && stalls++ < 10) {
      // The send queue is full: give the NIC a moment rather than dropping the rest of the batch.
      pollfd pfd{sock_.get(), POLLOUT, 0};
      (void)::poll(&pfd, 1, 10);
      continue;
    }
    // Unreachable requester (ICMP), or the queue stays full: the client's retry covers what is lost.
    // Skip the one datagram that failed and keep going: the rest may be for other destinations.
    counters_.send_errors.fetch_add(1, std::memory_order_relaxed);
    ++sent;
  }
  counters_.bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
  counters_.disk_bytes_sent.fetch_add(disk_bytes, std::memory_order_relaxed);
  counters_.datagrams_sent.fetch_add(ok, std::memory_order_relaxed);
  counters_.multicast_datagrams.fetch_add(group, std::memory_order_relaxed);
  counters_.unicast_datagrams.fetch_add(ok - group, std::memory_order_relaxed);
  flow_.spent(bytes, Clock::now());
  queued_ = 0;
}

}  // namespace sf::memserver
