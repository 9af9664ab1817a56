// NativeVm: the N-API face of one sf::vmm::Vm (create+load, boot, pause, resume, destroy, console input,
// guest-call answers, stats). native/lib/vm.ts wraps it; nothing else should use it directly.
// Boundary: thin. Slow calls run in AsyncWorkers that return Promises; VMM events reach JS through a
// VmEventChannel. A failed Status becomes the JS error built by the `makeError` hook vm.ts installs
// (native/lib/errors.ts), so C++ never decides error classes and never throws a C++ exception.
#pragma once

#include <napi.h>

#include <memory>
#include <optional>
#include <string>

#include "../core/vmm/vm.h"
#include "vm_events.h"

namespace sf::binding {

class VmBinding final : public Napi::ObjectWrap<VmBinding>, public VmEventSink {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // JS: new NativeVm(). The hooks onConsole / onState / onGuestCall / makeError are plain properties that
  // vm.ts sets on the instance (not persistent references), so an unused VM and its JS wrapper can be collected.
  explicit VmBinding(const Napi::CallbackInfo& info);
  // Runs when the JS object is collected (or at environment teardown): destroys the VM if destroy() was
  // never called, and releases the event channel, so nothing keeps Node alive or calls JS afterwards.
  ~VmBinding() override;

  void OnVmEvent(Napi::Env env, VmEvent& event) override;

  // Called by the workers on the JS thread.
  Napi::Value MakeError(Napi::Env env, const sf::Status& status, const char* operation);
  void FinishCreate(Napi::Env env, std::unique_ptr<sf::vmm::Vm> vm, bool ok, bool clone = false);
  void FinishBoot(Napi::Env env, bool ok);
  void FinishShell(Napi::Env env, std::unique_ptr<sf::vmm::Vm> vm, bool ok);
  void FinishBecomeClone(Napi::Env env, bool ok);
  void FinishDestroy(Napi::Env env, const sf::vmm::VmStats& stats, const std::optional<sf::devices::NetStats>& net,
                     const std::optional<sf::vmm::DiskStats>& disk, int exit_code, const std::string& reason);
  void EndOperation() { op_in_flight_ = false; }
  void DrainEvents(Napi::Env env) {
    if (events_) events_->Drain(env);
  }

 private:
  // kShell: a clone shell (prepareClone) waiting for becomeClone; destroy() is its only other way out.
  enum class Phase { kNew, kCreating, kShell, kReady, kDestroying, kDestroyed };

  // JS methods.
  Napi::Value Create(const Napi::CallbackInfo& info);  // (config) => Promise<void>
  // (snapshot: NativeSnapshot, {vmid, lazy, cloneReply?}) => Promise<void>: this object becomes a paused clone.
  Napi::Value CreateClone(const Napi::CallbackInfo& info);
  Napi::Value Fork(const Napi::CallbackInfo& info);  // () => Promise<NativeSnapshot>
  // (shells: NativeVm[], options: cloneOptions[]) => Promise<{snapshot, errors: (Error|null)[]}>: the fork, and
  // each shell made a clone of it and resumed, in one worker.
  Napi::Value ForkInto(const Napi::CallbackInfo& info);
  Napi::Value PrepareClone(const Napi::CallbackInfo& info);  // ({ramBytes, vcpus, privilege}) => Promise<void>
  // (descriptor: Buffer, {vmid, lazy, cloneReply?, server: 'ip:port', bind?: 'ip:port'}) => Promise<void>
  Napi::Value CreateRemoteClone(const Napi::CallbackInfo& info);
  Napi::Value BecomeClone(const Napi::CallbackInfo& info);  // (snapshot, {vmid, lazy, cloneReply?}) => Promise<void>
  // (descriptor: Buffer, createRemoteClone's options) => Promise<void>: a shell made with {remote: true} becomes
  // a clone of a fork on another host.
  Napi::Value BecomeRemoteClone(const Napi::CallbackInfo& info);
  Napi::Value MemtapStats(const Napi::CallbackInfo& info);  // () => {...} | null (not a lazy clone)
  Napi::Value NetStats(const Napi::CallbackInfo& info);     // () => {...} | null (no NIC); final once gone
  Napi::Value DiskStats(const Napi::CallbackInfo& info);    // () => {device, overlay} | null (no disk); final once gone
  Napi::Value Prefetch(const Napi::CallbackInfo& info);     // (gpa, npages) => void, throws on failure
  Napi::Value Boot(const Napi::CallbackInfo& info);         // () => Promise<void>
  Napi::Value Pause(const Napi::CallbackInfo& info);        // () => Promise<void>
  Napi::Value Resume(const Napi::CallbackInfo& info);       // () => Promise<void>
  Napi::Value Destroy(const Napi::CallbackInfo& info);      // () => Promise<void>
  Napi::Value AnswerCall(const Napi::CallbackInfo& info);   // (id: bigint, reply) => void, throws on failure
  Napi::Value ConsoleInput(const Napi::CallbackInfo& info);  // (bytes: Uint8Array) => void
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value ExitCode(const Napi::CallbackInfo& info);
  Napi::Value Reason(const Napi::CallbackInfo& info);

  // Callbacks that only queue into this object's event channel (they run on vCPU threads).
  sf::vmm::VmCallbacks Callbacks();
  // A settled promise (rejected with MakeError(status)) or an empty Value when the call may go ahead.
  Napi::Value Reject(Napi::Env env, const sf::Status& status, const char* operation);
  // Checks that a lifecycle call may start now; returns a rejected promise (else empty) when not.
  Napi::Value CheckOperation(Napi::Env env, const char* operation, Phase required);
  Napi::Value RunVmOperation(const Napi::CallbackInfo& info, const char* operation,
                             sf::Status (sf::vmm::Vm::*method)());
  void ThrowStatus(Napi::Env env, const sf::Status& status, const char* operation);
  // Whether a booted VM keeps Node alive and its JS object reachable.
  void SetKeepAlive(Napi::Env env, bool keep_alive);
  // Calls the JS hook `name` on this object; a throwing hook is reported as an uncaught exception.
  void CallHook(Napi::Env env, const char* name, std::initializer_list<napi_value> args);
  void AnswerFromBinding(uint64_t id, int sf_code, const std::string& message);
  // Synchronous teardown for the finalizer: no JS, may block while the VM joins its threads.
  void TearDown();

  std::shared_ptr<VmEventChannel> events_;
  std::unique_ptr<sf::vmm::Vm> vm_;  // JS thread only; moved into the destroy worker
  Phase phase_ = Phase::kNew;
  bool op_in_flight_ = false;
  bool keep_alive_ = false;

  // Snapshot taken when destroy() starts, replaced by the final values once it has finished.
  sf::vmm::VmStats final_stats_{};
  std::optional<sf::devices::NetStats> final_net_;  // a NIC's last counters, once vm_ is gone
  std::optional<sf::vmm::DiskStats> final_disk_;    // a disk's last counters, once vm_ is gone
  int final_exit_code_ = 0;
  std::string final_reason_;
};

// Adds `NativeVm` (and `sweepOverlays(dir) => number`) to the module's exports.
void RegisterVm(Napi::Env env, Napi::Object exports);

}  // namespace sf::binding
