/* Boot arguments: splitting the command line into words, and reading `key=value` words. */
#include <sfguest/args.h>
#include <sfguest/ctype.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>

int sf_split_args(char *buf, char **argv, int max) {
  int argc = 0;
  char *in = buf;
  while (argc < max) {
    while (isspace((unsigned char)*in)) in++;
    if (!*in) break;
    /* Unquote into the same buffer: the output never runs ahead of the input. */
    char *word = in, *out = in;
    char quote = 0;
    while (*in) {
      char c = *in;
      if (quote) {
        in++;
        if (c == quote) quote = 0;
        else if (c == '\\' && quote == '"' && (*in == '"' || *in == '\\')) *out++ = *in++;
        else *out++ = c;
      } else if (isspace((unsigned char)c)) {
        break;
      } else if (c == '"' || c == '\'') {
        quote = c;
        in++;
      } else if (c == '\\' && in[1]) {
        *out++ = in[1];
        in += 2;
      } else {
        *out++ = c;
        in++;
      }
    }
    int at_end = !*in;
    if (!at_end) in++;
    *out = 0;
    argv[argc++] = word;
    if (at_end) break;
  }
  return argc;
}

const char *sf_arg_get(int argc, char **argv, const char *key) {
  size_t klen = strlen(key);
  const char *found = 0;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], key, klen) != 0) continue;
    if (argv[i][klen] == '=') found = argv[i] + klen + 1;
    else if (argv[i][klen] == 0) found = "";
  }
  return found;
}

int sf_parse_u64(const char *s, unsigned long long *out) {
  unsigned long long v = 0;
  unsigned base = 10;
  if (!s || !*s) return -1;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
    if (!*s) return -1;
  } else if (s[0] == '0' && s[1]) {
    base = 8;
    s++;
  }
  for (; *s; s++) {
    unsigned d;
    int c = tolower((unsigned char)*s);
    if (isdigit(c)) d = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f' && base == 16) d = (unsigned)(c - 'a' + 10);
    else break;
    if (d >= base) return -1;
    if (v > (~0ull - d) / base) return -1;
    v = v * base + d;
  }
  if (*s) {
    unsigned shift = 0;
    char c = (char)tolower((unsigned char)*s);
    if (c == 'k') shift = 10;
    else if (c == 'm') shift = 20;
    else if (c == 'g') shift = 30;
    if (!shift || s[1]) return -1;
    if (v > (~0ull >> shift)) return -1;
    v <<= shift;
  }
  *out = v;
  return 0;
}

int sf_arg_u64(int argc, char **argv, const char *key, unsigned long long dflt, unsigned long long *out) {
  const char *v = sf_arg_get(argc, argv, key);
  if (!v) {
    *out = dflt;
    return 0;
  }
  if (sf_parse_u64(v, out) != 0) {
    printf("bad argument %s=%s: expected an unsigned integer\n", key, v);
    return -1;
  }
  return 0;
}
