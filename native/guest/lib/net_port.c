/* What lwIP asks of its platform (lwip-port/): sys_now (the time hypercall, read once per poll), diagnostics
 * and asserts, and LWIP_RAND, whose state is reseeded from the vmid and the clock the first time it is used after a fork. */
#include <lwip/sys.h>
#include <sfguest/bootinfo.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/stdlib.h>
#include <sfguest/time.h>
#include <stdarg.h>
#include "net_internal.h"

u32_t sys_now(void) { return (u32_t)sf_net_clock_ms(); }

void sf_lwip_diag(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}

void sf_lwip_assert(const char *msg, const char *file, int line) { sf_panic("lwIP: %s (%s:%d)", msg, file, line); }

/* seeded_vmid is 0 + 1 so that an unseeded state never looks seeded for the master (vmid 0). */
static struct sf_prng rand_state;
static unsigned seeded_for;

unsigned int sf_lwip_rand(void) {
  unsigned vmid = sf_vmid();
  if (seeded_for != vmid + 1) {
    /* After a fork the clone has its parent's state: mix in who it is now and when. */
    sf_prng_seed(&rand_state,
                 sf_mix64(rand_state.state ^ sf_time_ns() ^ ((uint64_t)vmid << 48) ^ ((uint64_t)sf_clusterid() << 32)));
    seeded_for = vmid + 1;
  }
  return (unsigned int)(sf_prng_next(&rand_state) >> 32);
}
