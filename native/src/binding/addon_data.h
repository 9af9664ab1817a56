// Per-environment data of the addon: the constructors the bindings need to make and recognise their
// objects. Boundary: N-API allows one instance-data pointer per environment; every binding shares it here.
#pragma once

#include <napi.h>

namespace sf::binding {

struct AddonData {
  Napi::FunctionReference snapshot_constructor;
  Napi::FunctionReference memserver_constructor;
  Napi::FunctionReference vm_constructor;  // forkInto() recognises its shells by it
};

// Created on first use; freed with the environment.
inline AddonData* GetAddonData(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr) {
    data = new AddonData();
    env.SetInstanceData(data);
  }
  return data;
}

}  // namespace sf::binding
