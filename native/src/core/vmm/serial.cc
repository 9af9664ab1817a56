// Serial: 16550 register subset (THR/RBR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, divisor latch).
// Boundary: device model, output batching and the idle back-off of LSR polls; who calls flush() (vCPU
// waits, a timer) and who calls wake() (pause/stop) is the VM's choice.
#include "serial.h"

#include "../base/guest_abi.h"

#include <algorithm>

namespace sf::vmm {

namespace {

// Register offsets from the base port.
constexpr uint16_t kData = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20, kLsrTxEmpty = 0x40;
constexpr uint8_t kIirNoInterrupt = 0x01, kIirFifoEnabled = 0xc0;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrDcd = 0x80;

}  // namespace

bool Serial::owns(uint16_t port) { return port >= SF_SERIAL_PORT && port < SF_SERIAL_PORT + 8; }

void Serial::write(uint16_t port, uint8_t value) {
  const uint16_t reg = static_cast<uint16_t>(port - SF_SERIAL_PORT);
  std::unique_lock lock(mu_);
  reset_backoff_locked();  // the guest is doing something other than waiting for input
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (reg) {
    case kData:
      if (dlab) {
        dll_ = value;
        return;
      }
      lock.unlock();
      {
        const char c = static_cast<char>(value);
        std::lock_guard out(out_mu_);
        append_locked(std::string_view(&c, 1));
      }
      return;
    case kIer:
      if (dlab) dlm_ = value;
      else ier_ = value & 0x0f;
      return;
    case kIirFcr:
      // Input queued by the host is deliberately not cleared by a FIFO reset: a guest that resets the
      // UART while starting must not lose what was typed before.
      fifo_enabled_ = (value & 0x01) != 0;
      return;
    case kLcr: lcr_ = value; return;
    case kMcr: mcr_ = value & 0x1f; return;
    case kScr: scr_ = value; return;
    default: return;  // LSR/MSR writes (factory test) are ignored
  }
}

uint8_t Serial::read(uint16_t port, const std::atomic<bool>* leave) {
  const uint16_t reg = static_cast<uint16_t>(port - SF_SERIAL_PORT);
  std::unique_lock lock(mu_);
  if (reg == kLsr) {
    if (in_.empty()) idle_poll_locked(lock, leave);
    if (!in_.empty()) reset_backoff_locked();
    // Transmission is instant, so the transmitter is always empty.
    return static_cast<uint8_t>(kLsrThrEmpty | kLsrTxEmpty | (in_.empty() ? 0 : kLsrDataReady));
  }
  reset_backoff_locked();
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (reg) {
    case kData: {
      if (dlab) return dll_;
      if (in_.empty()) return 0;
      const uint8_t b = in_.front();
      in_.pop_front();
      return b;
    }
    case kIer: return dlab ? dlm_ : ier_;
    case kIirFcr: return static_cast<uint8_t>(kIirNoInterrupt | (fifo_enabled_ ? kIirFifoEnabled : 0));
    case kLcr: return lcr_;
    case kMcr: return mcr_;
    case kMsr: return kMsrCts | kMsrDsr | kMsrDcd;
    case kScr: return scr_;
    default: return 0xff;
  }
}

void Serial::idle_poll_locked(std::unique_lock<std::mutex>& lock, const std::atomic<bool>* leave) {
  if (backoff_.after_reads == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (idle_reads_ > 0 && now - last_idle_answer_ > backoff_.max_gap) reset_backoff_locked();
  if (idle_reads_ < backoff_.after_reads) {
    ++idle_reads_;
    last_idle_answer_ = now;
    return;
  }
  const auto leaving = [leave] { return leave != nullptr && leave->load(std::memory_order_seq_cst); };
  if (!leaving()) {  // with a kick pending, answer now so the vCPU can leave
    idle_wait_ = idle_wait_.count() == 0 ? backoff_.first : std::min(idle_wait_ * 2, backoff_.max);
    idle_waits_.fetch_add(1, std::memory_order_relaxed);
    // `leave` is set before wake() takes mu_ to notify, and it is checked here with mu_ held before
    // sleeping: no wake-up is lost.
    input_cv_.wait_for(lock, idle_wait_, [&] { return !in_.empty() || leaving(); });
  }
  last_idle_answer_ = std::chrono::steady_clock::now();
}

void Serial::wake() {
  { std::lock_guard lock(mu_); }
  input_cv_.notify_all();
}

void Serial::write_console(std::span<const uint8_t> bytes) {
  std::lock_guard out(out_mu_);
  // Whatever the serial port buffered goes first, then the bulk write in one piece.
  flush_locked();
  if (bytes.empty()) return;
  bytes_out_.fetch_add(bytes.size(), std::memory_order_relaxed);
  if (sink_) sink_(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void Serial::flush() {
  std::lock_guard out(out_mu_);
  flush_locked();
}

void Serial::input(std::string_view bytes) {
  {
    std::lock_guard lock(mu_);
    for (char c : bytes) {
      if (in_.size() >= kInputLimit) {
        input_dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      in_.push_back(static_cast<uint8_t>(c));
    }
    if (!bytes.empty()) reset_backoff_locked();
  }
  input_cv_.notify_all();  // a vCPU in an idle wait reads the input now
}

void Serial::append_locked(std::string_view bytes) {
  bytes_out_.fetch_add(bytes.size(), std::memory_order_relaxed);
  for (char c : bytes) {
    out_.push_back(c);
    if (c == '\n' || out_.size() >= kFlushBytes) flush_locked();
  }
}

void Serial::flush_locked() {
  if (out_.empty()) return;
  if (sink_) sink_(out_);
  out_.clear();
}

SerialRegisters Serial::registers() {
  std::lock_guard lock(mu_);
  return SerialRegisters{ier_, lcr_, mcr_, scr_, dll_, dlm_, static_cast<uint8_t>(fifo_enabled_ ? 1 : 0), 0};
}

void Serial::set_registers(const SerialRegisters& r) {
  std::lock_guard lock(mu_);
  ier_ = r.ier;
  lcr_ = r.lcr;
  mcr_ = r.mcr;
  scr_ = r.scr;
  dll_ = r.dll;
  dlm_ = r.dlm;
  fifo_enabled_ = r.fifo_enabled != 0;
}

}  // namespace sf::vmm
