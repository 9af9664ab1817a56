/* A polled virtio-blk driver for flat guests (lib/virtio_blk.c): the VM's disk (the first virtio-blk device among
 * the bootinfo.ndevices windows), read and written in 512-byte sectors, one request at a time, the used ring polled.
 * No interrupts; one vCPU at a time may use it. sfguest/tarfs.h reads files by name from a tar archive on it. */
#ifndef SFGUEST_BLK_H
#define SFGUEST_BLK_H

#include <stdint.h>

#define SF_VIRTIO_ID_BLOCK 2u
#define SF_BLK_SECTOR 512u
/* Sectors per request: a longer transfer is split (each request is one VM exit plus the device's work). */
#define SF_BLK_MAX_SECTORS 256u

/* Finds the disk, negotiates (VERSION_1, FLUSH) and sets up its queue. 0, or -1 (no disk, or it refused
 * us). Called again (after a device reset) it starts over; the other calls call it on first use. */
int sf_blk_init(void);
/* The disk's size in sectors (0 without a disk). */
uint64_t sf_blk_sectors(void);
/* count sectors from `sector` into / out of buf (in guest RAM). 0, or -1 (no disk, past the end, or the
 * device answered an error: the bytes of buf are then unspecified). */
int sf_blk_read(uint64_t sector, void *buf, uint32_t count);
int sf_blk_write(uint64_t sector, const void *buf, uint32_t count);
/* What was written reaches the host's storage. 0, or -1. */
int sf_blk_flush(void);

struct sf_blk_stats {
  uint64_t requests, errors, notifies, renotifies;
};
const struct sf_blk_stats *sf_blk_stats(void);

#endif /* SFGUEST_BLK_H */
