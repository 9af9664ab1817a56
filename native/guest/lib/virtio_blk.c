/* The polled virtio-blk driver (sfguest/blk.h): one three-descriptor chain (header, data, status) per request,
 * published, notified, and waited for on the used ring; long transfers split into SF_BLK_MAX_SECTORS pieces. */
#include <sfguest/blk.h>
#include <sfguest/malloc.h>
#include <sfguest/string.h>
#include <sfguest/time.h>
#include <sfguest/virtio.h>

#define BLK_F_FLUSH (1ull << 9)
#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u
#define BLK_CFG_CAPACITY 0u
/* While a request is out, the queue is notified again this often: insurance against a notify the device
 * never saw (the device is never meant to miss one, and a re-notify costs one exit). */
#define RENOTIFY_NS (1000ull * 1000)
/* A device that has not answered in this long is not going to. */
#define REQUEST_TIMEOUT_NS (30ull * 1000 * 1000 * 1000)

struct blk_header {
  uint32_t type, reserved;
  uint64_t sector;
};

static struct {
  int ready;
  struct sf_virtio_dev dev;
  struct sf_virtqueue q;
  uint64_t sectors;
  struct blk_header *header; /* in its own allocation: the device reads it while we wait */
  volatile uint8_t *status;
  struct sf_blk_stats stats;
} blk;

int sf_blk_init(void) {
  blk.ready = 0;
  if (sf_virtio_find(SF_VIRTIO_ID_BLOCK, 0, &blk.dev) != 0) return -1;
  if (sf_virtio_negotiate(&blk.dev, BLK_F_FLUSH) != 0) return -1;
  if (!blk.header) blk.header = aligned_alloc(64, sizeof *blk.header);
  if (!blk.status) blk.status = aligned_alloc(64, 64);
  if (!blk.header || !blk.status || sf_virtqueue_setup(&blk.dev, &blk.q, 0, 4) != 0 || blk.q.num < 3) goto failed;
  uint64_t capacity = 0;
  sf_virtio_read_config(&blk.dev, BLK_CFG_CAPACITY, &capacity, sizeof capacity);
  blk.sectors = capacity;
  sf_virtio_driver_ok(&blk.dev);
  if (sf_virtio_status(&blk.dev) & SF_VIRTIO_STATUS_NEEDS_RESET) goto failed;
  blk.ready = 1;
  return 0;
failed:
  sf_mmio_write32(blk.dev.base + SF_VIRTIO_MMIO_STATUS, sf_virtio_status(&blk.dev) | SF_VIRTIO_STATUS_FAILED);
  return -1;
}

static int ready(void) { return blk.ready || sf_blk_init() == 0; }

uint64_t sf_blk_sectors(void) { return ready() ? blk.sectors : 0; }
const struct sf_blk_stats *sf_blk_stats(void) { return &blk.stats; }

/* One request: `len` data bytes at buf (none for a flush), device-writable when the device fills them. */
static int request(uint32_t type, uint64_t sector, void *buf, uint32_t len, int device_writes) {
  struct sf_vring_desc *d = blk.q.desc;
  blk.header->type = type;
  blk.header->reserved = 0;
  blk.header->sector = sector;
  *blk.status = 0xff; /* anything the device never writes */
  uint16_t n = 0;
  d[n] = (struct sf_vring_desc){(uint64_t)(uintptr_t)blk.header, sizeof *blk.header, SF_VRING_DESC_F_NEXT, 1};
  n++;
  if (len) {
    d[n] = (struct sf_vring_desc){(uint64_t)(uintptr_t)buf, len,
                                  (uint16_t)(SF_VRING_DESC_F_NEXT | (device_writes ? SF_VRING_DESC_F_WRITE : 0)), 2};
    n++;
  }
  d[n - 1].next = n;
  d[n] = (struct sf_vring_desc){(uint64_t)(uintptr_t)blk.status, 1, SF_VRING_DESC_F_WRITE, 0};
  blk.stats.requests++;
  sf_virtqueue_publish(&blk.q, 0);
  if (sf_virtqueue_wants_notify(&blk.q)) {
    blk.stats.notifies++;
    sf_virtqueue_notify(&blk.dev, &blk.q);
  }
  uint64_t start = sf_time_ns(), last = start;
  uint32_t id, used_len;
  for (unsigned spins = 0;; spins++) {
    if (sf_virtqueue_take_used(&blk.q, &id, &used_len)) break;
    __builtin_ia32_pause();
    if (spins % 256 != 255) continue;
    uint64_t now = sf_time_ns();
    if (now - start > REQUEST_TIMEOUT_NS) {
      blk.ready = 0; /* the ring holds a request we gave up on: start over next time */
      blk.stats.errors++;
      return -1;
    }
    if (now - last > RENOTIFY_NS) {
      last = now;
      blk.stats.renotifies++;
      sf_virtqueue_notify(&blk.dev, &blk.q);
    }
  }
  if (id != 0 || used_len < 1 || *blk.status != 0) {
    blk.stats.errors++;
    return -1;
  }
  return 0;
}

static int transfer(uint64_t sector, uint8_t *buf, uint32_t count, int out) {
  if (!ready() || sector > blk.sectors || count > blk.sectors - sector) return -1;
  while (count) {
    uint32_t n = count < SF_BLK_MAX_SECTORS ? count : SF_BLK_MAX_SECTORS;
    if (request(out ? BLK_T_OUT : BLK_T_IN, sector, buf, n * SF_BLK_SECTOR, !out) != 0) return -1;
    sector += n;
    buf += (uint64_t)n * SF_BLK_SECTOR;
    count -= n;
  }
  return 0;
}

int sf_blk_read(uint64_t sector, void *buf, uint32_t count) { return transfer(sector, buf, count, 0); }
int sf_blk_write(uint64_t sector, const void *buf, uint32_t count) {
  return transfer(sector, (uint8_t *)(uintptr_t)buf, count, 1);
}

int sf_blk_flush(void) {
  if (!ready()) return -1;
  if (!(blk.dev.features & BLK_F_FLUSH)) return 0; /* a device without FLUSH writes through */
  return request(BLK_T_FLUSH, 0, 0, 0, 0);
}
