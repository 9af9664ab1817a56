/* printf-style formatting for the flat-guest libc: one formatter (sf_format) that emits through
 * a callback, and vsnprintf on top of it (the variadic entry points are in lib/varargs.c). Pure code,
 * no I/O: host tests compare it against the host libc's snprintf. */
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <stdint.h>
#include "format_internal.h"

struct spec {
  int left, zero, plus, space, alt;
  int width;     /* -1: none */
  int precision; /* -1: none */
};

struct out {
  void (*put)(char, void *);
  void *ctx;
  int count;
};

static void emit(struct out *o, char c) {
  o->put(c, o->ctx);
  o->count++;
}
static void emit_n(struct out *o, char c, int n) {
  while (n-- > 0) emit(o, c);
}

static void emit_str(struct out *o, const struct spec *sp, const char *s) {
  if (!s) s = sp->precision < 0 || sp->precision >= 6 ? "(null)" : "";
  int len = (int)(sp->precision >= 0 ? strnlen(s, (size_t)sp->precision) : strlen(s));
  if (!sp->left) emit_n(o, ' ', sp->width - len);
  for (int i = 0; i < len; i++) emit(o, s[i]);
  if (sp->left) emit_n(o, ' ', sp->width - len);
}

/* Integer conversions: prefix (sign or 0x), zero padding from precision or the 0 flag, digits. */
static void emit_uint(struct out *o, const struct spec *sp, unsigned long long v, int base, int upper,
                      const char *prefix) {
  char digits[24];
  int nd = 0;
  const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  if (!(v == 0 && sp->precision == 0)) {
    do {
      digits[nd++] = set[v % (unsigned)base];
      v /= (unsigned)base;
    } while (v);
  }
  int plen = (int)strlen(prefix);
  int zeros = sp->precision > nd ? sp->precision - nd : 0;
  /* Octal's # flag means "the first digit is 0". */
  if (base == 8 && sp->alt && zeros == 0 && (nd == 0 || digits[nd - 1] != '0')) zeros = 1;
  int body = plen + zeros + nd;
  int pad = sp->width > body ? sp->width - body : 0;
  if (sp->zero && !sp->left && sp->precision < 0) {
    zeros += pad;
    pad = 0;
  }
  if (!sp->left) emit_n(o, ' ', pad);
  for (int i = 0; i < plen; i++) emit(o, prefix[i]);
  emit_n(o, '0', zeros);
  while (nd) emit(o, digits[--nd]);
  if (sp->left) emit_n(o, ' ', pad);
}

enum len_mod { L_INT, L_CHAR, L_SHORT, L_LONG, L_LLONG, L_SIZE, L_PTRDIFF, L_INTMAX };

static unsigned long long take_unsigned(va_list *ap, enum len_mod m) {
  switch (m) {
    case L_CHAR: return (unsigned char)va_arg(*ap, unsigned int);
    case L_SHORT: return (unsigned short)va_arg(*ap, unsigned int);
    case L_LONG: return va_arg(*ap, unsigned long);
    case L_LLONG: return va_arg(*ap, unsigned long long);
    case L_SIZE: return va_arg(*ap, size_t);
    case L_PTRDIFF: return (unsigned long long)va_arg(*ap, ptrdiff_t);
    case L_INTMAX: return va_arg(*ap, uintmax_t);
    default: return va_arg(*ap, unsigned int);
  }
}

static long long take_signed(va_list *ap, enum len_mod m) {
  switch (m) {
    case L_CHAR: return (signed char)va_arg(*ap, int);
    case L_SHORT: return (short)va_arg(*ap, int);
    case L_LONG: return va_arg(*ap, long);
    case L_LLONG: return va_arg(*ap, long long);
    case L_SIZE: return (long long)va_arg(*ap, size_t);
    case L_PTRDIFF: return va_arg(*ap, ptrdiff_t);
    case L_INTMAX: return va_arg(*ap, intmax_t);
    default: return va_arg(*ap, int);
  }
}

/* A double argument, as its bits: this file is built without SSE, so va_arg(double) is out of reach. The
 * x86-64 va_list is read by hand instead: 8 XMM slots of 16 bytes after the 48 bytes of general registers,
 * filled by a variadic function built with SSE (lib/varargs.c), then the stack. */
