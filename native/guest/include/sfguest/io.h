/* x86 port I/O helpers (the 16550 console at SF_SERIAL_PORT is the only port device a flat guest
 * drives itself). Under SF_HOST_TEST the ports are functions of the host tests' fake devices. */
#ifndef SFGUEST_IO_H
#define SFGUEST_IO_H

#include <stdint.h>

#ifdef SF_HOST_TEST
uint8_t sf_host_inb(uint16_t port);
void sf_host_outb(uint16_t port, uint8_t value);
static inline uint8_t inb(uint16_t port) { return sf_host_inb(port); }
static inline void outb(uint16_t port, uint8_t value) { sf_host_outb(port, value); }
static inline void cpu_relax(void) {}
#else
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void outw(uint16_t port, uint16_t value) { __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port)); }
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
#endif

/* 16550 registers, as offsets from SF_SERIAL_PORT. */
#define SF_UART_RBR 0          /* receive buffer (read) / transmit holding (write) */
#define SF_UART_LSR 5          /* line status */
#define SF_UART_LSR_DR 0x01u   /* a received byte waits in RBR */
#define SF_UART_LSR_THRE 0x20u /* transmit holding register empty */

#endif /* SFGUEST_IO_H */
