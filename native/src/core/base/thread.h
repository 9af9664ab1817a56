// Thread: an RAII pthread with a chosen signal mask, and the VMM's "kick" signal.
// Boundary: thread lifetime and signal plumbing only. pthreads rather than std::thread because
// std::thread reports a failed start by throwing, and this code is built without exceptions.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <functional>
#include <mutex>

#include "status.h"

namespace sf {

// The real-time signal used to kick a vCPU out of KVM_RUN (SIGRTMIN + 2). Its handler does nothing
// and is installed without SA_RESTART, so KVM_RUN returns EINTR. Not SIGUSR1 (Node's inspector) nor
// SIGPROF (V8's profiler).
int kick_signal();
// The nice value vCPU threads run at (host threads keep 0): guests yield to the host's control plane.
constexpr int kGuestNice = 5;
// Installs the kick handler once per process. Thread-safe, idempotent.
Status install_kick_handler();

// The owner passed to Thread::start for the calling thread (nullptr on threads not made by Thread):
// lets teardown code notice that it runs on a thread it would have to join.
const void* current_thread_owner();

class Thread {
 public:
  enum class Signals {
    none,  // helper threads: every asynchronous signal blocked, so process signals land elsewhere
    kick,  // vCPU threads: additionally receive the kick signal
  };

  Thread() = default;
  ~Thread() { join(); }
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;

  // Starts `body` on a new thread. `name` (≤ 15 chars) shows in top/gdb. The new thread never runs
  // with the creator's signal mask, not even for an instant.
  Status start(std::function<void()> body, const char* name, Signals signals, const void* owner = nullptr,
               size_t stack_bytes = 512 * 1024);
  void join();
  bool started() const { return started_; }
  // Sends `sig` to the thread; a no-op when it was never started or has been joined.
  void signal(int sig) const;
  // CPU time (user + system) the thread has used so far; once its body has returned, its total.
  // 0 before start(). Callable from any thread.
  uint64_t cpu_ns() const;

 private:
  friend struct ThreadStart;
  pthread_t handle_{};
  bool started_ = false;
  // The thread's CPU clock may only be read while the thread exists: `running_` is true from a
  // successful start() until the body has returned and the thread has stored `final_cpu_ns_`, both
  // under cpu_mu_, so a reader holding cpu_mu_ never sees a thread that is gone (or a reused tid).
  mutable std::mutex cpu_mu_;
  bool running_ = false;
  uint64_t final_cpu_ns_ = 0;
  // Held by start() until handle_/started_ are recorded; the new thread passes through it before
  // running its body, so nothing the body triggers (a kick from another thread) can see a
  // half-started Thread.
  std::mutex start_mu_;
};

}  // namespace sf
