// RunControl: lifecycle state machine, pause/resume/stop handshakes, guest-call waits.
// Boundary: see run_control.h. Invariant that makes kicks race-free: kvm_run.immediate_exit is only
// written with mu_ held, and whenever no completion step is armed it equals
// (pause_requested_ || stop_requested_). A vCPU about to enter KVM_RUN therefore either sees the flag
// (KVM_RUN returns EINTR at once) or is already inside and gets the signal.
#include "run_control.h"

#include <cstdio>
#include <cstring>

namespace sf::vmm {

const char* to_string(VmState state) {
  switch (state) {
    case VmState::created: return "created";
    case VmState::running: return "running";
    case VmState::paused: return "paused";
    case VmState::halted: return "halted";
    case VmState::exited: return "exited";
    case VmState::crashed: return "crashed";
    case VmState::destroyed: return "destroyed";
  }
  return "unknown";
}

RunControl::RunControl(uint32_t vcpus) {
  slots_.reserve(vcpus);
  for (uint32_t i = 0; i < vcpus; ++i) slots_.push_back(std::make_unique<Slot>());
}

void RunControl::attach(uint32_t i, kvm_run* run, Thread* thread) {
  std::lock_guard lock(mu_);
  slots_[i]->run = run;
  slots_[i]->thread = thread;
}

VmState RunControl::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

int RunControl::exit_code() const {
  std::lock_guard lock(mu_);
  return exit_code_;
}

std::string RunControl::reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

bool RunControl::stopping() const {
  std::lock_guard lock(mu_);
  return stop_requested_;
}

void RunControl::set_immediate_exit_locked(Slot& s, bool on) {
  // The kernel reads this byte at KVM_RUN entry on the vCPU's thread; the store must be visible
  // before the kick signal is sent.
  if (s.run != nullptr) __atomic_store_n(&s.run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

void RunControl::kick_locked(Slot& s) {
  if (s.kickable && s.thread != nullptr) s.thread->signal(kick_signal());
}

void RunControl::sync_leave_flag_locked() {
  leave_requested_.store(pause_requested_ || stop_requested_, std::memory_order_seq_cst);
}

void RunControl::kick_all_locked() {
  sync_leave_flag_locked();
  for (auto& s : slots_) {
    set_immediate_exit_locked(*s, true);
    kick_locked(*s);
  }
  // vCPUs waiting in a device model are not in KVM_RUN: the signal does not end their wait, this does.
  if (waker_) waker_();
}

void RunControl::push_event_locked(VmState state, int code, const std::string& reason) {
  events_.push_back(StateEvent{state, code, reason});
}

std::optional<StateEvent> RunControl::take_event() {
  std::lock_guard lock(mu_);
  if (events_.empty()) return std::nullopt;
  StateEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

Status RunControl::begin_running() {
  std::lock_guard lock(mu_);
  if (state_ != VmState::created) {
    return Status::Error(EINVAL, std::string("cannot boot a VM that is ") + to_string(state_));
  }
  state_ = VmState::running;
  push_event_locked(state_, 0, "");
  return Status::Ok();
}

bool RunControl::quiescent_locked() const {
  for (const auto& s : slots_) {
    if (!s->started || s->exited) continue;
    if (!(s->parked || s->call_waiting || s->dead_halted || s->hlt_sleeping)) return false;
  }
  return true;
}

Status RunControl::pause() {
  std::unique_lock lock(mu_);
  if (state_ == VmState::paused) return Status::Ok();
  if (state_ != VmState::running) {
    return Status::Error(EINVAL, std::string("cannot pause a VM that is ") + to_string(state_));
  }
  pause_requested_ = true;
  kick_all_locked();
  ctl_cv_.wait(lock, [this] { return stop_requested_ || quiescent_locked(); });
  if (stop_requested_) {
    pause_requested_ = false;
    sync_leave_flag_locked();
    return Status::Error(ECANCELED, std::string("the VM stopped while pausing (") + to_string(state_) + ")");
  }
  state_ = VmState::paused;
  push_event_locked(state_, 0, "");
  return Status::Ok();
}

Status RunControl::resume() {
  std::lock_guard lock(mu_);
  if (state_ == VmState::running) return Status::Ok();
  if (state_ != VmState::paused) {
    return Status::Error(EINVAL, std::string("cannot resume a VM that is ") + to_string(state_));
  }
  pause_requested_ = false;
  sync_leave_flag_locked();
  state_ = VmState::running;
  push_event_locked(state_, 0, "");
  // Each vCPU clears its own immediate_exit as it leaves park (set_immediate_exit_locked there), so a
  // vCPU still asleep in its wait is not released twice.
  vcpu_cv_.notify_all();
  return Status::Ok();
}

bool RunControl::stop_locked(VmState final_state, int exit_code, std::string reason) {
  const bool first = !stop_requested_;
  stop_requested_ = true;
  if (first && final_state != VmState::destroyed) {
    state_ = final_state;
    exit_code_ = exit_code;
    reason_ = std::move(reason);
    push_event_locked(state_, exit_code_, reason_);
  }
  kick_all_locked();
  vcpu_cv_.notify_all();
  ctl_cv_.notify_all();
  return first;
}

bool RunControl::finish(VmState final_state, int exit_code, std::string reason) {
  std::lock_guard lock(mu_);
  return stop_locked(final_state, exit_code, std::move(reason));
}

void RunControl::stop_all() {
  std::lock_guard lock(mu_);
  stop_locked(VmState::destroyed, 0, "");
}

void RunControl::mark_destroyed() {
  std::lock_guard lock(mu_);
  if (state_ == VmState::destroyed) return;
  state_ = VmState::destroyed;
  push_event_locked(state_, exit_code_, reason_);
}

int RunControl::claim_start(uint32_t i) {
  std::lock_guard lock(mu_);
  if (i >= slots_.size()) return -static_cast<int>(SF_EINVAL);
  if (slots_[i]->started) return -static_cast<int>(SF_ESTATE);
  if (stop_requested_) return -static_cast<int>(SF_EUNAVAIL);
  slots_[i]->started = true;
  return 0;
}

void RunControl::unclaim_start(uint32_t i) {
  std::lock_guard lock(mu_);
  slots_[i]->started = false;
  ctl_cv_.notify_all();
}

void RunControl::thread_entered(uint32_t i) {
  std::lock_guard lock(mu_);
  Slot& s = *slots_[i];
  s.kickable = true;
  // A pause or stop that came before this thread existed still applies to it.
  set_immediate_exit_locked(s, pause_requested_ || stop_requested_);
}

void RunControl::thread_leaving(uint32_t i) {
  std::lock_guard lock(mu_);
  Slot& s = *slots_[i];
  s.kickable = false;
  s.exited = true;
  s.parked = s.call_waiting = false;
  s.in_call = false;  // a call the thread never waited for can no longer be answered
  ctl_cv_.notify_all();
}

bool RunControl::park_if_requested(uint32_t i, bool* paused) {
  std::unique_lock lock(mu_);
  Slot& s = *slots_[i];
  *paused = pause_requested_;
  if (stop_requested_) return false;
  if (!pause_requested_) return true;
  s.parked = true;
  ctl_cv_.notify_all();
  vcpu_cv_.wait(lock, [this] { return !pause_requested_ || stop_requested_; });
  s.parked = false;
  set_immediate_exit_locked(s, pause_requested_ || stop_requested_);
  return !stop_requested_;
}

uint64_t RunControl::open_call(uint32_t i, uint32_t nr) {
  std::lock_guard lock(mu_);
  Slot& s = *slots_[i];
  s.in_call = true;
  s.answered = false;
  s.call_id = next_call_id_++;
  s.call_nr = nr;
  set_immediate_exit_locked(s, true);  // completion step: the next KVM_RUN finishes the OUT and returns
  return s.call_id;
}

Status RunControl::answer(uint64_t id, const sf_hc_reply& reply) {
  std::lock_guard lock(mu_);
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.in_call || s.answered || s.call_id != id) continue;
    if (!s.reply) s.reply = std::make_unique<sf_hc_reply>();
    *s.reply = reply;
    s.answered = true;
    vcpu_cv_.notify_all();
    return Status::Ok();
  }
  return Status::Error(ENOENT, "no vCPU is waiting for guest call " + std::to_string(id) +
                                   " (unknown id, already answered, or the VM stopped)");
}

bool RunControl::wait_call(uint32_t i, sf_hc_reply* reply) {
  std::unique_lock lock(mu_);
  Slot& s = *slots_[i];
  s.call_waiting = true;
  ctl_cv_.notify_all();
  // An answer that arrives while paused is held back until resume: a paused VM's memory and
  // registers must not change.
  vcpu_cv_.wait(lock, [&] { return (s.answered && !pause_requested_) || stop_requested_; });
  s.call_waiting = false;
  s.in_call = false;
  if (s.answered) {
    *reply = *s.reply;
  } else {
    std::memset(reply, 0, sizeof *reply);
    reply->status = -static_cast<int>(SF_EUNAVAIL);
    std::snprintf(reply->errmsg, sizeof reply->errmsg, "the VM is shutting down");
  }
  s.answered = false;
  set_immediate_exit_locked(s, pause_requested_ || stop_requested_);
  return !stop_requested_;
}

bool RunControl::mark_dead_halted(uint32_t i) {
  std::lock_guard lock(mu_);
  slots_[i]->dead_halted = true;
  ctl_cv_.notify_all();
  for (const auto& s : slots_) {
    if (s->started && !s->exited && !s->dead_halted) return false;
  }
  return true;
}

void RunControl::wait_for_stop(uint32_t) {
  std::unique_lock lock(mu_);
  vcpu_cv_.wait(lock, [this] { return stop_requested_; });
}

void RunControl::sleep_in_hlt(uint32_t i) {
  std::unique_lock lock(mu_);
  Slot& s = *slots_[i];
  s.hlt_sleeping = true;
  ctl_cv_.notify_all();  // a pause in progress may be waiting for this vCPU
  vcpu_cv_.wait(lock, [this] { return stop_requested_; });
  s.hlt_sleeping = false;
}

void RunControl::probe_quiet() {
  std::lock_guard lock(mu_);
  if (pause_requested_ || stop_requested_) return;
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.kickable || s.parked || s.in_call || s.dead_halted || s.hlt_sleeping) continue;
    const uint64_t now = s.progress.load(std::memory_order_relaxed);
    if (now == s.last_probe) kick_locked(s);  // signal only: immediate_exit stays as it is
    s.last_probe = now;
  }
}

