// NativeMemserver: ObjectWrap around sf::memserver::Memserver (options from JS, stats to JS); the
// remote-clone side: a clone's remote-source options and the per-host cache of shared sources.
// Boundary: argument checks and conversion only (the protocol is src/core/memserver). See memserver_binding.h.
#include "memserver_binding.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "../core/devices/virtio_blk.h"
#include "../core/memserver/disk_fetcher.h"
#include "../core/memserver/memserver.h"
#include "../core/memserver/mirror.h"
#include "../core/memserver/multicast.h"
#include "../core/vmm/descriptor.h"
#include "addon_data.h"
#include "counters_to_js.h"
#include "snapshot_binding.h"

namespace sf::binding {
namespace {

using sf::memserver::Endpoint;

Napi::Value Throw(Napi::Env env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Number Num(Napi::Env env, uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }

// 'a.b.c.d' (no port) → its address; 0.0.0.0 is no interface.
sf::Result<uint32_t> InterfaceAddress(const std::string& text, const char* what) {
  if (text.find(':') != std::string::npos)
    return Status::Error(EINVAL, std::string(what) + " must be an IPv4 address without a port, not '" + text + "'");
  auto e = Endpoint::parse(text);
  if (!e.ok()) return Status::Error(EINVAL, std::string(what) + ": " + e.status().message);
  if (e->addr == 0 || sf::memserver::is_multicast(e->addr)) {
    return Status::Error(EINVAL, std::string(what) + " must be a unicast address of this host, not '" + text + "'");
  }
  return e->addr;
}

// Multicast leaves by the interface the socket is bound to, unless told otherwise; the wildcard binds
// to no interface, and the default route is never the right one, so loopback then.
uint32_t DefaultInterface(const Endpoint& bind) { return bind.addr != 0 ? bind.addr : 0x7f000001u; }

sf::Result<Endpoint> GroupEndpoint(const std::string& text) {
  auto g = Endpoint::parse(text);
  if (!g.ok()) return Status::Error(EINVAL, "group: " + g.status().message);
  if (!sf::memserver::is_multicast(g->addr)) {
    return Status::Error(EINVAL, "group must be a multicast address (224.0.0.0/4) with a port, not '" + text + "'");
  }
  return g.value();
}

// A double in [lo, hi] from an optional property (undefined → `fallback`).
Status ReadFraction(const Napi::Object& o, const char* key, double lo, double hi, double fallback, double& out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    out = fallback;
    return Status::Ok();
  }
  if (!v.IsNumber()) return Status::Error(EINVAL, std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi))
    return Status::Error(EINVAL,
                         std::string(key) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  out = d;
  return Status::Ok();
}

sf::Result<std::string> ReadOptionalString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::string();
  if (!v.IsString()) return Status::Error(EINVAL, std::string(key) + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty()) return Status::Error(EINVAL, std::string(key) + " must not be empty");
  return s;
}

// The MemserverConfig fields JS may set: {bind, mode?, group?, interface?, maxDatagram?, lossForTest?,
// reap? (default true), workingSet?: {pages: Uint32Array} | null}.
Status MemserverOptionsFromJs(const Napi::Value& value, uint64_t snapshot_id, sf::memserver::MemserverConfig& c) {
  if (!value.IsObject()) return Status::Error(EINVAL, "options must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  if (!o.Get("bind").IsString()) return Status::Error(EINVAL, "bind must be 'address:port'");
  auto bind = Endpoint::parse(o.Get("bind").As<Napi::String>().Utf8Value());
  if (!bind.ok()) return Status::Error(EINVAL, "bind: " + bind.status().message);
  if (sf::memserver::is_multicast(bind->addr))
    return Status::Error(EINVAL, "bind must be a unicast address of this host");
  c.bind = bind.value();
  auto mode = ReadOptionalString(o, "mode");
  if (!mode.ok()) return mode.status();
  if (!mode->empty()) {
    auto m = sf::memserver::parse_network_mode(mode.value());
    if (!m.ok()) return Status::Error(EINVAL, "mode must be 'multicast' or 'unicast', not '" + mode.value() + "'");
    c.mode = m.value();
  }
  // Group and interface are checked in either mode (a typo should not wait for the mode to change).
  auto group = ReadOptionalString(o, "group");
  if (!group.ok()) return group.status();
  if (!group->empty()) {
    auto g = GroupEndpoint(group.value());
    if (!g.ok()) return g.status();
    c.group = g.value();
  } else {
    c.group = sf::memserver::derive_multicast_group(snapshot_id, 0);  // port 0: the server's own
  }
  auto iface = ReadOptionalString(o, "interface");
  if (!iface.ok()) return iface.status();
  c.multicast_interface = DefaultInterface(c.bind);
  if (!iface->empty()) {
    auto a = InterfaceAddress(iface.value(), "interface");
    if (!a.ok()) return a.status();
    c.multicast_interface = a.value();
  }
  Napi::Value md = o.Get("maxDatagram");
  if (!md.IsUndefined()) {
    const double d = md.IsNumber() ? md.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= sf::memserver::kMaxDatagram) || std::floor(d) != d) {
      return Status::Error(EINVAL, "maxDatagram must be 0 (from the interface MTU) or a datagram size up to " +
                                       std::to_string(sf::memserver::kMaxDatagram));
    }
    c.max_datagram = static_cast<uint32_t>(d);
  }
  Napi::Value reap = o.Get("reap");
  if (!reap.IsUndefined() && !reap.IsBoolean()) return Status::Error(EINVAL, "reap must be a boolean");
  c.reap = reap.IsUndefined() ? true : reap.As<Napi::Boolean>().Value();
  Napi::Value ws = o.Get("workingSet");
  if (!ws.IsUndefined() && !ws.IsNull()) {
    Napi::Value pages = ws.IsObject() ? ws.As<Napi::Object>().Get("pages") : Napi::Value();
    if (pages.IsEmpty() || !pages.IsTypedArray() ||
        pages.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      return Status::Error(EINVAL, "workingSet.pages must be a Uint32Array");
    }
    // Copied: the server keeps only its own bits, and any page number is safe (clipped there).
    auto a = pages.As<Napi::Uint32Array>();
    c.working_set_seed.assign(a.Data(), a.Data() + a.ElementLength());
  }
  return ReadFraction(o, "lossForTest", 0.0, 0.5, 0.0, c.send_drop_for_test);
}

