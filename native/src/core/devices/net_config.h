// NetConfig: what one NIC is bound to (the host's tap) and the identity its DHCP answers give the guest
// (MAC, IPv4 address and prefix, gateway, DNS servers), with the parsing and checks of their text forms.
// Boundary: values and validation only; the device uses them, the VMM and the binding fill them in.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../base/status.h"

namespace sf::devices {

using MacAddress = std::array<uint8_t, 6>;

inline constexpr size_t kMaxDnsServers = 4;
inline constexpr size_t kMaxTapNameBytes = 15;  // IFNAMSIZ - 1

struct NetConfig {
  std::string tap;  // an existing tap interface (sfld makes it), 1..15 bytes
  MacAddress mac{};
  uint32_t ip = 0;  // host byte order
  uint8_t prefix_length = 24;
  uint32_t gateway = 0;  // 0: none (the DHCP server id is then the network's .1)
  std::vector<uint32_t> dns;
};

// "aa:bb:cc:dd:ee:ff" (hex digits of either case); false otherwise.
bool parse_mac(std::string_view text, MacAddress& out);
// A dotted quad "a.b.c.d", each part 0..255 without leading zeros; false otherwise.
bool parse_ipv4(std::string_view text, uint32_t& out);
std::string format_ipv4(uint32_t ip);
std::string format_mac(const MacAddress& mac);

inline uint32_t prefix_mask(uint8_t prefix) { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
// The DHCP server identifier: the gateway, or the network's first host when there is none.
uint32_t dhcp_server_id(const NetConfig& config);

// EINVAL naming the field and the rule: tap name 1..15 bytes without '/', NUL or spaces; MAC unicast and
// not all zeros; prefix 1..30; IP a host of its subnet (not the network or broadcast address); gateway,
// if any, another host of the same subnet; at most kMaxDnsServers DNS servers, none 0.0.0.0.
Status check_net_config(const NetConfig& config);

}  // namespace sf::devices
