// DeviceBus: which window an MMIO exit falls in (see device_bus.h).
// Boundary: decoding only; the device does the rest.
#include "device_bus.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

namespace sf::vmm {

Status DeviceBus::add(std::unique_ptr<devices::VirtioMmio> device) {
  if (!device) return Status::Error(EINVAL, "device bus: no device");
  if (slots_.size() >= SF_MAX_DEVICES) {
    return Status::Error(EINVAL, "a VM has at most " + std::to_string(SF_MAX_DEVICES) + " virtio devices");
  }
  // Flat guests have no interrupt controller: an interrupt only ends an SF_HC_WAIT (or makes the next one
  // return at once).
  device->set_interrupt([signal = &signal_] { signal->raise(); });
  slots_.push_back(std::move(device));
  return Status::Ok();
}

uint32_t DeviceBus::route_notifies(int vm_fd) const {
  uint32_t routed = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const devices::VirtioDevice& dev = slots_[i]->device();
    for (uint16_t q = 0; q < dev.num_queues(); ++q) {
      const int fd = dev.notify_fd(q);
      if (fd < 0) continue;
      kvm_ioeventfd io{};
      io.addr = SF_VIRTIO_MMIO_GPA + i * SF_VIRTIO_MMIO_STRIDE + devices::kMmioQueueNotify;
      io.len = 4;
      io.datamatch = q;
      io.fd = fd;
      io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
      if (::ioctl(vm_fd, KVM_IOEVENTFD, &io) == 0) ++routed;
    }
  }
  return routed;
}

bool DeviceBus::access(uint64_t gpa, std::span<uint8_t> data, bool is_write) const {
  if (gpa < SF_VIRTIO_MMIO_GPA) return false;
  const uint64_t rel = gpa - SF_VIRTIO_MMIO_GPA;
  const uint64_t i = rel / SF_VIRTIO_MMIO_STRIDE;
  const uint64_t offset = rel % SF_VIRTIO_MMIO_STRIDE;
  if (i >= slots_.size() || offset >= SF_VIRTIO_MMIO_SIZE || data.empty() || data.size() > 8) return false;
  // An access straddling the window's end is the device's to refuse (it counts it), not the empty bus's.
  if (is_write) slots_[i]->write(offset, data);
  else slots_[i]->read(offset, data);
  return true;
}

}  // namespace sf::vmm
