/* Force-included into every host-test compilation of guest code (Makefile: -include): renames the
 * guest libc's standard names to sfg_* so the host test links the guest's implementations next
 * to the host libc without either replacing the other. */
#ifndef SF_HOST_RENAME_H
#define SF_HOST_RENAME_H

#define memcpy sfg_memcpy
#define memmove sfg_memmove
#define memset sfg_memset
#define memcmp sfg_memcmp
#define memchr sfg_memchr
#define strlen sfg_strlen
#define strnlen sfg_strnlen
#define strcmp sfg_strcmp
#define strncmp sfg_strncmp
#define strcpy sfg_strcpy
#define strncpy sfg_strncpy
#define strlcpy sfg_strlcpy
#define strcat sfg_strcat
#define strchr sfg_strchr
#define strrchr sfg_strrchr
#define strstr sfg_strstr
#define isdigit sfg_isdigit
#define isspace sfg_isspace
#define isupper sfg_isupper
#define islower sfg_islower
#define isalpha sfg_isalpha
#define isalnum sfg_isalnum
#define isxdigit sfg_isxdigit
#define isprint sfg_isprint
#define tolower sfg_tolower
#define toupper sfg_toupper
#define strtol sfg_strtol
#define strtoul sfg_strtoul
#define strtoll sfg_strtoll
#define strtoull sfg_strtoull
#define atoi sfg_atoi
#define exit sfg_exit
#define abort sfg_abort
#define vsnprintf sfg_vsnprintf
#define snprintf sfg_snprintf
#define printf sfg_printf
#define vprintf sfg_vprintf
#define putchar sfg_putchar
#define puts sfg_puts
#define getchar sfg_getchar
#define readline sfg_readline
#define malloc sfg_malloc
#define free sfg_free
#define calloc sfg_calloc
#define realloc sfg_realloc
#define aligned_alloc sfg_aligned_alloc

#endif /* SF_HOST_RENAME_H */
