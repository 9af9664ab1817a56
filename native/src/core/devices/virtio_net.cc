// VirtioNet: the NIC thread's loop (tx chains to the backend or the DHCP responder, frames from the
// backend and DHCP answers into rx chains), the configuration space and the thread's lifecycle.
// Boundary: see virtio_net.h. Every chain comes through Virtqueue::pop, which validated it; a bad one
// fails alone. Work per wake-up is bounded, so a flooding guest or a busy tap cannot starve the other.
#include "virtio_net.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "dhcp_responder.h"

namespace sf::devices {

namespace {

constexpr size_t kMaxAnswers = 16;    // DHCP replies waiting for rx buffers; more are dropped (clients retry)
constexpr size_t kReadBytes = 65536;  // a tap read takes one whole frame; longer than MTU ones are dropped

timespec to_timespec(std::chrono::microseconds d) {
  return timespec{static_cast<time_t>(d.count() / 1000000), static_cast<long>(d.count() % 1000000) * 1000};
}

}  // namespace

Result<std::unique_ptr<VirtioNet>> VirtioNet::create(const NetConfig& config, std::unique_ptr<NetBackend> backend) {
  if (Status s = check_net_config(config); !s.ok()) return s;
  if (!backend) return Status::Error(EINVAL, "virtio-net: no backend");
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) return Status::FromErrno("eventfd (virtio-net)", errno);
  return std::unique_ptr<VirtioNet>(new VirtioNet(config, std::move(backend), std::move(wake)));
}

VirtioNet::VirtioNet(const NetConfig& config, std::unique_ptr<NetBackend> backend, UniqueFd wake)
    : config_(config), backend_(std::move(backend)), wake_(std::move(wake)) {
  buf_.resize(kReadBytes);
}

VirtioNet::~VirtioNet() { reset(); }

void VirtioNet::read_config(uint32_t offset, std::span<uint8_t> out) const {
  uint8_t space[8];
  std::memcpy(space, config_.mac.data(), 6);
  space[6] = kNetStatusLinkUp;  // status, little-endian u16
  space[7] = 0;
  std::memcpy(out.data(), space + offset, out.size());
}

Status VirtioNet::restore_state(std::span<const uint8_t> state) {
  if (!state.empty()) return Status::Error(EINVAL, "virtio-net keeps no device state, but the descriptor carries some");
  restored_ = true;
  return Status::Ok();
}

void VirtioNet::activate(VirtioDeviceHost& host) {
  host_ = &host;
  if (restored_) {
    // A clone: same driver state, new MAC, new network position. Tell the guest before its NIC moves.
    restored_ = false;
    host.config_changed();
  }
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  if (Status s = thread_.start([this] { run(); }, "sf-nic", Thread::Signals::none); !s.ok()) {
    host_ = nullptr;
    host.needs_reset();
  }
}

void VirtioNet::queue_notify(uint16_t index) {
  // Usually on a vCPU thread: the NIC thread does the work. rx notifies also wake it (new buffers).
  (void)index;
  wake();
}

void VirtioNet::wake() {
  const uint64_t one = 1;
  // EAGAIN only when the counter is about to overflow: the thread is awake anyway.
  (void)!::write(wake_.get(), &one, sizeof one);
}

void VirtioNet::reset() {
  if (thread_.started()) {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    wake();
    thread_.join();
  }
  host_ = nullptr;
  restored_ = false;
  answers_.clear();
  frame_.clear();
  std::lock_guard lock(mu_);
  stop_ = false;
  quiescing_ = parked_ = false;
}

bool VirtioNet::quiesce(std::chrono::milliseconds limit) {
  if (!thread_.started()) return true;
  std::unique_lock lock(mu_);
  quiescing_ = true;
  lock.unlock();
  wake();
  lock.lock();
  return cv_.wait_for(lock, limit, [&] { return parked_ || stop_; });
}

void VirtioNet::resume() {
  {
    std::lock_guard lock(mu_);
    quiescing_ = false;
  }
  cv_.notify_all();
}

NetStats VirtioNet::stats() const {
  NetStats s;
  add_counters(counters_, s);
  return s;
}

// ---- the NIC thread ----

void VirtioNet::set_notify(uint16_t index, bool wanted) {
  if (host_ == nullptr) return;
  Virtqueue& q = host_->queue(index);
  if (q.ready() && !q.broken()) q.set_notify(wanted);
}

