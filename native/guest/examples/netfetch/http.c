/* netfetch's URL parsing and response reader (http.h). */
#include "netfetch/http.h"
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>

int http_parse_url(const char *url, struct http_url *out) {
  if (strncmp(url, "http://", 7) != 0) return -1;
  const char *host = url + 7, *end = host;
  while (*end && *end != ':' && *end != '/') end++;
  char ip[16];
  size_t n = (size_t)(end - host);
  if (n == 0 || n >= sizeof ip) return -1;
  memcpy(ip, host, n);
  ip[n] = 0;
  if (sf_ip_parse(ip, &out->ip) < 0) return -1;
  out->port = 80;
  if (*end == ':') {
    unsigned port = 0, digits = 0;
    for (end++; *end >= '0' && *end <= '9' && digits < 6; end++, digits++) port = port * 10 + (unsigned)(*end - '0');
    if (!digits || port == 0 || port > 65535) return -1;
    out->port = (uint16_t)port;
  }
  if (*end && *end != '/') return -1;
  const char *path = *end ? end : "/";
  if (strlen(path) >= sizeof out->path) return -1;
  strcpy(out->path, path);
  return 0;
}

int http_request(const struct http_url *u, char *buf, size_t size) {
  char ip[16];
  int n =
      snprintf(buf, size, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: snowflock-netfetch\r\nConnection: close\r\n\r\n",
               u->path, sf_ip_format(u->ip, ip));
  return n > 0 && (size_t)n < size ? n : -1;
}

void http_reader_init(struct http_reader *r) {
  memset(r, 0, sizeof *r);
  r->fnv = 2166136261u;
}

static int parse_code(const char *status) {
  /* "HTTP/1.x NNN reason" */
  const char *sp = strchr(status, ' ');
  if (strncmp(status, "HTTP/", 5) != 0 || !sp) return 0;
  int code = 0;
  for (int i = 1; i <= 3; i++) {
    if (sp[i] < '0' || sp[i] > '9') return 0;
    code = code * 10 + (sp[i] - '0');
  }
  return code;
}

void http_reader_feed(struct http_reader *r, const uint8_t *data, size_t len) {
  static const char terminator[] = "\r\n\r\n";
  for (size_t i = 0; i < len; i++) {
    uint8_t c = data[i];
    if (r->headers_done) {
      r->body_bytes++;
      r->fnv = (r->fnv ^ c) * 16777619u;
      continue;
    }
    if (!r->status_done) {
      if (c == '\r' || c == '\n') {
        r->status_done = 1;
        r->status[r->status_len] = 0;
        r->code = parse_code(r->status);
      } else if (r->status_len < HTTP_STATUS_MAX - 1) {
        r->status[r->status_len++] = (char)c;
      }
    }
    /* Headers end at the first CR LF CR LF. */
    r->line_end = c == (uint8_t)terminator[r->line_end] ? r->line_end + 1 : c == '\r' ? 1 : 0;
    if (r->line_end == 4) r->headers_done = 1;
  }
}
