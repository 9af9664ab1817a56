/* disktouch — proves a VM's disk is its own after a fork. The master writes a "before" pattern into every VM's
 * region of the disk (`sectors` sectors each from `base`), forks (clones=N, common/share.h), and then every VM
 * checks that its region holds the master's pre-fork bytes, writes its own vmid's pattern there, flushes, reads
 * it back, and checks that the regions of the other VMs still hold the "before" pattern: no VM sees another's
 * writes (the master checks after joining, when every clone has written). One verified line per VM, and the
 * master's result line (share.h).
 * With cat=PATH it instead prints the size and FNV-1a of a file of the tar archive on the disk (sfguest/tarfs.h):
 *     disktouch cat=PATH size=N fnv1a=0x<8 hex>
 * Args: base=2048 sectors=8 clones=0 nvms=1 cat=PATH */
#include <sfguest/args.h>
#include <sfguest/blk.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/tarfs.h>
#include <stdint.h>
#include "common/share.h"

SF_PROGRAM_NAME("disktouch");

#define BEFORE 0xffffffffu /* the generation of the master's pre-fork pattern */

/* The byte at `offset` of region `region` written by generation `gen` (a vmid, or BEFORE). */
static uint8_t pattern_byte(unsigned region, unsigned gen, uint64_t offset) {
  return (uint8_t)sf_mix64(((uint64_t)gen << 40) ^ ((uint64_t)region << 32) ^ offset ^ 0x5ca1ab1eull);
}

static void fill(uint8_t *buf, unsigned region, unsigned gen, uint64_t bytes) {
  for (uint64_t i = 0; i < bytes; i++) buf[i] = pattern_byte(region, gen, i);
}

/* 1 if buf holds generation gen's pattern of region. */
static int holds(const uint8_t *buf, unsigned region, unsigned gen, uint64_t bytes) {
  for (uint64_t i = 0; i < bytes; i++)
    if (buf[i] != pattern_byte(region, gen, i)) return 0;
  return 1;
}

static int cat(const char *path) {
  struct sf_file *f = sf_file_open(path);
  if (!f) {
    printf("disktouch cat=%s failed: %s\n", path, sf_tar_error());
    return 1;
  }
  static uint8_t buf[64 * 1024];
  uint32_t h = 0x811c9dc5u;
  uint64_t at = 0;
  for (;;) {
    long n = sf_file_read(f, at, buf, sizeof buf);
    if (n < 0) {
      printf("disktouch cat=%s failed: %s\n", path, sf_tar_error());
      return 1;
    }
    if (n == 0) break;
    for (long i = 0; i < n; i++) h = (h ^ buf[i]) * 0x01000193u;
    at += (uint64_t)n;
  }
  const uint64_t size = sf_file_size(f);
  sf_file_close(f);
  printf("disktouch cat=%s size=%llu fnv1a=0x%08x\n", path, (unsigned long long)size, h);
  return at == size ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *path = sf_arg_get(argc, argv, "cat");
  if (path) return cat(path);
  unsigned long long base, sectors;
  struct share sh;
  if (sf_arg_u64(argc, argv, "base", 2048, &base) || sf_arg_u64(argc, argv, "sectors", 8, &sectors) ||
      share_init(argc, argv, &sh) < 0)
    return 64;
  if (sf_blk_init() != 0) {
    printf("disktouch: this VM has no disk\n");
    return 1;
  }
  const unsigned nvms = sh.clones_wanted ? (unsigned)sh.clones_wanted + 1 : sh.nvms;
  const uint64_t bytes = sectors * SF_BLK_SECTOR;
  if (sectors < 1 || sectors > 1024 || base + (uint64_t)nvms * sectors > sf_blk_sectors()) {
    printf("disktouch: %u regions of %llu sectors from %llu do not fit a disk of %llu sectors\n", nvms, sectors, base,
           (unsigned long long)sf_blk_sectors());
    return 64;
  }
  uint8_t *buf = malloc(bytes);
  if (!buf) return 1;
  int ok = 1;
  if (sh.vmid == 0) { /* before the fork: every region gets the master's pattern */
    for (unsigned r = 0; r < nvms; r++) {
      fill(buf, r, BEFORE, bytes);
      ok &= sf_blk_write(base + r * sectors, buf, (uint32_t)sectors) == 0;
    }
    ok &= sf_blk_flush() == 0;
  }
  if (share_fork(&sh) < 0) return 2;
  const unsigned me = sh.vmid;
  const uint64_t mine = base + (uint64_t)me * sectors;
  /* The master's pre-fork writes are here, in every VM. */
  int before = sf_blk_read(mine, buf, (uint32_t)sectors) == 0 && holds(buf, me, BEFORE, bytes);
  fill(buf, me, me, bytes);
  int own = sf_blk_write(mine, buf, (uint32_t)sectors) == 0 && sf_blk_flush() == 0;
  memset(buf, 0, bytes);
  own = own && sf_blk_read(mine, buf, (uint32_t)sectors) == 0 && holds(buf, me, me, bytes);
  if (sh.forked && me == 0) { /* the clones have all written once the join returns: look at their regions after it */
    sh.items = nvms;
    share_add(&sh, me, before && own);
    int rc = share_finish(&sh, before && own ? 0 : 1);
    int others = 1;
    for (unsigned r = 1; r < nvms; r++)
      others &= sf_blk_read(base + r * sectors, buf, (uint32_t)sectors) == 0 && holds(buf, r, BEFORE, bytes);
    printf("disktouch vmid=0 regions=%u sectors=%llu before=%s own=%s others=%s %s\n", nvms, sectors,
           before ? "ok" : "BAD", own ? "ok" : "BAD", others ? "ok" : "BAD",
           before && own && others ? "OK" : "MISMATCH");
    return rc ? rc : (others ? 0 : 1);
  }
  int others = 1; /* siblings may not have written yet: what this shows, the master's check makes sure of */
  for (unsigned r = 0; r < nvms; r++)
    if (r != me) others &= sf_blk_read(base + r * sectors, buf, (uint32_t)sectors) == 0 && holds(buf, r, BEFORE, bytes);
  ok &= before && own && others;
  printf("disktouch vmid=%u regions=%u sectors=%llu before=%s own=%s others=%s %s\n", me, nvms, sectors,
         before ? "ok" : "BAD", own ? "ok" : "BAD", others ? "ok" : "BAD", ok ? "OK" : "MISMATCH");
  sh.items = nvms;
  share_add(&sh, me, ok);
  return share_finish(&sh, ok ? 0 : 1);
}