void VirtioNet::run() {
  // Notifies the thread needs: rx ones only when it runs out of buffers (while it has some it watches the
  // tap, and re-posted buffers are found when a frame comes), tx ones except while it spins after activity.
  // The flags live in guest RAM, so a clone or a restarted thread sets them afresh.
  set_notify(kNetRxQueue, false);
  set_notify(kNetTxQueue, true);
  bool backend_ok = true, spinning = false, slept = false;
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now(), slept_at = Clock::now();
  // Adaptive, like KVM's halt polling: spinning pays only when the next frame follows within the window
  // (a stream); when the other side takes longer (a ping-pong through a guest that must be scheduled first),
  // a spinning thread only takes the core that guest needs. The window grows when a sleep ended early, and
  // shrinks when a spin found nothing.
  std::chrono::nanoseconds spin{0};
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stop_) return;
      if (quiescing_) {
        // Between iterations no chain is held: every chain popped is returned before serve_* ends. A fork
        // must not capture "no notifies" for a thread that is not running.
        set_notify(kNetTxQueue, true);
        spinning = false;
        parked_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return stop_ || !quiescing_; });
        parked_ = false;
        continue;
      }
    }
    uint64_t drained;
    // Notifies that came while the thread was awake (spinning, or before its first look) count as a
    // wake-up too: the thread answered them without sleeping.
    if (::read(wake_.get(), &drained, sizeof drained) == sizeof drained && !slept) {
      counters_.wakeups.fetch_add(1, std::memory_order_relaxed);
    }
    const bool woke = slept;  // this look follows a sleep
    slept = false;

    bool did = serve_tx();
    if (backend_ok || !answers_.empty()) did |= serve_rx();
    const auto now = Clock::now();
    if (did) {
      if (woke && now - slept_at < kBusyPoll) {
        spin = std::min<std::chrono::nanoseconds>(
            kBusyPoll, std::max<std::chrono::nanoseconds>(spin * 2, std::chrono::microseconds(10)));
      }
      last_work = now;
      continue;
    }
    if (now - last_work < spin) {
      // Right after traffic the next frame usually follows within microseconds: look again without
      // sleeping, and let the guest skip its tx notifies (exits) meanwhile.
      if (!spinning) set_notify(kNetTxQueue, false);
      spinning = true;
      counters_.spins.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (spinning) {
      spinning = false;
      spin /= 2;
      set_notify(kNetTxQueue, true);  // then one more look: a frame published while notifies were off
      continue;
    }

    bool posted = rx_buffers_posted();
    if (!posted) {
      // Out of rx buffers: ask for the notify that brings new ones, then look once more (they may have
      // come before the driver could see the flag).
      set_notify(kNetRxQueue, true);
      posted = rx_buffers_posted();
    }
    pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {backend_->fd(), POLLIN, 0}};
    // Frames stay in the tap's kernel queue while the guest has nowhere to put them.
    const nfds_t n = posted && backend_ok ? 2 : 1;
    const timespec timeout = to_timespec(kIdlePoll);
    slept_at = Clock::now();
    const int rc = ::ppoll(fds, n, &timeout, nullptr);
    counters_.wakeups.fetch_add(1, std::memory_order_relaxed);
    slept = true;
    if (!posted) set_notify(kNetRxQueue, false);
    if (rc > 0 && n == 2 && (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
      // The tap went away under us (deleted, or an I/O error): stop reading it rather than spin.
      backend_ok = false;
    }
  }
}

bool VirtioNet::rx_buffers_posted() const { return host_ != nullptr && host_->queue(kNetRxQueue).has_available(); }

