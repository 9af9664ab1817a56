/* The little floating-point support flat guests need, inlined to SSE2 instructions so nothing
 * depends on libm or errno (the VMM enables SSE; crt0 makes sure CR0/CR4 allow it). */
#ifndef SFGUEST_MATH_H
#define SFGUEST_MATH_H

static inline double sf_sqrt(double x) {
  double r;
  __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
  return r;
}
static inline double sf_fabs(double x) { return x < 0 ? -x : x; }
static inline double sf_fmin(double a, double b) { return a < b ? a : b; }
static inline double sf_fmax(double a, double b) { return a > b ? a : b; }
static inline double sf_clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }
/* x^n for small non-negative integer n, by squaring. */
static inline double sf_powi(double x, unsigned n) {
  double r = 1.0;
  while (n) {
    if (n & 1) r *= x;
    x *= x;
    n >>= 1;
  }
  return r;
}
static inline double sf_floor(double x) {
  long long i = (long long)x; /* truncates towards zero */
  return (double)(x < (double)i ? i - 1 : i);
}

#endif /* SFGUEST_MATH_H */
