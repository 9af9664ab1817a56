// UDP plumbing shared by the memserver and its clients: an IPv4 endpoint value and a socket opener.
// Boundary: addresses and socket options only; IPv4 because mcdist uses IPv4 multicast.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "../base/status.h"
#include "../base/unique_fd.h"

namespace sf::memserver {

struct Endpoint {
  uint32_t addr = 0;  // IPv4 address, host byte order (0x7f000001 = 127.0.0.1)
  uint16_t port = 0;  // host byte order; 0 when binding = any free port

  // "a.b.c.d:port" (the port may be omitted when binding: port 0).
  static Result<Endpoint> parse(std::string_view text);
  static Endpoint loopback(uint16_t port = 0) { return Endpoint{0x7f000001u, port}; }
  sockaddr_in sockaddr() const;
  static Endpoint from(const sockaddr_in& sa);
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

// A non-blocking, close-on-exec UDP socket bound to `bind` with receive/send buffers of about the
// given sizes (forced past rmem_max/wmem_max when the process may, since page replies come in bursts);
// `*bound` gets the address actually bound (the chosen port).
Result<UniqueFd> open_udp(const Endpoint& bind, Endpoint* bound, int rcvbuf, int sndbuf);

}  // namespace sf::memserver
