// RemotePageSource: a memtap page source that fetches from a Memserver over UDP (page_wire.h) into the
// host-local Mirror (mirror.h); the receiving half of mcdist. Pages the mirror already holds cost no
// request; every valid page that arrives for the snapshot is kept there, whichever clone (or, through
// the snapshot's multicast group, whichever host) asked. Requests carry this receiver's measured rate
// (flow control) and are retried with backoff; they give up with ETIMEDOUT when the server has answered
// nothing for a liveness window (or, however lively it is, a page never came for a hard bound), so a
// fault outlives a server's pause but never waits forever. For a snapshot with a disk it also fetches disk blocks
// (page_wire.h Space::disk) into a second, disk-sized mirror, through the same sockets, group and
// retries (fetch_disk): the block source of remote clones' disks (disk_fetcher.h).
// Boundary: owns the client socket, the group socket and their receive thread, shares the mirror;
// installs only datagrams whose length, snapshot id and MAC check out (others are counted by reason).
// Knows nothing of uffd.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "../base/status.h"
#include "../base/thread.h"
#include "../base/unique_fd.h"
#include "../memory/page_source.h"
#include "loss_knob.h"
#include "mirror.h"
#include "page_wire.h"
#include "rate_meter.h"
#include "remote_source_stats.h"
#include "udp.h"

namespace sf::memserver {

struct RemoteSourceConfig {
  Endpoint server;                        // the memserver's request address
  Endpoint bind = Endpoint::loopback(0);  // the client socket (replies come back here)
  uint64_t snapshot_id = 0;
  SnapshotKey key{};
  uint32_t client_id = 0;                     // 0: a random one
  uint32_t max_request_pages = 64;            // pages per request datagram (≤ the server's limit)
  uint32_t window_pages = 256;                // pages one get() has outstanding at a time
  std::chrono::milliseconds first_retry{20};  // re-ask for missing pages after this; doubles per retry...
  std::chrono::milliseconds max_retry{1000};  // ...up to this
  // Liveness: give up when the server has sent nothing that checks out for this long (a paused or
  // busy server that answers again within it costs only time).
  std::chrono::milliseconds timeout{10000};
  // The hard bound: give up on a page (or a blocking window without progress) after this even while
  // the server answers others — a server that lives but never delivers is still noticed.
  std::chrono::milliseconds hard_timeout{60000};

  // mcdist: the snapshot's multicast group (from the descriptor), joined on the interface that owns
  // `multicast_interface`; port 0 = the server's port. No group (addr 0): requests ask the server
  // for unicast replies, whatever its mode.
  Endpoint group{};
  uint32_t multicast_interface = 0x7f000001;
  double drop_for_test = 0.0;         // test-only: this fraction of received datagrams is discarded unread
  uint64_t report_rate_for_test = 0;  // test-only: report this receive rate (bytes/s), not the measured one
};

class RemotePageSource final : public memory::PageSource {
 public:
  // `mirror` must be for the same snapshot id; its size is the snapshot's size. `disk_mirror` (same
  // id, the disk's size rounded up to whole blocks): the snapshot's disk is fetched into it; null: the
  // snapshot has no disk (disk datagrams are malformed here).
  static Result<std::shared_ptr<RemotePageSource>> create(const RemoteSourceConfig& config,
                                                          std::shared_ptr<Mirror> mirror,
                                                          std::shared_ptr<Mirror> disk_mirror = nullptr);
  RemotePageSource(const RemotePageSource&) = delete;
  RemotePageSource& operator=(const RemotePageSource&) = delete;
  ~RemotePageSource() override;  // stops the receive thread

  uint64_t bytes() const override { return mirror_->bytes(); }
  // Pages come back as pointers into the mirror (null for zero pages). Blocking (prefetch): asks for
  // a window of pages at a time and waits for the mirror to fill.
  Status get(uint64_t first, uint64_t n, uint8_t* scratch, const uint8_t** out,
             const std::atomic<bool>& cancel) override;
  // Faults: a page the mirror lacks is asked for once and the waiter registered with the mirror; the
  // receive thread maps it when it arrives, re-asks on the retry schedule, and fails it (ETIMEDOUT)
  // once the server has been silent for `timeout`, or `hard_timeout` after the first ask.
  bool is_async() const override { return true; }
  Status fetch_async(uint64_t page, const uint8_t** out, memory::PageWaiter* waiter) override;
  void forget(memory::PageWaiter* waiter) override { mirror_->forget(waiter); }
  void interrupt() override { mirror_->interrupt(); }