class MemserverBinding final : public Napi::ObjectWrap<MemserverBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeMemserver",
        {InstanceMethod<&MemserverBinding::Endpoint>("endpoint"), InstanceMethod<&MemserverBinding::Mode>("mode"),
         InstanceMethod<&MemserverBinding::Group>("group"), InstanceMethod<&MemserverBinding::Stats>("stats"),
         InstanceMethod<&MemserverBinding::WorkingSet>("workingSet"), InstanceMethod<&MemserverBinding::Stop>("stop"),
         InstanceMethod<&MemserverBinding::StallForTest>("stallForTest")});
  }
  explicit MemserverBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemserverBinding>(info) {}
  void Adopt(std::unique_ptr<sf::memserver::Memserver> s, uint64_t ram_bytes) {
    server_ = std::move(s);
    endpoint_ = server_->endpoint();
    mode_ = server_->mode();
    group_ = server_->group();
    ram_bytes_ = ram_bytes;
  }

 private:
  Napi::Value Endpoint(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), endpoint_.to_string()); }
  Napi::Value Mode(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), sf::memserver::network_mode_name(mode_));
  }
  Napi::Value Group(const Napi::CallbackInfo& info) {
    if (mode_ != sf::memserver::NetworkMode::multicast) return info.Env().Null();
    return Napi::String::New(info.Env(), group_.to_string());
  }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    return CountersToJs(info.Env(), server_ ? server_->stats() : final_stats_);
  }
  // {ramBytes, pages: Uint32Array}: what the next fork's memserver is given as its workingSet.
  Napi::Value WorkingSet(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::vector<uint32_t> pages = server_ ? server_->working_set() : final_working_set_;
    auto a = Napi::Uint32Array::New(env, pages.size());
    if (!pages.empty()) std::memcpy(a.Data(), pages.data(), pages.size() * sizeof(uint32_t));
    Napi::Object o = Napi::Object::New(env);
    o.Set("ramBytes", Num(env, ram_bytes_));
    o.Set("pages", a);
    return o;
  }
  // Test hook: while stalled the server reads requests and answers none (a paused or hung host).
  Napi::Value StallForTest(const Napi::CallbackInfo& info) {
    if (server_) server_->set_stall_for_test(info.Length() > 0 && info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    // The figures and the working set outlive the server (callers read them after stopping it, the
    // working set at the next fork); the snapshot fd must not.
    if (server_) {
      server_->stop();
      final_stats_ = server_->stats();
      final_working_set_ = server_->working_set();
    }
    server_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<sf::memserver::Memserver> server_;
  sf::memserver::Endpoint endpoint_, group_;
  sf::memserver::NetworkMode mode_ = sf::memserver::NetworkMode::unicast;
  uint64_t ram_bytes_ = 0;
  sf::memserver::MemserverStats final_stats_;
  std::vector<uint32_t> final_working_set_;
};

// startMemserver(snapshot: NativeSnapshot, options: {bind, mode?, ...}) => NativeMemserver (throws on failure).
Napi::Value StartMemserver(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto snapshot = SnapshotBinding::From(env, info[0]);
  if (!snapshot) return Throw(env, "startMemserver(): the first argument is not a live snapshot");
  auto d = sf::vmm::parse(snapshot->descriptor());
  if (!d.ok() || !d->identity) return Throw(env, "startMemserver(): the snapshot has no identity (not from a fork)");
  sf::memserver::MemserverConfig c;
  c.snapshot_fd = snapshot->memfd();
  c.ram_bytes = snapshot->ram_bytes();
  c.snapshot_id = d->identity->snapshot_id;
  c.key = d->identity->key;
  c.disk = snapshot->disk();  // a fork with a disk serves its blocks too (and keeps the snapshot's files open)
  if (Status s = MemserverOptionsFromJs(info[1], c.snapshot_id, c); !s.ok())
    return Throw(env, "startMemserver(): " + s.message);
  auto server = sf::memserver::Memserver::create(c);
  if (!server.ok()) return Throw(env, "startMemserver(): " + server.status().message);
  Napi::Object o = GetAddonData(env)->memserver_constructor.New({});
  MemserverBinding::Unwrap(o)->Adopt(std::move(server).value(), c.ram_bytes);
  return o;
}

std::mutex cache_mu;
std::map<uint64_t, std::weak_ptr<sf::memserver::RemotePageSource>> cache;  // by snapshot id

// remoteSourceStats(snapshotId: 16 hex digits) => {...} | null: this host's shared source for that
// snapshot (every remote clone of it here reads through the same one), null if none lives.
Napi::Value RemoteSourceStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return Throw(env, "remoteSourceStats(): the snapshot id must be a hex string");
  const std::string hex = info[0].As<Napi::String>().Utf8Value();
  uint64_t id = 0;
  const auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), id, 16);
  if (hex.empty() || ec != std::errc() || ptr != hex.data() + hex.size())
    return Throw(env, "remoteSourceStats(): bad snapshot id '" + hex + "'");
  std::shared_ptr<sf::memserver::RemotePageSource> live;
  {
    std::lock_guard lock(cache_mu);
    if (auto it = cache.find(id); it != cache.end()) live = it->second.lock();
  }
  if (!live) return env.Null();
  return CountersToJs(env, live->stats());
}

}  // namespace

