// Multicast socket options, group receivers and interface MTUs (see multicast.h).
// Boundary: setsockopt(2), bind(2), getifaddrs(3), SIOCGIFMTU; no datagrams sent or read.
#include "multicast.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sf::memserver {

namespace {

std::string addr_text(uint32_t addr) {
  const std::string s = Endpoint{addr, 0}.to_string();
  return s.substr(0, s.rfind(':'));
}

}  // namespace

Result<NetworkMode> parse_network_mode(std::string_view text) {
  if (text == "multicast") return NetworkMode::multicast;
  if (text == "unicast") return NetworkMode::unicast;
  return Status::Error(EINVAL, "network_mode must be 'multicast' or 'unicast', not '" + std::string(text) + "'");
}

const char* network_mode_name(NetworkMode mode) { return mode == NetworkMode::multicast ? "multicast" : "unicast"; }

Status set_multicast_sender(int fd, uint32_t interface_addr, int ttl) {
  if (interface_addr == 0 || is_multicast(interface_addr)) {
    return Status::Error(
        EINVAL, "multicast interface must be a unicast address of this host, not " + addr_text(interface_addr));
  }
  // Without an explicit interface the kernel would pick the default route's: never send there.
  in_addr ifa{};
  ifa.s_addr = htonl(interface_addr);
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa) != 0) {
    return Status::FromErrno("IP_MULTICAST_IF " + addr_text(interface_addr), errno);
  }
  const unsigned char t = static_cast<unsigned char>(ttl < 1 ? 1 : (ttl > 255 ? 255 : ttl));
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof t) != 0)
    return Status::FromErrno("IP_MULTICAST_TTL", errno);
  const unsigned char loop = 1;
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0) {
    return Status::FromErrno("IP_MULTICAST_LOOP", errno);
  }
  return Status::Ok();
}

Result<UniqueFd> open_group_receiver(const Endpoint& group, uint32_t interface_addr, int rcvbuf) {
  if (!is_multicast(group.addr) || group.port == 0) {
    return Status::Error(EINVAL, "multicast group must be a 224.0.0.0/4 address with a port, not " + group.to_string());
  }
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("socket(UDP group)", errno);
  const int one = 1, zero = 0;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return Status::FromErrno("SO_REUSEADDR", errno);
  if (rcvbuf > 0 && ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  // Otherwise a socket hears every group any socket of the host joined on that port.
  (void)::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
  const sockaddr_in sa = group.sockaddr();
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    return Status::FromErrno("bind(UDP group " + group.to_string() + ")", errno);
  }
  ip_mreq mreq{};
  mreq.imr_multiaddr.s_addr = htonl(group.addr);
  mreq.imr_interface.s_addr = htonl(interface_addr);
  if (::setsockopt(fd.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) {
    return Status::FromErrno("IP_ADD_MEMBERSHIP " + group.to_string() + " on " + addr_text(interface_addr), errno);
  }
  return fd;
}

Result<uint32_t> interface_mtu(uint32_t addr) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return Status::FromErrno("getifaddrs", errno);
  std::string name;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (ntohl(sin->sin_addr.s_addr) == addr) {
      name = i->ifa_name;
      break;
    }
  }
  ::freeifaddrs(list);
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Status::Error(EADDRNOTAVAIL, "no interface of this host has address " + addr_text(addr));
  }
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("socket(SIOCGIFMTU)", errno);
  ifreq req{};
  std::memcpy(req.ifr_name, name.c_str(), name.size() + 1);
  if (::ioctl(fd.get(), SIOCGIFMTU, &req) != 0) return Status::FromErrno("SIOCGIFMTU " + name, errno);
  if (req.ifr_mtu <= 0)
    return Status::Error(EINVAL, "interface " + name + " reports MTU " + std::to_string(req.ifr_mtu));
  return static_cast<uint32_t>(req.ifr_mtu);
}

Endpoint derive_multicast_group(uint64_t snapshot_id, uint16_t port) {
  // splitmix64 finaliser: ids that differ in one bit land on unrelated groups.
  uint64_t x = snapshot_id + 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  const uint32_t last = 1 + static_cast<uint32_t>(x % 254);  // 1..254
  return Endpoint{0xef000000u | (static_cast<uint32_t>((x >> 16) & 0xffff) << 8) | last, port};
}

}  // namespace sf::memserver
