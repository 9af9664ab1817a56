// VirtioMmio: register decoding, the status handshake, feature negotiation, queue setup, fork state.
// Boundary: see virtio_mmio.h. A guest that breaks the protocol gets its access ignored and counted
// (or DEVICE_NEEDS_RESET for a broken queue), never an error that stops the VM.
#include "virtio_mmio.h"

#include <cstring>
#include <string>
#include <utility>

namespace sf::devices {

namespace {

// Vendor id the driver reads: "SNFL" (any value is valid; Linux only prints it).
constexpr uint32_t kVendorId = 0x4c464e53;
// Transport feature bits (24..40) this transport implements; the rest of that range is never offered.
constexpr uint64_t kTransportRange = ((1ull << 41) - 1) & ~((1ull << 24) - 1);
constexpr uint64_t kTransportSupported = kFeatureIndirectDesc | kFeatureVersion1;
constexpr uint32_t kHandshakeBits = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk;

uint64_t load_le(std::span<const uint8_t> data) {
  uint64_t v = 0;
  for (size_t i = 0; i < data.size() && i < 8; ++i) v |= uint64_t{data[i]} << (8 * i);
  return v;
}

void store_le(std::span<uint8_t> data, uint64_t v) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = i < 8 ? static_cast<uint8_t>(v >> (8 * i)) : 0;
}

void set_half(uint64_t& v, bool high, uint32_t half) {
  v = high ? (v & 0xffffffffull) | (uint64_t{half} << 32) : (v & ~0xffffffffull) | half;
}

}  // namespace

Result<std::unique_ptr<VirtioMmio>> VirtioMmio::create(memory::GuestMemory& memory,
                                                       std::unique_ptr<VirtioDevice> device) {
  if (!device) return Status::Error(EINVAL, "virtio-mmio: no device");
  if (device->device_id() == 0) return Status::Error(EINVAL, "virtio-mmio: device id 0 means no device");
  const uint16_t n = device->num_queues();
  if (n == 0 || n > kMaxQueues) {
    return Status::Error(
        EINVAL, "virtio-mmio: a device needs 1.." + std::to_string(kMaxQueues) + " queues, not " + std::to_string(n));
  }
  for (uint16_t i = 0; i < n; ++i) {
    const uint16_t max = device->max_queue_size(i);
    if (max == 0 || (max & (max - 1)) != 0 || max > kMaxQueueSize) {
      return Status::Error(EINVAL, "virtio-mmio: queue " + std::to_string(i) + "'s maximum size " +
                                       std::to_string(max) + " is not a power of two up to " +
                                       std::to_string(kMaxQueueSize));
    }
  }
  if (device->config_bytes() > kMmioWindowBytes - kMmioConfig) {
    return Status::Error(EINVAL, "virtio-mmio: configuration space larger than the window");
  }
  return std::unique_ptr<VirtioMmio>(new VirtioMmio(memory, std::move(device)));
}

VirtioMmio::VirtioMmio(memory::GuestMemory& memory, std::unique_ptr<VirtioDevice> device)
    : memory_(memory), device_(std::move(device)) {
  const uint64_t wanted = device_->device_features();
  offered_ = (wanted & ~kTransportRange) | (wanted & kTransportSupported) | kFeatureVersion1;
  const uint16_t n = device_->num_queues();
  setup_.resize(n);
  for (uint16_t i = 0; i < n; ++i) {
    queues_.push_back(std::make_unique<Virtqueue>(memory_, device_->max_queue_size(i), counters_));
    // QueueNum starts at the maximum, so a driver that never writes it still gets a valid size.
    setup_[i].num = device_->max_queue_size(i);
  }
}

VirtioMmio::~VirtioMmio() {
  std::lock_guard lock(mu_);
  device_->reset();
}

// ---- accesses ----

void VirtioMmio::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  const size_t w = data.size();
  if (offset >= kMmioConfig && offset < kMmioWindowBytes) {
    const uint64_t at = offset - kMmioConfig;
    if ((w == 1 || w == 2 || w == 4) && offset % w == 0 && at + w <= device_->config_bytes()) {
      device_->read_config(static_cast<uint32_t>(at), data);
      return;
    }
  } else if (offset < kMmioConfig && w == 4 && offset % 4 == 0) {
    store_le(data, read_register(static_cast<uint32_t>(offset)));
    return;
  }
  refuse();
  store_le(data, 0);
}

