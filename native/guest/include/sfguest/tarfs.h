/* Files by name from a POSIX tar archive (ustar, and GNU tar's long-name records) laid out on a disk from sector
 * 0, as `tar cf disk.img DIR` makes it (lib/tarfs.c). Read-only: the archive is scanned for each open. Every
 * header's checksum is checked; a malformed archive is refused, never trusted. sf_file_* use the VM's virtio-blk
 * disk (sfguest/blk.h); sf_tar_* take any sector reader (the host tests give them a file in memory). */
#ifndef SFGUEST_TARFS_H
#define SFGUEST_TARFS_H

#include <stdint.h>

#define SF_TAR_NAME_MAX 256 /* ustar: prefix (155) + "/" + name (100); GNU long names are cut off here */

/* What sf_tar_find and sf_file_open report (negated), with sf_tar_error() saying more. */
#define SF_TAR_ENOENT 1  /* no such file in the archive */
#define SF_TAR_EBADTAR 2 /* a header that is not ustar, has a wrong checksum, or points past the disk */
#define SF_TAR_EIO 3     /* the disk could not be read */

struct sf_tar {
  /* Reads count 512-byte sectors from `sector` into buf: 0, or -1. */
  int (*read)(void *ctx, uint64_t sector, void *buf, uint32_t count);
  void *ctx;
  uint64_t sectors; /* the disk's size */
};

struct sf_file {
  const struct sf_tar *tar;
  uint64_t first_sector; /* where the file's bytes start */
  uint64_t size;
  char name[SF_TAR_NAME_MAX + 1];
};

/* Looks `path` up (a regular file; "./" in front of archive names is ignored): 0, or -SF_TAR_*. */
int sf_tar_find(const struct sf_tar *tar, const char *path, struct sf_file *out);
/* Up to len bytes from offset (fewer at the end of the file): the count, or -1 (the disk failed). */
long sf_tar_read(const struct sf_file *f, uint64_t offset, void *buf, uint64_t len);
/* Why the last call failed. */
const char *sf_tar_error(void);

/* The same over the VM's disk: a file opened from the tar archive on it (NULL with sf_tar_error() on
 * failure), read, sized and closed. */
struct sf_file *sf_file_open(const char *path);
long sf_file_read(struct sf_file *f, uint64_t offset, void *buf, uint64_t len);
uint64_t sf_file_size(const struct sf_file *f);
void sf_file_close(struct sf_file *f);

#endif /* SFGUEST_TARFS_H */
