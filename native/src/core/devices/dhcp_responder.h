// The NIC backend's DHCP server (seed §7): recognises the guest's DHCPDISCOVER / DHCPREQUEST in an Ethernet
// frame it sends and builds the OFFER / ACK (or NAK) that carries the VM's configured identity.
// Boundary: pure functions over bytes; the device decides where frames go. Trusts nothing in the frame.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "net_config.h"

namespace sf::devices {

inline constexpr uint32_t kDhcpLeaseSeconds = 7 * 24 * 3600;  // long: the address never changes

enum class DhcpVerdict : uint8_t {
  kNotDhcp,  // not a DHCP client message: the frame goes to the tap
  kIgnore,   // a DHCP client message that gets no answer (other MAC, RELEASE, malformed): dropped
  kAnswer,   // `reply` holds the Ethernet frame to put in the guest's rx queue
};

struct DhcpOutcome {
  DhcpVerdict verdict = DhcpVerdict::kNotDhcp;
  std::vector<uint8_t> reply;
};

// `frame`: an Ethernet frame without virtio header, as the guest sent it. Any IPv4/UDP datagram from port
// 68 to port 67 is a DHCP client message (never passed on); it is answered when it comes from config.mac
// (Ethernet source and chaddr) and is a DISCOVER (→ OFFER) or a REQUEST (→ ACK for config.ip or no
// particular address, NAK for another).
DhcpOutcome answer_dhcp(const NetConfig& config, std::span<const uint8_t> frame);

// The source MAC of the synthetic replies: locally administered, never a real interface's.
inline constexpr MacAddress kDhcpServerMac{0x02, 0x53, 0x46, 0x00, 0x00, 0x01};

}  // namespace sf::devices
