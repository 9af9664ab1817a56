// Counter sets declared once: the macros that turn one X-macro field list into the plain snapshot struct's
// members, the live atomic counters, the copy from live to snapshot, and a visitor the binding walks.
// Boundary: code generation only (no napi.h); each set's list lives beside the object that counts it.
//
// A set is a macro taking X and listing X(kind, field, js) entries in the order JS sees them:
//   kind   live     an std::atomic<uint64_t> in the set's live-counter struct; the copy loads it
//          derived  a uint64_t the owner's stats() fills in by hand (a bitmap count, a percentile, a sum,
//                   a gauge read from elsewhere)
//          flag     a bool the owner's stats() fills in by hand
//   field  the member's name, in the snapshot struct and (for live) in the live-counter struct
//   js     the key of the binding's JS object, or SF_CPP_ONLY for a figure JS never sees
#pragma once

#include <atomic>
#include <cstdint>

// The js entry of a figure that C++ reads but the binding leaves out of its JS object.
#define SF_CPP_ONLY nullptr

#define SF_COUNTER_TYPE_live uint64_t
#define SF_COUNTER_TYPE_derived uint64_t
#define SF_COUNTER_TYPE_flag bool

// Snapshot struct members: `struct FooStats { SF_FOO_COUNTERS(SF_COUNTER_MEMBER) };`
#define SF_COUNTER_MEMBER(kind, field, js) SF_COUNTER_TYPE_##kind field{};

#define SF_COUNTER_ATOMIC_live(field) std::atomic<uint64_t> field{0};
#define SF_COUNTER_ATOMIC_derived(field)
#define SF_COUNTER_ATOMIC_flag(field)
#define SF_COUNTER_ATOMIC(kind, field, js) SF_COUNTER_ATOMIC_##kind(field)

#define SF_COUNTER_ADD_live(field) stats.field += live.field.load(std::memory_order_relaxed);
#define SF_COUNTER_ADD_derived(field)
#define SF_COUNTER_ADD_flag(field)
#define SF_COUNTER_ADD(kind, field, js) SF_COUNTER_ADD_##kind(field)

#define SF_COUNTER_VISIT(kind, field, js) visit(static_cast<const char*>(js), stats.field);

// Next to `struct Stats { LIST(SF_COUNTER_MEMBER) ... };` this defines, in the same namespace:
//   struct Counters                          the live atomics (the owner increments them directly)
//   add_counters(const Counters&, Stats&)    adds every live counter into the snapshot (a plain copy when
//                                            the snapshot starts at zero; a sum over several owners)
//   for_each_counter(const Stats&, visit)    calls visit(js_key_or_null, value) for every field, in order
#define SF_DEFINE_COUNTERS(Stats, Counters, LIST)                                       \
  struct Counters {                                                                     \
    LIST(SF_COUNTER_ATOMIC)                                                             \
  };                                                                                    \
  inline void add_counters(const Counters& live, Stats& stats) { LIST(SF_COUNTER_ADD) } \
  template <class Visit>                                                                \
  void for_each_counter(const Stats& stats, Visit&& visit) {                            \
    LIST(SF_COUNTER_VISIT)                                                              \
  }
