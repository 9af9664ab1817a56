// RunControl: the one place where a VM's lifecycle state and its vCPU threads meet: pause/resume
// (kick every vCPU out of KVM_RUN and wait until all are parked), stop, guest calls that block a vCPU
// until the embedder answers, and vCPUs that halted for good.
// Boundary: synchronisation and bookkeeping only (one mutex, two condition variables); it never runs
// a vCPU, touches guest memory or calls embedder callbacks. State changes are queued as events that
// the VM delivers in order (see take_event).
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../base/guest_abi.h"
#include "../base/status.h"
#include "../base/thread.h"
#include "vm_state.h"

namespace sf::vmm {

struct StateEvent {
  VmState state;
  int exit_code = 0;
  std::string reason;
};

class RunControl {
 public:
  explicit RunControl(uint32_t vcpus);
  RunControl(const RunControl&) = delete;
  RunControl& operator=(const RunControl&) = delete;

  // Wiring, before any thread runs: where vCPU i's kvm_run page and thread are.
  void attach(uint32_t i, kvm_run* run, Thread* thread);
  // Wiring, before any thread runs: called (with this object's lock held, so it must not call back
  // into RunControl) right after every kick that asks all vCPUs out of KVM_RUN (pause, stop), to wake
  // vCPUs that wait in user space for a device (the serial port's idle back-off) instead of sitting in
  // KVM_RUN, where the kick signal would reach them.
  void set_waker(std::function<void()> waker) { waker_ = std::move(waker); }
  // True while a pause or stop asks every vCPU to leave KVM_RUN. Lock-free: a device wait checks it
  // in its wake-up condition (it is set before the waker is called).
  const std::atomic<bool>& leave_requested() const { return leave_requested_; }

  VmState state() const;
  int exit_code() const;
  std::string reason() const;

  // ---- controller side (embedder threads) ----
  Status begin_running();  // created → running
  // running → paused: kicks every vCPU, returns once each is parked, waiting for a guest-call answer
  // or halted for good. Idempotent when already paused.
  Status pause();
  Status resume();  // paused → running (idempotent when running)
  // Fork: created → paused for a VM restored from a descriptor; its vCPU threads (started afterwards)
  // park before their first guest instruction. wait_quiescent() returns once every started one has.
  Status begin_paused(const std::vector<bool>& started);
  Status wait_quiescent();
  // Fork, on a paused VM: which vCPUs were started and which guest call each one waits in (its
  // doorbell completed, so its registers are final), or EBUSY when a vCPU is asleep in HLT or has left
  // its loop (states a restored VM cannot reproduce).
  struct ForkVcpu {
    bool started = false;
    uint32_t call_nr = 0;  // 0: not in a guest call
  };
  Result<std::vector<ForkVcpu>> fork_check() const;
  // The guest's run is over (exit, crash, all vCPUs halted): the first caller wins and gets true;
  // every vCPU is told to stop.
  bool finish(VmState final_state, int exit_code, std::string reason);
  // Teardown: stops every vCPU; vCPUs waiting for a guest-call answer get -SF_EUNAVAIL.
  void stop_all();
  bool stopping() const;
  // Sets the final `destroyed` state (after every thread is joined) and queues its event.
  void mark_destroyed();
  // Answers guest call `id` from any thread. ENOENT when no vCPU waits for it (unknown id, answered
  // already, or the VM stopped and the call was failed with -SF_EUNAVAIL).
  Status answer(uint64_t id, const sf_hc_reply& reply);
  // Kicks vCPUs that made no exit since the previous probe, so a vCPU sleeping in an in-kernel HLT
  // comes back to user space and can tell whether it can ever wake up (vcpu.cc). Only needed with an
  // in-kernel irqchip: without one, HLT exits to user space by itself.
  void probe_quiet();
  // The next queued state change, in the order they happened.
  std::optional<StateEvent> take_event();

