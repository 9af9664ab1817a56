/* The netif glue of sfguest/net.h: the virtio-net driver as an lwIP netif, DHCP, the poll loop (frames,
 * timers, link changes, forks), and the small address helpers. */
#include <lwip/dhcp.h>
#include <lwip/etharp.h>
#include <lwip/init.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/timeouts.h>
#include <netif/ethernet.h>
#include <sfguest/bootinfo.h>
#include <sfguest/net.h>
#include <sfguest/string.h>
#include <sfguest/time.h>
#include <sfguest/virtio_net.h>
#include "net_internal.h"

/* Link state is looked at (one exit), and both queues notified again (two), at most this often; frames
 * every poll. */
#define CONFIG_CHECK_MS 50u
#define RX_BATCH 64u
#define MAX_PARTS 8u

static struct {
  int stack_ready, nic_ready;
  int quiet;     /* set while the old address is torn down: nothing of the parent's leaves the NIC */
  int need_dhcp; /* the address was dropped while the link was down: DHCP starts afresh when it comes up */
  unsigned vmid;
  uint64_t last_config_ms;
  struct netif netif;
  struct sf_vnet vnet;
} g;

/* One clock read per poll serves lwIP's timers (sys_now) and every timeout: each read is a VM exit. The read
 * is an SF_HC_WAIT with no timeout when the VMM has it: it answers the time too, and it takes back a device
 * interrupt that is old news (the rings are looked at right after), so that the next real wait sleeps. A
 * wait that just returned left the time in clock_ms already (clock_fresh). */
static uint64_t clock_ms;
static int clock_fresh;
static int no_wait; /* the VMM answered SF_HC_WAIT with an error (an older VMM): only poll */
uint64_t sf_net_clock_ms(void) { return clock_ms; }
static void clock_update(void) {
  if (clock_fresh) {
    clock_fresh = 0;
    return;
  }
  long now = no_wait ? -1 : sf_hc_wait(0);
  if (now < 0) {
    no_wait = 1;
    now = (long)sf_time_ns();
  }
  clock_ms = (uint64_t)now / 1000000u;
}
int sf_net_ready(void) { return g.nic_ready; }
uint8_t sf_net_netif_index(void) { return netif_get_index(&g.netif); }
struct netif *sf_net_netif(void) {
  return &g.netif;
}
const struct sf_vnet_stats *sf_net_stats(void) { return &g.vnet.stats; }

static err_t link_output(struct netif *netif, struct pbuf *p) {
  (void)netif;
  if (g.quiet || !g.vnet.link_up) return ERR_OK; /* dropped like a cable that is out */
  const void *parts[MAX_PARTS];
  unsigned lens[MAX_PARTS], n = 0;
  static uint8_t flat[SF_VNET_FRAME_MAX];
  for (struct pbuf *q = p; q && n < MAX_PARTS; q = q->next, n++) {
    parts[n] = q->payload;
    lens[n] = q->len;
  }
  if (n == MAX_PARTS && p->tot_len <= sizeof flat) { /* a long chain: flatten it */
    parts[0] = flat;
    lens[0] = pbuf_copy_partial(p, flat, p->tot_len, 0);
    n = 1;
  }
  return sf_vnet_send(&g.vnet, parts, lens, n) == 0 ? ERR_OK : ERR_IF;
}

static err_t netif_setup(struct netif *netif) {
  netif->name[0] = 'v';
  netif->name[1] = 'n';
  /* The cluster network crosses hosts in VXLAN over 1500-byte links: 50 bytes of its headers leave 1450
   * for IP, so larger packets are fragmented here (once) rather than by the hosts (outer fragments, slow). */
  netif->mtu = SF_NET_MTU;
  netif->hwaddr_len = 6;
  memcpy(netif->hwaddr, g.vnet.mac, 6);
  netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
  netif->output = etharp_output;
  netif->linkoutput = link_output;
  return ERR_OK;
}

static void deliver(void *ctx, const uint8_t *frame, unsigned len) {
  (void)ctx;
  struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
  if (!p) {
    g.vnet.stats.rx_dropped++;
    return;
  }
  pbuf_take(p, frame, (u16_t)len);
  if (g.netif.input(p, &g.netif) != ERR_OK) pbuf_free(p);
}

/* Drops the address and what hangs on it, takes the NIC's MAC and link as they are now, and starts DHCP
 * afresh if the link is up: after a fork (a clone has its parent's lease) or a link change. */
static void restart_link(void) {
  g.quiet = 1;
  dhcp_release_and_stop(&g.netif); /* quiet: a clone must not release its parent's lease */
  netif_set_addr(&g.netif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4);
  netif_set_link_down(&g.netif);
  etharp_cleanup_netif(&g.netif);
  /* Connections bound to the old address were aborted by lwIP (their sockets now report ECONNRESET);
   * listening and UDP sockets are bound to any address and carry on. */
  g.quiet = 0;
  memcpy(g.netif.hwaddr, g.vnet.mac, 6);
  g.need_dhcp = !g.vnet.link_up;
  if (g.vnet.link_up) {
    netif_set_link_up(&g.netif);
    dhcp_start(&g.netif);
  }
}

void sf_net_stack_init(void) {
  if (g.stack_ready) return;
  clock_update();
  lwip_init();
  g.stack_ready = 1;
}

