// RemoteSourceStats: a remote page source's counters, declared once (base/counters.h): the snapshot
// struct, the atomics the source counts with, and the list the binding turns into JS (lib
// RemoteSourceStats). Boundary: declarations only; RemotePageSource::stats() fills the derived fields.
#pragma once

#include <array>
#include <cstdint>

#include "../base/counters.h"
#include "page_wire.h"

namespace sf::memserver {

// clang-format off
#define SF_REMOTE_SOURCE_COUNTERS(X)                                                                            \
  X(live, requests_sent, "requestsSent")                                                                        \
  X(live, pages_requested, "pagesRequested")           /* summed over requests (retries included) */            \
  X(live, send_errors, "sendErrors")                                                                            \
  X(live, mirror_hits, "mirrorHits")                   /* pages get() found in the mirror: no request */        \
  X(live, mirror_misses, "mirrorMisses")               /* pages get() had to ask for */                         \
  X(live, datagrams_received, "datagramsReceived")                                                              \
  X(live, group_datagrams, "groupDatagrams")           /* of datagrams_received: through the multicast group */ \
  X(live, bytes_received, "bytesReceived")             /* UDP payload bytes of datagrams_received */            \
  X(live, group_bytes_received, "groupBytesReceived")  /* of which through the multicast group */               \
  X(live, pages_installed, "pagesInstalled")           /* data pages this source stored in the mirror */        \
  X(live, zero_pages_installed, "zeroPagesInstalled")                                                           \
  X(live, duplicates, "duplicates")                    /* valid datagrams for pages the mirror already held */  \
  X(live, out_of_range, "outOfRange")                  /* authentic datagrams naming pages past the snapshot */ \
  X(derived, dropped_total, "dropped")                 /* sum of dropped[] below */                             \
  X(live, timeouts, "timeouts")                        /* get() calls that gave up */                           \
  X(live, test_drops, "testDrops")                     /* discarded by the test-only loss knob (not received) */ \
  X(derived, receive_rate, "receiveRate")              /* measured receive rate, bytes/s (what requests report) */ \
  X(live, reassembly_evictions, SF_CPP_ONLY)           /* half-assembled pages dropped to bound memory */ \
  /* the disk space: requests_sent and the datagram and byte counts include it, the page counts do not */   \
  X(live, disk_requests_sent, "diskRequestsSent")                                                             \
  X(live, disk_blocks_installed, "diskBlocksInstalled")  /* disk blocks stored in the disk mirror (data + zero) */ \
  X(live, disk_timeouts, "diskTimeouts")                 /* disk fetches that gave up */
// clang-format on

struct RemoteSourceStats {
  SF_REMOTE_SOURCE_COUNTERS(SF_COUNTER_MEMBER)
  // Not a plain counter: dropped datagrams by WireError (index 0 unused); C++ only, JS sees the sum.
  std::array<uint64_t, kWireErrorCount> dropped{};
};
SF_DEFINE_COUNTERS(RemoteSourceStats, RemoteSourceCounters, SF_REMOTE_SOURCE_COUNTERS)

}  // namespace sf::memserver
