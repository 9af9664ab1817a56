/* The polled virtio-net driver (sfguest/virtio_net.h): fixed buffers per descriptor, frames copied in and
 * out, one notify per batch, used rings polled, link and MAC from a generation-consistent config read. */
#include <sfguest/hypercall.h>
#include <sfguest/malloc.h>
#include <sfguest/string.h>
#include <sfguest/time.h>
#include <sfguest/virtio_net.h>

/* How long sf_vnet_send waits for the device to return a tx slot before dropping the frame. */
#define TX_FULL_WAIT_NS (200ull * 1000 * 1000)
#define TX_RENOTIFY_NS (1000ull * 1000)

static void read_config(struct sf_vnet *n, uint8_t mac[6], int *up) {
  const struct sf_virtio_dev *d = &n->dev;
  uint32_t before, after;
  do {
    before = sf_virtio_config_generation(d);
    for (unsigned i = 0; i < 6; i++)
      mac[i] = sf_mmio_read8(d->base + SF_VIRTIO_MMIO_CONFIG + SF_VIRTIO_NET_CFG_MAC + i);
    uint16_t status = SF_VIRTIO_NET_S_LINK_UP; /* without F_STATUS the link is always up */
    if (d->features & SF_VIRTIO_NET_F_STATUS)
      status = sf_mmio_read16(d->base + SF_VIRTIO_MMIO_CONFIG + SF_VIRTIO_NET_CFG_STATUS);
    *up = (status & SF_VIRTIO_NET_S_LINK_UP) != 0;
    after = sf_virtio_config_generation(d);
  } while (before != after);
  n->config_gen = after;
}

static void post_rx(struct sf_vnet *n, uint16_t id) {
  struct sf_vring_desc *desc = &n->rx.desc[id];
  desc->addr = (uint64_t)(uintptr_t)(n->rx_bufs + (uint32_t)id * SF_VNET_BUF_LEN);
  desc->len = SF_VNET_BUF_LEN;
  desc->flags = SF_VRING_DESC_F_WRITE;
  desc->next = 0;
  sf_virtqueue_publish(&n->rx, id);
  n->rx_unnotified++;
}

int sf_vnet_init(struct sf_vnet *n, unsigned nth) {
  uint8_t *rx_bufs = n->rx_bufs, *tx_bufs = n->tx_bufs;
  struct sf_vnet_stats stats = n->stats;
  if (!rx_bufs) memset(n, 0, sizeof *n); /* first call: the struct may hold anything */
  if (sf_virtio_find(SF_VIRTIO_ID_NET, nth, &n->dev) != 0) return -1;
  if (sf_virtio_negotiate(&n->dev, SF_VIRTIO_NET_F_MAC | SF_VIRTIO_NET_F_STATUS) != 0) return -1;
  if (sf_virtqueue_setup(&n->dev, &n->rx, 0, SF_VNET_QUEUE_MAX) != 0 ||
      sf_virtqueue_setup(&n->dev, &n->tx, 1, SF_VNET_QUEUE_MAX) != 0)
    goto failed;
  if (!rx_bufs) rx_bufs = aligned_alloc(4096, SF_VNET_QUEUE_MAX * SF_VNET_BUF_LEN);
  if (!tx_bufs) tx_bufs = aligned_alloc(4096, SF_VNET_QUEUE_MAX * SF_VNET_BUF_LEN);
  if (!rx_bufs || !tx_bufs) goto failed;
  n->rx_bufs = rx_bufs;
  n->tx_bufs = tx_bufs;
  n->stats = stats;
  n->tx_nfree = 0;
  for (uint16_t i = n->tx.num; i-- > 0;) n->tx_free[n->tx_nfree++] = i;
  n->tx_unnotified = n->rx_unnotified = 0;
  for (uint16_t i = 0; i < n->rx.num; i++) post_rx(n, i);
  /* Finished tx frames are reaped when the next one is sent: they need not wake a sleeping guest. */
  sf_virtqueue_set_interrupt(&n->tx, 0);
  sf_virtio_driver_ok(&n->dev);
  if (sf_virtio_status(&n->dev) & SF_VIRTIO_STATUS_NEEDS_RESET) goto failed;
  read_config(n, n->mac, &n->link_up);
  sf_vnet_kick(n);
  return 0;
failed:
  sf_mmio_write32(n->dev.base + SF_VIRTIO_MMIO_STATUS, sf_virtio_status(&n->dev) | SF_VIRTIO_STATUS_FAILED);
  return -1;
}

void sf_vnet_reap_tx(struct sf_vnet *n) {
  uint32_t id, len;
  while (sf_virtqueue_take_used(&n->tx, &id, &len))
    if (id < n->tx.num && n->tx_nfree < n->tx.num) n->tx_free[n->tx_nfree++] = (uint16_t)id;
}

