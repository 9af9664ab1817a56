/* The virtio-mmio transport for flat guests (sfguest/virtio.h): probing the device windows, the status and
 * feature handshake, split-ring set-up, and the ring index protocol with a device thread on another CPU. */
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/string.h>
#include <sfguest/virtio.h>

static uint32_t rd(const struct sf_virtio_dev *d, unsigned reg) { return sf_mmio_read32(d->base + reg); }

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define LARGE_PAGE (2ull << 20)

int sf_virtio_map_windows(void) {
#ifdef SF_HOST_TEST
  return 0;
#else
  /* The VMM's identity map (abi.h: PML4 at SF_PAGETABLE_GPA, PDPT after it, one PD per GiB from
   * SF_PAGEDIR_GPA) may stop at the end of RAM; the windows lie in the MMIO hole at 3.25 GiB. Map the
   * 2 MiB page that holds them (uncached, user) unless something already does. New entries only turn
   * not-present into present, which needs no TLB flush. */
  uint64_t *pml4 = (uint64_t *)(uintptr_t)SF_PAGETABLE_GPA;
  if (!(pml4[0] & PTE_P) || (pml4[0] & PTE_ADDR) != SF_PAGETABLE_GPA + SF_PAGE_SIZE) return -1; /* not the ABI's map */
  volatile uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & PTE_ADDR);
  const uint64_t gib = SF_VIRTIO_MMIO_GPA >> 30;
  const uint64_t last = SF_VIRTIO_MMIO_GPA + SF_MAX_DEVICES * SF_VIRTIO_MMIO_STRIDE - 1;
  if ((last >> 21) != (SF_VIRTIO_MMIO_GPA >> 21) || gib >= SF_MAX_PAGEDIRS) return -1;
  if (!(pdpt[gib] & PTE_P)) {
    uint64_t *pd = (uint64_t *)(uintptr_t)(SF_PAGEDIR_GPA + gib * SF_PAGE_SIZE); /* that GiB's reserved PD */
    memset(pd, 0, SF_PAGE_SIZE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the PD is whole before the PDPT entry makes it live */
    pdpt[gib] = (uint64_t)(uintptr_t)pd | PTE_P | PTE_W | PTE_U | PTE_A;
  }
  if (pdpt[gib] & PTE_PS) return 0; /* a 1 GiB page covers the hole */
  volatile uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[gib] & PTE_ADDR);
  const uint64_t i = (SF_VIRTIO_MMIO_GPA >> 21) & 511;
  if (!(pd[i] & PTE_P))
    pd[i] =
        (SF_VIRTIO_MMIO_GPA & ~(LARGE_PAGE - 1)) | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PWT | PTE_PCD | PTE_A | PTE_D;
  return 0;
#endif
}
static void wr(const struct sf_virtio_dev *d, unsigned reg, uint32_t v) { sf_mmio_write32(d->base + reg, v); }

int sf_virtio_find(uint32_t device_id, unsigned nth, struct sf_virtio_dev *out) {
  const struct sf_bootinfo *bi = sf_bootinfo();
  unsigned slots = bi ? bi->ndevices : 0;
  if (slots > SF_MAX_DEVICES) slots = SF_MAX_DEVICES;
  if (slots && sf_virtio_map_windows() != 0) return -1;
  for (unsigned i = 0; i < slots; i++) {
    struct sf_virtio_dev d = {.base = (uintptr_t)(SF_VIRTIO_MMIO_GPA + i * SF_VIRTIO_MMIO_STRIDE), .slot = i};
    if (rd(&d, SF_VIRTIO_MMIO_MAGIC) != SF_VIRTIO_MAGIC || rd(&d, SF_VIRTIO_MMIO_VERSION) != SF_VIRTIO_VERSION)
      continue;
    d.device_id = rd(&d, SF_VIRTIO_MMIO_DEVICE_ID);
    if (d.device_id != device_id || nth-- > 0) continue; /* 0 = an empty slot */
    *out = d;
    return 0;
  }
  return -1;
}

uint32_t sf_virtio_status(const struct sf_virtio_dev *d) { return rd(d, SF_VIRTIO_MMIO_STATUS); }
void sf_virtio_reset(struct sf_virtio_dev *d) { wr(d, SF_VIRTIO_MMIO_STATUS, 0); }

