// NativeVm: ObjectWrap around sf::vmm::Vm. See vm_binding.h for the contract.
// Boundary: argument plumbing, worker threads, promise settling and event delivery. Which states allow which
// calls is the VMM's decision (it answers with a Status); what a Status means to JS is native/lib/errors.ts's.
#include "vm_binding.h"

#include <errno.h>

#include <thread>
#include <utility>

#include "../core/devices/cow_overlay.h"
#include "../core/vmm/descriptor.h"
#include "addon_data.h"
#include "memserver_binding.h"
#include "snapshot_binding.h"
#include "vm_convert.h"

namespace sf::binding {
namespace {

using sf::vmm::Vm;
using sf::vmm::VmState;

// Base of the binding's workers: keeps the JS object alive while the work runs (so the finalizer cannot run
// under a worker thread), and settles one promise on the JS thread.
class VmWorker : public Napi::AsyncWorker {
 public:
  VmWorker(Napi::Env env, VmBinding* self, const char* operation)
      : Napi::AsyncWorker(env, operation),
        self_(self),
        owner_(Napi::Persistent(self->Value())),
        deferred_(Napi::Promise::Deferred::New(env)),
        operation_(operation) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // JS thread: the binding's bookkeeping for this operation, before the promise settles.
  virtual void Finish(Napi::Env env) = 0;
  // JS thread, on success: what the promise resolves with.
  virtual Napi::Value Resolution(Napi::Env env) { return env.Undefined(); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    self_->EndOperation();
    Finish(env);
    if (status_.ok()) {
      deferred_.Resolve(Resolution(env));
    } else {
      deferred_.Reject(self_->MakeError(env, status_, failed_operation_ ? failed_operation_ : operation_));
    }
  }

  VmBinding* self_;
  Status status_;
  const char* failed_operation_ = nullptr;  // set when a step other than `operation_` failed

