/* Host tests of lib/console_in.c: polled 16550 input, line editing, CR LF handling, EOF. */
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include "shim.h"
#include "test.h"

static void feed(const char *s, size_t n) {
  shim.uart_in = s;
  shim.uart_in_len = n;
  shim.uart_in_pos = 0;
}

void test_console(void) {
  char line[16];
  shim_reset();
  CHECK(sf_trygetchar() == EOF);
  feed("hi", 2);
  CHECK(sf_trygetchar() == 'h' && getchar() == 'i' && sf_trygetchar() == EOF);

  static const char input[] =
      "hello\r\nworld\nab\x7f"
      "c\x08x\r\r\n\x04";
  feed(input, sizeof input - 1);
  CHECK(readline(line, sizeof line, 1) == 5 && strcmp(line, "hello") == 0);
  CHECK(readline(line, sizeof line, 1) == 5 && strcmp(line, "world") == 0); /* LF of CR LF eaten */
  CHECK(readline(line, sizeof line, 1) == 2 && strcmp(line, "ax") == 0);    /* DEL and BS erase */
  CHECK(readline(line, sizeof line, 1) == 0 && strcmp(line, "") == 0);      /* "\r\r\n": an empty line */
  CHECK(readline(line, sizeof line, 1) == EOF);                             /* Ctrl-D */
  CHECKF(strstr(shim.console, "hello\r\nworld\r\n") == shim.console, "echo: \"%s\"", shim.console);
  CHECK(strstr(shim.console, "\b \b") != 0);

  shim_console_clear();
  static const char longline[] = "0123456789abcdefghijklmnop\n";
  feed(longline, sizeof longline - 1);
  CHECK(readline(line, sizeof line, 0) == 15 && strcmp(line, "0123456789abcde") == 0);
  CHECK(shim.console_len == 0); /* echo off */
  static const char ctl[] =
      "a\x01\x1b"
      "b\xc3\xa9\n";
  feed(ctl, sizeof ctl - 1);
  CHECK(readline(line, sizeof line, 0) == 2 && strcmp(line, "ab") == 0); /* controls and non-ASCII dropped */
  shim_reset();
}
