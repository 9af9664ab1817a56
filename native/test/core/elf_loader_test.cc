// Tests of the ELF loader against valid and hostile images: every malformed header must be rejected
// with a message, nothing may be read out of bounds, and nothing is written to RAM on failure.
// Needs no KVM.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "base/guest_abi.h"
#include "test_support.h"
#include "vmm/elf_loader.h"

namespace sf::vmm {
namespace {

constexpr uint64_t kRam = 4ull << 20;

// A minimal valid image: one R+X segment at 1 MiB (4 bytes of file data, 8 KiB in memory).
struct Image {
  Elf64_Ehdr eh{};
  std::vector<Elf64_Phdr> ph;
  std::vector<uint8_t> code = {0x90, 0x90, 0xf4, 0xcc};
  uint64_t code_offset = 0x1000;

  Image() {
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = 0x100000;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    Elf64_Phdr p{};
    p.p_type = PT_LOAD;
    p.p_flags = PF_R | PF_X;
    p.p_offset = code_offset;
    p.p_vaddr = p.p_paddr = 0x100000;
    p.p_filesz = code.size();
    p.p_memsz = 0x2000;
    p.p_align = 0x1000;
    ph.push_back(p);
  }

  std::vector<uint8_t> bytes() {
    eh.e_phnum = static_cast<uint16_t>(ph.size());
    std::vector<uint8_t> out(code_offset + code.size(), 0);
    std::memcpy(out.data(), &eh, sizeof eh);
    // Headers go where e_phoff says, unless that would overwrite the ELF header (then they sit at
    // their usual place and only e_phoff is wrong).
    const uint64_t at = eh.e_phoff < sizeof(Elf64_Ehdr) ? sizeof(Elf64_Ehdr) : eh.e_phoff;
    if (at <= out.size() && ph.size() * sizeof(Elf64_Phdr) <= out.size() - at) {
      std::memcpy(out.data() + at, ph.data(), ph.size() * sizeof(Elf64_Phdr));
    }
    std::memcpy(out.data() + code_offset, code.data(), code.size());
    return out;
  }
};

class ElfLoader : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = memory::GuestMemory::create(kRam);
    ASSERT_TRUE(m.ok());
    mem = std::move(m).value();
  }
  // Expects rejection with a message containing `what`, and no byte of RAM written.
  void expect_rejected(const std::vector<uint8_t>& image, const std::string& what) {
    auto r = load_elf(image, *mem);
    ASSERT_FALSE(r.ok()) << "accepted an image that should fail with: " << what;
    EXPECT_EQ(r.status().code, ENOEXEC);
    EXPECT_NE(r.status().message.find(what), std::string::npos) << r.status().message;
    EXPECT_EQ(mem->pages_touched(), 0u) << "a rejected image must not write guest RAM";
  }
  std::unique_ptr<memory::GuestMemory> mem;
};

TEST_F(ElfLoader, LoadsAValidImageAndZeroesBss) {
  Image img;
  // Dirty the bss range first: the loader must zero it.
  ASSERT_TRUE(mem->write<uint32_t>(0x100000 + 0x1000, 0xdeadbeef));
  auto r = load_elf(img.bytes(), *mem);
  ASSERT_TRUE(r.ok()) << r.status().message;
  EXPECT_EQ(r->entry, 0x100000u);
  EXPECT_EQ(r->lowest, 0x100000u);
  EXPECT_EQ(r->highest, 0x102000u);
  EXPECT_EQ(*mem->read<uint32_t>(0x100000), 0xccf49090u);
  EXPECT_EQ(*mem->read<uint32_t>(0x101000), 0u);
}

TEST_F(ElfLoader, LoadsTheTestGuest) {
  auto r = load_elf(test::guest_image(), *mem);
  ASSERT_TRUE(r.ok()) << r.status().message;
  EXPECT_GE(r->entry, SF_IMAGE_MIN_GPA);
}

