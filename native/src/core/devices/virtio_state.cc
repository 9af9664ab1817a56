// VirtioState's binary form: a fixed layout written and read field by field (little-endian), every
// read bounds-checked, then the semantic rules. Boundary: see virtio_state.h.
#include "virtio_state.h"

#include <string>

#include "virtio_spec.h"

namespace sf::devices {

namespace {

constexpr uint16_t kQueueReady = 1, kQueueBroken = 2;

class Writer {
 public:
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void bytes(std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
  void patch_u32(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  void patch_u64(size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  std::vector<uint8_t> out;

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
};

// Every getter checks the bytes are there; a failed read leaves `ok()` false for good.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  std::span<const uint8_t> bytes(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  bool ok() const { return ok_; }

 private:
  uint64_t le(size_t n) {
    auto b = bytes(n);
    uint64_t v = 0;
    for (size_t i = 0; i < b.size(); ++i) v |= uint64_t{b[i]} << (8 * i);
    return v;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Status bad(const std::string& what) { return Status::Error(EINVAL, "malformed virtio device state: " + what); }

bool power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

uint64_t virtio_state_checksum(std::span<const uint8_t> body) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : body) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

Status check_virtio_state(const VirtioState& s) {
  if (s.device_id == 0) return bad("device id 0 (no device)");
  if (s.queues.empty() || s.queues.size() > kMaxQueues) {
    return bad(std::to_string(s.queues.size()) + " queues (1.." + std::to_string(kMaxQueues) + " allowed)");
  }
  if (s.device.size() > kVirtioDeviceStateMax)
    return bad("device state over " + std::to_string(kVirtioDeviceStateMax) + " bytes");
  if ((s.status & ~kStatusKnownBits) != 0) return bad("unknown status bits " + std::to_string(s.status));
  // The handshake sets ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK in that order (spec §3.1.1).
  const auto has = [&](uint32_t bit) { return (s.status & bit) != 0; };
  if ((has(kStatusDriver) && !has(kStatusAcknowledge)) || (has(kStatusFeaturesOk) && !has(kStatusDriver)) ||
      (has(kStatusDriverOk) && !has(kStatusFeaturesOk))) {
    return bad("status " + std::to_string(s.status) + " skips a step of the driver handshake");
  }
  if ((s.device_features & kFeatureVersion1) == 0) return bad("the offer lacks VIRTIO_F_VERSION_1");
  if ((s.driver_features & ~s.device_features) != 0) return bad("the driver accepted features that were not offered");
  if (has(kStatusFeaturesOk) && (s.driver_features & kFeatureVersion1) == 0) {
    return bad("FEATURES_OK without VIRTIO_F_VERSION_1");
  }
  if ((s.interrupt_status & ~(kInterruptUsedBuffer | kInterruptConfigChange)) != 0) {
    return bad("unknown interrupt status bits");
  }
  for (size_t i = 0; i < s.queues.size(); ++i) {
    const QueueRegisters& q = s.queues[i];
    const std::string name = "queue " + std::to_string(i);
    if (q.num > kMaxQueueSize) return bad(name + " has size " + std::to_string(q.num));
    if (!q.ready) {
      if (q.indices != QueueIndices{}) return bad(name + " is not ready but has progress");
      continue;
    }
    if (!has(kStatusFeaturesOk)) return bad(name + " is ready before FEATURES_OK");
    if (!power_of_two(q.num)) return bad(name + " is ready with size " + std::to_string(q.num));
    if (q.desc % kDescAlign != 0 || q.driver % kAvailAlign != 0 || q.device % kUsedAlign != 0) {
      return bad(name + " has a misaligned ring");
    }
    // Captured quiesced: every chain taken was returned, so both indices moved together.
    if (q.indices.last_avail != q.indices.used) return bad(name + " has a request in flight");
  }
  return Status::Ok();
}

std::vector<uint8_t> encode_virtio_state(const VirtioState& s) {
  Writer w;
  w.u64(kVirtioStateMagic);
  w.u32(kVirtioStateVersion);
  w.u32(0);  // total, patched below
  w.u64(0);  // checksum, patched below
  w.u32(s.device_id);
  w.u32(s.status);
  w.u64(s.device_features);
  w.u64(s.driver_features);
  w.u32(s.device_features_sel);
  w.u32(s.driver_features_sel);
  w.u32(s.queue_sel);
  w.u32(s.interrupt_status);
  w.u32(s.config_generation);
  w.u16(static_cast<uint16_t>(s.queues.size()));
  w.u16(0);
  w.u32(static_cast<uint32_t>(s.device.size()));
  w.u32(0);
  for (const QueueRegisters& q : s.queues) {
    w.u16(q.num);
    w.u16(static_cast<uint16_t>((q.ready ? kQueueReady : 0) | (q.indices.broken ? kQueueBroken : 0)));
    w.u16(q.indices.last_avail);
    w.u16(q.indices.used);
    w.u64(q.desc);
    w.u64(q.driver);
    w.u64(q.device);
  }
  w.bytes(s.device);
  w.patch_u32(12, static_cast<uint32_t>(w.out.size()));
  w.patch_u64(16, virtio_state_checksum(std::span<const uint8_t>(w.out).subspan(kVirtioStateHeaderBytes)));
  return std::move(w.out);
}

Result<VirtioState> decode_virtio_state(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  const uint64_t magic = r.u64();
  const uint32_t version = r.u32();
  const uint32_t total = r.u32();
  const uint64_t sum = r.u64();
  if (!r.ok()) return bad("shorter than its header (" + std::to_string(bytes.size()) + " bytes)");
  if (magic != kVirtioStateMagic) return bad("wrong magic (not a Snowflock virtio state)");
  if (version != kVirtioStateVersion) {
    return bad("version " + std::to_string(version) + ", this build reads version " +
               std::to_string(kVirtioStateVersion));
  }
  if (total != bytes.size()) {
    return bad("says " + std::to_string(total) + " bytes but " + std::to_string(bytes.size()) + " were given");
  }
  if (virtio_state_checksum(bytes.subspan(kVirtioStateHeaderBytes)) != sum) return bad("checksum mismatch");

  VirtioState s;
  s.device_id = r.u32();
  s.status = r.u32();
  s.device_features = r.u64();
  s.driver_features = r.u64();
  s.device_features_sel = r.u32();
  s.driver_features_sel = r.u32();
  s.queue_sel = r.u32();
  s.interrupt_status = r.u32();
  s.config_generation = r.u32();
  const uint16_t queue_count = r.u16();
  const uint16_t reserved16 = r.u16();
  const uint32_t device_bytes = r.u32();
  const uint32_t reserved32 = r.u32();
  if (!r.ok()) return bad("shorter than its transport block");
  if (reserved16 != 0 || reserved32 != 0) return bad("reserved transport bits set");
  if (queue_count == 0 || queue_count > kMaxQueues || device_bytes > kVirtioDeviceStateMax) {
    return bad("queue count " + std::to_string(queue_count) + " or device state size " + std::to_string(device_bytes) +
               " out of range");
  }
  // Exact length first, so the loop below cannot run past the input.
  const uint64_t want = kVirtioStateHeaderBytes + kVirtioStateTransportBytes +
                        uint64_t{queue_count} * kVirtioStateQueueBytes + device_bytes;
  if (want != bytes.size()) return bad("length disagrees with its queue count and device state size");
  s.queues.resize(queue_count);
  for (QueueRegisters& q : s.queues) {
    q.num = r.u16();
    const uint16_t flags = r.u16();
    q.indices.last_avail = r.u16();
    q.indices.used = r.u16();
    q.desc = r.u64();
    q.driver = r.u64();
    q.device = r.u64();
    if ((flags & ~(kQueueReady | kQueueBroken)) != 0) return bad("unknown queue flags");
    if ((flags & kQueueBroken) != 0 && (flags & kQueueReady) == 0) return bad("a queue broken but not ready");
    q.ready = (flags & kQueueReady) != 0;
    q.indices.broken = (flags & kQueueBroken) != 0;
  }
  const auto device = r.bytes(device_bytes);
  if (!r.ok()) return bad("truncated");
  s.device.assign(device.begin(), device.end());
  if (Status st = check_virtio_state(s); !st.ok()) return st;
  return s;
}

}  // namespace sf::devices
