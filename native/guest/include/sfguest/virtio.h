/* virtio 1.x over virtio-mmio (register layout 2) for flat-guest drivers: the numbers of the spec the SDK
 * uses (its own definitions: the guest never includes the VMM's headers), register access, device probing
 * over the bootinfo.ndevices windows of abi.h, the status/feature handshake, and polled split virtqueues.
 * No interrupts: drivers poll the used rings. Every register access is a VM exit, ring accesses are not. */
#ifndef SFGUEST_VIRTIO_H
#define SFGUEST_VIRTIO_H

#include <snowflock/abi.h>
#include <stdint.h>

/* ---- virtio-mmio v2 registers (offsets in a device window) --------------------------------------- */
#define SF_VIRTIO_MMIO_MAGIC 0x000u
#define SF_VIRTIO_MMIO_VERSION 0x004u
#define SF_VIRTIO_MMIO_DEVICE_ID 0x008u
#define SF_VIRTIO_MMIO_DEVICE_FEATURES 0x010u
#define SF_VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014u
#define SF_VIRTIO_MMIO_DRIVER_FEATURES 0x020u
#define SF_VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024u
#define SF_VIRTIO_MMIO_QUEUE_SEL 0x030u
#define SF_VIRTIO_MMIO_QUEUE_NUM_MAX 0x034u
#define SF_VIRTIO_MMIO_QUEUE_NUM 0x038u
#define SF_VIRTIO_MMIO_QUEUE_READY 0x044u
#define SF_VIRTIO_MMIO_QUEUE_NOTIFY 0x050u
#define SF_VIRTIO_MMIO_INTERRUPT_STATUS 0x060u
#define SF_VIRTIO_MMIO_INTERRUPT_ACK 0x064u
#define SF_VIRTIO_MMIO_STATUS 0x070u
#define SF_VIRTIO_MMIO_QUEUE_DESC_LOW 0x080u
#define SF_VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084u
#define SF_VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090u
#define SF_VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094u
#define SF_VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0u
#define SF_VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4u
#define SF_VIRTIO_MMIO_CONFIG_GENERATION 0x0fcu
#define SF_VIRTIO_MMIO_CONFIG 0x100u

#define SF_VIRTIO_MAGIC 0x74726976u /* "virt" */
#define SF_VIRTIO_VERSION 2u
#define SF_VIRTIO_ID_NET 1u

#define SF_VIRTIO_STATUS_ACKNOWLEDGE 1u
#define SF_VIRTIO_STATUS_DRIVER 2u
#define SF_VIRTIO_STATUS_DRIVER_OK 4u
#define SF_VIRTIO_STATUS_FEATURES_OK 8u
#define SF_VIRTIO_STATUS_NEEDS_RESET 0x40u
#define SF_VIRTIO_STATUS_FAILED 0x80u

#define SF_VIRTIO_INT_CONFIG 2u /* InterruptStatus: the configuration changed */

#define SF_VIRTIO_F_VERSION_1 (1ull << 32)

#define SF_VRING_DESC_F_NEXT 1u
#define SF_VRING_DESC_F_WRITE 2u
#define SF_VRING_USED_F_NO_NOTIFY 1u     /* the device polls this queue: notifies may be skipped */
#define SF_VRING_AVAIL_F_NO_INTERRUPT 1u /* the driver needs no interrupt (no SF_HC_WAIT wake-up) for this queue */

/* ---- Register access --------------------------------------------------------------------------- */
#ifdef SF_HOST_TEST
/* The host tests' fake device answers these (tests/fake_virtio.c). */
uint32_t sf_host_mmio_read(uintptr_t addr, unsigned width);
void sf_host_mmio_write(uintptr_t addr, unsigned width, uint32_t value);
static inline uint32_t sf_mmio_read32(uintptr_t a) { return sf_host_mmio_read(a, 4); }
static inline uint16_t sf_mmio_read16(uintptr_t a) { return (uint16_t)sf_host_mmio_read(a, 2); }
static inline uint8_t sf_mmio_read8(uintptr_t a) { return (uint8_t)sf_host_mmio_read(a, 1); }
static inline void sf_mmio_write32(uintptr_t a, uint32_t v) { sf_host_mmio_write(a, 4, v); }
#else
static inline uint32_t sf_mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline uint16_t sf_mmio_read16(uintptr_t a) { return *(volatile uint16_t *)a; }
static inline uint8_t sf_mmio_read8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline void sf_mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
#endif