 private:
  Napi::ObjectReference owner_;
  Napi::Promise::Deferred deferred_;
  const char* operation_;
};

// Marks the binding busy, queues the worker and hands back its promise (settled on the JS thread).
Napi::Promise StartWorker(VmWorker* worker, bool& op_in_flight) {
  op_in_flight = true;
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// Vm::create (allocates guest RAM, opens KVM) and Vm::load_elf_file (reads an image of up to GiBs).
class CreateWorker final : public VmWorker {
 public:
  CreateWorker(Napi::Env env, VmBinding* self, sf::vmm::VmConfig config, std::string image_path,
               sf::vmm::VmCallbacks callbacks)
      : VmWorker(env, self, "create"),
        config_(std::move(config)),
        image_path_(std::move(image_path)),
        callbacks_(std::move(callbacks)) {}

 private:
  void Execute() override {
    auto created = Vm::create(config_, std::move(callbacks_));
    if (!created.ok()) {
      status_ = created.status();
      return;
    }
    vm_ = std::move(created.value());
    status_ = vm_->load_elf_file(image_path_);
    if (!status_.ok()) {
      failed_operation_ = "load";
      vm_->destroy();
      vm_.reset();
    }
  }

  void Finish(Napi::Env env) override { self_->FinishCreate(env, std::move(vm_), status_.ok()); }

  sf::vmm::VmConfig config_;
  std::string image_path_;
  sf::vmm::VmCallbacks callbacks_;
  std::unique_ptr<Vm> vm_;
};

// Vm::create_from_snapshot: a clone, parked at the fork instant (resume() lets it run).
class CloneWorker final : public VmWorker {
 public:
  CloneWorker(Napi::Env env, VmBinding* self, sf::vmm::Snapshot snapshot, uint32_t vmid, sf::vmm::CloneOptions options,
              sf::vmm::VmCallbacks callbacks)
      : VmWorker(env, self, "createClone"),
        snapshot_(std::move(snapshot)),
        vmid_(vmid),
        options_(std::move(options)),
        callbacks_(std::move(callbacks)) {}

 private:
  void Execute() override {
    auto created = Vm::create_from_snapshot(snapshot_, vmid_, std::move(callbacks_), options_);
    if (!created.ok()) {
      status_ = created.status();
      return;
    }
    vm_ = std::move(created.value());
  }

  void Finish(Napi::Env env) override { self_->FinishCreate(env, std::move(vm_), status_.ok(), /*clone=*/true); }

  sf::vmm::Snapshot snapshot_;
  uint32_t vmid_;
  sf::vmm::CloneOptions options_;
  sf::vmm::VmCallbacks callbacks_;
  std::unique_ptr<Vm> vm_;
};

// What a clone of a fork on another host reads its pages and disk blocks through: this host's shared remote
// source for the descriptor's snapshot (its identity, `config`'s network options) and, when the parent had a
// disk, the remote disk over the same source.
struct RemoteParts {
  std::shared_ptr<sf::memory::PageSource> source;
  std::shared_ptr<sf::devices::RemoteDisk> disk;
};

Result<RemoteParts> RemotePartsFor(const std::vector<uint8_t>& descriptor, sf::memserver::RemoteSourceConfig config) {
  auto d = sf::vmm::parse(descriptor);
  if (!d.ok()) return d.status();
  if (!d->identity) return Status::Error(EINVAL, "the descriptor has no snapshot identity (not from a fork)");
  config.snapshot_id =
      d->identity->snapshot_id;  // the network options are the caller's; the identity is the descriptor's
  config.key = d->identity->key;
  auto disk_bytes = DescriptorDiskBytes(d.value());
  if (!disk_bytes.ok()) return disk_bytes.status();
  auto source = SharedRemoteSource(config, d->ram_bytes, disk_bytes.value());
  if (!source.ok()) return source.status();
  RemoteParts parts{source.value(), nullptr};
  // The parent's disk: the clone reads the snapshot's blocks through the same source (its own overlay, in
  // options.disk_overlay_dir, on top; restore_devices asks for it).
  if (disk_bytes.value() > 0) {
    auto remote = RemoteDiskFor(source.value(), disk_bytes.value());
    if (!remote.ok()) return remote.status();
    parts.disk = std::move(remote).value();
  }
  return parts;
}

// Vm::create_from_descriptor with this host's shared remote source for the snapshot (memserver elsewhere).
class RemoteCloneWorker final : public VmWorker {
 public:
  RemoteCloneWorker(Napi::Env env, VmBinding* self, std::vector<uint8_t> descriptor, uint32_t vmid,
                    sf::vmm::CloneOptions options, sf::memserver::RemoteSourceConfig source,
                    sf::vmm::VmCallbacks callbacks)
      : VmWorker(env, self, "createRemoteClone"),
        descriptor_(std::move(descriptor)),
        vmid_(vmid),
        options_(std::move(options)),
        source_(source),
        callbacks_(std::move(callbacks)) {}

 private:
  void Execute() override {
    auto parts = RemotePartsFor(descriptor_, source_);
    if (!parts.ok()) {
      status_ = parts.status();
      return;
    }
    auto created = Vm::create_from_descriptor(descriptor_, vmid_, std::move(callbacks_), options_, parts->source,
                                              std::move(parts->disk));
    if (!created.ok()) {
      status_ = created.status();
      return;
    }
    vm_ = std::move(created.value());
  }
  void Finish(Napi::Env env) override { self_->FinishCreate(env, std::move(vm_), status_.ok(), /*clone=*/true); }

  std::vector<uint8_t> descriptor_;
  uint32_t vmid_;
  sf::vmm::CloneOptions options_;
  sf::memserver::RemoteSourceConfig source_;
  sf::vmm::VmCallbacks callbacks_;
  std::unique_ptr<Vm> vm_;
};

// Vm::create_clone_shell: a clone's KVM VM, vCPUs and empty RAM, made before the fork.
class ShellWorker final : public VmWorker {
 public:
  ShellWorker(Napi::Env env, VmBinding* self, sf::vmm::CloneShape shape, sf::vmm::VmCallbacks callbacks)
      : VmWorker(env, self, "prepareClone"), shape_(shape), callbacks_(std::move(callbacks)) {}

 private:
  void Execute() override {
    auto created = Vm::create_clone_shell(shape_, std::move(callbacks_));
    if (!created.ok()) {
      status_ = created.status();
      return;
    }
    vm_ = std::move(created.value());
  }
  void Finish(Napi::Env env) override { self_->FinishShell(env, std::move(vm_), status_.ok()); }

  sf::vmm::CloneShape shape_;
  sf::vmm::VmCallbacks callbacks_;
  std::unique_ptr<Vm> vm_;
};

// Vm::become_clone: the shell takes the snapshot (lazy memory) and parks at the fork instant.
class BecomeCloneWorker final : public VmWorker {
 public:
  BecomeCloneWorker(Napi::Env env, VmBinding* self, Vm* vm, sf::vmm::Snapshot snapshot, uint32_t vmid,
                    sf::vmm::CloneOptions options)
      : VmWorker(env, self, "becomeClone"),
        vm_(vm),
        snapshot_(std::move(snapshot)),
        vmid_(vmid),
        options_(std::move(options)) {}

 private:
  void Execute() override { status_ = vm_->become_clone(snapshot_, vmid_, options_); }
  void Finish(Napi::Env env) override { self_->FinishBecomeClone(env, status_.ok()); }

  Vm* vm_;
  sf::vmm::Snapshot snapshot_;
  uint32_t vmid_;
  sf::vmm::CloneOptions options_;
};

// Vm::become_remote_clone: a shell made for remote forks takes a descriptor and this host's remote source.
class BecomeRemoteCloneWorker final : public VmWorker {
 public:
  BecomeRemoteCloneWorker(Napi::Env env, VmBinding* self, Vm* vm, std::vector<uint8_t> descriptor, uint32_t vmid,
                          sf::vmm::CloneOptions options, sf::memserver::RemoteSourceConfig source)
      : VmWorker(env, self, "becomeRemoteClone"),
        vm_(vm),
        descriptor_(std::move(descriptor)),
        vmid_(vmid),
        options_(std::move(options)),
        source_(source) {}

 private:
  void Execute() override {
    auto parts = RemotePartsFor(descriptor_, source_);
    status_ = parts.ok() ? vm_->become_remote_clone(descriptor_, vmid_, options_, parts->source, std::move(parts->disk))
                         : parts.status();
  }
  void Finish(Napi::Env env) override { self_->FinishBecomeClone(env, status_.ok()); }

  Vm* vm_;
  std::vector<uint8_t> descriptor_;
  uint32_t vmid_;
  sf::vmm::CloneOptions options_;
  sf::memserver::RemoteSourceConfig source_;
};

// Vm::fork_snapshot: pauses the VM for the capture (≈1 ms), so it runs off the JS thread too.
class ForkWorker final : public VmWorker {
 public:
  ForkWorker(Napi::Env env, VmBinding* self, Vm* vm) : VmWorker(env, self, "fork"), vm_(vm) {}

 private:
  void Execute() override {
    auto snap = vm_->fork_snapshot();
    if (!snap.ok()) {
      status_ = snap.status();
      return;
    }
    snapshot_ = std::move(snap).value();
  }
  void Finish(Napi::Env env) override { self_->DrainEvents(env); }
  Napi::Value Resolution(Napi::Env env) override { return SnapshotBinding::Wrap(env, std::move(snapshot_)); }

  Vm* vm_;
  sf::vmm::Snapshot snapshot_;
};

// Vm::fork_snapshot, then every shell's become_clone and resume, on one worker thread: the clones run as soon
// as they are made, with no hop through the JS thread between the fork and their first instruction.
class ForkIntoWorker final : public VmWorker {
 public:
  struct Target {
    VmBinding* binding;
    Vm* vm;
    uint32_t vmid;
    sf::vmm::CloneOptions options;
    Napi::ObjectReference owner;  // keeps the shell's JS object alive while the work runs
    Status status;
    const char* failed = nullptr;  // "becomeClone" or "resume"
  };

  ForkIntoWorker(Napi::Env env, VmBinding* self, Vm* vm, std::vector<Target> targets)
      : VmWorker(env, self, "forkInto"), vm_(vm), targets_(std::move(targets)) {}

 private:
  void Execute() override {
    auto snap = vm_->fork_snapshot();
    if (!snap.ok()) {
      status_ = snap.status();
      failed_operation_ = "fork";
      for (Target& t : targets_) {
        t.status = Status::Error(ECANCELED, "the fork failed: " + snap.status().message);
        t.failed = "fork";
      }
      return;
    }
    snapshot_ = std::move(snap).value();
    // One clone runs as soon as it is made. Several are all made first, then all let go: running clones would
    // take the cores from the making of the others (each parks first, which costs far less). Many are made on
    // two threads, as the separate calls were on libuv's pool.
    const bool one = targets_.size() == 1;
    auto make = [this, one](size_t from, size_t step) {
      for (size_t i = from; i < targets_.size(); i += step) {
        Target& t = targets_[i];
        t.options.run_at_once = one;
        t.status = t.vm->become_clone(snapshot_, t.vmid, t.options);
        if (!t.status.ok()) t.failed = "becomeClone";
      }
    };
    if (targets_.size() >= kSecondMakerFrom) {
      std::thread second(make, 1, 2);
      make(0, 2);
      second.join();
    } else {
      make(0, 1);
    }
    for (Target& t : targets_) {
      if (t.failed != nullptr) continue;
      t.status = t.vm->resume();
      if (!t.status.ok()) t.failed = "resume";
    }
  }

  void Finish(Napi::Env env) override {
    self_->DrainEvents(env);
    for (Target& t : targets_) {
      t.binding->EndOperation();
      // The fork failed: the shell was not touched and stays one.
      if (t.failed != nullptr && std::string_view(t.failed) == "fork") continue;
      // A shell that failed to become a clone was destroyed by the VMM; one that failed to resume is a parked clone.
      t.binding->FinishBecomeClone(env, t.failed == nullptr || std::string_view(t.failed) == "resume");
    }
  }

  Napi::Value Resolution(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("snapshot", SnapshotBinding::Wrap(env, std::move(snapshot_)));
    Napi::Array clones = Napi::Array::New(env, targets_.size());
    for (size_t i = 0; i < targets_.size(); ++i) {
      Target& t = targets_[i];
      clones.Set(static_cast<uint32_t>(i),
                 t.failed == nullptr ? env.Null() : t.binding->MakeError(env, t.status, t.failed));
    }
    out.Set("errors", clones);
    return out;
  }

  static constexpr size_t kSecondMakerFrom = 4;  // fewer clones are made faster than a thread is started

  Vm* vm_;
  std::vector<Target> targets_;
  sf::vmm::Snapshot snapshot_;
};

// boot / pause / resume: one Vm method on a worker thread (pause waits for every vCPU to park).
class OperationWorker final : public VmWorker {
 public:
  OperationWorker(Napi::Env env, VmBinding* self, const char* operation, Vm* vm, Status (Vm::*method)())
      : VmWorker(env, self, operation), vm_(vm), method_(method), is_boot_(method == &Vm::boot) {}

 private:
  // vm_ stays valid: the binding frees a Vm only in the destroy worker, which cannot overlap this one.
  void Execute() override { status_ = (vm_->*method_)(); }

  void Finish(Napi::Env env) override {
    // Everything the VM reported before the call returned reaches JS before the promise settles.
    self_->DrainEvents(env);
    if (is_boot_) self_->FinishBoot(env, status_.ok());
  }

  Vm* vm_;
  Status (Vm::*method_)();
  bool is_boot_;
};

// Vm::destroy joins the vCPU threads; freeing guest RAM (munmap of up to GiBs) also happens off the JS thread.
class DestroyWorker final : public VmWorker {
 public:
  DestroyWorker(Napi::Env env, VmBinding* self, std::unique_ptr<Vm> vm)
      : VmWorker(env, self, "destroy"), vm_(std::move(vm)) {}

 private:
  void Execute() override {
    if (!vm_) return;
    vm_->destroy();
    stats_ = vm_->stats();
    if (auto net = vm_->net_stats(); net.ok()) net_ = net.value();
    if (auto disk = vm_->disk_stats(); disk.ok()) disk_ = disk.value();
    exit_code_ = vm_->exit_code();
    reason_ = vm_->reason();
    vm_.reset();
  }

  void Finish(Napi::Env env) override { self_->FinishDestroy(env, stats_, net_, disk_, exit_code_, reason_); }

  std::unique_ptr<Vm> vm_;
  sf::vmm::VmStats stats_{};
  std::optional<sf::devices::NetStats> net_;
  std::optional<sf::vmm::DiskStats> disk_;
  int exit_code_ = 0;
  std::string reason_;
};

}  // namespace

Napi::Function VmBinding::DefineClass(Napi::Env env) {
  Napi::Function constructor =
      ObjectWrap<VmBinding>::DefineClass(env, "NativeVm",
                                         {
                                             InstanceMethod<&VmBinding::Create>("create"),
                                             InstanceMethod<&VmBinding::CreateClone>("createClone"),
                                             InstanceMethod<&VmBinding::Fork>("fork"),
                                             InstanceMethod<&VmBinding::ForkInto>("forkInto"),
                                             InstanceMethod<&VmBinding::PrepareClone>("prepareClone"),
                                             InstanceMethod<&VmBinding::CreateRemoteClone>("createRemoteClone"),
                                             InstanceMethod<&VmBinding::BecomeClone>("becomeClone"),
                                             InstanceMethod<&VmBinding::BecomeRemoteClone>("becomeRemoteClone"),
                                             InstanceMethod<&VmBinding::MemtapStats>("memtapStats"),
                                             InstanceMethod<&VmBinding::NetStats>("netStats"),
                                             InstanceMethod<&VmBinding::DiskStats>("diskStats"),
                                             InstanceMethod<&VmBinding::Prefetch>("prefetch"),
                                             InstanceMethod<&VmBinding::Boot>("boot"),
                                             InstanceMethod<&VmBinding::Pause>("pause"),
                                             InstanceMethod<&VmBinding::Resume>("resume"),
                                             InstanceMethod<&VmBinding::Destroy>("destroy"),
                                             InstanceMethod<&VmBinding::AnswerCall>("answerCall"),
                                             InstanceMethod<&VmBinding::ConsoleInput>("consoleInput"),
                                             InstanceMethod<&VmBinding::Stats>("stats"),
                                             InstanceMethod<&VmBinding::State>("state"),
                                             InstanceMethod<&VmBinding::ExitCode>("exitCode"),
                                             InstanceMethod<&VmBinding::Reason>("reason"),
                                         });
  GetAddonData(env)->vm_constructor = Napi::Persistent(constructor);
  return constructor;
}

VmBinding::VmBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmBinding>(info) {
  events_ = VmEventChannel::Open(info.Env(), this);
}

VmBinding::~VmBinding() { TearDown(); }

void VmBinding::TearDown() {
  // No JS from here: this runs inside a GC finalizer or at environment teardown. A VM still here was never
  // destroy()ed; it is final or was never booted (a running VM holds a strong reference to its JS object), so
  // joining its threads is quick.
  if (vm_) {
    vm_->destroy();
    if (op_in_flight_) {
      // Only possible at environment teardown (a worker keeps the object alive otherwise): a worker thread may
      // still be returning from a Vm method, so the stopped Vm is left to the exiting process, not freed here.
      (void)vm_.release();
    } else {
      vm_.reset();
    }
  }
  if (events_) events_->Close();
  phase_ = Phase::kDestroyed;
}

// ---- errors ----

Napi::Value VmBinding::MakeError(Napi::Env env, const Status& status, const char* operation) {
  Napi::Object self = Value();
  if (!self.IsEmpty()) {
    Napi::Value hook = self.Get("makeError");
    if (hook.IsFunction()) {
      Napi::Value error = hook.As<Napi::Function>().Call(
          self, {Napi::Number::New(env, status.code), Napi::String::New(env, status.message),
                 Napi::String::New(env, operation)});
      if (!env.IsExceptionPending() && error.IsObject()) return error;
      if (env.IsExceptionPending()) env.GetAndClearPendingException();
    }
  }
  // No hook (the object was not made by vm.ts): a plain Error carrying the same facts.
  Napi::Error error = Napi::Error::New(env, status.message);
  error.Set("statusCode", Napi::Number::New(env, status.code));
  error.Set("operation", Napi::String::New(env, operation));
  return error.Value();
}

void VmBinding::ThrowStatus(Napi::Env env, const Status& status, const char* operation) {
  napi_throw(env, MakeError(env, status, operation));
}

Napi::Value VmBinding::Reject(Napi::Env env, const Status& status, const char* operation) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(MakeError(env, status, operation));
  return deferred.Promise();
}

Napi::Value VmBinding::CheckOperation(Napi::Env env, const char* operation, Phase required) {
  if (op_in_flight_) {
    return Reject(env, Status::Error(EBUSY, std::string(operation) + "(): another VM operation is still running"),
                  operation);
  }
  if (phase_ == Phase::kDestroying || phase_ == Phase::kDestroyed) {
    return Reject(env, Status::Error(ESRCH, std::string(operation) + "(): the VM is destroyed"), operation);
  }
  if (phase_ != required) {
    const char* why = phase_ == Phase::kNew ? "the VM has not been created" : "the VM was already created";
    return Reject(env, Status::Error(EALREADY, std::string(operation) + "(): " + why), operation);
  }
  return Napi::Value();
}

// ---- lifecycle ----

Napi::Value VmBinding::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "create", Phase::kNew); !rejected.IsEmpty()) return rejected;
  sf::vmm::VmConfig config{};
  std::string image_path;
  if (Status s = VmConfigFromJs(info[0], config, image_path); !s.ok()) return Reject(env, s, "create");

  auto* worker = new CreateWorker(env, this, std::move(config), std::move(image_path), Callbacks());
  phase_ = Phase::kCreating;
  return StartWorker(worker, op_in_flight_);
}

