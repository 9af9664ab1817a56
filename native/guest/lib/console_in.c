/* Console input: keystrokes from `sf console` arrive on the 16550's receive register; a flat
 * guest runs with interrupts off, so it polls the line status register (bit 0 = data ready). */
#include <sfguest/hypercall.h>
#include <sfguest/io.h>
#include <sfguest/stdio.h>

int sf_trygetchar(void) {
  if (inb(SF_SERIAL_PORT + SF_UART_LSR) & SF_UART_LSR_DR) return inb(SF_SERIAL_PORT + SF_UART_RBR);
  return EOF;
}

int getchar(void) {
  sf_flush(); /* a prompt must be visible before we wait */
  for (;;) {
    int c = sf_trygetchar();
    if (c != EOF) return c;
    cpu_relax();
  }
}

static int last_was_cr; /* swallow the LF of a CR LF pair */

int readline(char *buf, size_t size, int echo) {
  size_t len = 0;
  for (;;) {
    int c = getchar();
    if (c == '\n' && last_was_cr) {
      last_was_cr = 0;
      continue;
    }
    last_was_cr = c == '\r';
    if (c == '\r' || c == '\n') {
      if (echo) sf_console_write("\r\n", 2);
      break;
    }
    if (c == 0x04 && len == 0) { /* Ctrl-D on an empty line */
      if (size) buf[0] = 0;
      return EOF;
    }
    if (c == 0x08 || c == 0x7f) {
      if (len) {
        len--;
        if (echo) sf_console_write("\b \b", 3);
      }
      continue;
    }
    if (c < 0x20 || c > 0x7e) continue; /* other control bytes and non-ASCII: ignored */
    if (size && len + 1 < size) {
      buf[len++] = (char)c;
      if (echo) {
        char ch = (char)c;
        sf_console_write(&ch, 1);
      }
    }
  }
  if (size) buf[len] = 0;
  return (int)len;
}
