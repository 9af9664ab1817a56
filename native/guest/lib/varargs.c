/* The printf family's variadic entry points, alone in a file built with SSE allowed: a double argument
 * arrives in an XMM register, and only a prologue built with SSE saves those where va_arg (lib/format.c)
 * finds them. The save is skipped when the caller passes no vector registers (%al == 0), as ring-0 code does. */
#include <sfguest/stdio.h>

int printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
