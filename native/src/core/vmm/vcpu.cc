// Vcpu: KVM_RUN loop and exit handling on a dedicated thread.
// Boundary: see vcpu.h. Every exit ends in one of: re-enter, park (pause), wait (guest call, halted
// for good) or leave the loop (the VM's run is over).
#include "vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace sf::vmm {

namespace {

constexpr uint64_t kRflagsIf = 1ull << 9;

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Result<std::unique_ptr<Vcpu>> Vcpu::create(KvmVm& vm, uint32_t id, uint32_t vcpus) {
  auto fd = vm.create_vcpu(id);
  if (!fd.ok()) return fd.status();
  void* addr = ::mmap(nullptr, vm.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap(kvm_run of vCPU " + std::to_string(id) + ")", errno);
  Mapping run_map(addr, vm.vcpu_mmap_size());
  if (Status s = vm.set_cpuid(fd->get(), id, vcpus); !s.ok()) return s;
  auto* run = static_cast<kvm_run*>(run_map.get());
  if (vm.sync_regs()) run->kvm_valid_regs = KVM_SYNC_X86_REGS;
  return std::unique_ptr<Vcpu>(new Vcpu(id, std::move(fd).value(), std::move(run_map), vm.sync_regs()));
}

Status Vcpu::hypercall_args(HypercallArgs* args) {
  if (!sync_regs_) return read_hypercall_args(fd(), args);
  *args = hypercall_args_of(run()->s.regs.regs);
  return Status::Ok();
}

Status Vcpu::hypercall_result(int64_t rax) {
  if (!sync_regs_) return write_hypercall_result(fd(), rax);
  run()->s.regs.regs.rax = static_cast<uint64_t>(rax);
  run()->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
  return Status::Ok();
}

Status Vcpu::make_runnable() {
  kvm_mp_state mp{};
  mp.mp_state = KVM_MP_STATE_RUNNABLE;
  if (::ioctl(fd(), KVM_SET_MP_STATE, &mp) != 0) return Status::FromErrno("KVM_SET_MP_STATE", errno);
  return Status::Ok();
}

Status Vcpu::start(VcpuHost& host) {
  if (gate_) {
    {
      std::lock_guard lock(gate_->mu);
      if (gate_->state != Gate::State::parked)
        return Status::Error(EINVAL, "vCPU " + std::to_string(id_) + " started twice");
      gate_->state = Gate::State::go;
    }
    gate_->cv.notify_one();
    return Status::Ok();
  }
  char name[16];
  std::snprintf(name, sizeof name, "sf-vcpu%u", id_);
  return thread_.start([this, &host] { loop(host); }, name, Thread::Signals::kick, static_cast<const void*>(&host));
}

Status Vcpu::prestart(VcpuHost& host) {
  if (gate_ || thread_.started()) return Status::Error(EINVAL, "vCPU " + std::to_string(id_) + " has a thread already");
  gate_ = std::make_unique<Gate>();
  char name[16];
  std::snprintf(name, sizeof name, "sf-vcpu%u", id_);
  Gate* gate = gate_.get();
  Status s = thread_.start(
      [this, &host, gate] {
        {
          std::unique_lock lock(gate->mu);
          gate->cv.wait(lock, [gate] { return gate->state != Gate::State::parked; });
          if (gate->state == Gate::State::away) return;
        }
        loop(host);
      },
      name, Thread::Signals::kick, static_cast<const void*>(&host));
  if (!s.ok()) gate_.reset();
  return s;
}

void Vcpu::join() {
  if (gate_) {
    {
      std::lock_guard lock(gate_->mu);
      if (gate_->state == Gate::State::parked) gate_->state = Gate::State::away;
    }
    gate_->cv.notify_one();
  }
  thread_.join();
}

std::string Vcpu::where() const {
  kvm_regs regs{};
  if (::ioctl(fd(), KVM_GET_REGS, &regs) != 0) return " (registers unavailable)";
  return " at rip=" + hex(regs.rip);
}

void Vcpu::loop(VcpuHost& host) {
  RunControl& control = host.control();
  control.thread_entered(id_);
  kvm_run* r = run();
  for (;;) {
    const uint64_t t0 = now_ns();
    const int rc = ::ioctl(fd(), KVM_RUN, 0);
    const int err = errno;
    counters_.vcpu_run_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
    bool keep = true;
    if (rc < 0) {
      if (err == EINTR || err == EAGAIN) {
        keep = on_interrupted(host);
      } else {
        host.end_run(VmState::crashed, 0, "vCPU " + std::to_string(id_) + ": " + ErrnoText("KVM_RUN", err) + where());
        keep = false;
      }
    } else {
      control.note_progress(id_);
      switch (r->exit_reason) {
        case KVM_EXIT_IO:
          counters_.exits_io.fetch_add(1, std::memory_order_relaxed);
          keep = on_io(host);
          break;
        case KVM_EXIT_MMIO:
          counters_.exits_mmio.fetch_add(1, std::memory_order_relaxed);
          on_mmio(host);
          break;
        case KVM_EXIT_HLT: {
          // Only seen without an in-kernel irqchip (with one, HLT sleeps in the kernel: see
          // on_interrupted). Nothing can interrupt this vCPU then, so the halt lasts for good either way;
          // with IF = 0 that is reported at once, with IF = 1 the vCPU just sleeps, as it would in the
          // kernel's HLT (the VM keeps running; only stopping it ends the sleep).
          counters_.exits_hlt.fetch_add(1, std::memory_order_relaxed);
          host.serial().flush();
          kvm_regs regs{};
          if (::ioctl(fd(), KVM_GET_REGS, &regs) != 0) {
            host.end_run(VmState::crashed, 0,
                         "vCPU " + std::to_string(id_) + ": " + ErrnoText("KVM_GET_REGS", errno) + " after HLT");
          } else if ((regs.rflags & kRflagsIf) == 0) {
            if (control.mark_dead_halted(id_)) {
              host.end_run(VmState::halted, 0,
                           "every vCPU halted with interrupts disabled (vCPU " + std::to_string(id_) +
                               " at rip=" + hex(regs.rip) + ")");
            }
            control.wait_for_stop(id_);
          } else {
            control.sleep_in_hlt(id_);
          }
          keep = false;
          break;
        }
        case KVM_EXIT_INTR: keep = on_interrupted(host); break;
        case KVM_EXIT_SHUTDOWN:
          counters_.exits_other.fetch_add(1, std::memory_order_relaxed);
          host.end_run(VmState::crashed, 0, "triple fault" + where() + " (vCPU " + std::to_string(id_) + ")");
          keep = false;
          break;
        case KVM_EXIT_INTERNAL_ERROR: {
          counters_.exits_other.fetch_add(1, std::memory_order_relaxed);
          std::string reason = "KVM internal error, suberror " + std::to_string(r->internal.suberror);
          if (r->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
            // The usual cause on kvm_pvm hosts: CPL 0 guest code is emulated there, and SSE cannot be.
            reason +=
                " (instruction emulation failed; on kvm_pvm hosts CPL 0 code is emulated and SSE is not "
                "supported there: run the guest in user mode or drop to ring 3)";
          }
          reason += where();
          const uint32_t n = std::min<uint32_t>(r->internal.ndata, 4);
          for (uint32_t i = 0; i < n; ++i) reason += (i == 0 ? ", data " : " ") + hex(r->internal.data[i]);
          host.end_run(VmState::crashed, 0, reason + " (vCPU " + std::to_string(id_) + ")");
          keep = false;
          break;
        }
        case KVM_EXIT_FAIL_ENTRY:
          counters_.exits_other.fetch_add(1, std::memory_order_relaxed);
          host.end_run(VmState::crashed, 0,
                       "VM entry failed, hardware reason " + hex(r->fail_entry.hardware_entry_failure_reason) +
                           " (vCPU " + std::to_string(id_) + ", host cpu " + std::to_string(r->fail_entry.cpu) + ")");
          keep = false;
          break;
        default:
          // Anything else (system events, debug exits...) is not part of the flat-guest platform;
          // stopping is better than spinning on an exit we cannot complete.
          counters_.exits_other.fetch_add(1, std::memory_order_relaxed);
          host.end_run(VmState::crashed, 0,
                       "unexpected KVM exit reason " + std::to_string(r->exit_reason) + where() + " (vCPU " +
                           std::to_string(id_) + ")");
          keep = false;
          break;
      }
    }
    if (!keep) break;
  }
  host.serial().flush();
  control.thread_leaving(id_);
}

bool Vcpu::on_io(VcpuHost& host) {
  kvm_run* r = run();
  const auto& io = r->io;
  const uint64_t bytes = uint64_t{io.size} * io.count;
  // The kernel fills these, but a bad offset would make us scribble outside the page: check anyway.
  if (io.data_offset > run_map_.size() || bytes > run_map_.size() - io.data_offset) {
    host.end_run(VmState::crashed, 0, "KVM reported an I/O exit with data outside kvm_run");
    return false;
  }
  uint8_t* data = reinterpret_cast<uint8_t*>(r) + io.data_offset;
  const bool out = io.direction == KVM_EXIT_IO_OUT;
  if (io.port == SF_HC_PORT && out && io.count == 1) return on_hypercall(host);
  if (io.port == SF_FAULT_PORT && out && io.count == 1) return on_fault_report(host);

  // String I/O (count > 1) repeats the access on the same port; a wide access on an 8-bit device
  // decodes as byte accesses on consecutive ports, like the ISA bus does.
  for (uint32_t c = 0; c < io.count; ++c) {
    for (uint32_t b = 0; b < io.size; ++b) {
      const uint16_t port = static_cast<uint16_t>(io.port + b);
      uint8_t& byte = data[c * io.size + b];
      if (Serial::owns(port)) {
        if (out) {
          host.serial().write(port, byte);
        } else {
          // An LSR poll may wait for input (idle back-off); a pause or stop ends that wait at once.
          byte = host.serial().read(port, &host.control().leave_requested());
        }
      } else {
        if (!out) byte = 0xff;  // nothing answers: the bus floats high
        if (b == 0) counters_.io_unhandled.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  return true;
}

bool Vcpu::on_hypercall(VcpuHost& host) {
  counters_.hypercalls.fetch_add(1, std::memory_order_relaxed);
  HypercallArgs args;
  if (Status s = hypercall_args(&args); !s.ok()) {
    host.end_run(VmState::crashed, 0, "hypercall: " + s.message);
    return false;
  }
  HypercallOutcome o = handle_hypercall(args, host.memory(), host.hypercall_env());
  switch (o.kind) {
    case HypercallOutcome::Kind::reply:
      if (Status s = hypercall_result(o.value); !s.ok()) {
        host.end_run(VmState::crashed, 0, "hypercall: " + s.message);
        return false;
      }
      return true;
    case HypercallOutcome::Kind::exit:
      host.end_run(VmState::exited, static_cast<int>(o.value), "the guest exited with code " + std::to_string(o.value));
      return false;
    case HypercallOutcome::Kind::panic:
      host.end_run(VmState::crashed, 0, o.reason + " (vCPU " + std::to_string(id_) + ")");
      return false;
    case HypercallOutcome::Kind::wait: {
      const uint64_t t0 = now_ns();
      host.wait_for_devices(std::chrono::nanoseconds(o.value));
      counters_.device_waits.fetch_add(1, std::memory_order_relaxed);
      counters_.device_wait_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
      // The answer is the clock after the wait, so a guest keeps its time without another exit.
      if (Status s = hypercall_result(monotonic_ns()); !s.ok()) {
        host.end_run(VmState::crashed, 0, "hypercall: " + s.message);
        return false;
      }
      return true;
    }
    case HypercallOutcome::Kind::guest_call: {
      const uint32_t nr = static_cast<uint32_t>(args.nr);
      const uint64_t id = host.control().open_call(id_, nr);
      call_pending_ = true;
      call_block_gpa_ = o.block_gpa;
      host.guest_call(id, nr, id_, o.request);
      // open_call armed immediate_exit: the next KVM_RUN completes the OUT and returns EINTR, and
      // on_interrupted then waits for the answer with the vCPU's registers in a consistent state.
      return true;
    }
  }
  return true;
}

bool Vcpu::on_fault_report(VcpuHost& host) {
  // The user-mode supervisor's exception handler (long_mode.cc): rdi = vector, rsi = rip,
  // r8 = error code, r10 = cr2. (A guest writing this port itself only ends its own run.)
  static constexpr const char* kNames[32] = {"#DE divide error",
                                             "#DB debug",
                                             "NMI",
                                             "#BP breakpoint",
                                             "#OF overflow",
                                             "#BR bound range",
                                             "#UD invalid opcode",
                                             "#NM device not available",
                                             "#DF double fault",
                                             "coprocessor segment overrun",
                                             "#TS invalid TSS",
                                             "#NP segment not present",
                                             "#SS stack fault",
                                             "#GP general protection",
                                             "#PF page fault",
                                             "vector 15",
                                             "#MF x87 error",
                                             "#AC alignment check",
                                             "#MC machine check",
                                             "#XM SIMD exception",
                                             "#VE virtualization exception",
                                             "#CP control protection",
                                             "vector 22",
                                             "vector 23",
                                             "vector 24",
                                             "vector 25",
                                             "vector 26",
                                             "vector 27",
                                             "#HV hypervisor injection",
                                             "#VC VMM communication",
                                             "#SX security exception",
                                             "vector 31"};
  HypercallArgs a;
  if (Status s = read_hypercall_args(fd(), &a); !s.ok()) {
    host.end_run(VmState::crashed, 0, "guest exception (registers unavailable: " + s.message + ")");
    return false;
  }
  std::string reason = "guest exception ";
  reason += a.a0 < 32 ? kNames[a.a0] : "vector ?";
  reason += " (vector " + std::to_string(a.a0) + ") at rip=" + hex(a.a1) + ", error code " + hex(a.a2);
  if (a.a0 == 14) reason += ", cr2=" + hex(a.a3);
  host.end_run(VmState::crashed, 0, reason + " (vCPU " + std::to_string(id_) + ")");
  return false;
}

bool Vcpu::finish_call(VcpuHost& host) {
  call_pending_ = false;
  auto reply = std::make_unique<sf_hc_reply>();
  const bool keep = host.control().wait_call(id_, reply.get());
  host.serial().flush();
  // The block was checked to lie in RAM when the call was made, and RAM never shrinks.
  if (!write_guest_call_reply(host.memory(), call_block_gpa_, *reply)) reply->status = -static_cast<int>(SF_EFAULT);
  if (Status s = write_hypercall_result(fd(), reply->status); !s.ok()) {
    if (keep) host.end_run(VmState::crashed, 0, "guest call reply: " + s.message);
    return false;
  }
  return keep;
}

bool Vcpu::on_interrupted(VcpuHost& host) {
  if (call_pending_) return finish_call(host);
  host.serial().flush();  // the vCPU may be about to wait: nothing stays buffered meanwhile
  RunControl& control = host.control();
  bool paused = false;
  if (!control.park_if_requested(id_, &paused)) return false;
  if (paused) return true;

  // A probe or a stray signal. A vCPU asleep in HLT with IF = 0 can never be woken again (flat guests
  // get no NMIs or INIT/SIPI), so it stops for good; when all do, the VM is halted.
  kvm_mp_state mp{};
  if (::ioctl(fd(), KVM_GET_MP_STATE, &mp) != 0 || mp.mp_state != KVM_MP_STATE_HALTED) return true;
  kvm_regs regs{};
  if (::ioctl(fd(), KVM_GET_REGS, &regs) != 0 || (regs.rflags & kRflagsIf) != 0) return true;
  counters_.exits_hlt.fetch_add(1, std::memory_order_relaxed);
  if (control.mark_dead_halted(id_)) {
    host.end_run(
        VmState::halted, 0,
        "every vCPU halted with interrupts disabled (vCPU " + std::to_string(id_) + " at rip=" + hex(regs.rip) + ")");
  }
  control.wait_for_stop(id_);
  return false;
}

void Vcpu::on_mmio(VcpuHost& host) {
  kvm_run* r = run();
  const uint32_t len = std::min<uint32_t>(r->mmio.len, sizeof r->mmio.data);
  if (host.mmio_access(r->mmio.phys_addr, std::span<uint8_t>(r->mmio.data, len), r->mmio.is_write != 0)) return;
  // No device there: writes vanish, reads see all-ones (an empty bus).
  if (!r->mmio.is_write) std::memset(r->mmio.data, 0xff, sizeof r->mmio.data);
}

}  // namespace sf::vmm