sf::vmm::VmCallbacks VmBinding::Callbacks() {
  // The callbacks run on vCPU threads: they only queue into the channel (which they co-own, so it outlives
  // any callback even if this object is collected first).
  std::shared_ptr<VmEventChannel> events = events_;
  sf::vmm::VmCallbacks callbacks;
  callbacks.on_console = [events](std::string_view bytes) { events->PushConsole(bytes); };
  callbacks.on_state = [events](VmState state, int exit_code, const std::string& reason) {
    events->PushState(state, exit_code, reason);
  };
  callbacks.on_guest_call = [events](const sf::vmm::GuestCall& call) { events->PushGuestCall(call); };
  return callbacks;
}

Napi::Value VmBinding::CreateClone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "createClone", Phase::kNew); !rejected.IsEmpty()) return rejected;
  auto snapshot = SnapshotBinding::From(env, info[0]);
  if (!snapshot) {
    return Reject(env, Status::Error(EINVAL, "createClone(): the first argument is not a live snapshot (released?)"),
                  "createClone");
  }
  uint32_t vmid = 0;
  sf::vmm::CloneOptions options;
  if (Status s = CloneOptionsFromJs(info[1], vmid, options); !s.ok()) return Reject(env, s, "createClone");
  auto* worker = new CloneWorker(env, this, std::move(*snapshot), vmid, std::move(options), Callbacks());
  phase_ = Phase::kCreating;
  return StartWorker(worker, op_in_flight_);
}

