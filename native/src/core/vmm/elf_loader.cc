// ELF loader for flat guests: validation of every header field, then PT_LOAD copy-in and bss zeroing.
// Boundary: hostile input in, guest RAM writes out; no KVM, no registers.
#include "elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "../base/guest_abi.h"

namespace sf::vmm {

namespace {

// Plenty for a linker-produced static executable; keeps the overlap check trivially cheap.
constexpr uint16_t kMaxProgramHeaders = 64;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Status bad(const std::string& what) { return Status::Error(ENOEXEC, "invalid guest ELF image: " + what); }

// [off, off + len) inside a file of `size` bytes, without overflow.
bool in_file(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
  // Callers guarantee a + alen and b + blen do not overflow (both lie inside RAM or the file).
  return a < b + blen && b < a + alen;
}

Status check_elf_header(const Elf64_Ehdr& eh, uint64_t size) {
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return bad("not an ELF file (bad magic)");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return bad("not a 64-bit ELF file");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return bad("not little-endian");
  if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT) return bad("unknown ELF version");
  if (eh.e_type != ET_EXEC) {
    return bad(eh.e_type == ET_DYN ? "position-independent executable (link with -no-pie -static)"
                                   : "not an executable (e_type " + std::to_string(eh.e_type) + ")");
  }
  if (eh.e_machine != EM_X86_64)
    return bad("not an x86-64 executable (e_machine " + std::to_string(eh.e_machine) + ")");
  if (eh.e_flags != 0) return bad("unexpected e_flags " + hex(eh.e_flags));
  if (eh.e_ehsize != sizeof(Elf64_Ehdr)) return bad("e_ehsize " + std::to_string(eh.e_ehsize) + " != 64");

  if (eh.e_phentsize != sizeof(Elf64_Phdr)) return bad("e_phentsize " + std::to_string(eh.e_phentsize) + " != 56");
  if (eh.e_phnum == 0) return bad("no program headers");
  if (eh.e_phnum > kMaxProgramHeaders) return bad("too many program headers (" + std::to_string(eh.e_phnum) + ")");
  const uint64_t ph_bytes = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff < sizeof(Elf64_Ehdr))
    return bad("program headers overlap the ELF header (e_phoff " + hex(eh.e_phoff) + ")");
  if (eh.e_phoff % 8 != 0) return bad("misaligned program headers (e_phoff " + hex(eh.e_phoff) + ")");
  if (!in_file(eh.e_phoff, ph_bytes, size)) return bad("program headers extend past the end of the file");

  if (eh.e_shnum != 0) {
    if (eh.e_shentsize != sizeof(Elf64_Shdr)) return bad("e_shentsize " + std::to_string(eh.e_shentsize) + " != 64");
    const uint64_t sh_bytes = uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr);
    if (eh.e_shoff < sizeof(Elf64_Ehdr)) return bad("section headers overlap the ELF header");
    if (!in_file(eh.e_shoff, sh_bytes, size)) return bad("section headers extend past the end of the file");
    if (ranges_overlap(eh.e_shoff, sh_bytes, eh.e_phoff, ph_bytes)) return bad("section and program headers overlap");
    if (eh.e_shstrndx != SHN_UNDEF && eh.e_shstrndx >= eh.e_shnum) return bad("e_shstrndx out of range");
  }
  return Status::Ok();
}

}  // namespace

Result<LoadedImage> load_elf(std::span<const uint8_t> image, memory::GuestMemory& memory) {
  const uint64_t size = image.size();
  if (size < sizeof(Elf64_Ehdr))
    return bad("truncated (" + std::to_string(size) + " bytes, smaller than an ELF header)");
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  if (Status s = check_elf_header(eh, size); !s.ok()) return s;

  // Copy the headers out once; everything below works on the copies.
  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  std::memcpy(phdrs.data(), image.data() + eh.e_phoff, phdrs.size() * sizeof(Elf64_Phdr));

  std::vector<const Elf64_Phdr*> loads;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    const Elf64_Phdr& ph = phdrs[i];
    const std::string where = "program header " + std::to_string(i) + ": ";
    if (!in_file(ph.p_offset, ph.p_filesz, size)) return bad(where + "file range extends past the end of the file");
    if (ph.p_align > 1 && (ph.p_align & (ph.p_align - 1)) != 0) return bad(where + "p_align is not a power of two");
    switch (ph.p_type) {
      case PT_INTERP:
      case PT_DYNAMIC: return bad(where + "dynamic executable (link with -static)");
      case PT_TLS: return bad(where + "thread-local storage is not supported in flat guests");
      case PT_LOAD: break;
      default: continue;  // notes, GNU_STACK, GNU_PROPERTY...: nothing to load
    }
    if (ph.p_filesz > ph.p_memsz) return bad(where + "p_filesz " + hex(ph.p_filesz) + " > p_memsz " + hex(ph.p_memsz));
    if (ph.p_memsz == 0) continue;
    if (ph.p_vaddr != ph.p_paddr) {
      return bad(where + "p_vaddr " + hex(ph.p_vaddr) + " != p_paddr " + hex(ph.p_paddr) +
                 " (flat guests run identity-mapped)");
    }
    if (ph.p_paddr < SF_IMAGE_MIN_GPA) {
      return bad(where + "segment at " + hex(ph.p_paddr) + " is below " + hex(SF_IMAGE_MIN_GPA) + " (VMM boot data)");
    }
    if (!memory.contains(ph.p_paddr, ph.p_memsz)) {
      return bad(where + "segment [" + hex(ph.p_paddr) + ", +" + hex(ph.p_memsz) + ") is outside guest RAM");
    }
    for (const Elf64_Phdr* other : loads) {
      if (ranges_overlap(ph.p_paddr, ph.p_memsz, other->p_paddr, other->p_memsz)) {
        return bad(where + "segment overlaps another PT_LOAD segment");
      }
    }
    loads.push_back(&ph);
  }
  if (loads.empty()) return bad("no loadable segment");

  const bool entry_ok = std::any_of(loads.begin(), loads.end(), [&](const Elf64_Phdr* ph) {
    return (ph->p_flags & PF_X) != 0 && eh.e_entry >= ph->p_paddr && eh.e_entry - ph->p_paddr < ph->p_memsz;
  });
  if (!entry_ok) return bad("entry point " + hex(eh.e_entry) + " is not inside an executable segment");

  // Everything checked: now write guest RAM.
  LoadedImage out;
  out.entry = eh.e_entry;
  out.lowest = UINT64_MAX;
  for (const Elf64_Phdr* ph : loads) {
    auto dst = memory.span(ph->p_paddr, ph->p_memsz);  // checked above; cannot fail
    if (!dst) return bad("internal: segment vanished from RAM");
    if (ph->p_filesz != 0) std::memcpy(dst->data(), image.data() + ph->p_offset, ph->p_filesz);
    // bss: RAM starts zeroed, but an earlier load may have written there. zero() punches whole pages
    // out instead of touching them, so a large bss costs no memory and no page faults.
    memory.zero(ph->p_paddr + ph->p_filesz, ph->p_memsz - ph->p_filesz);
    out.lowest = std::min<uint64_t>(out.lowest, ph->p_paddr);
    out.highest = std::max<uint64_t>(out.highest, ph->p_paddr + ph->p_memsz);
  }
  return out;
}

}  // namespace sf::vmm
