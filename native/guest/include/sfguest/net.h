/* Networking for flat guests (lib/net.c, link build/lib/libsfnet.a before libsfguest.a): the virtio-net NIC
 * under lwIP (NO_SYS, polled), an address from DHCP, and a small blocking socket API over lwIP's raw
 * TCP/UDP API. ICMP echo is answered by lwIP whenever the stack is polled.
 *
 * Rules
 *  - Only vCPU 0 may call these functions (lwIP is not reentrant and nothing here locks).
 *  - Nothing happens behind the program's back: there are no interrupts. Every blocking call polls the
 *    NIC and lwIP's timers until it can finish, sleeping in between (SF_HC_WAIT: the vCPU gives its core
 *    back until a frame arrives or a timer is due); a program that computes for a long time between calls
 *    should call sf_net_poll() now and then (peers' retransmits and pings are answered there), and one that
 *    only waits for the network should call sf_net_wait() rather than spin on sf_net_poll().
 *  - Addresses are IPv4 in host byte order (10.0.0.2 is 0x0a000002), ports in host order.
 *  - Errors are negative SF_NET_E* codes; sf_net_strerror names them.
 *  - After a fork (sf_clone) a clone's next call notices it is another VM: it drops the parent's address
 *    and connections (they now fail with SF_NET_ECONNRESET), takes its own MAC, and asks DHCP again;
 *    sf_net_init() in the clone waits for the new address. A link change on the NIC does the same. */
#ifndef SFGUEST_NET_H
#define SFGUEST_NET_H

#include <stddef.h>
#include <stdint.h>

enum sf_net_error {
  SF_NET_OK = 0,
  SF_NET_ENODEV = 1,       /* no virtio-net device (the VM has no `net` option) */
  SF_NET_ETIMEDOUT = 2,    /* the socket's timeout (or sf_net_init's) passed */
  SF_NET_ENOMEM = 3,       /* lwIP or the socket table is out of memory */
  SF_NET_EBADF = 4,        /* not an open socket, or the wrong type for the call */
  SF_NET_EINVAL = 5,       /* a bad argument or a call out of order (listen after connect, …) */
  SF_NET_ECONNREFUSED = 6, /* the peer answered the connect with a reset */
  SF_NET_ECONNRESET = 7,   /* the connection was reset or aborted (also: after a fork or link change) */
  SF_NET_ENOTCONN = 8,     /* send/recv on a TCP socket that is not connected */
  SF_NET_EADDRINUSE = 9,   /* the local port is taken */
  SF_NET_ENETDOWN = 10,    /* no address yet (sf_net_init not called, or DHCP not finished) */
  SF_NET_EMSGSIZE = 11,    /* a datagram larger than SF_NET_UDP_MAX */
};
const char *sf_net_strerror(int code); /* accepts code or -code */

#define SF_NET_INIT_TIMEOUT_MS 10000u /* sf_net_init(0) */
#define SF_NET_MTU 1450u              /* IP packet size: the cluster network's VXLAN takes 50 of 1500 bytes */
#define SF_NET_UDP_MAX 1422u          /* largest datagram: one packet at SF_NET_MTU (IP 20 + UDP 8 bytes) */
#define SF_NET_MAX_SOCKETS 32

/* Probes the NIC, brings it up and waits (at most timeout_ms; 0 = SF_NET_INIT_TIMEOUT_MS) for DHCP.
 * 0 once an address is held, else -SF_NET_ENODEV or -SF_NET_ETIMEDOUT. Calling it again (e.g. in a
 * clone after the fork) only waits for the address. */
int sf_net_init(unsigned timeout_ms);
/* Moves received frames into lwIP, runs its timers, sends what is queued, notices link changes and
 * forks. Cheap when idle (one clock hypercall). Never sleeps. */
void sf_net_poll(void);
/* sf_net_poll, but first sleeps until a frame arrives (or one arrived since the last poll), lwIP's next
 * timer is due, or max_ms passes (the VMM wakes it at most SF_WAIT_MAX_NS later anyway: call it in a
 * loop). For loops that have nothing to do until the network does something. */
void sf_net_wait(unsigned max_ms);
/* This VM's address, netmask and gateway (0 before DHCP finished), and its MAC. */
uint32_t sf_ip(void);
uint32_t sf_netmask(void);
uint32_t sf_gateway(void);
void sf_mac(uint8_t mac[6]);
/* "a.b.c.d" → *ip: 0, or -SF_NET_EINVAL. sf_ip_format writes "a.b.c.d" into buf (16 bytes) and returns buf. */
int sf_ip_parse(const char *s, uint32_t *ip);
char *sf_ip_format(uint32_t ip, char buf[16]);

/* ---- Sockets ------------------------------------------------------------------------------------- */
#define SF_SOCK_STREAM 1 /* TCP */
#define SF_SOCK_DGRAM 2  /* UDP */

/* A new socket (>= 0), or -SF_NET_EINVAL / -SF_NET_ENOMEM. Its timeout starts at 0 (wait for ever). */
int sf_socket(int type);
/* Timeout of every later blocking call on s (connect, accept, send, recv, recvfrom); 0 = none. */
int sf_set_timeout(int s, unsigned ms);
/* Binds s to a local port (0 = any) on this VM's address. */
int sf_bind(int s, uint16_t port);
/* TCP: connects (blocking) → 0. UDP: sets the default peer for sf_send/sf_recv. */
int sf_connect(int s, uint32_t ip, uint16_t port);
/* TCP: listens on port (binding it); connections are accepted in the background up to the socket table. */
int sf_listen(int s, uint16_t port);
/* TCP: the next connection (a new socket), with the peer's address in *ip and *port (either may be NULL). */
int sf_accept(int s, uint32_t *ip, uint16_t *port);
/* TCP: queues all len bytes (blocking while the send buffer is full) and pushes them; returns len.
 * UDP on a connected socket: one datagram. */
long sf_send(int s, const void *buf, size_t len);
/* TCP: sf_send without waiting — queues and pushes the part of len that fits now and returns its size
 * (0 when the send buffer is full: poll and call again), or -SF_NET_E*. */
long sf_send_some(int s, const void *buf, size_t len);
/* TCP: waits for data, returns 1..len bytes, or 0 once the peer closed and everything was read.
 * UDP: one datagram (truncated to len). */
long sf_recv(int s, void *buf, size_t len);
/* UDP: one datagram to ip:port (len <= SF_NET_UDP_MAX); returns len. */
long sf_sendto(int s, const void *buf, size_t len, uint32_t ip, uint16_t port);
/* UDP: waits for one datagram, copies at most len bytes (the rest is dropped), sender in *ip and *port. */
long sf_recvfrom(int s, void *buf, size_t len, uint32_t *ip, uint16_t *port);
/* Non-blocking: 1 if the next sf_recv/sf_recvfrom (or sf_accept on a listening socket) would not wait
 * (data, end of stream or an error), 0 if it would, -SF_NET_EBADF. Does not poll: call sf_net_poll. */
int sf_readable(int s);
/* Closes s: TCP sends what is queued and then FIN (lwIP finishes that as long as the stack is polled). */
int sf_close(int s);

/* ---- For the host tests and diagnostics --------------------------------------------------------- */
/* Initialises lwIP once (sf_net_init does it too); a test adds its own peer netif after this. */
void sf_net_stack_init(void);
struct sf_vnet_stats;
const struct sf_vnet_stats *sf_net_stats(void);
struct netif;
struct netif *sf_net_netif(void);

#endif /* SFGUEST_NET_H */
