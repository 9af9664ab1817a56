// NativeMemserver and remote clones from JS: a memserver serving one snapshot over UDP (started by the
// master's sfld at a fork), and the per-process cache of remote page sources + mirrors that clones of
// the same snapshot on this host share. Boundary: plumbing; the protocol is src/core/memserver.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/memserver/remote_source.h"

namespace snowflock::binding {

void RegisterMemserver(Napi::Env env, Napi::Object exports);

// The page source for clones of snapshot `snapshot_id` on this host: shared while any clone uses it.
sf::vmm::Result<std::shared_ptr<sf::memserver::RemotePageSource>> SharedRemoteSource(
    const sf::memserver::RemoteSourceConfig& config, uint64_t ram_bytes);

}  // namespace snowflock::binding
