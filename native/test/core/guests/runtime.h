/* Tiny freestanding runtime of the test guests: hypercalls, port I/O, serial output, the few libc
 * functions gcc may call. Boundary: test support only; this is not the guest SDK (native/guest). */
#ifndef SF_TEST_RUNTIME_H
#define SF_TEST_RUNTIME_H

#include <snowflock/abi.h>

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long size_t;

/* The doorbell of abi.h: number in rax, arguments in rdi, rsi, r8, r10, port in dx. */
static inline i64 hc(u64 nr, u64 a0, u64 a1, u64 a2, u64 a3) {
  register u64 r8 __asm__("r8") = a2;
  register u64 r10 __asm__("r10") = a3;
  i64 ret;
  __asm__ volatile("outl %%eax, %%dx"
                   : "=a"(ret)
                   : "a"(nr), "D"(a0), "S"(a1), "r"(r8), "r"(r10), "d"((u16)SF_HC_PORT)
                   : "memory");
  return ret;
}
#define hc0(nr) hc((nr), 0, 0, 0, 0)

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline u32 inl(u16 port) {
  u32 v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

void serial_putc(char c);
void serial_puts(const char* s);
void serial_put_hex(u64 v);
__attribute__((noreturn)) void guest_exit(int code);

void* memcpy(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);

#endif
