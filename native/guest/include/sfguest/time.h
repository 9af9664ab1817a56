/* A monotonic clock for flat guests: the host's monotonic nanoseconds via SF_HC_TIME_NS (one
 * exit per read, ~10 µs on the build machines: time phases, not inner loops). */
#ifndef SFGUEST_TIME_H
#define SFGUEST_TIME_H

#include <sfguest/hypercall.h>
#include <stdint.h>

/* Host monotonic ns; 0 if the VMM refused the call. Clones on other hosts see another clock. */
static inline uint64_t sf_time_ns(void) {
  long r = sf_hc_time_ns();
  return r < 0 ? 0 : (uint64_t)r;
}

#endif /* SFGUEST_TIME_H */
