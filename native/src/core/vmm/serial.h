// Serial: the 16550-style console at SF_SERIAL_PORT, reduced to what a polling guest needs.
// Boundary: register semantics and buffering only. Output goes to one sink, batched (newline, 4 KiB,
// or an explicit flush when a vCPU stops to wait) so the sink is not called per byte; input is queued
// by the host from any thread. No interrupts: flat guests poll LSR, so an idle guest waiting for input
// would spend a whole host core on I/O exits; an idle back-off makes such polls wait (see Backoff).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "descriptor.h"

namespace sf::vmm {

class Serial {
 public:
  using Sink = std::function<void(std::string_view)>;
  static constexpr size_t kFlushBytes = 4096;
  static constexpr size_t kInputLimit = 64 * 1024;  // queued input beyond this is dropped (and counted)

  // Idle back-off: after `after_reads` consecutive LSR reads that found no input, each further such
  // read first waits (on the reading vCPU's thread) for input, `first` long, doubling per wait up to
  // `max`; arriving input ends the wait at once (the read then reports it). Any other register access,
  // an LSR read that finds input, and input arriving reset the back-off; so does an LSR read that
  // comes more than `max_gap` after the previous one was answered: such a guest does other work
  // between polls (say sf_trygetchar() once per frame) and must not be slowed down. A tight poll
  // loop comes back within ~8-25 us here (p99.9 < 100 us). `after_reads` = 0 disables the back-off.
  // A poll costs ~10-20 us of exit on kvm_pvm hosts: with 2 ms per idle poll a waiting guest uses ~2%
  // of a core instead of ~95% (measured), and input still reaches it at once (the wait ends when input
  // arrives). The state belongs to the device, so every vCPU polling it shares one back-off.
  struct Backoff {
    uint32_t after_reads = 64;
    std::chrono::microseconds first{50};
    std::chrono::microseconds max{2000};
    std::chrono::microseconds max_gap{250};
  };

  explicit Serial(Sink sink) : Serial(std::move(sink), Backoff{}) {}
  Serial(Sink sink, Backoff backoff) : sink_(std::move(sink)), backoff_(backoff) {}
  Serial(const Serial&) = delete;
  Serial& operator=(const Serial&) = delete;

  static bool owns(uint16_t port);
  // One byte-wide register access at `port` (SF_SERIAL_PORT + 0..7). A read of LSR may wait (idle
  // back-off, at most Backoff::max); `leave`, when given, ends such a wait as soon as it is true
  // (RunControl::leave_requested: a pause or stop is asking the vCPU to leave), and whoever sets it
  // must call wake() afterwards.
  void write(uint16_t port, uint8_t value);
  uint8_t read(uint16_t port, const std::atomic<bool>* leave = nullptr);
  // Wakes every idle-back-off wait so it re-checks its `leave` flag. Thread-safe, cheap.
  void wake();

  // Bulk console output (the CONSOLE_WRITE hypercall): same stream and order as THR writes.
  void write_console(std::span<const uint8_t> bytes);
  // Hands buffered output to the sink now.
  void flush();
  // Queues bytes for the guest to read from RBR. Thread-safe.
  void input(std::string_view bytes);

  // Register state for fork (the input queue and output buffer belong to the console, not the guest).
  SerialRegisters registers();
  void set_registers(const SerialRegisters& r);
  uint64_t bytes_out() const { return bytes_out_.load(std::memory_order_relaxed); }
  uint64_t input_dropped() const { return input_dropped_.load(std::memory_order_relaxed); }
  uint64_t idle_waits() const { return idle_waits_.load(std::memory_order_relaxed); }

 private:
  void append_locked(std::string_view bytes);
  void flush_locked();
  void reset_backoff_locked() {
    idle_reads_ = 0;
    idle_wait_ = std::chrono::microseconds{0};
  }
  // An LSR read found no input: counts it and, past the threshold, waits for input (mu_ held by `lock`).
  void idle_poll_locked(std::unique_lock<std::mutex>& lock, const std::atomic<bool>* leave);

  Sink sink_;
  // Output: the sink is called with out_mu_ held so output from several vCPUs stays in order.
  std::mutex out_mu_;
  std::string out_;
  std::atomic<uint64_t> bytes_out_{0};

  // Registers and the input queue.
  std::mutex mu_;
  std::deque<uint8_t> in_;
  uint8_t ier_ = 0, lcr_ = 0x03, mcr_ = 0, scr_ = 0, dll_ = 0x01, dlm_ = 0;
  bool fifo_enabled_ = false;
  std::atomic<uint64_t> input_dropped_{0};

  // Idle back-off (under mu_; input_cv_ is signalled by input() and wake()).
  const Backoff backoff_;
  std::condition_variable input_cv_;
  uint32_t idle_reads_ = 0;
  std::chrono::microseconds idle_wait_{0};                    // the last wait's length; 0 = none yet
  std::chrono::steady_clock::time_point last_idle_answer_{};  // when the last empty LSR read returned
  std::atomic<uint64_t> idle_waits_{0};
};

}  // namespace sf::vmm
