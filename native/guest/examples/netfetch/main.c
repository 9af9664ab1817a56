/* netfetch — an HTTP GET from a flat guest, out through the cluster's router. Prints the status line and
 * the body's size and FNV-1a checksum:
 *     netfetch: HTTP/1.0 200 OK body=1234 fnv1a=0x1a2b3c4d
 * Exit code 0 for a 2xx answer, 1 otherwise. Args: url=http://198.18.0.10:8080/file (an IP: no DNS)
 * timeout=30 (seconds). Needs a VM with a NIC (the `net` option) and the server on the whitelist. */
#include <sfguest/args.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include "netfetch/http.h"

SF_PROGRAM_NAME("netfetch");

int main(int argc, char **argv) {
  const char *url = sf_arg_get(argc, argv, "url");
  unsigned long long timeout;
  struct http_url u;
  if (sf_arg_u64(argc, argv, "timeout", 30, &timeout)) return 64;
  if (!url || http_parse_url(url, &u) < 0) {
    printf("netfetch: give url=http://a.b.c.d[:port][/path] (an IP address: flat guests have no DNS)\n");
    return 64;
  }
  int r = sf_net_init(0);
  if (r < 0) {
    printf("netfetch: the network did not come up: %s\n", sf_net_strerror(r));
    return 1;
  }
  char ip[16], req[HTTP_PATH_MAX + 256];
  int len = http_request(&u, req, sizeof req);
  int s = sf_socket(SF_SOCK_STREAM);
  if (s >= 0) sf_set_timeout(s, (unsigned)(timeout * 1000));
  r = s < 0 ? s : sf_connect(s, u.ip, u.port);
  if (r < 0) {
    printf("netfetch: connect to %s:%u: %s\n", sf_ip_format(u.ip, ip), u.port, sf_net_strerror(r));
    return 1;
  }
  long w = sf_send(s, req, (size_t)len);
  struct http_reader rd;
  http_reader_init(&rd);
  static uint8_t buf[8192];
  long n = w < 0 ? w : 0;
  while (n >= 0 && (n = sf_recv(s, buf, sizeof buf)) > 0) http_reader_feed(&rd, buf, (size_t)n);
  sf_close(s);
  if (n < 0) {
    printf("netfetch: %s: %s after %llu body bytes\n", url, sf_net_strerror((int)n), (unsigned long long)rd.body_bytes);
    return 1;
  }
  if (!rd.status_done || !rd.code) {
    printf("netfetch: %s: no HTTP status line in the answer\n", url);
    return 1;
  }
  printf("netfetch: %s body=%llu fnv1a=0x%08x\n", rd.status, (unsigned long long)rd.body_bytes, rd.fnv);
  return rd.code >= 200 && rd.code < 300 ? 0 : 1;
}
