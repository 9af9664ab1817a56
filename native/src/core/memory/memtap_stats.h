// MemtapStats: a lazy clone's memory counters, declared once (base/counters.h): the snapshot struct,
// the atomics a Memtap counts with, and the list the binding turns into JS (lib MemtapStats).
// Boundary: declarations only; Memtap::stats() fills the derived fields.
#pragma once

#include <cstdint>

#include "../base/counters.h"

namespace sf::memory {

// clang-format off
#define SF_MEMTAP_COUNTERS(X)                                                                              \
  X(live, faults, "faults")                  /* page faults served by the service thread */                \
  X(live, pages_copied, "pagesCopied")       /* pages filled from the source (faults and prefetch) */      \
  X(live, zero_pages, "zeroPages")           /* zero-filled (source zero page or FRESH_PAGES), no copy */  \
  X(live, prefetched, "prefetched")          /* filled by prefetch() (also in pages_copied / zero_pages) */ \
  X(live, fresh_hints, "freshHints")         /* pages named by hint_fresh() */                             \
  X(live, already_present, "alreadyPresent") /* fills that found the page there (EEXIST: another filler) */ \
  X(derived, present, "present")             /* presence bits set (mapped, or claimed and being fetched) */ \
  /* Not plain counters: percentiles of the fault service time (message read → page mapped), computed */  \
  /* by Memtap::stats() from its sample of latencies. */                                                   \
  X(derived, p50_ns, "p50Ns")                                                                              \
  X(derived, p99_ns, "p99Ns")                                                                              \
  X(derived, max_ns, "maxNs")                                                                              \
  /* Every fault's service time counted in one bucket (upper bounds inclusive, not cumulative), and their */ \
  /* sum: a histogram over all faults (the percentiles above come from a capped sample). */                \
  X(live, fault_ns_sum, "faultNsSum")                                                                      \
  X(live, faults_within_10us, "faultsWithin10us")                                                          \
  X(live, faults_within_25us, "faultsWithin25us")                                                          \
  X(live, faults_within_50us, "faultsWithin50us")                                                          \
  X(live, faults_within_100us, "faultsWithin100us")                                                        \
  X(live, faults_within_250us, "faultsWithin250us")                                                        \
  X(live, faults_within_500us, "faultsWithin500us")                                                        \
  X(live, faults_within_1ms, "faultsWithin1ms")                                                            \
  X(live, faults_within_2500us, "faultsWithin2500us")                                                      \
  X(live, faults_within_10ms, "faultsWithin10ms")                                                          \
  X(live, faults_within_100ms, "faultsWithin100ms")                                                        \
  X(live, faults_over_100ms, "faultsOver100ms")                                                            \
  X(live, fetch_failures, SF_CPP_ONLY)       /* faults the source could not answer (the thread stays parked) */
// clang-format on

struct MemtapStats {
  SF_MEMTAP_COUNTERS(SF_COUNTER_MEMBER)
};
SF_DEFINE_COUNTERS(MemtapStats, MemtapCounters, SF_MEMTAP_COUNTERS)

}  // namespace sf::memory
