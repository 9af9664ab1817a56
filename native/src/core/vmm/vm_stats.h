// VmStats: a VM's counters, declared once (base/counters.h): the snapshot struct Vm::stats() returns,
// the atomics each vCPU counts with (VcpuCounters, summed over the vCPUs), and the list the binding
// turns into JS (what lib/vm.ts parses into VmStats). Boundary: declarations only.
#pragma once

#include <cstdint>

#include "../base/counters.h"

namespace sf::vmm {

// `live` here: counted by every vCPU thread in its VcpuCounters; stats() adds them up. `derived`: filled
// in by Vm::Impl::collect_stats from the serial port, the VM's own hint counter, the vCPU threads' CPU
// clocks and guest RAM.
// clang-format off
#define SF_VM_COUNTERS(X)                                                                                    \
  X(live, exits_io, "exitsIo")                                                                               \
  X(live, exits_mmio, "exitsMmio")                                                                           \
  X(live, exits_hlt, "exitsHlt")                                                                             \
  X(live, exits_other, "exitsOther")                                                                         \
  X(live, io_unhandled, "ioUnhandled")             /* port accesses nobody owns (reads see 0xff) */          \
  X(live, hypercalls, "hypercalls")                                                                          \
  X(derived, serial_bytes, "serialBytes")          /* console output: serial THR writes + CONSOLE_WRITE */   \
  X(derived, fresh_page_hints, "freshPageHints")   /* pages named by FRESH_PAGES */                          \
  X(live, vcpu_run_ns, "vcpuRunNs")                /* wall time all vCPUs spent inside KVM_RUN */            \
  X(derived, pages_touched, "pagesTouched")        /* resident guest RAM pages (4 KiB) */                    \
  X(derived, vcpu_cpu_ns, SF_CPP_ONLY)             /* CPU time the vCPU threads used (guest, exits, devices) */ \
  X(derived, serial_idle_waits, SF_CPP_ONLY)       /* vCPUs polling an empty serial port made to wait */ \
  X(live, device_waits, SF_CPP_ONLY)               /* SF_HC_WAIT calls */                                    \
  X(live, device_wait_ns, SF_CPP_ONLY)             /* wall time vCPUs slept in SF_HC_WAIT */
// clang-format on

struct VmStats {
  SF_VM_COUNTERS(SF_COUNTER_MEMBER)
};
SF_DEFINE_COUNTERS(VmStats, VcpuCounters, SF_VM_COUNTERS)

}  // namespace sf::vmm
