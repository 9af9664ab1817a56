// NativeSnapshot: ObjectWrap around sf::vmm::Snapshot. See snapshot_binding.h.
// Boundary: the constructor lives in the addon's data (addon_data.h) so From() can tell a real handle from a fake.
#include "snapshot_binding.h"

#include <cinttypes>
#include <cstdio>

#include "../core/devices/virtio_blk.h"
#include "../core/vmm/descriptor.h"
#include "addon_data.h"

namespace sf::binding {
namespace {

Napi::FunctionReference& Constructor(Napi::Env env) { return GetAddonData(env)->snapshot_constructor; }

// inspectDescriptor(Buffer) => {snapshotId: string | null, ramBytes, vcpus, dataPages: number | null,
// diskBytes: number | null, diskId: string | null}:
// parses with the same checks a clone applies, so a receiver can verify what it was sent before using it.
Napi::Value InspectDescriptor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(env, "inspectDescriptor() needs the descriptor as a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  auto parsed = sf::vmm::parse({buf.Data(), buf.Length()});
  if (!parsed.ok()) {
    Napi::Error::New(env, "not a valid descriptor: " + parsed.status().message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const sf::vmm::Descriptor& d = parsed.value();
  Napi::Object o = Napi::Object::New(env);
  if (d.identity) {
    char id[17];
    std::snprintf(id, sizeof id, "%016" PRIx64, d.identity->snapshot_id);
    o.Set("snapshotId", Napi::String::New(env, id));
  } else {
    o.Set("snapshotId", env.Null());
  }
  o.Set("ramBytes", Napi::Number::New(env, static_cast<double>(d.ram_bytes)));
  o.Set("vcpus", Napi::Number::New(env, d.vcpus));
  if (d.data_extents) {
    uint64_t pages = 0;
    for (const auto& e : *d.data_extents) pages += e.count;
    o.Set("dataPages", Napi::Number::New(env, static_cast<double>(pages)));
  } else {
    o.Set("dataPages", env.Null());
  }
  // The disk snapshot's size and id (a clone on another host fetches its blocks), or null without a disk.
  o.Set("diskBytes", env.Null());
  o.Set("diskId", env.Null());
  for (const auto& dev : d.devices) {
    if (dev.device_id != sf::devices::kDeviceIdBlock) continue;
    auto blk = sf::devices::parse_blk_state(dev.device);
    if (blk.ok()) {
      o.Set("diskBytes", Napi::Number::New(env, static_cast<double>(blk->capacity_bytes)));
      o.Set("diskId", Napi::String::New(env, blk->id));
    }
    break;
  }
  return o;
}

}  // namespace

void SnapshotBinding::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeSnapshot",
                                    {
                                        InstanceMethod<&SnapshotBinding::Descriptor>("descriptor"),
                                        InstanceMethod<&SnapshotBinding::RamBytes>("ramBytes"),
                                        InstanceMethod<&SnapshotBinding::Timing>("timing"),
                                        InstanceMethod<&SnapshotBinding::Release>("release"),
                                        InstanceMethod<&SnapshotBinding::Released>("released"),
                                    });
  Constructor(env) = Napi::Persistent(ctor);
  exports.Set("NativeSnapshot", ctor);
  exports.Set("inspectDescriptor", Napi::Function::New(env, InspectDescriptor, "inspectDescriptor"));
}

Napi::Object SnapshotBinding::Wrap(Napi::Env env, sf::vmm::Snapshot snapshot) {
  Napi::Object o = Constructor(env).New({});
  Unwrap(o)->snapshot_ = std::move(snapshot);
  return o;
}

std::optional<sf::vmm::Snapshot> SnapshotBinding::From(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) return std::nullopt;
  bool is = false;
  if (napi_instanceof(env, value, Constructor(env).Value(), &is) != napi_ok || !is) return std::nullopt;
  SnapshotBinding* self = Unwrap(value.As<Napi::Object>());
  if (self == nullptr || !self->snapshot_.valid()) return std::nullopt;
  return self->snapshot_;
}

SnapshotBinding::SnapshotBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SnapshotBinding>(info) {}

Napi::Value SnapshotBinding::Descriptor(const Napi::CallbackInfo& info) {
  auto d = snapshot_.descriptor();
  return Napi::Buffer<uint8_t>::Copy(info.Env(), d.data(), d.size());
}

Napi::Value SnapshotBinding::RamBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(snapshot_.ram_bytes()));
}

Napi::Value SnapshotBinding::Timing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = snapshot_.timing();
  Napi::Object o = Napi::Object::New(env);
  o.Set("pauseNs", Napi::Number::New(env, static_cast<double>(t.pause_ns)));
  o.Set("captureNs", Napi::Number::New(env, static_cast<double>(t.capture_ns)));
  o.Set("freezeNs", Napi::Number::New(env, static_cast<double>(t.freeze_ns)));
  return o;
}

Napi::Value SnapshotBinding::Release(const Napi::CallbackInfo& info) {
  // Clones made from it keep their own reference to the frozen memory; only new clones become impossible.
  snapshot_ = sf::vmm::Snapshot();
  return info.Env().Undefined();
}

Napi::Value SnapshotBinding::Released(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !snapshot_.valid());
}

}  // namespace sf::binding
