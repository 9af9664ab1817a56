/* lwIP's architecture header for flat guests: freestanding types only (no inttypes/ctype/limits), format
 * macros by hand, diagnostics to the console and failed asserts to sf_panic. */
#ifndef SF_LWIP_ARCH_CC_H
#define SF_LWIP_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>
#ifdef SF_HOST_TEST
/* The host tests link lwIP beside the host libc: take its ssize_t (and SSIZE_MAX) instead of lwIP's own. */
#include <limits.h>
#include <sys/types.h>
#endif

#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H 1
#define LWIP_NO_LIMITS_H 1
#define LWIP_NO_UNISTD_H 1
#ifndef INT_MAX
#define INT_MAX 0x7fffffff
#endif

#define X8_F "02x"
#define U16_F "hu"
#define S16_F "hd"
#define X16_F "hx"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"

#define LWIP_CHKSUM_ALGORITHM 3

void sf_lwip_diag(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
__attribute__((noreturn)) void sf_lwip_assert(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
    sf_lwip_diag x;           \
  } while (0)
#define LWIP_PLATFORM_ASSERT(x) sf_lwip_assert((x), __FILE__, __LINE__)

#endif /* SF_LWIP_ARCH_CC_H */
