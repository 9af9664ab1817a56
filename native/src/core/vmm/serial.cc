// Serial: 16550 register subset (THR/RBR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, divisor latch).
// Boundary: device model and output batching; who calls flush() (vCPU waits, a timer) is the VM's choice.
#include "serial.h"

#include "guest_abi.h"

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
      if (dlab) dlm_ = value; else ier_ = value & 0x0f;
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

uint8_t Serial::read(uint16_t port) {
  const uint16_t reg = static_cast<uint16_t>(port - SF_SERIAL_PORT);
  std::lock_guard lock(mu_);
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
    // Transmission is instant, so the transmitter is always empty.
    case kLsr: return static_cast<uint8_t>(kLsrThrEmpty | kLsrTxEmpty | (in_.empty() ? 0 : kLsrDataReady));
    case kMsr: return kMsrCts | kMsrDsr | kMsrDcd;
    case kScr: return scr_;
    default: return 0xff;
  }
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
  std::lock_guard lock(mu_);
  for (char c : bytes) {
    if (in_.size() >= kInputLimit) {
      input_dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    in_.push_back(static_cast<uint8_t>(c));
  }
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

}  // namespace sf::vmm
