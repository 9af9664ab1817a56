// Serial: the 16550-style console at SF_SERIAL_PORT, reduced to what a polling guest needs.
// Boundary: register semantics and buffering only. Output goes to one sink, batched (newline, 4 KiB,
// or an explicit flush when a vCPU stops to wait) so the sink is not called per byte; input is queued
// by the host from any thread. No interrupts: flat guests poll LSR.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

namespace sf::vmm {

class Serial {
 public:
  using Sink = std::function<void(std::string_view)>;
  static constexpr size_t kFlushBytes = 4096;
  static constexpr size_t kInputLimit = 64 * 1024;  // queued input beyond this is dropped (and counted)

  explicit Serial(Sink sink) : sink_(std::move(sink)) {}
  Serial(const Serial&) = delete;
  Serial& operator=(const Serial&) = delete;

  static bool owns(uint16_t port);
  // One byte-wide register access at `port` (SF_SERIAL_PORT + 0..7).
  void write(uint16_t port, uint8_t value);
  uint8_t read(uint16_t port);

  // Bulk console output (the CONSOLE_WRITE hypercall): same stream and order as THR writes.
  void write_console(std::span<const uint8_t> bytes);
  // Hands buffered output to the sink now.
  void flush();
  // Queues bytes for the guest to read from RBR. Thread-safe.
  void input(std::string_view bytes);

  uint64_t bytes_out() const { return bytes_out_.load(std::memory_order_relaxed); }
  uint64_t input_dropped() const { return input_dropped_.load(std::memory_order_relaxed); }

 private:
  void append_locked(std::string_view bytes);
  void flush_locked();

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
};

}  // namespace sf::vmm
