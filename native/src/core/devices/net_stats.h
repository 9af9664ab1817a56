// NetStats: one NIC's counters, declared once (base/counters.h): the snapshot struct, the atomics the NIC
// thread counts with, and the list a binding exposes. Boundary: declarations only.
#pragma once

#include <cstdint>

#include "../base/counters.h"

namespace sf::devices {

// clang-format off
#define SF_NET_COUNTERS(X)                                                                                   \
  X(live, rx_packets, "rxPackets")     /* frames put in the guest's rx buffers (DHCP answers included) */    \
  X(live, rx_bytes, "rxBytes")         /* their bytes, without the virtio-net header */                      \
  X(live, tx_packets, "txPackets")     /* frames the guest sent (to the tap or answered by DHCP) */          \
  X(live, tx_bytes, "txBytes")                                                                               \
  X(live, rx_drops, "rxDrops")         /* frames the guest's buffer could not hold, answers with no room */  \
  X(live, tx_drops, "txDrops")         /* chains shorter than the header or over 1514 + header, tap full */  \
  X(live, bad_chains, "badChains")     /* chains the virtqueue refused (returned with length 0) */           \
  X(live, dhcp_answers, "dhcpAnswers") /* OFFER / ACK / NAK put in the rx queue */                          \
  X(live, wakeups, "wakeups")          /* NIC thread wake-ups (poll returns, notifies met awake) */                              \
  X(live, spins, SF_CPP_ONLY)          /* looks at the rings without sleeping right after traffic */
// clang-format on

struct NetStats {
  SF_NET_COUNTERS(SF_COUNTER_MEMBER)
};
SF_DEFINE_COUNTERS(NetStats, NetCounters, SF_NET_COUNTERS)

}  // namespace sf::devices
