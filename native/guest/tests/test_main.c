/* Host-side unit tests of the guest SDK and the example workloads' pure parts: runs every suite
 * and ends with one line "N passed, M failed" (exit status 1 if anything failed). */
#include <stdarg.h>
#include <stdio.h>
#include "test.h"

static unsigned long passed, failed;

void t_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  fprintf(stdout, "FAIL %s:%d: %s", file, line, expr);
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    fputs(" — ", stdout);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stdout);
}

void t_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
}

void test_string(void);
void test_format(void);
void test_malloc(void);
void test_args(void);
void test_console(void);
void test_sf(void);
void test_align(void);
void test_render(void);
void test_share(void);
void test_netfetch(void);
void test_net(void);
void test_blk(void);
void test_mpi(void);
void test_json(void);
void test_sfsh(void);
void test_mpi_shm(void);

int main(void) {
  static const struct {
    const char *name;
    void (*fn)(void);
  } suites[] = {{"string", test_string},     {"format", test_format},   {"malloc", test_malloc},
                {"args", test_args},         {"console", test_console}, {"sf", test_sf},
                {"align", test_align},       {"render", test_render},   {"share", test_share},
                {"netfetch", test_netfetch}, {"net", test_net},         {"blk", test_blk},
                {"mpi", test_mpi},           {"json", test_json},       {"sfsh", test_sfsh},
                {"mpi_shm", test_mpi_shm}};
  for (unsigned i = 0; i < sizeof suites / sizeof suites[0]; i++) {
    unsigned long f0 = failed, p0 = passed;
    suites[i].fn();
    /* Per-suite counts say "ok"/"bad" so that only the closing line reads "N passed, M failed". */
    fprintf(stdout, "suite %-8s %lu ok, %lu bad\n", suites[i].name, passed - p0, failed - f0);
  }
  fprintf(stdout, "%lu passed, %lu failed\n", passed, failed);
  return failed ? 1 : 0;
}
