// hostCapabilities(): runs the core probe and hands its result to JS with camelCase fields.
// Boundary: field-by-field conversion, no decisions; shape checks and types live in native/lib.
#include "capabilities_binding.h"

#include <string>
#include <vector>

#include "../core/base/capabilities.h"
#include "../core/base/host_tuning.h"

namespace sf::binding {
namespace {

// The core uses "" for "no error"; JS callers get null so `if (caps.kvm.error)` reads naturally.
Napi::Value ErrorOrNull(Napi::Env env, const std::string& error) {
  if (error.empty()) return env.Null();
  return Napi::String::New(env, error);
}

Napi::Array Strings(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(static_cast<uint32_t>(i), values[i]);
  return array;
}

Napi::Object KvmToJs(Napi::Env env, const KvmInfo& kvm) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", kvm.available);
  o.Set("apiVersion", kvm.api_version);
  o.Set("error", ErrorOrNull(env, kvm.error));
  o.Set("maxVcpus", kvm.max_vcpus);
  o.Set("nrVcpus", kvm.nr_vcpus);
  o.Set("nrMemslots", kvm.nr_memslots);
  o.Set("vcpuMmapSize", kvm.vcpu_mmap_size);
  o.Set("xsave2Size", kvm.xsave2_size);
  o.Set("hasUserMemory", kvm.has_user_memory);
  o.Set("hasSyncMmu", kvm.has_sync_mmu);
  o.Set("hasIrqchip", kvm.has_irqchip);
  o.Set("hasSplitIrqchip", kvm.has_split_irqchip);
  o.Set("hasPit2", kvm.has_pit2);
  o.Set("hasIrqfd", kvm.has_irqfd);
  o.Set("hasIoeventfd", kvm.has_ioeventfd);
  o.Set("hasImmediateExit", kvm.has_immediate_exit);
  return o;
}

Napi::Object UffdToJs(Napi::Env env, const UffdInfo& uffd) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", uffd.available);
  // api (0xAA) and the feature mask (bits < 53) are exact as JS numbers. The ioctl mask is not
  // (bit 63 is UFFDIO_API), so only its names cross over.
  o.Set("api", Napi::Number::New(env, static_cast<double>(uffd.api)));
  o.Set("featureMask", Napi::Number::New(env, static_cast<double>(uffd.features)));
  o.Set("features", Strings(env, uffd.feature_names));
  o.Set("ioctls", Strings(env, uffd.ioctl_names));
  o.Set("openedVia", UffdOpenPathName(uffd.opened_via));
  o.Set("kernelFaults", uffd.kernel_faults);
  o.Set("error", ErrorOrNull(env, uffd.error));
  return o;
}

Napi::Value HostCapabilitiesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const HostCapabilities caps = ProbeHostCapabilities();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpus", caps.cpus);
  // Exact up to 8 PiB, far beyond any host's RAM.
  o.Set("ramBytes", Napi::Number::New(env, static_cast<double>(caps.ram_bytes)));
  o.Set("kernelRelease", caps.kernel_release);
  o.Set("kvm", KvmToJs(env, caps.kvm));
  o.Set("userfaultfd", UffdToJs(env, caps.uffd));
  return o;
}

}  // namespace

Napi::Value ShmemHugePagesToJs(Napi::Env env, const ShmemHugePages& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("mode", s.mode);
  o.Set("usable", s.usable);
  o.Set("changed", s.changed);
  o.Set("error", ErrorOrNull(env, s.error));
  return o;
}

Napi::Value ShmemHugePagesJs(const Napi::CallbackInfo& info) {
  return ShmemHugePagesToJs(info.Env(), probe_shmem_huge_pages());
}

Napi::Value AllowShmemHugePagesJs(const Napi::CallbackInfo& info) {
  return ShmemHugePagesToJs(info.Env(), allow_shmem_huge_pages());
}

void RegisterCapabilities(Napi::Env env, Napi::Object exports) {
  exports.Set("hostCapabilities", Napi::Function::New(env, HostCapabilitiesJs, "hostCapabilities"));
  exports.Set("shmemHugePages", Napi::Function::New(env, ShmemHugePagesJs, "shmemHugePages"));
  exports.Set("allowShmemHugePages", Napi::Function::New(env, AllowShmemHugePagesJs, "allowShmemHugePages"));
}

}  // namespace sf::binding
