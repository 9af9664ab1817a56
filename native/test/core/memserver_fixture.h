// Shared fixtures of the memserver tests: a snapshot memfd with holes, zero pages and distinct data
// pages (and the bytes each page must read as), a per-snapshot test key, and anonymous clone RAM
// served by a memtap. Boundary: test support only; no sockets, no servers.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "base/unique_fd.h"
#include "memory/memtap.h"
#include "memserver/page_wire.h"

namespace sf::memserver::test {

constexpr uint64_t kPg = 4096;

// A test key; `salt` makes a different (wrong) one for forged messages.
inline SnapshotKey test_key(uint8_t salt = 0) {
  SnapshotKey k;
  for (int i = 0; i < 16; ++i) k[i] = static_cast<uint8_t>(0x30 + i + salt);
  return k;
}

// A snapshot memfd: page p is a hole when p % 5 == 3, allocated-but-zero when p % 7 == 2, otherwise
// distinct bytes; `expect` holds what every page must read as.
struct Snapshot {
  sf::UniqueFd fd;
  uint64_t pages;
  std::vector<uint8_t> expect;
  explicit Snapshot(uint64_t n) : pages(n), expect(n * kPg, 0) {
    fd = sf::UniqueFd(::memfd_create("memserver-test", MFD_CLOEXEC));
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(n * kPg)), 0);
    for (uint64_t p = 0; p < n; ++p) {
      if (is_hole(p)) continue;
      uint8_t* data = expect.data() + p * kPg;
      if (p % 7 != 2) {
        uint64_t x = p * 0x9e3779b97f4a7c15ull + 1;
        for (uint64_t i = 0; i < kPg; i += 8) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          std::memcpy(data + i, &x, 8);
        }
      }
      EXPECT_EQ(::pwrite(fd.get(), data, kPg, static_cast<off_t>(p * kPg)), static_cast<ssize_t>(kPg));
    }
  }
  static bool is_hole(uint64_t p) { return p % 5 == 3; }
  uint64_t bytes() const { return pages * kPg; }
  const uint8_t* page(uint64_t p) const { return expect.data() + p * kPg; }
};

// Anonymous memory for a clone; unmapped last (after the memtap that serves it).
struct CloneRam {
  uint8_t* ram = nullptr;
  uint64_t bytes;
  std::unique_ptr<memory::Memtap> tap;
  CloneRam(uint64_t b, std::shared_ptr<memory::PageSource> src, memory::MemtapOptions opts = {}) : bytes(b) {
    ram = static_cast<uint8_t*>(
        ::mmap(nullptr, b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    EXPECT_NE(ram, MAP_FAILED);
    auto t = memory::Memtap::create(ram, b, std::move(src), std::move(opts));
    EXPECT_TRUE(t.ok()) << t.status().message;
    if (t.ok()) tap = std::move(t).value();
  }
  ~CloneRam() {
    tap.reset();
    ::munmap(ram, bytes);
  }
  CloneRam(const CloneRam&) = delete;
  CloneRam& operator=(const CloneRam&) = delete;
  uint64_t word(uint64_t p, uint64_t off = 8) const {
    return *reinterpret_cast<volatile uint64_t*>(ram + p * kPg + off);
  }
  bool page_ok(const Snapshot& s, uint64_t p) const { return std::memcmp(ram + p * kPg, s.page(p), kPg) == 0; }
};

}  // namespace sf::memserver::test
