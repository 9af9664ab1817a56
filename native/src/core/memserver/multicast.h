// Multicast plumbing for mcdist (DESIGN §4.4 step 5): sender options, group receiver sockets, the
// interface MTU that sizes datagrams, a group derived from a snapshot id.
// Boundary: socket options and interface queries only; no I/O, no wire format.
#pragma once

#include <cstdint>
#include <string_view>

#include "../base/status.h"
#include "../base/unique_fd.h"
#include "udp.h"

namespace sf::memserver {

// How a memserver sends its replies (the sfld config key network_mode: "multicast", the default
// there, or "unicast").
enum class NetworkMode : uint8_t { unicast = 0, multicast = 1 };
Result<NetworkMode> parse_network_mode(std::string_view text);
const char* network_mode_name(NetworkMode mode);

// True for 224.0.0.0/4.
constexpr bool is_multicast(uint32_t addr) { return (addr >> 28) == 0xe; }

// Makes `fd` send multicast out of the interface that owns `interface_addr` (never the default
// route), with the given TTL (1: the datagrams never leave the link) and loopback delivery on (other
// receivers on this host are group members too).
Status set_multicast_sender(int fd, uint32_t interface_addr, int ttl);

// A non-blocking UDP socket bound to `group` (address and port, SO_REUSEADDR so every receiver on the
// host gets its own copy) that has joined `group` on the interface owning `interface_addr`; it hears
// that group and port only (IP_MULTICAST_ALL off).
Result<UniqueFd> open_group_receiver(const Endpoint& group, uint32_t interface_addr, int rcvbuf);

// The MTU of the interface that owns `addr` (EADDRNOTAVAIL if none does).
Result<uint32_t> interface_mtu(uint32_t addr);
// The UDP payload one IPv4 datagram carries on a path of this MTU without IP fragmentation.
constexpr uint32_t datagram_for_mtu(uint32_t mtu) { return mtu > 28 ? mtu - 28 : 0; }

// An administratively scoped group (239.0.0.0/8) for a snapshot, so hosts agree on it from the id
// alone: 239.a.b.c with a.b.c from a hash of the id (never .0 or .255 in the last byte).
Endpoint derive_multicast_group(uint64_t snapshot_id, uint16_t port);

}  // namespace sf::memserver
