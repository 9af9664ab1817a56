/* Host tests of lib/args.c: command-line splitting with quotes and escapes, key=value lookup,
 * number parsing with suffixes and its failure cases. */
#include <sfguest/args.h>
#include <sfguest/string.h>
#include "shim.h"
#include "test.h"

static int split(const char *line, char **argv, int max, char *buf) {
  strcpy(buf, line);
  return sf_split_args(buf, argv, max);
}

static void test_split(void) {
  char buf[256], *v[16];
  CHECK(split("", v, 16, buf) == 0);
  CHECK(split("   \t\n ", v, 16, buf) == 0);
  CHECK(split("a", v, 16, buf) == 1 && strcmp(v[0], "a") == 0);
  CHECK(split("  pages=4  stride=2\twrite=1 ", v, 16, buf) == 3 && strcmp(v[0], "pages=4") == 0 &&
        strcmp(v[1], "stride=2") == 0 && strcmp(v[2], "write=1") == 0);
  CHECK(split("x \"y z\" 'w  v' end", v, 16, buf) == 4 && strcmp(v[1], "y z") == 0 && strcmp(v[2], "w  v") == 0 &&
        strcmp(v[3], "end") == 0);
  CHECK(split("name=\"a b\"c", v, 16, buf) == 1 && strcmp(v[0], "name=a bc") == 0);
  CHECK(split("a\\ b c", v, 16, buf) == 2 && strcmp(v[0], "a b") == 0);
  CHECK(split("\"say \\\"hi\\\"\" 'no \\ escape'", v, 16, buf) == 2 && strcmp(v[0], "say \"hi\"") == 0 &&
        strcmp(v[1], "no \\ escape") == 0);
  CHECK(split("\"\" x", v, 16, buf) == 2 && strcmp(v[0], "") == 0);
  CHECK(split("a b c d e", v, 3, buf) == 3 && strcmp(v[2], "c") == 0);
  CHECK(split("\"unterminated quote", v, 16, buf) == 1 && strcmp(v[0], "unterminated quote") == 0);
}

static void test_lookup(void) {
  char *argv[] = {"prog", "pages=4", "verbose", "pagesize=9", "pages=8", "empty=", 0};
  int argc = 6;
  CHECK(strcmp(sf_arg_get(argc, argv, "pages"), "8") == 0); /* the last one wins */
  CHECK(strcmp(sf_arg_get(argc, argv, "verbose"), "") == 0);
  CHECK(strcmp(sf_arg_get(argc, argv, "empty"), "") == 0);
  CHECK(sf_arg_get(argc, argv, "page") == 0);
  CHECK(sf_arg_get(argc, argv, "prog") == 0); /* argv[0] is not an argument */
  CHECK(sf_arg_get(argc, argv, "missing") == 0);

  unsigned long long v = 0;
  CHECK(sf_arg_u64(argc, argv, "pages", 1, &v) == 0 && v == 8);
  CHECK(sf_arg_u64(argc, argv, "missing", 77, &v) == 0 && v == 77);
  shim_reset();
  CHECK(sf_arg_u64(argc, argv, "verbose", 1, &v) == -1);
  CHECK(strstr(shim.console, "bad argument verbose=") != 0);
}

static void test_numbers(void) {
  unsigned long long v;
  CHECK(sf_parse_u64("0", &v) == 0 && v == 0);
  CHECK(sf_parse_u64("42", &v) == 0 && v == 42);
  CHECK(sf_parse_u64("0x1F", &v) == 0 && v == 31);
  CHECK(sf_parse_u64("010", &v) == 0 && v == 8);
  CHECK(sf_parse_u64("4k", &v) == 0 && v == 4096);
  CHECK(sf_parse_u64("2M", &v) == 0 && v == 2u << 20);
  CHECK(sf_parse_u64("1g", &v) == 0 && v == 1u << 30);
  CHECK(sf_parse_u64("0x10k", &v) == 0 && v == 16u << 10);
  CHECK(sf_parse_u64("18446744073709551615", &v) == 0 && v == ~0ull);
  CHECK(sf_parse_u64("18446744073709551616", &v) == -1);
  CHECK(sf_parse_u64("17179869184g", &v) == -1); /* 2^34 GiB overflows */
  CHECK(sf_parse_u64("", &v) == -1);
  CHECK(sf_parse_u64("x", &v) == -1);
  CHECK(sf_parse_u64("12x", &v) == -1);
  CHECK(sf_parse_u64("4kb", &v) == -1);
  CHECK(sf_parse_u64("08", &v) == -1);
  CHECK(sf_parse_u64("0x", &v) == -1);
  CHECK(sf_parse_u64("-1", &v) == -1);
  CHECK(sf_parse_u64(0, &v) == -1);
}

void test_args(void) {
  test_split();
  test_lookup();
  test_numbers();
}
