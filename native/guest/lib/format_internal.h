/* Shared between lib/format.c (printf's layout) and lib/format_fp.c (a double's exact decimal digits):
 * the decimal form a %f/%e/%g conversion is laid out from. Integer code only: the library is built
 * -mgeneral-regs-only, so a double travels as its 64 bits. */
#ifndef SFGUEST_FORMAT_INTERNAL_H
#define SFGUEST_FORMAT_INTERNAL_H

#include <stdint.h>

/* The longest exact expansion is a subnormal's, 2^-1074 * (2^52 - 1): 767 significant digits. */
#define SF_DEC_DIGITS 800

/* value = 0.d[0] d[1] ... d[n-1] * 10^point, d[] ASCII digits, no trailing zeros; n == 0 is zero. */
struct sf_dec {
  int n, point;
  char d[SF_DEC_DIGITS];
};

/* The exact decimal expansion of a finite double's magnitude (sign, infinities and NaNs are the caller's). */
void sf_dec_from_bits(uint64_t bits, struct sf_dec *x);
/* Keeps the first `keep` digits (<= 0: none), rounding the exact value half to even, as glibc does. */
void sf_dec_round(struct sf_dec *x, int keep);

#endif /* SFGUEST_FORMAT_INTERNAL_H */