VirtioNet::Delivery VirtioNet::deliver(std::span<const uint8_t> frame) {
  Virtqueue& q = host_->queue(kNetRxQueue);
  if (!q.ready() || q.broken()) return Delivery::kQueueBroken;
  Chain chain;
  // Bad chains are failed and skipped; at most a ring's worth per frame keeps this bounded.
  for (uint32_t tries = 0;; ++tries) {
    if (tries > kNetQueueSize) return Delivery::kNoBuffer;
    const PopResult r = q.pop(&chain);
    if (r == PopResult::kEmpty) return Delivery::kNoBuffer;
    if (r == PopResult::kQueueError) {
      host_->needs_reset();
      return Delivery::kQueueBroken;
    }
    if (r == PopResult::kChain) break;
    counters_.bad_chains.fetch_add(1, std::memory_order_relaxed);
    q.push_used(chain, 0);
    host_->used_buffers(kNetRxQueue);
  }
  if (chain.writable_bytes() < kNetHeaderBytes + frame.size()) {
    // The guest's buffer is too small for this frame (a driver must post 1526 bytes): the frame is lost,
    // the buffer returned empty (shorter than a header, which a driver discards).
    counters_.rx_drops.fetch_add(1, std::memory_order_relaxed);
    q.push_used(chain, 0);
    host_->used_buffers(kNetRxQueue);
    return Delivery::kDelivered;
  }
  // flags 0, gso_type NONE, no checksum offload; num_buffers = 1 (the spec's value without MRG_RXBUF).
  uint8_t header[kNetHeaderBytes] = {};
  header[10] = 1;
  q.write(chain, 0, header);
  q.write(chain, kNetHeaderBytes, frame);
  q.push_used(chain, static_cast<uint32_t>(kNetHeaderBytes + frame.size()));
  host_->used_buffers(kNetRxQueue);
  counters_.rx_packets.fetch_add(1, std::memory_order_relaxed);
  counters_.rx_bytes.fetch_add(frame.size(), std::memory_order_relaxed);
  return Delivery::kDelivered;
}

bool VirtioNet::serve_rx() {
  bool did = false;
  for (uint32_t i = 0; i < kBudget; ++i) {
    const bool answer = !answers_.empty();
    if (!answer && frame_.empty()) {
      if (!rx_buffers_posted()) break;
      auto got = backend_->receive(buf_);
      if (!got.ok() || got.value() == 0) break;
      const size_t n = got.value();
      did = true;
      if (n > kNetMaxFrameBytes) {
        counters_.rx_drops.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      frame_.assign(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(n));
    }
    const Delivery d = deliver(answer ? answers_.front() : frame_);
    if (d == Delivery::kQueueBroken) {
      // Nothing can be delivered until the driver resets the device: drop rather than hold.
      counters_.rx_drops.fetch_add(answers_.size() + (frame_.empty() ? 0 : 1), std::memory_order_relaxed);
      answers_.clear();
      frame_.clear();
      break;
    }
    if (d == Delivery::kNoBuffer) break;
    did = true;
    if (answer) answers_.pop_front();
    else frame_.clear();
  }
  return did;
}

bool VirtioNet::serve_tx() {
  if (host_ == nullptr) return false;
  Virtqueue& q = host_->queue(kNetTxQueue);
  if (!q.ready() || q.broken()) return false;
  bool did = false;
  Chain chain;
  for (uint32_t i = 0; i < kBudget; ++i) {
    const PopResult r = q.pop(&chain);
    if (r == PopResult::kEmpty) break;
    if (r == PopResult::kQueueError) {
      host_->needs_reset();
      break;
    }
    did = true;
    if (r == PopResult::kBadChain) {
      counters_.bad_chains.fetch_add(1, std::memory_order_relaxed);
      q.push_used(chain, 0);
      continue;
    }
    const uint64_t total = chain.readable_bytes();
    if (total < kNetHeaderBytes || total > kNetHeaderBytes + kNetMaxFrameBytes) {
      counters_.tx_drops.fetch_add(1, std::memory_order_relaxed);
      q.push_used(chain, 0);
      continue;
    }
    const size_t len = static_cast<size_t>(total - kNetHeaderBytes);
    const std::span<uint8_t> frame(buf_.data(), len);
    q.read(chain, kNetHeaderBytes, frame);
    q.push_used(chain, 0);  // the buffer is free again: the frame is copied
    counters_.tx_packets.fetch_add(1, std::memory_order_relaxed);
    counters_.tx_bytes.fetch_add(len, std::memory_order_relaxed);
    DhcpOutcome dhcp = answer_dhcp(config_, frame);
    if (dhcp.verdict == DhcpVerdict::kAnswer) {
      if (answers_.size() < kMaxAnswers) {
        answers_.push_back(std::move(dhcp.reply));
        counters_.dhcp_answers.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters_.rx_drops.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (dhcp.verdict == DhcpVerdict::kNotDhcp) {
      if (!backend_->send(frame).ok()) counters_.tx_drops.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (did) host_->used_buffers(kNetTxQueue);
  return did;
}

}  // namespace sf::devices
