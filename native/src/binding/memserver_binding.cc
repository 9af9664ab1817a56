// NativeMemserver: ObjectWrap around sf::memserver::Memserver; the shared remote-source cache.
// Boundary: argument checks and conversion only. See memserver_binding.h.
#include "memserver_binding.h"

#include <map>
#include <mutex>

#include "../core/memserver/memserver.h"
#include "../core/memserver/mirror.h"
#include "../core/vmm/descriptor.h"
#include "addon_data.h"
#include "snapshot_binding.h"

namespace snowflock::binding {
namespace {

using sf::memserver::Endpoint;
using sf::vmm::Status;

Napi::Value Throw(Napi::Env env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

class MemserverBinding final : public Napi::ObjectWrap<MemserverBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeMemserver",
                       {InstanceMethod<&MemserverBinding::Endpoint>("endpoint"),
                        InstanceMethod<&MemserverBinding::Stats>("stats"),
                        InstanceMethod<&MemserverBinding::Stop>("stop")});
  }
  explicit MemserverBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemserverBinding>(info) {}
  std::unique_ptr<sf::memserver::Memserver> server;

 private:
  Napi::Value Endpoint(const Napi::CallbackInfo& info) {
    return server ? Napi::String::New(info.Env(), server->endpoint().to_string()) : info.Env().Null();
  }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    if (!server) return o;
    const auto s = server->stats();
    auto num = [&](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
    o.Set("requests", num(s.requests));
    o.Set("pagesServed", num(s.pages_served));
    o.Set("zeroPages", num(s.zero_pages));
    o.Set("datagramsSent", num(s.datagrams_sent));
    o.Set("bytesSent", num(s.bytes_sent));
    o.Set("sendErrors", num(s.send_errors));
    o.Set("dropped", num(s.dropped_total()));
    return o;
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (server) server->stop();
    server.reset();
    return info.Env().Undefined();
  }
};

// startMemserver(snapshot: NativeSnapshot, bind: 'a.b.c.d:port') => NativeMemserver (throws on failure).
Napi::Value StartMemserver(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto snapshot = SnapshotBinding::From(env, info[0]);
  if (!snapshot) return Throw(env, "startMemserver(): the first argument is not a live snapshot");
  if (!info[1].IsString()) return Throw(env, "startMemserver(): bind must be 'address:port'");
  auto bind = Endpoint::parse(info[1].As<Napi::String>().Utf8Value());
  if (!bind.ok()) return Throw(env, "startMemserver(): " + bind.status().message);
  auto d = sf::vmm::parse(snapshot->descriptor());
  if (!d.ok() || !d->identity) return Throw(env, "startMemserver(): the snapshot has no identity (not from a fork)");
  sf::memserver::MemserverConfig c;
  c.snapshot_fd = snapshot->memfd();
  c.ram_bytes = snapshot->ram_bytes();
  c.snapshot_id = d->identity->snapshot_id;
  c.key = d->identity->key;
  c.bind = bind.value();
  auto server = sf::memserver::Memserver::create(c);
  if (!server.ok()) return Throw(env, "startMemserver(): " + server.status().message);
  Napi::Object o = GetAddonData(env)->memserver_constructor.New({});
  MemserverBinding::Unwrap(o)->server = std::move(server).value();
  return o;
}

}  // namespace

sf::vmm::Result<std::shared_ptr<sf::memserver::RemotePageSource>> SharedRemoteSource(
    const sf::memserver::RemoteSourceConfig& config, uint64_t ram_bytes) {
  // One source (and one mirror) per snapshot per host: a page one clone fetched is there for the next.
  static std::mutex mu;
  static std::map<uint64_t, std::weak_ptr<sf::memserver::RemotePageSource>> cache;
  std::lock_guard lock(mu);
  for (auto it = cache.begin(); it != cache.end();) it = it->second.expired() ? cache.erase(it) : std::next(it);
  if (auto live = cache[config.snapshot_id].lock()) {
    if (live->bytes() < ram_bytes) return Status::Error(EINVAL, "snapshot size disagrees with an earlier clone's");
    return live;
  }
  auto mirror = sf::memserver::Mirror::create(config.snapshot_id, ram_bytes);
  if (!mirror.ok()) return mirror.status();
  auto source = sf::memserver::RemotePageSource::create(config, mirror.value());
  if (!source.ok()) return source.status();
  cache[config.snapshot_id] = source.value();
  return source;
}

void RegisterMemserver(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = MemserverBinding::Define(env);
  GetAddonData(env)->memserver_constructor = Napi::Persistent(ctor);
  exports.Set("startMemserver", Napi::Function::New(env, StartMemserver, "startMemserver"));
  exports.Set("NativeMemserver", ctor);
}

}  // namespace snowflock::binding
