// Thread: pthread start/join with a controlled signal mask; the kick signal's do-nothing handler.
// Boundary: no VM knowledge.
#include "thread.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <memory>
#include <mutex>

namespace sf {

namespace {

thread_local const void* tls_owner = nullptr;

void on_kick(int) {}  // the point is the interrupted system call (KVM_RUN → EINTR), not the handler

}  // namespace

struct ThreadStart {
  std::function<void()> body;
  Thread::Signals signals;
  const void* owner;
  Thread* self;
  char name[16];

  static void wait_for_creator(Thread* t) { std::lock_guard gate(t->start_mu_); }
  // Last thing the thread does: record its CPU time while it can still read its own clock.
  static void record_exit(Thread* t) {
    timespec ts{};
    const uint64_t ns = ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0
                            ? static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec)
                            : 0;
    std::lock_guard lock(t->cpu_mu_);
    t->final_cpu_ns_ = ns;
    t->running_ = false;
  }
};

namespace {

void* thread_main(void* arg) {
  std::unique_ptr<ThreadStart> block(static_cast<ThreadStart*>(arg));
  ThreadStart::wait_for_creator(block->self);
  // The creator blocked everything around pthread_create; open only what this thread should take.
  // Synchronous faults stay deliverable (blocking them would turn a crash into a hang).
  sigset_t mask;
  sigfillset(&mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT}) sigdelset(&mask, sig);
  if (block->signals == Thread::Signals::kick) sigdelset(&mask, kick_signal());
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);
  pthread_setname_np(pthread_self(), block->name);
  // vCPU threads (the kickable ones) run guest work a notch below the host's own threads: a host full
  // of busy guests must still answer heartbeats, serve page faults and relay consoles on time.
  // (Linux nice is per thread; raising it needs no privilege. Best effort.)
  if (block->signals == Thread::Signals::kick) {
    const id_t tid = static_cast<id_t>(::gettid());
    errno = 0;
    const int inherited = ::getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && inherited < kGuestNice) (void)::setpriority(PRIO_PROCESS, tid, kGuestNice);  // only ever lower it
  }
  tls_owner = block->owner;
  block->body();
  ThreadStart::record_exit(block->self);
  return nullptr;
}

}  // namespace

int kick_signal() { return SIGRTMIN + 2; }

const void* current_thread_owner() { return tls_owner; }

Status install_kick_handler() {
  static Status installed;
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must come back with EINTR
    if (sigaction(kick_signal(), &sa, nullptr) != 0) installed = Status::FromErrno("sigaction(kick signal)", errno);
  });
  return installed;
}

Status Thread::start(std::function<void()> body, const char* name, Signals signals, const void* owner,
                     size_t stack_bytes) {
  if (started_) return Status::Error(EBUSY, "thread already started");
  auto block = std::make_unique<ThreadStart>();
  block->body = std::move(body);
  block->signals = signals;
  block->owner = owner;
  block->self = this;
  strncpy(block->name, name, sizeof block->name - 1);
  block->name[sizeof block->name - 1] = 0;

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes);
  // Threads inherit the creator's mask: block everything for the duration of pthread_create so no
  // process-directed signal can land on the new thread before it sets its own mask.
  sigset_t all, old;
  sigfillset(&all);
  std::lock_guard gate(start_mu_);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int rc = pthread_create(&handle_, &attr, thread_main, block.get());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) return Status::FromErrno(std::string("pthread_create(") + block->name + ")", rc);
  block.release();  // owned by the thread now
  started_ = true;
  {
    // The new thread is held at the gate (start_mu_), so it cannot have finished yet.
    std::lock_guard cpu(cpu_mu_);
    running_ = true;
    final_cpu_ns_ = 0;
  }
  return Status::Ok();
}

void Thread::join() {
  if (!started_) return;
  pthread_join(handle_, nullptr);
  started_ = false;
}

uint64_t Thread::cpu_ns() const {
  std::lock_guard lock(cpu_mu_);
  if (!running_) return final_cpu_ns_;
  clockid_t clock;
  timespec ts{};
  if (pthread_getcpuclockid(handle_, &clock) != 0 || ::clock_gettime(clock, &ts) != 0) return final_cpu_ns_;
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void Thread::signal(int sig) const {
  // A pthread_t stays valid until joined, even after the thread function returned.
  if (started_) pthread_kill(handle_, sig);
}

}  // namespace sf
