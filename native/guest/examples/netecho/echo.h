/* netecho's network logic, apart from its main so the host tests can run it: the master's address from a
 * clone's own, the vmid pattern, the clone's stream-and-verify client and the master's echo server. */
#ifndef EXAMPLES_NETECHO_ECHO_H
#define EXAMPLES_NETECHO_ECHO_H

#include <stdint.h>

#define NETECHO_PORT 7007
/* Bytes a client keeps in flight (sent, echo not yet read): below both TCP windows, so neither side
 * can block the other for good. */
#define NETECHO_INFLIGHT (32u * 1024u)

/* The master is host number 1 of the subnet (vmid 0 + 1): network address + 1. */
static inline uint32_t netecho_master_ip(uint32_t ip, uint32_t netmask) { return (ip & netmask) + 1u; }
/* Byte i of vmid's stream. */
static inline uint8_t netecho_byte(unsigned vmid, uint32_t i) {
  return (uint8_t)(i * 131u + vmid * 29u + (i >> 10) + (i >> 18));
}

/* Streams `bytes` bytes of vmid's pattern over connected socket s and checks the echo as it comes back.
 * Returns the number of wrong bytes (0 = verified), or a negative SF_NET_E* error. */
long netecho_client(int s, unsigned vmid, uint32_t bytes);

/* The master's side: echoes every connection accepted on listening socket l, all at once, until
 * `expected` connections have come and gone or timeout_ms passes. Returns the bytes echoed in total (per
 * connection in per_conn[0..expected) if not NULL), or a negative SF_NET_E* error. */
long long netecho_serve(int l, unsigned expected, unsigned timeout_ms, uint32_t *per_conn);

#endif /* EXAMPLES_NETECHO_ECHO_H */
