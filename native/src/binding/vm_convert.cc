// Conversions between VMM types and JS values (see vm_convert.h).
// Boundary: checks types and ABI limits of what JS hands in; never trusts that vm.ts already did.
#include "vm_convert.h"

#include <errno.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "counters_to_js.h"

namespace sf::binding {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

Status Invalid(const std::string& what) { return Status::Error(EINVAL, what); }

// A JS number that is an integer in [lo, hi].
bool IntegerIn(const Napi::Value& v, double lo, double hi, double& out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < lo || d > hi) return false;
  out = d;
  return true;
}

Status ReadUint32(const Napi::Object& o, const char* key, const char* where, uint32_t& out) {
  double d = 0;
  if (!IntegerIn(o.Get(key), 0, 4294967295.0, d)) return Invalid(std::string(where) + "." + key + " must be a uint32");
  out = static_cast<uint32_t>(d);
  return Status::Ok();
}

Status ReadInt32(const Napi::Object& o, const char* key, const char* where, int32_t& out) {
  double d = 0;
  if (!IntegerIn(o.Get(key), -2147483648.0, 2147483647.0, d)) {
    return Invalid(std::string(where) + "." + key + " must be an int32");
  }
  out = static_cast<int32_t>(d);
  return Status::Ok();
}

Status ReadString(const Napi::Object& o, const char* key, const char* where, std::string& out) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) return Invalid(std::string(where) + "." + key + " must be a string");
  out = v.As<Napi::String>().Utf8Value();
  return Status::Ok();
}

// Copies `text` into a NUL-terminated char field of `size` bytes; it must fit with its terminator.
template <size_t N>
Status CopyCString(const std::string& text, char (&field)[N], const std::string& name) {
  if (text.size() >= N || std::memchr(text.data(), 0, text.size()) != nullptr) {
    return Invalid(name + " must be at most " + std::to_string(N - 1) + " bytes without NUL");
  }
  std::memcpy(field, text.data(), text.size());
  field[text.size()] = 0;
  return Status::Ok();
}

// The guest wrote these: stop at the terminator, never read past the field.
Napi::String FieldString(Napi::Env env, const char* field, size_t size) {
  const void* nul = std::memchr(field, 0, size);
  const size_t len = nul ? static_cast<size_t>(static_cast<const char*>(nul) - field) : size;
  return Napi::String::New(env, field, len);
}

// config.net: absent/null = no NIC; otherwise {tap, mac, ip, prefixLength, gateway: string | null, dns: string[]}.
Status NetConfigFromJs(const Napi::Value& value, std::optional<sf::devices::NetConfig>& out) {
  if (value.IsUndefined() || value.IsNull()) return Status::Ok();
  if (!value.IsObject()) return Invalid("net must be an object or null");
  const Napi::Object o = value.As<Napi::Object>();
  sf::devices::NetConfig n;
  if (Status s = ReadString(o, "tap", "net", n.tap); !s.ok()) return s;
  std::string text;
  if (Status s = ReadString(o, "mac", "net", text); !s.ok()) return s;
  if (!sf::devices::parse_mac(text, n.mac)) return Invalid("net.mac must be 'aa:bb:cc:dd:ee:ff', got '" + text + "'");
  if (Status s = ReadString(o, "ip", "net", text); !s.ok()) return s;
  if (!sf::devices::parse_ipv4(text, n.ip)) return Invalid("net.ip must be a dotted IPv4 address, got '" + text + "'");
  uint32_t prefix = 0;
  if (Status s = ReadUint32(o, "prefixLength", "net", prefix); !s.ok()) return s;
  if (prefix > 32) return Invalid("net.prefixLength must be 1 to 30");
  n.prefix_length = static_cast<uint8_t>(prefix);
  Napi::Value gateway = o.Get("gateway");
  if (!gateway.IsNull() && !gateway.IsUndefined()) {
    if (!gateway.IsString() || !sf::devices::parse_ipv4(gateway.As<Napi::String>().Utf8Value(), n.gateway)) {
      return Invalid("net.gateway must be a dotted IPv4 address or null");
    }
  }
  Napi::Value dns = o.Get("dns");
  if (!dns.IsArray()) return Invalid("net.dns must be an array of dotted IPv4 addresses");
  const Napi::Array list = dns.As<Napi::Array>();
  if (list.Length() > sf::devices::kMaxDnsServers) {
    return Invalid("net.dns has more than " + std::to_string(sf::devices::kMaxDnsServers) + " entries");
  }
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value d = list.Get(i);
    uint32_t ip = 0;
    if (!d.IsString() || !sf::devices::parse_ipv4(d.As<Napi::String>().Utf8Value(), ip)) {
      return Invalid("net.dns[" + std::to_string(i) + "] must be a dotted IPv4 address");
    }
    n.dns.push_back(ip);
  }
  if (Status s = sf::devices::check_net_config(n); !s.ok()) return Invalid(s.message);
  out = std::move(n);
  return Status::Ok();
}

