/* A small JSON reader for guests (lib/json.c): finds a value by a path of keys and array indexes in a JSON
 * text without building a tree, and reads it as an integer, a boolean or a string. It never writes into the
 * text, never reads past the length given, and treats anything malformed as "not found".
 *
 * A path is keys and indexes joined by dots: "result.data.ticket", "result.data.exits.2.vmid"; "" is the whole
 * text. Keys are matched as written in the text (escapes in keys are not decoded). */
#ifndef SFGUEST_JSON_H
#define SFGUEST_JSON_H

#include <stddef.h>

/* One JSON value: where it starts in the text and how many bytes it spans. */
struct sf_json {
  const char *p;
  size_t n;
};

enum sf_json_type {
  SF_JSON_NONE = 0, /* not found, or malformed */
  SF_JSON_NULL,
  SF_JSON_BOOL,
  SF_JSON_NUMBER,
  SF_JSON_STRING,
  SF_JSON_ARRAY,
  SF_JSON_OBJECT,
};

/* The value at path inside text[0..n): 0 and *out set, or -1 when there is none (or the text is malformed on
 * the way there). Nesting deeper than SF_JSON_MAX_DEPTH is malformed. */
#define SF_JSON_MAX_DEPTH 32
int sf_json_get(const char *text, size_t n, const char *path, struct sf_json *out);
/* The same, inside a value already found. */
int sf_json_at(struct sf_json v, const char *path, struct sf_json *out);
enum sf_json_type sf_json_type(struct sf_json v);
/* An integer that fits a long long (no fraction or exponent): 0, else -1. */
int sf_json_int(struct sf_json v, long long *out);
/* true / false: 0 and *out 1 / 0, else -1. */
int sf_json_bool(struct sf_json v, int *out);
/* A string, its escapes decoded (\uXXXX beyond ASCII becomes '?'), NUL-terminated in buf[cap]: its length, or
 * -1 when v is no string or it does not fit (buf then holds what fitted). */
long sf_json_string(struct sf_json v, char *buf, size_t cap);
/* Elements of an array (-1: not an array). */
long sf_json_length(struct sf_json v);
/* Writes s as a JSON string (quotes included, control characters and '"' '\' escaped) into buf[cap]: the
 * length written, or -1 if it did not fit. */
long sf_json_quote(const char *s, char *buf, size_t cap);

#endif /* SFGUEST_JSON_H */
