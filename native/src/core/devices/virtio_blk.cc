// VirtioBlk: the device thread, request checking and serving, quiesce/resume, fork state.
// Boundary: see virtio_blk.h. A request the guest gets wrong fails alone (IOERR, or length 0 when it
// has no status byte) and is counted; nothing a guest writes can fail the host.
//
// Why a device thread rather than serving on the vCPU's notify: the notify arrives on a vCPU thread
// holding the transport's lock, and a request may be slow (a 4 MiB write, an fdatasync, later a block
// fetched from another host). Served there, it would stall that vCPU and every register access of the
// device, and a fork's pause would wait for it. Handed off through an eventfd, the vCPU is back in the
// guest within one syscall, the polled flat guests see the used ring move, and quiesce can bound its wait.
#include "virtio_blk.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "virtio_spec.h"

namespace sf::devices {

namespace {

// Version 1: {le32 version, le32 0, le64 capacity in bytes}; version 2 adds the GET_ID answer (20 bytes,
// NUL-padded), so a clone's disk answers with its parent's id. Both are read; version 2 is written.
constexpr uint32_t kStateVersion = 2;
constexpr size_t kStateBytesV1 = 16;
constexpr size_t kStateBytes = kStateBytesV1 + kBlkIdBytes;

struct BlkHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
static_assert(sizeof(BlkHeader) == kBlkHeaderBytes);

void put_le(uint8_t* at, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

}  // namespace

Result<std::unique_ptr<VirtioBlk>> VirtioBlk::create(std::shared_ptr<BlockLayer> disk, const std::string& id) {
  if (!disk) return Status::Error(EINVAL, "virtio-blk: no disk");
  const uint64_t size = disk->size();
  if (size == 0 || size % kSectorBytes != 0 || size > kMaxDiskBytes) {
    return Status::Error(EINVAL, "virtio-blk: a disk of " + std::to_string(size) +
                                     " bytes (it must be whole 512-byte sectors, at most 1 TiB)");
  }
  if (id.size() > kBlkIdBytes) {
    return Status::Error(EINVAL, "virtio-blk: the disk id '" + id + "' is longer than 20 bytes");
  }
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) return Status::Error(EINVAL, "virtio-blk: the disk id must be printable ASCII");
  }
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC));
  if (!wake) return Status::FromErrno("virtio-blk: eventfd", errno);
  std::unique_ptr<VirtioBlk> blk(new VirtioBlk(std::move(disk), id, std::move(wake)));
  VirtioBlk* self = blk.get();
  if (Status s = blk->thread_.start([self] { self->run(); }, "sf-blk", Thread::Signals::none, self); !s.ok()) {
    return s;
  }
  return blk;
}

VirtioBlk::VirtioBlk(std::shared_ptr<BlockLayer> disk, const std::string& id, UniqueFd wake)
    : capacity_bytes_(disk->size()), wake_(std::move(wake)), disk_(std::move(disk)) {
  std::memcpy(id_, id.data(), id.size());
}

VirtioBlk::~VirtioBlk() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    update_yield();
  }
  wake();
  thread_.join();
}

uint64_t VirtioBlk::device_features() const {
  // INDIRECT_DESC: Linux then puts a request's whole scatter list in one table, so seg_max is not
  // bounded by the ring's free entries.
  return kBlkFeatureSegMax | kBlkFeatureBlkSize | kBlkFeatureFlush | kFeatureIndirectDesc;
}

void VirtioBlk::read_config(uint32_t offset, std::span<uint8_t> out) const {
  uint8_t config[kBlkConfigBytes] = {};
  put_le(config + kBlkConfigCapacity, capacity_bytes_ / kSectorBytes, 8);
  put_le(config + kBlkConfigSegMax, kBlkSegMax, 4);
  put_le(config + kBlkConfigBlkSize, kSectorBytes, 4);
  std::memcpy(out.data(), config + offset, out.size());
}

// ---- the thread and its gate ----

void VirtioBlk::update_yield() { yield_.store(stop_ || hold_ || host_ == nullptr, std::memory_order_release); }

