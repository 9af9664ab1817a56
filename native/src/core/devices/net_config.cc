// NetConfig's text forms and checks (see net_config.h).
// Boundary: parsing and validation only; no sockets, no interfaces.
#include "net_config.h"

#include <cstdio>

namespace sf::devices {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool parse_mac(std::string_view text, MacAddress& out) {
  if (text.size() != 17) return false;
  for (size_t i = 0; i < 6; ++i) {
    const int hi = hex_digit(text[3 * i]), lo = hex_digit(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

bool parse_ipv4(std::string_view text, uint32_t& out) {
  uint32_t ip = 0;
  size_t at = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (at >= text.size() || text[at] != '.') return false;
      ++at;
    }
    const size_t start = at;
    uint32_t v = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - start < 3) v = v * 10 + (text[at++] - '0');
    const size_t digits = at - start;
    if (digits == 0 || v > 255 || (digits > 1 && text[start] == '0')) return false;
    ip = (ip << 8) | v;
  }
  if (at != text.size()) return false;
  out = ip;
  return true;
}

std::string format_ipv4(uint32_t ip) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
  return buf;
}

std::string format_mac(const MacAddress& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

uint32_t dhcp_server_id(const NetConfig& c) {
  if (c.gateway != 0) return c.gateway;
  return (c.ip & prefix_mask(c.prefix_length)) + 1;
}

Status check_net_config(const NetConfig& c) {
  const auto bad = [](const std::string& what) { return Status::Error(EINVAL, "net: " + what); };
  if (c.tap.empty() || c.tap.size() > kMaxTapNameBytes ||
      c.tap.find_first_of(std::string("/ \t\n:", 5) + '\0') != std::string::npos) {
    return bad("tap must be an interface name of 1 to 15 bytes without '/', ':', spaces or NUL, got \"" + c.tap + "\"");
  }
  if ((c.mac[0] & 1) != 0 || c.mac == MacAddress{}) {
    return bad("mac " + format_mac(c.mac) + " must be a unicast address (even first octet) and not all zeros");
  }
  if (c.prefix_length < 1 || c.prefix_length > 30) {
    return bad("prefixLength must be 1 to 30, got " + std::to_string(c.prefix_length));
  }
  const uint32_t mask = prefix_mask(c.prefix_length);
  const auto is_host = [&](uint32_t a) {
    return (a & mask) == (c.ip & mask) && (a & ~mask) != 0 && (a & ~mask) != ~mask;
  };
  if (!is_host(c.ip)) {
    return bad("ip " + format_ipv4(c.ip) + " is the network or broadcast address of its /" +
               std::to_string(c.prefix_length));
  }
  if (c.gateway != 0 && (!is_host(c.gateway) || c.gateway == c.ip)) {
    return bad("gateway " + format_ipv4(c.gateway) + " must be another host of " + format_ipv4(c.ip & mask) + "/" +
               std::to_string(c.prefix_length));
  }
  if (c.gateway == 0 && dhcp_server_id(c) == c.ip) {
    return bad("without a gateway the DHCP server takes the network's first host, so ip " + format_ipv4(c.ip) +
               " must be another one");
  }
  if (c.dns.size() > kMaxDnsServers) {
    return bad("at most " + std::to_string(kMaxDnsServers) + " dns servers, got " + std::to_string(c.dns.size()));
  }
  for (uint32_t d : c.dns) {
    if (d == 0) return bad("dns server 0.0.0.0 is not an address");
  }
  return Status::Ok();
}

}  // namespace sf::devices
