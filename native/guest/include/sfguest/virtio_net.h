/* A polled virtio-net driver for flat guests (lib/virtio_net.c): one rx and one tx queue, every rx buffer
 * posted up front, frames copied in and out of fixed per-descriptor buffers, link status and MAC from the
 * configuration space. No interrupts; only one vCPU may use a device. sfguest/net.h puts lwIP on top. */
#ifndef SFGUEST_VIRTIO_NET_H
#define SFGUEST_VIRTIO_NET_H

#include <sfguest/virtio.h>
#include <stdint.h>

#define SF_VIRTIO_NET_F_MAC (1ull << 5)
#define SF_VIRTIO_NET_F_STATUS (1ull << 16)
#define SF_VIRTIO_NET_S_LINK_UP 1u
#define SF_VIRTIO_NET_CFG_MAC 0u
#define SF_VIRTIO_NET_CFG_STATUS 6u

#define SF_VNET_HDR_LEN 12u     /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define SF_VNET_FRAME_MAX 1514u /* Ethernet header + 1500 bytes, no FCS */
#define SF_VNET_FRAME_MIN 14u
#define SF_VNET_BUF_LEN 1536u /* one rx or tx buffer: header + frame, rounded up */
#define SF_VNET_QUEUE_MAX 256u

struct sf_vnet_stats {
  uint64_t rx_frames, rx_bytes, rx_dropped; /* dropped: malformed (too short/long, bad id) or refused */
  uint64_t tx_frames, tx_bytes, tx_dropped; /* dropped: too long, or the ring stayed full */
  uint64_t tx_notifies, rx_notifies, link_changes;
};

struct sf_vnet {
  struct sf_virtio_dev dev;
  struct sf_virtqueue rx, tx;
  uint8_t *rx_bufs, *tx_bufs; /* num * SF_VNET_BUF_LEN each; descriptor i owns buffer i */
  uint16_t tx_free[SF_VNET_QUEUE_MAX];
  uint16_t tx_nfree;
  uint16_t tx_unnotified; /* frames published since the last notify */
  uint16_t rx_unnotified; /* buffers re-posted since the last notify */
  uint8_t mac[6];
  int link_up;
  uint32_t config_gen;
  struct sf_vnet_stats stats;
};

/* Finds the nth virtio-net device, negotiates VERSION_1 | MAC | STATUS, sets up the queues, posts every rx
 * buffer and reads MAC and link. 0, or -1 (no device, or it refused us). Allocates its rings and buffers
 * from the heap the first time; a second call on the same struct (a device reset) reuses them. */
int sf_vnet_init(struct sf_vnet *n, unsigned nth);
/* Queues one Ethernet frame given as parts (a pbuf chain walks as several). Waits for a free tx slot while
 * the ring is full (bounded); the frame is sent at the next sf_vnet_kick. 0, or -1 (dropped). */
int sf_vnet_send(struct sf_vnet *n, const void *const *parts, const unsigned *lens, unsigned nparts);
/* Notifies the device of queued tx frames and re-posted rx buffers (one exit per queue with news). */
void sf_vnet_kick(struct sf_vnet *n);
/* Hands every received frame to deliver (the buffer is re-posted after it returns), at most max. Malformed
 * used entries are counted and dropped. Returns frames delivered. */
unsigned sf_vnet_receive(struct sf_vnet *n, void (*deliver)(void *ctx, const uint8_t *frame, unsigned len), void *ctx,
                         unsigned max);
/* Notifies both queues whether or not anything is new (unless the device polls them: NO_NOTIFY), the
 * insurance against a notify the device never saw (sfguest/net.h calls it with every link check). */
void sf_vnet_renotify(struct sf_vnet *n);
/* Reaps finished tx descriptors. */
void sf_vnet_reap_tx(struct sf_vnet *n);
/* Looks at the configuration (ConfigGeneration: one exit; more only when it moved) and the device status.
 * Returns 1 if the link state or the MAC changed (n->link_up, n->mac updated), 2 if the device was reset
 * behind our back and had to be set up again (the link is then re-read too), else 0. */
int sf_vnet_check_config(struct sf_vnet *n);

#endif /* SFGUEST_VIRTIO_NET_H */
