// Hypercalls: argument decoding, the VMM-answered calls, seed-API request validation.
// Boundary: guest input in, an outcome out; no threads, no blocking.
#include "hypercall.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace sf::vmm {

namespace {

constexpr uint64_t kPanicMessageMax = 1024;  // enough for a reason line; the rest is ignored

HypercallOutcome reply(int64_t value) {
  HypercallOutcome o;
  o.value = value;
  return o;
}
HypercallOutcome error(int code) { return reply(-static_cast<int64_t>(code)); }

HypercallOutcome console_write(const HypercallArgs& a, memory::GuestMemory& memory, HypercallEnv& env) {
  // The whole range must be RAM (a hostile length is an error, not a short write); then at most
  // SF_CONSOLE_WRITE_MAX bytes are taken, like write(2) returning a short count.
  if (!memory.contains(a.a0, a.a1)) return error(SF_EFAULT);
  const uint64_t n = std::min<uint64_t>(a.a1, SF_CONSOLE_WRITE_MAX);
  auto bytes = memory.span(a.a0, n);
  if (!bytes) return error(SF_EFAULT);
  env.console_write(*bytes);
  return reply(static_cast<int64_t>(n));
}

HypercallOutcome fresh_pages(const HypercallArgs& a, memory::GuestMemory& memory, HypercallEnv& env) {
  if (a.a0 % SF_PAGE_SIZE != 0) return error(SF_EINVAL);
  if (a.a1 > UINT64_MAX / SF_PAGE_SIZE) return error(SF_EFAULT);
  if (!memory.contains(a.a0, a.a1 * SF_PAGE_SIZE)) return error(SF_EFAULT);
  env.note_fresh_pages(a.a0, a.a1);
  return reply(0);
}

HypercallOutcome panic(const HypercallArgs& a, const memory::GuestMemory& memory) {
  HypercallOutcome o;
  o.kind = HypercallOutcome::Kind::panic;
  char head[96];
  std::snprintf(head, sizeof head, "guest panic (vector %llu, rip 0x%llx)", static_cast<unsigned long long>(a.a0),
                static_cast<unsigned long long>(a.a1));
  o.reason = head;
  const uint64_t n = std::min<uint64_t>(a.a3, kPanicMessageMax);
  auto msg = memory.span(a.a2, n);
  if (!msg) {
    o.reason += ": (message outside guest RAM)";
    return o;
  }
  o.reason += ": ";
  for (uint8_t c : *msg) {
    if (c == 0) break;
    // The reason ends up in logs and on dashboards: keep it one printable line.
    o.reason.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  return o;
}

HypercallOutcome guest_call(const HypercallArgs& a, const memory::GuestMemory& memory) {
  // The reply is written into the same block later, so the whole union must be RAM, not just the request.
  if (!memory.contains(a.a0, sizeof(sf_hc_block))) return error(SF_EFAULT);
  auto req = memory.read<sf_hc_request>(a.a0);
  if (!req) return error(SF_EFAULT);
  // From here on only the copy is used: the guest (another vCPU) cannot change it after the checks.
  if (req->nr != a.nr) return error(SF_EINVAL);
  if ((req->flags & ~(SF_REQ_PROCS | SF_REQ_BLOCK)) != 0) return error(SF_EINVAL);
  if (std::memchr(req->ticket, 0, sizeof req->ticket) == nullptr) return error(SF_EINVAL);
  HypercallOutcome o;
  o.kind = HypercallOutcome::Kind::guest_call;
  o.block_gpa = a.a0;
  o.request = *req;
  // Normalise what the embedder sees: nothing after the ticket's terminator, no padding garbage.
  const size_t len = std::strlen(o.request.ticket);
  std::memset(o.request.ticket + len, 0, sizeof o.request.ticket - len);
  std::memset(o.request.pad, 0, sizeof o.request.pad);
  return o;
}

}  // namespace

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool is_guest_call(uint64_t nr) { return nr >= SF_HC_TICKET_REQUEST && nr <= SF_HC_CLUSTER_SHUTDOWN; }

HypercallArgs hypercall_args_of(const kvm_regs& regs) {
  HypercallArgs args;
  args.nr = regs.rax;
  args.a0 = regs.rdi;
  args.a1 = regs.rsi;
  args.a2 = regs.r8;
  args.a3 = regs.r10;
  return args;
}

Status read_hypercall_args(int vcpu_fd, HypercallArgs* args) {
  kvm_regs regs{};
  if (::ioctl(vcpu_fd, KVM_GET_REGS, &regs) != 0) return Status::FromErrno("KVM_GET_REGS", errno);
  *args = hypercall_args_of(regs);
  return Status::Ok();
}

Status write_hypercall_result(int vcpu_fd, int64_t rax) {
  // Read-modify-write: only rax changes. RIP stays on the doorbell instruction; KVM skips it when the
  // pending I/O completes on the next KVM_RUN.
  kvm_regs regs{};
  if (::ioctl(vcpu_fd, KVM_GET_REGS, &regs) != 0) return Status::FromErrno("KVM_GET_REGS", errno);
  regs.rax = static_cast<uint64_t>(rax);
  if (::ioctl(vcpu_fd, KVM_SET_REGS, &regs) != 0) return Status::FromErrno("KVM_SET_REGS", errno);
  return Status::Ok();
}

HypercallOutcome handle_hypercall(const HypercallArgs& a, memory::GuestMemory& memory, HypercallEnv& env) {
  switch (a.nr) {
    case SF_HC_NOP: return reply(0);
    case SF_HC_EXIT: {
      HypercallOutcome o;
      o.kind = HypercallOutcome::Kind::exit;
      o.value = static_cast<int32_t>(a.a0);  // an exit code is an int, like a process's
      return o;
    }
    case SF_HC_CONSOLE_WRITE: return console_write(a, memory, env);
    case SF_HC_FRESH_PAGES: return fresh_pages(a, memory, env);
    case SF_HC_VCPU_START:
      if (a.a0 > UINT32_MAX) return error(SF_EINVAL);
      return reply(env.start_vcpu(static_cast<uint32_t>(a.a0), a.a1, a.a2));
    case SF_HC_PANIC: return panic(a, memory);
    case SF_HC_TIME_NS: return reply(monotonic_ns());
    case SF_HC_WAIT: {
      // Bounded whatever the guest asks: a vCPU thread never sits in a hypercall for long.
      HypercallOutcome o;
      o.kind = HypercallOutcome::Kind::wait;
      o.value = static_cast<int64_t>(std::min<uint64_t>(a.a0, SF_WAIT_MAX_NS));
      return o;
    }
    default:
      if (is_guest_call(a.nr)) return guest_call(a, memory);
      return error(SF_ENOSYS);
  }
}

bool write_guest_call_reply(memory::GuestMemory& memory, uint64_t block_gpa, const sf_hc_reply& reply) {
  sf_hc_reply r = reply;
  // The guest treats these as C strings: make sure they are terminated whatever the embedder sent.
  r.ticket[sizeof r.ticket - 1] = 0;
  r.errmsg[sizeof r.errmsg - 1] = 0;
  for (auto& t : r.tickets) t[sizeof t - 1] = 0;
  return memory.write(block_gpa, r);
}

}  // namespace sf::vmm
