/* Console output of the flat-guest libc: a line buffer for stdout, drained with
 * SF_HC_CONSOLE_WRITE (one exit per line instead of one per byte); if the VMM lacks that call,
 * bytes go to the 16550's transmit register. */
#include <sfguest/hypercall.h>
#include <sfguest/io.h>
#include <sfguest/smp.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>

#define STDOUT_BUF 512

static char outbuf[STDOUT_BUF];
static size_t outlen;

static void uart_write(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    /* Bounded wait for THRE: the VMM's UART is always ready; real-looking ones may lag. */
    for (int spin = 0; spin < 1000 && !(inb(SF_SERIAL_PORT + SF_UART_LSR) & SF_UART_LSR_THRE); spin++) cpu_relax();
    outb(SF_SERIAL_PORT + SF_UART_RBR, (unsigned char)s[i]);
  }
}

void sf_console_write(const void *buf, size_t len) {
  const char *p = buf;
  /* No "give up for good" flag: a refusal costs one exit per flush, and a VMM that refused
   * once (e.g. while its console was busy) may accept the next line. */
  while (len) {
    long n = sf_hc_console_write(p, len);
    if (n <= 0 || (unsigned long)n > len) break;
    p += n;
    len -= (size_t)n;
  }
  if (len) uart_write(p, len);
}

/* The stdout buffer is shared by every vCPU (sfguest/smp.h): one lock, taken per call so a printf's line
 * stays whole. Recursive, because a panic in the middle of printing flushes and prints again. */
static sf_spinlock_t console_lock = SF_SPINLOCK_INIT;
static volatile unsigned console_owner, console_depth;

static void lock_console(void) {
  unsigned me = sf_vcpu_id();
  if (console_depth && console_owner == me) {
    console_depth++;
    return;
  }
  sf_spin_lock(&console_lock);
  console_owner = me;
  console_depth = 1;
}

static void unlock_console(void) {
  if (--console_depth == 0) sf_spin_unlock(&console_lock);
}

static void flush_unlocked(void) {
  if (outlen) {
    sf_console_write(outbuf, outlen);
    outlen = 0;
  }
}

static void put_raw(char c) {
  outbuf[outlen++] = c;
  if (c == '\n' || outlen == STDOUT_BUF) flush_unlocked();
}

/* The buffer is shared, so "the start of a line" is too: a prefix tells whose line it is (libsfmpi's ranks). */
static const char *(*line_prefix)(void);
static int at_line_start = 1;

void sf_console_set_prefix(const char *(*prefix)(void)) {
  lock_console();
  line_prefix = prefix;
  unlock_console();
}

static void putchar_unlocked(int c) {
  if (at_line_start && line_prefix) {
    at_line_start = 0;
    for (const char *p = line_prefix(); p && *p; p++) put_raw(*p);
  }
  at_line_start = c == '\n';
  put_raw((char)c);
}

void sf_flush(void) {
  lock_console();
  flush_unlocked();
  unlock_console();
}

int putchar(int c) {
  lock_console();
  putchar_unlocked(c);
  unlock_console();
  return (unsigned char)c;
}

int puts(const char *s) {
  lock_console();
  while (*s) putchar_unlocked(*s++);
  putchar_unlocked('\n');
  unlock_console();
  return 1;
}

static void put_stdout(char c, void *ctx) {
  (void)ctx;
  putchar_unlocked(c);
}

int vprintf(const char *fmt, va_list ap) {
  lock_console();
  int n = sf_format(put_stdout, 0, fmt, ap);
  unlock_console();
  return n;
}

int sf_printf_gpr(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}
