/* netecho's client and server over sfguest/net.h (see echo.h). */
#include "netecho/echo.h"
#include <sfguest/net.h>
#include <sfguest/time.h>

#define CHUNK 4096u

long netecho_client(int s, unsigned vmid, uint32_t bytes) {
  static uint8_t out[CHUNK], back[CHUNK];
  uint32_t sent = 0, got = 0;
  long bad = 0;
  while (got < bytes) {
    if (sent < bytes && sent - got < NETECHO_INFLIGHT) {
      uint32_t n = bytes - sent < CHUNK ? bytes - sent : CHUNK;
      for (uint32_t i = 0; i < n; i++) out[i] = netecho_byte(vmid, sent + i);
      long w = sf_send(s, out, n);
      if (w < 0) return w;
      sent += n;
      continue;
    }
    uint32_t want = sent - got < CHUNK ? sent - got : CHUNK;
    long r = sf_recv(s, back, want);
    if (r < 0) return r;
    if (r == 0) return -SF_NET_ECONNRESET; /* the master closed early */
    for (long i = 0; i < r; i++) bad += back[i] != netecho_byte(vmid, got + (uint32_t)i);
    got += (uint32_t)r;
  }
  return bad;
}

long long netecho_serve(int l, unsigned expected, unsigned timeout_ms, uint32_t *per_conn) {
  int conns[SF_NET_MAX_SOCKETS];
  unsigned accepted = 0, open = 0, slot_of[SF_NET_MAX_SOCKETS];
  long long total = 0;
  static uint8_t buf[8192];
  uint64_t start = sf_time_ns() / 1000000u;
  for (unsigned i = 0; i < expected && per_conn; i++) per_conn[i] = 0;
  while (accepted < expected || open > 0) {
    int busy = 0;
    if (accepted < expected && sf_readable(l) > 0) {
      int c = sf_accept(l, 0, 0);
      if (c < 0) return c;
      slot_of[open] = accepted++;
      conns[open++] = c;
      busy = 1;
    }
    for (unsigned k = 0; k < open; k++) {
      if (sf_readable(conns[k]) <= 0) continue;
      busy = 1;
      long r = sf_recv(conns[k], buf, sizeof buf);
      if (r > 0 && sf_send(conns[k], buf, (size_t)r) == r) {
        total += r;
        if (per_conn) per_conn[slot_of[k]] += (uint32_t)r;
        continue;
      }
      /* End of stream (the client verified its echo and closed) or an error: this one is done. */
      sf_close(conns[k]);
      conns[k] = conns[--open];
      slot_of[k] = slot_of[open];
      k--;
    }
    if (!busy) {
      sf_net_wait(10);
      if (timeout_ms && sf_time_ns() / 1000000u - start >= timeout_ms) return -SF_NET_ETIMEDOUT;
    }
  }
  return total;
}