// A path the caller names: a non-empty string without NUL.
Status ReadPath(const Napi::Object& o, const char* key, const char* where, std::string& out) {
  if (Status s = ReadString(o, key, where, out); !s.ok()) return s;
  if (out.empty() || out.find('\0') != std::string::npos) {
    return Invalid(std::string(where) + "." + key + " must be a non-empty path without NUL");
  }
  return Status::Ok();
}

// config.disk: absent/null = no disk; otherwise {image, overlayDir, id?: string}.
Status DiskConfigFromJs(const Napi::Value& value, std::optional<sf::vmm::DiskConfig>& out) {
  if (value.IsUndefined() || value.IsNull()) return Status::Ok();
  if (!value.IsObject()) return Invalid("disk must be an object or null");
  const Napi::Object o = value.As<Napi::Object>();
  sf::vmm::DiskConfig d;
  if (Status s = ReadPath(o, "image", "disk", d.image); !s.ok()) return s;
  if (Status s = ReadPath(o, "overlayDir", "disk", d.overlay_dir); !s.ok()) return s;
  if (Napi::Value id = o.Get("id"); !id.IsUndefined() && !id.IsNull()) {
    if (Status s = ReadString(o, "id", "disk", d.id); !s.ok()) return s;
  }
  out = std::move(d);
  return Status::Ok();
}

// clone options.disk: absent/null = none; otherwise {overlayDir} (the image is the snapshot's).
Status CloneDiskFromJs(const Napi::Value& value, std::optional<std::string>& out) {
  if (value.IsUndefined() || value.IsNull()) return Status::Ok();
  if (!value.IsObject()) return Invalid("clone options.disk must be an object or null");
  std::string dir;
  if (Status s = ReadPath(value.As<Napi::Object>(), "overlayDir", "disk", dir); !s.ok()) return s;
  out = std::move(dir);
  return Status::Ok();
}

}  // namespace

