// Memserver: the parent-side server of one snapshot's pages (DESIGN §1 "memserver", §4.4) and the
// sending half of mcdist. It answers page requests (page_wire.h) on a UDP socket from the frozen
// snapshot memfd: holes and all-zero pages as payload-free zero runs, data pages split into fragments
// that fit the configured datagram size. Replies go to the requester (unicast mode) or to the
// snapshot's multicast group, where every host keeps them; then lockstep detection (lockstep.h),
// flow control (flow_control.h) and the end game (retransmissions by unicast) apply. It records which
// pages clients ask for (working_set.h) and streams that set to each new client behind the replies
// (working_set_stream.h): REAP's working-set prefetch, within a snapshot and, seeded, across forks.
// Boundary: owns a dup of the snapshot fd, the socket and one service thread; trusts no datagram
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

#include "../unique_fd.h"
#include "../vmm/memtap.h"
#include "../vmm/status.h"
#include "../vmm/thread.h"
#include "flow_control.h"
#include "lockstep.h"
#include "loss_knob.h"
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
  int snapshot_fd = -1;        // the frozen snapshot memfd (dup()ed)
  uint64_t ram_bytes = 0;      // pages served: [0, ram_bytes / 4096)
  uint64_t snapshot_id = 0;
  SnapshotKey key{};
  Endpoint bind = Endpoint::loopback(0);
  // UDP payload bytes per reply datagram (path MTU − 28); 0: from the MTU of the interface replies
  // leave by (multicast_interface, or the bind address in unicast mode unless that is the wildcard),
  // e.g. whole pages on jumbo frames.
  uint32_t max_datagram = kEthernetDatagram;
  uint32_t max_request_pages = 256;           // larger requests are malformed here (≤ kMaxRequestPages)

  // mcdist. (The struct defaults to unicast so existing callers keep their behaviour; sfld's
  // network_mode defaults to multicast.)
  NetworkMode mode = NetworkMode::unicast;
  Endpoint group{};                            // multicast: a 224.0.0.0/4 group; port 0 = the request port
  uint32_t multicast_interface = 0x7f000001;   // the local address multicast leaves by (IP_MULTICAST_IF)
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
  uint32_t max_backlog_pages = 1u << 16;       // pages queued for sending at most; further requests are dropped
  double send_drop_for_test = 0.0;             // test-only: this fraction of reply datagrams is never sent

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
  uint32_t max_streams = 16;          // clients streamed to at once; a client arriving beyond faults on demand
  uint32_t max_stream_clients = 4096; // client ids remembered (first requests recognised)
};

struct MemserverStats {
  uint64_t requests = 0;        // authentic requests answered (or found already on their way: lockstep)
  uint64_t pages_served = 0;    // pages sent (data + zero)
  uint64_t zero_pages = 0;      // of which answered as zero (snapshot hole or all-zero page)
  uint64_t datagrams_sent = 0;
  uint64_t bytes_sent = 0;      // UDP payload bytes
  uint64_t send_errors = 0;     // datagrams the kernel refused (buffer full, unreachable): the client retries
  uint64_t out_of_range = 0;    // authentic requests for pages past the snapshot: dropped
  std::array<uint64_t, kWireErrorCount> dropped{};  // by WireError (index 0 unused)
  uint64_t dropped_total() const;

  // mcdist
  uint64_t multicast_datagrams = 0;    // of datagrams_sent: to the group
  uint64_t unicast_datagrams = 0;      // of datagrams_sent: to one requester
  uint64_t lockstep_suppressed = 0;    // requested pages not sent: multicast moments ago or already queued
  uint64_t queued_duplicates = 0;      // requested pages already queued by unicast for the same requester
  uint64_t endgame_unicast_pages = 0;  // retransmissions answered by unicast in the end game
  bool endgame = false;                // the end game has begun
  uint64_t data_pages = 0;             // the snapshot's data (non-hole) pages
  uint64_t data_pages_multicast = 0;   // of which multicast at least once
  uint64_t rate_reports = 0;           // requests that carried a receive rate
  uint64_t client_rate = 0;            // weighted average of the reported rates, bytes/s
  uint64_t pace = 0;                   // the group's send pace, bytes/s (0: unpaced; always in unicast mode)
  uint64_t paced_waits = 0;            // times sending paused to keep the pace
  uint64_t backlog_pages = 0;          // pages queued for sending now
  uint64_t backlog_full = 0;           // requests dropped because the queue was full (clients retry)
  uint64_t test_send_drops = 0;        // datagrams the test-only loss knob did not send

