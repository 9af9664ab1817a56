/* Host tests of lib/string.c and lib/convert.c against straightforward byte-loop expectations. */
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include <stdint.h>
#include "test.h"

static void test_mem(void) {
  unsigned char src[300], dst[300], ref[300];
  for (int i = 0; i < 300; i++) src[i] = (unsigned char)(i * 7 + 3);
  int bad = 0;
  for (int so = 0; so < 9; so++)
    for (int dof = 0; dof < 9; dof++)
      for (int n = 0; n < 70; n += 3) {
        for (int i = 0; i < 300; i++) dst[i] = ref[i] = 0xAA;
        for (int i = 0; i < n; i++) ref[dof + i] = src[so + i];
        if (memcpy(dst + dof, src + so, (size_t)n) != dst + dof) bad++;
        for (int i = 0; i < 300; i++) bad += dst[i] != ref[i];
      }
  CHECKF(bad == 0, "%d memcpy differences", bad);

  /* memmove, overlapping both ways. */
  bad = 0;
  for (int shift = -9; shift <= 9; shift++)
    for (int n = 0; n < 60; n += 7) {
      for (int i = 0; i < 300; i++) dst[i] = ref[i] = (unsigned char)i;
      unsigned char tmp[300];
      for (int i = 0; i < n; i++) tmp[i] = ref[100 + i];
      for (int i = 0; i < n; i++) ref[100 + shift + i] = tmp[i];
      memmove(dst + 100 + shift, dst + 100, (size_t)n);
      for (int i = 0; i < 300; i++) bad += dst[i] != ref[i];
    }
  CHECKF(bad == 0, "%d memmove differences", bad);

  bad = 0;
  for (int off = 0; off < 9; off++)
    for (int n = 0; n < 40; n++) {
      for (int i = 0; i < 300; i++) dst[i] = 1;
      memset(dst + off, 0x5C, (size_t)n);
      for (int i = 0; i < 300; i++) bad += dst[i] != (i >= off && i < off + n ? 0x5C : 1);
    }
  CHECKF(bad == 0, "%d memset differences", bad);

  CHECK(memcmp("abc", "abd", 3) < 0);
  CHECK(memcmp("abd", "abc", 3) > 0);
  CHECK(memcmp("abc", "abd", 2) == 0);
  CHECK(memcmp("\x80", "\x01", 1) > 0); /* bytes compare unsigned */
  CHECK(memchr("hello", 'l', 5) == (const char *)"hello" + 2 || *(char *)memchr("hello", 'l', 5) == 'l');
  CHECK(memchr("hello", 'z', 5) == 0);
}

static void test_str(void) {
  char buf[32];
  CHECK(strlen("") == 0);
  CHECK(strlen("snowflock") == 9);
  CHECK(strnlen("snowflock", 4) == 4);
  CHECK(strnlen("ab", 4) == 2);
  CHECK(strcmp("a", "a") == 0);
  CHECK(strcmp("a", "b") < 0);
  CHECK(strcmp("ab", "a") > 0);
  CHECK(strcmp("\xff", "a") > 0);
  CHECK(strncmp("abcX", "abcY", 3) == 0);
  CHECK(strncmp("abcX", "abcY", 4) < 0);
  CHECK(strncmp("ab", "ab", 10) == 0);
  CHECK(strcmp(strcpy(buf, "copy me"), "copy me") == 0);
  memset(buf, 'Z', sizeof buf);
  strncpy(buf, "ab", 5);
  CHECK(buf[0] == 'a' && buf[1] == 'b' && buf[2] == 0 && buf[4] == 0 && buf[5] == 'Z');
  CHECK(strlcpy(buf, "truncated", 5) == 9 && strcmp(buf, "trun") == 0);
  CHECK(strlcpy(buf, "x", sizeof buf) == 1 && strcmp(buf, "x") == 0);
  strcpy(buf, "con");
  CHECK(strcmp(strcat(buf, "cat"), "concat") == 0);
  const char *s = "a.b.c";
  CHECK(strchr(s, '.') == s + 1);
  CHECK(strrchr(s, '.') == s + 3);
  CHECK(strchr(s, 0) == s + 5);
  CHECK(strrchr(s, 0) == s + 5);
  CHECK(strchr(s, 'x') == 0);
  CHECK(strstr("hello world", "o w") == (const char *)"hello world" + 4 ||
        strncmp(strstr("hello world", "o w"), "o w", 3) == 0);
  CHECK(strstr("hello", "") != 0);
  CHECK(strstr("hello", "lo!") == 0);
}

static void test_convert(void) {
  char *end;
  CHECK(strtol("  -42xyz", &end, 10) == -42 && *end == 'x');
  CHECK(strtol("0x1f", &end, 0) == 31 && *end == 0);
  CHECK(strtol("0x1f", &end, 16) == 31);
  CHECK(strtol("017", &end, 0) == 15);
  CHECK(strtol("z", &end, 36) == 35);
  CHECK(strtol("+7", 0, 10) == 7);
  CHECK(strtoul("abc", &end, 10) == 0 && strcmp(end, "abc") == 0);
  CHECK(strtoll("9223372036854775807", 0, 10) == INT64_MAX);
  CHECK(strtoll("9223372036854775808", 0, 10) == INT64_MAX); /* saturates */
  CHECK(strtoll("-9223372036854775808", 0, 10) == INT64_MIN);
  CHECK(strtoll("-99999999999999999999", 0, 10) == INT64_MIN);
  CHECK(strtoull("18446744073709551615", 0, 10) == UINT64_MAX);
  CHECK(strtoull("18446744073709551616", 0, 10) == UINT64_MAX);
  CHECK(strtoull("-1", 0, 10) == UINT64_MAX);       /* C: negation in the unsigned type */
  CHECK(strtol("0x", &end, 0) == 0 && *end == 'x'); /* "0" parsed, "x" left */
  CHECK(atoi("123") == 123 && atoi("-5") == -5 && atoi("") == 0);
}

void test_string(void) {
  test_mem();
  test_str();
  test_convert();
}
