// NativeSnapshot: the N-API handle on one sf::vmm::Snapshot (a fork's descriptor and frozen memory).
// NativeVm.fork() makes one; NativeVm.createClone() takes one. Boundary: holds and hands out, no logic.
#pragma once

#include <napi.h>

#include <optional>

#include "../core/vmm/fork.h"

namespace sf::binding {

class SnapshotBinding final : public Napi::ObjectWrap<SnapshotBinding> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  // A new JS NativeSnapshot holding `snapshot`.
  static Napi::Object Wrap(Napi::Env env, sf::vmm::Snapshot snapshot);
  // The snapshot inside `value` if it is a live NativeSnapshot; nullopt for anything else (or released).
  static std::optional<sf::vmm::Snapshot> From(Napi::Env env, const Napi::Value& value);

  explicit SnapshotBinding(const Napi::CallbackInfo& info);

 private:
  Napi::Value Descriptor(const Napi::CallbackInfo& info);  // () => Buffer (a copy)
  Napi::Value RamBytes(const Napi::CallbackInfo& info);    // () => number
  Napi::Value Timing(const Napi::CallbackInfo& info);      // () => {pauseNs, captureNs, freezeNs}
  Napi::Value Release(const Napi::CallbackInfo& info);     // () => void; clones keep their memory
  Napi::Value Released(const Napi::CallbackInfo& info);    // () => boolean

  sf::vmm::Snapshot snapshot_;
};

}  // namespace sf::binding