  // working-set prefetch
  uint64_t working_set_pages = 0;      // pages in working_set(): seeded ∪ recorded
  uint64_t working_set_seeded = 0;     // of the seed, pages in range and holding data
  uint64_t working_set_recorded = 0;   // pages clients asked for
  uint64_t streams_started = 0;        // clients a stream began for
  uint64_t streams_refused = 0;        // new clients that got none (too many streams at once)
  uint64_t streams_active = 0;
  uint64_t streamed_pages = 0;         // pages sent by streams (data + zero)
  uint64_t streamed_datagrams = 0;
  uint64_t stream_skipped = 0;         // set pages a stream left out: its client asked itself, or the group had them
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
  NetworkMode mode() const { return mode_; }
  // Multicast mode: the group and port replies go to (the port filled in); unicast: {}.
  Endpoint group() const { return group_; }
  // The UDP payload bytes of the largest reply datagram.
  uint32_t max_datagram() const { return static_cast<uint32_t>(slot_bytes_); }
  uint64_t snapshot_id() const { return snapshot_id_; }
  MemserverStats stats() const;
  // The working set so far (seeded ∪ recorded), sorted page numbers; any thread.
  std::vector<uint32_t> working_set() const { return working_set_.list(); }

  // Test hook: while stalled, requests are read but not answered (a server that hangs). stop() still
  // returns promptly.
  void set_stall_for_test(bool stalled) { stalled_.store(stalled, std::memory_order_release); }

 private:
  using Clock = std::chrono::steady_clock;
  Memserver(const MemserverConfig& config, std::shared_ptr<vmm::SnapshotFdSource> source, snowflock::UniqueFd sock,
            snowflock::UniqueFd wake, Endpoint endpoint, Endpoint group, uint32_t max_datagram, uint64_t data_pages);
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
  // Encodes one reply datagram into the next arena slot; sends the batch when the arena is full.
  void queue(const PageFragment& frag, const SendJob& job);
  // Sends every queued datagram (sendmmsg).
  void flush();
  void publish_stats();

  const uint64_t snapshot_id_;
  const SnapshotKey key_;
  const uint64_t pages_;
  const uint32_t payload_;     // data bytes per fragment
  const uint32_t max_request_pages_;
  const size_t slot_bytes_;    // arena bytes per queued datagram
  const NetworkMode mode_;
  const Endpoint group_;
  const sockaddr_in group_sa_;
  const double endgame_share_;
  std::shared_ptr<vmm::SnapshotFdSource> source_;  // reads pages, knows the holes
  snowflock::UniqueFd sock_;
  snowflock::UniqueFd wake_;
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
  SendBacklog backlog_;
  LockstepTracker lockstep_;
  FlowControl flow_;
  LossKnob send_loss_;
  bool endgame_ = false;
  WorkingSet working_set_;          // written here, read by working_set() from any thread
  WorkingSetStreams streams_;
  const bool reap_;

  std::atomic<uint64_t> requests_{0}, pages_served_{0}, zero_pages_{0}, datagrams_{0}, bytes_{0}, send_errors_{0},
      out_of_range_{0};
  std::atomic<uint64_t> mc_datagrams_{0}, uc_datagrams_{0}, lockstep_suppressed_{0}, endgame_unicast_{0},
      data_multicast_{0}, rate_reports_{0}, client_rate_{0}, pace_{0}, paced_waits_{0}, backlog_pages_{0},
      backlog_full_{0}, test_send_drops_{0}, queued_duplicates_{0}, streams_started_{0}, streams_refused_{0},
      streams_active_{0}, streamed_pages_{0}, streamed_datagrams_{0}, stream_skipped_{0};
  std::atomic<bool> endgame_flag_{false};
  const uint64_t data_pages_;
  std::array<std::atomic<uint64_t>, kWireErrorCount> dropped_{};
  std::atomic<bool> stalled_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  vmm::Thread thread_;
};

}  // namespace sf::memserver
