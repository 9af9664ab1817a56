/* lwIP's options for flat guests: NO_SYS (one polled thread, vCPU 0), raw API only (sfguest/net.h builds
 * its blocking sockets on it), IPv4 with DHCP/ICMP/UDP/TCP, windows sized for bulk TCP on a virtio NIC. */
#ifndef SF_LWIPOPTS_H
#define SF_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0

#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 1
#define DHCP_DOES_ARP_CHECK 0 /* the address comes from our own VMM: skip the 2 s ARP probe */
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_SINGLE_NETIF 0 /* the host tests put a peer netif beside the virtio one */

/* Memory: lwIP's own heap and pools inside the guest image's .bss. */
#define MEM_ALIGNMENT 8
/* Guest RAM is plentiful and untouched .bss costs nothing: room for a few connections' full send buffers
 * (copied writes live in the heap) and a full receive window of pool pbufs. */
#define MEM_SIZE (4 * 1024 * 1024)
#define MEMP_NUM_PBUF 256
#define MEMP_NUM_UDP_PCB 8
#define MEMP_NUM_TCP_PCB 16
#define MEMP_NUM_TCP_PCB_LISTEN 8
#define MEMP_NUM_TCP_SEG 2048
#define MEMP_NUM_SYS_TIMEOUT 16
#define PBUF_POOL_SIZE 1024
#define PBUF_POOL_BUFSIZE 1536
#define ETH_PAD_SIZE 0
#define ARP_TABLE_SIZE 16
#define ARP_QUEUEING 1

/* TCP sized for throughput: window scaling (RFC 7323), a 128 KiB receive window and a 256 KiB send buffer.
 * Not larger: lwIP recovers from losses slowly (no SACK, coarse timers), and a window beyond what the
 * router's rate limiter queues (its tbf holds ~50 ms of the cap plus a burst) turns a capped download into
 * a string of losses. */
/* MSS 1410, not 1460: between hosts a frame travels in VXLAN (50 bytes more) over links of MTU 1500, and a
 * full 1514-byte frame would leave as two IP fragments (twice the packets, and a lost fragment loses it).
 * This keeps TCP segments whole for both directions (lwIP advertises it in its SYN). */
#define TCP_MSS 1410
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 2 /* windows up to 256 KiB */
#define TCP_WND (128 * 1024)
#define TCP_SND_BUF (256 * 1024)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDLOWAT (32 * 1024) /* lwIP wants it below 64 KiB - 4 MSS */
#define TCP_QUEUE_OOSEQ 1
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 16
#define LWIP_TCP_KEEPALIVE 0
#define SO_REUSE 1 /* a listener may take its port back while old connections sit in TIME_WAIT */

/* Checksums in software both ways: the device offers no offloads. */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1

#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0
#define LWIP_DEBUG 0
#define LWIP_PROVIDE_ERRNO 0
#define LWIP_ERRNO_STDINCLUDE 0

/* Initial sequence numbers, ports and DHCP xids: a clone must not repeat its parent's, so the source is
 * reseeded after a fork (lib/net_port.c). */
unsigned int sf_lwip_rand(void);
#define LWIP_RAND() (sf_lwip_rand())

#ifdef SF_HOST_TEST
/* The host tests run a peer netif inside the same lwIP on the same subnet: its unbound replies (a RST
 * for a closed port) must leave through the peer, which plain longest-prefix routing cannot tell. */
struct ip4_addr;
struct netif *sf_test_route_src(const struct ip4_addr *src, const struct ip4_addr *dest);
#define LWIP_HOOK_IP4_ROUTE_SRC(src, dest) sf_test_route_src((src), (dest))
#endif

#endif /* SF_LWIPOPTS_H */
