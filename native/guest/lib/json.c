/* sfguest/json.h: a JSON reader over the text itself. Every step is bounded by the end pointer, so a truncated or
 * hostile answer can only make a lookup fail. */
#include <sfguest/json.h>
#include <sfguest/string.h>

static const char *ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* Past the string starting at p (at its opening quote), or NULL. */
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '"') return p + 1;
    if ((unsigned char)*p < 0x20) return 0;
    if (*p == '\\' && ++p == end) return 0;
  }
  return 0;
}

static const char *skip_value(const char *p, const char *end, int depth);

/* Past the object or array at p, or NULL. */
static const char *skip_container(const char *p, const char *end, int depth) {
  char close = *p == '{' ? '}' : ']';
  if (depth >= SF_JSON_MAX_DEPTH) return 0;
  p = ws(p + 1, end);
  if (p < end && *p == close) return p + 1;
  for (;;) {
    if (close == '}') {
      if (p >= end || *p != '"' || !(p = skip_string(p, end))) return 0;
      p = ws(p, end);
      if (p >= end || *p != ':') return 0;
      p = ws(p + 1, end);
    }
    if (!(p = skip_value(p, end, depth + 1))) return 0;
    p = ws(p, end);
    if (p >= end) return 0;
    if (*p == close) return p + 1;
    if (*p != ',') return 0;
    p = ws(p + 1, end);
  }
}

static int word(const char *p, const char *end, const char *w) {
  size_t n = strlen(w);
  return (size_t)(end - p) >= n && memcmp(p, w, n) == 0;
}