  // Asks for [first, first + n) without waiting (pages already in the mirror are skipped).
  void request(uint64_t first, uint64_t n);
  // Blocks until disk blocks [first, first + n) are in the disk mirror, asking for the missing ones in
  // windows and retrying like get(); ETIMEDOUT when the memserver stops answering, ECANCELED when
  // `cancel` turns true, EINVAL outside the disk (or without one).
  Status fetch_disk(uint64_t first, uint64_t n, const std::atomic<bool>& cancel);
  // Asks for disk blocks [first, first + n) without waiting (readahead; blocks already here skipped).
  void request_disk(uint64_t first, uint64_t n);
  // The disk mirror (null: no disk).
  const std::shared_ptr<Mirror>& disk_mirror() const { return disk_mirror_; }

  Endpoint local() const { return local_; }
  // The multicast group this source listens to ({} when unicast only).
  Endpoint group() const { return group_; }
  const std::shared_ptr<Mirror>& mirror() const { return mirror_; }
  RemoteSourceStats stats() const;

 private:
  RemotePageSource(const RemoteSourceConfig& config, std::shared_ptr<Mirror> mirror,
                   std::shared_ptr<Mirror> disk_mirror, UniqueFd sock, UniqueFd group_sock, UniqueFd wake,
                   Endpoint local, Endpoint group);
  struct Reassembly;
  using Clock = std::chrono::steady_clock;
  // An outstanding asynchronous ask for one page (retry schedule and deadline).
  struct Ask {
    Clock::time_point first, next, give_up;  // give_up: the hard bound
    std::chrono::milliseconds retry;
    uint32_t sends;
  };
  Mirror& mirror_for(Space space) const { return space == Space::disk ? *disk_mirror_ : *mirror_; }
  Status fetch_window(Space space, uint64_t first, uint64_t n, const std::atomic<bool>& cancel);
  void send_request(Space space, uint64_t first, uint32_t n, bool retry);
  // Asks for the missing pages of [first, first + n) (a retry: they were asked for before).
  void request_missing(Space space, uint64_t first, uint64_t n, bool retry);
  // Whether disk block `block` was asked for ahead (request_disk) less than first_retry ago: its reply
  // is probably on its way, and asking again would (by unicast) fetch it twice.
  bool asked_ahead(uint64_t block, Clock::time_point now);
  void receive_loop();
  // Reads one batch from `fd` and installs what checks out (`rx`: buffers, half-assembled pages, what
  // this batch stored, for one publication).
  void drain(int fd, bool from_group, Reassembly& rx);
  // Re-asks for overdue pages and fails expired ones; returns the poll timeout (ms, −1: none due).
  int service_asks();
  // `silent`: the server answered nothing for the liveness window (else: the hard bound passed).
  Status timeout_status(Space space, uint64_t page, uint64_t sends, bool silent) const;
  // When the server last sent something that checked out (creation time before that).
  Clock::time_point last_heard() const {
    return Clock::time_point(Clock::duration(last_heard_.load(std::memory_order_acquire)));
  }
  // Datagrams are queued on a socket that the receive thread has not read yet.
  bool replies_waiting() const;

  const RemoteSourceConfig config_;
  const sockaddr_in server_;
  std::shared_ptr<Mirror> mirror_;
  std::shared_ptr<Mirror> disk_mirror_;  // null: no disk
  const uint64_t disk_blocks_;
  UniqueFd sock_;
  UniqueFd group_sock_;  // empty when unicast only
  UniqueFd wake_;
  const Endpoint local_;
  const Endpoint group_;
  LossKnob loss_;    // receive thread only
  RateMeter meter_;  // fed by the receive thread
  std::atomic<uint32_t> seq_{0};

  RemoteSourceCounters counters_;
  std::array<std::atomic<uint64_t>, kWireErrorCount> dropped_{};
  std::mutex asks_mu_;
  std::unordered_map<uint64_t, Ask> asks_;
  std::mutex ahead_mu_;
  std::unordered_map<uint64_t, Clock::time_point> asked_ahead_;  // disk blocks requested ahead, and when
  Clock::time_point last_ask_{};           // the receive thread keeps a retry tick for a while after this
  std::atomic<Clock::rep> last_heard_{0};  // Clock ticks; see last_heard()
  std::atomic<bool> rx_idle_{true};        // the receive thread sleeps without a tick: kick it on a new ask
  std::atomic<bool> stopping_{false};
  Thread thread_;
};

}  // namespace sf::memserver
