// Virtqueue: the split ring's device side. Every value read from guest RAM is copied first and checked
// on the copy (the guest may rewrite it at any moment); every walk is bounded by a visited bitmap.
// Boundary: see virtqueue.h.
#include "virtqueue.h"

#include <algorithm>
#include <atomic>
#include <bitset>
#include <cstdio>
#include <cstring>
#include <string>

namespace sf::devices {

namespace {

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == kDescBytes);

Desc load_desc(const uint8_t* at) {
  Desc d;
  std::memcpy(&d, at, sizeof d);
  return d;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Status part_in_ram(const memory::GuestMemory& memory, const char* what, uint64_t gpa, uint64_t bytes, uint64_t align) {
  if (gpa % align != 0) {
    return Status::Error(EINVAL, std::string(what) + " at " + hex(gpa) + " is not " + std::to_string(align) +
                                     "-byte aligned (virtio 1.2 §2.7)");
  }
  if (!memory.contains(gpa, bytes)) {
    return Status::Error(EINVAL, std::string(what) + " [" + hex(gpa) + ", +" + std::to_string(bytes) +
                                     " bytes) is not inside guest RAM");
  }
  return Status::Ok();
}

}  // namespace

const char* chain_error_text(ChainError error) {
  switch (error) {
    case ChainError::kNone: return "no error";
    case ChainError::kNextOutOfRange: return "a next index points past its descriptor table";
    case ChainError::kLoop: return "the chain loops";
    case ChainError::kTooLong: return "the chain has more descriptors than the queue allows";
    case ChainError::kAddressWraps: return "a buffer's address plus length wraps around";
    case ChainError::kOutOfRam: return "a buffer lies outside guest RAM";
    case ChainError::kReadableAfterWritable: return "a device-readable buffer follows a writable one";
    case ChainError::kTooManyBytes: return "the chain's buffers add up to 4 GiB or more in one direction";
    case ChainError::kIndirectNotNegotiated: return "an indirect descriptor without VIRTIO_F_INDIRECT_DESC";
    case ChainError::kIndirectWithNext: return "an indirect descriptor also has NEXT set";
    case ChainError::kIndirectBadSize: return "an indirect table's length is 0, not a multiple of 16 or too long";
    case ChainError::kIndirectOutOfRam: return "an indirect table lies outside guest RAM";
    case ChainError::kNestedIndirect: return "an indirect table holds another indirect descriptor";
  }
  return "unknown chain error";
}

Status check_layout(const memory::GuestMemory& memory, const QueueLayout& l, uint16_t max_size) {
  const uint16_t limit = std::min(max_size, kMaxQueueSize);
  if (l.size == 0 || (l.size & (l.size - 1)) != 0 || l.size > limit) {
    return Status::Error(EINVAL, "queue size " + std::to_string(l.size) + " is not a power of two between 1 and " +
                                     std::to_string(limit));
  }
  if (Status s = part_in_ram(memory, "descriptor table", l.desc, desc_table_bytes(l.size), kDescAlign); !s.ok())
    return s;
  if (Status s = part_in_ram(memory, "available ring", l.avail, avail_ring_bytes(l.size), kAvailAlign); !s.ok())
    return s;
  return part_in_ram(memory, "used ring", l.used, used_ring_bytes(l.size), kUsedAlign);
}

// ---- Chain ----

void Chain::clear(uint16_t head) {
  head_ = head;
  error_ = ChainError::kNone;
  segments_.clear();
  first_writable_ = 0;
  seen_writable_ = false;
  readable_bytes_ = writable_bytes_ = 0;
}

ChainError Chain::add(const memory::GuestMemory& memory, uint64_t addr, uint32_t len, bool writable) {
  if (len > UINT64_MAX - addr) return ChainError::kAddressWraps;
  if (!memory.contains(addr, len)) return ChainError::kOutOfRam;
  if (!writable && seen_writable_) return ChainError::kReadableAfterWritable;
  seen_writable_ = seen_writable_ || writable;
  uint64_t& total = writable ? writable_bytes_ : readable_bytes_;
  total += len;  // at most kMaxQueueSize * 2 descriptors of < 4 GiB each: no overflow
  if (total > UINT32_MAX) return ChainError::kTooManyBytes;
  if (len != 0) segments_.push_back({addr, len});
  if (!writable) first_writable_ = segments_.size();
  return ChainError::kNone;
}

// ---- Virtqueue ----

Status Virtqueue::enable(const QueueLayout& layout, bool indirect) { return restore(layout, indirect, {}); }

Status Virtqueue::restore(const QueueLayout& layout, bool indirect, const QueueIndices& indices) {
  reset();
  if (Status s = check_layout(memory_, layout, max_size_); !s.ok()) return s;
  layout_ = layout;
  indirect_ = indirect;
  desc_ = memory_.span(layout.desc, desc_table_bytes(layout.size))->data();
  avail_ = memory_.span(layout.avail, avail_ring_bytes(layout.size))->data();
  used_ = memory_.span(layout.used, used_ring_bytes(layout.size))->data();
  last_avail_ = indices.last_avail;
  used_idx_ = indices.used;
  broken_.store(indices.broken, std::memory_order_release);
  ready_.store(true, std::memory_order_release);
  return Status::Ok();
}

void Virtqueue::reset() {
  ready_.store(false, std::memory_order_release);
  broken_.store(false, std::memory_order_release);
  in_flight_.store(0, std::memory_order_release);
  layout_ = {};
  indirect_ = false;
  desc_ = avail_ = used_ = nullptr;
  last_avail_ = used_idx_ = 0;
}

void Virtqueue::set_broken() {
  if (!broken_.exchange(true, std::memory_order_acq_rel))
    counters_.queue_errors.fetch_add(1, std::memory_order_relaxed);
}

PopResult Virtqueue::pop(Chain* chain) {
  if (!ready()) return PopResult::kEmpty;
  if (broken()) return PopResult::kQueueError;
  // Acquire: the ring entries and descriptors the driver wrote before publishing idx are visible.
  const uint16_t avail = std::atomic_ref<uint16_t>(*avail_idx()).load(std::memory_order_acquire);
  const uint16_t pending = static_cast<uint16_t>(avail - last_avail_);
  if (pending == 0) return PopResult::kEmpty;
  // A driver can never have more than `size` requests outstanding; more means the index is garbage,
  // and trusting it would replay stale ring entries (or spin through 65535 of them).
  if (pending > layout_.size) {
    set_broken();
    return PopResult::kQueueError;
  }
  uint16_t head = 0;
  std::memcpy(&head, avail_ + 4 + 2 * (last_avail_ & (layout_.size - 1)), sizeof head);
  if (head >= layout_.size) {  // not a chain at all: nothing could be returned for it
    set_broken();
    return PopResult::kQueueError;
  }
  ++last_avail_;
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  chain->clear(head);
  const ChainError error = walk(head, chain);
  if (error != ChainError::kNone) {
    chain->clear(head);
    chain->error_ = error;
    counters_.bad_chains.fetch_add(1, std::memory_order_relaxed);
    return PopResult::kBadChain;
  }
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  return PopResult::kChain;
}

ChainError Virtqueue::walk(uint16_t head, Chain* chain) const {
  // Each descriptor at most once: the bitmap turns every loop into an error within `size` steps.
  std::bitset<kMaxQueueSize> seen;
  uint16_t index = head;
  for (uint32_t steps = 0;; ++steps) {
    if (seen.test(index)) return ChainError::kLoop;
    if (steps >= layout_.size) return ChainError::kTooLong;  // unreachable past the bitmap; a hard bound anyway
    seen.set(index);
    const Desc d = load_desc(desc_ + kDescBytes * index);
    if ((d.flags & kDescFlagIndirect) != 0) {
      if (!indirect_) return ChainError::kIndirectNotNegotiated;
      if ((d.flags & kDescFlagNext) != 0) return ChainError::kIndirectWithNext;
      // The table ends the chain: the spec allows zero or more direct descriptors, then one indirect.
      // The table descriptor's own WRITE flag means nothing and is ignored, as the spec says.
      return walk_indirect(d.addr, d.len, chain);
    }
    if (ChainError e = chain->add(memory_, d.addr, d.len, (d.flags & kDescFlagWrite) != 0); e != ChainError::kNone)
      return e;
    if ((d.flags & kDescFlagNext) == 0) return ChainError::kNone;
    if (d.next >= layout_.size) return ChainError::kNextOutOfRange;
    index = d.next;
  }
}

ChainError Virtqueue::walk_indirect(uint64_t addr, uint32_t len, Chain* chain) const {
  // Tables are bounded by kMaxQueueSize rather than this queue's size: Linux builds a table as long as
  // the request's scatter list, which may exceed a small queue.
  if (len == 0 || len % kDescBytes != 0 || len / kDescBytes > kMaxQueueSize) return ChainError::kIndirectBadSize;
  if (len > UINT64_MAX - addr) return ChainError::kAddressWraps;
  const auto table = memory_.span(addr, len);
  if (!table) return ChainError::kIndirectOutOfRam;
  const uint32_t entries = len / kDescBytes;
  std::bitset<kMaxQueueSize> seen;
  uint32_t index = 0;  // a table's chain starts at its first entry
  for (;;) {
    if (seen.test(index)) return ChainError::kLoop;
    seen.set(index);
    const Desc d = load_desc(table->data() + kDescBytes * index);
    if ((d.flags & kDescFlagIndirect) != 0) return ChainError::kNestedIndirect;
    if (ChainError e = chain->add(memory_, d.addr, d.len, (d.flags & kDescFlagWrite) != 0); e != ChainError::kNone)
      return e;
    if ((d.flags & kDescFlagNext) == 0) return ChainError::kNone;
    if (d.next >= entries) return ChainError::kNextOutOfRange;
    index = d.next;
  }
}

bool Virtqueue::push_used(const Chain& chain, uint32_t written) {
  if (!ready() || chain.head() >= layout_.size) return false;
  // More returned than taken would overwrite entries the driver has not consumed yet.
  uint32_t outstanding = in_flight_.load(std::memory_order_acquire);
  do {
    if (outstanding == 0) return false;
  } while (!in_flight_.compare_exchange_weak(outstanding, outstanding - 1, std::memory_order_acq_rel));
  const uint32_t len = chain.error() != ChainError::kNone
                           ? 0
                           : static_cast<uint32_t>(std::min<uint64_t>(written, chain.writable_bytes()));
  const uint32_t elem[2] = {chain.head(), len};
  std::memcpy(used_ + 4 + kUsedElemBytes * (used_idx_ & (layout_.size - 1)), elem, sizeof elem);
  ++used_idx_;
  // Release: the element (and the bytes written into the chain's buffers) before the index that shows it.
  std::atomic_ref<uint16_t>(*used_idx_word()).store(used_idx_, std::memory_order_release);
  return true;
}

bool Virtqueue::interrupt_wanted() const {
  if (!ready()) return false;
  // The used.idx store must be visible before the flag is read, or a driver that just cleared
  // NO_INTERRUPT and then checked used.idx could miss both (the spec's notification suppression).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint16_t flags = std::atomic_ref<uint16_t>(*avail_flags()).load(std::memory_order_relaxed);
  return (flags & kAvailFlagNoInterrupt) == 0;
}

void Virtqueue::set_notify(bool wanted) {
  if (!ready()) return;
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(used_))
      .store(wanted ? 0 : kUsedFlagNoNotify, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

bool Virtqueue::has_available() const {
  if (!ready() || broken()) return false;
  return std::atomic_ref<uint16_t>(*avail_idx()).load(std::memory_order_acquire) != last_avail_;
}

size_t Virtqueue::read(const Chain& chain, uint64_t offset, std::span<uint8_t> out) const {
  size_t done = 0;
  for (const Segment& s : chain.readable()) {
    if (done == out.size()) break;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(s.len - offset, out.size() - done);
    const auto from = memory_.span(s.gpa + offset, n);
    if (!from) break;  // checked when taken, and RAM never shrinks; never copy unchecked anyway
    std::memcpy(out.data() + done, from->data(), n);
    done += n;
    offset = 0;
  }
  return done;
}

size_t Virtqueue::write(const Chain& chain, uint64_t offset, std::span<const uint8_t> in) const {
  size_t done = 0;
  for (const Segment& s : chain.writable()) {
    if (done == in.size()) break;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(s.len - offset, in.size() - done);
    const auto to = memory_.span(s.gpa + offset, n);
    if (!to) break;
    std::memcpy(to->data(), in.data() + done, n);
    done += n;
    offset = 0;
  }
  return done;
}

}  // namespace sf::devices
