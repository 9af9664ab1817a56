// Tests of the boot tables: the identity map covers all RAM (and the hole), user mode sets the U bit
// and writes a well-formed supervisor (IDT gates, entry stubs, TSS with I/O bitmap). Needs no KVM.
#include <gtest/gtest.h>

#include "base/guest_abi.h"
#include "vmm/long_mode.h"

namespace sf::vmm {
namespace {

// Walks the identity map like the CPU does; returns the physical address or ~0 when unmapped.
uint64_t translate(const memory::GuestMemory& m, uint64_t va, bool* user) {
  *user = true;
  uint64_t table = SF_PAGETABLE_GPA;
  for (int level = 0; level < 3; ++level) {
    const int shift = 39 - level * 9;
    auto e = m.read<uint64_t>(table + ((va >> shift) & 511) * 8);
    if (!e || (*e & 1) == 0) return ~0ull;
    *user = *user && (*e & 4);
    if (level == 2) {
      EXPECT_TRUE(*e & 0x80) << "2 MiB pages";
      return (*e & 0x000fffffffe00000ull) | (va & 0x1fffff);
    }
    table = *e & 0x000ffffffffff000ull;
  }
  return ~0ull;
}

TEST(LongMode, IdentityMapCoversAllRamInKernelMode) {
  auto m = std::move(memory::GuestMemory::create(64ull << 20, /*huge_pages=*/false)).value();
  ASSERT_TRUE(write_boot_tables(*m, GuestPrivilege::kernel, 1).ok());
  bool user;
  for (uint64_t va : std::initializer_list<uint64_t>{0, 0x100000, (64ull << 20) - 1, (1ull << 30) - 1}) {
    EXPECT_EQ(translate(*m, va, &user), va);
    EXPECT_FALSE(user) << "kernel mode: supervisor pages";
  }
  // Small RAM still maps the GiB of the virtio-mmio windows (drivers reach them at the ABI's addresses), and
  // nothing above 4 GiB.
  EXPECT_EQ(translate(*m, SF_VIRTIO_MMIO_GPA, &user), SF_VIRTIO_MMIO_GPA);
  EXPECT_EQ(translate(*m, SF_VIRTIO_MMIO_GPA + SF_MAX_DEVICES * SF_VIRTIO_MMIO_STRIDE - 1, &user),
            SF_VIRTIO_MMIO_GPA + SF_MAX_DEVICES * SF_VIRTIO_MMIO_STRIDE - 1);
  EXPECT_EQ(translate(*m, 4ull << 30, &user), ~0ull) << "four GiB mapped for 64 MiB of RAM";
  auto gdt = m->read<uint64_t>(SF_GDT_GPA + 0x10);
  EXPECT_EQ(*gdt, 0x00af9b000000ffffull);
}

TEST(LongMode, IdentityMapCoversRamAboveTheHole) {
  const uint64_t ram = (4ull << 30) + (2ull << 20);
  auto m = std::move(memory::GuestMemory::create(ram, /*huge_pages=*/false)).value();
  ASSERT_TRUE(write_boot_tables(*m, GuestPrivilege::user, 2).ok());
  const uint64_t top = SF_RAM_HIGH_GPA + (ram - SF_RAM_LOW_MAX);
  EXPECT_EQ(page_directories_for(m->gpa_end()), 6u);
  bool user;
  for (uint64_t va : std::initializer_list<uint64_t>{0, SF_RAM_LOW_MAX - 1, SF_RAM_LOW_MAX /* hole: mapped, MMIO */,
                                                     SF_RAM_HIGH_GPA, top - 1}) {
    EXPECT_EQ(translate(*m, va, &user), va);
    EXPECT_TRUE(user);
  }
  EXPECT_LT(m->pages_touched(), 200u) << "tables and supervisor only";
}

TEST(LongMode, MaximumRamFitsThePageDirectories) {
  auto m = memory::GuestMemory::create(SF_RAM_MAX);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(write_boot_tables(*m.value(), GuestPrivilege::user, SF_MAX_VCPUS).ok());
  bool user;
  const uint64_t top = SF_RAM_HIGH_GPA + (SF_RAM_MAX - SF_RAM_LOW_MAX);
  EXPECT_EQ(translate(*m.value(), top - 1, &user), top - 1);
}

TEST(LongMode, UserModeSupervisorIsWellFormed) {
  auto m = std::move(memory::GuestMemory::create(64ull << 20, /*huge_pages=*/false)).value();
  ASSERT_TRUE(write_boot_tables(*m, GuestPrivilege::user, 4).ok());
  using L = SupervisorLayout;
  for (int v = 0; v < 32; ++v) {
    auto lo = m->read<uint64_t>(L::kIdt + v * 16);
    const uint64_t target = (*lo & 0xffff) | ((*lo >> 32) & 0xffff0000);
    EXPECT_EQ(target, L::kEntryStubs + v * 16) << "vector " << v;
    EXPECT_EQ((*lo >> 40) & 0xff, 0x8eu) << "present interrupt gate";
    EXPECT_EQ((*lo >> 16) & 0xffff, 0x10u) << "kernel code selector";
    // The stub pushes the vector and jumps to the common handler.
    auto stub = m->span(L::kEntryStubs + v * 16, 16);
    const bool has_error = v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
    const uint8_t* p = stub->data() + (has_error ? 0 : 2);
    EXPECT_EQ(p[0], 0x6a);
    EXPECT_EQ(p[1], v);
    EXPECT_EQ(p[2], 0xe9);
    int32_t rel;
    std::memcpy(&rel, p + 3, 4);
    EXPECT_EQ(L::kEntryStubs + v * 16 + (p + 7 - stub->data()) + rel, L::kCommon);
  }
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(*m->read<uint64_t>(L::tss(i) + 4), L::ring0_stack_top(i));
    EXPECT_EQ(*m->read<uint16_t>(L::tss(i) + 0x66), L::kIoBitmap - L::tss(i));
  }
  EXPECT_EQ(*m->read<uint8_t>(L::kIoBitmap + SF_HC_PORT / 8), 0) << "the doorbell is allowed";
  EXPECT_EQ(*m->read<uint8_t>(L::kIoBitmap + 8192), 0xff) << "terminator";
  EXPECT_EQ(*m->read<uint64_t>(SF_GDT_GPA + 0x28), 0x00affb000000ffffull) << "user code64";
}

}  // namespace
}  // namespace sf::vmm
