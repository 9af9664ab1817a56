/* Deterministic pseudo-random numbers for workloads and tests (splitmix64): the same seed gives
 * the same stream in every VM of a cluster and on the host, so results can be recomputed. */
#ifndef SFGUEST_PRNG_H
#define SFGUEST_PRNG_H

#include <stdint.h>

struct sf_prng {
  uint64_t state;
};

static inline void sf_prng_seed(struct sf_prng *r, uint64_t seed) { r->state = seed; }

/* splitmix64's finaliser on its own: a good 64-bit mixing function. */
static inline uint64_t sf_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline uint64_t sf_prng_next(struct sf_prng *r) {
  r->state += 0x9e3779b97f4a7c15ull;
  return sf_mix64(r->state);
}

/* Uniform in [0, n) for n > 0 (multiply-shift; bias is below 2^-32 for the n used here). */
static inline uint32_t sf_prng_below(struct sf_prng *r, uint32_t n) {
  return (uint32_t)(((sf_prng_next(r) >> 32) * (uint64_t)n) >> 32);
}

#endif /* SFGUEST_PRNG_H */
