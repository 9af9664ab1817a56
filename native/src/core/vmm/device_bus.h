// DeviceBus: the VM's virtio-mmio device slots (guest ABI: slot i is the window SF_VIRTIO_MMIO_GPA +
// i * SF_VIRTIO_MMIO_STRIDE, SF_VIRTIO_MMIO_SIZE bytes) and the routing of KVM_EXIT_MMIO accesses to them.
// Boundary: address decoding, and wiring every device's interrupt to the VM's DeviceSignal (what SF_HC_WAIT
// sleeps on); each VirtioMmio serialises its own registers (several vCPUs may access at once). Filled before
// any vCPU runs and emptied after they are joined, so lookups take no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "../base/guest_abi.h"
#include "../base/status.h"
#include "../devices/virtio_mmio.h"
#include "device_signal.h"

namespace sf::vmm {

class DeviceBus {
 public:
  // The next free slot; EINVAL past SF_MAX_DEVICES. The device's interrupt raises signal().
  Status add(std::unique_ptr<devices::VirtioMmio> device);
  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  devices::VirtioMmio* slot(uint32_t i) const { return i < slots_.size() ? slots_[i].get() : nullptr; }
  // Lets KVM deliver the guest's QueueNotify writes straight to the devices' notify eventfds
  // (KVM_IOEVENTFD, matched on the queue index), so a notify costs no exit to user space. Call once, after
  // the devices are added, with the VM's fd. Returns how many queues are routed; a queue KVM refuses keeps
  // the ordinary MMIO exit (which works the same, only slower).
  uint32_t route_notifies(int vm_fd) const;
  // A guest access of 1..8 bytes at `gpa`: true when a device window holds it (the device handled it),
  // false when no device claims the address (the caller's empty-bus behaviour applies).
  bool access(uint64_t gpa, std::span<uint8_t> data, bool is_write) const;
  // Resets every device (their threads stop) and releases them. Only with no vCPU running.
  void clear() { slots_.clear(); }
  // Raised by every device's interrupt; lives as long as the bus (a waker may still call it after clear()).
  DeviceSignal& signal() { return signal_; }

 private:
  DeviceSignal signal_;
  std::vector<std::unique_ptr<devices::VirtioMmio>> slots_;
};

}  // namespace sf::vmm
