/* The host tests' fake virtio-blk device (fake_vblk.h): the register protocol the driver uses and a strict walk
 * of each chain (header readable, data in the right direction, a one-byte writable status last). */
#include "fake_vblk.h"
#include <sfguest/string.h>
#include <sfguest/virtio.h>

struct fake_vblk fake_blk;

static struct {
  uint32_t num, ready, qsel, dfsel, drfsel;
  uint64_t desc, avail, used, driver_features;
  uint16_t last_avail;
} q;

void fake_vblk_reset(void) {
  memset(&fake_blk, 0, sizeof fake_blk);
  memset(&q, 0, sizeof q);
  fake_blk.present = 1;
}

static struct sf_vring_desc *descs(void) { return (struct sf_vring_desc *)(uintptr_t)q.desc; }

/* Serves one chain from head; returns the bytes written into it. */
static uint32_t serve(uint16_t head) {
  struct sf_vring_desc *d = descs();
  struct sf_vring_desc *chain[4];
  unsigned n = 0;
  for (uint16_t i = head;; i = d[i].next) {
    if (n == 4 || i >= q.num) return 0;
    chain[n++] = &d[i];
    if (!(d[i].flags & SF_VRING_DESC_F_NEXT)) break;
  }
  struct sf_vring_desc *st = chain[n - 1];
  if (n < 2 || chain[0]->len != 16 || (chain[0]->flags & SF_VRING_DESC_F_WRITE) || st->len != 1 ||
      !(st->flags & SF_VRING_DESC_F_WRITE))
    return 0;
  const uint32_t *h = (const uint32_t *)(uintptr_t)chain[0]->addr;
  uint64_t sector;
  memcpy(&sector, h + 2, 8);
  uint8_t *status = (uint8_t *)(uintptr_t)st->addr;
  fake_blk.served++;
  if (h[0] == 4 && n == 2) {
    fake_blk.flushes++;
    *status = 0;
    return 1;
  }
  if ((h[0] != 0 && h[0] != 1) || n != 3 || chain[1]->len % 512) {
    *status = 2;
    return 1;
  }
  int in = h[0] == 0;
  if (!!(chain[1]->flags & SF_VRING_DESC_F_WRITE) != in || sector + chain[1]->len / 512 > FAKE_DISK_SECTORS ||
      fake_blk.fail_io) {
    *status = 1;
    return 1;
  }
  uint8_t *buf = (uint8_t *)(uintptr_t)chain[1]->addr;
  if (in) memcpy(buf, fake_blk.disk + sector * 512, chain[1]->len);
  else memcpy(fake_blk.disk + sector * 512, buf, chain[1]->len);
  *status = 0;
  return in ? chain[1]->len + 1 : 1;
}

static void notified(void) {
  fake_blk.notifies++;
  if (fake_blk.ignore) {
    fake_blk.ignore--;
    return;
  }
  struct sf_vring_avail *a = (struct sf_vring_avail *)(uintptr_t)q.avail;
  struct sf_vring_used *u = (struct sf_vring_used *)(uintptr_t)q.used;
  while (q.ready && q.last_avail != a->idx) {
    uint16_t head = a->ring[q.last_avail++ % q.num];
    uint32_t len = serve(head);
    u->ring[u->idx % q.num] = (struct sf_vring_used_elem){head, len};
    __atomic_store_n(&u->idx, (uint16_t)(u->idx + 1), __ATOMIC_RELEASE);
  }
}

uint32_t fake_vblk_mmio_read(uint64_t off, unsigned width) {
  if (!fake_blk.present) return 0;
  if (off >= SF_VIRTIO_MMIO_CONFIG) {
    unsigned c = (unsigned)(off - SF_VIRTIO_MMIO_CONFIG);
    uint64_t capacity = FAKE_DISK_SECTORS;
    return width == 1 && c < 8 ? (uint8_t)(capacity >> (8 * c)) : 0;
  }
  if (width != 4) return 0xffffffffu;
  const uint64_t offered = SF_VIRTIO_F_VERSION_1 | (1ull << 9) /* FLUSH */;
  switch (off) {
    case SF_VIRTIO_MMIO_MAGIC: return SF_VIRTIO_MAGIC;
    case SF_VIRTIO_MMIO_VERSION: return SF_VIRTIO_VERSION;
    case SF_VIRTIO_MMIO_DEVICE_ID: return 2;
    case SF_VIRTIO_MMIO_DEVICE_FEATURES: return q.dfsel < 2 ? (uint32_t)(offered >> (32 * q.dfsel)) : 0;
    case SF_VIRTIO_MMIO_QUEUE_NUM_MAX: return q.qsel == 0 ? 8 : 0;
    case SF_VIRTIO_MMIO_QUEUE_READY: return q.qsel == 0 ? q.ready : 0;
    case SF_VIRTIO_MMIO_STATUS: return fake_blk.status;
    default: return 0;
  }
}

static void set64(uint64_t *v, int high, uint32_t x) {
  *v = high ? (*v & 0xffffffffull) | (uint64_t)x << 32 : (*v & ~0xffffffffull) | x;
}

void fake_vblk_mmio_write(uint64_t off, unsigned width, uint32_t v) {
  if (!fake_blk.present || width != 4) return;
  switch (off) {
    case SF_VIRTIO_MMIO_DEVICE_FEATURES_SEL: q.dfsel = v; break;
    case SF_VIRTIO_MMIO_DRIVER_FEATURES_SEL: q.drfsel = v; break;
    case SF_VIRTIO_MMIO_DRIVER_FEATURES:
      if (q.drfsel < 2) set64(&q.driver_features, (int)q.drfsel, v);
      break;
    case SF_VIRTIO_MMIO_QUEUE_SEL: q.qsel = v; break;
    case SF_VIRTIO_MMIO_QUEUE_NUM: q.num = v; break;
    case SF_VIRTIO_MMIO_QUEUE_DESC_LOW:
    case SF_VIRTIO_MMIO_QUEUE_DESC_HIGH: set64(&q.desc, off == SF_VIRTIO_MMIO_QUEUE_DESC_HIGH, v); break;
    case SF_VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case SF_VIRTIO_MMIO_QUEUE_DRIVER_HIGH: set64(&q.avail, off == SF_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v); break;
    case SF_VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case SF_VIRTIO_MMIO_QUEUE_DEVICE_HIGH: set64(&q.used, off == SF_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v); break;
    case SF_VIRTIO_MMIO_QUEUE_READY: q.ready = v & 1; break;
    case SF_VIRTIO_MMIO_QUEUE_NOTIFY:
      if (v == 0) notified();
      break;
    case SF_VIRTIO_MMIO_STATUS:
      if (v == 0) {
        uint32_t keep_present = fake_blk.present;
        memset(&q, 0, sizeof q);
        fake_blk.status = 0;
        fake_blk.present = keep_present;
      } else {
        fake_blk.status = v;
      }
      break;
    default: break;
  }
}
