// The guest ABI as the core sees it: includes native/guest's abi.h (the one definition shared with the
// guest SDK) and pins the layout facts the core relies on when copying structs in and out of guest RAM.
// Boundary: no code. Included by path so that both build systems (node-gyp, CMake) find it unchanged.
#pragma once

#include <cstddef>

#include "../../../guest/include/snowflock/abi.h"

namespace sf {

// The guest sees these structs compiled by its own compiler; any size drift here is an ABI break.
static_assert(sizeof(sf_bootinfo) == 64, "sf_bootinfo layout changed");
static_assert(sizeof(sf_hc_request) == 64, "sf_hc_request layout changed");
static_assert(offsetof(sf_hc_request, ticket) == 24, "sf_hc_request layout changed");
static_assert(sizeof(sf_hc_reply) == 4716 + 16 * SF_MAX_ALLOC, "sf_hc_reply layout changed");
static_assert(offsetof(sf_hc_reply, exits) == 4716, "sf_hc_reply layout changed");
static_assert(sizeof(sf_hc_block) == sizeof(sf_hc_reply), "the reply is the larger member of the block");
// Every vCPU's bootinfo copy must fit between SF_BOOTINFO_GPA and the page tables.
static_assert(SF_BOOTINFO_GPA + SF_MAX_VCPUS * sizeof(sf_bootinfo) <= SF_PAGETABLE_GPA, "bootinfos overlap");
static_assert(SF_PAGEDIR_GPA + SF_MAX_PAGEDIRS * SF_PAGE_SIZE <= SF_SUPERVISOR_GPA,
              "page directories run into the supervisor area");
static_assert(SF_SUPERVISOR_END + 0x10000 <= SF_BOOT_STACK_TOP && SF_BOOT_STACK_TOP <= SF_IMAGE_MIN_GPA,
              "the boot stack needs room between the supervisor area and the image");
static_assert(SF_CMDLINE_GPA + SF_CMDLINE_MAX <= SF_PAGEDIR_GPA, "command line overlaps the page directories");
// 64 GiB of RAM plus the 1 GiB hole, one PD per GiB.
static_assert((SF_RAM_MAX + (SF_RAM_HIGH_GPA - SF_RAM_LOW_MAX)) / (1ull << 30) <= SF_MAX_PAGEDIRS,
              "not enough page directories for SF_RAM_MAX");

}  // namespace sf
