// The numbers of the virtio 1.x specification this room speaks: virtio-mmio v2 registers, device status
// bits, transport feature bits and split-ring layout. Boundary: constants only, our own names.
#pragma once

#include <cstdint>

namespace sf::devices {

// ---- virtio-mmio v2 register offsets (spec 4.2.2), all 32 bits wide ----
inline constexpr uint32_t kMmioMagicValue = 0x000;  // R: 'virt'
inline constexpr uint32_t kMmioVersion = 0x004;     // R: 2 (modern; 1 was the legacy layout)
inline constexpr uint32_t kMmioDeviceId = 0x008;
inline constexpr uint32_t kMmioVendorId = 0x00c;
inline constexpr uint32_t kMmioDeviceFeatures = 0x010;     // R: 32 bits of the offer, chosen by ...Sel
inline constexpr uint32_t kMmioDeviceFeaturesSel = 0x014;  // W
inline constexpr uint32_t kMmioDriverFeatures = 0x020;     // W: 32 bits of the acceptance, chosen by ...Sel
inline constexpr uint32_t kMmioDriverFeaturesSel = 0x024;  // W
inline constexpr uint32_t kMmioQueueSel = 0x030;           // W
inline constexpr uint32_t kMmioQueueNumMax = 0x034;        // R
inline constexpr uint32_t kMmioQueueNum = 0x038;           // W
inline constexpr uint32_t kMmioQueueReady = 0x044;         // RW
inline constexpr uint32_t kMmioQueueNotify = 0x050;        // W: the queue index
inline constexpr uint32_t kMmioInterruptStatus = 0x060;    // R
inline constexpr uint32_t kMmioInterruptAck = 0x064;       // W
inline constexpr uint32_t kMmioStatus = 0x070;             // RW
inline constexpr uint32_t kMmioQueueDescLow = 0x080;       // W (each address: low then high half)
inline constexpr uint32_t kMmioQueueDescHigh = 0x084;
inline constexpr uint32_t kMmioQueueDriverLow = 0x090;  // the available ring
inline constexpr uint32_t kMmioQueueDriverHigh = 0x094;
inline constexpr uint32_t kMmioQueueDeviceLow = 0x0a0;  // the used ring
inline constexpr uint32_t kMmioQueueDeviceHigh = 0x0a4;
inline constexpr uint32_t kMmioShmSel = 0x0ac;  // shared memory regions (1.2): we have none
inline constexpr uint32_t kMmioShmLenLow = 0x0b0;
inline constexpr uint32_t kMmioShmLenHigh = 0x0b4;
inline constexpr uint32_t kMmioShmBaseLow = 0x0b8;
inline constexpr uint32_t kMmioShmBaseHigh = 0x0bc;
inline constexpr uint32_t kMmioConfigGeneration = 0x0fc;  // R
inline constexpr uint32_t kMmioConfig = 0x100;            // device-specific configuration space

inline constexpr uint32_t kMmioMagic = 0x74726976;  // "virt" read as a little-endian word
inline constexpr uint32_t kMmioVersion2 = 2;
inline constexpr uint64_t kMmioWindowBytes = 0x1000;  // one page per device window

// InterruptStatus / InterruptACK bits.
inline constexpr uint32_t kInterruptUsedBuffer = 1u << 0;
inline constexpr uint32_t kInterruptConfigChange = 1u << 1;

// ---- device status (spec 2.1) ----
inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 0x40;
inline constexpr uint32_t kStatusFailed = 0x80;
inline constexpr uint32_t kStatusKnownBits =
    kStatusAcknowledge | kStatusDriver | kStatusDriverOk | kStatusFeaturesOk | kStatusNeedsReset | kStatusFailed;

// ---- transport feature bits (spec 6) ----
inline constexpr uint64_t kFeatureIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFeatureEventIdx = 1ull << 29;
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;
inline constexpr uint64_t kFeatureAccessPlatform = 1ull << 33;
inline constexpr uint64_t kFeatureRingPacked = 1ull << 34;

// ---- device ids (spec 5) ----
inline constexpr uint32_t kDeviceIdNet = 1;
inline constexpr uint32_t kDeviceIdBlock = 2;

// ---- split virtqueue (spec 2.7) ----
inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;
inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr uint16_t kUsedFlagNoNotify = 1;

inline constexpr uint64_t kDescBytes = 16;     // {addr u64, len u32, flags u16, next u16}
inline constexpr uint64_t kUsedElemBytes = 8;  // {id u32, len u32}
inline constexpr uint64_t kDescAlign = 16;     // alignment of the descriptor table
inline constexpr uint64_t kAvailAlign = 2;     // of the available ring
inline constexpr uint64_t kUsedAlign = 4;      // of the used ring
// Ring sizes for a queue of n entries, including the trailing event word EVENT_IDX would use: a driver
// lays it out whether or not the feature is negotiated, and a ring must fit in RAM either way.
inline constexpr uint64_t desc_table_bytes(uint64_t n) { return kDescBytes * n; }
inline constexpr uint64_t avail_ring_bytes(uint64_t n) { return 6 + 2 * n; }
inline constexpr uint64_t used_ring_bytes(uint64_t n) { return 6 + kUsedElemBytes * n; }

// The largest queue any device here offers: bounds every chain walk and the per-walk bitmaps.
inline constexpr uint16_t kMaxQueueSize = 1024;
// The most queues one device may have (a multi-queue NIC is far below this).
inline constexpr uint16_t kMaxQueues = 16;

}  // namespace sf::devices
