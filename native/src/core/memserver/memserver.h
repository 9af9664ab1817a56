// Memserver: the parent-side server of one snapshot's pages (DESIGN §1 "memserver", §4.4). It answers
// page requests (page_wire.h) on a UDP socket from the frozen snapshot memfd: holes and all-zero pages
// as payload-free zero runs, data pages split into fragments that fit the configured datagram size.
// Replies go to the requester's address for now; mcdist will multicast them later.
// Boundary: owns a dup of the snapshot fd, the socket and one service thread; trusts no datagram
// (malformed, foreign, forged ones are dropped and counted by reason, never answered).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "../unique_fd.h"
#include "../vmm/memtap.h"
#include "../vmm/status.h"
#include "../vmm/thread.h"
#include "page_wire.h"
#include "udp.h"

namespace sf::memserver {

// A datagram that crosses a 1500-byte Ethernet path: 1500 − 20 (IPv4) − 8 (UDP).
constexpr uint32_t kEthernetDatagram = 1472;

struct MemserverConfig {
  int snapshot_fd = -1;        // the frozen snapshot memfd (dup()ed)
  uint64_t ram_bytes = 0;      // pages served: [0, ram_bytes / 4096)
  uint64_t snapshot_id = 0;
  SnapshotKey key{};
  Endpoint bind = Endpoint::loopback(0);
  uint32_t max_datagram = kEthernetDatagram;  // UDP payload bytes per reply datagram (path MTU − 28)
  uint32_t max_request_pages = 256;           // larger requests are malformed here (≤ kMaxRequestPages)
};

struct MemserverStats {
  uint64_t requests = 0;        // authentic requests answered
  uint64_t pages_served = 0;    // pages answered (data + zero)
  uint64_t zero_pages = 0;      // of which answered as zero (snapshot hole or all-zero page)
  uint64_t datagrams_sent = 0;
  uint64_t bytes_sent = 0;      // UDP payload bytes
  uint64_t send_errors = 0;     // datagrams the kernel refused (buffer full, unreachable): the client retries
  uint64_t out_of_range = 0;    // authentic requests for pages past the snapshot: dropped
  std::array<uint64_t, kWireErrorCount> dropped{};  // by WireError (index 0 unused)
  uint64_t dropped_total() const;
};

class Memserver {
 public:
  static vmm::Result<std::unique_ptr<Memserver>> create(const MemserverConfig& config);
  Memserver(const Memserver&) = delete;
  Memserver& operator=(const Memserver&) = delete;
  ~Memserver();  // stop()

  // Stops the service thread and closes the socket; clients then time out. Idempotent.
  void stop();
  // Where clients send requests (the bound address and port).
  Endpoint endpoint() const { return endpoint_; }
  uint64_t snapshot_id() const { return snapshot_id_; }
  MemserverStats stats() const;

  // Test hook: while stalled, requests are read but not answered (a server that hangs). stop() still
  // returns promptly.
  void set_stall_for_test(bool stalled) { stalled_.store(stalled, std::memory_order_release); }

 private:
  Memserver(const MemserverConfig& config, std::shared_ptr<vmm::SnapshotFdSource> source, snowflock::UniqueFd sock,
            snowflock::UniqueFd wake, Endpoint endpoint);
  void run();
  void answer(const PageRequest& req, const sockaddr_in& to);
  // Encodes one reply datagram into the next arena slot; sends the batch when the arena is full.
  void queue(const PageFragment& frag);
  // Sends every queued datagram to dest_ (sendmmsg).
  void flush();

  const uint64_t snapshot_id_;
  const SnapshotKey key_;
  const uint64_t pages_;
  const uint32_t payload_;     // data bytes per fragment
  const uint32_t max_request_pages_;
  const size_t slot_bytes_;    // arena bytes per queued datagram
  std::shared_ptr<vmm::SnapshotFdSource> source_;  // reads pages, knows the holes
  snowflock::UniqueFd sock_;
  snowflock::UniqueFd wake_;
  const Endpoint endpoint_;

  // Service-thread-only state: a read buffer for a request's pages and an arena of outgoing datagrams.
  std::unique_ptr<uint8_t[]> pagebuf_;
  std::unique_ptr<const uint8_t*[]> pageptr_;
  std::unique_ptr<uint8_t[]> arena_;
  size_t queued_ = 0;
  static constexpr size_t kSendBatch = 64;  // datagrams per sendmmsg
  std::array<size_t, kSendBatch> lens_{};   // byte length of each queued datagram
  sockaddr_in dest_{};

  std::atomic<uint64_t> requests_{0}, pages_served_{0}, zero_pages_{0}, datagrams_{0}, bytes_{0}, send_errors_{0},
      out_of_range_{0};
  std::array<std::atomic<uint64_t>, kWireErrorCount> dropped_{};
  std::atomic<bool> stalled_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  vmm::Thread thread_;
};

}  // namespace sf::memserver