Status RemoteSourceOptionsFromJs(const Napi::Object& o, sf::memserver::RemoteSourceConfig& rc) {
  auto endpoint = [&](const char* key, const char* fallback) -> sf::Result<Endpoint> {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() && fallback != nullptr) return Endpoint::parse(fallback);
    if (!v.IsString())
      return Status::Error(EINVAL, std::string("createRemoteClone(): ") + key + " must be 'address:port'");
    auto e = Endpoint::parse(v.As<Napi::String>().Utf8Value());
    if (!e.ok()) return Status::Error(EINVAL, std::string("createRemoteClone(): ") + key + ": " + e.status().message);
    return e;
  };
  auto server = endpoint("server", nullptr);
  if (!server.ok()) return server.status();
  auto bind = endpoint("bind", "127.0.0.1:0");
  if (!bind.ok()) return bind.status();
  rc.server = server.value();
  rc.bind = bind.value();
  rc.group = Endpoint{};
  if (Napi::Value g = o.Get("group"); !g.IsUndefined() && !g.IsNull()) {
    if (!g.IsString()) return Status::Error(EINVAL, "createRemoteClone(): group must be 'address:port' or null");
    auto ge = GroupEndpoint(g.As<Napi::String>().Utf8Value());
    if (!ge.ok()) return Status::Error(EINVAL, "createRemoteClone(): " + ge.status().message);
    rc.group = ge.value();
  }
  auto iface = ReadOptionalString(o, "interface");
  if (!iface.ok()) return Status::Error(EINVAL, "createRemoteClone(): " + iface.status().message);
  rc.multicast_interface = DefaultInterface(rc.bind);
  if (!iface->empty()) {
    auto a = InterfaceAddress(iface.value(), "interface");
    if (!a.ok()) return Status::Error(EINVAL, "createRemoteClone(): " + a.status().message);
    rc.multicast_interface = a.value();
  }
  if (Status s = ReadFraction(o, "dropForTest", 0.0, 0.5, 0.0, rc.drop_for_test); !s.ok()) {
    return Status::Error(EINVAL, "createRemoteClone(): " + s.message);
  }
  double liveness_ms = 0;
  if (Status s = ReadFraction(o, "pageLivenessMs", 100, 3600000, static_cast<double>(rc.timeout.count()), liveness_ms);
      !s.ok()) {
    return Status::Error(EINVAL, "createRemoteClone(): " + s.message);
  }
  rc.timeout = std::chrono::milliseconds(static_cast<int64_t>(liveness_ms));
  return Status::Ok();
}

