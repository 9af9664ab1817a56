// VirtioMmio: the virtio-mmio v2 transport (virtio 1.x §4.2) of one device: the register window a
// guest reads and writes, the driver status handshake and feature negotiation, the queues, and the
// state a fork captures and a clone restores. Boundary: register protocol only; it owns the device and
// its queues, and knows nothing of KVM (the VMM routes KVM_EXIT_MMIO accesses to read()/write()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "../base/status.h"
#include "../memory/guest_memory.h"
#include "virtio_device.h"
#include "virtio_spec.h"
#include "virtio_state.h"
#include "virtio_stats.h"
#include "virtqueue.h"

namespace sf::devices {

class VirtioMmio final : public VirtioDeviceHost {
 public:
  // Checks the device's description (queue count, queue sizes, config size) before anything is built.
  static Result<std::unique_ptr<VirtioMmio>> create(memory::GuestMemory& memory, std::unique_ptr<VirtioDevice> device);
  VirtioMmio(const VirtioMmio&) = delete;
  VirtioMmio& operator=(const VirtioMmio&) = delete;
  ~VirtioMmio();  // resets the device (its threads stop using the queues) before the queues go

  // One guest access at `offset` into the window (kMmioWindowBytes), as KVM_EXIT_MMIO reports it: 1 to
  // 8 little-endian bytes. Registers take aligned 32-bit accesses only and the configuration space
  // aligned 8/16/32-bit ones (spec §4.2.2.2); anything else reads as zero and writes nothing, counted
  // in bad_accesses. Never fails: a guest cannot hurt the host through its registers.
  void read(uint64_t offset, std::span<uint8_t> data);
  void write(uint64_t offset, std::span<const uint8_t> data);

  // Before the guest runs: what raises the device's interrupt (later an irqfd). Called from device
  // threads when InterruptStatus gains a bit; flat guests have no interrupts and leave it unset.
  void set_interrupt(std::function<void()> raise) { raise_ = std::move(raise); }

  // Fork, with the vCPUs out of KVM_RUN: the device finishes what it has in flight (at most `limit`),
  // then the state can be captured. resume() lets the device go on (the parent after the fork).
  Status quiesce(std::chrono::milliseconds limit);
  void resume();
  // EBUSY while a request is in flight (quiesce first).
  Result<VirtioState> capture() const;
  // A clone's transport, fresh (never touched by the guest) and bound to the clone's own backends:
  // takes the parent's state after checking it fits this device (id, queues, sizes, the same offer)
  // and this VM's RAM (every ready ring inside it), and activates the device if the parent's driver
  // had. On error the transport stays fresh.
  Status restore(const VirtioState& state);

  VirtioStats stats() const;
  VirtioDevice& device() const { return *device_; }
  uint32_t status() const { return status_.load(std::memory_order_acquire); }
  uint32_t interrupt_status() const { return interrupt_status_.load(std::memory_order_acquire); }
  uint64_t offered_features() const { return offered_; }

  // VirtioDeviceHost (device threads; lock-free).
  Virtqueue& queue(uint16_t index) override { return *queues_[index]; }
  uint64_t features() const override { return negotiated_.load(std::memory_order_acquire); }
  void used_buffers(uint16_t index) override;
  void config_changed() override;
  void needs_reset() override;

 private:
  // What the driver wrote for one queue before making it ready.
  struct QueueSetup {
    uint16_t num = 0;
    uint64_t desc = 0, driver = 0, device = 0;
  };

  VirtioMmio(memory::GuestMemory& memory, std::unique_ptr<VirtioDevice> device);
  uint32_t read_register(uint32_t offset);
  void write_register(uint32_t offset, uint32_t value);
  void write_status(uint32_t value);
  void write_queue_ready(uint32_t value);
  void write_queue_notify(uint32_t value);
  // The selected queue's setup if it exists and may be set up now (FEATURES_OK, not ready), else null.
  QueueSetup* settable_queue();
  void reset_locked();
  void interrupt(uint32_t bit);
  void refuse() { counters_.bad_accesses.fetch_add(1, std::memory_order_relaxed); }
  bool has(uint32_t bit) const { return (status_.load(std::memory_order_acquire) & bit) != 0; }

  memory::GuestMemory& memory_;
  uint64_t offered_ = 0;
  mutable std::mutex mu_;  // register accesses (several vCPUs), quiesce, capture, restore
  VirtioCounters counters_;
  std::function<void()> raise_;
  // Touched by device threads too, hence atomic.
  std::atomic<uint32_t> status_{0};
  std::atomic<uint32_t> interrupt_status_{0};
  std::atomic<uint32_t> config_generation_{0};
  std::atomic<uint64_t> negotiated_{0};
  // Register-side state (under mu_).
  uint64_t driver_features_ = 0;
  uint32_t device_features_sel_ = 0, driver_features_sel_ = 0, queue_sel_ = 0;
  std::vector<QueueSetup> setup_;
  std::vector<std::unique_ptr<Virtqueue>> queues_;
  // Last: destroyed first, so no device thread outlives the queues it uses.
  std::unique_ptr<VirtioDevice> device_;
};

}  // namespace sf::devices
