/* The host tests' fake VMM (host_shim.c): answers the hypercall doorbell, plays the 16550, records
 * what the guest code did, and catches sf_terminate/sf_panic so tests can observe them. */
#ifndef TESTS_SHIM_H
#define TESTS_SHIM_H

#include <setjmp.h>
#include <snowflock/abi.h>
#include <stddef.h>

#define SHIM_MAX_HINTS 4096

struct shim_state {
  unsigned long calls[32];                          /* hypercalls seen, by number */
  unsigned long last_a0, last_a1, last_a2, last_a3; /* rdi, rsi, r8, r10 of the last hypercall */
  int console_hc_enabled;                           /* 0: SF_HC_CONSOLE_WRITE answers -SF_ENOSYS */
  size_t console_chunk;                             /* >0: accept at most this many bytes per console write */
  char console[1 << 16];
  size_t console_len;
  char uart_out[1 << 14];
  size_t uart_out_len;
  const char *uart_in;
  size_t uart_in_len, uart_in_pos;
  struct {
    unsigned long gpa, npages;
  } hints[SHIM_MAX_HINTS];
  int nhints;
  unsigned long time_ns;
  int wait_missing; /* 1: SF_HC_WAIT answers -SF_ENOSYS (a VMM without it) */
  /* Seed API calls go here; NULL answers -SF_ENOSYS. */
  long (*seed)(unsigned nr, union sf_hc_block *block);
  int seed_nr_mismatch;       /* a request whose req.nr differed from rax */
  unsigned long seed_regs[4]; /* rdi, rsi, r8, r10 of the last seed API call */
  /* sf_terminate / sf_panic longjmp here with value 1 when set (else the test aborts). */
  jmp_buf *catcher;
  int terminated_code;
  char panic_msg[256];
};

extern struct shim_state shim;

void shim_reset(void);      /* clears everything above (console hypercall enabled) */
void shim_heap_reset(void); /* re-initialises the guest heap on a fresh 64 MiB arena */
char *shim_heap_arena(size_t *size);
void shim_console_clear(void);
/* What the fake VMM's boot info says this VM is (sf_vmid); a fake fork sets it as the VMM does. */
void sf_set_vmid(unsigned vmid);

#endif /* TESTS_SHIM_H */
