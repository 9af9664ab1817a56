/* The blocking socket API of sfguest/net.h over lwIP's raw TCP/UDP API: a fixed socket table, callbacks
 * that queue what arrives, and calls that poll the stack until they can finish or their timeout passes. */
#include <lwip/ip_addr.h>
#include <lwip/pbuf.h>
#include <lwip/tcp.h>
#include <lwip/udp.h>
#include <sfguest/net.h>
#include <sfguest/string.h>
#include "net_internal.h"

#define UDP_QUEUE 16
#define ACCEPT_QUEUE 16

struct dgram {
  struct pbuf *p;
  uint32_t ip;
  uint16_t port;
};

struct sock {
  int type; /* 0 = free */
  int listening, connected, connecting, eof;
  int err; /* a pending SF_NET_E* (positive) from lwIP's err callback */
  unsigned timeout_ms;
  struct tcp_pcb *tcp;
  struct udp_pcb *udp;
  struct pbuf *rx; /* TCP: received, not yet read (a chain) */
  struct dgram dq[UDP_QUEUE];
  unsigned dq_head, dq_len;
  int accq[ACCEPT_QUEUE]; /* listening: accepted sockets not yet handed out */
  unsigned acc_head, acc_len;
  uint32_t peer_ip; /* UDP connect */
  uint16_t peer_port;
};

static struct sock socks[SF_NET_MAX_SOCKETS];

static struct sock *get(int s, int type) {
  if (s < 0 || s >= SF_NET_MAX_SOCKETS || !socks[s].type) return 0;
  if (type && socks[s].type != type) return 0;
  return &socks[s];
}

static int alloc_sock(int type) {
  for (int i = 0; i < SF_NET_MAX_SOCKETS; i++)
    if (!socks[i].type) {
      memset(&socks[i], 0, sizeof socks[i]);
      socks[i].type = type;
      return i;
    }
  return -SF_NET_ENOMEM;
}

static int map_err(err_t e) {
  switch (e) {
    case ERR_OK: return 0;
    case ERR_MEM:
    case ERR_BUF: return SF_NET_ENOMEM;
    case ERR_USE: return SF_NET_EADDRINUSE;
    case ERR_RTE:
    case ERR_IF: return SF_NET_ENETDOWN;
    case ERR_CONN:
    case ERR_CLSD: return SF_NET_ENOTCONN;
    case ERR_RST:
    case ERR_ABRT: return SF_NET_ECONNRESET;
    case ERR_TIMEOUT: return SF_NET_ETIMEDOUT;
    default: return SF_NET_EINVAL;
  }
}

/* Polls until done(k) says 1, or the socket's timeout passes (-SF_NET_ETIMEDOUT), sleeping between polls
 * that brought nothing. The clock starts after a first poll: the one from the last poll may be old if the
 * program computed in between. */
static int wait_for(struct sock *k, int (*done)(struct sock *)) {
  if (done(k)) return 0;
  sf_net_poll();
  uint64_t start = sf_net_clock_ms();
  for (;;) {
    if (done(k)) return 0;
    uint64_t spent = sf_net_clock_ms() - start;
    if (k->timeout_ms && spent >= k->timeout_ms) return -SF_NET_ETIMEDOUT;
    sf_net_wait(k->timeout_ms ? (unsigned)(k->timeout_ms - spent) : 1000u);
  }
}

/* ---- lwIP callbacks ----------------------------------------------------------------------------- */
static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  (void)pcb;
  struct sock *k = arg;
  if (!p) {
    k->eof = 1;
    return ERR_OK;
  }
  if (err != ERR_OK) {
    pbuf_free(p);
    return err;
  }
  if (k->rx) pbuf_cat(k->rx, p);
  else k->rx = p;
  return ERR_OK;
}

static void on_err(void *arg, err_t err) {
  struct sock *k = arg;
  k->tcp = 0; /* lwIP already freed the pcb */
  k->err = k->connecting && err == ERR_RST ? SF_NET_ECONNREFUSED : map_err(err) ? map_err(err) : SF_NET_ECONNRESET;
  k->connecting = 0;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
  (void)pcb;
  struct sock *k = arg;
  k->connecting = 0;
  if (err == ERR_OK) k->connected = 1;
  else k->err = map_err(err);
  return ERR_OK;
}