TEST_F(ElfLoader, RejectsTruncatedFiles) {
  expect_rejected({}, "truncated");
  expect_rejected(std::vector<uint8_t>(63, 0x7f), "truncated");
  auto bytes = Image().bytes();
  bytes.resize(100);  // ELF header complete, program header cut
  expect_rejected(bytes, "program headers extend past the end of the file");
  bytes = Image().bytes();
  bytes.resize(0x1002);  // segment data cut
  expect_rejected(bytes, "file range extends past the end of the file");
}

TEST_F(ElfLoader, RejectsBadIdentAndHeaderFields) {
  struct Case {
    void (*mutate)(Image&);
    const char* what;
  };
  const Case cases[] = {
      {[](Image& i) { i.eh.e_ident[0] = 0; }, "bad magic"},
      {[](Image& i) { i.eh.e_ident[EI_CLASS] = ELFCLASS32; }, "not a 64-bit"},
      {[](Image& i) { i.eh.e_ident[EI_DATA] = ELFDATA2MSB; }, "not little-endian"},
      {[](Image& i) { i.eh.e_version = 0; }, "unknown ELF version"},
      {[](Image& i) { i.eh.e_type = ET_DYN; }, "position-independent"},
      {[](Image& i) { i.eh.e_type = ET_REL; }, "not an executable"},
      {[](Image& i) { i.eh.e_machine = EM_386; }, "not an x86-64"},
      {[](Image& i) { i.eh.e_flags = 1; }, "e_flags"},
      {[](Image& i) { i.eh.e_ehsize = 52; }, "e_ehsize"},
      {[](Image& i) { i.eh.e_phentsize = 32; }, "e_phentsize"},
      {[](Image& i) { i.ph.clear(); }, "no program headers"},
      {[](Image& i) {
         i.eh.e_shnum = 3;
         i.eh.e_shentsize = 10;
       },
       "e_shentsize"},
      {[](Image& i) {
         i.eh.e_shnum = 3;
         i.eh.e_shentsize = 64;
         i.eh.e_shoff = 0x100000;
       },
       "section headers extend"},
      {[](Image& i) {
         i.eh.e_shnum = 1;
         i.eh.e_shentsize = 64;
         i.eh.e_shoff = 64;
       },
       "section and program headers overlap"},
      {[](Image& i) {
         i.eh.e_shnum = 1;
         i.eh.e_shentsize = 64;
         i.eh.e_shoff = 0x200;
         i.eh.e_shstrndx = 5;
       },
       "e_shstrndx"},
  };
  for (const Case& c : cases) {
    Image img;
    c.mutate(img);
    SCOPED_TRACE(c.what);
    expect_rejected(img.bytes(), c.what);
  }
}

TEST_F(ElfLoader, RejectsBadProgramHeaderTables) {
  Image img;
  img.eh.e_phoff = 0;
  expect_rejected(img.bytes(), "overlap the ELF header");
  img.eh.e_phoff = 32;
  expect_rejected(img.bytes(), "overlap the ELF header");
  img.eh.e_phoff = 65;
  expect_rejected(img.bytes(), "misaligned");
  img.eh.e_phoff = UINT64_MAX - 7;  // phoff + size wraps
  expect_rejected(img.bytes(), "extend past the end");
  img.eh.e_phoff = 0x10000;
  expect_rejected(img.bytes(), "extend past the end");
  Image many;
  many.ph.resize(65, many.ph[0]);
  many.code_offset = 0x2000;
  expect_rejected(many.bytes(), "too many program headers");
}

