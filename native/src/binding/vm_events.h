// VmEventChannel: carries one VM's console output, state changes and guest calls from VMM threads to JS,
// in the order they happened, through a single ThreadSafeFunction.
// Boundary: queueing and thread hand-off only. What an event means to JS is vm_binding.cc's business.
//
// Why one channel and not one ThreadSafeFunction per event kind: separate TSFNs are separate libuv async
// handles, and libuv gives no order between them, so a guest's last console line could reach JS after its
// 'exited' state. One queue keeps console, state and guest-call events in the order the vCPUs produced them.
// Console bytes are coalesced (a guest writing one byte per port exit costs one JS call per batch, not per byte).
#pragma once

#include <napi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "../core/vmm/vm.h"

namespace sf::binding {

struct VmEvent {
  enum class Kind : uint8_t { kConsole, kState, kGuestCall };
  Kind kind = Kind::kConsole;
  std::string text;  // console bytes, or the state's reason
  sf::vmm::VmState state = sf::vmm::VmState::created;
  int exit_code = 0;
  sf::vmm::GuestCall call{};
};

// Receives drained events on the JS thread. Implemented by the VM's ObjectWrap.
class VmEventSink {
 public:
  virtual void OnVmEvent(Napi::Env env, VmEvent& event) = 0;

 protected:
  ~VmEventSink() = default;
};

class VmEventChannel {
 public:
  // Console bytes waiting for JS beyond this are dropped (and counted): a guest printing flat out must not be
  // able to grow host memory without bound while the JS thread is busy. The vCPU is never blocked on JS.
  static constexpr size_t kMaxPendingConsoleBytes = 8u << 20;
  // Console events are cut at this size so that one Buffer stays reasonably small.
  static constexpr size_t kMaxConsoleChunk = 64u << 10;

  // JS thread. The channel starts unreferenced: it does not keep Node's event loop alive until set_keep_alive.
  static std::shared_ptr<VmEventChannel> Open(Napi::Env env, VmEventSink* sink);

  struct Private {};  // construction only through Open()
  explicit VmEventChannel(Private) {}
  VmEventChannel(const VmEventChannel&) = delete;
  VmEventChannel& operator=(const VmEventChannel&) = delete;
  ~VmEventChannel() = default;

  // ---- any thread. All are no-ops once the channel is closed. ----
  void PushConsole(std::string_view bytes);
  void PushState(sf::vmm::VmState state, int exit_code, const std::string& reason);
  // False when the channel is closed (nobody will ever see the call).
  bool PushGuestCall(const sf::vmm::GuestCall& call);
  uint64_t console_bytes_dropped() const;

  // ---- JS thread ----
  // Delivers every queued event to the sink now (also done whenever the ThreadSafeFunction fires).
  void Drain(Napi::Env env);
  // Whether a booted VM holds Node's event loop open.
  void SetKeepAlive(Napi::Env env, bool keep_alive);
  // Stops delivery for good: queued events are discarded, the sink is forgotten and the ThreadSafeFunction is
  // released, so the channel never keeps Node alive again and never calls into JS again. Idempotent.
  void Close();
  bool closed() const;

 private:
  // The TSFN's context is a heap shared_ptr to the channel (deleted by the TSFN's finalizer), so the channel
  // outlives every call the TSFN can still make.
  static void CallJs(Napi::Env env, Napi::Function, std::shared_ptr<VmEventChannel>* self, void*);
  using Tsfn = Napi::TypedThreadSafeFunction<std::shared_ptr<VmEventChannel>, void, &VmEventChannel::CallJs>;

  // Caller holds mutex_.
  void WakeLocked();

  mutable std::mutex mutex_;
  std::deque<VmEvent> queue_;     // guarded by mutex_
  size_t pending_console_ = 0;    // bytes of console text in queue_; guarded by mutex_
  uint64_t console_dropped_ = 0;  // guarded by mutex_
  bool wake_pending_ = false;     // a TSFN call is queued and has not drained yet; guarded by mutex_
  bool closed_ = false;           // guarded by mutex_

  Tsfn tsfn_;                    // set in Open, released in Close
  VmEventSink* sink_ = nullptr;  // JS thread only
  bool keep_alive_ = false;      // JS thread only
};

}  // namespace sf::binding