static void attach_tcp(struct sock *k, struct tcp_pcb *pcb) {
  k->tcp = pcb;
  tcp_arg(pcb, k);
  tcp_recv(pcb, on_recv);
  tcp_err(pcb, on_err);
  tcp_nagle_disable(pcb); /* sf_send pushes whole writes; small replies should not wait */
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err) {
  struct sock *l = arg;
  if (err != ERR_OK || !newpcb) return ERR_VAL;
  if (l->acc_len == ACCEPT_QUEUE) return ERR_MEM; /* lwIP aborts the newcomer */
  int s = alloc_sock(SF_SOCK_STREAM);
  if (s < 0) return ERR_MEM;
  attach_tcp(&socks[s], newpcb); /* from now on data is queued, even before sf_accept */
  socks[s].connected = 1;
  l->accq[(l->acc_head + l->acc_len++) % ACCEPT_QUEUE] = s;
  return ERR_OK;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port) {
  (void)pcb;
  struct sock *k = arg;
  if (k->dq_len == UDP_QUEUE) {
    pbuf_free(p); /* a full queue drops, as a real socket buffer would */
    return;
  }
  struct dgram *d = &k->dq[(k->dq_head + k->dq_len++) % UDP_QUEUE];
  d->p = p;
  d->ip = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(addr)));
  d->port = port;
}

/* ---- The calls ---------------------------------------------------------------------------------- */
int sf_socket(int type) {
  if (type != SF_SOCK_STREAM && type != SF_SOCK_DGRAM) return -SF_NET_EINVAL;
  if (!sf_net_ready()) return -SF_NET_ENETDOWN;
  int s = alloc_sock(type);
  if (s < 0) return s;
  struct sock *k = &socks[s];
  if (type == SF_SOCK_STREAM) {
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
    if (!pcb) goto nomem;
    tcp_bind_netif(pcb, netif_get_by_index(sf_net_netif_index()));
    attach_tcp(k, pcb);
  } else {
    k->udp = udp_new_ip_type(IPADDR_TYPE_V4);
    if (!k->udp) goto nomem;
    udp_bind_netif(k->udp, netif_get_by_index(sf_net_netif_index()));
    udp_recv(k->udp, on_udp, k);
  }
  return s;
nomem:
  k->type = 0;
  return -SF_NET_ENOMEM;
}

int sf_set_timeout(int s, unsigned ms) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  k->timeout_ms = ms;
  return 0;
}

int sf_bind(int s, uint16_t port) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  if (k->type == SF_SOCK_STREAM) {
    if (!k->tcp) return -(k->err ? k->err : SF_NET_EINVAL);
    return -map_err(tcp_bind(k->tcp, IP4_ADDR_ANY, port));
  }
  return -map_err(udp_bind(k->udp, IP4_ADDR_ANY, port));
}

static int connect_done(struct sock *k) { return !k->connecting; }

int sf_connect(int s, uint32_t ip, uint16_t port) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  ip_addr_t addr = IPADDR4_INIT(lwip_htonl(ip));
  if (k->type == SF_SOCK_DGRAM) {
    k->peer_ip = ip;
    k->peer_port = port;
    return -map_err(udp_connect(k->udp, &addr, port));
  }
  if (!k->tcp || k->listening || k->connected) return -SF_NET_EINVAL;
  if (!sf_ip()) return -SF_NET_ENETDOWN;
  k->connecting = 1;
  err_t e = tcp_connect(k->tcp, &addr, port, on_connected);
  if (e != ERR_OK) {
    k->connecting = 0;
    return -map_err(e);
  }
  sf_net_poll(); /* the SYN leaves now */
  int r = wait_for(k, connect_done);
  if (r < 0) return r;
  if (k->err) return -k->err;
  return k->connected ? 0 : -SF_NET_ECONNRESET;
}

int sf_listen(int s, uint16_t port) {
  struct sock *k = get(s, SF_SOCK_STREAM);
  if (!k) return -SF_NET_EBADF;
  if (!k->tcp || k->listening || k->connected || k->connecting) return -SF_NET_EINVAL;
  ip_set_option(k->tcp, SOF_REUSEADDR);
  err_t e = tcp_bind(k->tcp, IP4_ADDR_ANY, port);
  if (e != ERR_OK) return -map_err(e);
  struct tcp_pcb *lpcb = tcp_listen_with_backlog(k->tcp, ACCEPT_QUEUE);
  if (!lpcb) return -SF_NET_ENOMEM;
  k->tcp = lpcb; /* tcp_listen freed the original pcb */
  k->listening = 1;
  tcp_arg(lpcb, k);
  tcp_accept(lpcb, on_accept);
  return 0;
}

