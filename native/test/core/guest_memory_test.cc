// Tests of GuestMemory: layout (the hole above 3 GiB), bounds checks (overflow, len 0, outside RAM),
// typed access and resident-page accounting. Needs no KVM.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "base/guest_abi.h"
#include "base/host_tuning.h"
#include "memory/guest_memory.h"

namespace sf::vmm {
namespace {

std::unique_ptr<memory::GuestMemory> make(uint64_t bytes) {
  auto m = memory::GuestMemory::create(bytes, /*huge_pages=*/false);  // these tests count 4 KiB pages exactly
  EXPECT_TRUE(m.ok()) << m.status().message;
  return m.ok() ? std::move(m).value() : nullptr;
}

TEST(GuestMemory, RejectsBadSizes) {
  EXPECT_EQ(memory::GuestMemory::create(0).status().code, EINVAL);
  EXPECT_EQ(memory::GuestMemory::create(1ull << 20).status().code, EINVAL);
  EXPECT_EQ(memory::GuestMemory::create((2ull << 20) + 1).status().code, EINVAL);
  EXPECT_EQ(memory::GuestMemory::create(SF_RAM_MAX + 4096).status().code, EINVAL);
}

TEST(GuestMemory, SmallRamIsOneRegionFromZero) {
  auto m = make(64ull << 20);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->regions().size(), 1u);
  EXPECT_EQ(m->regions()[0].gpa, 0u);
  EXPECT_EQ(m->regions()[0].size, 64ull << 20);
  EXPECT_EQ(m->gpa_end(), 64ull << 20);
  EXPECT_GE(m->memfd(), 0);
}

TEST(GuestMemory, LargeRamContinuesAboveFourGiB) {
  auto m = make(5ull << 30);  // NORESERVE: costs nothing until touched
  ASSERT_TRUE(m);
  ASSERT_EQ(m->regions().size(), 2u);
  EXPECT_EQ(m->regions()[0].size, SF_RAM_LOW_MAX);
  EXPECT_EQ(m->regions()[1].gpa, SF_RAM_HIGH_GPA);
  EXPECT_EQ(m->regions()[1].size, 2ull << 30);
  EXPECT_EQ(m->regions()[1].offset, SF_RAM_LOW_MAX);
  EXPECT_EQ(m->gpa_end(), 6ull << 30);
  EXPECT_TRUE(m->contains(SF_RAM_LOW_MAX - 8, 8));
  EXPECT_FALSE(m->contains(SF_RAM_LOW_MAX - 8, 16)) << "ranges cannot cross the hole";
  EXPECT_FALSE(m->contains(SF_RAM_LOW_MAX, 1)) << "the hole is not RAM";
  EXPECT_FALSE(m->contains(SF_RAM_HIGH_GPA - 1, 1));
  EXPECT_TRUE(m->contains(SF_RAM_HIGH_GPA, 1));
  EXPECT_TRUE(m->contains((6ull << 30) - 1, 1));
  EXPECT_FALSE(m->contains(6ull << 30, 1));
  // Host addresses: the high region follows the low one in the mapping.
  EXPECT_EQ(m->span(SF_RAM_HIGH_GPA, 1)->data(), m->host_base() + SF_RAM_LOW_MAX);
  ASSERT_TRUE(m->write<uint64_t>(SF_RAM_HIGH_GPA + 8, 0x1234));
  EXPECT_EQ(*m->read<uint64_t>(SF_RAM_HIGH_GPA + 8), 0x1234u);
}

TEST(GuestMemory, SpanBoundsAreOverflowSafe) {
  auto m = make(4ull << 20);
  ASSERT_TRUE(m);
  const uint64_t end = 4ull << 20;
  EXPECT_TRUE(m->span(0, end));
  EXPECT_TRUE(m->span(end - 1, 1));
  EXPECT_FALSE(m->span(end - 1, 2));
  EXPECT_FALSE(m->span(end, 1));
  EXPECT_FALSE(m->span(UINT64_MAX, 1));
  EXPECT_FALSE(m->span(UINT64_MAX - 7, 16)) << "gpa + len wraps to a small number";
  EXPECT_FALSE(m->span(16, UINT64_MAX)) << "huge length";
  EXPECT_FALSE(m->span(16, UINT64_MAX - 15));
  // len 0 is fine inside or at the end of RAM, not beyond.
  auto empty = m->span(end, 0);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_TRUE(m->span(0, 0));
  EXPECT_FALSE(m->span(end + 1, 0));
  EXPECT_FALSE(m->span(UINT64_MAX, 0));
}

TEST(GuestMemory, TypedAndByteAccess) {
  auto m = make(2ull << 20);
  ASSERT_TRUE(m);
  struct Pod {
    uint32_t a;
    uint64_t b;
  };
  ASSERT_TRUE(m->write(0x1003, Pod{7, 9}));  // unaligned is fine (copies)
  auto p = m->read<Pod>(0x1003);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->a, 7u);
  EXPECT_EQ(p->b, 9u);
  EXPECT_FALSE(m->read<uint64_t>((2ull << 20) - 4));
  EXPECT_FALSE(m->write<uint64_t>((2ull << 20) - 4, 1));
  const uint8_t bytes[3] = {1, 2, 3};
  EXPECT_TRUE(m->write_bytes(0x2000, bytes));
  uint8_t out[3] = {};
  EXPECT_TRUE(m->read_bytes(0x2000, out));
  EXPECT_EQ(out[2], 3);
  EXPECT_FALSE(m->write_bytes((2ull << 20) - 1, bytes));
}

