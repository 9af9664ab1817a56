// NativeMemserver and remote clones from JS: a memserver serving one snapshot over UDP (started by the
// master's sfld at a fork), and the per-process cache of remote page sources + mirrors that clones of
// the same snapshot on this host share. Boundary: plumbing; the protocol is src/core/memserver.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/devices/remote_disk.h"
#include "../core/memserver/remote_source.h"
#include "../core/vmm/descriptor.h"

namespace sf::binding {

void RegisterMemserver(Napi::Env env, Napi::Object exports);

// A remote clone's source options from createRemoteClone's options object: server, bind ('127.0.0.1:0'
// by default), group (null/absent: unicast replies), interface (default: the bind address, or
// 127.0.0.1), dropForTest. Fills the network fields of `config`.
sf::Status RemoteSourceOptionsFromJs(const Napi::Object& options, sf::memserver::RemoteSourceConfig& config);

// The page source for clones of snapshot `snapshot_id` on this host: shared while any clone uses it; the
// first clone's network options make it, a later clone asking for another group is refused (EINVAL).
// `disk_bytes` > 0: the snapshot has a disk of that size, fetched into the source's disk mirror.
sf::Result<std::shared_ptr<sf::memserver::RemotePageSource>> SharedRemoteSource(
    const sf::memserver::RemoteSourceConfig& config, uint64_t ram_bytes, uint64_t disk_bytes = 0);

// The disk size a descriptor's virtio-blk state records (0: the parent had no disk); EINVAL if unreadable.
sf::Result<uint64_t> DescriptorDiskBytes(const sf::vmm::Descriptor& d);

// A remote clone's disk snapshot: its reads fetch blocks through `source` (whose disk mirror holds them).
sf::Result<std::shared_ptr<sf::devices::RemoteDisk>> RemoteDiskFor(
    std::shared_ptr<sf::memserver::RemotePageSource> source, uint64_t disk_bytes);

}  // namespace sf::binding
