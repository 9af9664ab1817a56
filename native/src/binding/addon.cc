// Module entry point of snowflock.node: registers each binding's exports.
// Boundary: wiring only; every export is defined in its own *_binding.cc.
#include <napi.h>

#include "capabilities_binding.h"
#include "memserver_binding.h"
#include "vm_binding.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sf::binding::RegisterCapabilities(env, exports);
  sf::binding::RegisterVm(env, exports);
  sf::binding::RegisterMemserver(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(snowflock, Init)