static const char *skip_value(const char *p, const char *end, int depth) {
  if (p >= end) return 0;
  switch (*p) {
    case '"': return skip_string(p, end);
    case '{':
    case '[': return skip_container(p, end, depth);
    case 't': return word(p, end, "true") ? p + 4 : 0;
    case 'f': return word(p, end, "false") ? p + 5 : 0;
    case 'n': return word(p, end, "null") ? p + 4 : 0;
    default: {
      const char *s = p;
      if (p < end && *p == '-') p++;
      while (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-'))
        p++;
      return p > s && (s[0] != '-' || p > s + 1) ? p : 0;
    }
  }
}

/* The value of one path segment (seg[0..len)) inside v. */
static int step(struct sf_json v, const char *seg, size_t len, struct sf_json *out) {
  const char *p = v.p, *end = v.p + v.n;
  if (p >= end || (*p != '{' && *p != '[')) return -1;
  int object = *p == '{';
  long index = -1;
  if (!object) {
    index = 0;
    if (len == 0 || len > 9) return -1;
    for (size_t i = 0; i < len; i++) {
      if (seg[i] < '0' || seg[i] > '9') return -1;
      index = index * 10 + (seg[i] - '0');
    }
  }
  p = ws(p + 1, end);
  if (p < end && *p == (object ? '}' : ']')) return -1;
  for (long i = 0;; i++) {
    int match = 0;
    if (object) {
      const char *k = p;
      if (p >= end || *p != '"' || !(p = skip_string(p, end))) return -1;
      match = (size_t)(p - k - 2) == len && memcmp(k + 1, seg, len) == 0;
      p = ws(p, end);
      if (p >= end || *p != ':') return -1;
      p = ws(p + 1, end);
    } else match = i == index;
    const char *s = p;
    if (!(p = skip_value(p, end, 1))) return -1;
    if (match) {
      out->p = s;
      out->n = (size_t)(p - s);
      return 0;
    }
    p = ws(p, end);
    if (p >= end || *p != ',') return -1;
    p = ws(p + 1, end);
  }
}

int sf_json_at(struct sf_json v, const char *path, struct sf_json *out) {
  const char *end = v.p + v.n;
  const char *s = ws(v.p, end);
  const char *e = skip_value(s, end, 0);
  if (!e) return -1;
  struct sf_json cur = {s, (size_t)(e - s)};
  while (path && *path) {
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    if (step(cur, path, len, &cur) < 0) return -1;
    path += len + (dot ? 1 : 0);
  }
  *out = cur;
  return 0;
}

int sf_json_get(const char *text, size_t n, const char *path, struct sf_json *out) {
  if (!text) return -1;
  struct sf_json all = {text, n};
  return sf_json_at(all, path, out);
}

enum sf_json_type sf_json_type(struct sf_json v) {
  if (!v.p || v.n == 0) return SF_JSON_NONE;
  switch (v.p[0]) {
    case 'n': return SF_JSON_NULL;
    case 't':
    case 'f': return SF_JSON_BOOL;
    case '"': return SF_JSON_STRING;
    case '[': return SF_JSON_ARRAY;
    case '{': return SF_JSON_OBJECT;
    default: return SF_JSON_NUMBER;
  }
}

int sf_json_int(struct sf_json v, long long *out) {
  if (sf_json_type(v) != SF_JSON_NUMBER) return -1;
  size_t i = 0;
  int neg = v.p[0] == '-';
  if (neg) i++;
  if (i == v.n) return -1;
  unsigned long long x = 0;
  for (; i < v.n; i++) {
    if (v.p[i] < '0' || v.p[i] > '9') return -1;
    unsigned d = (unsigned)(v.p[i] - '0');
    if (x > (9223372036854775808ull - d) / 10) return -1;
    x = x * 10 + d;
  }
  if (!neg && x > 9223372036854775807ull) return -1;
  *out = neg ? (long long)(0 - x) : (long long)x;
  return 0;
}

int sf_json_bool(struct sf_json v, int *out) {
  if (sf_json_type(v) != SF_JSON_BOOL) return -1;
  *out = v.p[0] == 't';
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long sf_json_string(struct sf_json v, char *buf, size_t cap) {
  if (!buf || cap == 0) return -1;
  buf[0] = 0;
  if (sf_json_type(v) != SF_JSON_STRING || v.n < 2) return -1;
  size_t o = 0;
  for (size_t i = 1; i + 1 < v.n; i++) {
    char c = v.p[i];
    if (c == '\\') {
      char e = v.p[++i];
      switch (e) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u': {
          unsigned u = 0;
          for (int k = 0; k < 4; k++) {
            int h = i + 1 + (size_t)k < v.n - 1 ? hexval(v.p[i + 1 + (size_t)k]) : -1;
            if (h < 0) return -1;
            u = u * 16 + (unsigned)h;
          }
          i += 4;
          c = u < 0x80 ? (char)u : '?';
          break;
        }
        default: c = e; /* \" \\ \/ */
      }
    }
    if (o + 1 >= cap) return -1;
    buf[o++] = c;
    buf[o] = 0;
  }
  return (long)o;
}

long sf_json_length(struct sf_json v) {
  if (sf_json_type(v) != SF_JSON_ARRAY) return -1;
  const char *p = ws(v.p + 1, v.p + v.n), *end = v.p + v.n;
  if (p < end && *p == ']') return 0;
  for (long n = 1;; n++) {
    if (!(p = skip_value(p, end, 1))) return -1;
    p = ws(p, end);
    if (p >= end) return -1;
    if (*p == ']') return n;
    if (*p != ',') return -1;
    p = ws(p + 1, end);
  }
}

long sf_json_quote(const char *s, char *buf, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
#define PUT(ch)                  \
  do {                           \
    if (o + 1 >= cap) return -1; \
    buf[o++] = (ch);             \
  } while (0)
  if (!buf || cap == 0) return -1;
  PUT('"');
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      PUT('\\');
      PUT((char)c);
    } else if (c < 0x20) {
      PUT('\\');
      PUT('u');
      PUT('0');
      PUT('0');
      PUT(hex[c >> 4]);
      PUT(hex[c & 15]);
    } else PUT((char)c);
  }
  PUT('"');
#undef PUT
  buf[o] = 0;
  return (long)o;
}