void VirtioMmio::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  const size_t w = data.size();
  if (offset >= kMmioConfig && offset < kMmioWindowBytes) {
    const uint64_t at = offset - kMmioConfig;
    if ((w == 1 || w == 2 || w == 4) && offset % w == 0 && at + w <= device_->config_bytes()) {
      device_->write_config(static_cast<uint32_t>(at), data);
      return;
    }
  } else if (offset < kMmioConfig && w == 4 && offset % 4 == 0) {
    write_register(static_cast<uint32_t>(offset), static_cast<uint32_t>(load_le(data)));
    return;
  }
  refuse();
}

uint32_t VirtioMmio::read_register(uint32_t offset) {
  const bool queue_exists = queue_sel_ < setup_.size();
  switch (offset) {
    case kMmioMagicValue: return kMmioMagic;
    case kMmioVersion: return kMmioVersion2;
    case kMmioDeviceId: return device_->device_id();
    case kMmioVendorId: return kVendorId;
    case kMmioDeviceFeatures:
      if (device_features_sel_ > 1) return 0;
      return static_cast<uint32_t>(offered_ >> (32 * device_features_sel_));
    case kMmioQueueNumMax: return queue_exists ? queues_[queue_sel_]->max_size() : 0;
    case kMmioQueueReady: return queue_exists && queues_[queue_sel_]->ready() ? 1 : 0;
    case kMmioInterruptStatus: return interrupt_status_.load(std::memory_order_acquire);
    case kMmioStatus: {
      // A queue the guest broke shows here even if the device has not said so yet.
      uint32_t s = status_.load(std::memory_order_acquire);
      for (const auto& q : queues_) {
        if (q->broken()) s |= kStatusNeedsReset;
      }
      return s;
    }
    case kMmioConfigGeneration: return config_generation_.load(std::memory_order_acquire);
    // No shared memory regions: their length reads as all ones (spec §4.2.2, "region does not exist").
    case kMmioShmLenLow:
    case kMmioShmLenHigh: return 0xffffffffu;
    case kMmioShmBaseLow:
    case kMmioShmBaseHigh: return 0xffffffffu;
    default:
      // Write-only registers and holes: the driver must not read them.
      refuse();
      return 0;
  }
}

void VirtioMmio::write_register(uint32_t offset, uint32_t value) {
  switch (offset) {
    case kMmioDeviceFeaturesSel: device_features_sel_ = value; return;
    case kMmioDriverFeaturesSel: driver_features_sel_ = value; return;
    case kMmioDriverFeatures:
      // Only between DRIVER and FEATURES_OK: afterwards the features are settled (spec §3.1.1).
      if (!has(kStatusDriver) || has(kStatusFeaturesOk) || (driver_features_sel_ > 1 && value != 0)) {
        refuse();
        return;
      }
      if (driver_features_sel_ <= 1) set_half(driver_features_, driver_features_sel_ == 1, value);
      return;
    case kMmioQueueSel: queue_sel_ = value; return;
    case kMmioQueueNum:
      if (QueueSetup* q = settable_queue(); q != nullptr && value <= kMaxQueueSize) {
        q->num = static_cast<uint16_t>(value);
      } else {
        refuse();
      }
      return;
    case kMmioQueueDescLow:
    case kMmioQueueDescHigh:
    case kMmioQueueDriverLow:
    case kMmioQueueDriverHigh:
    case kMmioQueueDeviceLow:
    case kMmioQueueDeviceHigh: {
      QueueSetup* q = settable_queue();
      if (q == nullptr) {
        refuse();
        return;
      }
      uint64_t& addr = offset < kMmioQueueDriverLow ? q->desc : offset < kMmioQueueDeviceLow ? q->driver : q->device;
      set_half(addr, (offset & 4) != 0, value);
      return;
    }
    case kMmioQueueReady: write_queue_ready(value); return;
    case kMmioQueueNotify: write_queue_notify(value); return;
    case kMmioInterruptAck: interrupt_status_.fetch_and(~value, std::memory_order_acq_rel); return;
    case kMmioStatus: write_status(value); return;
    case kMmioShmSel: return;   // selects among no regions
    default: refuse(); return;  // read-only registers and holes
  }
}

VirtioMmio::QueueSetup* VirtioMmio::settable_queue() {
  if (queue_sel_ >= setup_.size() || !has(kStatusFeaturesOk) || queues_[queue_sel_]->ready()) return nullptr;
  return &setup_[queue_sel_];
}

