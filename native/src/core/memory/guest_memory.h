// GuestMemory: a VM's RAM as one memfd mapped MAP_SHARED into this process, plus bounds-checked access.
// Boundary: owns the memfd and the host mapping and knows the guest-physical layout (RAM below 3 GiB,
// the rest above 4 GiB); it does not talk to KVM (vmm/kvm.cc registers the regions as memslots).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "../base/mapping.h"
#include "../base/status.h"
#include "../base/unique_fd.h"
#include "deferred_source.h"
#include "memtap.h"

namespace sf::memory {

// One contiguous guest-physical range of RAM and where it lives in the memfd (= host mapping offset).
struct RamRegion {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
};

class GuestMemory {
 public:
  // ram_bytes: a multiple of 4 KiB between 2 MiB and SF_RAM_MAX. huge_pages: ask for shmem huge pages
  // (what VMs do: it keeps the fork pause flat); RAM is then allocated, and counted by pages_touched,
  // 2 MiB at a time where the host allows them. Off: exact 4 KiB accounting.
  static Result<std::unique_ptr<GuestMemory>> create(uint64_t ram_bytes, bool huge_pages = true);

  // Asks for shmem huge pages from now on (create(…, false) then this): the VMM's own writes before it (the
  // image, boot data) stay in 4 KiB pages instead of each costing a zeroed, maybe compacted, 2 MiB page.
  void advise_huge_pages();

  // A clone's RAM: `template_fd` (a frozen snapshot memfd, dup()ed here) mapped MAP_PRIVATE: reads see
  // the snapshot, writes are copy-on-write and private to this VM.
  static Result<std::unique_ptr<GuestMemory>> create_private(uint64_t ram_bytes, int template_fd);

  // A lazy clone's RAM (DESIGN §1 memtap): anonymous private memory registered with userfaultfd; each
  // page is filled from `template_fd` (dup()ed here) on first touch by a Memtap service thread. Reads
  // see the snapshot, writes are private to this VM, exactly like create_private.
  static Result<std::unique_ptr<GuestMemory>> create_lazy(uint64_t ram_bytes, int template_fd);
  // The same in two steps, for clone shells made before the fork: the empty anonymous RAM first (KVM
  // can register it), the snapshot later (attach_lazy: dup of template_fd, userfaultfd, memtap thread).
  static Result<std::unique_ptr<GuestMemory>> create_unfilled(uint64_t ram_bytes);
  // A shell's userfaultfd and memtap thread made now, the source bound by attach_lazy: the fork then
  // only names its snapshot. Unfilled RAM only.
  Status prepare_lazy();
  // `shared`: the snapshot's page source made once for all its clones on this host (null: one of our own).
  Status attach_lazy(int template_fd, std::shared_ptr<SnapshotFdSource> shared = nullptr);
  // Unfilled RAM filled from any page source (a memserver on another host through this host's mirror).
  // Such RAM has no local template: it cannot be forked again (freeze() says so).
  Status attach_source(std::shared_ptr<PageSource> source, MemtapOptions options);

  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory() = default;  // stops memtap, unmaps, then closes the memfd (member order)

  uint64_t ram_bytes() const { return ram_bytes_; }
  // One past the highest RAM guest-physical address (what the identity map must cover).
  uint64_t gpa_end() const { return regions_.back().gpa + regions_.back().size; }
  const std::vector<RamRegion>& regions() const { return regions_; }
  uint8_t* host_base() const { return map_.bytes(); }
  int memfd() const { return memfd_.get(); }

  // The host view of [gpa, gpa + len) if it lies entirely inside one RAM region (a range that crosses
  // the hole is not contiguous for the guest either). len 0 is fine anywhere inside or at the end of
  // a region. Overflow-safe: gpa + len wrapping around is rejected.
  std::optional<std::span<uint8_t>> span(uint64_t gpa, uint64_t len) const;
  bool contains(uint64_t gpa, uint64_t len) const { return span(gpa, len).has_value(); }

