/* Console output of the flat-guest libc: a line buffer for stdout, drained with
 * SF_HC_CONSOLE_WRITE (one exit per line instead of one per byte); if the VMM lacks that call,
 * bytes go to the 16550's transmit register. */
#include <sfguest/hypercall.h>
#include <sfguest/io.h>
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

void sf_flush(void) {
  if (outlen) {
    sf_console_write(outbuf, outlen);
    outlen = 0;
  }
}

int putchar(int c) {
  outbuf[outlen++] = (char)c;
  if (c == '\n' || outlen == STDOUT_BUF) sf_flush();
  return (unsigned char)c;
}

int puts(const char *s) {
  while (*s) putchar(*s++);
  putchar('\n');
  return 1;
}

static void put_stdout(char c, void *ctx) {
  (void)ctx;
  putchar(c);
}

int vprintf(const char *fmt, va_list ap) { return sf_format(put_stdout, 0, fmt, ap); }

int printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}