static int accept_done(struct sock *k) { return k->acc_len > 0 || !k->tcp; }

int sf_accept(int s, uint32_t *ip, uint16_t *port) {
  struct sock *k = get(s, SF_SOCK_STREAM);
  if (!k || !k->listening) return -SF_NET_EBADF;
  int r = wait_for(k, accept_done);
  if (r < 0) return r;
  if (!k->acc_len) return -SF_NET_ECONNRESET;
  int n = k->accq[k->acc_head];
  k->acc_head = (k->acc_head + 1) % ACCEPT_QUEUE;
  k->acc_len--;
  struct sock *c = &socks[n];
  if (c->tcp) {
    if (ip) *ip = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(&c->tcp->remote_ip)));
    if (port) *port = c->tcp->remote_port;
  }
  return n;
}

static int sendable(struct sock *k) {
  return !k->tcp || k->err || (tcp_sndbuf(k->tcp) > 0 && tcp_sndqueuelen(k->tcp) < TCP_SND_QUEUELEN - 4);
}

long sf_send(int s, const void *buf, size_t len) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  if (k->type == SF_SOCK_DGRAM) {
    if (!k->peer_port) return -SF_NET_ENOTCONN;
    return sf_sendto(s, buf, len, k->peer_ip, k->peer_port);
  }
  if (k->listening) return -SF_NET_EINVAL;
  size_t done = 0;
  uint64_t short_since = 0; /* clock + 1 when tcp_write first ran short of memory; 0 = it did not */
  while (done < len) {
    if (k->err) return -k->err;
    if (!k->tcp || !k->connected) return -SF_NET_ENOTCONN;
    if (!sendable(k)) {
      tcp_output(k->tcp);
      int r = wait_for(k, sendable);
      if (r < 0) return r;
      continue;
    }
    size_t chunk = len - done, room = tcp_sndbuf(k->tcp);
    if (chunk > room) chunk = room;
    if (chunk > 0xffff) chunk = 0xffff;
    err_t e = tcp_write(k->tcp, (const uint8_t *)buf + done, (u16_t)chunk,
                        TCP_WRITE_FLAG_COPY | (done + chunk < len ? TCP_WRITE_FLAG_MORE : 0));
    if (e == ERR_MEM) { /* out of segments or heap for now: let acks free some, within the timeout */
      tcp_output(k->tcp);
      sf_net_wait(1);
      if (!short_since) short_since = sf_net_clock_ms() + 1;
      else if (k->timeout_ms && sf_net_clock_ms() + 1 - short_since >= k->timeout_ms) return -SF_NET_ENOMEM;
      continue;
    }
    if (e != ERR_OK) return -map_err(e);
    short_since = 0;
    done += chunk;
  }
  if (k->tcp) tcp_output(k->tcp);
  sf_net_flush();
  return (long)done;
}

/* sf_send without waiting: what fits in the send buffer now is queued and pushed; the caller comes back for
 * the rest after polling (libsfmpi's progress loop, which must keep reading while it sends). */
long sf_send_some(int s, const void *buf, size_t len) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  if (k->type != SF_SOCK_STREAM || k->listening) return -SF_NET_EINVAL;
  if (k->err) return -k->err;
  if (!k->tcp || !k->connected) return -SF_NET_ENOTCONN;
  size_t done = 0;
  while (done < len && sendable(k)) {
    size_t chunk = len - done, room = tcp_sndbuf(k->tcp);
    if (chunk > room) chunk = room;
    if (chunk > 0xffff) chunk = 0xffff;
    err_t e = tcp_write(k->tcp, (const uint8_t *)buf + done, (u16_t)chunk,
                        TCP_WRITE_FLAG_COPY | (done + chunk < len ? TCP_WRITE_FLAG_MORE : 0));
    if (e == ERR_MEM) break; /* out of segments for now: acks will free some */
    if (e != ERR_OK) return -map_err(e);
    done += chunk;
  }
  if (done) {
    tcp_output(k->tcp);
    sf_net_flush();
  }
  return (long)done;
}

static int readable(struct sock *k) { return k->rx || k->eof || k->err || !k->tcp; }