void VirtioBlk::wake() {
  const uint64_t one = 1;
  // Cannot fail short of the counter overflowing (2^64 - 2 wakes without a read).
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

void VirtioBlk::activate(VirtioDeviceHost& host) {
  {
    std::lock_guard lock(mu_);
    host_ = &host;
    update_yield();
  }
  // A clone's queue may hold requests its parent made available and never took: look at once.
  wake();
}

void VirtioBlk::queue_notify(uint16_t index) {
  if (index == 0) wake();
}

void VirtioBlk::reset() {
  std::unique_lock lock(mu_);
  host_ = nullptr;
  update_yield();
  // The transport clears the queues next: no request may still be using them. Unbounded on purpose
  // (the contract of reset()); every layer bounds its own waits, so this is one request's time.
  idle_cv_.wait(lock, [this] { return !busy_; });
  broken_seen_ = false;  // the thread is idle and picks this up through mu_
}

bool VirtioBlk::quiesce(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  hold_ = true;
  update_yield();
  return idle_cv_.wait_for(lock, limit, [this] { return !busy_; });
}

void VirtioBlk::resume() {
  {
    std::lock_guard lock(mu_);
    hold_ = false;
    update_yield();
  }
  // Notifies that came while held were consumed without serving.
  wake();
}

void VirtioBlk::run() {
  for (;;) {
    uint64_t count = 0;
    if (::read(wake_.get(), &count, sizeof count) < 0 && errno != EINTR && errno != EAGAIN) return;
    for (;;) {
      VirtioDeviceHost* host = nullptr;
      std::shared_ptr<BlockLayer> disk;
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
        if (host_ == nullptr || hold_) break;
        busy_ = true;
        host = host_;
        disk = disk_;
      }
      const bool more = serve(*host, *disk);
      {
        std::lock_guard lock(mu_);
        busy_ = false;
      }
      idle_cv_.notify_all();
      if (!more) break;
    }
  }
}

bool VirtioBlk::serve(VirtioDeviceHost& host, BlockLayer& disk) {
  Virtqueue& q = host.queue(0);
  bool pushed = false, more = true;
  for (uint32_t n = 0; n < kBudget; ++n) {
    if (yield_.load(std::memory_order_acquire)) break;
    const PopResult r = q.pop(&chain_);
    if (r == PopResult::kEmpty) {
      more = false;
      break;
    }
    if (r == PopResult::kQueueError) {
      // Counted once per break: pop says so again on every wake-up until the driver resets.
      if (!broken_seen_) counters_.queue_errors.fetch_add(1, std::memory_order_relaxed);
      broken_seen_ = true;
      host.needs_reset();
      more = false;
      break;
    }
    broken_seen_ = false;
    uint32_t written = 0;
    if (r == PopResult::kBadChain) {
      counters_.bad_chains.fetch_add(1, std::memory_order_relaxed);
    } else {
      written = handle(q, chain_, disk);
    }
    q.push_used(chain_, written);
    pushed = true;
  }
  if (pushed) host.used_buffers(0);
  return more;
}

// ---- requests ----

Status VirtioBlk::transfer(Virtqueue& q, std::span<const Segment> segments, uint64_t skip, uint64_t len,
                           uint64_t disk_offset, BlockLayer& disk, bool to_guest) {
  for (const Segment& s : segments) {
    if (len == 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(s.len - skip, len);
    // Straight between the layer and guest RAM (checked inside RAM when the chain was taken; checked
    // again here because a bounds check is cheaper than trusting one made elsewhere).
    const auto guest = q.memory().span(s.gpa + skip, n);
    if (!guest) return Status::Error(EFAULT, "virtio-blk: a buffer left guest RAM");
    Status st = to_guest ? disk.read(disk_offset, *guest) : disk.write(disk_offset, *guest);
    if (!st.ok()) return st;
    disk_offset += n;
    len -= n;
    skip = 0;
  }
  return Status::Ok();
}

uint32_t VirtioBlk::handle(Virtqueue& q, const Chain& chain, BlockLayer& disk) {
  // The status byte is the chain's last writable byte; without one nothing can be answered.
  if (chain.writable_bytes() == 0) {
    counters_.bad_chains.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const uint64_t status_at = chain.writable_bytes() - 1;
  const auto finish = [&](uint8_t status, uint64_t data_written) -> uint32_t {
    q.write(chain, status_at, std::span<const uint8_t>(&status, 1));
    return static_cast<uint32_t>(data_written + 1);  // < writable_bytes() <= 4 GiB - 1
  };
  const auto refuse = [&] {
    counters_.bad_requests.fetch_add(1, std::memory_order_relaxed);
    return finish(kBlkStatusIoErr, 0);
  };
  if (chain.readable_bytes() < kBlkHeaderBytes) return refuse();
  // A copy: the guest may change its memory while we look at it.
  BlkHeader h{};
  q.read(chain, 0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&h), sizeof h));
  const uint64_t readable_data = chain.readable_bytes() - kBlkHeaderBytes;
  const uint64_t writable_data = status_at;
  const uint64_t sectors = capacity_bytes_ / kSectorBytes;

  switch (h.type) {
    case kBlkTypeIn:
    case kBlkTypeOut: {
      const bool in = h.type == kBlkTypeIn;
      // Data in the wrong direction (a read into device-readable buffers, a write from writable ones)
      // is a driver bug: refusing it beats guessing which buffers were meant.
      if ((in ? readable_data : writable_data) != 0) return refuse();
      const uint64_t len = in ? writable_data : readable_data;
      if (len % kSectorBytes != 0 || h.sector > sectors || len / kSectorBytes > sectors - h.sector) return refuse();
      const uint64_t offset = h.sector * kSectorBytes;
      const Status st = in ? transfer(q, chain.writable(), 0, len, offset, disk, true)
                           : transfer(q, chain.readable(), kBlkHeaderBytes, len, offset, disk, false);
      if (!st.ok()) {
        counters_.io_errors.fetch_add(1, std::memory_order_relaxed);
        return finish(kBlkStatusIoErr, 0);
      }
      if (in) {
        counters_.reads.fetch_add(1, std::memory_order_relaxed);
        counters_.read_bytes.fetch_add(len, std::memory_order_relaxed);
        return finish(kBlkStatusOk, len);
      }
      counters_.writes.fetch_add(1, std::memory_order_relaxed);
      counters_.written_bytes.fetch_add(len, std::memory_order_relaxed);
      return finish(kBlkStatusOk, 0);
    }
    case kBlkTypeFlush: {
      if (readable_data != 0 || writable_data != 0) return refuse();
      if (!disk.flush().ok()) {
        counters_.io_errors.fetch_add(1, std::memory_order_relaxed);
        return finish(kBlkStatusIoErr, 0);
      }
      counters_.flushes.fetch_add(1, std::memory_order_relaxed);
      return finish(kBlkStatusOk, 0);
    }
    case kBlkTypeGetId: {
      if (readable_data != 0 || writable_data < kBlkIdBytes) return refuse();
      q.write(chain, 0, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(id_), kBlkIdBytes));
      counters_.get_ids.fetch_add(1, std::memory_order_relaxed);
      return finish(kBlkStatusOk, kBlkIdBytes);
    }
    default: counters_.unsupported.fetch_add(1, std::memory_order_relaxed); return finish(kBlkStatusUnsupp, 0);
  }
}

