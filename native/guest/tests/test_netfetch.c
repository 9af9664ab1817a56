/* netfetch's URL parsing, request and response reader (examples/netfetch/http.c). */
#include <sfguest/string.h>
#include "netfetch/http.h"
#include "test.h"

void test_netfetch(void) {
  struct http_url u;
  CHECK(http_parse_url("http://198.18.0.10:8080/a/b?c=d", &u) == 0);
  CHECK(u.ip == 0xc6120000u + 10 && u.port == 8080 && strcmp(u.path, "/a/b?c=d") == 0);
  CHECK(http_parse_url("http://10.1.2.3", &u) == 0 && u.port == 80 && strcmp(u.path, "/") == 0);
  CHECK(http_parse_url("https://10.1.2.3/", &u) < 0);
  CHECK(http_parse_url("http://example.org/", &u) < 0);
  CHECK(http_parse_url("http://10.1.2.3:0/", &u) < 0 && http_parse_url("http://10.1.2.3:70000/", &u) < 0);
  CHECK(http_parse_url("http://10.1.2.3x/", &u) < 0 && http_parse_url("http://", &u) < 0);

  char req[600];
  CHECK(http_parse_url("http://198.18.0.10:8080/x", &u) == 0);
  int n = http_request(&u, req, sizeof req);
  CHECK(n > 0 && strncmp(req, "GET /x HTTP/1.0\r\nHost: 198.18.0.10\r\n", 35) == 0);
  CHECK(strcmp(req + n - 4, "\r\n\r\n") == 0);

  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc";
  struct http_reader whole, bytes;
  http_reader_init(&whole);
  http_reader_feed(&whole, (const uint8_t *)resp, sizeof resp - 1);
  http_reader_init(&bytes);
  for (size_t i = 0; i < sizeof resp - 1; i++) http_reader_feed(&bytes, (const uint8_t *)resp + i, 1);
  CHECK(strcmp(whole.status, "HTTP/1.1 200 OK") == 0 && whole.code == 200);
  CHECKF(whole.body_bytes == 3 && whole.fnv == 0x1a47e90bu, "body %llu fnv %08x", (unsigned long long)whole.body_bytes,
         whole.fnv);
  CHECK(bytes.body_bytes == 3 && bytes.fnv == whole.fnv && strcmp(bytes.status, whole.status) == 0);

  struct http_reader nf;
  http_reader_init(&nf);
  static const char r404[] = "HTTP/1.0 404 Not Found\r\n\r\n";
  http_reader_feed(&nf, (const uint8_t *)r404, sizeof r404 - 1);
  CHECK(nf.code == 404 && nf.headers_done && nf.body_bytes == 0);
  http_reader_init(&nf);
  http_reader_feed(&nf, (const uint8_t *)"SSH-2.0\r\n", 9);
  CHECK(nf.status_done && nf.code == 0);
}