void VirtioMmio::write_status(uint32_t value) {
  if (value == 0) {
    counters_.resets.fetch_add(1, std::memory_order_relaxed);
    reset_locked();
    return;
  }
  // NEEDS_RESET is the device's bit: a driver writing back what it read may include it; only a reset
  // clears it.
  value &= ~kStatusNeedsReset;
  const uint32_t current = status_.load(std::memory_order_acquire);
  if ((value & ~kStatusKnownBits) != 0 || (current & kHandshakeBits & ~value) != 0) {
    refuse();  // unknown bits, or clearing a bit (only a reset may)
    return;
  }
  uint32_t next = current;
  const auto adds = [&](uint32_t bit) { return (value & bit) != 0 && (current & bit) == 0; };
  bool refused = false;
  if (adds(kStatusAcknowledge)) next |= kStatusAcknowledge;
  if (adds(kStatusDriver)) {
    if ((next & kStatusAcknowledge) != 0) next |= kStatusDriver;
    else refused = true;
  }
  if (adds(kStatusFeaturesOk)) {
    // The offer must contain what the driver took, VERSION_1 among it (this is a modern-only device),
    // and the device must agree. A refusal leaves FEATURES_OK clear: the driver reads it back and fails.
    const bool acceptable = (next & kStatusDriver) != 0 && (driver_features_ & ~offered_) == 0 &&
                            (driver_features_ & kFeatureVersion1) != 0 && device_->accept_features(driver_features_);
    if (acceptable) {
      next |= kStatusFeaturesOk;
      negotiated_.store(driver_features_, std::memory_order_release);
    } else {
      refused = true;
    }
  }
  bool activate = false;
  if (adds(kStatusDriverOk)) {
    if ((next & kStatusFeaturesOk) != 0) {
      next |= kStatusDriverOk;
      activate = true;
    } else {
      refused = true;
    }
  }
  if (adds(kStatusFailed)) next |= kStatusFailed;
  if (refused) refuse();
  status_.fetch_or(next, std::memory_order_acq_rel);
  if (activate) device_->activate(*this);
}

void VirtioMmio::write_queue_ready(uint32_t value) {
  if (queue_sel_ >= setup_.size() || value > 1) {
    refuse();
    return;
  }
  Virtqueue& q = *queues_[queue_sel_];
  if (value == 0) {
    // Taking one queue away under a running device needs VIRTIO_F_RING_RESET, which is not offered.
    // On an unready queue it is a no-op: Linux writes 0 to every queue after a reset when it tears
    // its driver down.
    if (q.ready() && has(kStatusDriverOk)) refuse();
    else q.reset();
    return;
  }
  if (!has(kStatusFeaturesOk)) {
    refuse();
    return;
  }
  if (q.ready()) return;
  const QueueSetup& s = setup_[queue_sel_];
  const QueueLayout layout{s.num, s.desc, s.driver, s.device};
  if (Status st = q.enable(layout, (negotiated_.load(std::memory_order_acquire) & kFeatureIndirectDesc) != 0);
      !st.ok()) {
    // The queue stays unready (QueueReady reads 0) and the device says it needs a reset.
    counters_.queue_errors.fetch_add(1, std::memory_order_relaxed);
    needs_reset();
  }
}

void VirtioMmio::write_queue_notify(uint32_t value) {
  if (value >= setup_.size() || !has(kStatusDriverOk) || !queues_[value]->ready()) {
    refuse();
    return;
  }
  counters_.notifies.fetch_add(1, std::memory_order_relaxed);
  device_->queue_notify(static_cast<uint16_t>(value));
}

void VirtioMmio::reset_locked() {
  device_->reset();  // first: no device thread may use a queue we are about to clear
  for (auto& q : queues_) q->reset();
  for (size_t i = 0; i < setup_.size(); ++i) setup_[i] = QueueSetup{queues_[i]->max_size(), 0, 0, 0};
  driver_features_ = 0;
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  negotiated_.store(0, std::memory_order_release);
  interrupt_status_.store(0, std::memory_order_release);
  status_.store(0, std::memory_order_release);
  // ConfigGeneration keeps counting: a driver comparing it across a reset must still see a change.
}

// ---- device side ----

void VirtioMmio::interrupt(uint32_t bit) {
  interrupt_status_.fetch_or(bit, std::memory_order_acq_rel);
  if (raise_) raise_();
}

void VirtioMmio::used_buffers(uint16_t index) {
  if (index < queues_.size() && queues_[index]->interrupt_wanted()) interrupt(kInterruptUsedBuffer);
}

void VirtioMmio::config_changed() {
  config_generation_.fetch_add(1, std::memory_order_acq_rel);
  interrupt(kInterruptConfigChange);
}

void VirtioMmio::needs_reset() {
  // Only a driver that got as far as DRIVER_OK is told through an interrupt (spec §2.1.2).
  const uint32_t before = status_.fetch_or(kStatusNeedsReset, std::memory_order_acq_rel);
  if ((before & kStatusDriverOk) != 0 && (before & kStatusNeedsReset) == 0) interrupt(kInterruptConfigChange);
}

// ---- fork ----