Status VmConfigFromJs(const Napi::Value& value, sf::vmm::VmConfig& config, std::string& image_path) {
  if (!value.IsObject()) return Invalid("config must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  double ram = 0;
  if (!IntegerIn(o.Get("ramBytes"), 0, kMaxSafeInteger, ram)) return Invalid("config.ramBytes must be a safe integer");
  config.ram_bytes = static_cast<uint64_t>(ram);
  if (Status s = ReadUint32(o, "vcpus", "config", config.vcpus); !s.ok()) return s;
  if (Status s = ReadUint32(o, "clusterid", "config", config.clusterid); !s.ok()) return s;
  if (Status s = ReadUint32(o, "vmid", "config", config.vmid); !s.ok()) return s;
  if (Status s = ReadString(o, "cmdline", "config", config.cmdline); !s.ok()) return s;
  if (Status s = ReadString(o, "imagePath", "config", image_path); !s.ok()) return s;
  std::string privilege;
  if (Status s = ReadString(o, "privilege", "config", privilege); !s.ok()) return s;
  if (privilege == "user") config.privilege = sf::vmm::GuestPrivilege::user;
  else if (privilege == "kernel") config.privilege = sf::vmm::GuestPrivilege::kernel;
  else return Invalid("config.privilege must be 'user' or 'kernel'");
  if (image_path.empty() || image_path.find('\0') != std::string::npos) {
    return Invalid("config.imagePath must be a non-empty path without NUL");
  }
  if (Status s = NetConfigFromJs(o.Get("net"), config.net); !s.ok()) return s;
  return DiskConfigFromJs(o.Get("disk"), config.disk);
}

Napi::Object GuestCallToJs(Napi::Env env, const sf::vmm::GuestCall& call) {
  const sf_hc_request& r = call.request;
  Napi::Object request = Napi::Object::New(env);
  request.Set("nr", Napi::Number::New(env, r.nr));
  request.Set("flags", Napi::Number::New(env, r.flags));
  request.Set("nclones", Napi::Number::New(env, r.nclones));
  request.Set("min", Napi::Number::New(env, r.min));
  request.Set("status", Napi::Number::New(env, r.status));
  request.Set("timeoutMs", Napi::Number::New(env, r.timeout_ms));
  request.Set("ticket", FieldString(env, r.ticket, sizeof r.ticket));

  Napi::Object o = Napi::Object::New(env);
  o.Set("id", Napi::BigInt::New(env, static_cast<uint64_t>(call.id)));
  o.Set("nr", Napi::Number::New(env, call.nr));
  o.Set("vcpu", Napi::Number::New(env, call.vcpu));
  o.Set("request", request);
  return o;
}

Status GuestReplyFromJs(const Napi::Value& value, sf_hc_reply& reply) {
  std::memset(&reply, 0, sizeof reply);
  if (!value.IsObject()) return Invalid("reply must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  int32_t status = 0;
  if (Status s = ReadInt32(o, "status", "reply", status); !s.ok()) return s;
  if (status > 0 || status < -SF_ECLONE) return Invalid("reply.status must be 0 or a negated SF_E* code");
  reply.status = status;
  if (Status s = ReadUint32(o, "count", "reply", reply.count); !s.ok()) return s;
  if (Status s = ReadInt32(o, "vmid", "reply", reply.vmid); !s.ok()) return s;
  if (Status s = ReadUint32(o, "nunused", "reply", reply.nunused); !s.ok()) return s;
  if (Status s = ReadUint32(o, "noutstanding", "reply", reply.noutstanding); !s.ok()) return s;

  std::string text;
  if (Status s = ReadString(o, "ticket", "reply", text); !s.ok()) return s;
  if (Status s = CopyCString(text, reply.ticket, "reply.ticket"); !s.ok()) return s;
  if (Status s = ReadString(o, "errmsg", "reply", text); !s.ok()) return s;
  if (Status s = CopyCString(text, reply.errmsg, "reply.errmsg"); !s.ok()) return s;

  Napi::Value tickets = o.Get("tickets");
  if (!tickets.IsArray()) return Invalid("reply.tickets must be an array");
  const Napi::Array list = tickets.As<Napi::Array>();
  if (list.Length() > SF_MAX_TICKETS) return Invalid("reply.tickets has more than SF_MAX_TICKETS entries");
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value t = list.Get(i);
    const std::string name = "reply.tickets[" + std::to_string(i) + "]";
    if (!t.IsString()) return Invalid(name + " must be a string");
    if (Status s = CopyCString(t.As<Napi::String>().Utf8Value(), reply.tickets[i], name); !s.ok()) return s;
  }

  Napi::Value alloc = o.Get("alloc");
  if (!alloc.IsArray()) return Invalid("reply.alloc must be an array");
  const Napi::Array allocs = alloc.As<Napi::Array>();
  if (allocs.Length() > SF_MAX_ALLOC) return Invalid("reply.alloc has more than SF_MAX_ALLOC entries");
  for (uint32_t i = 0; i < allocs.Length(); ++i) {
    Napi::Value a = allocs.Get(i);
    const std::string name = "reply.alloc[" + std::to_string(i) + "]";
    if (!a.IsObject()) return Invalid(name + " must be an object");
    const Napi::Object entry = a.As<Napi::Object>();
    if (Status s = ReadUint32(entry, "vmid", name.c_str(), reply.alloc[i].vmid); !s.ok()) return s;
    if (Status s = ReadUint32(entry, "processors", name.c_str(), reply.alloc[i].processors); !s.ok()) return s;
  }

  Napi::Value exits = o.Get("exits");
  if (exits.IsUndefined()) return Status::Ok();  // older callers: no join records
  if (!exits.IsArray()) return Invalid("reply.exits must be an array");
  const Napi::Array records = exits.As<Napi::Array>();
  if (records.Length() > SF_MAX_ALLOC) return Invalid("reply.exits has more than SF_MAX_ALLOC entries");
  for (uint32_t i = 0; i < records.Length(); ++i) {
    Napi::Value e = records.Get(i);
    const std::string name = "reply.exits[" + std::to_string(i) + "]";
    if (!e.IsObject()) return Invalid(name + " must be an object");
    const Napi::Object entry = e.As<Napi::Object>();
    if (Status s = ReadUint32(entry, "vmid", name.c_str(), reply.exits[i].vmid); !s.ok()) return s;
    if (Status s = ReadInt32(entry, "status", name.c_str(), reply.exits[i].status); !s.ok()) return s;
    if (Status s = ReadUint32(entry, "how", name.c_str(), reply.exits[i].how); !s.ok()) return s;
    if (reply.exits[i].how > SF_CLONE_KILLED) return Invalid(name + ".how must be an sf_exit_how value");
  }
  return Status::Ok();
}

Status CloneOptionsFromJs(const Napi::Value& value, uint32_t& vmid, sf::vmm::CloneOptions& options) {
  if (!value.IsObject()) return Invalid("clone options must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  if (Status s = ReadUint32(o, "vmid", "clone options", vmid); !s.ok()) return s;
  Napi::Value lazy = o.Get("lazy");
  if (!lazy.IsBoolean()) return Invalid("clone options.lazy must be a boolean");
  options.lazy = lazy.As<Napi::Boolean>().Value();
  // Absent: all of the parent's vCPUs (CloneOptions::vcpus = 0).
  if (Napi::Value v = o.Get("vcpus"); !v.IsUndefined() && !v.IsNull()) {
    if (Status s = ReadUint32(o, "vcpus", "clone options", options.vcpus); !s.ok()) return s;
    if (options.vcpus == 0) return Invalid("clone options.vcpus must be at least 1");
  }
  if (Status s = NetConfigFromJs(o.Get("net"), options.net); !s.ok()) return s;
  if (Status s = CloneDiskFromJs(o.Get("disk"), options.disk_overlay_dir); !s.ok()) return s;
  Napi::Value reply = o.Get("cloneReply");
  if (reply.IsNull() || reply.IsUndefined()) return Status::Ok();
  sf_hc_reply r;
  if (Status s = GuestReplyFromJs(reply, r); !s.ok()) return s;
  options.clone_reply = r;
  return Status::Ok();
}

Status CloneShapeFromJs(const Napi::Value& value, sf::vmm::CloneShape& shape) {
  if (!value.IsObject()) return Invalid("clone shape must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  double ram = 0;
  if (!IntegerIn(o.Get("ramBytes"), 0, 9007199254740991.0, ram))
    return Invalid("clone shape.ramBytes must be a safe integer");
  shape.ram_bytes = static_cast<uint64_t>(ram);
  if (Status s = ReadUint32(o, "vcpus", "clone shape", shape.vcpus); !s.ok()) return s;
  std::string privilege;
  if (Status s = ReadString(o, "privilege", "clone shape", privilege); !s.ok()) return s;
  if (privilege != "user" && privilege != "kernel") return Invalid("clone shape.privilege must be 'user' or 'kernel'");
  shape.privilege = privilege == "user" ? sf::vmm::GuestPrivilege::user : sf::vmm::GuestPrivilege::kernel;
  const Napi::Value remote = o.Get("remote");
  if (!remote.IsUndefined() && !remote.IsBoolean()) return Invalid("clone shape.remote must be a boolean");
  shape.remote = remote.IsBoolean() && remote.As<Napi::Boolean>().Value();
  return Status::Ok();
}

Napi::Object MemtapStatsToJs(Napi::Env env, const sf::memory::MemtapStats& s) { return CountersToJs(env, s); }

Napi::Object NetStatsToJs(Napi::Env env, const sf::devices::NetStats& s) { return CountersToJs(env, s); }

Napi::Object DiskStatsToJs(Napi::Env env, const sf::vmm::DiskStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", CountersToJs(env, s.device));
  o.Set("overlay", CountersToJs(env, s.overlay));
  o.Set("remote", s.remote ? Napi::Value(CountersToJs(env, *s.remote)) : env.Null());
  return o;
}

sf_hc_reply FailureReply(int sf_code, const std::string& message) {
  sf_hc_reply reply;
  std::memset(&reply, 0, sizeof reply);
  reply.status = -sf_code;
  const size_t n = std::min(message.size(), sizeof reply.errmsg - 1);
  std::memcpy(reply.errmsg, message.data(), n);
  return reply;
}

Napi::Object VmStatsToJs(Napi::Env env, const sf::vmm::VmStats& s, uint64_t console_bytes_dropped) {
  Napi::Object o = CountersToJs(env, s);
  // Not a VM counter: the binding's own count of console bytes JS fell too far behind to receive.
  o.Set("consoleBytesDropped", Napi::Number::New(env, static_cast<double>(console_bytes_dropped)));
  return o;
}

bool CallIdFromJs(const Napi::Value& value, uint64_t& id) {
  if (value.IsBigInt()) {
    bool lossless = false;
    id = value.As<Napi::BigInt>().Uint64Value(&lossless);
    return lossless;
  }
  double d = 0;
  if (!IntegerIn(value, 0, kMaxSafeInteger, d)) return false;
  id = static_cast<uint64_t>(d);
  return true;
}

}  // namespace sf::binding
