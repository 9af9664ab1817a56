// DHCP responder: the OFFER/ACK/NAK a guest's DHCP client relies on, what passes to the tap and what is
// swallowed, and hostile input (truncations, garbage, random mutations) that must never crash or read past
// the frame. The configuration checks and address parsing of net_config are here too.
#include "devices/dhcp_responder.h"

#include <gtest/gtest.h>

#include <random>

#include "net_test_support.h"

namespace sf::devices::test {
namespace {

NetConfig config() {
  NetConfig c;
  c.tap = "sft1";
  EXPECT_TRUE(parse_mac("02:00:00:00:01:05", c.mac));
  EXPECT_TRUE(parse_ipv4("10.7.0.6", c.ip));
  c.prefix_length = 24;
  EXPECT_TRUE(parse_ipv4("10.7.0.254", c.gateway));
  uint32_t dns = 0;
  EXPECT_TRUE(parse_ipv4("198.18.0.53", dns));
  c.dns = {dns};
  return c;
}

TEST(DhcpResponder, DiscoverGetsAnOfferWithTheConfiguredIdentity) {
  const NetConfig c = config();
  const DhcpOutcome o = answer_dhcp(c, dhcp_client_frame(c.mac, 1, 0xabcdef01));
  ASSERT_EQ(o.verdict, DhcpVerdict::kAnswer);
  const std::vector<uint8_t>& f = o.reply;
  ASSERT_GE(f.size(), kBootp + 300);
  EXPECT_EQ(std::memcmp(f.data(), c.mac.data(), 6), 0);  // unicast to the client
  EXPECT_TRUE(ip_checksum_ok(f));
  EXPECT_EQ(get32(f, 26), c.gateway);  // from the server id
  EXPECT_EQ(get32(f, 30), c.ip);
  EXPECT_EQ(get16(f, 34), 67);
  EXPECT_EQ(get16(f, 36), 68);
  EXPECT_EQ(f[kBootp], 2);
  EXPECT_EQ(get32(f, kBootp + 4), 0xabcdef01u);
  EXPECT_EQ(get32(f, kBootp + 16), c.ip);  // yiaddr
  EXPECT_EQ(std::memcmp(f.data() + kBootp + 28, c.mac.data(), 6), 0);
  EXPECT_EQ(dhcp_option(f, 53), std::vector<uint8_t>{2});
  EXPECT_EQ(get32(dhcp_option(f, 54), 0), c.gateway);
  EXPECT_EQ(get32(dhcp_option(f, 1), 0), 0xffffff00u);
  EXPECT_EQ(get32(dhcp_option(f, 3), 0), c.gateway);
  EXPECT_EQ(get32(dhcp_option(f, 6), 0), c.dns[0]);
  EXPECT_EQ(get32(dhcp_option(f, 51), 0), kDhcpLeaseSeconds);
}

TEST(DhcpResponder, RequestForTheAddressIsAckedAndForAnotherNaked) {
  const NetConfig c = config();
  DhcpOutcome ack = answer_dhcp(c, dhcp_client_frame(c.mac, 3, 7, c.ip, c.gateway));
  ASSERT_EQ(ack.verdict, DhcpVerdict::kAnswer);
  EXPECT_EQ(dhcp_option(ack.reply, 53), std::vector<uint8_t>{5});
  EXPECT_EQ(get32(ack.reply, kBootp + 16), c.ip);
  // INIT-REBOOT without a requested address (ciaddr 0) is acked too.
  EXPECT_EQ(dhcp_option(answer_dhcp(c, dhcp_client_frame(c.mac, 3, 7)).reply, 53), std::vector<uint8_t>{5});
  // A clone that remembers its parent's address is told no, and asks again from scratch.
  DhcpOutcome nak = answer_dhcp(c, dhcp_client_frame(c.mac, 3, 7, c.ip + 1));
  ASSERT_EQ(nak.verdict, DhcpVerdict::kAnswer);
  EXPECT_EQ(dhcp_option(nak.reply, 53), std::vector<uint8_t>{6});
  EXPECT_EQ(get32(nak.reply, kBootp + 16), 0u);
  EXPECT_EQ(nak.reply[0], 0xff);  // broadcast
  // A REQUEST that chose another server gets no answer, and still never reaches the network.
  EXPECT_EQ(answer_dhcp(c, dhcp_client_frame(c.mac, 3, 7, c.ip, c.gateway - 1)).verdict, DhcpVerdict::kIgnore);
}

TEST(DhcpResponder, ServerIdIsTheNetworksFirstHostWithoutAGateway) {
  NetConfig c = config();
  c.gateway = 0;
  const DhcpOutcome o = answer_dhcp(c, dhcp_client_frame(c.mac, 1));
  ASSERT_EQ(o.verdict, DhcpVerdict::kAnswer);
  EXPECT_EQ(get32(dhcp_option(o.reply, 54), 0), (c.ip & 0xffffff00u) + 1);
  EXPECT_TRUE(dhcp_option(o.reply, 3).empty());  // no router option
}

TEST(DhcpResponder, OtherMacsAndOtherMessagesAreSwallowedAndOtherTrafficPasses) {
  const NetConfig c = config();
  MacAddress other = c.mac;
  other[5] ^= 1;
  EXPECT_EQ(answer_dhcp(c, dhcp_client_frame(other, 1)).verdict, DhcpVerdict::kIgnore);
  EXPECT_EQ(answer_dhcp(c, dhcp_client_frame(c.mac, 7)).verdict, DhcpVerdict::kIgnore);  // RELEASE
  std::vector<uint8_t> udp = dhcp_client_frame(c.mac, 1);
  put16(udp, 36, 68);  // 68 -> 68: not a client-to-server message
  EXPECT_EQ(answer_dhcp(c, udp).verdict, DhcpVerdict::kNotDhcp);
  std::vector<uint8_t> arp(60, 0);
  put16(arp, 12, 0x0806);
  EXPECT_EQ(answer_dhcp(c, arp).verdict, DhcpVerdict::kNotDhcp);
  EXPECT_EQ(answer_dhcp(c, {}).verdict, DhcpVerdict::kNotDhcp);
}

TEST(DhcpResponder, TruncationsAndMutationsNeverCrashOrReadPastTheFrame) {
  const NetConfig c = config();
  const std::vector<uint8_t> good = dhcp_client_frame(c.mac, 3, 9, c.ip);
  // Every prefix, copied to an exact-size heap buffer so that a read past the end is a real overrun (ASan).
  for (size_t n = 0; n <= good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<ptrdiff_t>(n));
    const DhcpOutcome o = answer_dhcp(c, cut);
    if (o.verdict == DhcpVerdict::kAnswer) {
      EXPECT_EQ(n, good.size());
    }
  }
  std::mt19937 rng(12);
  int answered = 0;
  for (int i = 0; i < 200000; ++i) {
    std::vector<uint8_t> f = good;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    const DhcpOutcome o = answer_dhcp(c, f);
    if (o.verdict == DhcpVerdict::kAnswer) {
      ++answered;
      ASSERT_TRUE(ip_checksum_ok(o.reply));
      ASSERT_LE(o.reply.size(), 1514u);
      // Whatever was mutated, the answer only ever hands out the configured address (or none).
      const uint32_t yiaddr = get32(o.reply, kBootp + 16);
      ASSERT_TRUE(yiaddr == c.ip || yiaddr == 0);
    } else {
      ASSERT_TRUE(o.reply.empty());
    }
  }
  EXPECT_GT(answered, 0);  // mutations that keep the message valid are still answered
  for (int i = 0; i < 100000; ++i) {
    std::vector<uint8_t> f(rng() % 700);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    EXPECT_NE(answer_dhcp(c, f).verdict, DhcpVerdict::kAnswer);
  }
}

TEST(NetConfig, ParsesAddressesAndRefusesBadOnes) {
  MacAddress m{};
  EXPECT_TRUE(parse_mac("02:AB:cd:00:ff:10", m));
  EXPECT_EQ(format_mac(m), "02:ab:cd:00:ff:10");
  for (const char* bad : {"", "02:ab:cd:00:ff", "02:ab:cd:00:ff:1g", "02-ab-cd-00-ff-10", "02:ab:cd:00:ff:100"}) {
    EXPECT_FALSE(parse_mac(bad, m)) << bad;
  }
  uint32_t ip = 0;
  EXPECT_TRUE(parse_ipv4("10.0.255.1", ip));
  EXPECT_EQ(ip, 0x0a00ff01u);
  EXPECT_EQ(format_ipv4(ip), "10.0.255.1");
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "10.0.0.01", "10.0.0.1.", "a.b.c.d", "10..0.1", " 10.0.0.1"}) {
    EXPECT_FALSE(parse_ipv4(bad, ip)) << bad;
  }
}

TEST(NetConfig, ChecksNameTheFieldThatIsWrong) {
  EXPECT_TRUE(check_net_config(config()).ok());
  const auto refused = [](NetConfig c, const char* word) {
    const Status s = check_net_config(c);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code, EINVAL);
    EXPECT_NE(s.message.find(word), std::string::npos) << s.message;
  };
  NetConfig c = config();
  c.tap = "";
  refused(c, "tap");
  c.tap = "a/b";
  refused(c, "tap");
  c.tap = "sixteen-chars-xx";
  refused(c, "tap");
  c = config();
  c.mac[0] = 1;  // multicast
  refused(c, "mac");
  c = config();
  c.prefix_length = 31;
  refused(c, "prefixLength");
  c = config();
  c.ip = 0x0a070000;  // network address
  refused(c, "ip");
  c = config();
  c.gateway = 0x0a080001;  // another subnet
  refused(c, "gateway");
  c = config();
  c.dns = {1, 2, 3, 4, 5};
  refused(c, "dns");
}

}  // namespace
}  // namespace sf::devices::test
