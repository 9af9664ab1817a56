// Memserver: the parent-side server of one snapshot's pages (DESIGN §1 "memserver", §4.4) and the
// sending half of mcdist. It answers page requests (page_wire.h) on a UDP socket from the frozen
// snapshot memfd: holes and all-zero pages as payload-free zero runs, data pages split into fragments
// that fit the configured datagram size. Replies go to the requester (unicast mode) or to the
// snapshot's multicast group, where every host keeps them; then lockstep detection (lockstep.h),
// flow control (flow_control.h) and the end game (retransmissions by unicast) apply. It records which
// pages clients ask for (working_set.h) and streams that set to each new client behind the replies
// (working_set_stream.h): REAP's working-set prefetch, within a snapshot and, seeded, across forks.
// A fork of a VM with a disk is served in a second address space (page_wire.h Space::disk): the
// frozen disk's 4 KiB blocks travel like pages — multicast, lockstep, flow control and their own end
// game — so clones on other hosts read the disk lazily (DESIGN §4.7).
// Boundary: owns a dup of the snapshot fd, a hold on the disk snapshot, the socket and one service
// thread; trusts no datagram
// (malformed, foreign, forged ones are dropped and counted by reason, never answered).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "../base/status.h"
#include "../base/thread.h"
#include "../base/unique_fd.h"
#include "../devices/blk_backend.h"
#include "../memory/snapshot_fd_source.h"
#include "flow_control.h"
#include "lockstep.h"
#include "loss_knob.h"
#include "memserver_stats.h"
#include "multicast.h"
#include "page_wire.h"
#include "send_backlog.h"
#include "udp.h"
#include "working_set.h"
#include "working_set_stream.h"

namespace sf::memserver {

// A datagram that crosses a 1500-byte Ethernet path: 1500 − 20 (IPv4) − 8 (UDP).
constexpr uint32_t kEthernetDatagram = 1472;

struct MemserverConfig {
  int snapshot_fd = -1;    // the frozen snapshot memfd (dup()ed)
  uint64_t ram_bytes = 0;  // pages served: [0, ram_bytes / 4096)
  uint64_t snapshot_id = 0;
  SnapshotKey key{};
  Endpoint bind = Endpoint::loopback(0);
  // UDP payload bytes per reply datagram (path MTU − 28); 0: from the MTU of the interface replies
  // leave by (multicast_interface, or the bind address in unicast mode unless that is the wildcard),
  // e.g. whole pages on jumbo frames.
  uint32_t max_datagram = kEthernetDatagram;
  uint32_t max_request_pages = 256;  // larger requests are malformed here (≤ kMaxRequestPages)

  // mcdist. (The struct defaults to unicast so existing callers keep their behaviour; sfld's
  // network_mode defaults to multicast.)
  NetworkMode mode = NetworkMode::unicast;
  Endpoint group{};                           // multicast: a 224.0.0.0/4 group; port 0 = the request port
  uint32_t multicast_interface = 0x7f000001;  // the local address multicast leaves by (IP_MULTICAST_IF)
  int multicast_ttl = 1;
  // Lockstep: a page multicast less than this long ago (or still queued) is not sent again for a
  // retry (keep it below the clients' first retry interval); 0: lockstep off. For a client's first
  // ask the longer second window applies: a host asking moments after the page went out has usually
  // just not read it yet; if it lost it, its retry (flagged) is served under the short window.
  std::chrono::microseconds lockstep_window{2000};
  std::chrono::microseconds lockstep_first_ask_window{20000};
  // End game: once this share of the snapshot's data pages has been multicast at least once,
  // requests for pages already multicast (retransmissions) are answered by unicast. > 1: never.
  double endgame_share = 0.9;
  FlowControlConfig flow{};
  uint32_t max_backlog_pages = 1u << 16;  // pages queued for sending at most; further requests are dropped
  double send_drop_for_test = 0.0;        // test-only: this fraction of reply datagrams is never sent

  // Working-set prefetch (REAP). The pages of every authentic request are recorded (working_set()).
  // When a client sends its first request, the server streams it the seed (pages an earlier fork's
  // clients used, e.g. that memserver's working_set(); pages past this snapshot or in its holes are
  // left out) and, with `reap`, the pages earlier clients of this snapshot asked for. Streams go behind
  // every request's replies, at the flow-control pace, to the group in multicast mode (once: lockstep,
  // and pages the group got since the client's first request are not sent again), by unicast to that
  // client otherwise or for pages the end game would retransmit. (The struct defaults to reap off so
  // existing callers keep their behaviour; the JS API defaults to on.)
  bool reap = false;
  std::vector<uint32_t> working_set_seed;
  uint32_t max_streams = 16;           // clients streamed to at once; a client arriving beyond faults on demand
  uint32_t max_stream_clients = 4096;  // client ids remembered (first requests recognised)

  // The fork's frozen disk (Snapshot::disk()), served as Space::disk in 4 KiB blocks (the last one
  // zero-padded when the size is not a multiple); held, and so kept open, while the server lives.
  // Null: no disk (disk requests are malformed). Its blocks are never recorded in the working set.
  std::shared_ptr<devices::BlockLayer> disk;
};

class Memserver {
 public:
  static Result<std::unique_ptr<Memserver>> create(const MemserverConfig& config);
  Memserver(const Memserver&) = delete;
  Memserver& operator=(const Memserver&) = delete;
  ~Memserver();  // stop()

