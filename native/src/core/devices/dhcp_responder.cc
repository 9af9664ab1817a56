// DHCP answers built from the VM's configured identity (see dhcp_responder.h). Every length is checked
// against the bytes actually present; the reply is built from the configuration, echoing only xid,
// flags, giaddr and chaddr from the request.
#include "dhcp_responder.h"

#include <cstring>

namespace sf::devices {

namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kIpMinHeader = 20;
constexpr size_t kUdpHeader = 8;
constexpr size_t kBootpFixed = 236;  // op .. file, before the magic cookie
constexpr uint32_t kMagicCookie = 0x63825363;
constexpr size_t kMinBootpReply = 300;  // what old BOOTP clients expect at least

enum : uint8_t {
  kOptPad = 0,
  kOptSubnetMask = 1,
  kOptRouter = 3,
  kOptDns = 6,
  kOptRequestedIp = 50,
  kOptLeaseTime = 51,
  kOptMessageType = 53,
  kOptServerId = 54,
  kOptRenewal = 58,
  kOptRebinding = 59,
  kOptEnd = 255,
};
enum : uint8_t { kDiscover = 1, kOffer = 2, kRequest = 3, kAck = 5, kNak = 6 };

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x >> 8);
  v[at + 1] = static_cast<uint8_t>(x);
}
void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  for (int i = 0; i < 4; ++i) v[at + i] = static_cast<uint8_t>(x >> (24 - 8 * i));
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += be16(p + i);
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  return sum;
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

struct Request {
  uint8_t type = 0;
  uint32_t xid = 0;
  uint16_t flags = 0;
  uint32_t ciaddr = 0, giaddr = 0;
  uint32_t requested = 0;  // option 50, 0 when absent
  uint32_t server_id = 0;  // option 54, 0 when absent
  const uint8_t* chaddr = nullptr;
};

// Walks the options of [p, p + n); false when they run past the end.
bool parse_options(const uint8_t* p, size_t n, Request& r) {
  size_t i = 0;
  while (i < n) {
    const uint8_t code = p[i++];
    if (code == kOptPad) continue;
    if (code == kOptEnd) return true;
    if (i >= n) return false;
    const uint8_t len = p[i++];
    if (len > n - i) return false;
    const uint8_t* v = p + i;
    if (code == kOptMessageType && len == 1) r.type = v[0];
    if (code == kOptRequestedIp && len == 4) r.requested = be32(v);
    if (code == kOptServerId && len == 4) r.server_id = be32(v);
    i += len;
  }
  return true;  // no END: tolerated, as most servers do
}

std::vector<uint8_t> build_reply(const NetConfig& c, const Request& r, uint8_t type) {
  const uint32_t server = dhcp_server_id(c);
  std::vector<uint8_t> opts;
  const auto add = [&](uint8_t code, std::initializer_list<uint32_t> words) {
    opts.push_back(code);
    opts.push_back(static_cast<uint8_t>(4 * words.size()));
    for (uint32_t w : words) {
      for (int i = 0; i < 4; ++i) opts.push_back(static_cast<uint8_t>(w >> (24 - 8 * i)));
    }
  };
  opts.insert(opts.end(), {kOptMessageType, 1, type});
  add(kOptServerId, {server});
  if (type != kNak) {
    add(kOptLeaseTime, {kDhcpLeaseSeconds});
    add(kOptRenewal, {kDhcpLeaseSeconds / 2});
    add(kOptRebinding, {kDhcpLeaseSeconds / 8 * 7});
    add(kOptSubnetMask, {prefix_mask(c.prefix_length)});
    if (c.gateway != 0) add(kOptRouter, {c.gateway});
    if (!c.dns.empty()) {
      opts.push_back(kOptDns);
      opts.push_back(static_cast<uint8_t>(4 * c.dns.size()));
      for (uint32_t d : c.dns) {
        for (int i = 0; i < 4; ++i) opts.push_back(static_cast<uint8_t>(d >> (24 - 8 * i)));
      }
    }
  }
  opts.push_back(kOptEnd);
  size_t bootp = kBootpFixed + 4 + opts.size();
  if (bootp < kMinBootpReply) bootp = kMinBootpReply;
  const size_t ip_at = kEthHeader, udp_at = ip_at + kIpMinHeader, b = udp_at + kUdpHeader;
  std::vector<uint8_t> f(b + bootp, 0);

  // A NAK, or a client that asked for broadcast, gets a broadcast; otherwise the reply goes to its MAC.
  const bool broadcast = type == kNak || (r.flags & 0x8000) != 0;
  if (broadcast) std::memset(f.data(), 0xff, 6);
  else std::memcpy(f.data(), c.mac.data(), 6);
  std::memcpy(f.data() + 6, kDhcpServerMac.data(), 6);
  put16(f, 12, 0x0800);

  f[ip_at] = 0x45;
  put16(f, ip_at + 2, static_cast<uint16_t>(kIpMinHeader + kUdpHeader + bootp));
  f[ip_at + 8] = 64;  // TTL
  f[ip_at + 9] = 17;  // UDP
  put32(f, ip_at + 12, server);
  put32(f, ip_at + 16, broadcast ? 0xffffffffu : c.ip);
  put16(f, ip_at + 10, fold(sum16(f.data() + ip_at, kIpMinHeader)));

  put16(f, udp_at, 67);
  put16(f, udp_at + 2, 68);
  put16(f, udp_at + 4, static_cast<uint16_t>(kUdpHeader + bootp));

  f[b] = 2;  // BOOTREPLY
  f[b + 1] = 1;
  f[b + 2] = 6;
  put32(f, b + 4, r.xid);
  put16(f, b + 10, r.flags);
  if (type != kNak) put32(f, b + 16, c.ip);  // yiaddr
  put32(f, b + 24, r.giaddr);
  std::memcpy(f.data() + b + 28, r.chaddr, 6);
  put32(f, b + kBootpFixed, kMagicCookie);
  std::memcpy(f.data() + b + kBootpFixed + 4, opts.data(), opts.size());

  // UDP checksum over the pseudo-header (0 would be allowed for IPv4; a real one costs nothing here).
  uint32_t sum = sum16(f.data() + ip_at + 12, 8);
  sum += 17 + kUdpHeader + bootp;
  sum = sum16(f.data() + udp_at, kUdpHeader + bootp, sum);
  uint16_t ck = fold(sum);
  put16(f, udp_at + 6, ck == 0 ? 0xffff : ck);
  return f;
}

}  // namespace

