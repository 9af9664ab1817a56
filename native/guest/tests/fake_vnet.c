/* The host tests' fake virtio-net device (fake_vnet.h): answers the driver's register accesses at
 * SF_VIRTIO_MMIO_GPA and walks its split rings in host memory; also the boot info the driver probes. */
#include "fake_vnet.h"
#include <sfguest/bootinfo.h>
#include <sfguest/string.h>
#include <sfguest/virtio_net.h>
#include "fake_vblk.h"

struct fake_vnet fake;

struct fake_queue {
  uint32_t num, ready;
  uint64_t desc, avail, used;
  uint16_t last_avail;
};
static struct fake_queue q[2];
static uint32_t dfsel, drfsel, qsel, isr;
static struct sf_bootinfo boot;

const struct sf_bootinfo *sf_bootinfo(void) {
  boot.magic = SF_BOOTINFO_MAGIC;
  boot.abi_version = SF_ABI_VERSION;
  boot.ndevices = fake.ndevices;
  return &boot;
}
unsigned sf_clusterid(void) { return 7; }

void fake_vnet_reset(void) {
  memset(&fake, 0, sizeof fake);
  memset(q, 0, sizeof q);
  fake.present = 1;
  fake.ndevices = 1;
  fake.offered = SF_VIRTIO_F_VERSION_1 | SF_VIRTIO_NET_F_MAC | SF_VIRTIO_NET_F_STATUS | (1ull << 0) /* CSUM */;
  static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x07, 0x00, 0x00};
  memcpy(fake.mac, mac, 6);
  fake.net_status = SF_VIRTIO_NET_S_LINK_UP;
}

static struct sf_vring_desc *descs(struct fake_queue *fq) { return (struct sf_vring_desc *)(uintptr_t)fq->desc; }
static struct sf_vring_avail *avail(struct fake_queue *fq) { return (struct sf_vring_avail *)(uintptr_t)fq->avail; }
static struct sf_vring_used *used(struct fake_queue *fq) { return (struct sf_vring_used *)(uintptr_t)fq->used; }

static void push_used(struct fake_queue *fq, uint32_t id, uint32_t len) {
  struct sf_vring_used *u = used(fq);
  u->ring[u->idx % fq->num].id = id;
  u->ring[u->idx % fq->num].len = len;
  __atomic_store_n(&u->idx, (uint16_t)(u->idx + 1), __ATOMIC_RELEASE);
}

/* Takes the next available head, or -1. */
static int next_avail(struct fake_queue *fq) {
  if (!fq->ready || fq->last_avail == __atomic_load_n(&avail(fq)->idx, __ATOMIC_ACQUIRE)) return -1;
  return avail(fq)->ring[fq->last_avail++ % fq->num];
}

static void consume_tx(void) {
  struct fake_queue *tq = &q[1];
  int id;
  while ((id = next_avail(tq)) >= 0) {
    struct sf_vring_desc *d = &descs(tq)[id];
    if ((d->flags & SF_VRING_DESC_F_NEXT) || d->len < SF_VNET_HDR_LEN || d->len > SF_VNET_HDR_LEN + FAKE_FRAME_MAX ||
        fake.from_len == FAKE_QUEUE) {
      fake.bad_descs++;
    } else {
      struct fake_frame *f = &fake.from_guest[(fake.from_head + fake.from_len++) % FAKE_QUEUE];
      f->len = d->len - SF_VNET_HDR_LEN;
      memcpy(f->data, (const uint8_t *)(uintptr_t)d->addr + SF_VNET_HDR_LEN, f->len);
    }
    push_used(tq, (uint32_t)id, 0);
  }
}

int fake_vnet_queue_to_guest(const void *frame, unsigned len) {
  if (fake.to_len == FAKE_QUEUE || len > FAKE_FRAME_MAX) return -1;
  struct fake_frame *f = &fake.to_guest[(fake.to_head + fake.to_len++) % FAKE_QUEUE];
  f->len = len;
  memcpy(f->data, frame, len);
  return 0;
}

void fake_vnet_fill_rx(void) {
  struct fake_queue *rq = &q[0];
  if (q[1].ready) {
    used(&q[1])->flags = fake.polls_tx ? SF_VRING_USED_F_NO_NOTIFY : 0;
    if (fake.polls_tx) consume_tx();
  }
  while (fake.to_len && rq->ready && (fake.status & SF_VIRTIO_STATUS_DRIVER_OK)) {
    int id = next_avail(rq);
    if (id < 0) return;
    struct sf_vring_desc *d = &descs(rq)[id];
    struct fake_frame *f = &fake.to_guest[fake.to_head];
    if (!(d->flags & SF_VRING_DESC_F_WRITE) || d->len < SF_VNET_HDR_LEN + f->len) {
      fake.bad_descs++;
      push_used(rq, (uint32_t)id, 0);
      continue;
    }
    uint8_t *buf = (uint8_t *)(uintptr_t)d->addr;
    memset(buf, 0, SF_VNET_HDR_LEN);
    buf[10] = 1; /* num_buffers */
    memcpy(buf + SF_VNET_HDR_LEN, f->data, f->len);
    push_used(rq, (uint32_t)id, SF_VNET_HDR_LEN + f->len);
    fake.to_head = (fake.to_head + 1) % FAKE_QUEUE;
    fake.to_len--;
  }
}

int fake_vnet_inject_used_len(uint32_t used_len) {
  int id = next_avail(&q[0]);
  if (id < 0) return 0;
  push_used(&q[0], (uint32_t)id, used_len);
  return 1;
}

