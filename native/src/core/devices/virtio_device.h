// VirtioDevice: what a virtio device (net, blk) gives its transport, and VirtioDeviceHost: what the
// transport gives the device once the driver has set it up. Boundary: interfaces only; the register
// protocol is virtio_mmio.h's, the ring mechanics virtqueue.h's, the backends (tap, disk) the device's.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "../base/status.h"
#include "virtqueue.h"

namespace sf::devices {

// Implemented by the transport. Safe to call from any device thread: nothing here takes the
// transport's register lock, so a device may call it while the transport waits in reset()/quiesce().
class VirtioDeviceHost {
 public:
  // index < the device's num_queues(). Ready or not: check ready() before popping.
  virtual Virtqueue& queue(uint16_t index) = 0;
  // The features both sides agreed on (VIRTIO_F_VERSION_1 always among them).
  virtual uint64_t features() const = 0;
  // The device returned buffers on `index`: raise the used-buffer interrupt if the driver wants one.
  virtual void used_buffers(uint16_t index) = 0;
  // The configuration space changed (a clone's new MAC, a link change): bump ConfigGeneration and
  // raise the configuration interrupt.
  virtual void config_changed() = 0;
  // Something beyond one request is broken (a queue error, a lost backend): DEVICE_NEEDS_RESET.
  virtual void needs_reset() = 0;

 protected:
  ~VirtioDeviceHost() = default;
};

// All calls come from the transport with its register lock held (one at a time), except where noted.
class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_id() const = 0;
  // The features offered: device-specific bits and the transport bits the device handles (e.g.
  // VIRTIO_F_INDIRECT_DESC). The transport adds VIRTIO_F_VERSION_1 and never offers EVENT_IDX, packed
  // rings or ACCESS_PLATFORM, whatever this says.
  virtual uint64_t device_features() const = 0;
  virtual uint16_t num_queues() const = 0;                    // 1..kMaxQueues
  virtual uint16_t max_queue_size(uint16_t index) const = 0;  // a power of two <= kMaxQueueSize

  // Device-specific configuration space (the registers at 0x100). The transport has checked that
  // [offset, offset + bytes) lies inside config_bytes() (at most 0xf00).
  virtual uint32_t config_bytes() const = 0;
  virtual void read_config(uint32_t offset, std::span<uint8_t> out) const = 0;
  virtual void write_config(uint32_t /*offset*/, std::span<const uint8_t> /*in*/) {}  // read-only by default

  // The driver asks for FEATURES_OK with `features` (already a subset of the offer, VERSION_1 in it):
  // false refuses the combination (FEATURES_OK then stays clear).
  virtual bool accept_features(uint64_t /*features*/) { return true; }
  // DRIVER_OK: features are final and the ready queues usable until reset(). A device with threads
  // starts serving here.
  virtual void activate(VirtioDeviceHost& host) = 0;
  // QueueNotify for a ready queue of an activated device. Processing may happen here (on the vCPU
  // thread) or be handed to the device's own thread.
  virtual void queue_notify(uint16_t index) = 0;
  // An eventfd that stands for queue_notify(index) (the device treats it becoming readable exactly so), or
  // -1. The VMM lets KVM signal it for the guest's QueueNotify write (KVM_IOEVENTFD), so that a notify
  // never leaves the kernel. Valid from construction to destruction.
  virtual int notify_fd(uint16_t /*index*/) const { return -1; }
  // The driver wrote Status = 0 (or the transport goes away, or a restore failed): stop using the
  // queues and return only when no device thread touches them any more; forget activation. Also
  // called on a device that was never activated.
  virtual void reset() = 0;

  // Fork: stop taking new requests and finish those in flight, waiting at most `limit`. True when
  // nothing is in flight any more. resume() undoes it (the parent goes on after the fork).
  virtual bool quiesce(std::chrono::milliseconds /*limit*/) { return true; }
  virtual void resume() {}

  // Device-specific state the fork descriptor carries beside the transport's (at most
  // kVirtioDeviceStateMax bytes); restore_state validates whatever it is given.
  virtual std::vector<uint8_t> capture_state() const { return {}; }
  virtual Status restore_state(std::span<const uint8_t> state) {
    if (state.empty()) return Status::Ok();
    return Status::Error(EINVAL, "this device keeps no state, but the descriptor carries some");
  }
};

}  // namespace sf::devices
