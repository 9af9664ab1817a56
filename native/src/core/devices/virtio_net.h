// VirtioNet: the virtio-net device (device id 1): one rx and one tx queue, MAC and link status in its
// configuration space, no offloads, and a native NIC thread that moves frames between the queues and a
// NetBackend (a tap) and answers the guest's DHCP itself. No frame goes through JavaScript.
// Boundary: the device side of virtio-net; the transport is VirtioMmio's, the tap the backend's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "../base/thread.h"
#include "../base/unique_fd.h"
#include "net_backend.h"
#include "net_config.h"
#include "net_stats.h"
#include "virtio_device.h"

namespace sf::devices {

inline constexpr uint64_t kNetFeatureMac = 1ull << 5;
inline constexpr uint64_t kNetFeatureStatus = 1ull << 16;
inline constexpr uint16_t kNetStatusLinkUp = 1;
inline constexpr size_t kNetHeaderBytes = 12;      // virtio_net_hdr with num_buffers (VERSION_1)
inline constexpr size_t kNetMaxFrameBytes = 1514;  // Ethernet without FCS, MTU 1500
inline constexpr uint16_t kNetQueueSize = 256;
inline constexpr uint16_t kNetRxQueue = 0, kNetTxQueue = 1;

class VirtioNet final : public VirtioDevice {
 public:
  // Tuning of the NIC thread (tests shorten nothing; they are here to be named, not changed).
  static constexpr uint32_t kBudget = 64;  // frames per direction per wake-up
  // The longest the thread keeps looking at the tx ring and the tap after its last frame before it sleeps
  // (the window adapts between 0 and this: see run()).
  static constexpr std::chrono::microseconds kBusyPoll{50};
  // The longest the thread sleeps: drivers notify (tx always, rx when the device ran out of buffers), so
  // this only bounds what a driver that forgot a notify waits for.
  static constexpr std::chrono::microseconds kIdlePoll{250000};

  // Checks the configuration; the backend is the NIC's (a tap opened for config.tap).
  static Result<std::unique_ptr<VirtioNet>> create(const NetConfig& config, std::unique_ptr<NetBackend> backend);
  ~VirtioNet() override;

  uint32_t device_id() const override { return 1; }
  uint64_t device_features() const override { return kNetFeatureMac | kNetFeatureStatus; }
  uint16_t num_queues() const override { return 2; }
  uint16_t max_queue_size(uint16_t) const override { return kNetQueueSize; }
  uint32_t config_bytes() const override { return 8; }  // mac[6], status u16
  void read_config(uint32_t offset, std::span<uint8_t> out) const override;
  void activate(VirtioDeviceHost& host) override;
  void queue_notify(uint16_t index) override;
  int notify_fd(uint16_t index) const override { return index < 2 ? wake_.get() : -1; }
  void reset() override;
  bool quiesce(std::chrono::milliseconds limit) override;
  void resume() override;
  // A clone's NIC: the parent's device keeps no state of its own (the clone has its own MAC and tap), so
  // only an empty state is accepted; it marks the device as restored, and the activation that follows
  // reports a link change (ConfigGeneration + the configuration interrupt bit): the guest re-asks DHCP.
  Status restore_state(std::span<const uint8_t> state) override;

  NetStats stats() const;
  const NetConfig& config() const { return config_; }

 private:
  VirtioNet(const NetConfig& config, std::unique_ptr<NetBackend> backend, UniqueFd wake);
  void run();
  void wake();
  // Each returns whether it did anything.
  bool serve_tx();
  bool serve_rx();
  // Whether the guest has posted rx buffers the device has not taken (read from the ring, no pop).
  bool rx_buffers_posted() const;
  // Notification suppression on one queue (no-op while the queue is not usable).
  void set_notify(uint16_t index, bool wanted);
  // Puts `frame` into one rx chain; false when the guest has no buffer (the frame stays the caller's).
  enum class Delivery : uint8_t { kDelivered, kNoBuffer, kQueueBroken };
  Delivery deliver(std::span<const uint8_t> frame);

  const NetConfig config_;
  std::unique_ptr<NetBackend> backend_;
  UniqueFd wake_;  // eventfd: tx notifies, stop, quiesce
  mutable NetCounters counters_;

  VirtioDeviceHost* host_ = nullptr;  // set by activate, cleared by reset (NIC thread not running then)
  bool restored_ = false;             // restore_state ran: the next activate announces a link change
  Thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;       // under mu_
  bool quiescing_ = false;  // under mu_: the thread takes no chains
  bool parked_ = false;     // under mu_: the thread saw quiescing_ and holds no chain
  // Only the NIC thread touches these.
  std::deque<std::vector<uint8_t>> answers_;  // DHCP replies waiting for an rx buffer
  std::vector<uint8_t> frame_;                // one frame read from the backend and not yet delivered
  std::vector<uint8_t> buf_;
};

}  // namespace sf::devices
