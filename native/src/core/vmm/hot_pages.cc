// The first pages a resumed vCPU touches, found by walking its page tables (x86-64 4-level paging, 1 GiB and
// 2 MiB pages included); see hot_pages.h.
#include "hot_pages.h"

#include <algorithm>

namespace sf::vmm {
namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kLargePage = 1ull << 7;
constexpr uint64_t kAddressMask = 0x000ffffffffff000ull;  // bits 12-51 of an entry
constexpr uint64_t kCr0Paging = 1ull << 31;
constexpr uint64_t kEferLongModeActive = 1ull << 10;

// gva → gpa through the tables rooted at cr3; nullopt when a level is not present or unreadable.
std::optional<uint64_t> translate(uint64_t cr3, uint64_t gva, const TableEntryReader& read_entry) {
  uint64_t table = cr3 & kAddressMask;
  for (int level = 3; level >= 0; --level) {
    const uint64_t index = (gva >> (12 + 9 * level)) & 0x1ff;
    auto entry = read_entry(table + index * 8);
    if (!entry || (*entry & kPresent) == 0) return std::nullopt;
    const uint64_t base = *entry & kAddressMask;
    // A large page at the PDPT (1 GiB) or PD (2 MiB) level ends the walk.
    if ((level == 2 || level == 1) && (*entry & kLargePage) != 0) {
      const uint64_t span = 1ull << (12 + 9 * level);
      return (base & ~(span - 1)) | (gva & (span - 1));
    }
    if (level == 0) return base | (gva & (kPageSize - 1));
    table = base;
  }
  return std::nullopt;
}

}  // namespace

std::vector<uint64_t> first_touched_pages(const VcpuDescriptor& v, const TableEntryReader& read_entry) {
  if (!v.started) return {};
  const kvm_sregs& s = v.sregs;
  const bool paging = (s.cr0 & kCr0Paging) != 0;
  // Only long-mode paging is walked; 32-bit paging (not used by Snowflock's guests) is left to faults.
  if (paging && (s.efer & kEferLongModeActive) == 0) return {};
  std::vector<uint64_t> out;
  auto add = [&](uint64_t gva) {
    auto gpa = paging ? translate(s.cr3, gva, read_entry) : std::optional<uint64_t>(gva);
    if (gpa) out.push_back(*gpa & ~(kPageSize - 1));
  };
  auto add_range = [&](uint64_t gva, uint64_t bytes) {
    // Descriptor tables and the TSS are small; a huge limit in a hostile descriptor is capped.
    bytes = std::min<uint64_t>(bytes, 4 * kPageSize);
    for (uint64_t a = gva & ~(kPageSize - 1); a < gva + bytes; a += kPageSize) add(a);
  };
  add(v.regs.rip);
  add(v.regs.rsp);
  // A call or push right after resuming may cross into the page below the stack pointer.
  if ((v.regs.rsp & (kPageSize - 1)) < 256) add(v.regs.rsp - kPageSize);
  add_range(s.gdt.base, uint64_t{s.gdt.limit} + 1);
  add_range(s.idt.base, uint64_t{s.idt.limit} + 1);
  // The TSS holds the ring-0 stack and the I/O bitmap a user-mode guest's port access is checked against.
  if (s.tr.present) add_range(s.tr.base, uint64_t{s.tr.limit} + 1);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace sf::vmm
