// Tests of first_touched_pages: the pages a resumed vCPU needs first are found through 4-level page tables
// (4 KiB, 2 MiB and 1 GiB pages), every table page is read on the way, and hostile registers cost nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "vmm/hot_pages.h"

namespace sf::vmm {
namespace {

constexpr uint64_t kP = 1, kPs = 0x80, kPaging = 1ull << 31, kLma = 1ull << 10;

// Page tables as a map of guest-physical address → entry; records which table pages were read.
struct Tables {
  std::map<uint64_t, uint64_t> entries;
  std::set<uint64_t> read_pages;
  TableEntryReader reader() {
    return [this](uint64_t gpa) -> std::optional<uint64_t> {
      read_pages.insert(gpa & ~0xfffull);
      auto it = entries.find(gpa);
      return it == entries.end() ? std::optional<uint64_t>(0) : it->second;
    };
  }
  void set(uint64_t table, uint64_t index, uint64_t value) { entries[table + index * 8] = value; }
};

VcpuDescriptor long_mode_vcpu(uint64_t cr3, uint64_t rip, uint64_t rsp) {
  VcpuDescriptor v;
  v.started = true;
  v.sregs.cr0 = kPaging;
  v.sregs.efer = kLma;
  v.sregs.cr3 = cr3;
  v.regs.rip = rip;
  v.regs.rsp = rsp;
  return v;
}

TEST(HotPages, WalksFourKilobyteAndTwoMegabytePagesAndNamesEveryTablePage) {
  Tables t;
  // PML4 at 0x1000 → PDPT 0x2000 → PD 0x3000: PD[0] a 2 MiB page at 0x200000, PD[1] a PT at 0x4000.
  t.set(0x1000, 0, 0x2000 | kP);
  t.set(0x2000, 0, 0x3000 | kP);
  t.set(0x3000, 0, 0x200000 | kP | kPs);
  t.set(0x3000, 1, 0x4000 | kP);
  t.set(0x4000, 0x10, 0x9000 | kP);  // gva 0x210000 → gpa 0x9000
  VcpuDescriptor v = long_mode_vcpu(0x1000, /*rip=*/0x123456, /*rsp=*/0x210010);
  auto pages = first_touched_pages(v, t.reader());
  // Code in the 2 MiB page (identity), the stack through the 4 KiB table, and the page below the stack pointer
  // (it sits within 256 bytes of a page boundary).
  EXPECT_NE(std::find(pages.begin(), pages.end(), 0x323000ull), pages.end());
  EXPECT_NE(std::find(pages.begin(), pages.end(), 0x9000ull), pages.end());
  EXPECT_TRUE(std::is_sorted(pages.begin(), pages.end()));
  EXPECT_EQ(std::adjacent_find(pages.begin(), pages.end()), pages.end()) << "no duplicates";
  for (uint64_t table : {0x1000ull, 0x2000ull, 0x3000ull, 0x4000ull}) EXPECT_TRUE(t.read_pages.count(table)) << table;
}

TEST(HotPages, OneGigabytePagesEndTheWalkAtThePdpt) {
  Tables t;
  t.set(0x1000, 0, 0x2000 | kP);
  t.set(0x2000, 1, (1ull << 30) | kP | kPs);  // gva [1 GiB, 2 GiB) → gpa [1 GiB, 2 GiB)
  VcpuDescriptor v = long_mode_vcpu(0x1000, (1ull << 30) + 0x5678, (1ull << 30) + 0x8800);
  auto pages = first_touched_pages(v, t.reader());
  EXPECT_EQ(pages, (std::vector<uint64_t>{(1ull << 30) + 0x5000, (1ull << 30) + 0x8000}))
      << "code and stack found; the descriptor tables' base 0 is not mapped by these tables, so it is skipped";
}

TEST(HotPages, PagingOffMeansPhysicalAddresses) {
  VcpuDescriptor v;
  v.started = true;
  v.regs.rip = 0x7123;
  v.regs.rsp = 0x9ff8;
  Tables t;
  auto pages = first_touched_pages(v, t.reader());
  EXPECT_NE(std::find(pages.begin(), pages.end(), 0x7000ull), pages.end());
  EXPECT_NE(std::find(pages.begin(), pages.end(), 0x9000ull), pages.end());
  EXPECT_TRUE(t.read_pages.empty()) << "no tables to read";
}

TEST(HotPages, HostileRegistersCostNothing) {
  Tables t;  // every entry reads as not present
  VcpuDescriptor v = long_mode_vcpu(~0ull, ~0ull, 0);
  v.sregs.gdt.limit = 0xffff;  // capped: at most four pages are looked at
  v.sregs.tr.present = 1;
  v.sregs.tr.limit = 0xffffffff;
  EXPECT_TRUE(first_touched_pages(v, t.reader()).empty());
  EXPECT_LE(t.read_pages.size(), 1u) << "every walk stops at the root, which is not present";
  // A reader that cannot read (the root outside RAM) leaves nothing either.
  auto none = [](uint64_t) -> std::optional<uint64_t> { return std::nullopt; };
  EXPECT_TRUE(first_touched_pages(v, none).empty());
  // A vCPU the guest never started is not looked at; 32-bit paging is left to faults.
  VcpuDescriptor idle;
  EXPECT_TRUE(first_touched_pages(idle, t.reader()).empty());
  VcpuDescriptor legacy = long_mode_vcpu(0x1000, 0x1000, 0x2000);
  legacy.sregs.efer = 0;
  EXPECT_TRUE(first_touched_pages(legacy, t.reader()).empty());
}

}  // namespace
}  // namespace sf::vmm
