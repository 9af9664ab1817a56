// Tests of RunControl's state machine and guest-call bookkeeping without vCPU threads (no KVM):
// transitions, idempotence, the first final state wins, events in order, answers to unknown calls.
#include <gtest/gtest.h>

#include "vmm/run_control.h"

namespace sf::vmm {
namespace {

std::vector<VmState> drain(RunControl& rc) {
  std::vector<VmState> out;
  while (auto e = rc.take_event()) out.push_back(e->state);
  return out;
}

TEST(RunControl, LifecycleAndEvents) {
  RunControl rc(2);
  EXPECT_EQ(rc.state(), VmState::created);
  EXPECT_FALSE(rc.pause().ok());
  EXPECT_FALSE(rc.resume().ok());
  ASSERT_TRUE(rc.begin_running().ok());
  EXPECT_FALSE(rc.begin_running().ok());
  ASSERT_TRUE(rc.pause().ok()) << "no vCPU started: quiescent at once";
  EXPECT_TRUE(rc.pause().ok());
  ASSERT_TRUE(rc.resume().ok());
  EXPECT_TRUE(rc.resume().ok());
  EXPECT_TRUE(rc.finish(VmState::exited, 3, "done"));
  EXPECT_FALSE(rc.finish(VmState::crashed, 0, "late")) << "the first final state wins";
  EXPECT_EQ(rc.state(), VmState::exited);
  EXPECT_EQ(rc.exit_code(), 3);
  EXPECT_EQ(rc.reason(), "done");
  EXPECT_FALSE(rc.pause().ok());
  rc.stop_all();
  rc.mark_destroyed();
  rc.mark_destroyed();
  EXPECT_EQ(drain(rc), (std::vector<VmState>{VmState::running, VmState::paused, VmState::running, VmState::exited,
                                             VmState::destroyed}));
}

TEST(RunControl, VcpuStartClaims) {
  RunControl rc(2);
  EXPECT_EQ(rc.claim_start(0), 0);
  EXPECT_EQ(rc.claim_start(0), -static_cast<int>(SF_ESTATE));
  EXPECT_EQ(rc.claim_start(2), -static_cast<int>(SF_EINVAL));
  rc.stop_all();
  EXPECT_EQ(rc.claim_start(1), -static_cast<int>(SF_EUNAVAIL)) << "no new vCPUs once stopping";
}

TEST(RunControl, AnswersOnlyReachOpenCalls) {
  RunControl rc(1);
  EXPECT_EQ(rc.answer(1, sf_hc_reply{}).code, ENOENT);
  ASSERT_EQ(rc.claim_start(0), 0);
  const uint64_t id = rc.open_call(0, SF_HC_CLONE_JOIN);
  sf_hc_reply r{};
  r.status = 9;
  EXPECT_TRUE(rc.answer(id, r).ok());
  EXPECT_EQ(rc.answer(id, r).code, ENOENT) << "answered already";
  sf_hc_reply got{};
  EXPECT_TRUE(rc.wait_call(0, &got));
  EXPECT_EQ(got.status, 9);
  // A call open when the VM stops is failed with -SF_EUNAVAIL.
  const uint64_t id2 = rc.open_call(0, SF_HC_CLONE_JOIN);
  rc.stop_all();
  EXPECT_FALSE(rc.wait_call(0, &got));
  EXPECT_EQ(got.status, -static_cast<int>(SF_EUNAVAIL));
  EXPECT_EQ(rc.answer(id2, r).code, ENOENT);
}

}  // namespace
}  // namespace sf::vmm
