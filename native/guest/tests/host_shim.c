/* The fake VMM behind SF_HOST_TEST builds: the doorbell (sf_host_hypercall), the UART ports, the
 * bits of lib/start.c and lib/exit.c the pure code calls (vmid, sf_terminate, sf_panic). */
#include <setjmp.h>
#include <sfguest/hypercall.h>
#include <sfguest/io.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include "host_threads.h"
#include "shim.h"

struct shim_state shim;

#define ARENA_SIZE (64u << 20)
static char arena[ARENA_SIZE] __attribute__((aligned(4096)));
static unsigned vmid;

void shim_reset(void) {
  memset(&shim, 0, sizeof shim);
  shim.console_hc_enabled = 1;
}

void shim_console_clear(void) {
  shim.console_len = 0;
  shim.console[0] = 0;
  shim.uart_out_len = 0;
  shim.uart_out[0] = 0;
}

void shim_heap_reset(void) {
  sf_heap_init(arena, arena + ARENA_SIZE);
  shim.nhints = 0;
}

char *shim_heap_arena(size_t *size) {
  *size = ARENA_SIZE;
  return arena;
}

long sf_host_hypercall(unsigned long nr, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3) {
  if (nr < 32) shim.calls[nr]++;
  shim.last_a0 = a0;
  shim.last_a1 = a1;
  shim.last_a2 = a2;
  shim.last_a3 = a3;
  switch (nr) {
    case SF_HC_NOP: return 0;
    case SF_HC_CONSOLE_WRITE: {
      if (!shim.console_hc_enabled) return -SF_ENOSYS;
      size_t n = a1;
      if (shim.console_chunk && n > shim.console_chunk) n = shim.console_chunk;
      size_t room = sizeof shim.console - 1 - shim.console_len;
      memcpy(shim.console + shim.console_len, (const void *)a0, n < room ? n : room);
      shim.console_len += n < room ? n : room;
      shim.console[shim.console_len] = 0;
      return (long)n;
    }
    case SF_HC_FRESH_PAGES:
      if (shim.nhints < SHIM_MAX_HINTS) {
        shim.hints[shim.nhints].gpa = a0;
        shim.hints[shim.nhints].npages = a1;
        shim.nhints++;
      }
      return 0;
    case SF_HC_TIME_NS: return (long)(shim.time_ns += 1000);
    case SF_HC_WAIT: /* nothing to sleep for: the fake NIC moves frames at every poll; other threads may run */
      host_yield();
      return shim.wait_missing ? -SF_ENOSYS : (long)(shim.time_ns += 1000);
    default:
      if (nr >= SF_HC_TICKET_REQUEST && nr <= SF_HC_CLUSTER_SHUTDOWN) {
        union sf_hc_block *b = (union sf_hc_block *)a0;
        if (b->req.nr != nr) shim.seed_nr_mismatch++;
        shim.seed_regs[0] = a0;
        shim.seed_regs[1] = a1;
        shim.seed_regs[2] = a2;
        shim.seed_regs[3] = a3;
        return shim.seed ? shim.seed((unsigned)nr, b) : -SF_ENOSYS;
      }
      return -SF_ENOSYS;
  }
}

uint8_t sf_host_inb(uint16_t port) {
  int pending = shim.uart_in && shim.uart_in_pos < shim.uart_in_len;
  if (port == SF_SERIAL_PORT + SF_UART_LSR) return (uint8_t)(SF_UART_LSR_THRE | (pending ? SF_UART_LSR_DR : 0));
  if (port == SF_SERIAL_PORT + SF_UART_RBR && pending) return (uint8_t)shim.uart_in[shim.uart_in_pos++];
  return 0;
}

void sf_host_outb(uint16_t port, uint8_t value) {
  if (port == SF_SERIAL_PORT + SF_UART_RBR && shim.uart_out_len < sizeof shim.uart_out - 1) {
    shim.uart_out[shim.uart_out_len++] = (char)value;
    shim.uart_out[shim.uart_out_len] = 0;
  }
}

unsigned sf_vmid(void) { return vmid; }
void sf_set_vmid(unsigned v) { vmid = v; }

__attribute__((noreturn)) void sf_terminate(int code) {
  sf_flush();
  shim.terminated_code = code;
  if (shim.catcher) longjmp(*shim.catcher, 1);
  fprintf(stderr, "guest code terminated with %d outside a test catcher\n", code);
  fflush(stderr);
  __builtin_trap();
}

__attribute__((noreturn)) void sf_panic(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(shim.panic_msg, sizeof shim.panic_msg, fmt, ap);
  va_end(ap);
  if (shim.catcher) longjmp(*shim.catcher, 1);
  fprintf(stderr, "guest panic outside a test catcher: %s\n", shim.panic_msg);
  fflush(stderr);
  __builtin_trap();
}
