// mcdist building blocks on their own: the request extension (receive rate, unicast flag) and its
// rejections, the receive-rate meter, the flow-control average and pacer, the lockstep/end-game
// tracker, the test-only loss knob, and the multicast helpers (modes, groups, interface MTU).
// Boundary: tests of memserver/{page_wire,rate_meter,flow_control,lockstep,loss_knob,multicast}.h.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "memserver/flow_control.h"
#include "memserver/lockstep.h"
#include "memserver/loss_knob.h"
#include "memserver/multicast.h"
#include "memserver/page_wire.h"
#include "memserver/rate_meter.h"

namespace sf::memserver::test {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kSnap = 0x77aa55;

SnapshotKey key() {
  SnapshotKey k;
  for (int i = 0; i < 16; ++i) k[i] = static_cast<uint8_t>(0x11 * i + 3);
  return k;
}

void reseal(std::vector<uint8_t>& b) {
  const uint64_t mac = siphash24(key(), b.data(), b.size() - kMacBytes);
  for (int i = 0; i < 8; ++i) b[b.size() - kMacBytes + i] = static_cast<uint8_t>(mac >> (8 * i));
}

PageRequest request(uint32_t rate_kib, bool unicast, bool retry = false) {
  PageRequest r;
  r.snapshot_id = kSnap;
  r.first_page = 77;
  r.npages = 3;
  r.client_id = 9;
  r.seq = 10;
  r.rate_kib = rate_kib;
  r.unicast = unicast;
  r.retry = retry;
  return r;
}

TEST(McdistWire, RequestsCarryTheReceiveRateAndTheUnicastAndRetryFlags) {
  for (uint32_t rate : {0u, 1u, 123456u, UINT32_MAX}) {
    for (int flags = 0; flags < 4; ++flags) {
      const bool uni = flags & 1, retry = flags & 2;
      std::vector<uint8_t> b(kRequestBytes);
      ASSERT_EQ(encode_request(request(rate, uni, retry), key(), b), kRequestBytes);
      EXPECT_EQ(b[4], kWireVersion) << "an extension of version 1, not a new version";
      PageRequest got;
      ASSERT_EQ(decode_request(b, kSnap, key(), &got), WireError::ok) << rate << " " << flags;
      EXPECT_EQ(got.rate_kib, rate);
      EXPECT_EQ(got.unicast, uni);
      EXPECT_EQ(got.retry, retry);
      EXPECT_EQ(got.first_page, 77u);
      EXPECT_EQ(got.npages, 3u);
      EXPECT_EQ(b[6],
                (rate ? kRequestFlagRate : 0) | (uni ? kRequestFlagUnicast : 0) | (retry ? kRequestFlagRetry : 0));
    }
  }
  // A request without either extension is byte for byte the original layout (reserved word 0).
  std::vector<uint8_t> plain(kRequestBytes);
  ASSERT_EQ(encode_request(request(0, false), key(), plain), kRequestBytes);
  EXPECT_EQ(plain[6] | plain[7] | plain[36] | plain[37] | plain[38] | plain[39], 0);
}

TEST(McdistWire, InconsistentRateFieldsAndUnknownFlagsAreMalformed) {
  PageRequest got;
  auto edited = [&](uint16_t flags, uint32_t rate) {
    std::vector<uint8_t> b(kRequestBytes);
    EXPECT_EQ(encode_request(request(0, false), key(), b), kRequestBytes);
    b[6] = static_cast<uint8_t>(flags);
    b[7] = static_cast<uint8_t>(flags >> 8);
    for (int i = 0; i < 4; ++i) b[36 + i] = static_cast<uint8_t>(rate >> (8 * i));
    reseal(b);
    return decode_request(b, kSnap, key(), &got);
  };
  EXPECT_EQ(edited(0, 0), WireError::ok);
  EXPECT_EQ(edited(kRequestFlagRate, 5), WireError::ok);
  EXPECT_EQ(edited(kRequestFlagRate, 0), WireError::malformed);  // "a rate of zero"
  EXPECT_EQ(edited(0, 5), WireError::malformed);                 // a rate without its flag
  EXPECT_EQ(edited(kRequestFlagUnicast, 5), WireError::malformed);
  EXPECT_EQ(edited(kRequestFlagRetry | kRequestFlagUnicast, 0), WireError::ok);
  EXPECT_EQ(edited(8, 0), WireError::malformed);  // an unknown flag
  EXPECT_EQ(edited(0x8000 | kRequestFlagRate, 5), WireError::malformed);
  // The rate is under the MAC like everything else: changing it in flight is a forgery.
  std::vector<uint8_t> b(kRequestBytes);
  ASSERT_EQ(encode_request(request(1000, false), key(), b), kRequestBytes);
  b[36] ^= 0x40;
  EXPECT_EQ(decode_request(b, kSnap, key(), &got), WireError::bad_mac);
}

TEST(McdistRateMeter, MeasuresBurstsNotIdleTime) {
  RateMeter m;
  EXPECT_EQ(m.rate(), 0u);
  EXPECT_EQ(m.rate_kib(), 0u);
  // 100 datagrams of 1000 bytes, 10 µs apart: 100 MB/s while streaming...
  uint64_t t = 1000000000;
  for (int i = 0; i < 100; ++i, t += 10000) m.add(t, 1000);
  // ...then a second of silence, then another burst (ending the first): idleness is not slowness.
  t += 1000000000;
  for (int i = 0; i < 100; ++i, t += 10000) m.add(t, 1000);
  t += 1000000000;
  m.add(t, 1000);
  EXPECT_NEAR(static_cast<double>(m.rate()), 100e6, 1e6);
  EXPECT_EQ(m.rate_kib(), static_cast<uint32_t>(m.rate() / 1024));
  // A long stream is sampled every few ms; a slower stream pulls the average down, not to it at once.
  RateMeter s;
  t = 5000000000;
  for (int i = 0; i < 2000; ++i, t += 10000) s.add(t, 1000);  // 20 ms at 100 MB/s
  const uint64_t fast = s.rate();
  EXPECT_NEAR(static_cast<double>(fast), 100e6, 2e6);
  for (int i = 0; i < 500; ++i, t += 40000) s.add(t, 1000);  // 20 ms at 25 MB/s
  EXPECT_LT(s.rate(), fast);
  EXPECT_GT(s.rate(), 25000000u);
  // Too few datagrams, or a clock that steps back, yield no sample (and no crash).
  RateMeter few;
  for (int i = 0; i < 5; ++i) few.add(1000 + i * 10, 1000);
  few.add(1000000000, 10);
  EXPECT_EQ(few.rate(), 0u);
  RateMeter back;
  back.add(1000000000, 100);
  back.add(999000000, 100);
  EXPECT_EQ(back.rate(), 0u);
}

TEST(McdistFlowControl, PacesAboveTheWeightedAverageOfReports) {
  FlowControlConfig c;
  c.min_rate = 1 << 20;
  FlowControl f(c);
  EXPECT_EQ(f.pace(), 0u) << "no report, no ceiling: unpaced";
  f.report(0);  // ignored
  EXPECT_EQ(f.reports(), 0u);
  f.report(80u << 20);
  EXPECT_EQ(f.average(), 80u << 20);
  EXPECT_EQ(f.pace(), 100u << 20);  // 25 % headroom
  f.report(16u << 20);              // one slow client moves the average by its weight (⅛)
  EXPECT_EQ(f.average(), 72u << 20);
  EXPECT_EQ(f.pace(), 90u << 20);
  for (int i = 0; i < 200; ++i) f.report(100);
  EXPECT_EQ(f.pace(), 1u << 20) << "the floor";
  FlowControlConfig capped = c;
  capped.max_rate = 50u << 20;
  FlowControl g(capped);
  EXPECT_EQ(g.pace(), 50u << 20) << "the ceiling is also the pace before any report";
  g.report(1u << 30);
  EXPECT_EQ(g.pace(), 50u << 20);
  FlowControlConfig off = c;
  off.enabled = false;
  FlowControl h(off);
  h.report(1000);
  EXPECT_EQ(h.pace(), 0u);
}

TEST(McdistFlowControl, TokenBucketKeepsThePace) {
  FlowControlConfig c;
  c.min_rate = 1;
  FlowControl f(c);
  using Clock = FlowControl::Clock;
  Clock::time_point t{std::chrono::seconds(100)};
  // Unpaced: never waits.
  f.spent(10u << 20, t);
  EXPECT_EQ(f.delay(t), Clock::duration::zero());
  f.report(8u << 20);  // pace 10 MiB/s
  ASSERT_EQ(f.pace(), 10u << 20);
  // Simulate 2 s of a sender that always has data: sends 64 KiB whenever allowed.
  uint64_t sent = 0;
  const Clock::time_point end = t + 2s;
  while (t < end) {
    const Clock::duration d = f.delay(t);
    if (d > Clock::duration::zero()) {
      t += d;
      continue;
    }
    f.spent(64 * 1024, t);
    sent += 64 * 1024;
  }
  const double rate = static_cast<double>(sent) / 2.0;
  EXPECT_NEAR(rate, 10.0 * (1 << 20), 0.05 * 10.0 * (1 << 20));
  // After idling, only a bounded burst goes out at once.
  t += 10s;
  uint64_t burst = 0;
  while (f.delay(t) == Clock::duration::zero()) {
    f.spent(1024, t);
    burst += 1024;
  }
  EXPECT_LE(burst, 160u * 1024);
  EXPECT_GE(burst, 100u * 1024);
}

TEST(McdistLockstep, RecentOrQueuedPagesAreRedundantAndTheEndGameCountsDataPages) {
  using Clock = LockstepTracker::Clock;
  const Clock::time_point t0 = Clock::now();
  LockstepTracker l(100, 60, 2ms, 20ms, t0);
  EXPECT_TRUE(l.enabled());
  EXPECT_FALSE(l.redundant(5, t0, false, false));
  l.set_queued(5, false);
  EXPECT_TRUE(l.redundant(5, t0, false, true));
  EXPECT_TRUE(l.queued(5));
  l.sent(5, t0 + 1ms, true);
  EXPECT_FALSE(l.queued(5));
  // A retry: the short window.
  EXPECT_TRUE(l.redundant(5, t0 + 2ms, false, true));
  EXPECT_TRUE(l.redundant(5, t0 + 2ms, true, true));
  EXPECT_TRUE(l.redundant(5, t0 + 2900us, false, true));
  EXPECT_FALSE(l.redundant(5, t0 + 3100us, false, true));
  // A first ask: the long one.
  EXPECT_TRUE(l.redundant(5, t0 + 3100us, false, false));
  EXPECT_TRUE(l.redundant(5, t0 + 20900us, true, false));
  EXPECT_FALSE(l.redundant(5, t0 + 21100us, true, false));
  EXPECT_TRUE(l.ever_sent(5));
  EXPECT_FALSE(l.ever_sent(6));
  EXPECT_EQ(l.data_pages_sent(), 1u);
  l.sent(5, t0 + 10ms, true);   // again: still one distinct page
  l.sent(6, t0 + 10ms, false);  // a hole: not a data page
  EXPECT_EQ(l.data_pages_sent(), 1u);
  EXPECT_EQ(l.data_pages(), 60u);
  l.set_queued(7, false);
  l.unqueue(7);
  EXPECT_FALSE(l.redundant(7, t0, false, false));
  // A fault's request is not held behind bulk work for the same page: it may queue it again, ahead;
  // once queued ahead, further requests of either kind are redundant.
  l.set_queued(8, false);
  EXPECT_TRUE(l.redundant(8, t0, false, false));
  EXPECT_FALSE(l.redundant(8, t0, true, false));
  l.set_queued(8, true);
  EXPECT_TRUE(l.redundant(8, t0, true, false));
  EXPECT_TRUE(l.redundant(8, t0, false, false));
  // Out of range: nothing (a unicast server tracks no pages at all).
  EXPECT_FALSE(l.redundant(100, t0, false, false));
  l.set_queued(100, true);
  l.sent(100, t0, true);
  EXPECT_FALSE(l.queued(100));
  EXPECT_FALSE(l.ever_sent(100));
  EXPECT_EQ(l.data_pages_sent(), 1u);
  // The first-ask window is never shorter than the retry window.
  LockstepTracker shorter(10, 10, 5ms, 1ms, t0);
  shorter.sent(1, t0, true);
  EXPECT_TRUE(shorter.redundant(1, t0 + 4ms, false, false));
  // Window 0: lockstep off (whatever the first-ask window).
  LockstepTracker off(10, 10, 0ms, 20ms, t0);
  EXPECT_FALSE(off.enabled());
  off.set_queued(1, true);
  off.sent(2, t0, true);
  EXPECT_FALSE(off.redundant(1, t0, false, false));
  EXPECT_FALSE(off.redundant(2, t0, false, false));
  EXPECT_EQ(off.data_pages_sent(), 1u);  // the end game still counts
}

TEST(McdistLossKnob, DropsAboutTheFractionReproducibly) {
  LossKnob none;
  EXPECT_FALSE(none.enabled());
  LossKnob all(1.0), five(0.05, 42), five_again(0.05, 42);
  int dropped = 0;
  for (int i = 0; i < 100000; ++i) {
    const bool d = five.drop();
    EXPECT_EQ(d, five_again.drop());
    dropped += d ? 1 : 0;
    ASSERT_FALSE(none.drop());
    ASSERT_TRUE(all.drop());
  }
  EXPECT_NEAR(dropped, 5000, 400);
  EXPECT_FALSE(LossKnob(-1).enabled());
}

TEST(McdistMulticast, ModesGroupsAndMtu) {
  EXPECT_EQ(parse_network_mode("multicast").value(), NetworkMode::multicast);
  EXPECT_EQ(parse_network_mode("unicast").value(), NetworkMode::unicast);
  EXPECT_FALSE(parse_network_mode("broadcast").ok());
  EXPECT_STREQ(network_mode_name(NetworkMode::multicast), "multicast");
  EXPECT_TRUE(is_multicast(0xef000001u));
  EXPECT_TRUE(is_multicast(0xe0000001u));
  EXPECT_FALSE(is_multicast(0x7f000001u));
  for (uint64_t id : {0ull, 1ull, 2ull, 0xdeadbeefull, ~0ull}) {
    const Endpoint g = derive_multicast_group(id, 4000);
    EXPECT_EQ(g.addr >> 24, 239u) << g.to_string();
    EXPECT_NE(g.addr & 0xff, 0u);
    EXPECT_NE(g.addr & 0xff, 255u);
    EXPECT_EQ(g.port, 4000);
    EXPECT_EQ(g, derive_multicast_group(id, 4000));
  }
  EXPECT_NE(derive_multicast_group(1, 1), derive_multicast_group(2, 1));
  EXPECT_EQ(datagram_for_mtu(1500), 1472u);
  EXPECT_EQ(datagram_for_mtu(9000), 8972u);
  auto lo = interface_mtu(0x7f000001u);
  ASSERT_TRUE(lo.ok()) << lo.status().message;
  EXPECT_GE(lo.value(), 1500u);
  auto none = interface_mtu(0x7f0000feu);  // 127.0.0.254 is routed to lo but is no interface's address
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(none.status().code, EADDRNOTAVAIL);
  // A group receiver refuses a unicast "group"; a sender refuses a multicast "interface".
  EXPECT_FALSE(open_group_receiver(Endpoint{0x7f000001u, 5000}, 0x7f000001u, 0).ok());
  EXPECT_FALSE(open_group_receiver(Endpoint{0xef000001u, 0}, 0x7f000001u, 0).ok());
  auto sock = open_udp(Endpoint::loopback(0), nullptr, 0, 0);
  ASSERT_TRUE(sock.ok());
  EXPECT_FALSE(set_multicast_sender(sock.value().get(), 0xef000001u, 1).ok());
  EXPECT_FALSE(set_multicast_sender(sock.value().get(), 0, 1).ok());
  EXPECT_TRUE(set_multicast_sender(sock.value().get(), 0x7f000001u, 1).ok());
}

}  // namespace
}  // namespace sf::memserver::test
