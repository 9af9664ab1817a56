/* Text to number (strtol family, atoi) for the flat-guest libc: C semantics for base 0/2–36,
 * leading space, sign, 0x prefix, saturation on overflow (there is no errno to set). */
#include <sfguest/ctype.h>
#include <sfguest/stdlib.h>

static int digit_value(int c) {
  if (isdigit(c)) return c - '0';
  if (isalpha(c)) return tolower(c) - 'a' + 10;
  return 99;
}

/* Parses the magnitude; *neg gets the sign, *overflow whether it exceeded ~0ull. */
static unsigned long long parse(const char *s, char **end, int base, int *neg, int *overflow) {
  const char *p = s;
  unsigned long long v = 0;
  int any = 0;
  *neg = 0;
  *overflow = 0;
  while (isspace(*p)) p++;
  if (*p == '+' || *p == '-') *neg = *p++ == '-';
  if ((base == 0 || base == 16) && p[0] == '0' && (p[1] | 0x20) == 'x' && isxdigit(p[2])) {
    p += 2;
    base = 16;
  } else if (base == 0) {
    base = p[0] == '0' ? 8 : 10;
  }
  if (base < 2 || base > 36) {
    if (end) *end = (char *)s;
    return 0;
  }
  for (;; p++) {
    int d = digit_value((unsigned char)*p);
    if (d >= base) break;
    any = 1;
    if (v > (~0ull - (unsigned)d) / (unsigned)base) *overflow = 1;
    v = v * (unsigned)base + (unsigned)d;
  }
  if (end) *end = (char *)(any ? p : s);
  return *overflow ? ~0ull : v;
}

unsigned long long strtoull(const char *s, char **end, int base) {
  int neg, of;
  unsigned long long v = parse(s, end, base, &neg, &of);
  return neg && !of ? -v : v;
}

long long strtoll(const char *s, char **end, int base) {
  int neg, of;
  unsigned long long v = parse(s, end, base, &neg, &of);
  unsigned long long lim = neg ? (1ull << 63) : (1ull << 63) - 1;
  if (of || v > lim) return neg ? (long long)(-(lim - 1) - 1) : (long long)lim;
  return neg ? -(long long)(v - 1) - 1 : (long long)v;
}

unsigned long strtoul(const char *s, char **end, int base) { return strtoull(s, end, base); }
long strtol(const char *s, char **end, int base) { return strtoll(s, end, base); }
int atoi(const char *s) { return (int)strtol(s, 0, 10); }
