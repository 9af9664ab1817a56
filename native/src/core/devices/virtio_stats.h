// VirtioStats: one virtio device's transport and queue counters, declared once (base/counters.h): the
// snapshot struct, the atomics its queues and transport count with, and the list a binding can expose.
// Boundary: declarations only; VirtioMmio::stats() copies them.
#pragma once

#include <cstdint>

#include "../base/counters.h"

namespace sf::devices {

// clang-format off
#define SF_VIRTIO_COUNTERS(X)                                                                                \
  X(live, requests, "requests")        /* well-formed chains popped from the available rings */              \
  X(live, bad_chains, "badChains")     /* chains that broke a rule: failed alone, returned with length 0 */  \
  X(live, queue_errors, "queueErrors") /* rings the guest broke (bad layout, avail.idx jump): needs reset */ \
  X(live, notifies, "notifies")        /* QueueNotify writes handed to the device */                         \
  X(live, bad_accesses, "badAccesses") /* register accesses refused: width, read-only, order, no queue */    \
  X(live, resets, "resets")            /* driver resets (Status = 0) */
// clang-format on

struct VirtioStats {
  SF_VIRTIO_COUNTERS(SF_COUNTER_MEMBER)
};
SF_DEFINE_COUNTERS(VirtioStats, VirtioCounters, SF_VIRTIO_COUNTERS)

}  // namespace sf::devices
