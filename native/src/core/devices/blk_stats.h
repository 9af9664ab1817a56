// BlkStats, OverlayStats and RemoteDiskStats: the counters of one virtio-blk device, of one copy-on-write
// overlay and of a remote clone's disk snapshot, declared once (base/counters.h): snapshot structs, live
// atomics, the list a binding can expose. Boundary: declarations only; the owners' stats() fill them.
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

// A remote clone's disk snapshot (remote_disk.h): what its reads cost in fetches from the master's host.
// clang-format off
#define SF_REMOTE_DISK_COUNTERS(X)                                                                          \
  X(live, blocks_fetched, "blocksFetched")      /* blocks this VM's reads found missing on the host and waited for */ \
  X(live, bytes_fetched, "bytesFetched")        /* their bytes (4 KiB each) */                              \
  X(live, blocks_local, "blocksLocal")          /* blocks its reads found on the host already (no fetch) */ \
  X(live, readahead_blocks, "readaheadBlocks")  /* blocks asked for ahead of its sequential reads */        \
  X(live, fetch_errors, "fetchErrors")          /* reads failed: the memserver did not deliver (IOERR) */   \
  X(derived, blocks_on_host, "blocksOnHost")    /* the snapshot's blocks this host holds (all its clones) */
// clang-format on

struct RemoteDiskStats {
  SF_REMOTE_DISK_COUNTERS(SF_COUNTER_MEMBER)
};
SF_DEFINE_COUNTERS(RemoteDiskStats, RemoteDiskCounters, SF_REMOTE_DISK_COUNTERS)

}  // namespace sf::devices