namespace {
// What createRemoteClone and becomeRemoteClone take: the descriptor (a Buffer) and the clone's and remote
// source's options (lazy forced on: a remote clone's memory always comes page by page).
struct RemoteCloneArgs {
  std::vector<uint8_t> descriptor;
  uint32_t vmid = 0;
  sf::vmm::CloneOptions options;
  sf::memserver::RemoteSourceConfig source;
};

Status RemoteCloneArgsFromJs(const Napi::CallbackInfo& info, const char* operation, RemoteCloneArgs& out) {
  if (!info[0].IsBuffer()) return Status::Error(EINVAL, std::string(operation) + "(): the descriptor must be a Buffer");
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  out.descriptor.assign(buf.Data(), buf.Data() + buf.Length());
  if (Status s = CloneOptionsFromJs(info[1], out.vmid, out.options); !s.ok()) return s;
  if (Status s = RemoteSourceOptionsFromJs(info[1].As<Napi::Object>(), out.source); !s.ok()) return s;
  out.options.lazy = true;
  return Status::Ok();
}
}  // namespace

Napi::Value VmBinding::CreateRemoteClone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "createRemoteClone", Phase::kNew); !rejected.IsEmpty())
    return rejected;
  RemoteCloneArgs a;
  if (Status s = RemoteCloneArgsFromJs(info, "createRemoteClone", a); !s.ok())
    return Reject(env, s, "createRemoteClone");
  auto* worker =
      new RemoteCloneWorker(env, this, std::move(a.descriptor), a.vmid, std::move(a.options), a.source, Callbacks());
  phase_ = Phase::kCreating;
  return StartWorker(worker, op_in_flight_);
}

