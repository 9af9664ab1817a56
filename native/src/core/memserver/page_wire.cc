// Encoding and checking of page-server datagrams (see page_wire.h for the layout).
// Boundary: bytes in, typed verdicts out; every length and field is checked before it is used.
#include "page_wire.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace sf::memserver {

namespace {

// Explicit little-endian field access: the layout must not depend on the host or on struct padding.
inline void put16(uint8_t* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t get64(const uint8_t* p) {
  return static_cast<uint64_t>(get32(p)) | (static_cast<uint64_t>(get32(p + 4)) << 32);
}

constexpr uint16_t kFlagZero = 1;

void put_header(uint8_t* p, MsgType type, uint16_t flags, uint64_t snapshot_id) {
  put32(p, kWireMagic);
  p[4] = kWireVersion;
  p[5] = static_cast<uint8_t>(type);
  put16(p + 6, flags);
  put64(p + 8, snapshot_id);
}

// The MAC covers every byte before it, header included, so type, flags and snapshot id are bound too.
void seal(uint8_t* msg, size_t body, const SnapshotKey& key) { put64(msg + body, siphash24(key, msg, body)); }

bool mac_ok(const uint8_t* msg, size_t body, const SnapshotKey& key) {
  // Compare without an early exit so timing reveals nothing about how many bytes matched.
  const uint64_t want = siphash24(key, msg, body);
  const uint64_t got = get64(msg + body);
  return (want ^ got) == 0;
}

// Checks shared by both decoders up to (not including) the exact length.
WireError check_header(std::span<const uint8_t> in, MsgType type) {
  if (in.size() < kHeaderBytes) return WireError::truncated;
  if (in.size() > kMaxDatagram) return WireError::oversized;
  const uint8_t* p = in.data();
  if (get32(p) != kWireMagic) return WireError::bad_magic;
  if (p[4] != kWireVersion) return WireError::bad_version;
  if (p[5] != static_cast<uint8_t>(type)) return WireError::bad_type;
  return WireError::ok;
}

}  // namespace

Result<SnapshotKey> random_snapshot_key() {
  SnapshotKey key{};
  size_t done = 0;
  while (done < key.size()) {
    const ssize_t n = ::getrandom(key.data() + done, key.size() - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("getrandom(snapshot key)", errno);
    done += static_cast<size_t>(n);
  }
  return key;
}

const char* space_name(Space s) { return s == Space::disk ? "disk" : "memory"; }

const char* wire_error_name(WireError e) {
  switch (e) {
    case WireError::ok: return "ok";
    case WireError::truncated: return "truncated";
    case WireError::oversized: return "oversized";
    case WireError::bad_magic: return "bad_magic";
    case WireError::bad_version: return "bad_version";
    case WireError::bad_type: return "bad_type";
    case WireError::foreign_snapshot: return "foreign_snapshot";
    case WireError::bad_mac: return "bad_mac";
    case WireError::malformed: return "malformed";
  }
  return "unknown";
}

uint32_t fragment_payload(size_t max_datagram) {
  if (max_datagram > kMaxDatagram) max_datagram = kMaxDatagram;
  if (max_datagram <= kFragmentOverhead) return 0;
  size_t room = max_datagram - kFragmentOverhead;
  if (room > kWirePage) room = kWirePage;
  return static_cast<uint32_t>(room - room % kFragmentAlign);
}

size_t encode_request(const PageRequest& req, const SnapshotKey& key, std::span<uint8_t> out) {
  if (out.size() < kRequestBytes || req.npages == 0 || req.npages > kMaxRequestPages ||
      req.first_page > UINT64_MAX - req.npages) {
    return 0;
  }
  uint8_t* p = out.data();
  const uint16_t flags =
      static_cast<uint16_t>((req.rate_kib != 0 ? kRequestFlagRate : 0) | (req.unicast ? kRequestFlagUnicast : 0) |
                            (req.retry ? kRequestFlagRetry : 0) | (req.space == Space::disk ? kRequestFlagDisk : 0));
  put_header(p, MsgType::request, flags, req.snapshot_id);
  put64(p + 16, req.first_page);
  put32(p + 24, req.npages);
  put32(p + 28, req.client_id);
  put32(p + 32, req.seq);
  put32(p + 36, req.rate_kib);
  seal(p, kRequestBytes - kMacBytes, key);
  return kRequestBytes;
}

size_t encode_fragment(const PageFragment& f, const SnapshotKey& key, std::span<uint8_t> out) {
  if (f.zero) {
    if (f.count == 0 || f.offset != 0 || f.length != 0 || !f.payload.empty() || f.page > UINT64_MAX - f.count) return 0;
  } else {
    if (f.count != 1 || f.length == 0 || f.payload.size() != f.length || f.offset % kFragmentAlign != 0 ||
        f.length % kFragmentAlign != 0 || uint32_t{f.offset} + f.length > kWirePage) {
      return 0;
    }
  }
  const size_t total = kFragmentOverhead + f.length;
  if (out.size() < total || total > kMaxDatagram) return 0;
  uint8_t* p = out.data();
  put_header(p, MsgType::page,
             static_cast<uint16_t>((f.zero ? kFlagZero : 0) | (f.space == Space::disk ? kFragmentFlagDisk : 0)),
             f.snapshot_id);
  put64(p + 16, f.page);
  put32(p + 24, f.client_id);
  put32(p + 28, f.seq);
  put32(p + 32, f.count);
  put16(p + 36, f.offset);
  put16(p + 38, f.length);
  if (f.length > 0) std::memcpy(p + 40, f.payload.data(), f.length);
  seal(p, total - kMacBytes, key);
  return total;
}

WireError decode_request(std::span<const uint8_t> in, uint64_t snapshot_id, const SnapshotKey& key, PageRequest* out,
                         uint64_t disk_blocks) {
  if (const WireError e = check_header(in, MsgType::request); e != WireError::ok) return e;
  if (in.size() < kRequestBytes) return WireError::truncated;
  if (in.size() > kRequestBytes) return WireError::oversized;
  const uint8_t* p = in.data();
  if (get64(p + 8) != snapshot_id) return WireError::foreign_snapshot;
  if (!mac_ok(p, kRequestBytes - kMacBytes, key)) return WireError::bad_mac;
  PageRequest r;
  r.snapshot_id = snapshot_id;
  r.first_page = get64(p + 16);
  r.npages = get32(p + 24);
  r.client_id = get32(p + 28);
  r.seq = get32(p + 32);
  const uint16_t flags = get16(p + 6);
  r.rate_kib = get32(p + 36);
  r.unicast = (flags & kRequestFlagUnicast) != 0;
  r.retry = (flags & kRequestFlagRetry) != 0;
  r.space = (flags & kRequestFlagDisk) != 0 ? Space::disk : Space::memory;
  // Without the rate flag the field is reserved (0); with it a rate of 0 would be a contradiction.
  const bool rate_ok = (flags & kRequestFlagRate) ? r.rate_kib != 0 : r.rate_kib == 0;
  if ((flags & ~(kRequestFlagRate | kRequestFlagUnicast | kRequestFlagRetry | kRequestFlagDisk)) != 0 || !rate_ok ||
      r.npages == 0 || r.npages > kMaxRequestPages || r.first_page > UINT64_MAX - r.npages) {
    return WireError::malformed;
  }
  if (r.space == Space::disk && (r.first_page >= disk_blocks || r.npages > disk_blocks - r.first_page))
    return WireError::malformed;
  *out = r;
  return WireError::ok;
}

WireError decode_fragment(std::span<const uint8_t> in, uint64_t snapshot_id, const SnapshotKey& key, PageFragment* out,
                          uint64_t disk_blocks) {
  if (const WireError e = check_header(in, MsgType::page); e != WireError::ok) return e;
  if (in.size() < kFragmentOverhead) return WireError::truncated;
  const uint8_t* p = in.data();
  const uint16_t length = get16(p + 38);
  // The length field decides where the MAC is; it is only trusted this far before the MAC verifies.
  const size_t total = kFragmentOverhead + length;
  if (in.size() < total) return WireError::truncated;
  if (in.size() > total) return WireError::oversized;
  if (get64(p + 8) != snapshot_id) return WireError::foreign_snapshot;
  if (!mac_ok(p, total - kMacBytes, key)) return WireError::bad_mac;
  PageFragment f;
  const uint16_t flags = get16(p + 6);
  f.snapshot_id = snapshot_id;
  f.zero = (flags & kFlagZero) != 0;
  f.space = (flags & kFragmentFlagDisk) != 0 ? Space::disk : Space::memory;
  f.page = get64(p + 16);
  f.client_id = get32(p + 24);
  f.seq = get32(p + 28);
  f.count = get32(p + 32);
  f.offset = get16(p + 36);
  f.length = length;
  if ((flags & ~(kFlagZero | kFragmentFlagDisk)) != 0) return WireError::malformed;
  if (f.zero) {
    if (f.count == 0 || f.offset != 0 || f.length != 0 || f.page > UINT64_MAX - f.count) return WireError::malformed;
  } else {
    if (f.count != 1 || f.length == 0 || f.offset % kFragmentAlign != 0 || f.length % kFragmentAlign != 0 ||
        uint32_t{f.offset} + f.length > kWirePage) {
      return WireError::malformed;
    }
    f.payload = in.subspan(40, f.length);
  }
  if (f.space == Space::disk && (f.page >= disk_blocks || f.count > disk_blocks - f.page)) return WireError::malformed;
  *out = f;
  return WireError::ok;
}

}  // namespace sf::memserver
