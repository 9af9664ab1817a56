// DeviceBus: the VM's virtio-mmio device slots (guest ABI: slot i is the window SF_VIRTIO_MMIO_GPA +
// i * SF_VIRTIO_MMIO_STRIDE, SF_VIRTIO_MMIO_SIZE bytes) and the routing of KVM_EXIT_MMIO accesses to them.
// Boundary: address decoding only; each VirtioMmio serialises its own registers (several vCPUs may
// access at once). Filled before any vCPU runs and emptied after they are joined, so lookups take no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "../base/guest_abi.h"
#include "../base/status.h"
#include "../devices/virtio_mmio.h"

namespace sf::vmm {

class DeviceBus {
 public:
  // The next free slot; EINVAL past SF_MAX_DEVICES.
  Status add(std::unique_ptr<devices::VirtioMmio> device);
  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  devices::VirtioMmio* slot(uint32_t i) const { return i < slots_.size() ? slots_[i].get() : nullptr; }
  // A guest access of 1..8 bytes at `gpa`: true when a device window holds it (the device handled it),
  // false when no device claims the address (the caller's empty-bus behaviour applies).
  bool access(uint64_t gpa, std::span<uint8_t> data, bool is_write) const;
  // Resets every device (their threads stop) and releases them. Only with no vCPU running.
  void clear() { slots_.clear(); }

 private:
  std::vector<std::unique_ptr<devices::VirtioMmio>> slots_;
};

}  // namespace sf::vmm
