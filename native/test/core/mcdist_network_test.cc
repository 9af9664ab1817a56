// mcdist end to end on one machine: a memserver multicasting to a group on the loopback interface and
// three "hosts" (a RemotePageSource + Mirror each, several memtap clones) in this process. Pages one
// host asked for land in every host's mirror; N hosts touching the same pages cost about one working
// set in multicast mode and N in unicast; lockstep requests are served once; the end game answers
// retransmissions by unicast; the server paces to the reported receive rates; with 5 % loss at the
// receivers and the sender every clone still converges; a flood of garbage, forged, foreign and stale
// datagrams at the server and at the group is counted and dropped and never installed.
// Boundary: memserver/{memserver,remote_source,mirror}.h with memory/memtap.h; sends only to 127.0.0.1
// and to 239.255.x.y groups on the loopback interface (TTL 1). No KVM needed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "memory/memtap.h"
#include "memserver/memserver.h"
#include "memserver/mirror.h"
#include "memserver/multicast.h"
#include "memserver/page_wire.h"
#include "memserver/remote_source.h"
#include "memserver_fixture.h"
#include "test_support.h"

namespace sf::memserver::test {
namespace {

using memory::Memtap;
using namespace std::chrono_literals;
using vmm::test::mono;
using vmm::test::uffd_usable;
using vmm::test::wait_for;

constexpr uint64_t kSnapId = 0x3c0ffee5;
constexpr uint32_t kLoopback = 0x7f000001u;
constexpr uint32_t kWholePage = static_cast<uint32_t>(kFragmentOverhead + kPg);

// A group per test (239.255.77.x); the port is the memserver's own (unique while it lives).
Endpoint group_for(uint8_t n) { return Endpoint{0xefff4d00u | n, 0}; }

struct ServerOpts {
  NetworkMode mode = NetworkMode::multicast;
  uint8_t group = 1;
  uint32_t max_datagram = kEthernetDatagram;
  std::chrono::microseconds lockstep{2000};
  double endgame = 0.9;
  double send_drop = 0.0;
  uint64_t min_rate = 8u << 20;
};

std::unique_ptr<Memserver> start_server(const Snapshot& s, const ServerOpts& o = {}) {
  MemserverConfig c;
  c.snapshot_fd = s.fd.get();
  c.ram_bytes = s.bytes();
  c.snapshot_id = kSnapId;
  c.key = test_key();
  c.max_datagram = o.max_datagram;
  c.mode = o.mode;
  c.group = group_for(o.group);
  c.multicast_interface = kLoopback;
  c.lockstep_window = o.lockstep;
  c.endgame_share = o.endgame;
  c.send_drop_for_test = o.send_drop;
  c.flow.min_rate = o.min_rate;
  auto m = Memserver::create(c);
  EXPECT_TRUE(m.ok()) << m.status().message;
  return m.ok() ? std::move(m).value() : nullptr;
}

// One simulated host: its mirror and the source that fills it (joined to the server's group when
// the server multicasts).
struct Host {
  std::shared_ptr<Mirror> mirror;
  std::shared_ptr<RemotePageSource> src;
};

struct HostOpts {
  bool join = true;
  double drop = 0.0;
  uint64_t report_rate = 0;
  std::chrono::milliseconds timeout{3000};
};

Host make_host(const Snapshot& s, const Memserver& server, const HostOpts& o = {}) {
  Host h;
  auto m = Mirror::create(kSnapId, s.bytes());
  EXPECT_TRUE(m.ok()) << m.status().message;
  if (!m.ok()) return h;
  h.mirror = std::move(m).value();
  RemoteSourceConfig c;
  c.server = server.endpoint();
  c.snapshot_id = kSnapId;
  c.key = test_key();
  c.timeout = o.timeout;
  if (o.join && server.mode() == NetworkMode::multicast) c.group = server.group();
  c.multicast_interface = kLoopback;
  c.drop_for_test = o.drop;
  c.report_rate_for_test = o.report_rate;
  auto r = RemotePageSource::create(c, h.mirror);
  EXPECT_TRUE(r.ok()) << r.status().message;
  if (r.ok()) h.src = std::move(r).value();
  return h;
}

// Prefetch-style blocking fetch through the source; true if it succeeded.
bool fetch(Host& h, uint64_t first, uint64_t n) {
  std::vector<const uint8_t*> out(n);
  std::vector<uint8_t> scratch;  // the remote source hands out mirror pointers
  std::atomic<bool> cancel{false};
  const Status st = h.src->get(first, n, scratch.data(), out.data(), cancel);
  EXPECT_TRUE(st.ok()) << st.message;
  return st.ok();
}

// Every page the mirror holds is the snapshot's page (zero pages as zero).
uint64_t wrong_pages(const Snapshot& s, const Mirror& m) {
  uint64_t bad = 0;
  static const std::vector<uint8_t> zero(kPg, 0);
  for (uint64_t p = 0; p < s.pages; ++p) {
    if (!m.has(p)) continue;
    const uint8_t* got = m.is_zero(p) ? zero.data() : m.data(p);
    bad += std::memcmp(got, s.page(p), kPg) == 0 ? 0 : 1;
  }
  return bad;
}

uint64_t pct(std::vector<uint64_t> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return v[k];
}

// A plain UDP socket for injecting datagrams at the server or (multicast out of lo, TTL 1) the group.
struct Injector {
  sf::UniqueFd fd;
  Endpoint self;
  Injector() {
    auto s = open_udp(Endpoint::loopback(0), &self, 1 << 20, 4 << 20);
    EXPECT_TRUE(s.ok());
    if (s.ok()) fd = std::move(s).value();
    EXPECT_TRUE(set_multicast_sender(fd.get(), kLoopback, 1).ok());
  }
  void send(const Endpoint& to, std::span<const uint8_t> bytes) {
    ASSERT_TRUE(to.addr >> 24 == 127 || to.addr >> 24 == 239) << to.to_string();
    const sockaddr_in sa = to.sockaddr();
    EXPECT_EQ(::sendto(fd.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&sa), sizeof sa),
              static_cast<ssize_t>(bytes.size()));
  }
};

std::vector<uint8_t> request_bytes(uint64_t first, uint32_t n, uint32_t client, const SnapshotKey& key = test_key(),
                                   uint64_t snap = kSnapId) {
  PageRequest r;
  r.snapshot_id = snap;
  r.first_page = first;
  r.npages = n;
  r.client_id = client;
  r.seq = 1;
  std::vector<uint8_t> b(kRequestBytes);
  EXPECT_EQ(encode_request(r, key, b), kRequestBytes);
  return b;
}

TEST(McdistMulticast, APageOneHostAskedForLandsInEveryHostsMirror) {
  Snapshot snap(512);
  for (uint32_t dgram : {kEthernetDatagram, 0u}) {  // MTU 1500 (3 fragments a page); 0: the loopback MTU
    SCOPED_TRACE(dgram);
    ServerOpts so;
    so.max_datagram = dgram;
    auto server = start_server(snap, so);
    ASSERT_TRUE(server);
    EXPECT_EQ(server->mode(), NetworkMode::multicast);
    EXPECT_EQ(server->group().addr, group_for(1).addr);
    EXPECT_EQ(server->group().port, server->endpoint().port);
    EXPECT_EQ(server->max_datagram(), dgram == 0 ? kWholePage : kEthernetDatagram);
    Host a = make_host(snap, *server), b = make_host(snap, *server), c = make_host(snap, *server);
    ASSERT_TRUE(a.src && b.src && c.src);
    EXPECT_EQ(a.src->group(), server->group());
    ASSERT_TRUE(fetch(a, 0, 300));
    // B and C asked for nothing, yet hold every page A fetched: prefetch for siblings on other hosts.
    ASSERT_TRUE(wait_for([&] { return b.mirror->has_all(0, 300) && c.mirror->has_all(0, 300); }));
    EXPECT_EQ(b.src->stats().requests_sent + c.src->stats().requests_sent, 0u);
    EXPECT_GT(b.src->stats().group_datagrams, 0u);
    for (const Host* h : {&a, &b, &c}) EXPECT_EQ(wrong_pages(snap, *h->mirror), 0u);
    // So a clone on C faults those pages from its own mirror, without a request.
    SF_REQUIRE_UFFD();
    CloneRam clone(snap.bytes(), c.src);
    ASSERT_TRUE(clone.tap);
    for (uint64_t p = 0; p < 300; ++p) ASSERT_TRUE(clone.page_ok(snap, p)) << p;
    EXPECT_EQ(c.src->stats().requests_sent, 0u);
    EXPECT_EQ(c.src->stats().mirror_hits, 300u);
    const MemserverStats s = server->stats();
    EXPECT_EQ(s.unicast_datagrams, 0u);
    EXPECT_EQ(s.multicast_datagrams, s.datagrams_sent);
    EXPECT_EQ(s.dropped_total, 0u);
  }
}

TEST(McdistMulticast, AClientOutsideTheGroupIsAnsweredByUnicast) {
  Snapshot snap(256);
  auto server = start_server(snap);
  ASSERT_TRUE(server);
  HostOpts lone;
  lone.join = false;
  Host member = make_host(snap, *server), outsider = make_host(snap, *server, lone);
  ASSERT_TRUE(member.src && outsider.src);
  EXPECT_EQ(outsider.src->group(), Endpoint{});
  ASSERT_TRUE(fetch(outsider, 0, 100));
  EXPECT_EQ(wrong_pages(snap, *outsider.mirror), 0u);
  const MemserverStats s = server->stats();
  EXPECT_GT(s.unicast_datagrams, 0u);
  EXPECT_EQ(s.multicast_datagrams, 0u);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(member.mirror->stats().pages, 0u);  // unicast replies reach only the asker
}

// Bytes the server sends while `hosts` hosts each fetch the same `pages` pages at the same time.
struct Traffic {
  uint64_t bytes, datagrams, lockstep, fault_p50_ns;
};
Traffic shared_working_set(const Snapshot& snap, NetworkMode mode, int hosts, uint64_t pages, bool faults,
                           uint8_t group) {
  ServerOpts so;
  so.mode = mode;
  so.group = group;
  auto server = start_server(snap, so);
  EXPECT_TRUE(server);
  if (!server) return {};
  std::vector<Host> hs;
  for (int i = 0; i < hosts; ++i) hs.push_back(make_host(snap, *server));
  std::vector<std::unique_ptr<CloneRam>> clones;
  if (faults) {
    for (Host& h : hs) clones.push_back(std::make_unique<CloneRam>(snap.bytes(), h.src));
  }
  std::barrier start(hosts);
  std::vector<std::thread> ts;
  std::atomic<uint64_t> bad{0};
  for (int i = 0; i < hosts; ++i) {
    ts.emplace_back([&, i] {
      start.arrive_and_wait();
      if (faults) {
        for (uint64_t p = 0; p < pages; ++p) bad += clones[i]->page_ok(snap, p) ? 0 : 1;
      } else {
        if (!fetch(hs[i], 0, pages)) ++bad;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0u);
  for (Host& h : hs) {
    EXPECT_TRUE(h.mirror->has_all(0, pages));
    EXPECT_EQ(wrong_pages(snap, *h.mirror), 0u);
  }
  // Let stragglers (replies to requests still queued) finish before reading the counters.
  uint64_t last = ~0ull;
  wait_for([&] {
    const uint64_t now = server->stats().bytes_sent;
    const bool still = now == last && server->stats().backlog_pages == 0;
    last = now;
    std::this_thread::sleep_for(10ms);
    return still;
  });
  const MemserverStats s = server->stats();
  std::vector<uint64_t> p50s;
  for (auto& c : clones) p50s.push_back(c->tap->stats().p50_ns);
  return Traffic{s.bytes_sent, s.datagrams_sent, s.lockstep_suppressed, pct(p50s, 0.5)};
}

TEST(McdistMulticast, NHostsTouchingTheSamePagesCostOneWorkingSetNotN) {
  SF_REQUIRE_UFFD();
  Snapshot snap(2048);
  constexpr uint64_t kSet = 1024;
  constexpr int kHosts = 3;
  for (bool faults : {false, true}) {
    SCOPED_TRACE(faults ? "faults" : "prefetch");
    const Traffic one = shared_working_set(snap, NetworkMode::unicast, 1, kSet, faults, 2);
    const Traffic uni = shared_working_set(snap, NetworkMode::unicast, kHosts, kSet, faults, 2);
    const Traffic multi = shared_working_set(snap, NetworkMode::multicast, kHosts, kSet, faults, 3);
    std::printf(
        "[ mcdist ] %s, %d hosts x %llu pages: one host %llu B; unicast %llu B (%.2fx); multicast %llu B "
        "(%.2fx, %llu lockstep-suppressed pages); fault service p50: unicast %llu ns, multicast %llu ns\n",
        faults ? "faults  " : "prefetch", kHosts, (unsigned long long)kSet, (unsigned long long)one.bytes,
        (unsigned long long)uni.bytes, static_cast<double>(uni.bytes) / static_cast<double>(one.bytes),
        (unsigned long long)multi.bytes, static_cast<double>(multi.bytes) / static_cast<double>(one.bytes),
        (unsigned long long)multi.lockstep, (unsigned long long)uni.fault_p50_ns,
        (unsigned long long)multi.fault_p50_ns);
    EXPECT_GE(one.bytes, kSet * kPg / 2);  // about half the pages are data, the rest zero runs
    EXPECT_GE(static_cast<double>(uni.bytes), 2.5 * static_cast<double>(one.bytes)) << "unicast: N working sets";
    EXPECT_LE(static_cast<double>(multi.bytes), 1.5 * static_cast<double>(one.bytes)) << "multicast: about one";
  }
}

TEST(McdistLockstep, SimultaneousRequestsForOnePageAreServedOnce) {
  Snapshot snap(256);
  ServerOpts so;
  so.group = 4;
  so.lockstep = 300ms;  // wide, so "at the same time" does not depend on this machine's scheduling
  auto server = start_server(snap, so);
  ASSERT_TRUE(server);
  Host watcher = make_host(snap, *server);
  ASSERT_TRUE(watcher.src);
  // Three clients send the same request at once.
  Injector i1, i2, i3;
  const auto r1 = request_bytes(0, 32, 1), r2 = request_bytes(0, 32, 2), r3 = request_bytes(0, 32, 3);
  i1.send(server->endpoint(), r1);
  i2.send(server->endpoint(), r2);
  i3.send(server->endpoint(), r3);
  ASSERT_TRUE(wait_for([&] { return server->stats().requests == 3 && watcher.mirror->has_all(0, 32); }));
  MemserverStats s = server->stats();
  EXPECT_EQ(s.lockstep_suppressed, 64u) << "the second and third request add nothing";
  EXPECT_EQ(s.pages_served, 32u);
  const uint64_t datagrams_once = s.datagrams_sent;
  // Outside the window the same page is sent again (a client that lost it retries).
  std::this_thread::sleep_for(so.lockstep + 50ms);
  i1.send(server->endpoint(), r1);
  ASSERT_TRUE(wait_for([&] { return server->stats().datagrams_sent == 2 * datagrams_once; }));
  EXPECT_EQ(server->stats().lockstep_suppressed, 64u);

  // The same through three hosts' sources asking for overlapping ranges at once.
  Host a = make_host(snap, *server), b = make_host(snap, *server), c = make_host(snap, *server);
  std::barrier go(3);
  std::vector<std::thread> ts;
  Host* hs[3] = {&a, &b, &c};
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&, i] {
      go.arrive_and_wait();
      hs[i]->src->request(100 + 8 * i, 64);
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(
      wait_for([&] { return a.mirror->has_all(100, 80) && b.mirror->has_all(100, 80) && c.mirror->has_all(100, 80); }));
  EXPECT_GT(server->stats().lockstep_suppressed, 64u);
  for (Host* h : hs) EXPECT_EQ(wrong_pages(snap, *h->mirror), 0u);
}

TEST(McdistLockstep, AFaultOvertakesBulkWorkQueuedForItsPageAndThePageGoesOutOnce) {
  Snapshot snap(1024);
  ServerOpts so;
  so.group = 10;
  so.min_rate = 256 * 1024;
  auto server = start_server(snap, so);
  ASSERT_TRUE(server);
  // A prefetch of 512 pages at a pace of 2.5 MiB/s takes most of a second...
  HostOpts slow;
  slow.report_rate = 2u << 20;
  Host bulk = make_host(snap, *server, slow), faulter = make_host(snap, *server);
  ASSERT_TRUE(bulk.src && faulter.src);
  bulk.src->request(0, 512);
  ASSERT_TRUE(wait_for([&] { return server->stats().requests == 8 && bulk.mirror->stats().pages > 0; }));
  // ...but a fault on another host for one of its last pages is answered ahead of it.
  const uint64_t t0 = mono();
  ASSERT_TRUE(fetch(faulter, 500, 1));
  const uint64_t fault_ms = (mono() - t0) / 1000000;
  const uint64_t bulk_pages_then = bulk.mirror->stats().pages;
  ASSERT_TRUE(wait_for([&] { return bulk.mirror->has_all(0, 512); }, 10s));
  const uint64_t bulk_ms = (mono() - t0) / 1000000;
  std::printf(
      "[ mcdist ] a fault behind a paced prefetch: served in %llu ms (prefetch had %llu of 512 pages; done "
      "after %llu ms)\n",
      (unsigned long long)fault_ms, (unsigned long long)bulk_pages_then, (unsigned long long)bulk_ms);
  EXPECT_LT(bulk_pages_then, 500u);
  EXPECT_LT(fault_ms * 2, bulk_ms);
  EXPECT_LT(fault_ms, 100u) << "a fault's reply is not held back by the pace";
  ASSERT_TRUE(wait_for([&] { return server->stats().backlog_pages == 0; }));
  const MemserverStats s = server->stats();
  EXPECT_EQ(s.pages_served, 512u) << "page 500 went out once, for the fault";
  EXPECT_GE(s.lockstep_suppressed, 1u);
  EXPECT_EQ(wrong_pages(snap, *bulk.mirror), 0u);
  EXPECT_EQ(wrong_pages(snap, *faulter.mirror), 0u);
}

TEST(McdistEndGame, RetransmissionsGoByUnicastOnceMostPagesWentOut) {
  Snapshot snap(256);
  for (double share : {0.5, 2.0}) {  // 2.0: never
    SCOPED_TRACE(share);
    ServerOpts so;
    so.group = 5;
    so.endgame = share;
    auto server = start_server(snap, so);
    ASSERT_TRUE(server);
    Host first = make_host(snap, *server);
    ASSERT_TRUE(fetch(first, 0, 200));  // 200 of 256 pages: more than half of the data pages
    MemserverStats s = server->stats();
    EXPECT_EQ(s.data_pages, 256u - 51u);  // p % 5 == 3 are holes: 3, 8, ..., 253
    EXPECT_GE(s.data_pages_multicast, s.data_pages / 2);
    EXPECT_EQ(s.endgame, share <= 1.0);
    // Two hosts join late and lack everything; one of them asks for pages the group already had.
    Host late = make_host(snap, *server), idle = make_host(snap, *server);
    const uint64_t idle_before = idle.src->stats().datagrams_received;
    const uint64_t uni_before = s.unicast_datagrams;
    ASSERT_TRUE(fetch(late, 10, 50));
    EXPECT_EQ(wrong_pages(snap, *late.mirror), 0u);
    std::this_thread::sleep_for(30ms);
    s = server->stats();
    if (share <= 1.0) {
      EXPECT_GE(s.endgame_unicast_pages, 50u);
      EXPECT_GT(s.unicast_datagrams, uni_before);
      EXPECT_EQ(idle.src->stats().datagrams_received, idle_before) << "a retransmission reaches only the asker";
      EXPECT_FALSE(idle.mirror->has(10));
      // Pages never multicast before still go to the group (others probably need them too).
      ASSERT_TRUE(fetch(late, 220, 30));
      ASSERT_TRUE(wait_for([&] { return idle.mirror->has_all(220, 30); }));
    } else {
      EXPECT_EQ(s.endgame_unicast_pages, 0u);
      EXPECT_EQ(s.unicast_datagrams, 0u);
      ASSERT_TRUE(wait_for([&] { return idle.mirror->has_all(10, 50); }));
    }
    EXPECT_EQ(wrong_pages(snap, *idle.mirror), 0u);
  }
}

TEST(McdistFlowControl, TheServerPacesToTheReportedReceiveRate) {
  Snapshot snap(1024);
  ServerOpts so;
  so.group = 6;
  so.min_rate = 256 * 1024;
  auto server = start_server(snap, so);
  ASSERT_TRUE(server);
  // A host that says it takes 2 MiB/s: the server paces at 2.5 MiB/s (25 % headroom).
  HostOpts slow;
  slow.report_rate = 2u << 20;
  Host h = make_host(snap, *server, slow);
  ASSERT_TRUE(h.src);
  const uint64_t t0 = mono();
  ASSERT_TRUE(fetch(h, 0, 512));  // about 1.2 MB on the wire
  const double secs = static_cast<double>(mono() - t0) / 1e9;
  MemserverStats s = server->stats();
  const double rate = static_cast<double>(s.bytes_sent) / secs;
  std::printf("[ mcdist ] paced: %llu B in %.3f s = %.2f MiB/s (pace %.2f MiB/s, %llu reports, %llu waits)\n",
              (unsigned long long)s.bytes_sent, secs, rate / (1 << 20), static_cast<double>(s.pace) / (1 << 20),
              (unsigned long long)s.rate_reports, (unsigned long long)s.paced_waits);
  EXPECT_GE(s.rate_reports, 1u);
  EXPECT_EQ(s.client_rate, 2u << 20);
  EXPECT_EQ(s.pace, (5u << 20) / 2);
  EXPECT_GT(s.paced_waits, 0u);
  EXPECT_LT(rate, 3.0 * (1 << 20));
  EXPECT_GT(secs, 0.25);
  EXPECT_EQ(wrong_pages(snap, *h.mirror), 0u);
  // A host that reports what it really measures: the pace follows it upwards.
  Host fast = make_host(snap, *server);
  ASSERT_TRUE(fetch(fast, 512, 512));
  EXPECT_GT(fast.src->stats().receive_rate, 0u);
  ASSERT_TRUE(fetch(fast, 0, 1));  // carries the measured rate
  ASSERT_TRUE(wait_for([&] { return server->stats().client_rate > (2u << 20); }));
  EXPECT_GT(server->stats().pace, (5u << 20) / 2);
  std::printf("[ mcdist ] measured receive rate %.1f MiB/s; server average %.1f MiB/s, pace %.1f MiB/s\n",
              static_cast<double>(fast.src->stats().receive_rate) / (1 << 20),
              static_cast<double>(server->stats().client_rate) / (1 << 20),
              static_cast<double>(server->stats().pace) / (1 << 20));
}

TEST(McdistLoss, EveryCloneConvergesWithFivePercentLoss) {
  SF_REQUIRE_UFFD();
  Snapshot snap(2048);
  for (uint32_t dgram : {kEthernetDatagram, kWholePage}) {
    SCOPED_TRACE(dgram);
    ServerOpts so;
    so.group = 7;
    so.max_datagram = dgram;
    so.send_drop = 0.05;
    auto server = start_server(snap, so);
    ASSERT_TRUE(server);
    HostOpts lossy;
    lossy.drop = 0.05;
    lossy.timeout = 10s;
    Host hs[3] = {make_host(snap, *server, lossy), make_host(snap, *server, lossy), make_host(snap, *server, lossy)};
    // Two clones per host; host i's clones touch overlapping windows of 768 pages, and half of
    // each window is also prefetched by a third thread.
    std::vector<std::unique_ptr<CloneRam>> clones;
    for (Host& h : hs) {
      ASSERT_TRUE(h.src);
      for (int k = 0; k < 2; ++k) clones.push_back(std::make_unique<CloneRam>(snap.bytes(), h.src));
    }
    std::atomic<uint64_t> bad{0};
    std::vector<std::thread> ts;
    const uint64_t t0 = mono();
    for (int c = 0; c < 6; ++c) {
      ts.emplace_back([&, c] {
        const uint64_t first = static_cast<uint64_t>(c / 2) * 384 + static_cast<uint64_t>(c % 2) * 128;
        for (uint64_t i = 0; i < 768; ++i) {
          const uint64_t p = first + (c % 2 ? 767 - i : i);
          if (!clones[c]->page_ok(snap, p)) bad.fetch_add(1);
        }
      });
    }
    for (int h = 0; h < 3; ++h)
      ts.emplace_back([&, h] { (void)fetch(hs[h], static_cast<uint64_t>(h) * 384 + 384, 384); });
    for (auto& t : ts) t.join();
    const double secs = static_cast<double>(mono() - t0) / 1e9;
    EXPECT_EQ(bad.load(), 0u);
    uint64_t drops = 0, failures = 0, timeouts = 0;
    for (auto& c : clones) failures += c->tap->stats().fetch_failures;
    for (Host& h : hs) {
      EXPECT_EQ(wrong_pages(snap, *h.mirror), 0u);
      drops += h.src->stats().test_drops;
      timeouts += h.src->stats().timeouts;
    }
    const MemserverStats s = server->stats();
    std::printf(
        "[ mcdist ] 5%% loss, %u B datagrams: 6 clones on 3 hosts converged in %.2f s; %llu datagrams "
        "dropped at receivers, %llu at the sender; %llu requests, %llu lockstep-suppressed pages\n",
        dgram, secs, (unsigned long long)drops, (unsigned long long)s.test_send_drops, (unsigned long long)s.requests,
        (unsigned long long)s.lockstep_suppressed);
    EXPECT_EQ(failures, 0u);
    EXPECT_EQ(timeouts, 0u);
    EXPECT_GT(drops, 0u);
    EXPECT_GT(s.test_send_drops, 0u);
  }
}

TEST(McdistHostile, AFloodOfGarbageForgedForeignAndStaleDatagramsIsCountedAndNeverInstalled) {
  SF_REQUIRE_UFFD();
  Snapshot snap(1024);
  ServerOpts so;
  so.group = 8;
  auto server = start_server(snap, so);
  ASSERT_TRUE(server);
  Host hs[3] = {make_host(snap, *server), make_host(snap, *server), make_host(snap, *server)};
  for (Host& h : hs) ASSERT_TRUE(h.src);
  const Endpoint group = server->group();
  const Endpoint srv = server->endpoint();

  // The flood's ingredients. Forged pages claim bytes 0xee for pages the clones will read.
  std::vector<uint8_t> evil(kPg, 0xee);
  auto frag = [&](uint64_t page, uint16_t off, uint16_t len, const SnapshotKey& key, uint64_t snap_id) {
    PageFragment f;
    f.snapshot_id = snap_id;
    f.page = page;
    f.offset = off;
    f.length = len;
    f.payload = {evil.data(), len};
    std::vector<uint8_t> b(kFragmentOverhead + len);
    EXPECT_EQ(encode_fragment(f, key, b), b.size());
    return b;
  };
  auto zero_run = [&](const SnapshotKey& key, uint64_t snap_id) {
    PageFragment f;
    f.snapshot_id = snap_id;
    f.zero = true;
    f.page = 0;
    f.count = 1024;
    std::vector<uint8_t> b(kFragmentOverhead);
    EXPECT_EQ(encode_fragment(f, key, b), b.size());
    return b;
  };
  std::mt19937_64 rng(99);
  constexpr int kRounds = 300;
  struct Kind {
    const char* name;
    WireError reason;
    bool to_group;
  };
  // What each flood datagram is and where it goes; counted per reason and per destination.
  uint64_t expect_server[kWireErrorCount] = {}, expect_host[kWireErrorCount] = {};
  uint64_t expect_own[3][kWireErrorCount] = {};  // sent to one host's own (unicast) socket
  std::atomic<bool> flooding{true};
  std::thread flood([&] {
    Injector inj;
    for (int round = 0; round < kRounds; ++round) {
      const uint64_t page = rng() % snap.pages;
      std::vector<std::pair<std::vector<uint8_t>, Kind>> batch;
      // Random bytes (never starting like ours); short ones fail the header length first.
      std::vector<uint8_t> garbage(rng() % 400 + 1);
      for (auto& x : garbage) x = static_cast<uint8_t>(rng());
      garbage[0] = 'x';
      const WireError g_reason = garbage.size() < kHeaderBytes ? WireError::truncated : WireError::bad_magic;
      batch.push_back({garbage, {"garbage", g_reason, true}});
      batch.push_back({garbage, {"garbage", g_reason, false}});
      batch.push_back({frag(page, 0, 1424, test_key(7), kSnapId), {"forged fragment", WireError::bad_mac, true}});
      batch.push_back(
          {frag(page, 0, static_cast<uint16_t>(kPg), test_key(7), kSnapId), {"forged page", WireError::bad_mac, true}});
      batch.push_back({zero_run(test_key(7), kSnapId), {"forged zero run", WireError::bad_mac, true}});
      // Stale: an older snapshot's authentic-looking traffic (its own key) on the same group and port.
      batch.push_back({frag(page, 0, static_cast<uint16_t>(kPg), test_key(3), kSnapId - 1),
                       {"stale page", WireError::foreign_snapshot, true}});
      batch.push_back(
          {request_bytes(page, 1, 5, test_key(3), kSnapId - 1), {"stale request", WireError::foreign_snapshot, false}});
      batch.push_back({request_bytes(page, 1, 5, test_key(7)), {"forged request", WireError::bad_mac, false}});
      // A request sent to the group, and a reply sent to the server: the wrong direction.
      batch.push_back({request_bytes(page, 1, 5), {"request at the group", WireError::bad_type, true}});
      batch.push_back({zero_run(test_key(), kSnapId), {"reply at the server", WireError::bad_type, false}});
      // A whole page at the server: longer than any request.
      batch.push_back({frag(page, 0, 1424, test_key(), kSnapId), {"page at the server", WireError::oversized, false}});
      // Cut short anywhere: a header that promises more than arrived.
      auto cut = frag(page, 0, 1424, test_key(7), kSnapId);
      cut.resize(1 + rng() % (cut.size() - 1));
      batch.push_back({cut, {"truncated", WireError::truncated, true}});
      // And at one host's own socket, where unicast replies arrive: a forged page and a stale one.
      Host& target = hs[round % 3];
      inj.send(target.src->local(), frag(page, 0, static_cast<uint16_t>(kPg), test_key(7), kSnapId));
      expect_own[round % 3][static_cast<size_t>(WireError::bad_mac)] += 1;
      inj.send(target.src->local(), frag(page, 1424, 1424, test_key(3), kSnapId + 1));
      expect_own[round % 3][static_cast<size_t>(WireError::foreign_snapshot)] += 1;
      for (auto& [b, kind] : batch) {
        if (kind.to_group) {
          inj.send(group, b);
          expect_host[static_cast<size_t>(kind.reason)] += 1;
        } else {
          inj.send(srv, b);
          expect_server[static_cast<size_t>(kind.reason)] += 1;
        }
      }
      if (round % 10 == 0) std::this_thread::sleep_for(1ms);  // a flood, not a socket-buffer overrun
    }
    flooding = false;
  });
  // Meanwhile two clones per host read the snapshot.
  std::vector<std::unique_ptr<CloneRam>> clones;
  for (Host& h : hs) {
    for (int k = 0; k < 2; ++k) clones.push_back(std::make_unique<CloneRam>(snap.bytes(), h.src));
  }
  std::atomic<uint64_t> bad{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < 6; ++c) {
    ts.emplace_back([&, c] {
      do {
        for (uint64_t i = 0; i < snap.pages; ++i) {
          const uint64_t p = (i * 7 + static_cast<uint64_t>(c) * 131) % snap.pages;
          if (!clones[c]->page_ok(snap, p)) bad.fetch_add(1);
        }
      } while (flooding.load());
    });
  }
  flood.join();
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0u);
  for (Host& h : hs) {
    EXPECT_EQ(h.mirror->stats().pages, snap.pages);
    EXPECT_EQ(wrong_pages(snap, *h.mirror), 0u) << "no forged page installed";
  }
  // Every flood datagram is counted by its reason: at the server, and at each of the three hosts.
  uint64_t server_total = 0, host_total = 0, own_total = 0;
  for (size_t i = 0; i < kWireErrorCount; ++i) {
    server_total += expect_server[i];
    host_total += expect_host[i];
    for (int h = 0; h < 3; ++h) own_total += expect_own[h][i];
  }
  ASSERT_TRUE(wait_for([&] {
    bool done = server->stats().dropped_total >= server_total;
    for (int h = 0; h < 3; ++h) {
      uint64_t own = 0;
      for (size_t i = 0; i < kWireErrorCount; ++i) own += expect_own[h][i];
      done = done && hs[h].src->stats().dropped_total >= host_total + own;
    }
    return done;
  })) << server->stats().dropped_total
      << " of " << server_total;
  const MemserverStats ss = server->stats();
  for (size_t i = 1; i < kWireErrorCount; ++i) {
    const char* why = wire_error_name(static_cast<WireError>(i));
    EXPECT_EQ(ss.dropped[i], expect_server[i]) << "server, " << why;
    for (int h = 0; h < 3; ++h)
      EXPECT_EQ(hs[h].src->stats().dropped[i], expect_host[i] + expect_own[h][i]) << "host " << h << ", " << why;
  }
  EXPECT_EQ(ss.out_of_range, 0u);
  std::printf(
      "[ mcdist ] flood: %llu datagrams at the server, %llu at the group, %llu at hosts' own sockets: all "
      "dropped and counted by reason; %llu pages served meanwhile\n",
      (unsigned long long)server_total, (unsigned long long)host_total, (unsigned long long)own_total,
      (unsigned long long)ss.pages_served);
  // And the server still answers.
  Host late = make_host(snap, *server);
  ASSERT_TRUE(fetch(late, 0, 64));
  EXPECT_EQ(wrong_pages(snap, *late.mirror), 0u);
}

// Touches every page once; returns touch-to-return times.
std::vector<uint64_t> touch_all(CloneRam& c, uint64_t pages) {
  std::vector<uint64_t> ns;
  ns.reserve(pages);
  for (uint64_t p = 0; p < pages; ++p) {
    const uint64_t t0 = mono();
    (void)*reinterpret_cast<volatile uint64_t*>(c.ram + p * kPg + 8);
    ns.push_back(mono() - t0);
  }
  return ns;
}

TEST(McdistLatency, OneHostFaultsThroughUnicastAndMulticast) {
  SF_REQUIRE_UFFD();
  constexpr uint64_t kN = 4096;
  Snapshot snap(kN);
  struct Row {
    std::string name;
    uint64_t touch50, svc50, svc99;
  };
  std::vector<Row> rows;
  for (NetworkMode mode : {NetworkMode::unicast, NetworkMode::multicast}) {
    for (uint32_t dgram : {kEthernetDatagram, 0u}) {
      ServerOpts so;
      so.mode = mode;
      so.group = 9;
      so.max_datagram = dgram;
      auto server = start_server(snap, so);
      ASSERT_TRUE(server);
      Host h = make_host(snap, *server);
      ASSERT_TRUE(h.src);
      CloneRam c(snap.bytes(), h.src);
      ASSERT_TRUE(c.tap);
      auto t = touch_all(c, kN);
      EXPECT_EQ(std::memcmp(c.ram, snap.expect.data(), snap.bytes()), 0);
      const auto s = c.tap->stats();
      rows.push_back(
          {std::string(network_mode_name(mode)) + ", " + std::to_string(server->max_datagram()) + " B datagrams",
           pct(t, 0.5), s.p50_ns, s.p99_ns});
    }
  }
  // A UDP round trip on loopback between two threads, for scale (DESIGN §7: remote fault target).
  std::vector<uint64_t> rtt;
  {
    Injector a, b;
    std::atomic<bool> stop{false};
    std::thread echo([&] {
      uint8_t buf[64];
      while (!stop) {
        pollfd p{b.fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        const ssize_t n = ::recvfrom(b.fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n > 0) ::sendto(b.fd.get(), buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
      }
    });
    uint8_t msg[48] = {1};
    for (int i = 0; i < 2000; ++i) {
      const uint64_t t0 = mono();
      a.send(b.self, msg);
      pollfd p{a.fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) break;
      (void)::recv(a.fd.get(), msg, sizeof msg, 0);
      rtt.push_back(mono() - t0);
    }
    stop = true;
    echo.join();
  }
  for (const Row& r : rows) {
    std::printf("[ mcdist ] %-30s %llu faults: touch-to-return p50 %6llu ns; service p50 %6llu ns p99 %7llu ns\n",
                r.name.c_str(), (unsigned long long)kN, (unsigned long long)r.touch50, (unsigned long long)r.svc50,
                (unsigned long long)r.svc99);
  }
  std::printf("[ mcdist ] loopback UDP round trip p50 %llu ns\n", (unsigned long long)pct(rtt, 0.5));
}

}  // namespace
}  // namespace sf::memserver::test
