/* netbench — figures of the cluster network for bench/net.bench.ts, one mode per run (arg mode=):
 *   udp-rtt      clone 1 pings every other clone (2..N) in turn: n UDP round trips of
 *                64 bytes each, timed with sf_time_ns; prints one line per peer on clone 1's console:
 *                  netbench udp-rtt peer=V n=N lost=L p50_us=X p99_us=Y min_us=Z
 *   tcp-stream   clone 1 connects to every other clone in turn and reads the mib MiB it streams:
 *                  netbench tcp-stream peer=V bytes=B us=T
 *   connect-all  all clones connect to the master at once, send a line and read the reply; the master prints
 *                  netbench connect-all clones=N served=S total_ms=T spread_ms=W p50_us=X max_us=Y
 *                (total: from the fork to the last reply; spread: first accept to last reply; the clones'
 *                own connect-to-reply times in p50/max)
 *   outside-stream  the master alone reads everything host:port sends (no clones):
 *                  netbench outside-stream bytes=B us=T
 * Args: mode= clones=2 n=1000 mib=16 host= port=9000 timeout=60 (seconds). Needs a VM with a NIC. */
#include <sf.h>
#include <sfguest/args.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/time.h>

SF_PROGRAM_NAME("netbench");

#define UDP_PORT 7100
#define STREAM_PORT 7101
#define GATHER_PORT 7102
#define PING_SIZE 64
#define MAX_PINGS 4000
#define MAX_VMS 17

static const char STOP[] = "netbench-stop";

static uint64_t now_us(void) { return sf_time_ns() / 1000u; }

/* VM vmid's address: host number vmid + 1 of the cluster's subnet (what sfmd assigns). */
static uint32_t vm_ip(unsigned vmid) { return (sf_ip() & sf_netmask()) + vmid + 1u; }

static void sort_u32(uint32_t *a, unsigned n) {
  for (unsigned i = 1; i < n; i++) {
    uint32_t x = a[i];
    unsigned j = i;
    for (; j > 0 && a[j - 1] > x; j--) a[j] = a[j - 1];
    a[j] = x;
  }
}

/* One ping to ip and its echo (matched by sequence number); its round trip in µs, or -1 if none came in wait_ms. */
static long ping(int u, uint32_t ip, uint32_t seq, unsigned wait_ms) {
  static uint8_t out[PING_SIZE], in[PING_SIZE];
  memset(out, 0xa5, sizeof out);
  memcpy(out, &seq, sizeof seq);
  uint64_t t0 = now_us();
  if (sf_sendto(u, out, sizeof out, ip, UDP_PORT) < 0) return -1;
  for (;;) {
    uint32_t from;
    long r = sf_recvfrom(u, in, sizeof in, &from, 0);
    if (r < 0) return -1;
    uint32_t got;
    memcpy(&got, in, sizeof got);
    if (from == ip && r == PING_SIZE && got == seq) return (long)(now_us() - t0);
    if (now_us() - t0 > wait_ms * 1000u) return -1;
  }
}

/* Waits until the peer answers pings (it may still be asking DHCP for its address). */
static int reach(int u, uint32_t ip, unsigned timeout_ms) {
  sf_set_timeout(u, 100);
  uint64_t start = now_us();
  for (uint32_t seq = 0x80000000u; now_us() - start < timeout_ms * 1000ull; seq++)
    if (ping(u, ip, seq, 100) >= 0) return 0;
  return -1;
}

static void stop_peer(int u, uint32_t ip) {
  for (int i = 0; i < 3; i++) sf_sendto(u, STOP, sizeof STOP, ip, UDP_PORT);
}