Status VirtioMmio::quiesce(std::chrono::milliseconds limit) {
  std::lock_guard lock(mu_);
  if (!device_->quiesce(limit)) {
    return Status::Error(ETIMEDOUT, "virtio device " + std::to_string(device_->device_id()) +
                                        " still had requests in flight after " + std::to_string(limit.count()) +
                                        " ms (its backend may be stuck)");
  }
  for (size_t i = 0; i < queues_.size(); ++i) {
    if (queues_[i]->in_flight() != 0) {
      return Status::Error(EBUSY, "virtio device " + std::to_string(device_->device_id()) + " quiesced with " +
                                      std::to_string(queues_[i]->in_flight()) + " requests in flight on queue " +
                                      std::to_string(i) + " (a device bug)");
    }
  }
  return Status::Ok();
}

void VirtioMmio::resume() {
  std::lock_guard lock(mu_);
  device_->resume();
}

Result<VirtioState> VirtioMmio::capture() const {
  std::lock_guard lock(mu_);
  VirtioState s;
  s.device_id = device_->device_id();
  s.status = status_.load(std::memory_order_acquire);
  s.device_features = offered_;
  s.driver_features = driver_features_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.queue_sel = queue_sel_;
  s.interrupt_status = interrupt_status_.load(std::memory_order_acquire);
  s.config_generation = config_generation_.load(std::memory_order_acquire);
  for (size_t i = 0; i < queues_.size(); ++i) {
    const Virtqueue& q = *queues_[i];
    if (q.in_flight() != 0) {
      return Status::Error(EBUSY, "virtio queue " + std::to_string(i) + " has " + std::to_string(q.in_flight()) +
                                      " requests in flight: quiesce the device before capturing it");
    }
    QueueRegisters r;
    r.ready = q.ready();
    if (r.ready) {
      // The live layout, not setup_: what the queue runs with is what the clone must run with.
      r.num = q.layout().size;
      r.desc = q.layout().desc;
      r.driver = q.layout().avail;
      r.device = q.layout().used;
      r.indices = q.indices();
    } else {
      r.num = setup_[i].num;
      r.desc = setup_[i].desc;
      r.driver = setup_[i].driver;
      r.device = setup_[i].device;
    }
    s.queues.push_back(r);
  }
  s.device = device_->capture_state();
  if (Status st = check_virtio_state(s); !st.ok()) return st;
  return s;
}

Status VirtioMmio::restore(const VirtioState& s) {
  std::lock_guard lock(mu_);
  if (status_.load(std::memory_order_acquire) != 0 || driver_features_ != 0) {
    return Status::Error(EBUSY, "virtio-mmio: restore needs a fresh transport (this one's driver already started)");
  }
  if (Status st = check_virtio_state(s); !st.ok()) return st;
  const std::string what = "virtio state does not fit this device: ";
  if (s.device_id != device_->device_id()) {
    return Status::Error(EINVAL, what + "device id " + std::to_string(s.device_id) + ", this device is " +
                                     std::to_string(device_->device_id()));
  }
  if (s.queues.size() != queues_.size()) {
    return Status::Error(
        EINVAL, what + std::to_string(s.queues.size()) + " queues, this device has " + std::to_string(queues_.size()));
  }
  if (s.device_features != offered_) return Status::Error(EINVAL, what + "the parent's device offered other features");
  const bool indirect = (s.driver_features & kFeatureIndirectDesc) != 0;
  for (size_t i = 0; i < s.queues.size(); ++i) {
    const QueueRegisters& r = s.queues[i];
    setup_[i] = QueueSetup{r.num, r.desc, r.driver, r.device};
    if (!r.ready) continue;
    if (Status st = queues_[i]->restore({r.num, r.desc, r.driver, r.device}, indirect, r.indices); !st.ok()) {
      reset_locked();
      return Status::Error(st.code, "virtio queue " + std::to_string(i) + ": " + st.message);
    }
  }
  if (Status st = device_->restore_state(s.device); !st.ok()) {
    reset_locked();
    return st;
  }
  driver_features_ = s.driver_features;
  device_features_sel_ = s.device_features_sel;
  driver_features_sel_ = s.driver_features_sel;
  queue_sel_ = s.queue_sel;
  if ((s.status & kStatusFeaturesOk) != 0) negotiated_.store(s.driver_features, std::memory_order_release);
  interrupt_status_.store(s.interrupt_status, std::memory_order_release);
  config_generation_.store(s.config_generation, std::memory_order_release);
  status_.store(s.status, std::memory_order_release);
  if ((s.status & kStatusDriverOk) != 0) device_->activate(*this);
  return Status::Ok();
}

VirtioStats VirtioMmio::stats() const {
  VirtioStats s;
  add_counters(counters_, s);
  return s;
}

}  // namespace sf::devices
