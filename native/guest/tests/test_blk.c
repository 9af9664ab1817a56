/* The virtio-blk driver against the fake device in slot 1 (behind a fake NIC in slot 0), and the tar reader over
 * archives made by the host's own `tar` (ustar and GNU formats: nested directories, long names, an empty file)
 * and over broken ones (a garbled checksum, a size past the disk, not tar at all). */
#include <sfguest/blk.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/tarfs.h>
#include "fake_vblk.h"
#include "fake_vnet.h"
#include "shim.h"
#include "test.h"

/* The host's, not renamed by host_rename.h (the archives are made and read with them). */
int system(const char *command);
int open(const char *path, int flags, ...);
long read(int fd, void *buf, unsigned long n);
int close(int fd);

static void test_driver(void) {
  shim_heap_reset();
  fake_vnet_reset();
  fake.ndevices = 2; /* a NIC in slot 0, the disk in slot 1 */
  fake_vblk_reset();
  CHECK(sf_blk_init() == 0);
  CHECK(sf_blk_sectors() == FAKE_DISK_SECTORS);
  static uint8_t out[3 * 512], in[3 * 512];
  for (unsigned i = 0; i < sizeof out; i++) out[i] = (uint8_t)(i * 13 + 7);
  CHECK(sf_blk_write(10, out, 3) == 0);
  CHECK(memcmp(fake_blk.disk + 10 * 512, out, sizeof out) == 0);
  CHECK(sf_blk_read(10, in, 3) == 0 && memcmp(in, out, sizeof in) == 0);
  CHECK(sf_blk_flush() == 0 && fake_blk.flushes == 1);
  /* Past the end: refused by the driver, nothing reaches the device. */
  uint32_t served = fake_blk.served;
  CHECK(sf_blk_read(FAKE_DISK_SECTORS - 1, in, 2) == -1);
  CHECK(sf_blk_read(~0ull, in, 1) == -1);
  CHECK(fake_blk.served == served);
  /* The device's IOERR is the caller's -1. */
  fake_blk.fail_io = 1;
  CHECK(sf_blk_read(0, in, 1) == -1);
  CHECK(sf_blk_stats()->errors == 1);
  fake_blk.fail_io = 0;
  /* A notify the device missed: the driver notifies again while it waits. */
  fake_blk.ignore = 1;
  uint32_t notifies = fake_blk.notifies;
  CHECK(sf_blk_read(10, in, 3) == 0 && memcmp(in, out, sizeof in) == 0);
  CHECK(fake_blk.notifies >= notifies + 2);
  CHECK(sf_blk_stats()->renotifies >= 1);
  /* Longer than one request: split. */
  static uint8_t big[FAKE_DISK_SECTORS * 512];
  for (unsigned i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i >> 9);
  served = fake_blk.served;
  CHECK(sf_blk_write(0, big, FAKE_DISK_SECTORS) == 0);
  CHECK(fake_blk.served == served + (FAKE_DISK_SECTORS + SF_BLK_MAX_SECTORS - 1) / SF_BLK_MAX_SECTORS);
  CHECK(memcmp(fake_blk.disk, big, sizeof big) == 0);
  /* No disk: every call fails cleanly. */
  fake_blk.present = 0;
  CHECK(sf_blk_init() == -1);
  CHECK(sf_blk_sectors() == 0 && sf_blk_read(0, in, 1) == -1);
}

/* ---- the tar reader ---- */

static uint8_t archive[1 << 20];
static uint64_t archive_bytes;

static int mem_read(void *ctx, uint64_t sector, void *buf, uint32_t count) {
  (void)ctx;
  if ((sector + count) * 512 > archive_bytes) return -1;
  memcpy(buf, archive + sector * 512, (size_t)count * 512);
  return 0;
}

static int load(const char *path) {
  int fd = open(path, 0);
  if (fd < 0) return -1;
  long n, total = 0;
  while ((n = read(fd, archive + total, sizeof archive - (unsigned long)total)) > 0) total += n;
  close(fd);
  archive_bytes = (uint64_t)total / 512 * 512;
  return total > 0 ? 0 : -1;
}

static const char *long_dir = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
static const char *long_file = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff.txt";

