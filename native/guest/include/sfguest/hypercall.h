/* The hypercall doorbell of snowflock/abi.h as inline functions: rax = number, arguments in rdi,
 * rsi, r8, r10, `out %eax,%dx` with dx = SF_HC_PORT, status (>= 0) or -SF_E* back in rax; the VMM
 * preserves every other register. Under SF_HOST_TEST the doorbell is a plain function supplied by
 * the host tests' fake VMM. */
#ifndef SFGUEST_HYPERCALL_H
#define SFGUEST_HYPERCALL_H

#include <snowflock/abi.h>

#ifdef SF_HOST_TEST
long sf_host_hypercall(unsigned long nr, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3);
#endif

/* "memory": the VMM reads and writes the guest memory the arguments name. */
static inline long sf_hc4(unsigned long nr, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3) {
#ifdef SF_HOST_TEST
  return sf_host_hypercall(nr, a0, a1, a2, a3);
#else
  register unsigned long r8 __asm__("r8") = a2;
  register unsigned long r10 __asm__("r10") = a3;
  long ret;
  __asm__ volatile("outl %%eax, %%dx"
                   : "=a"(ret)
                   : "a"(nr), "d"(SF_HC_PORT), "D"(a0), "S"(a1), "r"(r8), "r"(r10)
                   : "memory");
  return ret;
#endif
}

static inline long sf_hc2(unsigned long nr, unsigned long a0, unsigned long a1) { return sf_hc4(nr, a0, a1, 0, 0); }
static inline long sf_hc1(unsigned long nr, unsigned long a0) { return sf_hc4(nr, a0, 0, 0, 0); }
static inline long sf_hc0(unsigned long nr) { return sf_hc4(nr, 0, 0, 0, 0); }

/* Typed wrappers for the non-seed calls (the seed API lives in sf.h). */
static inline long sf_hc_console_write(const void *buf, unsigned long len) {
  return sf_hc2(SF_HC_CONSOLE_WRITE, (unsigned long)buf, len);
}
static inline long sf_hc_fresh_pages(unsigned long gpa, unsigned long npages) {
  return sf_hc2(SF_HC_FRESH_PAGES, gpa, npages);
}
static inline long sf_hc_time_ns(void) { return sf_hc0(SF_HC_TIME_NS); }
/* Sleeps until a device has news, timeout_ns (the VMM caps it at SF_WAIT_MAX_NS) or the VMM needs the vCPU;
 * returns the host monotonic ns then, or -SF_ENOSYS from a VMM without SF_HC_WAIT. */
static inline long sf_hc_wait(unsigned long timeout_ns) { return sf_hc1(SF_HC_WAIT, timeout_ns); }
static inline long sf_hc_nop(void) { return sf_hc0(SF_HC_NOP); }

/* SF_HC_PANIC(vector, rip, gpa_msg, len): does not return. */
static inline long sf_hc_panic(unsigned long vector, unsigned long rip, const char *msg, unsigned long len) {
  return sf_hc4(SF_HC_PANIC, vector, rip, (unsigned long)msg, len);
}

#endif /* SFGUEST_HYPERCALL_H */