/* ---- Split virtqueues ------------------------------------------------------------------------- */
struct sf_vring_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};
struct sf_vring_avail {
  uint16_t flags, idx;
  uint16_t ring[];
};
struct sf_vring_used_elem {
  uint32_t id, len;
};
struct sf_vring_used {
  uint16_t flags, idx;
  struct sf_vring_used_elem ring[];
};

struct sf_virtqueue {
  uint16_t index;      /* queue number in the device */
  uint16_t num;        /* entries (a power of two) */
  uint16_t next_avail; /* our copy of avail->idx */
  uint16_t last_used;  /* used entries consumed so far */
  struct sf_vring_desc *desc;
  struct sf_vring_avail *avail;
  struct sf_vring_used *used;
};

struct sf_virtio_dev {
  uintptr_t base; /* the device window */
  unsigned slot;
  uint32_t device_id;
  uint64_t features; /* negotiated */
};

/* Makes sure the device windows are mapped in the identity map (the VMM's may end with RAM): 0, or -1 if
 * the page tables are not laid out as abi.h says (nothing is changed then). sf_virtio_find calls it. */
int sf_virtio_map_windows(void);
/* Finds the nth (0-based) device with device_id among the bootinfo.ndevices windows: 0, or -1 if none. */
int sf_virtio_find(uint32_t device_id, unsigned nth, struct sf_virtio_dev *out);
/* Resets the device, then ACKNOWLEDGE, DRIVER, accepts wanted & offered (VERSION_1 required) and checks
 * FEATURES_OK. 0, or -1 (the device is marked FAILED). */
int sf_virtio_negotiate(struct sf_virtio_dev *d, uint64_t wanted);
/* Allocates queue index's rings (at most max entries, limited by QueueNumMax) and hands them to the
 * device. 0, or -1 (no such queue, or no memory). */
int sf_virtqueue_setup(struct sf_virtio_dev *d, struct sf_virtqueue *q, uint16_t index, uint16_t max);
void sf_virtio_driver_ok(struct sf_virtio_dev *d);
/* Device status register (0 after a reset by the device side). */
uint32_t sf_virtio_status(const struct sf_virtio_dev *d);
void sf_virtio_reset(struct sf_virtio_dev *d);

/* Offers descriptor head id to the device (visible to it before the index moves: release order). */
void sf_virtqueue_publish(struct sf_virtqueue *q, uint16_t id);
/* Takes the next used entry: 1 with *id and *len, or 0 when the device has returned nothing new. */
int sf_virtqueue_take_used(struct sf_virtqueue *q, uint32_t *id, uint32_t *len);
void sf_virtqueue_notify(struct sf_virtio_dev *d, const struct sf_virtqueue *q);
/* 0 if the device said (used ring flag NO_NOTIFY) that it polls the queue and needs no notify now. */
int sf_virtqueue_wants_notify(const struct sf_virtqueue *q);
/* Whether the device raises its interrupt (what ends an SF_HC_WAIT) when it returns buffers on q: off
 * suppresses it (VIRTQ_AVAIL_F_NO_INTERRUPT). Turning it on is ordered before any later look at the used
 * ring, so a buffer returned in between still raises it. */
void sf_virtqueue_set_interrupt(struct sf_virtqueue *q, int on);

/* Reads len bytes of the device configuration at off, 8 bits at a time, retried until ConfigGeneration
 * is the same before and after (a consistent snapshot); returns that generation. */
uint32_t sf_virtio_read_config(const struct sf_virtio_dev *d, unsigned off, void *buf, unsigned len);
uint32_t sf_virtio_config_generation(const struct sf_virtio_dev *d);

#endif /* SFGUEST_VIRTIO_H */
