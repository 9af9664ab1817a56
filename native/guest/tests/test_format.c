/* Host tests of lib/format.c (compared with the host libc's snprintf, bound by asm name so the
 * rename cannot touch it) and of lib/stdio.c's line buffering on the fake console. */
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <stddef.h>
#include <stdint.h>
#include "shim.h"
#include "test.h"

/* Odd formats on purpose (0 flag with precision, unknown conversions, NULL %s). */
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-overflow"
#pragma GCC diagnostic ignored "-Wformat-extra-args"

int host_snprintf(char *buf, size_t size, const char *fmt, ...) __asm__("snprintf");

#define SAME(...)                                                                                                    \
  do {                                                                                                               \
    char ours[256], theirs[256];                                                                                     \
    int a = snprintf(ours, sizeof ours, __VA_ARGS__);                                                                \
    int b = host_snprintf(theirs, sizeof theirs, __VA_ARGS__);                                                       \
    CHECKF(a == b && strcmp(ours, theirs) == 0, "format %s: ours \"%s\" (%d), host \"%s\" (%d)", #__VA_ARGS__, ours, \
           a, theirs, b);                                                                                            \
  } while (0)

static void test_against_host(void) {
  int ints[] = {0, 1, -1, 42, -42, 7, 123456789, -987654321, INT32_MAX, INT32_MIN};
  for (unsigned i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    int v = ints[i];
    SAME("%d", v);
    SAME("%i|%5d|%-5d|%05d|%+d|% d", v, v, v, v, v, v);
    SAME("%.3d|%8.3d|%-8.3d|%08.3d", v, v, v, v);
    SAME("%u|%x|%X|%o|%#x|%#X|%#o", (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v,
         (unsigned)v);
    SAME("%08x|%-8x|%#010x|%.0d|%.0x", (unsigned)v, (unsigned)v, (unsigned)v, v, (unsigned)v);
    SAME("%*d|%-*d|%.*d", 6, v, 6, v, 4, v);
    SAME("%hd|%hhd|%hu|%hhx", v, v, (unsigned)v, (unsigned)v);
  }
  long longs[] = {0, -1, INT64_MAX, INT64_MIN, 0x123456789abcdefl};
  for (unsigned i = 0; i < sizeof longs / sizeof longs[0]; i++) {
    long v = longs[i];
    SAME("%ld|%lu|%lx|%lX|%lo", v, (unsigned long)v, (unsigned long)v, (unsigned long)v, (unsigned long)v);
    SAME("%lld|%llu|%llx|%20lld|%-20llx|%016llx", (long long)v, (unsigned long long)v, (unsigned long long)v,
         (long long)v, (unsigned long long)v, (unsigned long long)v);
    SAME("%zu|%zd|%jd|%td", (size_t)v, (ptrdiff_t)v, (intmax_t)v, (ptrdiff_t)v);
  }
  SAME("%s|%10s|%-10s|%.3s|%10.3s|%-10.2s|", "hello", "hello", "hello", "hello", "hello", "hello");
  SAME("%s", "");
  SAME("%.*s|%*s", 2, "abcdef", -6, "ab");
  SAME("%c|%3c|%-3c|", 'x', 'y', 'z');
  SAME("100%% %s", "sure");
  SAME("%p|%p", (void *)0x1234, (void *)~(uintptr_t)0);
  SAME("%p", (void *)0);
  SAME("%s", (const char *)0);
  SAME("mixed %d %s %x %c %lu end", 5, "str", 0xbeefu, 'q', 99ul);
}

/* Doubles: every conversion, flag and precision against the host, on values chosen for their digits (exact
 * ties, carries through nines, subnormals, the extremes) and a sweep of pseudo-random bit patterns. */
static void same_double(double v) {
  SAME("%f|%e|%g|%F|%E|%G", v, v, v, v, v, v);
  SAME("%.0f|%.1f|%.2f|%.3f|%.10f|%.17f", v, v, v, v, v, v);
  SAME("%.0e|%.1e|%.3e|%.16e|%.20e", v, v, v, v, v);
  SAME("%.0g|%.1g|%.2g|%.10g|%.17g|%#g|%#.0f|%#.0e|%#.3g", v, v, v, v, v, v, v, v, v);
  SAME("%12.3f|%-12.3f|%012.3f|%+.2f|% .2f|%+012.4e|%-+14.5g|%015g", v, v, v, v, v, v, v, v);
  SAME("%*.*f|%.*e|%-*g", 14, 4, v, 3, v, 9, v);
}

static void test_doubles(void) {
  static const double values[] = {0.0,
                                  -0.0,
                                  1.0,
                                  -1.0,
                                  0.5,
                                  1.5,
                                  2.5,
                                  -2.5,
                                  0.125,
                                  0.375,
                                  1e-5,
                                  0.0001,
                                  0.00012345,
                                  123456.0,
                                  999999.25,
                                  99999.95,
                                  9.9999995,
                                  0.999999999,
                                  99.995,
                                  1234567.0,
                                  1e15,
                                  1e16,
                                  123456789012345678.0,
                                  1e21,
                                  1e100,
                                  1.7976931348623157e308,
                                  2.2250738585072014e-308,
                                  4.9406564584124654e-324,
                                  3.14159265358979,
                                  -2.718281828459045,
                                  0.1,
                                  0.2,
                                  0.3,
                                  1.0 / 3.0,
                                  2.0 / 3.0,
                                  1e-300,
                                  5e-7,
                                  0.05,
                                  0.15,
                                  0.25,
                                  0.35,
                                  1.005,
                                  -1e-10,
                                  65536.0,
                                  0.000244140625};
  for (unsigned i = 0; i < sizeof values / sizeof values[0]; i++) same_double(values[i]);
  same_double(__builtin_inf());
  same_double(-__builtin_inf());
  same_double(__builtin_nan(""));
  same_double(-__builtin_nan(""));
  /* xorshift over the bit patterns: every exponent, mantissas with long expansions. */
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 2000; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    double v;
    memcpy(&v, &s, sizeof v);
    same_double(v);
  }
  /* Doubles after integer and string arguments, and more than the 8 that arrive in registers. */
  SAME("%d %f %s %e %ld %g", 3, 1.25, "x", -7.5, 99l, 0.001);
  SAME("%g %g %g %g %g %g %g %g %g %g %g", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.5, 10.25, 11.125);
  /* A carry that moves %#g to e-style keeps P significant digits (C11 7.21.6.1); glibc 2.36 prints "1.e+06". */
  char out[64];
  CHECK(snprintf(out, sizeof out, "%#g|%g|%#g", 999999.5, 999999.5, 9.9999995) == 25);
  CHECKF(strcmp(out, "1.00000e+06|1e+06|10.0000") == 0, "ours \"%s\"", out);
  /* Truncated: the length the whole of 1e300 needs (301 digits, the point, 6 decimals), 7 chars kept. */
  CHECK(snprintf(out, 8, "%f", 1e300) == 308 && strcmp(out, "1000000") == 0);
}