int sf_virtio_negotiate(struct sf_virtio_dev *d, uint64_t wanted) {
  sf_virtio_reset(d);
  uint32_t status = SF_VIRTIO_STATUS_ACKNOWLEDGE;
  wr(d, SF_VIRTIO_MMIO_STATUS, status);
  status |= SF_VIRTIO_STATUS_DRIVER;
  wr(d, SF_VIRTIO_MMIO_STATUS, status);
  uint64_t offered = 0;
  for (uint32_t sel = 0; sel < 2; sel++) {
    wr(d, SF_VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
    offered |= (uint64_t)rd(d, SF_VIRTIO_MMIO_DEVICE_FEATURES) << (32 * sel);
  }
  uint64_t accepted = offered & (wanted | SF_VIRTIO_F_VERSION_1);
  if (!(accepted & SF_VIRTIO_F_VERSION_1)) goto failed; /* a legacy device: not ours */
  for (uint32_t sel = 0; sel < 2; sel++) {
    wr(d, SF_VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
    wr(d, SF_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(accepted >> (32 * sel)));
  }
  status |= SF_VIRTIO_STATUS_FEATURES_OK;
  wr(d, SF_VIRTIO_MMIO_STATUS, status);
  if (!(rd(d, SF_VIRTIO_MMIO_STATUS) & SF_VIRTIO_STATUS_FEATURES_OK)) goto failed;
  d->features = accepted;
  return 0;
failed:
  wr(d, SF_VIRTIO_MMIO_STATUS, status | SF_VIRTIO_STATUS_FAILED);
  return -1;
}

static void wr64(const struct sf_virtio_dev *d, unsigned lo, const void *p) {
  uint64_t a = (uint64_t)(uintptr_t)p; /* identity map: virtual = guest-physical */
  wr(d, lo, (uint32_t)a);
  wr(d, lo + 4, (uint32_t)(a >> 32));
}

int sf_virtqueue_setup(struct sf_virtio_dev *d, struct sf_virtqueue *q, uint16_t index, uint16_t max) {
  wr(d, SF_VIRTIO_MMIO_QUEUE_SEL, index);
  if (rd(d, SF_VIRTIO_MMIO_QUEUE_READY)) return -1;
  uint32_t num_max = rd(d, SF_VIRTIO_MMIO_QUEUE_NUM_MAX);
  if (num_max == 0) return -1;
  uint16_t num = 1;
  while ((uint32_t)num * 2 <= num_max && num * 2 <= max) num = (uint16_t)(num * 2);
  /* Rings come from the heap and stay for the life of the program (a re-set-up reuses nothing). */
  memset(q, 0, sizeof *q);
  q->index = index;
  q->num = num;
  q->desc = aligned_alloc(4096, 16u * num);
  q->avail = aligned_alloc(4096, 6u + 2u * num);
  q->used = aligned_alloc(4096, 6u + 8u * num);
  if (!q->desc || !q->avail || !q->used) return -1;
  memset(q->desc, 0, 16u * num);
  memset(q->avail, 0, 6u + 2u * num);
  memset(q->used, 0, 6u + 8u * num);
  wr(d, SF_VIRTIO_MMIO_QUEUE_NUM, num);
  wr64(d, SF_VIRTIO_MMIO_QUEUE_DESC_LOW, q->desc);
  wr64(d, SF_VIRTIO_MMIO_QUEUE_DRIVER_LOW, q->avail);
  wr64(d, SF_VIRTIO_MMIO_QUEUE_DEVICE_LOW, q->used);
  wr(d, SF_VIRTIO_MMIO_QUEUE_READY, 1);
  return 0;
}

void sf_virtio_driver_ok(struct sf_virtio_dev *d) {
  wr(d, SF_VIRTIO_MMIO_STATUS, rd(d, SF_VIRTIO_MMIO_STATUS) | SF_VIRTIO_STATUS_DRIVER_OK);
}

void sf_virtqueue_publish(struct sf_virtqueue *q, uint16_t id) {
  q->avail->ring[q->next_avail & (q->num - 1)] = id;
  q->next_avail++;
  /* Release: the ring entry (and the descriptor and buffer behind it) before the index the device polls. */
  __atomic_store_n(&q->avail->idx, q->next_avail, __ATOMIC_RELEASE);
}

int sf_virtqueue_take_used(struct sf_virtqueue *q, uint32_t *id, uint32_t *len) {
  /* Acquire: the device's entry (and the data it wrote into the buffer) after the index. */
  uint16_t idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
  if (idx == q->last_used) return 0;
  const struct sf_vring_used_elem *e = &q->used->ring[q->last_used & (q->num - 1)];
  *id = e->id;
  *len = e->len;
  q->last_used++;
  return 1;
}

int sf_virtqueue_wants_notify(const struct sf_virtqueue *q) {
  /* Full fence: our avail index store must be visible before we read the device's flag, or a device
   * that clears NO_NOTIFY and re-checks the ring could miss our entries while we skip the notify. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return !(__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) & SF_VRING_USED_F_NO_NOTIFY);
}

void sf_virtqueue_set_interrupt(struct sf_virtqueue *q, int on) {
  __atomic_store_n(&q->avail->flags, on ? 0 : SF_VRING_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELAXED);
  /* Full fence: the flag before our next read of used->idx (the device pushes, then reads the flag). */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void sf_virtqueue_notify(struct sf_virtio_dev *d, const struct sf_virtqueue *q) {
  /* The device thread may only look at the rings after this exit: order our ring stores first. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  wr(d, SF_VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

uint32_t sf_virtio_config_generation(const struct sf_virtio_dev *d) { return rd(d, SF_VIRTIO_MMIO_CONFIG_GENERATION); }

uint32_t sf_virtio_read_config(const struct sf_virtio_dev *d, unsigned off, void *buf, unsigned len) {
  uint32_t before, after;
  do {
    before = sf_virtio_config_generation(d);
    for (unsigned i = 0; i < len; i++) ((uint8_t *)buf)[i] = sf_mmio_read8(d->base + SF_VIRTIO_MMIO_CONFIG + off + i);
    after = sf_virtio_config_generation(d);
  } while (before != after);
  return after;
}