TEST_F(ElfLoader, RejectsBadSegments) {
  struct Case {
    void (*mutate)(Image&);
    const char* what;
  };
  const Case cases[] = {
      {[](Image& i) { i.ph[0].p_memsz = 2; }, "p_filesz 0x4 > p_memsz 0x2"},
      {[](Image& i) { i.ph[0].p_offset = UINT64_MAX - 1; }, "file range extends past"},
      {[](Image& i) {
         i.ph[0].p_paddr = i.ph[0].p_vaddr = 0x1000;
         i.eh.e_entry = 0x1000;
       },
       "below 0x100000"},
      {[](Image& i) {
         i.ph[0].p_paddr = i.ph[0].p_vaddr = kRam - 0x1000;
         i.eh.e_entry = kRam - 0x1000;
       },
       "outside guest RAM"},
      {[](Image& i) {
         i.ph[0].p_paddr = i.ph[0].p_vaddr = UINT64_MAX - 0xfff;
         i.eh.e_entry = UINT64_MAX - 0xfff;
       },
       "outside guest RAM"},
      {[](Image& i) { i.ph[0].p_memsz = UINT64_MAX; }, "outside guest RAM"},
      {[](Image& i) { i.ph[0].p_vaddr = 0xffffffff80100000ull; }, "identity-mapped"},
      {[](Image& i) { i.ph[0].p_align = 3; }, "power of two"},
      {[](Image& i) { i.ph[0].p_type = PT_INTERP; }, "dynamic executable"},
      {[](Image& i) { i.ph[0].p_type = PT_DYNAMIC; }, "dynamic executable"},
      {[](Image& i) { i.ph[0].p_type = PT_TLS; }, "thread-local storage"},
      {[](Image& i) { i.ph[0].p_type = PT_NOTE; }, "no loadable segment"},
      {[](Image& i) { i.eh.e_entry = 0x200000; }, "not inside an executable segment"},
      {[](Image& i) { i.ph[0].p_flags = PF_R | PF_W; }, "not inside an executable segment"},
      {[](Image& i) {
         Elf64_Phdr second = i.ph[0];
         second.p_paddr = second.p_vaddr = 0x101000;  // inside the first one's bss
         second.p_flags = PF_R;
         i.ph.push_back(second);
       },
       "overlaps another PT_LOAD"},
      {[](Image& i) {
         Elf64_Phdr bad = i.ph[0];
         bad.p_paddr = bad.p_vaddr = kRam;  // the first segment is fine, the second is not
         i.ph.push_back(bad);
       },
       "outside guest RAM"},
  };
  for (const Case& c : cases) {
    Image img;
    c.mutate(img);
    SCOPED_TRACE(c.what);
    expect_rejected(img.bytes(), c.what);
  }
}

TEST_F(ElfLoader, IgnoresEmptyAndNonLoadSegments) {
  Image img;
  Elf64_Phdr note{};
  note.p_type = PT_GNU_STACK;
  img.ph.push_back(note);
  Elf64_Phdr empty = img.ph[0];
  empty.p_memsz = empty.p_filesz = 0;
  empty.p_paddr = empty.p_vaddr = 0;  // would be invalid if it had a size
  img.ph.push_back(empty);
  auto r = load_elf(img.bytes(), *mem);
  EXPECT_TRUE(r.ok()) << r.status().message;
}

// Random corruption of real and synthetic images: the loader may accept or reject, but must never
// read or write out of bounds (run under ASan/valgrind for full effect) and must not crash.
TEST_F(ElfLoader, SurvivesRandomCorruption) {
  std::mt19937_64 rng(12345);
  const std::vector<std::vector<uint8_t>> seeds = {Image().bytes(), test::guest_image()};
  size_t accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> img = seeds[iter % seeds.size()];
    if (img.empty()) continue;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) {
      // Mostly hit the headers, where the interesting fields are.
      const size_t limit = std::min<size_t>(img.size(), (rng() & 1) ? 64 + 56 * 4 : img.size());
      img[rng() % limit] = static_cast<uint8_t>(rng());
    }
    if (rng() % 10 == 0) img.resize(rng() % (img.size() + 1));
    auto r = load_elf(img, *mem);
    if (r.ok()) {
      ++accepted;
      EXPECT_GE(r->lowest, SF_IMAGE_MIN_GPA);
      EXPECT_LE(r->highest, kRam);
    } else {
      EXPECT_FALSE(r.status().message.empty());
    }
  }
  RecordProperty("accepted", static_cast<int>(accepted));
}

}  // namespace
}  // namespace sf::vmm
