// The pages a clone's vCPU touches first when it resumes: its code and stack, the descriptor tables and TSS
// it needs for a privilege switch, and the page-table pages that translate them (DESIGN §4.4, issue 19).
// Boundary: pure address arithmetic over the vCPU's registers; how a page table entry is read (and its page
// fetched first) is the caller's, so a lazy clone can prefetch every table page on the way down.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "descriptor.h"

namespace sf::vmm {

// Reads the 8-byte page-table entry at guest-physical `gpa` (after making its page present); nullopt when
// the address is outside RAM.
using TableEntryReader = std::function<std::optional<uint64_t>(uint64_t gpa)>;

// Guest-physical page bases (4 KiB aligned, no duplicates) of what `v` touches first. Page-table pages are
// visited through `read_entry` on the way (they are not in the result). Untranslatable addresses are
// skipped: a descriptor is untrusted, and a wrong guess only costs a fault later.
std::vector<uint64_t> first_touched_pages(const VcpuDescriptor& v, const TableEntryReader& read_entry);

}  // namespace sf::vmm
