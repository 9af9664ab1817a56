// IPv4 endpoint parsing/formatting and UDP socket setup (see udp.h).
// Boundary: socket(2), bind(2), setsockopt(2); no I/O.
#include "udp.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>

namespace sf::memserver {

Result<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host = text;
  uint16_t port = 0;
  if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    const std::string_view ps = text.substr(colon + 1);
    unsigned v = 0;
    const auto [ptr, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), v);
    if (ps.empty() || ec != std::errc() || ptr != ps.data() + ps.size() || v > 65535) {
      return Status::Error(EINVAL, "bad port in endpoint '" + std::string(text) + "'");
    }
    port = static_cast<uint16_t>(v);
  }
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(host).c_str(), &a) != 1) {
    return Status::Error(EINVAL, "bad IPv4 address in endpoint '" + std::string(text) + "'");
  }
  return Endpoint{ntohl(a.s_addr), port};
}

sockaddr_in Endpoint::sockaddr() const {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(addr);
  sa.sin_port = htons(port);
  return sa;
}

Endpoint Endpoint::from(const sockaddr_in& sa) { return Endpoint{ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)}; }

std::string Endpoint::to_string() const {
  return std::to_string(addr >> 24) + "." + std::to_string((addr >> 16) & 0xff) + "." +
         std::to_string((addr >> 8) & 0xff) + "." + std::to_string(addr & 0xff) + ":" + std::to_string(port);
}

Result<UniqueFd> open_udp(const Endpoint& bind, Endpoint* bound, int rcvbuf, int sndbuf) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("socket(UDP)", errno);
  // FORCE needs CAP_NET_ADMIN; without it the plain option still gets up to the sysctl maximum.
  if (rcvbuf > 0 && ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  if (sndbuf > 0 && ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  const sockaddr_in sa = bind.sockaddr();
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    return Status::FromErrno("bind(UDP " + bind.to_string() + ")", errno);
  }
  sockaddr_in got{};
  socklen_t len = sizeof got;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&got), &len) != 0)
    return Status::FromErrno("getsockname", errno);
  if (bound != nullptr) *bound = Endpoint::from(got);
  return fd;
}

}  // namespace sf::memserver
