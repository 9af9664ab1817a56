// VirtioState: a virtio-mmio device's transport and queue state as the fork descriptor carries it, and
// its versioned, fixed-layout binary form. Boundary: encoding and format-level checks only; whether a
// state fits a given device and RAM is VirtioMmio::restore's check. decode trusts nothing it is given.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "../base/status.h"
#include "virtqueue.h"

namespace sf::devices {

inline constexpr uint64_t kVirtioStateMagic = 0x3154534f49545256ull;  // "VRTIOST1" little-endian
inline constexpr uint32_t kVirtioStateVersion = 1;
inline constexpr size_t kVirtioStateHeaderBytes = 24;     // magic u64, version u32, total u32, checksum u64
inline constexpr size_t kVirtioStateTransportBytes = 56;  // the fixed transport block
inline constexpr size_t kVirtioStateQueueBytes = 32;      // one per queue
inline constexpr uint32_t kVirtioDeviceStateMax = 4096;   // VirtioDevice::capture_state() bytes

// One queue's registers as the driver wrote them, and its progress.
struct QueueRegisters {
  uint16_t num = 0;  // QueueNum (<= kMaxQueueSize; a power of two once ready)
  bool ready = false;
  uint64_t desc = 0, driver = 0, device = 0;
  QueueIndices indices;  // zero unless ready
  bool operator==(const QueueRegisters&) const = default;
};

struct VirtioState {
  uint32_t device_id = 0;
  uint32_t status = 0;           // the Status register, NEEDS_RESET included
  uint64_t device_features = 0;  // the offer (a clone's device must make the same one)
  uint64_t driver_features = 0;  // what the driver wrote (final once FEATURES_OK is set)
  uint32_t device_features_sel = 0, driver_features_sel = 0, queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  std::vector<QueueRegisters> queues;  // one per device queue, 1..kMaxQueues
  std::vector<uint8_t> device;         // VirtioDevice::capture_state(), at most kVirtioDeviceStateMax
  bool operator==(const VirtioState&) const = default;
};

// Layout (little-endian, no padding): header {magic u64, version u32, total bytes u32, checksum u64 =
// FNV-1a 64 of every byte after the header}; transport {device_id u32, status u32, device_features u64,
// driver_features u64, device_features_sel u32, driver_features_sel u32, queue_sel u32, interrupt_status
// u32, config_generation u32, queue_count u16, reserved u16 = 0, device_bytes u32, reserved u32 = 0};
// queue_count × {num u16, flags u16 (1 ready, 2 broken), last_avail u16, used u16, desc u64, driver u64,
// device u64}; then device_bytes of device state.
std::vector<uint8_t> encode_virtio_state(const VirtioState& state);
// Refuses wrong magic/version, any length disagreement, a checksum mismatch, non-zero reserved bits,
// and states no driver could have reached (a status out of handshake order, features outside the
// offer, a ready queue of a size no queue may have or with misaligned rings, a ready queue with a
// request in flight, progress on an unready queue).
Result<VirtioState> decode_virtio_state(std::span<const uint8_t> bytes);
// The checksum over `body` (tests use it to forge otherwise well-formed hostile input).
uint64_t virtio_state_checksum(std::span<const uint8_t> body);

// The format-level rules decode applies, for a state built in memory (capture, tests). EINVAL + reason.
Status check_virtio_state(const VirtioState& state);

}  // namespace sf::devices