/* The byte the big test file holds at offset i (the shell makes it with the same rule via awk-free printf). */
static int check_file(const struct sf_tar *tar, const char *name, const char *want, uint64_t size) {
  struct sf_file f;
  if (sf_tar_find(tar, name, &f) != 0) return 0;
  if (f.size != size) return 0;
  static char buf[1 << 16];
  long n = sf_tar_read(&f, 0, buf, sizeof buf);
  if (n != (long)size) return 0;
  return want == 0 || memcmp(buf, want, size) == 0;
}

static void test_archive(const char *format) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "set -e; d=$(mktemp -d); cd $d; mkdir -p t/db/sub t/%s; printf 'queries\\n' > t/db/queries.fa;"
           " printf 'nested file\\n' > t/db/sub/x.txt; : > t/db/empty; printf 'long\\n' > t/%s/%s;"
           " head -c 70001 /dev/zero | tr '\\0' 'z' > t/db/big; tar --format=%s -cf /tmp/sf-tarfs-test.tar -C t db %s;"
           " cd /; rm -rf $d",
           long_dir, long_dir, long_file, format, long_dir);
  if (system(cmd) != 0 || load("/tmp/sf-tarfs-test.tar") != 0) {
    CHECKF(0, "could not make a %s archive with the host's tar", format);
    return;
  }
  struct sf_tar tar = {mem_read, 0, archive_bytes / 512};
  CHECKF(check_file(&tar, "db/queries.fa", "queries\n", 8), "%s", format);
  CHECKF(check_file(&tar, "./db/sub/x.txt", "nested file\n", 12), "%s", format);
  CHECKF(check_file(&tar, "db/empty", "", 0), "%s", format);
  char long_name[300];
  snprintf(long_name, sizeof long_name, "%s/%s", long_dir, long_file);
  CHECKF(check_file(&tar, long_name, "long\n", 5), "%s: %s", format, sf_tar_error());
  struct sf_file f;
  CHECK(sf_tar_find(&tar, "db/big", &f) == 0 && f.size == 70001);
  static char buf[1000];
  /* Unaligned reads across sector edges, and the end of the file. */
  CHECK(sf_tar_read(&f, 511, buf, 3) == 3 && memcmp(buf, "zzz", 3) == 0);
  CHECK(sf_tar_read(&f, 70000, buf, 100) == 1 && buf[0] == 'z');
  CHECK(sf_tar_read(&f, 70001, buf, 100) == 0);
  CHECK(sf_tar_find(&tar, "db", &f) == -SF_TAR_ENOENT); /* a directory is not a file */
  CHECK(sf_tar_find(&tar, "db/missing", &f) == -SF_TAR_ENOENT);
  CHECK(strstr(sf_tar_error(), "db/missing is not in the archive") != 0);

  /* A garbled header: its checksum no longer matches, and the archive is refused from there on. */
  archive[1] ^= 0x20;
  CHECK(sf_tar_find(&tar, "db/queries.fa", &f) == -SF_TAR_EBADTAR);
  CHECK(strstr(sf_tar_error(), "checksum") != 0);
  archive[1] ^= 0x20;
  /* A size past the disk (checksum made right again): refused, not read. */
  static uint8_t saved[512];
  memcpy(saved, archive, 512);
  memcpy(archive + 124, "77777777777", 11);
  unsigned sum = 0;
  memset(archive + 148, ' ', 8);
  for (unsigned i = 0; i < 512; i++) sum += archive[i];
  snprintf((char *)archive + 148, 8, "%06o", sum);
  CHECK(sf_tar_find(&tar, "db/queries.fa", &f) == -SF_TAR_EBADTAR);
  CHECK(strstr(sf_tar_error(), "past the disk") != 0);
  memcpy(archive, saved, 512);
  /* Not tar at all. */
  struct sf_tar tiny = {mem_read, 0, 1};
  memset(archive, 0x41, 512);
  CHECK(sf_tar_find(&tiny, "x", &f) == -SF_TAR_EBADTAR);
  /* A disk that cannot be read. */
  struct sf_tar beyond = {mem_read, 0, archive_bytes / 512 + 10};
  memset(archive, 0, archive_bytes);
  archive_bytes = 0;
  CHECK(sf_tar_find(&beyond, "x", &f) == -SF_TAR_EIO);
}

void test_blk(void) {
  test_driver();
  test_archive("ustar");
  test_archive("gnu");
  system("rm -f /tmp/sf-tarfs-test.tar");
}