struct va_regs {
  unsigned gp_offset, fp_offset;
  char *overflow_arg_area, *reg_save_area;
} __attribute__((may_alias));
typedef uint64_t __attribute__((may_alias)) u64_alias;

static uint64_t take_double_bits(va_list *ap) {
  struct va_regs *r = (struct va_regs *)(void *)*ap;
  if (r->fp_offset < 48 + 8 * 16) {
    uint64_t v = *(const u64_alias *)(void *)(r->reg_save_area + r->fp_offset);
    r->fp_offset += 16;
    return v;
  }
  uint64_t v = *(const u64_alias *)(void *)r->overflow_arg_area;
  r->overflow_arg_area += 8;
  return v;
}

static int digit_at(const struct sf_dec *x, int i) { return i >= 0 && i < x->n ? x->d[i] : '0'; }

/* %f %e %g (and upper case) with C's flags, width and precision; inf and nan as glibc spells them. */
static void emit_float(struct out *o, const struct spec *sp, char conv, uint64_t bits) {
  int upper = conv == 'F' || conv == 'E' || conv == 'G';
  char lower = (char)(upper ? conv - 'A' + 'a' : conv);
  const char *sign = bits >> 63 ? "-" : sp->plus ? "+" : sp->space ? " " : "";
  int slen = *sign ? 1 : 0;
  if (((bits >> 52) & 0x7ff) == 0x7ff) {
    const char *word = bits & ((1ull << 52) - 1) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
    int pad = sp->width - slen - 3;
    if (!sp->left) emit_n(o, ' ', pad);
    if (slen) emit(o, *sign);
    for (int i = 0; i < 3; i++) emit(o, word[i]);
    if (sp->left) emit_n(o, ' ', pad);
    return;
  }
  struct sf_dec x;
  sf_dec_from_bits(bits, &x);
  int prec = sp->precision < 0 ? 6 : sp->precision;
  int style_e = lower == 'e', frac;
  if (lower == 'g') {
    int p = prec ? prec : 1;
    sf_dec_round(&x, p);
    int exp10 = x.n ? x.point - 1 : 0;
    style_e = !(p > exp10 && exp10 >= -4);
    frac = style_e ? p - 1 : p - 1 - exp10;
    /* Without #, %g drops the fraction's trailing zeros (and the point if nothing is left). */
    if (!sp->alt) {
      int significant = style_e ? (x.n > 1 ? x.n - 1 : 0) : (x.n - x.point > 0 ? x.n - x.point : 0);
      if (frac > significant) frac = significant;
    }
  } else {
    frac = prec;
    sf_dec_round(&x, style_e ? prec + 1 : x.point + prec);
  }
  int exp10 = x.n ? x.point - 1 : 0;
  int has_point = frac > 0 || sp->alt;
  int body;
  char expdigits[8];
  int ne = 0;
  if (style_e) {
    for (unsigned v = (unsigned)(exp10 < 0 ? -exp10 : exp10); v || ne < 2; v /= 10)
      expdigits[ne++] = (char)('0' + v % 10);
    body = 1 + has_point + frac + 2 + ne;
  } else {
    body = (x.point > 0 ? x.point : 1) + has_point + frac;
  }
  int pad = sp->width - slen - body;
  if (!sp->left && !sp->zero) emit_n(o, ' ', pad);
  if (slen) emit(o, *sign);
  if (!sp->left && sp->zero) emit_n(o, '0', pad);
  if (style_e) {
    emit(o, x.n ? x.d[0] : '0');
    if (has_point) emit(o, '.');
    for (int i = 1; i <= frac; i++) emit(o, (char)digit_at(&x, i));
    emit(o, upper ? 'E' : 'e');
    emit(o, exp10 < 0 ? '-' : '+');
    while (ne) emit(o, expdigits[--ne]);
  } else {
    if (x.point <= 0) emit(o, '0');
    for (int i = 0; i < x.point; i++) emit(o, (char)digit_at(&x, i));
    if (has_point) emit(o, '.');
    for (int i = 0; i < frac; i++) emit(o, (char)digit_at(&x, x.point + i));
  }
  if (sp->left) emit_n(o, ' ', pad);
}