Napi::Value VmBinding::BecomeRemoteClone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "becomeRemoteClone", Phase::kShell); !rejected.IsEmpty())
    return rejected;
  RemoteCloneArgs a;
  if (Status s = RemoteCloneArgsFromJs(info, "becomeRemoteClone", a); !s.ok())
    return Reject(env, s, "becomeRemoteClone");
  auto* worker = new BecomeRemoteCloneWorker(env, this, vm_.get(), std::move(a.descriptor), a.vmid,
                                             std::move(a.options), a.source);
  return StartWorker(worker, op_in_flight_);
}

Napi::Value VmBinding::PrepareClone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "prepareClone", Phase::kNew); !rejected.IsEmpty()) return rejected;
  sf::vmm::CloneShape shape;
  if (Status s = CloneShapeFromJs(info[0], shape); !s.ok()) return Reject(env, s, "prepareClone");
  auto* worker = new ShellWorker(env, this, shape, Callbacks());
  phase_ = Phase::kCreating;
  return StartWorker(worker, op_in_flight_);
}

void VmBinding::FinishShell(Napi::Env env, std::unique_ptr<Vm> vm, bool ok) {
  if (ok) {
    vm_ = std::move(vm);
    phase_ = Phase::kShell;  // no threads yet: it does not hold Node open
  } else {
    phase_ = Phase::kDestroyed;
    events_->Close();
  }
  DrainEvents(env);
}

