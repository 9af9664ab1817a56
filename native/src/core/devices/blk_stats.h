// BlkStats and OverlayStats: the counters of one virtio-blk device and of one copy-on-write overlay,
// declared once (base/counters.h): snapshot structs, live atomics, the list a binding can expose.
// Boundary: declarations only; VirtioBlk::stats() and CowOverlay::stats() fill them.
#pragma once

#include <cstdint>

#include "../base/counters.h"

namespace sf::devices {

// clang-format off
#define SF_BLK_COUNTERS(X)                                                                                   \
  X(live, reads, "reads")                 /* IN requests served */                                           \
  X(live, writes, "writes")               /* OUT requests served */                                          \
  X(live, flushes, "flushes")             /* FLUSH requests served */                                        \
  X(live, get_ids, "getIds")              /* GET_ID requests served */                                       \
  X(live, read_bytes, "readBytes")        /* bytes the guest read */                                         \
  X(live, written_bytes, "writtenBytes")  /* bytes the guest wrote */                                        \
  X(live, bad_requests, "badRequests")    /* refused with IOERR: past the end, wrong direction, bad sizes */ \
  X(live, unsupported, "unsupported")     /* unknown request types, answered UNSUPP */                       \
  X(live, io_errors, "ioErrors")          /* well-formed requests the disk layers failed (EIO, ENOSPC) */    \
  X(live, bad_chains, "badChains")        /* returned with length 0: broken chains, no status byte */        \
  X(live, queue_errors, "queueErrors")    /* the guest broke the ring itself: the device needs a reset */
// clang-format on

struct BlkStats {
  SF_BLK_COUNTERS(SF_COUNTER_MEMBER)
};
SF_DEFINE_COUNTERS(BlkStats, BlkCounters, SF_BLK_COUNTERS)

// clang-format off
#define SF_OVERLAY_COUNTERS(X)                                                                       \
  X(live, copied_up, "copiedUp")              /* absent blocks read from below to merge a partial write */ \
  X(live, lower_reads, "lowerReads")          /* read runs passed to the layer below */              \
  X(live, lower_read_bytes, "lowerReadBytes") /* bytes those runs asked for */                       \
  X(derived, blocks_present, "blocksPresent") /* 4 KiB blocks this overlay holds */                  \
  X(derived, allocated_bytes, "allocatedBytes") /* disk space its sparse file takes (st_blocks) */   \
  X(flag, frozen, "frozen")                   /* a fork's snapshot now: no more writes */
// clang-format on

struct OverlayStats {
  SF_OVERLAY_COUNTERS(SF_COUNTER_MEMBER)
};
SF_DEFINE_COUNTERS(OverlayStats, OverlayCounters, SF_OVERLAY_COUNTERS)

}  // namespace sf::devices
