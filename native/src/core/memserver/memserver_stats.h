// MemserverStats: a memserver's counters, declared once (base/counters.h): the snapshot struct, the
// atomics the service thread counts with, and the list the binding turns into JS (lib MemserverStats).
// Boundary: declarations only; Memserver::stats() fills the derived fields.
#pragma once

#include <array>
#include <cstdint>

#include "../base/counters.h"
#include "page_wire.h"

namespace sf::memserver {

// `live` gauges (data_pages_multicast, client_rate, pace, backlog_pages, streams_active) are stored by
// the service thread's publish_stats(); the other live entries are counted as things happen.
// clang-format off
#define SF_MEMSERVER_COUNTERS(X)                                                                                \
  X(live, requests, "requests")                    /* authentic requests answered (or already on their way) */ \
  X(live, pages_served, "pagesServed")             /* pages sent (data + zero) */                               \
  X(live, zero_pages, "zeroPages")                 /* of which answered as zero (hole or all-zero page) */      \
  X(live, datagrams_sent, "datagramsSent")                                                                      \
  X(live, bytes_sent, "bytesSent")                 /* UDP payload bytes */                                      \
  X(live, send_errors, "sendErrors")               /* datagrams the kernel refused: the client retries */       \
  X(live, out_of_range, "outOfRange")              /* authentic requests for pages past the snapshot */         \
  X(derived, dropped_total, "dropped")             /* sum of dropped[] below */                                 \
  /* mcdist */                                                                                                  \
  X(live, multicast_datagrams, "multicastDatagrams")    /* of datagrams_sent: to the group */                   \
  X(live, unicast_datagrams, "unicastDatagrams")        /* of datagrams_sent: to one requester */               \
  X(live, lockstep_suppressed, "lockstepSuppressed")    /* not sent: multicast moments ago or already queued */ \
  X(live, queued_duplicates, "queuedDuplicates")        /* already queued by unicast for the same requester */  \
  X(live, endgame_unicast_pages, "endgameUnicastPages") /* retransmissions answered by unicast in the end game */ \
  X(flag, endgame, "endgame")                           /* the end game has begun */                            \
  X(derived, data_pages, "dataPages")                   /* the snapshot's data (non-hole) pages */              \
  X(live, data_pages_multicast, "dataPagesMulticast")   /* of which multicast at least once */                  \
  X(live, rate_reports, "rateReports")                  /* requests that carried a receive rate */              \
  X(live, client_rate, "clientRate")                    /* weighted average of the reported rates, bytes/s */   \
  X(live, pace, "pace")                                 /* the group's send pace, bytes/s (0: unpaced) */       \
  X(live, paced_waits, "pacedWaits")                    /* times sending paused to keep the pace */             \
  X(live, backlog_pages, "backlogPages")                /* pages queued for sending now */                      \
  X(live, backlog_full, "backlogFull")                  /* requests dropped: the queue was full (retried) */    \
  X(live, test_send_drops, "testSendDrops")             /* datagrams the test-only loss knob did not send */    \
  /* working-set prefetch */                                                                                    \
  X(derived, working_set_pages, "workingSetPages")       /* pages in working_set(): seeded ∪ recorded */        \
  X(derived, working_set_seeded, "workingSetSeeded")     /* of the seed, pages in range and holding data */     \
  X(derived, working_set_recorded, "workingSetRecorded") /* pages clients asked for */                          \
  X(live, streams_started, "streamsStarted")             /* clients a stream began for */                       \
  X(live, streams_refused, "streamsRefused")             /* new clients that got none (too many at once) */     \
  X(live, streams_active, "streamsActive")                                                                      \
  X(live, streamed_pages, "streamedPages")               /* pages sent by streams (data + zero) */              \
  X(live, streamed_datagrams, "streamedDatagrams")                                                              \
  X(live, stream_skipped, "streamSkipped")               /* left out: asked for by the client, or the group had them */ \
  /* the disk (Space::disk): requests and page counts above are memory's; datagrams, bytes, lockstep and */ \
  /* retransmission counts include the disk's */                                                           \
  X(derived, disk_blocks, "diskBlocks")                  /* the disk snapshot's 4 KiB blocks (0: no disk) */    \
  X(live, disk_requests, "diskRequests")                 /* authentic disk requests answered */               \
  X(live, disk_blocks_served, "diskBlocksServed")        /* disk blocks sent (data + zero) */                 \
  X(live, disk_zero_blocks, "diskZeroBlocks")            /* of which all-zero, sent as zero runs */           \
  X(live, disk_bytes_sent, "diskBytesSent")              /* UDP payload bytes of disk datagrams */            \
  X(live, disk_blocks_multicast, "diskBlocksMulticast")  /* blocks multicast at least once */                  \
  X(flag, disk_endgame, "diskEndgame")                   /* the disk's end game has begun */
// clang-format on

struct MemserverStats {
  SF_MEMSERVER_COUNTERS(SF_COUNTER_MEMBER)
  // Not a plain counter: dropped datagrams by WireError (index 0 unused); C++ only, JS sees the sum.
  std::array<uint64_t, kWireErrorCount> dropped{};
};
SF_DEFINE_COUNTERS(MemserverStats, MemserverCounters, SF_MEMSERVER_COUNTERS)

}  // namespace sf::memserver