void sf_net_poll(void) {
#ifdef SF_HOST_TEST
  sf_host_net_tick();
#endif
  clock_update();
  if (!g.nic_ready) return;
  uint64_t now = clock_ms;
  if (sf_vmid() != g.vmid) { /* the first poll in a clone */
    g.vmid = sf_vmid();
    g.vnet.config_gen = ~g.vnet.config_gen; /* re-read MAC and link whatever the generation says */
    sf_vnet_check_config(&g.vnet);
    restart_link();
    g.last_config_ms = now;
  } else if (now - g.last_config_ms >= CONFIG_CHECK_MS) {
    g.last_config_ms = now;
    sf_vnet_renotify(&g.vnet);
    if (sf_vnet_check_config(&g.vnet)) {
      if (memcmp(g.netif.hwaddr, g.vnet.mac, 6) != 0 || (g.need_dhcp && g.vnet.link_up)) {
        restart_link(); /* another identity on this NIC */
      } else if (g.vnet.link_up) {
        netif_set_link_up(&g.netif); /* a flap: lwIP's DHCP asks for the same address again (REBOOTING) */
      } else {
        netif_set_link_down(&g.netif);
      }
    }
  }
  while (sf_vnet_receive(&g.vnet, deliver, 0, RX_BATCH) == RX_BATCH) {
  }
  sf_vnet_reap_tx(&g.vnet);
  sys_check_timeouts();
  sf_vnet_kick(&g.vnet);
}

void sf_net_flush(void) {
  if (g.nic_ready) sf_vnet_kick(&g.vnet);
}

void sf_net_wait(unsigned max_ms) {
  /* No need to poll first: a frame that came after the last poll's look at the ring raised the NIC's
   * interrupt, and the wait then returns at once. */
  if (g.nic_ready && !no_wait && max_ms) {
    /* Not past lwIP's next timer (retransmits, delayed ACKs, DHCP), which is measured from the last poll. */
    u32_t next = sys_timeouts_sleeptime();
    if (next < max_ms) max_ms = next;
    if (max_ms) {
      long now = sf_hc_wait((unsigned long)max_ms * 1000000ul);
      if (now < 0) {
        no_wait = 1;
      } else {
        clock_ms = (uint64_t)now / 1000000u;
        clock_fresh = 1;
      }
    }
  }
  sf_net_poll();
}

int sf_net_init(unsigned timeout_ms) {
  sf_net_stack_init();
  if (!g.nic_ready) {
    if (sf_vnet_init(&g.vnet, 0) != 0) return -SF_NET_ENODEV;
    g.vmid = sf_vmid();
    if (!netif_add(&g.netif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4, 0, netif_setup, ethernet_input))
      return -SF_NET_ENOMEM;
    netif_set_default(&g.netif);
    netif_set_up(&g.netif);
    g.nic_ready = 1;
    g.last_config_ms = clock_ms;
    g.need_dhcp = !g.vnet.link_up;
    if (g.vnet.link_up) {
      netif_set_link_up(&g.netif);
      dhcp_start(&g.netif);
    }
  }
  sf_net_poll();
  uint64_t start = clock_ms, limit = timeout_ms ? timeout_ms : SF_NET_INIT_TIMEOUT_MS;
  for (;;) {
    if (dhcp_supplied_address(&g.netif)) return 0;
    if (clock_ms - start >= limit) return -SF_NET_ETIMEDOUT;
    sf_net_wait((unsigned)(limit - (clock_ms - start)));
  }
}

static uint32_t host_order(const ip4_addr_t *a) { return lwip_ntohl(ip4_addr_get_u32(a)); }
uint32_t sf_ip(void) { return g.nic_ready ? host_order(netif_ip4_addr(&g.netif)) : 0; }
uint32_t sf_netmask(void) { return g.nic_ready ? host_order(netif_ip4_netmask(&g.netif)) : 0; }
uint32_t sf_gateway(void) { return g.nic_ready ? host_order(netif_ip4_gw(&g.netif)) : 0; }
void sf_mac(uint8_t mac[6]) { memcpy(mac, g.vnet.mac, 6); }

int sf_ip_parse(const char *s, uint32_t *ip) {
  uint32_t v = 0;
  for (int part = 0; part < 4; part++) {
    unsigned octet = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) octet = octet * 10 + (unsigned)(*s++ - '0'), digits++;
    if (!digits || digits > 3 || octet > 255) return -SF_NET_EINVAL;
    v = v << 8 | octet;
    if (part < 3 && *s++ != '.') return -SF_NET_EINVAL;
  }
  if (*s) return -SF_NET_EINVAL;
  *ip = v;
  return 0;
}

char *sf_ip_format(uint32_t ip, char buf[16]) {
  char *o = buf;
  for (int shift = 24; shift >= 0; shift -= 8) {
    unsigned octet = (ip >> shift) & 0xff;
    if (octet >= 100) *o++ = (char)('0' + octet / 100);
    if (octet >= 10) *o++ = (char)('0' + octet / 10 % 10);
    *o++ = (char)('0' + octet % 10);
    if (shift) *o++ = '.';
  }
  *o = 0;
  return buf;
}

const char *sf_net_strerror(int code) {
  static const char *const names[] = {"OK",           "ENODEV",     "ETIMEDOUT", "ENOMEM",     "EBADF",    "EINVAL",
                                      "ECONNREFUSED", "ECONNRESET", "ENOTCONN",  "EADDRINUSE", "ENETDOWN", "EMSGSIZE"};
  if (code < 0) code = -code;
  return code < (int)(sizeof names / sizeof names[0]) ? names[code] : "unknown network error";
}