sf::Result<uint64_t> DescriptorDiskBytes(const sf::vmm::Descriptor& d) {
  for (const auto& dev : d.devices) {
    if (dev.device_id != sf::devices::kDeviceIdBlock) continue;
    auto bytes = sf::devices::blk_state_capacity(dev.device);
    if (!bytes.ok()) return Status::Error(EINVAL, "malformed descriptor: " + bytes.status().message);
    if (bytes.value() == 0 || bytes.value() % sf::devices::kSectorBytes != 0 ||
        bytes.value() > sf::devices::kMaxDiskBytes) {
      return Status::Error(EINVAL, "malformed descriptor: a disk of " + std::to_string(bytes.value()) + " bytes");
    }
    return bytes.value();
  }
  return uint64_t{0};
}

sf::Result<std::shared_ptr<sf::devices::RemoteDisk>> RemoteDiskFor(
    std::shared_ptr<sf::memserver::RemotePageSource> source, uint64_t disk_bytes) {
  auto fetcher = sf::memserver::DiskFetcher::create(std::move(source), disk_bytes);
  if (!fetcher.ok()) return fetcher.status();
  return sf::devices::RemoteDisk::create(std::move(fetcher).value());
}

sf::Result<std::shared_ptr<sf::memserver::RemotePageSource>> SharedRemoteSource(
    const sf::memserver::RemoteSourceConfig& config, uint64_t ram_bytes, uint64_t disk_bytes) {
  const uint64_t disk_blocks = (disk_bytes + sf::memserver::kWirePage - 1) / sf::memserver::kWirePage;
  // One source (and one mirror) per snapshot per host: a page one clone fetched is there for the next.
  std::lock_guard lock(cache_mu);
  for (auto it = cache.begin(); it != cache.end();) it = it->second.expired() ? cache.erase(it) : std::next(it);
  if (auto live = cache[config.snapshot_id].lock()) {
    if (live->bytes() < ram_bytes) return Status::Error(EINVAL, "snapshot size disagrees with an earlier clone's");
    const uint64_t live_blocks = live->disk_mirror() ? live->disk_mirror()->pages() : 0;
    if (live_blocks != disk_blocks)
      return Status::Error(EINVAL, "the snapshot's disk size disagrees with an earlier clone's descriptor");
    // The first clone's network options made the source; a clone wanting another group would silently
    // get nothing through it (or everything twice), so say so.
    const Endpoint want =
        config.group.addr == 0
            ? Endpoint{}
            : Endpoint{config.group.addr, config.group.port != 0 ? config.group.port : config.server.port};
    if (!(want == live->group())) {
      auto name = [](const Endpoint& g) {
        return g.addr == 0 ? std::string("unicast replies") : "group " + g.to_string();
      };
      char id[17];
      std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(config.snapshot_id));
      return Status::Error(
          EINVAL, std::string("clones of snapshot ") + id + " on this host already receive " + name(live->group()) +
                      "; this clone asks for " + name(want) +
                      " (all clones of a snapshot on a host share one source: give them the same group)");
    }
    return live;
  }
  auto mirror = sf::memserver::Mirror::create(config.snapshot_id, ram_bytes);
  if (!mirror.ok()) return mirror.status();
  // The disk's blocks get a host mirror of their own (a memfd of the disk's size, filled as read).
  std::shared_ptr<sf::memserver::Mirror> disk_mirror;
  if (disk_blocks > 0) {
    auto m = sf::memserver::Mirror::create(config.snapshot_id, disk_blocks * sf::memserver::kWirePage);
    if (!m.ok()) return m.status();
    disk_mirror = std::move(m).value();
  }
  auto source = sf::memserver::RemotePageSource::create(config, mirror.value(), std::move(disk_mirror));
  if (!source.ok()) return source.status();
  cache[config.snapshot_id] = source.value();
  return source;
}

void RegisterMemserver(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = MemserverBinding::Define(env);
  GetAddonData(env)->memserver_constructor = Napi::Persistent(ctor);
  exports.Set("startMemserver", Napi::Function::New(env, StartMemserver, "startMemserver"));
  exports.Set("remoteSourceStats", Napi::Function::New(env, RemoteSourceStats, "remoteSourceStats"));
  exports.Set("NativeMemserver", ctor);
}

}  // namespace sf::binding