Napi::Value VmBinding::BecomeClone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "becomeClone", Phase::kShell); !rejected.IsEmpty()) return rejected;
  auto snapshot = SnapshotBinding::From(env, info[0]);
  if (!snapshot) {
    return Reject(env, Status::Error(EINVAL, "becomeClone(): the first argument is not a live snapshot (released?)"),
                  "becomeClone");
  }
  uint32_t vmid = 0;
  sf::vmm::CloneOptions options;
  if (Status s = CloneOptionsFromJs(info[1], vmid, options); !s.ok()) return Reject(env, s, "becomeClone");
  auto* worker = new BecomeCloneWorker(env, this, vm_.get(), std::move(*snapshot), vmid, std::move(options));
  return StartWorker(worker, op_in_flight_);
}

void VmBinding::FinishBecomeClone(Napi::Env env, bool ok) {
  // Either way it is no longer a shell: a clone parked at the fork instant, or destroyed by the VMM.
  phase_ = Phase::kReady;
  if (ok) SetKeepAlive(env, true);
  DrainEvents(env);
}

Napi::Value VmBinding::Fork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "fork", Phase::kReady); !rejected.IsEmpty()) return rejected;
  auto* worker = new ForkWorker(env, this, vm_.get());
  return StartWorker(worker, op_in_flight_);
}

Napi::Value VmBinding::ForkInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, "forkInto", Phase::kReady); !rejected.IsEmpty()) return rejected;
  if (!info[0].IsArray() || !info[1].IsArray() ||
      info[0].As<Napi::Array>().Length() != info[1].As<Napi::Array>().Length()) {
    return Reject(env, Status::Error(EINVAL, "forkInto(shells, options): two arrays of the same length"), "forkInto");
  }
  Napi::Array shells = info[0].As<Napi::Array>();
  Napi::Array options = info[1].As<Napi::Array>();
  std::vector<ForkIntoWorker::Target> targets;
  targets.reserve(shells.Length());
  for (uint32_t i = 0; i < shells.Length(); ++i) {
    Napi::Value v = shells.Get(i);
    VmBinding* shell = v.IsObject() && v.As<Napi::Object>().InstanceOf(GetAddonData(env)->vm_constructor.Value())
                           ? Unwrap(v.As<Napi::Object>())
                           : nullptr;
    if (shell == nullptr || shell == this) {
      return Reject(env, Status::Error(EINVAL, "forkInto(): shell " + std::to_string(i) + " is not another NativeVm"),
                    "forkInto");
    }
    for (const auto& t : targets) {
      if (t.binding == shell)
        return Reject(env, Status::Error(EINVAL, "forkInto(): a shell is named twice"), "forkInto");
    }
    if (Napi::Value rejected = shell->CheckOperation(env, "forkInto", Phase::kShell); !rejected.IsEmpty())
      return rejected;
    ForkIntoWorker::Target t{shell, shell->vm_.get(), 0, {}, Napi::Persistent(v.As<Napi::Object>()), Status::Ok()};
    if (Status s = CloneOptionsFromJs(options.Get(i), t.vmid, t.options); !s.ok()) return Reject(env, s, "forkInto");
    t.options.lazy = true;  // shells hold lazy memory only
    targets.push_back(std::move(t));
  }
  for (auto& t : targets) t.binding->op_in_flight_ = true;
  auto* worker = new ForkIntoWorker(env, this, vm_.get(), std::move(targets));
  return StartWorker(worker, op_in_flight_);
}

Napi::Value VmBinding::MemtapStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Not a lazy clone (or gone): null rather than an error, the caller just has nothing to show.
  if (!vm_) return env.Null();
  auto s = vm_->memtap_stats();
  if (!s.ok()) return env.Null();
  return MemtapStatsToJs(env, s.value());
}

Napi::Value VmBinding::NetStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Gone (destroying or destroyed): the last counters, so the owner can record what the VM moved.
  if (!vm_) return final_net_ ? Napi::Value(NetStatsToJs(env, *final_net_)) : env.Null();
  auto s = vm_->net_stats();
  if (!s.ok()) return env.Null();
  return NetStatsToJs(env, s.value());
}

