// Helpers of the network tests: DHCP client messages built from the RFC's layout (what a guest's DHCP
// client sends), a reader of the server's answers, and a real tap made and removed with `ip tuntap` (tests
// skip with the reason when there is no root or /dev/net/tun). Boundary: test support only.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "devices/net_config.h"

namespace sf::devices::test {

inline void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x >> 8);
  v[at + 1] = static_cast<uint8_t>(x);
}
inline void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  for (int i = 0; i < 4; ++i) v[at + i] = static_cast<uint8_t>(x >> (24 - 8 * i));
}
inline uint16_t get16(std::span<const uint8_t> v, size_t at) { return static_cast<uint16_t>(v[at] << 8 | v[at + 1]); }
inline uint32_t get32(std::span<const uint8_t> v, size_t at) {
  return uint32_t{v[at]} << 24 | uint32_t{v[at + 1]} << 16 | uint32_t{v[at + 2]} << 8 | v[at + 3];
}

inline constexpr size_t kBootp = 14 + 20 + 8;  // where the BOOTP message starts in a frame

// A DHCP client message (type 1 DISCOVER, 3 REQUEST, 7 RELEASE) from `mac`, broadcast, as lwIP sends it.
inline std::vector<uint8_t> dhcp_client_frame(const MacAddress& mac, uint8_t type, uint32_t xid = 0x12345678,
                                              uint32_t requested = 0, uint32_t server_id = 0) {
  std::vector<uint8_t> opts = {53, 1, type};
  if (requested != 0)
    opts.insert(opts.end(), {50, 4, uint8_t(requested >> 24), uint8_t(requested >> 16), uint8_t(requested >> 8),
                             uint8_t(requested)});
  if (server_id != 0)
    opts.insert(opts.end(), {54, 4, uint8_t(server_id >> 24), uint8_t(server_id >> 16), uint8_t(server_id >> 8),
                             uint8_t(server_id)});
  opts.insert(opts.end(), {55, 3, 1, 3, 6, 255});
  const size_t bootp = 240 + opts.size();
  std::vector<uint8_t> f(kBootp + bootp, 0);
  std::memset(f.data(), 0xff, 6);
  std::memcpy(f.data() + 6, mac.data(), 6);
  put16(f, 12, 0x0800);
  f[14] = 0x45;
  put16(f, 16, static_cast<uint16_t>(20 + 8 + bootp));
  f[22] = 64;
  f[23] = 17;
  put32(f, 30, 0xffffffffu);
  put16(f, 34, 68);
  put16(f, 36, 67);
  put16(f, 38, static_cast<uint16_t>(8 + bootp));
  f[kBootp] = 1;
  f[kBootp + 1] = 1;
  f[kBootp + 2] = 6;
  put32(f, kBootp + 4, xid);
  std::memcpy(f.data() + kBootp + 28, mac.data(), 6);
  put32(f, kBootp + 236, 0x63825363);
  std::memcpy(f.data() + kBootp + 240, opts.data(), opts.size());
  return f;
}

// Option `code`'s value in a server reply frame (empty when absent).
inline std::vector<uint8_t> dhcp_option(std::span<const uint8_t> f, uint8_t code) {
  size_t i = kBootp + 240;
  while (i < f.size() && f[i] != 255) {
    if (f[i] == 0) {
      ++i;
      continue;
    }
    if (i + 1 >= f.size()) break;
    const size_t len = f[i + 1];
    if (f[i] == code && i + 2 + len <= f.size()) return {f.begin() + i + 2, f.begin() + i + 2 + len};
    i += 2 + len;
  }
  return {};
}

// The ones' complement sum of an IPv4 header folds to 0xffff when its checksum is right.
inline bool ip_checksum_ok(std::span<const uint8_t> f) {
  uint32_t sum = 0;
  for (size_t i = 14; i < 34; i += 2) sum += get16(f, i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// A persistent tap made for one test (`ip tuntap add`, IPv6 off so the kernel sends nothing on it, up) and
// deleted when the test ends. usable() false (with why()) without root or /dev/net/tun.
class TestTap {
 public:
  TestTap() {
    if (::geteuid() != 0) {
      why_ = "needs root to create a tap (ip tuntap add)";
      return;
    }
    if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
      why_ = "no /dev/net/tun";
      return;
    }
    static int counter = 0;
    name_ = "sfnt" + std::to_string(::getpid() % 100000) + "x" + std::to_string(counter++);
    if (!sh("ip tuntap add dev " + name_ + " mode tap")) {
      why_ = "ip tuntap add failed";
      name_.clear();
      return;
    }
    if (FILE* f = std::fopen(("/proc/sys/net/ipv6/conf/" + name_ + "/disable_ipv6").c_str(), "w")) {
      std::fputs("1", f);
      std::fclose(f);
    }
    sh("ip link set dev " + name_ + " up");
  }
  ~TestTap() {
    if (!name_.empty()) sh("ip link del dev " + name_);
  }
  bool usable() const { return !name_.empty(); }
  const std::string& why() const { return why_; }
  const std::string& name() const { return name_; }
  static bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

 private:
  std::string name_, why_;
};

using Clock = std::chrono::steady_clock;
inline constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE local experimental: nothing else on the tap uses it

// An AF_PACKET socket bound to the tap interface: what it sends, the tap's reader (the NIC) receives;
// what the NIC writes to the tap, it receives.
class Wire {
 public:
  explicit Wire(const std::string& ifname) {
    fd_ = UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    EXPECT_TRUE(fd_.valid());
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    ifindex_ = a.sll_ifindex;
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  void send(std::span<const uint8_t> frame) {
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_ifindex = ifindex_;
    a.sll_halen = 6;
    std::memcpy(a.sll_addr, frame.data(), 6);
    ASSERT_EQ(::sendto(fd_.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a),
              static_cast<ssize_t>(frame.size()));
  }
  // The next frame of `ethertype` the NIC wrote to the tap (PACKET_HOST/OTHERHOST: incoming on the
  // interface), or empty after `timeout`.
  std::vector<uint8_t> receive(uint16_t ethertype, std::chrono::milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    std::vector<uint8_t> buf(2048);
    while (Clock::now() < end) {
      pollfd p{fd_.get(), POLLIN, 0};
      const int left =
          static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
      sockaddr_ll from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 14 || from.sll_pkttype == PACKET_OUTGOING) continue;
      if (get16(buf, 12) == ethertype) return {buf.begin(), buf.begin() + n};
    }
    return {};
  }

 private:
  UniqueFd fd_;
  int ifindex_ = 0;
};

inline std::vector<uint8_t> test_frame(const MacAddress& dst, size_t payload, uint8_t seed) {
  std::vector<uint8_t> f(14 + payload);
  std::memcpy(f.data(), dst.data(), 6);
  const uint8_t src[6] = {0x02, 0x99, 0, 0, 0, 1};
  std::memcpy(f.data() + 6, src, 6);
  put16(f, 12, kTestEtherType);
  uint8_t v = seed;
  std::generate(f.begin() + 14, f.end(), [&] { return v++; });
  return f;
}

}  // namespace sf::devices::test
