// Host tuning Snowflock relies on: transparent huge pages for shmem, which guest RAM (a memfd) uses so
// that a fork's pause stays flat in memory size. Boundary: reads and (when asked) writes one sysfs knob.
// In base/ rather than memory/: it is a host probe that knows no core object, only a sysfs path.
#pragma once

#include <string>

namespace sf {

struct ShmemHugePages {
  std::string mode;      // always | within_size | advise | never | deny | force | "" (unknown)
  bool usable = false;   // guest RAM gets huge pages (mode is advise, within_size, always or force)
  bool changed = false;  // allow_shmem_huge_pages() switched it from never/deny to advise
  std::string error;     // why it could not be read or changed
};

ShmemHugePages probe_shmem_huge_pages();
// Turns "never" (or "deny") into "advise": only mappings that ask with MADV_HUGEPAGE (ours) get huge
// pages, every other shmem user is unaffected. Needs root; otherwise reports why in `error`.
ShmemHugePages allow_shmem_huge_pages();

}  // namespace sf
