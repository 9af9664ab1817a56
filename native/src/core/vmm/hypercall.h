// Hypercalls: decoding the doorbell (rax = number; rdi, rsi, r8, r10 = arguments), executing the
// calls the VMM answers itself, and validating seed-API requests before they leave the VM.
// Boundary: every guest value is untrusted: pointers and lengths are checked against guest RAM,
// nothing here can crash the host. What the VM does with an outcome (stop, block on a guest call)
// is vcpu.cc's and vm.cc's business.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <string>

#include "../base/guest_abi.h"
#include "../base/status.h"
#include "../memory/guest_memory.h"

namespace sf::vmm {

struct HypercallArgs {
  uint64_t nr = 0;                          // rax
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;  // rdi, rsi, r8, r10 (rdx holds the doorbell port)
};

// What a hypercall may do to its VM beyond guest memory; implemented by the VM.
class HypercallEnv {
 public:
  virtual void console_write(std::span<const uint8_t> bytes) = 0;
  // [gpa, gpa + npages pages) lies in RAM and gpa is page-aligned (checked).
  virtual void note_fresh_pages(uint64_t gpa, uint64_t npages) = 0;
  // Returns 0 or a negated SF_E* code for the guest.
  virtual int64_t start_vcpu(uint32_t vcpu_id, uint64_t entry, uint64_t stack_top) = 0;

 protected:
  ~HypercallEnv() = default;
};

struct HypercallOutcome {
  enum class Kind {
    reply,       // resume the guest with rax = value
    exit,        // the guest ended with exit code `value`
    panic,       // the guest reported a fatal fault: `reason`
    guest_call,  // a valid seed-API request to hand to the embedder; the vCPU waits for the answer
    wait,        // SF_HC_WAIT: sleep until a device interrupt, `value` ns (already capped) or a pause/stop
  };
  Kind kind = Kind::reply;
  int64_t value = 0;
  std::string reason;
  uint64_t block_gpa = 0;   // guest_call: where the request was read and the reply goes
  sf_hc_request request{};  // guest_call: a validated copy
};

// Registers <-> arguments and result (KVM_GET_REGS / KVM_SET_REGS on the calling vCPU's fd).
HypercallArgs hypercall_args_of(const kvm_regs& regs);  // the doorbell's register convention, in one place
Status read_hypercall_args(int vcpu_fd, HypercallArgs* args);
Status write_hypercall_result(int vcpu_fd, int64_t rax);

HypercallOutcome handle_hypercall(const HypercallArgs& args, memory::GuestMemory& memory, HypercallEnv& env);

// Stores an answer to a guest call in the request's block (the union's reply member).
bool write_guest_call_reply(memory::GuestMemory& memory, uint64_t block_gpa, const sf_hc_reply& reply);

// The clock SF_HC_TIME_NS and SF_HC_WAIT answer with (host CLOCK_MONOTONIC, ns).
int64_t monotonic_ns();

// True for the seed-API numbers (SF_HC_TICKET_REQUEST .. SF_HC_CLUSTER_SHUTDOWN).
bool is_guest_call(uint64_t nr);

}  // namespace sf::vmm
