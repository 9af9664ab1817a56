// VmEventChannel: ordered, coalescing hand-off of VM events from VMM threads to the JS thread.
// Boundary: see vm_events.h. No decisions about what events mean; no JS calls except through the sink.
#include "vm_events.h"

#include <algorithm>
#include <utility>

namespace sf::binding {

std::shared_ptr<VmEventChannel> VmEventChannel::Open(Napi::Env env, VmEventSink* sink) {
  auto channel = std::make_shared<VmEventChannel>(Private{});
  channel->sink_ = sink;
  auto* context = new std::shared_ptr<VmEventChannel>(channel);
  // Unlimited queue: the vCPU side never blocks on JS (a full queue could deadlock against a JS thread that is
  // itself waiting for the VM, e.g. a finalizer destroying it). The channel bounds memory itself.
  channel->tsfn_ = Tsfn::New(env, "snowflock:vm-events", 0, 1, context,
                             [](Napi::Env, void*, std::shared_ptr<VmEventChannel>* ctx) { delete ctx; });
  // A VM that is only created (or already stopped) must not hold the process open.
  channel->tsfn_.Unref(env);
  return channel;
}

void VmEventChannel::WakeLocked() {
  if (closed_ || wake_pending_) return;
  // NonBlockingCall on an unbounded queue only fails once the TSFN is closing (Node environment teardown);
  // then nobody is left to deliver to, and the events just stay queued until Close() discards them.
  if (tsfn_.NonBlockingCall() == napi_ok) wake_pending_ = true;
}

void VmEventChannel::PushConsole(std::string_view bytes) {
  std::lock_guard lock(mutex_);
  if (closed_ || bytes.empty()) return;
  const size_t room = kMaxPendingConsoleBytes - std::min(pending_console_, kMaxPendingConsoleBytes);
  if (bytes.size() > room) {
    console_dropped_ += bytes.size() - room;
    bytes = bytes.substr(0, room);
    if (bytes.empty()) return;
  }
  pending_console_ += bytes.size();
  while (!bytes.empty()) {
    if (queue_.empty() || queue_.back().kind != VmEvent::Kind::kConsole ||
        queue_.back().text.size() >= kMaxConsoleChunk) {
      queue_.emplace_back();  // kind defaults to kConsole
    }
    std::string& chunk = queue_.back().text;
    const size_t take = std::min(bytes.size(), kMaxConsoleChunk - chunk.size());
    chunk.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
  }
  WakeLocked();
}

void VmEventChannel::PushState(sf::vmm::VmState state, int exit_code, const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  VmEvent& event = queue_.emplace_back();
  event.kind = VmEvent::Kind::kState;
  event.state = state;
  event.exit_code = exit_code;
  event.text = reason;
  WakeLocked();
}

bool VmEventChannel::PushGuestCall(const sf::vmm::GuestCall& call) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  VmEvent& event = queue_.emplace_back();
  event.kind = VmEvent::Kind::kGuestCall;
  event.call = call;
  WakeLocked();
  return true;
}

uint64_t VmEventChannel::console_bytes_dropped() const {
  std::lock_guard lock(mutex_);
  return console_dropped_;
}

void VmEventChannel::Drain(Napi::Env env) {
  std::deque<VmEvent> batch;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    batch.swap(queue_);
    pending_console_ = 0;
    // Events pushed from here on schedule a new wake-up; a wake-up still in flight finds an empty queue.
    wake_pending_ = false;
  }
  for (VmEvent& event : batch) {
    // The sink may close the channel (a handler destroying the VM synchronously is not possible, but a
    // finalizer path could be); stop delivering as soon as it does.
    if (sink_ == nullptr || closed()) return;
    Napi::HandleScope scope(env);
    sink_->OnVmEvent(env, event);
  }
}

void VmEventChannel::CallJs(Napi::Env env, Napi::Function, std::shared_ptr<VmEventChannel>* self, void*) {
  // env is null when Node tears the TSFN down with calls still queued: nothing to deliver to.
  if (env == nullptr || self == nullptr) return;
  (*self)->Drain(env);
}

void VmEventChannel::SetKeepAlive(Napi::Env env, bool keep_alive) {
  if (closed() || keep_alive == keep_alive_) return;
  keep_alive_ = keep_alive;
  if (keep_alive) {
    tsfn_.Ref(env);
  } else {
    tsfn_.Unref(env);
  }
}

void VmEventChannel::Close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    queue_.clear();
    pending_console_ = 0;
  }
  sink_ = nullptr;
  // After closed_ is set no producer touches tsfn_ again (they check closed_ under mutex_), so this is the last
  // use: the TSFN is freed once Node has processed the release.
  tsfn_.Release();
}

bool VmEventChannel::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace sf::binding
