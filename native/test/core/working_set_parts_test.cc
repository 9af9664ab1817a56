// The working-set parts on their own: seeding clips what does not belong to the snapshot (past its end,
// holes, duplicates, junk of any size), recording and scanning agree with a plain set, and the stream
// scheduler recognises first requests, bounds clients and streams, leaves out what a client asked for,
// takes turns, and stops a long scan early.
// Boundary: memserver/{working_set,working_set_stream}.h; no sockets, no KVM.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "memserver/working_set.h"
#include "memserver/working_set_stream.h"

namespace sf::memserver::test {
namespace {

using Clock = std::chrono::steady_clock;

TEST(WorkingSet, SeedIsClippedToTheSnapshotAndItsDataPages) {
  WorkingSet ws(1000);
  std::vector<uint32_t> seed = {5, 5, 999, 1000, 4000000000u, 0xffffffffu, 17, 3, 998, 13};
  // Pages 13 and 17 are "holes" here.
  const uint64_t added = ws.seed(seed, [](uint64_t p) { return p != 13 && p != 17; });
  EXPECT_EQ(added, 4u);  // 5, 999, 3, 998
  EXPECT_EQ(ws.seeded_count(), 4u);
  EXPECT_EQ(ws.count(), 4u);
  EXPECT_EQ(ws.list(), (std::vector<uint32_t>{3, 5, 998, 999}));
  EXPECT_FALSE(ws.seeded(13));

  // A hostile seed: a million random words, mostly out of range; no crash, only valid pages kept.
  std::mt19937 rng(7);
  std::vector<uint32_t> junk(1u << 20);
  for (uint32_t& p : junk) p = rng();
  for (size_t i = 0; i < 500; ++i) junk[i * 97] = static_cast<uint32_t>(i * 2);  // 500 in range, evens 0..998
  WorkingSet big(1000);
  big.seed(junk, nullptr);
  const auto list = big.list();
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
  EXPECT_GE(list.size(), 500u);
  for (uint32_t p : list) EXPECT_LT(p, 1000u);
  EXPECT_EQ(big.count(), list.size());

  WorkingSet empty(0);  // a zero-page snapshot never reaches here, but must not crash either
  EXPECT_EQ(empty.seed(seed, nullptr), 0u);
  EXPECT_EQ(empty.next(0, true), 0u);
}

TEST(WorkingSet, RecordAndScanAgreeWithAPlainSet) {
  WorkingSet ws(300);
  std::vector<uint32_t> seed = {0, 63, 64, 200};
  ws.seed(seed, nullptr);
  ws.record(60, 10);    // 60..69 (63, 64 already seeded)
  ws.record(290, 100);  // clipped: 290..299
  ws.record(5000, 3);   // past the end: nothing
  std::set<uint32_t> expect = {0, 200};
  for (uint32_t p = 60; p < 70; ++p) expect.insert(p);
  for (uint32_t p = 290; p < 300; ++p) expect.insert(p);
  EXPECT_EQ(ws.count(), expect.size());
  EXPECT_EQ(ws.recorded_count(), 20u);
  EXPECT_EQ(ws.list(), std::vector<uint32_t>(expect.begin(), expect.end()));
  // Scans: with the record, the union; without, the seed only.
  std::vector<uint32_t> scanned;
  for (uint64_t p = ws.next(0, true); p < ws.pages(); p = ws.next(p + 1, true))
    scanned.push_back(static_cast<uint32_t>(p));
  EXPECT_EQ(scanned, std::vector<uint32_t>(expect.begin(), expect.end()));
  scanned.clear();
  for (uint64_t p = ws.next(0, false); p < ws.pages(); p = ws.next(p + 1, false))
    scanned.push_back(static_cast<uint32_t>(p));
  EXPECT_EQ(scanned, (std::vector<uint32_t>{0, 63, 64, 200}));
  EXPECT_EQ(ws.next(301, true), 300u);
}

WorkingSetStreams::Target target(uint32_t client) {
  WorkingSetStreams::Target t;
  t.client_id = client;
  return t;
}

TEST(WorkingSetStreams, FirstRequestsAndLimits) {
  WorkingSetStreams s(100, /*max_clients=*/3, /*max_streams=*/2);
  EXPECT_TRUE(s.first_request(1));
  EXPECT_FALSE(s.first_request(1));
  EXPECT_TRUE(s.first_request(2));
  EXPECT_TRUE(s.first_request(3));
  EXPECT_FALSE(s.first_request(4)) << "beyond max_clients: no stream, never an unbounded table";
  const auto now = Clock::now();
  EXPECT_TRUE(s.start(target(1), now));
  EXPECT_TRUE(s.start(target(2), now));
  EXPECT_FALSE(s.start(target(3), now));
  EXPECT_EQ(s.active(), 2u);
}

TEST(WorkingSetStreams, RunsLeaveOutWhatTheClientAskedForTakeTurnsAndEnd) {
  WorkingSet ws(256);
  ws.record(0, 100);
  WorkingSetStreams s(256, 16, 4);
  const auto now = Clock::now();
  ASSERT_TRUE(s.start(target(1), now));
  ASSERT_TRUE(s.start(target(2), now));
  s.asked(1, 10, 20);  // client 1 has 10..29 coming on demand
  auto holes = [](uint64_t p) { return p == 50; };
  std::vector<std::vector<std::pair<uint64_t, uint32_t>>> got(3);
  uint64_t examined = 0;
  std::vector<uint32_t> order;
  while (auto run = s.next(ws, true, 16, holes, 1u << 20, &examined)) {
    ASSERT_GT(run->n, 0u);
    got[run->target.client_id].push_back({run->first, run->n});
    order.push_back(run->target.client_id);
  }
  EXPECT_TRUE(s.empty());
  // Turns alternate while both have pages left.
  ASSERT_GE(order.size(), 4u);
  EXPECT_NE(order[0], order[1]);
  EXPECT_NE(order[1], order[2]);
  auto pages = [](const std::vector<std::pair<uint64_t, uint32_t>>& runs) {
    std::vector<uint64_t> v;
    for (auto [f, n] : runs) {
      EXPECT_LE(n, 16u);
      for (uint64_t p = f; p < f + n; ++p) v.push_back(p);
    }
    return v;
  };
  std::vector<uint64_t> want1, want2;
  for (uint64_t p = 0; p < 100; ++p) {
    if (p == 50) continue;
    want2.push_back(p);
    if (p < 10 || p >= 30) want1.push_back(p);
  }
  EXPECT_EQ(pages(got[1]), want1);
  EXPECT_EQ(pages(got[2]), want2);

  // A long stretch the client already asked for: the scan stops early with an empty run, then resumes.
  WorkingSetStreams t(256, 16, 4);
  ASSERT_TRUE(t.start(target(9), now));
  t.asked(9, 0, 90);
  examined = 0;
  auto first = t.next(ws, true, 16, nullptr, 40, &examined);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->n, 0u);
  EXPECT_EQ(examined, 40u);
  examined = 0;
  auto second = t.next(ws, true, 16, nullptr, 1000, &examined);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->first, 90u);
  EXPECT_EQ(second->n, 10u);
  EXPECT_FALSE(t.next(ws, true, 16, nullptr, 1000, &examined));
}

}  // namespace
}  // namespace sf::memserver::test