TEST(GuestMemory, ZeroClearsExactlyTheRangeAndFreesWholePages) {
  auto m = make(2ull << 20);
  ASSERT_TRUE(m);
  auto all = m->span(0, 64 * 1024);
  std::memset(all->data(), 0xab, all->size());
  EXPECT_EQ(m->pages_touched(), 16u);
  ASSERT_TRUE(m->zero(100, 5 * 4096));  // partial first page, 4 whole pages, partial last page
  // (checked before the reads below: reading a punched page brings a zero page back)
  EXPECT_EQ(m->pages_touched(), 12u) << "the four whole pages were punched out, not written";
  EXPECT_EQ(*m->read<uint8_t>(99), 0xab);
  for (uint64_t a : {100ull, 4095ull, 4096ull, 12345ull, 100ull + 5 * 4096 - 1})
    EXPECT_EQ(*m->read<uint8_t>(a), 0) << a;
  EXPECT_EQ(*m->read<uint8_t>(100 + 5 * 4096), 0xab);
  EXPECT_TRUE(m->zero(0, 0));
  EXPECT_FALSE(m->zero((2ull << 20) - 10, 11));
}

TEST(GuestMemory, PagesTouchedCountsResidentPages) {
  auto m = make(64ull << 20);
  ASSERT_TRUE(m);
  const uint64_t before = m->pages_touched();
  EXPECT_EQ(before, 0u) << "a fresh memfd has no pages";
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(m->write<uint8_t>(i * 4096 * 3, 1));
  EXPECT_EQ(m->pages_touched(), 10u);
  EXPECT_EQ(*m->read<uint8_t>(4096 * 1000 + 7), 0);
  EXPECT_EQ(m->pages_touched(), 11u) << "reading a page through the shared mapping brings it into being too";
}

TEST(GuestMemory, VmRamUsesHugePagesWhereTheHostAllowsThem) {
  auto m = memory::GuestMemory::create(64ull << 20);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m.value()->host_base()) % (2ull << 20), 0u) << "2 MiB-aligned for huge pages";
  ASSERT_TRUE(m.value()->write<uint8_t>(4096 * 3, 1));
  const auto thp = sf::probe_shmem_huge_pages();
  std::printf("[ huge pages ] shmem mode '%s': one byte written commits %llu pages\n", thp.mode.c_str(),
              static_cast<unsigned long long>(m.value()->pages_touched()));
  EXPECT_EQ(m.value()->pages_touched(), thp.usable ? 512u : 1u);
}

TEST(GuestMemory, PagesTouchedDoesNotWalkRam) {
  // Stats are read on embedder threads (and before every destroy): the count must not cost time
  // proportional to RAM (mincore over 16 GiB takes ~300 ms on kvm_pvm hosts).
  auto m = make(16ull << 30);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->write<uint64_t>((16ull << 30) + (1ull << 30) - 8, 1));  // the last page (above the hole)
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t n = 0;
  for (int i = 0; i < 100; ++i) n = m->pages_touched();
  const auto per_call = (std::chrono::steady_clock::now() - t0) / 100;
  EXPECT_EQ(n, 1u);
  EXPECT_LT(per_call, std::chrono::milliseconds(1));
}

}  // namespace
}  // namespace sf::vmm