DhcpOutcome answer_dhcp(const NetConfig& c, std::span<const uint8_t> frame) {
  DhcpOutcome out;
  const uint8_t* p = frame.data();
  const size_t n = frame.size();
  if (n < kEthHeader + kIpMinHeader + kUdpHeader || be16(p + 12) != 0x0800) return out;
  const uint8_t* ip = p + kEthHeader;
  const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
  if ((ip[0] >> 4) != 4 || ihl < kIpMinHeader || ip[9] != 17) return out;
  // Fragments: only a first fragment shows ports, and DHCP clients never fragment. Let them pass.
  if ((be16(ip + 6) & 0x3fff) != 0) return out;
  const size_t ip_total = be16(ip + 2);
  if (ip_total < ihl + kUdpHeader || ip_total > n - kEthHeader) return out;
  const uint8_t* udp = ip + ihl;
  if (be16(udp) != 68 || be16(udp + 2) != 67) return out;

  // From here on the frame is a DHCP client message: it never reaches the network.
  out.verdict = DhcpVerdict::kIgnore;
  const size_t udp_len = be16(udp + 4);
  if (udp_len < kUdpHeader || udp_len > ip_total - ihl) return out;
  const uint8_t* bp = udp + kUdpHeader;
  const size_t blen = udp_len - kUdpHeader;
  if (blen < kBootpFixed + 4 || bp[0] != 1 || bp[1] != 1 || bp[2] != 6) return out;
  if (be32(bp + kBootpFixed) != kMagicCookie) return out;
  if (std::memcmp(p + 6, c.mac.data(), 6) != 0 || std::memcmp(bp + 28, c.mac.data(), 6) != 0) return out;

  Request r;
  r.xid = be32(bp + 4);
  r.flags = be16(bp + 10) & 0x8000;
  r.ciaddr = be32(bp + 12);
  r.giaddr = be32(bp + 24);
  r.chaddr = bp + 28;
  if (!parse_options(bp + kBootpFixed + 4, blen - kBootpFixed - 4, r)) return out;

  if (r.type == kDiscover) {
    out.reply = build_reply(c, r, kOffer);
  } else if (r.type == kRequest) {
    // SELECTING names our server; another server's id means the client chose someone else: stay quiet.
    if (r.server_id != 0 && r.server_id != dhcp_server_id(c)) return out;
    const uint32_t wanted = r.requested != 0 ? r.requested : r.ciaddr;
    out.reply = build_reply(c, r, wanted == 0 || wanted == c.ip ? kAck : kNak);
  } else {
    return out;  // RELEASE, DECLINE, INFORM, garbage: nothing to say
  }
  out.verdict = DhcpVerdict::kAnswer;
  return out;
}

}  // namespace sf::devices
