/* Console I/O of the flat-guest libc: printf-family output (lib/format.c formats, lib/stdio.c
 * buffers lines and writes them with SF_HC_CONSOLE_WRITE) and polled 16550 input (lib/console_in.c).
 * Formats: %d %i %u %x %X %o %p %s %c %f %F %e %E %g %G %%, flags - 0 + space #, width/precision (or *),
 * h hh l ll z t j (no L: long double is not taken). Doubles print exactly as glibc prints them. */
#ifndef SFGUEST_STDIO_H
#define SFGUEST_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#define EOF (-1)

#define SF_PRINTF(fmt_idx, arg_idx) __attribute__((format(__printf__, fmt_idx, arg_idx)))

/* Returns the length the full output needs (C99), writes at most size-1 chars and a NUL. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) SF_PRINTF(3, 0);
int snprintf(char *buf, size_t size, const char *fmt, ...) SF_PRINTF(3, 4);
/* The formatter behind both: calls put(c, ctx) once per output char, returns the count. */
int sf_format(void (*put)(char c, void *ctx), void *ctx, const char *fmt, va_list ap) SF_PRINTF(3, 0);

/* stdout is line-buffered: flushed at '\n', when full, before reading input and at exit. */
int printf(const char *fmt, ...) SF_PRINTF(1, 2);
int vprintf(const char *fmt, va_list ap) SF_PRINTF(1, 0);
int putchar(int c);

/* Code built without SSE (the library itself: -mgeneral-regs-only) leaves %al, the count of vector registers
 * a variadic call passes, unset; the real printf/snprintf (lib/varargs.c) would then save XMM registers on
 * that garbage, in ring 0 too. Such code calls twins built the same way as itself; it never passes doubles. */
int sf_snprintf_gpr(char *buf, size_t size, const char *fmt, ...) SF_PRINTF(3, 4);
int sf_printf_gpr(const char *fmt, ...) SF_PRINTF(1, 2);
#ifndef __SSE__
#define snprintf sf_snprintf_gpr
#define printf sf_printf_gpr
#endif
int puts(const char *s); /* appends '\n' */
void sf_flush(void);
/* Every line printed from now on starts with prefix()'s answer (computed by the printing vCPU, under the
 * console lock; NULL: no prefix). libsfmpi sets it so that lines say which rank printed them. */
void sf_console_set_prefix(const char *(*prefix)(void));
/* Unbuffered bulk write to the console (SF_HC_CONSOLE_WRITE, else the 16550 byte by byte). */
void sf_console_write(const void *buf, size_t len);

/* Console input from the 16550 (keystrokes of `sf console`), polled: interrupts stay off. */
int sf_trygetchar(void); /* a waiting byte, or EOF if none */
int getchar(void);       /* blocks until a byte arrives */
/* Reads one line (ends at CR, LF or CR LF; BS/DEL erase; echo != 0 echoes to the console) into
 * buf without the line end, NUL-terminated; characters past size-1 are dropped. Returns the
 * length, or EOF for Ctrl-D on an empty line. */
int readline(char *buf, size_t size, int echo);

#endif /* SFGUEST_STDIO_H */
