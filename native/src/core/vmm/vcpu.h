// Vcpu: one virtual CPU: its KVM fd, its kvm_run page and the thread that runs KVM_RUN and sorts
// the exits (port I/O to the serial port or the hypercall doorbell, MMIO, halts, faults, kicks).
// Boundary: the run loop and exit classification. Devices, guest memory, lifecycle decisions and
// embedder callbacks are reached through VcpuHost (implemented by the VM).
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "../base/guest_abi.h"
#include "../base/mapping.h"
#include "../base/status.h"
#include "../base/thread.h"
#include "../base/unique_fd.h"
#include "hypercall.h"
#include "kvm.h"
#include "run_control.h"
#include "serial.h"
#include "vm_stats.h"

namespace sf::vmm {

// What a vCPU thread needs from its VM. All methods are called on vCPU threads.
class VcpuHost {
 public:
  virtual memory::GuestMemory& memory() = 0;
  virtual Serial& serial() = 0;
  virtual RunControl& control() = 0;
  virtual HypercallEnv& hypercall_env() = 0;
  // The guest's run is over (exit/crash/halt): stop every vCPU, report the state once.
  virtual void end_run(VmState state, int exit_code, std::string reason) = 0;
  // A validated seed-API request, to hand to the embedder (the vCPU then waits for the answer).
  virtual void guest_call(uint64_t id, uint32_t nr, uint32_t vcpu, const sf_hc_request& request) = 0;
  // A KVM_EXIT_MMIO access (1..8 bytes): true when a device claimed the address and handled it. Several
  // vCPUs may call at once.
  virtual bool mmio_access(uint64_t gpa, std::span<uint8_t> data, bool is_write) = 0;
  // SF_HC_WAIT: sleeps until a device interrupt (or one pending since the last wait), `timeout`, or a
  // pause/stop asking the vCPUs to leave.
  virtual void wait_for_devices(std::chrono::nanoseconds timeout) = 0;

 protected:
  ~VcpuHost() = default;
};

class Vcpu {
 public:
  // KVM_CREATE_VCPU, maps kvm_run, installs CPUID. The vCPU does not run until start().
  static Result<std::unique_ptr<Vcpu>> create(KvmVm& vm, uint32_t id, uint32_t vcpus);
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;
  ~Vcpu() { join(); }

  // With an in-kernel irqchip, secondary vCPUs come out of KVM_CREATE_VCPU waiting for INIT/SIPI (their
  // LAPIC's reset state); flat guests start them directly, so mark them runnable (without an irqchip
  // they are runnable already, and this is a harmless no-op).
  Status make_runnable();
  // Starts the run-loop thread (its current_thread_owner() is &host). The VM must have called
  // RunControl::attach for this vCPU. After prestart() it only lets the parked thread go.
  Status start(VcpuHost& host);
  // Starts the run-loop thread parked before its first KVM_RUN (a clone shell's, made ahead of the fork,
  // so the clone does not pay for a thread's creation); start() lets it go, join() sends it away unused.
  Status prestart(VcpuHost& host);
  void join();

  uint32_t id() const { return id_; }
  int fd() const { return fd_.get(); }
  kvm_run* run() const { return static_cast<kvm_run*>(run_map_.get()); }
  Thread* thread() { return &thread_; }
  const VcpuCounters& counters() const { return counters_; }
  uint64_t cpu_ns() const { return thread_.cpu_ns(); }  // CPU time of the run-loop thread
  // The request block of the guest call this vCPU waits in (fork reads it while the vCPU is parked in
  // RunControl::wait_call, whose lock orders it after the vCPU thread's write).
  uint64_t call_block_gpa() const { return call_block_gpa_; }

 private:
  Vcpu(uint32_t id, UniqueFd fd, Mapping run_map, bool sync_regs)
      : id_(id), fd_(std::move(fd)), run_map_(std::move(run_map)), sync_regs_(sync_regs) {}
  // The doorbell's arguments and its answer (rax), through kvm_run's synced registers when KVM offers them
  // (the answer then reaches the vCPU at the next KVM_RUN, which the loop enters next), else ioctls.
  Status hypercall_args(HypercallArgs* args);
  Status hypercall_result(int64_t rax);

  void loop(VcpuHost& host);
  // Each returns false when the loop must end.
  bool on_io(VcpuHost& host);
  bool on_hypercall(VcpuHost& host);
  bool on_fault_report(VcpuHost& host);
  bool on_interrupted(VcpuHost& host);
  bool finish_call(VcpuHost& host);
  void on_mmio(VcpuHost& host);
  std::string where() const;  // " at rip=0x…" for crash reasons

  uint32_t id_;
  UniqueFd fd_;
  Mapping run_map_;
  bool sync_regs_;
  // Where a prestarted thread waits for start() (let go) or join() (sent away); null when not prestarted.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    enum class State { parked, go, away } state = State::parked;
  };
  std::unique_ptr<Gate> gate_;
  Thread thread_;  // last: joined (by ~Vcpu) before the fd and mapping go away
  VcpuCounters counters_;

  // Guest call in progress (only touched by this vCPU's thread).
  bool call_pending_ = false;
  uint64_t call_block_gpa_ = 0;
};

}  // namespace sf::vmm
