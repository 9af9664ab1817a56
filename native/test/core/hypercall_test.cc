// Tests of hypercall decoding and validation with a fake VM environment: results, error codes for
// hostile arguments, seed-request validation and normalisation, panic messages. Needs no KVM.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/guest_abi.h"
#include "vmm/hypercall.h"

namespace sf::vmm {
namespace {

constexpr uint64_t kRam = 4ull << 20;

struct FakeEnv final : HypercallEnv {
  std::string console;
  uint64_t fresh = 0;
  std::vector<std::tuple<uint32_t, uint64_t, uint64_t>> starts;
  int64_t start_result = 0;
  void console_write(std::span<const uint8_t> b) override {
    console.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void note_fresh_pages(uint64_t, uint64_t n) override { fresh += n; }
  int64_t start_vcpu(uint32_t id, uint64_t entry, uint64_t stack) override {
    starts.emplace_back(id, entry, stack);
    return start_result;
  }
};

class Hypercall : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = memory::GuestMemory::create(kRam);
    ASSERT_TRUE(m.ok());
    mem = std::move(m).value();
  }
  HypercallOutcome call(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
    return handle_hypercall(HypercallArgs{nr, a0, a1, a2, a3}, *mem, env);
  }
  int64_t value(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
    HypercallOutcome o = call(nr, a0, a1, a2, a3);
    EXPECT_EQ(o.kind, HypercallOutcome::Kind::reply);
    return o.value;
  }
  uint64_t put_request(const sf_hc_request& r, uint64_t gpa = 0x200000) {
    EXPECT_TRUE(mem->write(gpa, r));
    return gpa;
  }
  static sf_hc_request request(uint32_t nr) {
    sf_hc_request r{};
    r.nr = nr;
    return r;
  }
  std::unique_ptr<memory::GuestMemory> mem;
  FakeEnv env;
};

constexpr int64_t err(int code) { return -static_cast<int64_t>(code); }

TEST_F(Hypercall, SimpleCalls) {
  EXPECT_EQ(value(SF_HC_NOP), 0);
  const int64_t t1 = value(SF_HC_TIME_NS), t2 = value(SF_HC_TIME_NS);
  EXPECT_GT(t1, 0);
  EXPECT_GE(t2, t1);
  HypercallOutcome o = call(SF_HC_EXIT, static_cast<uint64_t>(-3) & 0xffffffffu);
  EXPECT_EQ(o.kind, HypercallOutcome::Kind::exit);
  EXPECT_EQ(o.value, -3) << "the exit code is the low 32 bits, signed";
}

TEST_F(Hypercall, WaitIsBoundedWhateverTheGuestAsks) {
  for (uint64_t asked :
       std::initializer_list<uint64_t>{0, 1, 2000000, SF_WAIT_MAX_NS, SF_WAIT_MAX_NS + 1, UINT64_MAX}) {
    HypercallOutcome o = call(SF_HC_WAIT, asked);
    EXPECT_EQ(o.kind, HypercallOutcome::Kind::wait) << asked;
    EXPECT_EQ(static_cast<uint64_t>(o.value), std::min<uint64_t>(asked, SF_WAIT_MAX_NS)) << asked;
  }
}

TEST_F(Hypercall, UnknownNumbersAreEnosys) {
  for (uint64_t nr : std::initializer_list<uint64_t>{8, 9, 15, 25, 255, 0xffffffff, 0x100000000, UINT64_MAX}) {
    EXPECT_EQ(value(nr), err(SF_ENOSYS)) << nr;
  }
}

TEST_F(Hypercall, ConsoleWriteIsBoundsCheckedAndCapped) {
  ASSERT_TRUE(mem->write_bytes(0x1000, {reinterpret_cast<const uint8_t*>("hey"), 3}));
  EXPECT_EQ(value(SF_HC_CONSOLE_WRITE, 0x1000, 3), 3);
  EXPECT_EQ(env.console, "hey");
  EXPECT_EQ(value(SF_HC_CONSOLE_WRITE, kRam - 2, 3), err(SF_EFAULT));
  EXPECT_EQ(value(SF_HC_CONSOLE_WRITE, UINT64_MAX - 1, 4), err(SF_EFAULT));
  EXPECT_EQ(value(SF_HC_CONSOLE_WRITE, 0, UINT64_MAX), err(SF_EFAULT));
  EXPECT_EQ(value(SF_HC_CONSOLE_WRITE, kRam, 0), 0);
  EXPECT_EQ(value(SF_HC_CONSOLE_WRITE, kRam + 1, 0), err(SF_EFAULT));
  env.console.clear();
  EXPECT_EQ(value(SF_HC_CONSOLE_WRITE, 0, kRam), int64_t{SF_CONSOLE_WRITE_MAX});
  EXPECT_EQ(env.console.size(), size_t{SF_CONSOLE_WRITE_MAX});
}

TEST_F(Hypercall, FreshPages) {
  EXPECT_EQ(value(SF_HC_FRESH_PAGES, 0x200000, 4), 0);
  EXPECT_EQ(env.fresh, 4u);
  EXPECT_EQ(value(SF_HC_FRESH_PAGES, 0x200001, 1), err(SF_EINVAL));
  EXPECT_EQ(value(SF_HC_FRESH_PAGES, 0x200000, UINT64_MAX / 4096 + 1), err(SF_EFAULT));
  EXPECT_EQ(value(SF_HC_FRESH_PAGES, kRam - 4096, 2), err(SF_EFAULT));
  EXPECT_EQ(value(SF_HC_FRESH_PAGES, 0, kRam / 4096), 0);
  EXPECT_EQ(env.fresh, 4u + kRam / 4096);
}

TEST_F(Hypercall, VcpuStartPassesArgumentsThrough) {
  env.start_result = err(SF_ESTATE);
  EXPECT_EQ(value(SF_HC_VCPU_START, 2, 0x100000, 0x200000), err(SF_ESTATE));
  ASSERT_EQ(env.starts.size(), 1u);
  EXPECT_EQ(std::get<0>(env.starts[0]), 2u);
  EXPECT_EQ(std::get<1>(env.starts[0]), 0x100000u);
  EXPECT_EQ(std::get<2>(env.starts[0]), 0x200000u);
  EXPECT_EQ(value(SF_HC_VCPU_START, 1ull << 32, 0, 0), err(SF_EINVAL)) << "ids above 32 bits never reach the VM";
  EXPECT_EQ(env.starts.size(), 1u);
}

TEST_F(Hypercall, PanicCarriesAPrintableMessage) {
  const char msg[] = "boom\x01\nline2\0ignored";
  ASSERT_TRUE(mem->write_bytes(0x3000, {reinterpret_cast<const uint8_t*>(msg), sizeof msg}));
  HypercallOutcome o = call(SF_HC_PANIC, 14, 0x100123, 0x3000, sizeof msg);
  EXPECT_EQ(o.kind, HypercallOutcome::Kind::panic);
  EXPECT_EQ(o.reason, "guest panic (vector 14, rip 0x100123): boom??line2");
  o = call(SF_HC_PANIC, 6, 1, kRam - 1, 10);
  EXPECT_EQ(o.kind, HypercallOutcome::Kind::panic);
  EXPECT_NE(o.reason.find("message outside guest RAM"), std::string::npos);
  o = call(SF_HC_PANIC, 6, 1, 0, UINT64_MAX);  // capped, so readable
  EXPECT_EQ(o.kind, HypercallOutcome::Kind::panic);
}

TEST_F(Hypercall, SeedRequestsAreValidatedAndNormalised) {
  sf_hc_request r = request(SF_HC_CLONE_MASTER);
  std::memset(r.ticket, 'x', sizeof r.ticket);
  std::strcpy(r.ticket, "abc");  // garbage after the terminator
  std::memset(r.pad, 7, sizeof r.pad);
  r.flags = SF_REQ_PROCS | SF_REQ_BLOCK;
  r.nclones = 4;
  const uint64_t gpa = put_request(r);
  HypercallOutcome o = call(SF_HC_CLONE_MASTER, gpa);
  ASSERT_EQ(o.kind, HypercallOutcome::Kind::guest_call);
  EXPECT_EQ(o.block_gpa, gpa);
  EXPECT_EQ(o.request.nclones, 4);
  EXPECT_STREQ(o.request.ticket, "abc");
  for (size_t i = 4; i < sizeof o.request.ticket; ++i) EXPECT_EQ(o.request.ticket[i], 0);
  for (char c : o.request.pad) EXPECT_EQ(c, 0);

  for (uint32_t nr = SF_HC_TICKET_REQUEST; nr <= SF_HC_CLUSTER_SHUTDOWN; ++nr) {
    EXPECT_TRUE(is_guest_call(nr));
    EXPECT_EQ(call(nr, put_request(request(nr))).kind, HypercallOutcome::Kind::guest_call) << nr;
  }
  EXPECT_FALSE(is_guest_call(SF_HC_TICKET_REQUEST - 1));
  EXPECT_FALSE(is_guest_call(SF_HC_CLUSTER_SHUTDOWN + 1));
}

TEST_F(Hypercall, HostileSeedRequestsAreErrors) {
  EXPECT_EQ(value(SF_HC_TICKET_REQUEST, kRam), err(SF_EFAULT));
  EXPECT_EQ(value(SF_HC_TICKET_REQUEST, kRam - sizeof(sf_hc_request)), err(SF_EFAULT))
      << "the request fits, but the reply (the whole block) would not";
  EXPECT_EQ(value(SF_HC_TICKET_REQUEST, UINT64_MAX - 16), err(SF_EFAULT));
  EXPECT_EQ(value(SF_HC_TICKET_REQUEST, put_request(request(SF_HC_TICKET_LIST))), err(SF_EINVAL)) << "nr mismatch";
  sf_hc_request r = request(SF_HC_TICKET_REQUEST);
  std::memset(r.ticket, 'a', sizeof r.ticket);
  EXPECT_EQ(value(SF_HC_TICKET_REQUEST, put_request(r)), err(SF_EINVAL)) << "unterminated ticket";
  r = request(SF_HC_TICKET_REQUEST);
  r.flags = 4;
  EXPECT_EQ(value(SF_HC_TICKET_REQUEST, put_request(r)), err(SF_EINVAL)) << "unknown flag";
  // The block may end exactly at the end of RAM.
  EXPECT_EQ(call(SF_HC_TICKET_REQUEST, put_request(request(SF_HC_TICKET_REQUEST), kRam - sizeof(sf_hc_block))).kind,
            HypercallOutcome::Kind::guest_call);
}

TEST_F(Hypercall, RepliesAreWrittenWithTerminatedStrings) {
  sf_hc_reply reply;
  std::memset(&reply, 'z', sizeof reply);
  reply.status = 5;
  ASSERT_TRUE(write_guest_call_reply(*mem, 0x200000, reply));
  auto back = mem->read<sf_hc_reply>(0x200000);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 5);
  EXPECT_EQ(back->ticket[SF_TICKET_LEN], 0);
  EXPECT_EQ(back->errmsg[SF_ERRMSG_LEN - 1], 0);
  EXPECT_EQ(back->tickets[SF_MAX_TICKETS - 1][SF_TICKET_LEN], 0);
  EXPECT_FALSE(write_guest_call_reply(*mem, kRam - 16, reply));
}

}  // namespace
}  // namespace sf::vmm