int sf_format(void (*put)(char c, void *ctx), void *ctx, const char *fmt, va_list ap_in) {
  struct out o = {put, ctx, 0};
  va_list ap;
  va_copy(ap, ap_in);
  while (*fmt) {
    if (*fmt != '%') {
      emit(&o, *fmt++);
      continue;
    }
    const char *start = fmt++;
    struct spec sp = {0, 0, 0, 0, 0, -1, -1};
    for (;; fmt++) {
      if (*fmt == '-') sp.left = 1;
      else if (*fmt == '0') sp.zero = 1;
      else if (*fmt == '+') sp.plus = 1;
      else if (*fmt == ' ') sp.space = 1;
      else if (*fmt == '#') sp.alt = 1;
      else break;
    }
    if (*fmt == '*') {
      sp.width = va_arg(ap, int);
      if (sp.width < 0) {
        sp.left = 1;
        sp.width = -sp.width;
      }
      fmt++;
    } else {
      while (*fmt >= '0' && *fmt <= '9') sp.width = (sp.width < 0 ? 0 : sp.width) * 10 + (*fmt++ - '0');
    }
    if (*fmt == '.') {
      fmt++;
      sp.precision = 0;
      if (*fmt == '*') {
        sp.precision = va_arg(ap, int);
        if (sp.precision < 0) sp.precision = -1;
        fmt++;
      } else {
        while (*fmt >= '0' && *fmt <= '9') sp.precision = sp.precision * 10 + (*fmt++ - '0');
      }
    }
    enum len_mod m = L_INT;
    switch (*fmt) {
      case 'h':
        m = fmt[1] == 'h' ? L_CHAR : L_SHORT;
        fmt += m == L_CHAR ? 2 : 1;
        break;
      case 'l':
        m = fmt[1] == 'l' ? L_LLONG : L_LONG;
        fmt += m == L_LLONG ? 2 : 1;
        break;
      case 'z':
        m = L_SIZE;
        fmt++;
        break;
      case 't':
        m = L_PTRDIFF;
        fmt++;
        break;
      case 'j':
        m = L_INTMAX;
        fmt++;
        break;
      default: break;
    }
    char conv = *fmt;
    if (conv) fmt++;
    switch (conv) {
      case 'd':
      case 'i': {
        long long v = take_signed(&ap, m);
        unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
        emit_uint(&o, &sp, mag, 10, 0, v < 0 ? "-" : sp.plus ? "+" : sp.space ? " " : "");
        break;
      }
      case 'u': emit_uint(&o, &sp, take_unsigned(&ap, m), 10, 0, ""); break;
      case 'o': emit_uint(&o, &sp, take_unsigned(&ap, m), 8, 0, ""); break;
      case 'x':
      case 'X': {
        unsigned long long v = take_unsigned(&ap, m);
        emit_uint(&o, &sp, v, 16, conv == 'X', sp.alt && v ? (conv == 'X' ? "0X" : "0x") : "");
        break;
      }
      case 'p': {
        void *p = va_arg(ap, void *);
        if (!p) {
          struct spec s2 = sp;
          s2.precision = -1;
          emit_str(&o, &s2, "(nil)");
        } else {
          emit_uint(&o, &sp, (uintptr_t)p, 16, 0, "0x");
        }
        break;
      }
      case 's': emit_str(&o, &sp, va_arg(ap, const char *)); break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': emit_float(&o, &sp, conv, take_double_bits(&ap)); break;
      case 'c': {
        char c = (char)va_arg(ap, int);
        if (!sp.left) emit_n(&o, ' ', sp.width - 1);
        emit(&o, c);
        if (sp.left) emit_n(&o, ' ', sp.width - 1);
        break;
      }
      case '%': emit(&o, '%'); break;
      default:
        /* Unknown conversion (or a lone % at the end): print it as written. */
        while (start < fmt) emit(&o, *start++);
        break;
    }
  }
  va_end(ap);
  return o.count;
}

struct strbuf {
  char *buf;
  size_t size, pos;
};

static void put_buf(char c, void *ctx) {
  struct strbuf *b = ctx;
  if (b->pos + 1 < b->size) b->buf[b->pos] = c;
  b->pos++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  struct strbuf b = {buf, size, 0};
  int n = sf_format(put_buf, &b, fmt, ap);
  if (size) buf[b.pos < size ? b.pos : size - 1] = 0;
  return n;
}

int sf_snprintf_gpr(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
