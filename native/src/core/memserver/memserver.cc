// Memserver service loop (see memserver.h): receive a batch of requests, check each, read the pages,
// send zero runs and data fragments back in batches.
// Boundary: one UDP socket, one snapshot; nothing a datagram says is used before it is checked.
#include "memserver.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sf::memserver {

namespace {

constexpr uint64_t kPage = kWirePage;
constexpr size_t kRecvBatch = 16;
constexpr size_t kRecvBytes = 512;   // requests are 48 bytes; anything longer is dropped as oversized
constexpr int kSocketBuffer = 4 << 20;

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

uint64_t MemserverStats::dropped_total() const {
  uint64_t n = 0;
  for (uint64_t d : dropped) n += d;
  return n;
}

vmm::Result<std::unique_ptr<Memserver>> Memserver::create(const MemserverConfig& config) {
  if (config.ram_bytes == 0 || config.ram_bytes % kPage != 0) return vmm::Status::Error(EINVAL, "memserver: RAM size must be whole pages");
  if (fragment_payload(config.max_datagram) == 0 || config.max_datagram > kMaxDatagram) {
    return vmm::Status::Error(EINVAL, "memserver: max_datagram " + std::to_string(config.max_datagram) + " out of range");
  }
  if (config.max_request_pages == 0 || config.max_request_pages > kMaxRequestPages) {
    return vmm::Status::Error(EINVAL, "memserver: max_request_pages out of range");
  }
  auto source = vmm::SnapshotFdSource::create(config.snapshot_fd, config.ram_bytes);
  if (!source.ok()) return source.status();
  Endpoint bound;
  auto sock = open_udp(config.bind, &bound, kSocketBuffer, kSocketBuffer);
  if (!sock.ok()) return sock.status();
  snowflock::UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return vmm::Status::FromErrno("eventfd(memserver)", errno);
  auto server = std::unique_ptr<Memserver>(
      new Memserver(config, std::move(source).value(), std::move(sock).value(), std::move(wake), bound));
  if (!server->pagebuf_ || !server->arena_) return vmm::Status::Error(ENOMEM, "memserver: buffers");
  vmm::Status st = server->thread_.start([s = server.get()] { s->run(); }, "sf-memserver", vmm::Thread::Signals::none,
                                         nullptr, 128 * 1024);
  if (!st.ok()) return st;
  return server;
}

Memserver::Memserver(const MemserverConfig& config, std::shared_ptr<vmm::SnapshotFdSource> source,
                     snowflock::UniqueFd sock, snowflock::UniqueFd wake, Endpoint endpoint)
    : snapshot_id_(config.snapshot_id),
      key_(config.key),
      pages_(config.ram_bytes / kPage),
      payload_(fragment_payload(config.max_datagram)),
      max_request_pages_(config.max_request_pages),
      slot_bytes_(kFragmentOverhead + fragment_payload(config.max_datagram)),
      source_(std::move(source)),
      sock_(std::move(sock)),
      wake_(std::move(wake)),
      endpoint_(endpoint),
      pagebuf_(new (std::nothrow) uint8_t[config.max_request_pages * kPage]),
      pageptr_(new (std::nothrow) const uint8_t*[config.max_request_pages]),
      arena_(new (std::nothrow) uint8_t[kSendBatch * (kFragmentOverhead + fragment_payload(config.max_datagram))]) {
  for (auto& d : dropped_) d.store(0, std::memory_order_relaxed);
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
  s.requests = requests_.load(std::memory_order_relaxed);
  s.pages_served = pages_served_.load(std::memory_order_relaxed);
  s.zero_pages = zero_pages_.load(std::memory_order_relaxed);
  s.datagrams_sent = datagrams_.load(std::memory_order_relaxed);
  s.bytes_sent = bytes_.load(std::memory_order_relaxed);
  s.send_errors = send_errors_.load(std::memory_order_relaxed);
  s.out_of_range = out_of_range_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kWireErrorCount; ++i) s.dropped[i] = dropped_[i].load(std::memory_order_relaxed);
  return s;
}

