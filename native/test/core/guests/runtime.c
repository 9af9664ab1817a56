/* Tiny freestanding runtime of the test guests (see runtime.h). */
#include "runtime.h"

#define LSR (SF_SERIAL_PORT + 5)
#define LSR_THR_EMPTY 0x20

void serial_putc(char c) {
  while ((inb(LSR) & LSR_THR_EMPTY) == 0) cpu_relax();
  outb(SF_SERIAL_PORT, (u8)c);
}

void serial_puts(const char* s) {
  while (*s) serial_putc(*s++);
}

void serial_put_hex(u64 v) {
  serial_puts("0x");
  for (int shift = 60; shift >= 0; shift -= 4) serial_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

void guest_exit(int code) {
  hc(SF_HC_EXIT, (u64)(u32)code, 0, 0, 0);
  for (;;) __asm__ volatile("cli; hlt");
}

void* memcpy(void* dst, const void* src, size_t n) {
  u8* d = dst;
  const u8* s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  u8* d = dst;
  while (n--) *d++ = (u8)c;
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const u8* x = a;
  const u8* y = b;
  for (; n; --n, ++x, ++y)
    if (*x != *y) return *x < *y ? -1 : 1;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

int strcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return (u8)*a - (u8)*b;
}