  // Stops the service thread and closes the socket; clients then time out. Idempotent.
  void stop();
  // Where clients send requests (the bound address and port).
  Endpoint endpoint() const { return endpoint_; }
  NetworkMode mode() const { return mode_; }
  // Multicast mode: the group and port replies go to (the port filled in); unicast: {}.
  Endpoint group() const { return group_; }
  // The UDP payload bytes of the largest reply datagram.
  uint32_t max_datagram() const { return static_cast<uint32_t>(slot_bytes_); }
  uint64_t snapshot_id() const { return snapshot_id_; }
  // The disk's 4 KiB blocks served (0: none).
  uint64_t disk_blocks() const { return disk_blocks_; }
  MemserverStats stats() const;
  // The working set so far (seeded ∪ recorded), sorted page numbers; any thread.
  std::vector<uint32_t> working_set() const { return working_set_.list(); }

  // Test hook: while stalled, requests are read but not answered (a server that hangs). stop() still
  // returns promptly.
  void set_stall_for_test(bool stalled) { stalled_.store(stalled, std::memory_order_release); }

 private:
  using Clock = std::chrono::steady_clock;
  Memserver(const MemserverConfig& config, std::shared_ptr<memory::SnapshotFdSource> source, UniqueFd sock,
            UniqueFd wake, Endpoint endpoint, Endpoint group, uint32_t max_datagram, uint64_t data_pages);
  void run();
  // Checks one authentic, in-range request against the send history and queues what must go out.
  void admit(const PageRequest& req, const sockaddr_in& from);
  // Sends queued pages until a batch is out, the queue is empty, or the pace says wait; returns how
  // long to wait before sending more (zero: nothing is waiting on the pace).
  Clock::duration pump();
  // A client's request arrived: the first one of a client starts its working-set stream; every one
  // is recorded (and left out of that client's stream).
  void note_request(const PageRequest& req, const sockaddr_in& from, Clock::time_point now);
  // With nothing else queued: queues the next run of a working-set stream (deciding per page like
  // admit() does for a bulk request). False when no stream has more.
  bool queue_stream(uint64_t* examined);
  // Unit `n` of `space` for sending: *data its 4 KiB, or null for a hole. False: the read failed.
  bool read_unit(Space space, uint64_t n, const uint8_t** data);
  LockstepTracker& lockstep(Space space) { return space == Space::disk ? disk_lockstep_ : lockstep_; }
  // Encodes one reply datagram into the next arena slot; sends the batch when the arena is full.
  void queue(const PageFragment& frag, const SendJob& job);
  // Sends every queued datagram (sendmmsg).
  void flush();
  void publish_stats();

  const uint64_t snapshot_id_;
  const SnapshotKey key_;
  const uint64_t pages_;
  const uint32_t payload_;  // data bytes per fragment
  const uint32_t max_request_pages_;
  const size_t slot_bytes_;  // arena bytes per queued datagram
  const NetworkMode mode_;
  const Endpoint group_;
  const sockaddr_in group_sa_;
  const double endgame_share_;
  std::shared_ptr<memory::SnapshotFdSource> source_;  // reads pages, knows the holes
  const std::shared_ptr<devices::BlockLayer> disk_;   // reads disk blocks (null: no disk)
  const uint64_t disk_blocks_;
  UniqueFd sock_;
  UniqueFd wake_;
  const Endpoint endpoint_;

  // Service-thread-only state: a read buffer for one page, an arena of outgoing datagrams, the
  // queue of pages to send, the send history, the pacer and the sender's loss knob.
  std::unique_ptr<uint8_t[]> pagebuf_;
  std::unique_ptr<uint8_t[]> arena_;
  size_t queued_ = 0;
  static constexpr size_t kSendBatch = 64;  // datagrams per sendmmsg
  std::array<size_t, kSendBatch> lens_{};   // byte length of each queued datagram
  std::array<sockaddr_in, kSendBatch> dests_{};
  std::array<bool, kSendBatch> to_group_{};
  std::array<bool, kSendBatch> for_disk_{};
  SendBacklog backlog_;
  LockstepTracker lockstep_;       // memory pages
  LockstepTracker disk_lockstep_;  // disk blocks: every block counts as data for their end game
  FlowControl flow_;
  LossKnob send_loss_;
  std::array<bool, kSpaceCount> endgame_{};  // per space: each has its own share multicast
  WorkingSet working_set_;                   // written here, read by working_set() from any thread
  WorkingSetStreams streams_;
  const bool reap_;

  MemserverCounters counters_;
  std::atomic<bool> endgame_flag_{false};
  std::atomic<bool> disk_endgame_flag_{false};
  const uint64_t data_pages_;
  std::array<std::atomic<uint64_t>, kWireErrorCount> dropped_{};
  std::atomic<bool> stalled_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  Thread thread_;
};

}  // namespace sf::memserver