Status RunControl::begin_paused(const std::vector<bool>& started) {
  std::lock_guard lock(mu_);
  if (state_ != VmState::created)
    return Status::Error(EINVAL, std::string("cannot restore into a VM that is ") + to_string(state_));
  for (size_t i = 0; i < slots_.size() && i < started.size(); ++i) slots_[i]->started = started[i];
  pause_requested_ = true;
  sync_leave_flag_locked();
  for (auto& s : slots_) set_immediate_exit_locked(*s, true);
  state_ = VmState::paused;
  push_event_locked(state_, 0, "");
  return Status::Ok();
}

Status RunControl::wait_quiescent() {
  std::unique_lock lock(mu_);
  ctl_cv_.wait(lock, [this] { return stop_requested_ || !pause_requested_ || quiescent_locked(); });
  if (stop_requested_) return Status::Error(ECANCELED, "the VM stopped");
  return Status::Ok();
}

Result<std::vector<RunControl::ForkVcpu>> RunControl::fork_check() const {
  std::lock_guard lock(mu_);
  if (state_ != VmState::paused)
    return Status::Error(EINVAL, std::string("cannot fork a VM that is ") + to_string(state_));
  std::vector<ForkVcpu> out(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = *slots_[i];
    if (!s.started) continue;
    if (s.exited || !(s.parked || s.call_waiting)) {
      return Status::Error(
          EBUSY, "vCPU " + std::to_string(i) + " is asleep in HLT or has stopped: such a VM cannot be forked");
    }
    out[i].started = true;
    out[i].call_nr = s.call_waiting ? s.call_nr : 0;
  }
  return out;
}

}  // namespace sf::vmm