struct fake_frame *fake_vnet_pop_from_guest(void) {
  if (!fake.from_len) return 0;
  struct fake_frame *f = &fake.from_guest[fake.from_head];
  fake.from_head = (fake.from_head + 1) % FAKE_QUEUE;
  fake.from_len--;
  return f;
}

void fake_vnet_set_link(int up, const uint8_t *mac) {
  if (mac) memcpy(fake.mac, mac, 6);
  fake.net_status = up ? SF_VIRTIO_NET_S_LINK_UP : 0;
  fake.generation++;
  isr |= SF_VIRTIO_INT_CONFIG;
}

static void device_reset(void) {
  memset(q, 0, sizeof q);
  fake.status = 0;
  fake.driver_features = 0;
  isr = 0;
}

uint32_t sf_host_mmio_read(uintptr_t addr, unsigned width) {
  uint64_t off = addr - SF_VIRTIO_MMIO_GPA;
  if (off - SF_VIRTIO_MMIO_STRIDE < SF_VIRTIO_MMIO_STRIDE)
    return fake_vblk_mmio_read(off - SF_VIRTIO_MMIO_STRIDE, width);
  if (off >= SF_VIRTIO_MMIO_STRIDE || !fake.present) return 0; /* other slots: empty */
  if (off >= SF_VIRTIO_MMIO_CONFIG) {
    unsigned c = (unsigned)(off - SF_VIRTIO_MMIO_CONFIG);
    if (width == 1 && c < 6) return fake.mac[c];
    if (width == 2 && c == SF_VIRTIO_NET_CFG_STATUS) return fake.net_status;
    return 0xffffffffu; /* a width the driver must not use */
  }
  if (width != 4) return 0xffffffffu;
  switch (off) {
    case SF_VIRTIO_MMIO_MAGIC: return SF_VIRTIO_MAGIC;
    case SF_VIRTIO_MMIO_VERSION: return SF_VIRTIO_VERSION;
    case SF_VIRTIO_MMIO_DEVICE_ID: return SF_VIRTIO_ID_NET;
    case SF_VIRTIO_MMIO_DEVICE_FEATURES: return dfsel < 2 ? (uint32_t)(fake.offered >> (32 * dfsel)) : 0;
    case SF_VIRTIO_MMIO_QUEUE_NUM_MAX: return qsel < 2 ? 256 : 0;
    case SF_VIRTIO_MMIO_QUEUE_READY: return qsel < 2 ? q[qsel].ready : 0;
    case SF_VIRTIO_MMIO_INTERRUPT_STATUS: return isr;
    case SF_VIRTIO_MMIO_STATUS: return fake.status;
    case SF_VIRTIO_MMIO_CONFIG_GENERATION: return fake.generation;
    default: return 0;
  }
}

static void set64(uint64_t *v, int high, uint32_t x) {
  *v = high ? (*v & 0xffffffffull) | (uint64_t)x << 32 : (*v & ~0xffffffffull) | x;
}

void sf_host_mmio_write(uintptr_t addr, unsigned width, uint32_t v) {
  uint64_t off = addr - SF_VIRTIO_MMIO_GPA;
  if (off - SF_VIRTIO_MMIO_STRIDE < SF_VIRTIO_MMIO_STRIDE) {
    fake_vblk_mmio_write(off - SF_VIRTIO_MMIO_STRIDE, width, v);
    return;
  }
  if (off >= SF_VIRTIO_MMIO_STRIDE || !fake.present || width != 4) return;
  struct fake_queue *fq = qsel < 2 ? &q[qsel] : 0;
  switch (off) {
    case SF_VIRTIO_MMIO_DEVICE_FEATURES_SEL: dfsel = v; break;
    case SF_VIRTIO_MMIO_DRIVER_FEATURES_SEL: drfsel = v; break;
    case SF_VIRTIO_MMIO_DRIVER_FEATURES:
      if (drfsel < 2) set64(&fake.driver_features, (int)drfsel, v);
      break;
    case SF_VIRTIO_MMIO_QUEUE_SEL: qsel = v; break;
    case SF_VIRTIO_MMIO_QUEUE_NUM:
      if (fq) fq->num = v;
      break;
    case SF_VIRTIO_MMIO_QUEUE_DESC_LOW:
    case SF_VIRTIO_MMIO_QUEUE_DESC_HIGH:
      if (fq) set64(&fq->desc, off == SF_VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
      break;
    case SF_VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case SF_VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
      if (fq) set64(&fq->avail, off == SF_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
      break;
    case SF_VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case SF_VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
      if (fq) set64(&fq->used, off == SF_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
      break;
    case SF_VIRTIO_MMIO_QUEUE_READY:
      if (fq) fq->ready = v & 1;
      break;
    case SF_VIRTIO_MMIO_QUEUE_NOTIFY:
      if (v < 2) fake.notifies[v]++;
      if (v == 1 && !fake.hold_tx) consume_tx();
      break;
    case SF_VIRTIO_MMIO_INTERRUPT_ACK: isr &= ~v; break;
    case SF_VIRTIO_MMIO_STATUS:
      if (v == 0) {
        device_reset();
        break;
      }
      /* FEATURES_OK sticks only if the driver took nothing we did not offer. */
      if ((v & SF_VIRTIO_STATUS_FEATURES_OK) && (fake.driver_features & ~fake.offered))
        v &= ~SF_VIRTIO_STATUS_FEATURES_OK;
      fake.status = v;
      break;
    default: break;
  }
}