static void udp_rtt(int u, unsigned peer, unsigned n) {
  static uint32_t rtt[MAX_PINGS];
  uint32_t ip = vm_ip(peer);
  unsigned ok = 0, lost = 0;
  sf_set_timeout(u, 1000);
  for (unsigned i = 0; i < 20; i++) ping(u, ip, 0x40000000u + i, 1000); /* warm ARP and caches */
  for (unsigned i = 0; i < n; i++) {
    long us = ping(u, ip, i, 1000);
    if (us < 0) lost++;
    else rtt[ok++] = (uint32_t)us;
  }
  sort_u32(rtt, ok);
  printf("netbench udp-rtt peer=%u n=%u lost=%u p50_us=%u p99_us=%u min_us=%u\n", peer, ok, lost, ok ? rtt[ok / 2] : 0,
         ok ? rtt[ok * 99 / 100 < ok ? ok * 99 / 100 : ok - 1] : 0, ok ? rtt[0] : 0);
}

/* Reads everything a TCP connection to ip:port sends; prints its size and time. */
static int read_stream(const char *mode, int peer, uint32_t ip, uint16_t port) {
  static uint8_t buf[16384];
  int s = sf_socket(SF_SOCK_STREAM);
  sf_set_timeout(s, 30000);
  uint64_t t0 = now_us();
  int r = s < 0 ? s : sf_connect(s, ip, port);
  if (r < 0) {
    printf("netbench %s peer=%d connect: %s\n", mode, peer, sf_net_strerror(r));
    if (s >= 0) sf_close(s);
    return 1;
  }
  unsigned long long bytes = 0;
  long n;
  while ((n = sf_recv(s, buf, sizeof buf)) > 0) bytes += (unsigned long long)n;
  uint64_t us = now_us() - t0;
  sf_close(s);
  if (peer >= 0)
    printf("netbench %s peer=%d bytes=%llu us=%llu%s%s\n", mode, peer, bytes, (unsigned long long)us,
           n < 0 ? " error=" : "", n < 0 ? sf_net_strerror((int)n) : "");
  else
    printf("netbench %s bytes=%llu us=%llu%s%s\n", mode, bytes, (unsigned long long)us, n < 0 ? " error=" : "",
           n < 0 ? sf_net_strerror((int)n) : "");
  return n < 0;
}

/* Clone 1 in udp-rtt and tcp-stream: every other clone in turn, then tells each to stop. */
static int driver(const char *mode, unsigned vms, unsigned n, unsigned timeout_ms) {
  int u = sf_socket(SF_SOCK_DGRAM);
  if (u < 0 || sf_bind(u, UDP_PORT + 1) < 0) return 1;
  int bad = 0;
  for (unsigned peer = 2; peer < vms; peer++) {
    if (reach(u, vm_ip(peer), timeout_ms) < 0) {
      printf("netbench %s peer=%u unreachable\n", mode, peer);
      bad = 1;
      continue;
    }
    if (strcmp(mode, "udp-rtt") == 0) udp_rtt(u, peer, n);
    else bad |= read_stream(mode, (int)peer, vm_ip(peer), STREAM_PORT);
  }
  for (unsigned peer = 2; peer < vms; peer++) stop_peer(u, vm_ip(peer));
  sf_close(u);
  return bad;
}

/* Clones 2..N: echo pings and stream `bytes` to each TCP connection until told to stop. */
static int peer(uint32_t bytes, unsigned timeout_ms) {
  static uint8_t buf[16384];
  memset(buf, 0x5a, sizeof buf);
  int u = sf_socket(SF_SOCK_DGRAM), l = sf_socket(SF_SOCK_STREAM);
  if (u < 0 || l < 0 || sf_bind(u, UDP_PORT) < 0 || sf_listen(l, STREAM_PORT) < 0) return 1;
  uint64_t start = now_us();
  for (;;) {
    int busy = 0;
    if (sf_readable(u) > 0) {
      uint8_t in[PING_SIZE];
      uint32_t ip;
      uint16_t port;
      long r = sf_recvfrom(u, in, sizeof in, &ip, &port);
      if (r == sizeof STOP && memcmp(in, STOP, sizeof STOP) == 0) break;
      if (r > 0) sf_sendto(u, in, (size_t)r, ip, port);
      busy = 1;
    }
    if (sf_readable(l) > 0) {
      int c = sf_accept(l, 0, 0);
      sf_set_timeout(c, 30000);
      for (uint32_t sent = 0; c >= 0 && sent < bytes;) {
        uint32_t k = bytes - sent < sizeof buf ? bytes - sent : (uint32_t)sizeof buf;
        if (sf_send(c, buf, k) != (long)k) break;
        sent += k;
      }
      if (c >= 0) sf_close(c);
      busy = 1;
    }
    if (!busy) {
      sf_net_wait(10); /* asleep until a ping or a connection comes: the driver and its peer get the cores */
      if (now_us() - start > timeout_ms * 1000ull) return 1;
    }
  }
  sf_close(u);
  sf_close(l);
  /* Let the FINs and the last echoes go out before the VM ends. */
  for (uint64_t t = now_us(); now_us() - t < 50000;) sf_net_wait(10);
  return 0;
}

