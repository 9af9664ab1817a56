/* Process-level pieces of the flat-guest libc: exit (SF_HC_EXIT), panics, number parsing. */
#ifndef SFGUEST_STDLIB_H
#define SFGUEST_STDLIB_H

#include <sfguest/malloc.h>
#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

/* Flushes stdout and ends the guest program with `code` (SF_HC_EXIT); never returns. */
__attribute__((noreturn)) void exit(int code);
/* Called by exit() first, from the exiting vCPU (one hook; NULL: none): libsfmpi tells its peers that a rank
 * leaves mid-job, so they need not wait for it. */
extern void (*sf_exit_hook)(int code);
__attribute__((noreturn)) void abort(void);
/* Prints "panic: <message>" and ends the program with SF_HC_PANIC (vector 0xFF, caller's rip). */
__attribute__((noreturn, format(__printf__, 1, 2))) void sf_panic(const char *fmt, ...);
/* Internal: flushes, issues SF_HC_EXIT(code) and halts if the VMM ever resumes the vCPU. */
__attribute__((noreturn)) void sf_terminate(int code);

long strtol(const char *s, char **end, int base);
unsigned long strtoul(const char *s, char **end, int base);
long long strtoll(const char *s, char **end, int base);
unsigned long long strtoull(const char *s, char **end, int base);
int atoi(const char *s);

#endif /* SFGUEST_STDLIB_H */
