/* netfetch's pure parts, host-testable: parsing an http://IP[:port]/path URL (no DNS in flat guests) and
 * reading a response in whatever pieces it arrives: the status line, the end of the headers, and the
 * body's length and FNV-1a checksum. */
#ifndef EXAMPLES_NETFETCH_HTTP_H
#define EXAMPLES_NETFETCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_PATH_MAX 512
#define HTTP_STATUS_MAX 128

struct http_url {
  uint32_t ip;
  uint16_t port;
  char path[HTTP_PATH_MAX];
};
/* 0, or -1 if url is not http://a.b.c.d[:port][/path]. */
int http_parse_url(const char *url, struct http_url *out);
/* Writes "GET path HTTP/1.0" with Host and Connection: close into buf; returns its length (or -1). */
int http_request(const struct http_url *u, char *buf, size_t size);

struct http_reader {
  char status[HTTP_STATUS_MAX]; /* the status line, without CR LF */
  size_t status_len;
  int status_done, headers_done;
  int code;          /* from the status line; 0 if it did not parse */
  uint32_t line_end; /* how much of CR LF CR LF was matched */
  uint64_t body_bytes;
  uint32_t fnv; /* FNV-1a over the body */
};
void http_reader_init(struct http_reader *r);
void http_reader_feed(struct http_reader *r, const uint8_t *data, size_t len);

#endif /* EXAMPLES_NETFETCH_HTTP_H */