// ---- fork ----

std::vector<uint8_t> VirtioBlk::capture_state() const {
  std::vector<uint8_t> s(kStateBytes, 0);
  put_le(s.data(), kStateVersion, 4);
  put_le(s.data() + 8, capacity_bytes_, 8);
  std::memcpy(s.data() + kStateBytesV1, id_, kBlkIdBytes);
  return s;
}

Result<BlkState> parse_blk_state(std::span<const uint8_t> state) {
  uint32_t version = 0;
  if (state.size() >= 4) std::memcpy(&version, state.data(), 4);
  const size_t want = version == 1 ? kStateBytesV1 : kStateBytes;
  if (state.size() != want) {
    return Status::Error(EINVAL,
                         "virtio-blk state is " + std::to_string(state.size()) + " bytes, not " + std::to_string(want));
  }
  if (version != 1 && version != kStateVersion) {
    return Status::Error(EINVAL, "virtio-blk state version " + std::to_string(version) + " is not known here");
  }
  BlkState out;
  std::memcpy(&out.capacity_bytes, state.data() + 8, 8);
  if (version == 1) return out;
  // The id as create() accepts it: printable ASCII, then NULs only.
  const uint8_t* id = state.data() + kStateBytesV1;
  size_t len = 0;
  while (len < kBlkIdBytes && id[len] != 0) ++len;
  for (size_t i = 0; i < kBlkIdBytes; ++i) {
    if (i < len ? (id[i] < 0x20 || id[i] > 0x7e) : id[i] != 0)
      return Status::Error(EINVAL, "virtio-blk state holds a disk id no guest could be shown");
  }
  out.id.assign(reinterpret_cast<const char*>(id), len);
  return out;
}

Result<uint64_t> blk_state_capacity(std::span<const uint8_t> state) {
  auto parsed = parse_blk_state(state);
  if (!parsed.ok()) return parsed.status();
  return parsed->capacity_bytes;
}

Status VirtioBlk::restore_state(std::span<const uint8_t> state) {
  auto parsed = parse_blk_state(state);
  if (!parsed.ok()) return parsed.status();
  const uint64_t capacity = parsed->capacity_bytes;
  if (capacity != capacity_bytes_) {
    return Status::Error(EINVAL, "the parent's disk is " + std::to_string(capacity) + " bytes, this clone's " +
                                     std::to_string(capacity_bytes_) + ": a clone's overlay must sit on the " +
                                     "parent's disk snapshot");
  }
  return Status::Ok();
}

Status VirtioBlk::rebind(std::shared_ptr<BlockLayer> disk) {
  if (!disk) return Status::Error(EINVAL, "virtio-blk: no disk to rebind to");
  if (disk->size() != capacity_bytes_) {
    return Status::Error(EINVAL, "virtio-blk: the new disk is " + std::to_string(disk->size()) +
                                     " bytes, the guest's is " + std::to_string(capacity_bytes_));
  }
  std::lock_guard lock(mu_);
  if (busy_ || (host_ != nullptr && !hold_)) {
    return Status::Error(EBUSY, "virtio-blk: rebinding a disk in use (quiesce the device first)");
  }
  disk_ = std::move(disk);
  return Status::Ok();
}

std::shared_ptr<BlockLayer> VirtioBlk::disk() const {
  std::lock_guard lock(mu_);
  return disk_;
}

BlkStats VirtioBlk::stats() const {
  BlkStats s;
  add_counters(counters_, s);
  return s;
}

}  // namespace sf::devices
