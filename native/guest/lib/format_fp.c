/* A double's exact decimal digits for printf's %f/%e/%g, in integer arithmetic only (the library runs partly in
 * ring 0 and is built without SSE): m * 2^e becomes a big integer in base 10^9 — m * 2^e itself, or m * 5^-e
 * scaled by 10^e — whose digits are then rounded the way glibc rounds them, so output matches the host's. */
#include <stdint.h>
#include "format_internal.h"

#define BASE 1000000000u
#define LIMBS 90 /* 767 digits / 9 per limb, and a little room */

struct big {
  int n;
  uint32_t limb[LIMBS]; /* least significant first, each < BASE */
};

static void big_mul(struct big *b, uint32_t f) {
  uint64_t carry = 0;
  for (int i = 0; i < b->n; i++) {
    uint64_t v = (uint64_t)b->limb[i] * f + carry;
    b->limb[i] = (uint32_t)(v % BASE);
    carry = v / BASE;
  }
  while (carry && b->n < LIMBS) {
    b->limb[b->n++] = (uint32_t)(carry % BASE);
    carry /= BASE;
  }
}

void sf_dec_from_bits(uint64_t bits, struct sf_dec *x) {
  int exp = (int)((bits >> 52) & 0x7ff);
  uint64_t m = bits & ((1ull << 52) - 1);
  int e = exp ? exp - 1075 : -1074;
  if (exp) m |= 1ull << 52;
  x->n = 0;
  x->point = 1;
  if (!m) return;
  /* Fewer factors of 5 to multiply in: an even mantissa is half the size at the next exponent. */
  while (e < 0 && !(m & 1)) m >>= 1, e++;
  struct big b = {0, {0}};
  while (m) {
    b.limb[b.n++] = (uint32_t)(m % BASE);
    m /= BASE;
  }
  int scale = 0; /* value = big * 10^-scale */
  for (; e > 0; e -= e > 29 ? 29 : e) big_mul(&b, 1u << (e > 29 ? 29 : e));
  for (scale = -e; e < 0; e += e < -13 ? 13 : -e) {
    uint32_t p = 1;
    for (int k = e < -13 ? 13 : -e; k > 0; k--) p *= 5; /* 5^13 < 2^31: a limb times it fits 64 bits */
    big_mul(&b, p);
  }
  /* The top limb without its leading zeros, then 9 digits per limb. */
  char top[10];
  int t = 0;
  for (uint32_t v = b.limb[b.n - 1]; v; v /= 10) top[t++] = (char)('0' + v % 10);
  while (t) x->d[x->n++] = top[--t];
  for (int i = b.n - 2; i >= 0; i--) {
    uint32_t v = b.limb[i];
    for (int k = 8; k >= 0; k--, v /= 10) x->d[x->n + k] = (char)('0' + v % 10);
    x->n += 9;
  }
  x->point = x->n - scale;
  while (x->n && x->d[x->n - 1] == '0') x->n--;
}

void sf_dec_round(struct sf_dec *x, int keep) {
  if (keep >= x->n) return;
  if (keep < 0) {
    x->n = 0; /* below half a unit of the last place kept */
    return;
  }
  char next = x->d[keep];
  /* Trailing zeros are stripped, so anything after `next` is a nonzero remainder. */
  int up = next > '5' || (next == '5' && (keep + 1 < x->n || (keep > 0 && ((x->d[keep - 1] - '0') & 1))));
  x->n = keep;
  if (up) {
    int i = keep - 1;
    while (i >= 0 && x->d[i] == '9') i--;
    if (i < 0) { /* 99.96 -> 100.0: one digit more in front */
      x->d[0] = '1';
      x->n = 1;
      x->point++;
      return;
    }
    x->d[i]++;
    x->n = i + 1;
  }
  while (x->n && x->d[x->n - 1] == '0') x->n--;
}
