// The page-server wire format (DESIGN §4.4 step 5, §8): versioned, length-checked request and reply
// datagrams that memtap clients and the memserver exchange over UDP (mcdist: unicast or multicast).
// Every datagram names its snapshot and ends in a SipHash-2-4 MAC under that snapshot's 128-bit key.
// Boundary: encoding and checking bytes only; no sockets, no page storage. Decoders trust nothing and
// return a typed reason that callers count.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "../base/status.h"
#include "siphash.h"

namespace sf::memserver {

// The per-snapshot key (carried in the descriptor): it authenticates every datagram of that snapshot.
using SnapshotKey = SipKey;
// A fresh random key from getrandom(2).
Result<SnapshotKey> random_snapshot_key();

constexpr uint32_t kWireMagic = 0x47504653;  // "SFPG" little-endian
constexpr uint8_t kWireVersion = 1;
constexpr uint32_t kWirePage = 4096;
constexpr size_t kHeaderBytes = 16;  // magic u32, version u8, type u8, flags u16, snapshot id u64
constexpr size_t kMacBytes = 8;
constexpr size_t kRequestBytes = 48;         // header + 24 bytes of fields + MAC
constexpr size_t kFragmentOverhead = 48;     // header + 24 bytes of fields + MAC, then the payload
constexpr size_t kMaxDatagram = 65507;       // largest UDP payload over IPv4
constexpr uint32_t kMaxRequestPages = 1024;  // bounds what one small request can make a server send
constexpr uint32_t kFragmentAlign = 8;       // fragment offsets and lengths: multiples of 8 bytes

enum class MsgType : uint8_t { request = 1, page = 2 };

// The address spaces one snapshot serves (issue 13 item 4): its frozen RAM in 4 KiB pages, and — for a
// fork of a VM with a disk — its frozen disk in 4 KiB blocks (DESIGN §4.7). A flag in the header says
// which; without it a datagram is about memory, exactly as before the disk existed, and a peer that
// predates the flag drops disk datagrams as malformed rather than mistaking them for pages.
enum class Space : uint8_t { memory = 0, disk = 1 };
constexpr size_t kSpaceCount = 2;
const char* space_name(Space s);

// Why a datagram was dropped (decoders) — counters are indexed by this.
enum class WireError : uint8_t {
  ok = 0,
  truncated,         // shorter than its header or than its fields say
  oversized,         // longer than its fields say (or than any valid datagram)
  bad_magic,         // not ours at all
  bad_version,       // another protocol version
  bad_type,          // not a kind of message this receiver accepts (a request at a client, ...)
  foreign_snapshot,  // for another (possibly older, stale) snapshot
  bad_mac,           // forged or corrupted: the MAC does not verify under this snapshot's key
  malformed,         // authentic but its fields are inconsistent (zero npages, offset past the page, ...)
};
constexpr size_t kWireErrorCount = 9;
const char* wire_error_name(WireError e);

// "Send me pages [first_page, first_page + npages)". Layout after the header, little-endian:
// first_page u64 @16, npages u32 @24, client_id u32 @28, seq u32 @32, rate u32 @36, MAC @40.
// Header flags (mcdist extensions of version 1; a request with no flag is the original layout with
// the u32 at @36 reserved and 0): bit 0 (kRequestFlagRate) — @36 carries the client's receive rate in
// KiB/s (> 0) for the server's flow control; bit 1 (kRequestFlagUnicast) — the client has not joined
// the snapshot's multicast group: answer it by unicast; bit 2 (kRequestFlagRetry) — the client asked
// for these pages before and got nothing (lockstep detection treats a retry as a sign of loss);
// bit 3 (kRequestFlagDisk) — first_page/npages name disk blocks, not RAM pages.
constexpr uint16_t kRequestFlagRate = 1;
constexpr uint16_t kRequestFlagUnicast = 2;
constexpr uint16_t kRequestFlagRetry = 4;
constexpr uint16_t kRequestFlagDisk = 8;
struct PageRequest {
  uint64_t snapshot_id = 0;
  uint64_t first_page = 0;
  uint32_t npages = 0;
  uint32_t client_id = 0;  // who asked (for counters and, with multicast, for the end game)
  uint32_t seq = 0;        // the client's request number, echoed in replies
  uint32_t rate_kib = 0;   // the client's measured receive rate, KiB/s; 0: not measured (flag clear)
  bool unicast = false;    // reply to the sender's address even when the server multicasts
  bool retry = false;      // asked before, nothing came
  Space space = Space::memory;
};

// One reply datagram: either `length` bytes at `offset` of one page (a page larger than the path MTU
// is split into several), or — with `zero` — a run of `count` all-zero pages with no payload.
// Layout after the header (flags bit 0 = zero, bit 1 = kFragmentFlagDisk: `page` is a disk block),
// little-endian: page u64 @16, client_id u32 @24,
// seq u32 @28, count u32 @32, offset u16 @36, length u16 @38, payload @40, MAC after the payload.
constexpr uint16_t kFragmentFlagDisk = 2;
struct PageFragment {
  uint64_t snapshot_id = 0;
  uint64_t page = 0;
  uint32_t client_id = 0;  // echoed from the request (0: unsolicited push)
  uint32_t seq = 0;
  uint32_t count = 1;   // zero runs: pages in the run (≥ 1); data: 1
  uint16_t offset = 0;  // data: byte offset inside the page
  uint16_t length = 0;  // data: payload bytes (> 0); zero runs: 0
  bool zero = false;
  Space space = Space::memory;
  std::span<const uint8_t> payload;  // decode: points into the datagram; encode: the bytes to send
};

// Encoders write one datagram into `out` and return its size, or 0 when the fields are invalid or
// `out` is too small (nothing sensible can be sent then).
size_t encode_request(const PageRequest& req, const SnapshotKey& key, std::span<uint8_t> out);
size_t encode_fragment(const PageFragment& frag, const SnapshotKey& key, std::span<uint8_t> out);

// Decoders check, in this order: length ≥ header, magic, version, type, exact length, snapshot id,
// MAC, then field consistency; the first failure is returned and `out` is left unspecified.
// `disk_blocks`: the snapshot's disk in 4 KiB blocks (0: it has none). A disk-space datagram for a
// snapshot without a disk, or naming blocks at or past its end, is malformed: the receiver has no
// such block to serve or to store. (Memory ranges are the callers' check, counted as out of range.)
WireError decode_request(std::span<const uint8_t> in, uint64_t snapshot_id, const SnapshotKey& key, PageRequest* out,
                         uint64_t disk_blocks = 0);
WireError decode_fragment(std::span<const uint8_t> in, uint64_t snapshot_id, const SnapshotKey& key, PageFragment* out,
                          uint64_t disk_blocks = 0);

// The largest payload that fits a datagram of `max_datagram` bytes, rounded down to the fragment
// alignment and capped at one page; 0 if nothing fits.
uint32_t fragment_payload(size_t max_datagram);

}  // namespace sf::memserver