void sf_vnet_kick(struct sf_vnet *n) {
  if (n->rx_unnotified) {
    n->rx_unnotified = 0;
    if (sf_virtqueue_wants_notify(&n->rx)) {
      n->stats.rx_notifies++;
      sf_virtqueue_notify(&n->dev, &n->rx);
    }
  }
  if (n->tx_unnotified) {
    n->tx_unnotified = 0;
    if (sf_virtqueue_wants_notify(&n->tx)) {
      n->stats.tx_notifies++;
      sf_virtqueue_notify(&n->dev, &n->tx);
    }
  }
}

void sf_vnet_renotify(struct sf_vnet *n) {
  n->rx_unnotified = n->tx_unnotified = 1; /* as if something were new: sf_vnet_kick does the rest */
  sf_vnet_kick(n);
}

int sf_vnet_send(struct sf_vnet *n, const void *const *parts, const unsigned *lens, unsigned nparts) {
  unsigned total = 0;
  for (unsigned i = 0; i < nparts; i++) total += lens[i];
  if (total > SF_VNET_FRAME_MAX || total < SF_VNET_FRAME_MIN || !n->tx.num) {
    n->stats.tx_dropped++;
    return -1;
  }
  sf_vnet_reap_tx(n);
  if (!n->tx_nfree) {
    /* The ring is full: notify (again, even if nothing is new: a notify the device missed, e.g. while a
     * fork had it quiesced, must not stall us for good) once a millisecond while it drains, sleeping in
     * between until the device returns a buffer (its interrupt is on meanwhile; a VMM without SF_HC_WAIT
     * means spinning). */
    sf_virtqueue_set_interrupt(&n->tx, 1);
    uint64_t start = sf_time_ns(), last = 0, now = start;
    for (;;) {
      if (now - last >= TX_RENOTIFY_NS) {
        last = now;
        sf_vnet_renotify(n);
      }
      sf_vnet_reap_tx(n);
      if (n->tx_nfree || now - start >= TX_FULL_WAIT_NS) break;
      long t = sf_hc_wait(TX_RENOTIFY_NS);
      now = t > 0 ? (uint64_t)t : sf_time_ns();
    }
    sf_virtqueue_set_interrupt(&n->tx, 0);
    if (!n->tx_nfree) {
      n->stats.tx_dropped++;
      return -1;
    }
  }
  uint16_t id = n->tx_free[--n->tx_nfree];
  uint8_t *buf = n->tx_bufs + (uint32_t)id * SF_VNET_BUF_LEN;
  memset(buf, 0, SF_VNET_HDR_LEN); /* no offloads: flags 0, gso_type NONE */
  unsigned at = SF_VNET_HDR_LEN;
  for (unsigned i = 0; i < nparts; i++) {
    memcpy(buf + at, parts[i], lens[i]);
    at += lens[i];
  }
  struct sf_vring_desc *desc = &n->tx.desc[id];
  desc->addr = (uint64_t)(uintptr_t)buf;
  desc->len = at;
  desc->flags = 0;
  desc->next = 0;
  sf_virtqueue_publish(&n->tx, id);
  n->tx_unnotified++;
  n->stats.tx_frames++;
  n->stats.tx_bytes += total;
  return 0;
}

unsigned sf_vnet_receive(struct sf_vnet *n, void (*deliver)(void *ctx, const uint8_t *frame, unsigned len), void *ctx,
                         unsigned max) {
  unsigned got = 0;
  uint32_t id, len;
  while (got < max && sf_virtqueue_take_used(&n->rx, &id, &len)) {
    if (id >= n->rx.num) { /* a device bug: nothing to re-post */
      n->stats.rx_dropped++;
      continue;
    }
    const uint8_t *buf = n->rx_bufs + id * SF_VNET_BUF_LEN;
    if (len < SF_VNET_HDR_LEN + SF_VNET_FRAME_MIN || len > SF_VNET_HDR_LEN + SF_VNET_FRAME_MAX) {
      n->stats.rx_dropped++;
    } else {
      n->stats.rx_frames++;
      n->stats.rx_bytes += len - SF_VNET_HDR_LEN;
      deliver(ctx, buf + SF_VNET_HDR_LEN, len - SF_VNET_HDR_LEN);
      got++;
    }
    post_rx(n, (uint16_t)id);
  }
  return got;
}

int sf_vnet_check_config(struct sf_vnet *n) {
  uint32_t status = sf_virtio_status(&n->dev);
  if (!(status & SF_VIRTIO_STATUS_DRIVER_OK) || (status & SF_VIRTIO_STATUS_NEEDS_RESET)) {
    n->stats.link_changes++;
    if (sf_vnet_init(n, 0) != 0) n->link_up = 0; /* slot-order nth is not kept: one NIC per guest */
    return 2;
  }
  if (sf_virtio_config_generation(&n->dev) == n->config_gen) return 0;
  uint8_t mac[6];
  int up;
  read_config(n, mac, &up);
  if (up == n->link_up && memcmp(mac, n->mac, 6) == 0) return 0;
  memcpy(n->mac, mac, 6);
  n->link_up = up;
  n->stats.link_changes++;
  return 1;
}