  // Typed access by copy (guest memory may change under us; callers validate the copy, not the
  // original, so the guest cannot change a value between check and use).
  template <class T>
  std::optional<T> read(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    auto s = span(gpa, sizeof(T));
    if (!s) return std::nullopt;
    T value;
    std::memcpy(&value, s->data(), sizeof(T));
    return value;
  }
  template <class T>
  bool write(uint64_t gpa, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    auto s = span(gpa, sizeof(T));
    if (!s) return false;
    std::memcpy(s->data(), &value, sizeof(T));
    return true;
  }
  bool write_bytes(uint64_t gpa, std::span<const uint8_t> bytes);
  // Zeroes [gpa, gpa + len). Whole pages are punched out of the memfd instead of written, so zeroing
  // a large, never-touched range (an image's bss) allocates nothing. For the MAP_SHARED mapping only
  // (boot time, before any fork remaps RAM privately).
  bool zero(uint64_t gpa, uint64_t len);
  bool read_bytes(uint64_t gpa, std::span<uint8_t> out) const;

  // Pages of RAM that exist (4 KiB units): what the guest and the VMM have touched, minus what zero()
  // punched out. Read from the memfd's allocated blocks, O(1) (mincore over the mapping took ≈18 ms
  // per GiB on kvm_pvm hosts). Valid while RAM is the memfd mapped MAP_SHARED; copy-on-write pages of
  // a MAP_PRIVATE remap (fork) would not show here.
  uint64_t pages_touched() const;

  // Fork (notes §6.4), in two steps so that the parent's pause covers only what must be instant.
  // freeze(), with the vCPUs out of KVM_RUN: RAM still MAP_SHARED over our own memfd becomes
  // MAP_PRIVATE|MAP_FIXED over it and the memfd is the frozen image (no copy; with huge pages one
  // entry per 2 MiB is zapped, so this is flat in RAM size). RAM already private (forked before, or a
  // clone) keeps running over its own template; only the pages it holds privately (written since, or
  // fetched by a lazy clone) are copied into a sparse overlay: the pause grows with what changed, not
  // with RAM. FrozenMemory::image(), with the parent running again, then gives the image as one memfd.
  struct FrozenMemory {
    UniqueFd base;     // the template (immutable)
    UniqueFd overlay;  // pages that differ from it (sparse memfd), or invalid: none
    uint64_t bytes = 0;
    uint64_t overlay_pages = 0;
    // base itself, or a new memfd holding base with the overlay's pages written over it.
    Result<UniqueFd> image();
  };
  Result<FrozenMemory> freeze();
  bool is_private() const { return private_; }

  // Lazy RAM only (null otherwise).
  Memtap* memtap() const { return memtap_.get(); }
  // Lazy RAM: the guest will overwrite [gpa, gpa + npages pages) without reading it (FRESH_PAGES):
  // pages not fetched yet are zero-filled and never copied. A no-op for other RAM.
  Status hint_fresh(uint64_t gpa, uint64_t npages);
  // Lazy RAM: wakes every thread waiting for a page and stops serving (teardown only: later first
  // touches read zero). A no-op for other RAM.
  void release_faults() {
    if (memtap_) memtap_->shutdown();
  }

 private:
  GuestMemory(uint64_t ram_bytes, UniqueFd memfd, Mapping map, std::vector<RamRegion> regions);

  uint64_t ram_bytes_;
  UniqueFd memfd_;  // declared before map_: the mapping goes first, then the fd
  Mapping map_;
  std::vector<RamRegion> regions_;
  std::unique_ptr<Memtap> memtap_;            // after map_: stops serving before the mapping goes
  std::shared_ptr<DeferredSource> deferred_;  // prepare_lazy's, until attach_lazy binds it
  bool private_ = false;                      // mapped MAP_PRIVATE over a template: memfd_ must never be written again
};

}  // namespace sf::memory