Napi::Value VmBinding::DiskStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!vm_) return final_disk_ ? Napi::Value(DiskStatsToJs(env, *final_disk_)) : env.Null();
  auto s = vm_->disk_stats();
  if (!s.ok()) return env.Null();
  return DiskStatsToJs(env, s.value());
}

Napi::Value VmBinding::Prefetch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!vm_) {
    ThrowStatus(env, Status::Error(ESRCH, "prefetch(): the VM is destroyed"), "prefetch");
    return env.Undefined();
  }
  uint64_t gpa = 0, npages = 0;
  if (!info[0].IsNumber() || !info[1].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0 ||
      info[1].As<Napi::Number>().DoubleValue() < 0) {
    ThrowStatus(env, Status::Error(EINVAL, "prefetch(gpa, npages) takes two non-negative numbers"), "prefetch");
    return env.Undefined();
  }
  gpa = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  npages = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  if (Status s = vm_->prefetch(gpa, npages); !s.ok()) ThrowStatus(env, s, "prefetch");
  return env.Undefined();
}

void VmBinding::FinishCreate(Napi::Env env, std::unique_ptr<Vm> vm, bool ok, bool clone) {
  if (ok) {
    vm_ = std::move(vm);
    phase_ = Phase::kReady;
    // A clone's vCPU threads exist already (parked): like a booted VM it holds Node open until it ends.
    if (clone) SetKeepAlive(env, true);
    DrainEvents(env);
  } else {
    // Nothing to destroy later: stop the channel now so a failed create leaves nothing behind.
    phase_ = Phase::kDestroyed;
    events_->Close();
  }
}

Napi::Value VmBinding::RunVmOperation(const Napi::CallbackInfo& info, const char* operation, Status (Vm::*method)()) {
  Napi::Env env = info.Env();
  if (Napi::Value rejected = CheckOperation(env, operation, Phase::kReady); !rejected.IsEmpty()) return rejected;
  // From the moment the vCPUs may start, the VM holds Node open (until its final state).
  if (method == &Vm::boot) SetKeepAlive(env, true);
  auto* worker = new OperationWorker(env, this, operation, vm_.get(), method);
  return StartWorker(worker, op_in_flight_);
}

Napi::Value VmBinding::Boot(const Napi::CallbackInfo& info) { return RunVmOperation(info, "boot", &Vm::boot); }

void VmBinding::FinishBoot(Napi::Env env, bool ok) {
  if (!ok && vm_ && !(vm_->state() == VmState::running || vm_->state() == VmState::paused)) {
    SetKeepAlive(env, false);
  }
}

Napi::Value VmBinding::Pause(const Napi::CallbackInfo& info) { return RunVmOperation(info, "pause", &Vm::pause); }

Napi::Value VmBinding::Resume(const Napi::CallbackInfo& info) { return RunVmOperation(info, "resume", &Vm::resume); }

Napi::Value VmBinding::Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (op_in_flight_) {
    return Reject(env, Status::Error(EBUSY, "destroy(): another VM operation is still running"), "destroy");
  }
  if (phase_ == Phase::kNew || phase_ == Phase::kDestroyed) {
    // Idempotent; and a VM that was never created only has its channel to release.
    if (events_) events_->Close();
    phase_ = Phase::kDestroyed;
    SetKeepAlive(env, false);
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  // phase_ == kReady or kShell (kCreating and kDestroying always have an operation in flight).
  final_stats_ = vm_->stats();
  if (auto net = vm_->net_stats(); net.ok()) final_net_ = net.value();
  if (auto disk = vm_->disk_stats(); disk.ok()) final_disk_ = disk.value();
  final_exit_code_ = vm_->exit_code();
  final_reason_ = vm_->reason();
  auto* worker = new DestroyWorker(env, this, std::move(vm_));
  phase_ = Phase::kDestroying;
  return StartWorker(worker, op_in_flight_);
}

void VmBinding::FinishDestroy(Napi::Env env, const sf::vmm::VmStats& stats,
                              const std::optional<sf::devices::NetStats>& net,
                              const std::optional<sf::vmm::DiskStats>& disk, int exit_code, const std::string& reason) {
  final_stats_ = stats;
  final_net_ = net;
  final_disk_ = disk;
  final_exit_code_ = exit_code;
  final_reason_ = reason;
  // What the VM said while stopping (its last console bytes, the 'destroyed' state) still reaches JS; after
  // this, the channel is closed and the VM can never call into JS again.
  DrainEvents(env);
  phase_ = Phase::kDestroyed;
  events_->Close();
  SetKeepAlive(env, false);
}

// ---- synchronous calls ----

Napi::Value VmBinding::AnswerCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = 0;
  if (!CallIdFromJs(info[0], id)) {
    ThrowStatus(env, Status::Error(EINVAL, "answerCall(): the call id must be a bigint"), "answerCall");
    return env.Undefined();
  }
  if (!vm_ || phase_ != Phase::kReady) {
    ThrowStatus(env, Status::Error(ESRCH, "answerCall(): the VM is destroyed"), "answerCall");
    return env.Undefined();
  }
  sf_hc_reply reply;
  if (Status s = GuestReplyFromJs(info[1], reply); !s.ok()) {
    // The vCPU must not be left waiting because JS sent garbage: it gets -SF_EINTERNAL, JS gets the error.
    AnswerFromBinding(id, SF_EINTERNAL, "invalid reply from the host: " + s.message);
    ThrowStatus(env, s, "answerCall");
    return env.Undefined();
  }
  if (Status s = vm_->answer_call(id, reply); !s.ok()) ThrowStatus(env, s, "answerCall");
  return env.Undefined();
}