long sf_recv(int s, void *buf, size_t len) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  if (k->type == SF_SOCK_DGRAM) return sf_recvfrom(s, buf, len, 0, 0);
  if (k->listening) return -SF_NET_EINVAL;
  if (!k->connected && !k->rx) return k->err ? -k->err : -SF_NET_ENOTCONN;
  int r = wait_for(k, readable);
  if (r < 0) return r;
  if (!k->rx) return k->eof ? 0 : -(k->err ? k->err : SF_NET_ECONNRESET);
  if (len > 0xffff) len = 0xffff;
  size_t copied = pbuf_copy_partial(k->rx, buf, (u16_t)len, 0), left = copied;
  while (left) { /* drop what was read from the head of the chain */
    struct pbuf *h = k->rx;
    if (h->len <= left) {
      left -= h->len;
      k->rx = h->next;
      if (k->rx) pbuf_ref(k->rx);
      pbuf_free(h);
    } else {
      pbuf_remove_header(h, left);
      left = 0;
    }
  }
  if (k->tcp) tcp_recved(k->tcp, (u16_t)copied); /* opens the window again */
  return (long)copied;
}

long sf_sendto(int s, const void *buf, size_t len, uint32_t ip, uint16_t port) {
  struct sock *k = get(s, SF_SOCK_DGRAM);
  if (!k) return -SF_NET_EBADF;
  if (len > SF_NET_UDP_MAX) return -SF_NET_EMSGSIZE;
  if (!sf_ip()) return -SF_NET_ENETDOWN;
  struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
  if (!p) return -SF_NET_ENOMEM;
  pbuf_take(p, buf, (u16_t)len);
  ip_addr_t addr = IPADDR4_INIT(lwip_htonl(ip));
  err_t e = udp_sendto(k->udp, p, &addr, port);
  pbuf_free(p);
  sf_net_flush(); /* the datagram leaves now; what came in is the next poll's */
  return e == ERR_OK ? (long)len : -map_err(e);
}

static int dgram_ready(struct sock *k) { return k->dq_len > 0; }

long sf_recvfrom(int s, void *buf, size_t len, uint32_t *ip, uint16_t *port) {
  struct sock *k = get(s, SF_SOCK_DGRAM);
  if (!k) return -SF_NET_EBADF;
  int r = wait_for(k, dgram_ready);
  if (r < 0) return r;
  struct dgram *d = &k->dq[k->dq_head];
  k->dq_head = (k->dq_head + 1) % UDP_QUEUE;
  k->dq_len--;
  if (len > d->p->tot_len) len = d->p->tot_len;
  size_t copied = pbuf_copy_partial(d->p, buf, (u16_t)len, 0);
  pbuf_free(d->p);
  if (ip) *ip = d->ip;
  if (port) *port = d->port;
  return (long)copied;
}

int sf_readable(int s) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  if (k->type == SF_SOCK_DGRAM) return k->dq_len > 0;
  if (k->listening) return k->acc_len > 0 || !k->tcp;
  return readable(k);
}

static void drop_tcp(struct sock *k) {
  if (!k->tcp) return;
  tcp_arg(k->tcp, 0);
  if (k->listening) {
    tcp_accept(k->tcp, 0);
  } else {
    tcp_err(k->tcp, 0);
    tcp_recv(k->tcp, 0);
  }
  if (tcp_close(k->tcp) != ERR_OK) tcp_abort(k->tcp);
  k->tcp = 0;
}

int sf_close(int s) {
  struct sock *k = get(s, 0);
  if (!k) return -SF_NET_EBADF;
  if (k->type == SF_SOCK_STREAM) {
    if (k->rx) {
      pbuf_free(k->rx);
      k->rx = 0;
    }
    while (k->acc_len) { /* connections nobody accepted */
      sf_close(k->accq[k->acc_head]);
      k->acc_head = (k->acc_head + 1) % ACCEPT_QUEUE;
      k->acc_len--;
    }
    drop_tcp(k);
  } else {
    while (k->dq_len) {
      pbuf_free(k->dq[k->dq_head].p);
      k->dq_head = (k->dq_head + 1) % UDP_QUEUE;
      k->dq_len--;
    }
    if (k->udp) udp_remove(k->udp);
  }
  k->type = 0;
  sf_net_poll();
  return 0;
}
