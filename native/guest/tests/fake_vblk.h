/* A fake virtio-blk device for the host tests (fake_vblk.c): the registers of device slot 1 (slot 0 is the fake
 * NIC's, fake_vnet.c, which hands slot-1 accesses here), one queue whose chains it serves on QueueNotify over a
 * disk held in memory. */
#ifndef TESTS_FAKE_VBLK_H
#define TESTS_FAKE_VBLK_H

#include <stdint.h>

#define FAKE_DISK_SECTORS 256u

struct fake_vblk {
  int present;
  uint8_t disk[FAKE_DISK_SECTORS * 512];
  uint32_t status;
  int fail_io;     /* 1: answer every read/write with IOERR */
  unsigned ignore; /* notifies still to ignore (a device that missed them) */
  uint32_t notifies, served, flushes;
};

extern struct fake_vblk fake_blk;

void fake_vblk_reset(void);
uint32_t fake_vblk_mmio_read(uint64_t off, unsigned width);
void fake_vblk_mmio_write(uint64_t off, unsigned width, uint32_t v);

#endif /* TESTS_FAKE_VBLK_H */