void VmBinding::AnswerFromBinding(uint64_t id, int sf_code, const std::string& message) {
  if (vm_) vm_->answer_call(id, FailureReply(sf_code, message));
}

Napi::Value VmBinding::ConsoleInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowStatus(env, Status::Error(EINVAL, "consoleInput(): expected a Uint8Array"), "consoleInput");
    return env.Undefined();
  }
  if (!vm_ || phase_ != Phase::kReady) {
    ThrowStatus(env, Status::Error(ESRCH, "consoleInput(): the VM is destroyed"), "consoleInput");
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  vm_->console_input(std::string_view(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength()));
  return env.Undefined();
}

Napi::Value VmBinding::Stats(const Napi::CallbackInfo& info) {
  const uint64_t dropped = events_ ? events_->console_bytes_dropped() : 0;
  return VmStatsToJs(info.Env(), vm_ ? vm_->stats() : final_stats_, dropped);
}

Napi::Value VmBinding::State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  switch (phase_) {
    case Phase::kNew:
    case Phase::kCreating:
    case Phase::kShell: return Napi::String::New(env, sf::vmm::to_string(VmState::created));
    case Phase::kDestroying:
    case Phase::kDestroyed: return Napi::String::New(env, sf::vmm::to_string(VmState::destroyed));
    case Phase::kReady: break;
  }
  return Napi::String::New(env, sf::vmm::to_string(vm_->state()));
}

Napi::Value VmBinding::ExitCode(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), vm_ ? vm_->exit_code() : final_exit_code_);
}

Napi::Value VmBinding::Reason(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), vm_ ? vm_->reason() : final_reason_);
}

// ---- events ----

void VmBinding::SetKeepAlive(Napi::Env env, bool keep_alive) {
  if (events_) events_->SetKeepAlive(env, keep_alive);
  if (keep_alive == keep_alive_) return;
  keep_alive_ = keep_alive;
  // A strong reference while the VM runs: dropping the last JS reference to a running VM must not let the
  // collector destroy it under the guest. Weak again once it stopped, so a forgotten VM is still freed.
  if (keep_alive) {
    Ref();
  } else {
    Unref();
  }
}

void VmBinding::CallHook(Napi::Env env, const char* name, std::initializer_list<napi_value> args) {
  Napi::Object self = Value();
  if (self.IsEmpty()) return;
  Napi::Value hook = self.Get(name);
  if (!hook.IsFunction()) return;
  hook.As<Napi::Function>().Call(self, args);
  if (env.IsExceptionPending()) {
    // vm.ts's hooks do not throw; if one does anyway, report it like any throwing event listener.
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

void VmBinding::OnVmEvent(Napi::Env env, VmEvent& event) {
  switch (event.kind) {
    case VmEvent::Kind::kConsole:
      CallHook(env, "onConsole", {Napi::Buffer<char>::Copy(env, event.text.data(), event.text.size())});
      return;
    case VmEvent::Kind::kState:
      if (sf::vmm::is_final(event.state)) {
        SetKeepAlive(env, false);
      } else if (event.state == VmState::running || event.state == VmState::paused) {
        SetKeepAlive(env, true);
      }
      CallHook(env, "onState",
               {Napi::String::New(env, sf::vmm::to_string(event.state)), Napi::Number::New(env, event.exit_code),
                Napi::String::New(env, event.text)});
      return;
    case VmEvent::Kind::kGuestCall: {
      // While destroying, the VMM itself releases waiting vCPUs; JS must not start work it cannot answer.
      if (!vm_ || phase_ != Phase::kReady) return;
      Napi::Object self = Value();
      if (self.IsEmpty() || !self.Get("onGuestCall").IsFunction()) {
        AnswerFromBinding(event.call.id, SF_ENOSYS, "no guest-call handler is installed");
        return;
      }
      CallHook(env, "onGuestCall", {GuestCallToJs(env, event.call)});
      return;
    }
  }
}

namespace {

// sweepOverlays(dir): removes the overlay files a crash left in `dir` (sfld's start); the count removed.
// Throws an Error with `code` = the errno name's number (statusCode) when the directory cannot be read.
Napi::Value SweepOverlays(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "sweepOverlays(dir) takes a directory path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto removed = sf::devices::sweep_overlays(info[0].As<Napi::String>().Utf8Value());
  if (!removed.ok()) {
    Napi::Error e = Napi::Error::New(env, removed.status().message);
    e.Set("statusCode", Napi::Number::New(env, removed.status().code));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, removed.value());
}

}  // namespace

void RegisterVm(Napi::Env env, Napi::Object exports) {
  exports.Set("sweepOverlays", Napi::Function::New<SweepOverlays>(env, "sweepOverlays"));
  exports.Set("NativeVm", VmBinding::DefineClass(env));
  SnapshotBinding::Register(env, exports);
}

}  // namespace sf::binding