void Memserver::run() {
  std::unique_ptr<uint8_t[]> bufs(new (std::nothrow) uint8_t[kRecvBatch * kRecvBytes]);
  if (!bufs) return;
  mmsghdr msgs[kRecvBatch];
  iovec iov[kRecvBatch];
  sockaddr_in from[kRecvBatch];
  for (;;) {
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    const int r = ::poll(fds, 2, -1);
    if (stopping_.load(std::memory_order_acquire)) return;
    if (r < 0) {
      // Cannot fail here short of a bug; a server that quietly stopped would look like a dead one.
      if (errno != EINTR) ::usleep(1000);
      continue;
    }
    if (!(fds[0].revents & POLLIN)) {
      if (fds[0].revents & (POLLERR | POLLNVAL)) {
        // A pending ICMP error on the socket (a client went away): reading it clears it.
        int err = 0;
        socklen_t len = sizeof err;
        (void)::getsockopt(sock_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      }
      continue;
    }
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
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) ::usleep(1000);
      continue;
    }
    for (int i = 0; i < n; ++i) {
      const size_t len = msgs[i].msg_len;
      WireError err = WireError::ok;
      PageRequest req;
      if (len > kRecvBytes || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        err = WireError::oversized;
      } else {
        err = decode_request({bufs.get() + static_cast<size_t>(i) * kRecvBytes, len}, snapshot_id_, key_, &req);
      }
      if (err == WireError::ok && req.npages > max_request_pages_) err = WireError::malformed;
      if (err != WireError::ok) {
        dropped_[static_cast<size_t>(err)].fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (req.first_page >= pages_ || req.npages > pages_ - req.first_page) {
        out_of_range_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (stalled_.load(std::memory_order_acquire)) continue;
      if (msgs[i].msg_hdr.msg_namelen != sizeof(sockaddr_in) || from[i].sin_family != AF_INET) continue;
      answer(req, from[i]);
      if (stopping_.load(std::memory_order_acquire)) return;
    }
  }
}

void Memserver::answer(const PageRequest& req, const sockaddr_in& to) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  dest_ = to;
  queued_ = 0;
  const vmm::Status st = source_->get(req.first_page, req.npages, pagebuf_.get(), pageptr_.get(), stopping_);
  if (!st.ok()) return;  // a memfd read failed: nothing sensible to send; the client retries
  PageFragment f;
  f.snapshot_id = snapshot_id_;
  f.client_id = req.client_id;
  f.seq = req.seq;
  uint64_t zero_from = 0, zero_run = 0;
  auto emit_zero_run = [&] {
    if (zero_run == 0) return;
    PageFragment z = f;
    z.zero = true;
    z.page = zero_from;
    z.count = static_cast<uint32_t>(zero_run);
    z.offset = z.length = 0;
    z.payload = {};
    queue(z);
    zero_pages_.fetch_add(zero_run, std::memory_order_relaxed);
    zero_run = 0;
  };
  for (uint32_t i = 0; i < req.npages; ++i) {
    const uint64_t page = req.first_page + i;
    const uint8_t* data = pageptr_[i];
    // Holes and pages that happen to be all zero cost one small datagram per run, not 4 KiB each.
    if (data == nullptr || all_zero(data)) {
      if (zero_run == 0) zero_from = page;
      ++zero_run;
      continue;
    }
    emit_zero_run();
    for (uint32_t off = 0; off < kPage; off += payload_) {
      PageFragment d = f;
      d.zero = false;
      d.page = page;
      d.count = 1;
      d.offset = static_cast<uint16_t>(off);
      d.length = static_cast<uint16_t>(std::min<uint32_t>(payload_, kPage - off));
      d.payload = {data + off, d.length};
      queue(d);
    }
  }
  emit_zero_run();
  pages_served_.fetch_add(req.npages, std::memory_order_relaxed);
  flush();
}

void Memserver::queue(const PageFragment& frag) {
  if (queued_ == kSendBatch) flush();
  const size_t len = encode_fragment(frag, key_, {arena_.get() + queued_ * slot_bytes_, slot_bytes_});
  if (len == 0) return;  // cannot happen: the fields come from checked requests and the payload size
  lens_[queued_++] = len;
}

void Memserver::flush() {
  mmsghdr msgs[kSendBatch];
  iovec iov[kSendBatch];
  std::memset(msgs, 0, sizeof(mmsghdr) * queued_);
  for (size_t i = 0; i < queued_; ++i) {
    iov[i] = {arena_.get() + i * slot_bytes_, lens_[i]};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &dest_;
    msgs[i].msg_hdr.msg_namelen = sizeof dest_;
  }
  size_t sent = 0;
  int stalls = 0;
  while (sent < queued_) {
    const int n = ::sendmmsg(sock_.get(), msgs + sent, static_cast<unsigned>(queued_ - sent), 0);
    if (n > 0) {
      for (size_t i = sent; i < sent + static_cast<size_t>(n); ++i) bytes_.fetch_add(lens_[i], std::memory_order_relaxed);
      datagrams_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
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
    send_errors_.fetch_add(queued_ - sent, std::memory_order_relaxed);
    break;
  }
  queued_ = 0;
}

}  // namespace sf::memserver
