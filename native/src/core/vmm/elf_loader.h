// ELF loader for flat guests: a static ELF64 x86-64 executable is checked field by field and its
// PT_LOAD segments are copied to their physical addresses in guest RAM.
// Boundary: treats the file as hostile input (every offset, size and sum is checked before use);
// it only writes guest RAM, and only after the whole file has been validated.
#pragma once

#include <cstdint>
#include <span>

#include "../base/status.h"
#include "../memory/guest_memory.h"

namespace sf::vmm {

struct LoadedImage {
  uint64_t entry = 0;    // e_entry
  uint64_t lowest = 0;   // lowest loaded guest-physical address
  uint64_t highest = 0;  // one past the highest loaded address (bss included)
};

// Validates `image` and loads it into `memory`: segments at p_paddr (>= SF_IMAGE_MIN_GPA, inside one
// RAM region, vaddr == paddr because flat guests run identity-mapped), bss zeroed.
Result<LoadedImage> load_elf(std::span<const uint8_t> image, memory::GuestMemory& memory);

}  // namespace sf::vmm