/* A clone in connect-all: connect, one line out, the reply back, then its own connect-to-reply time. */
static int gather_client(unsigned vmid) {
  char line[48], reply[8];
  int s = sf_socket(SF_SOCK_STREAM);
  sf_set_timeout(s, 30000);
  uint64_t t0 = now_us();
  int r = s < 0 ? s : sf_connect(s, vm_ip(0), GATHER_PORT);
  int n = snprintf(line, sizeof line, "hello %u\n", vmid);
  if (r >= 0 && sf_send(s, line, (size_t)n) == n && sf_recv(s, reply, sizeof reply) > 0) {
    n = snprintf(line, sizeof line, "%llu\n", (unsigned long long)(now_us() - t0));
    sf_send(s, line, (size_t)n);
    sf_close(s);
    for (uint64_t t = now_us(); now_us() - t < 50000;) sf_net_wait(10);
    return 0;
  }
  if (s >= 0) sf_close(s);
  return 1;
}

struct gather_conn {
  int s, replied;
  char text[48];
  unsigned len;
};

/* The master in connect-all: serves every clone at once, prints the times. */
static void gather_serve(int l, unsigned expected, uint64_t forked, unsigned timeout_ms) {
  static struct gather_conn c[SF_NET_MAX_SOCKETS];
  static uint32_t their[MAX_VMS];
  unsigned open = 0, served = 0, done = 0, figs = 0;
  uint64_t first = 0, last = 0;
  while (done < expected && now_us() - forked < timeout_ms * 1000ull) {
    int busy = 0;
    if (sf_readable(l) > 0 && open < SF_NET_MAX_SOCKETS - 2) {
      int s = sf_accept(l, 0, 0);
      if (s >= 0) {
        if (!first) first = now_us();
        c[open].s = s;
        c[open].replied = 0;
        c[open++].len = 0;
      }
      busy = 1;
    }
    for (unsigned k = 0; k < open; k++) {
      if (sf_readable(c[k].s) <= 0) continue;
      busy = 1;
      char in[48];
      long r = sf_recv(c[k].s, in, sizeof in);
      for (long i = 0; i < r; i++) {
        if (in[i] != '\n') {
          if (c[k].len < sizeof c[k].text - 1) c[k].text[c[k].len++] = in[i];
          continue;
        }
        c[k].text[c[k].len] = 0;
        if (!c[k].replied) {
          sf_send(c[k].s, "ok\n", 3);
          c[k].replied = 1;
          last = now_us();
          served++;
        } else if (figs < MAX_VMS) {
          unsigned long long us = 0;
          for (const char *p = c[k].text; *p >= '0' && *p <= '9'; p++) us = us * 10 + (unsigned)(*p - '0');
          their[figs++] = (uint32_t)us;
        }
        c[k].len = 0;
      }
      if (r <= 0) {
        if (c[k].replied) done++;
        sf_close(c[k].s);
        c[k] = c[--open];
        k--;
      }
    }
    if (!busy) sf_net_wait(10);
  }
  sort_u32(their, figs);
  printf("netbench connect-all clones=%u served=%u total_ms=%llu spread_ms=%llu p50_us=%u max_us=%u\n", expected,
         served, (unsigned long long)(last - forked) / 1000u, (unsigned long long)(last - first) / 1000u,
         figs ? their[figs / 2] : 0, figs ? their[figs - 1] : 0);
}