static void test_truncation(void) {
  char buf[8];
  memset(buf, 'Z', sizeof buf);
  CHECK(snprintf(buf, 5, "%s", "abcdefgh") == 8 && strcmp(buf, "abcd") == 0);
  CHECK(snprintf(buf, 1, "%d", 12345) == 5 && buf[0] == 0);
  buf[0] = 'Z';
  CHECK(snprintf(buf, 0, "%d", 12345) == 5 && buf[0] == 'Z'); /* size 0: nothing written */
  CHECK(snprintf(0, 0, "%s-%s", "ab", "cd") == 5);
  char big[16];
  CHECK(snprintf(big, sizeof big, "%q %d", 3) == 4 && strcmp(big, "%q 3") == 0);
  CHECK(snprintf(big, sizeof big, "trailing %") == 10 && strcmp(big, "trailing %") == 0);
}

static void test_stdout(void) {
  shim_reset();
  printf("x=%d", 5);
  CHECK(shim.console_len == 0); /* line-buffered: nothing until the newline */
  printf(" y=%s\n", "ok");
  CHECKF(strcmp(shim.console, "x=5 y=ok\n") == 0, "console: \"%s\"", shim.console);
  CHECK(shim.calls[SF_HC_CONSOLE_WRITE] == 1);                        /* one hypercall for the whole line */
  CHECK(shim.last_a1 == 9 && shim.last_a2 == 0 && shim.last_a3 == 0); /* (gpa, len), nothing else */
  shim_console_clear();
  char line[700];
  memset(line, 'a', sizeof line - 1);
  line[sizeof line - 1] = 0;
  puts(line);
  CHECK(shim.console_len == sizeof line); /* 699 'a' + '\n', flushed in buffer-sized pieces */
  CHECK(shim.console[0] == 'a' && shim.console[sizeof line - 1] == '\n');
  shim_console_clear();
  putchar('q');
  sf_flush();
  CHECK(strcmp(shim.console, "q") == 0);

  /* Short writes are retried; a VMM without the call gets the bytes through the UART. */
  shim_console_clear();
  shim.console_chunk = 3;
  sf_console_write("0123456789", 10);
  CHECK(strcmp(shim.console, "0123456789") == 0);
  shim.console_chunk = 0;
  shim_console_clear();
  shim.console_hc_enabled = 0;
  printf("via uart %d\n", 7);
  CHECKF(strcmp(shim.uart_out, "via uart 7\n") == 0, "uart: \"%s\"", shim.uart_out);
  shim_reset();
}

void test_format(void) {
  test_against_host();
  test_doubles();
  test_truncation();
  test_stdout();
}
