/* The host tests' checking macros; the counting and the summary line live in test_main.c, which
 * reports through the host's stdio (the test files themselves see only the guest's renamed libc). */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

void t_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(__printf__, 5, 6)));
void t_note(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));

#define CHECK(cond) t_check(!!(cond), __FILE__, __LINE__, #cond, 0)
#define CHECKF(cond, ...) t_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

#endif /* TESTS_TEST_H */