int main(int argc, char **argv) {
  unsigned long long clones, n, mib, port, timeout;
  const char *mode = sf_arg_get(argc, argv, "mode");
  const char *host = sf_arg_get(argc, argv, "host");
  if (sf_arg_u64(argc, argv, "clones", 2, &clones) || sf_arg_u64(argc, argv, "n", 1000, &n) ||
      sf_arg_u64(argc, argv, "mib", 16, &mib) || sf_arg_u64(argc, argv, "port", 9000, &port) ||
      sf_arg_u64(argc, argv, "timeout", 60, &timeout))
    return 64;
  int pairs = mode && (strcmp(mode, "udp-rtt") == 0 || strcmp(mode, "tcp-stream") == 0);
  int gather = mode && strcmp(mode, "connect-all") == 0;
  int outside = mode && strcmp(mode, "outside-stream") == 0;
  if ((!pairs && !gather && !outside) || clones < 1 || clones + 1 > MAX_VMS || n < 1 || n > MAX_PINGS || mib < 1 ||
      mib > 1024 || (pairs && clones < 2) || (outside && !host)) {
    printf(
        "netbench: need mode=udp-rtt|tcp-stream|connect-all|outside-stream (host=IP), 1 <= clones <= %u (2 for the "
        "pair modes), 1 <= n <= %u, 1 <= mib <= 1024\n",
        MAX_VMS - 1, MAX_PINGS);
    return 64;
  }
  unsigned timeout_ms = (unsigned)timeout * 1000u;
  int r = sf_net_init(0);
  if (r < 0) {
    printf("netbench: the network did not come up: %s\n", sf_net_strerror(r));
    return 1;
  }
  if (outside) {
    uint32_t ip;
    if (sf_ip_parse(host, &ip) < 0) return 64;
    return read_stream("outside-stream", -1, ip, (uint16_t)port);
  }
  int l = -1;
  if (gather) {
    l = sf_socket(SF_SOCK_STREAM);
    if (l < 0 || sf_listen(l, GATHER_PORT) < 0) return 1;
  }
  char ticket[SF_TICKET_SIZE + 1];
  int got = sf_request_ticket((int)clones, ticket);
  if (got < 0) {
    printf("netbench: no clone ticket: %s\n", sf_errmsg());
    return 1;
  }
  uint64_t forked = now_us();
  int vmid = sf_clone(ticket);
  if (vmid < 0) {
    printf("netbench: clone failed: %s\n", sf_errmsg());
    return 1;
  }
  if (vmid > 0) {
    if (l >= 0) sf_close(l);
    r = sf_net_init(30000);
    if (r < 0) {
      printf("netbench vmid=%d: no address: %s\n", vmid, sf_net_strerror(r));
      sf_exit_status(1);
    }
    if (gather) sf_exit_status(gather_client((unsigned)vmid));
    sf_exit_status(vmid == 1 ? driver(mode, (unsigned)got + 1, (unsigned)n, timeout_ms)
                             : peer((uint32_t)(mib << 20), timeout_ms));
    return 1; /* not reached */
  }
  /* In the pair modes the master only joins (a VM waiting in sf_join leaves the host's cores to the others). */
  if (gather) gather_serve(l, (unsigned)got, forked, timeout_ms);
  static struct sf_hc_exit exits[MAX_VMS];
  int joined = sf_join_results(ticket, exits, MAX_VMS);
  int ok = joined == got;
  for (int i = 0; ok && i < got; i++) ok = exits[i].how == SF_CLONE_EXITED && exits[i].status == 0;
  printf("netbench %s: %d clones, %s\n", mode, got, ok ? "done" : "FAILED");
  return ok ? 0 : 1;
}