  // ---- vCPU side ----
  // VCPU_START's bookkeeping: -SF_EINVAL (id out of range), -SF_ESTATE (already started) or 0.
  int claim_start(uint32_t i);
  void unclaim_start(uint32_t i);   // the thread could not be created
  void thread_entered(uint32_t i);  // first thing a vCPU thread does: from now on it may be kicked
  void thread_leaving(uint32_t i);  // last thing: no more kicks (its pthread_t is about to be joined)
  // Called when KVM_RUN returned EINTR. Parks while a pause is in effect. Returns false when the vCPU
  // must stop. *paused tells whether a pause (rather than a probe or stray signal) caused the kick.
  bool park_if_requested(uint32_t i, bool* paused);
  // A validated guest call: returns its id and arms immediate_exit so that the next KVM_RUN completes
  // the doorbell instruction and comes straight back (registers are then consistent for a snapshot).
  uint64_t open_call(uint32_t i, uint32_t nr);
  // Blocks (counted as parked) until the call is answered and no pause is in effect, or the VM stops
  // (reply = -SF_EUNAVAIL). Returns false when the vCPU must stop after delivering the reply.
  bool wait_call(uint32_t i, sf_hc_reply* reply);
  // This vCPU sleeps in HLT with interrupts off: it can never run again. Returns true when that makes
  // every started vCPU such a sleeper (the VM is halted).
  bool mark_dead_halted(uint32_t i);
  void wait_for_stop(uint32_t i);  // a dead-halted vCPU's thread waits here (counted as parked)
  // This vCPU executed HLT with interrupts enabled and there is no in-kernel irqchip, so KVM handed
  // the halt to user space and no interrupt can ever end it: the thread sleeps here, counted as
  // parked, until the VM stops (a pause and resume leave it asleep, as an in-kernel halt would be).
  // It is not "halted for good" (the VM does not become halted because of it), just as with an irqchip.
  void sleep_in_hlt(uint32_t i);
  // One exit made: for probe_quiet. Lock-free.
  void note_progress(uint32_t i) { slots_[i]->progress.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Slot {
    kvm_run* run = nullptr;
    Thread* thread = nullptr;
    bool started = false;   // claimed (vCPU 0 at boot, others by VCPU_START)
    bool kickable = false;  // thread between thread_entered and thread_leaving
    bool exited = false;    // thread left its loop
    bool parked = false;    // waiting in park_if_requested
    bool in_call = false;   // a guest call is open (from open_call to the end of wait_call)
    bool call_waiting = false;
    bool answered = false;
    bool dead_halted = false;
    bool hlt_sleeping = false;  // in sleep_in_hlt
    uint64_t call_id = 0;
    uint32_t call_nr = 0;
    std::unique_ptr<sf_hc_reply> reply;  // 4.7 KiB: allocated on first use
    std::atomic<uint64_t> progress{0};
    uint64_t last_probe = 0;
  };

  bool quiescent_locked() const;
  void kick_locked(Slot& s);
  void kick_all_locked();
  void sync_leave_flag_locked();
  void set_immediate_exit_locked(Slot& s, bool on);
  bool stop_locked(VmState final_state, int exit_code, std::string reason);
  void push_event_locked(VmState state, int code, const std::string& reason);

  mutable std::mutex mu_;
  std::condition_variable vcpu_cv_;  // vCPUs wait: resume, answer, stop
  std::condition_variable ctl_cv_;   // pause() waits: a vCPU parked
  std::vector<std::unique_ptr<Slot>> slots_;
  VmState state_ = VmState::created;
  int exit_code_ = 0;
  std::string reason_;
  bool pause_requested_ = false;
  bool stop_requested_ = false;
  std::atomic<bool> leave_requested_{false};  // pause_requested_ || stop_requested_, readable without mu_
  std::function<void()> waker_;
  uint64_t next_call_id_ = 1;
  std::deque<StateEvent> events_;
};

}  // namespace sf::vmm
