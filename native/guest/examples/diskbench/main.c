/* diskbench — what a VM's disk costs, measured inside the guest (bench/disk.bench.ts reads its line). After the
 * fork (clones=N; with none, the master alone) every VM times, on the tar file `file` of its disk: the first read of
 * `blocks` 4 KiB blocks spread over the file (served from the fork's frozen snapshot), the same blocks read again
 * after writing their own bytes back (now from the VM's overlay), then a sequential read of the whole file in 1 MiB
 * pieces (only the reads are timed). The sum of the file's 64-bit words lets the host check the bytes; the driver's
 * counts of requests and of notifies sent again (a request the device was slow to see) say where time went. One line:
 *     diskbench vmid=V size=N first_p50_ns= first_p99_ns= overlay_p50_ns= overlay_p99_ns= seq_ns= sum=0x<16 hex>
 *     requests= renotifies= OK
 * Args: file=PATH blocks=256 seq=1 clones=0 nvms=1 */
#include <sfguest/args.h>
#include <sfguest/blk.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/tarfs.h>
#include <sfguest/time.h>
#include <stdint.h>
#include "common/share.h"

SF_PROGRAM_NAME("diskbench");

#define BLOCK_SECTORS 8u /* 4 KiB: the overlay's block */
#define MAX_BLOCKS 4096u
#define CHUNK (1u << 20)

static uint64_t first_ns[MAX_BLOCKS], overlay_ns[MAX_BLOCKS];

static void sort(uint64_t *v, unsigned n) {
  for (unsigned i = 1; i < n; i++) {
    uint64_t x = v[i];
    unsigned j = i;
    for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
    v[j] = x;
  }
}

static uint64_t pct(uint64_t *v, unsigned n, unsigned p) { return n ? v[(n - 1) * p / 100] : 0; }

/* First reads, then overlay reads, of n blocks spread over the file. 0, or -1 if the disk failed. */
static int block_latencies(const struct sf_file *f, unsigned n) {
  if (n == 0) return 0; /* blocks=0: no latency sample (the remote row reads the file only) */
  const uint64_t lo = (f->first_sector + BLOCK_SECTORS - 1) / BLOCK_SECTORS;
  const uint64_t hi = (f->first_sector + f->size / SF_BLK_SECTOR) / BLOCK_SECTORS;
  if (hi <= lo + n) return -1;
  const uint64_t stride = (hi - lo) / n;
  static uint8_t buf[BLOCK_SECTORS * SF_BLK_SECTOR];
  for (unsigned i = 0; i < n; i++) {
    const uint64_t sector = (lo + i * stride) * BLOCK_SECTORS;
    uint64_t t0 = sf_time_ns();
    if (sf_blk_read(sector, buf, BLOCK_SECTORS) != 0) return -1;
    first_ns[i] = sf_time_ns() - t0;
    if (sf_blk_write(sector, buf, BLOCK_SECTORS) != 0) return -1; /* the same bytes: the file is unchanged */
  }
  for (unsigned i = 0; i < n; i++) {
    uint64_t t0 = sf_time_ns();
    if (sf_blk_read((lo + i * stride) * BLOCK_SECTORS, buf, BLOCK_SECTORS) != 0) return -1;
    overlay_ns[i] = sf_time_ns() - t0;
  }
  sort(first_ns, n);
  sort(overlay_ns, n);
  return 0;
}

int main(int argc, char **argv) {
  unsigned long long blocks, seq;
  struct share sh;
  const char *path = sf_arg_get(argc, argv, "file");
  if (!path || sf_arg_u64(argc, argv, "blocks", 256, &blocks) || sf_arg_u64(argc, argv, "seq", 1, &seq) ||
      share_init(argc, argv, &sh) < 0 || blocks > MAX_BLOCKS) {
    printf("diskbench: give file=PATH (a file of the tar disk), blocks <= %u, seq=0 or 1\n", MAX_BLOCKS);
    return 64;
  }
  /* Opened before the fork: the clones inherit where the file is, and read nothing of the disk until they measure. */
  struct sf_file *f = sf_file_open(path);
  if (!f) {
    printf("diskbench: %s\n", sf_tar_error());
    return 1;
  }
  uint8_t *chunk = seq ? malloc(CHUNK) : 0;
  if (seq && !chunk) return 1;
  if (share_fork(&sh) < 0) return 2;
  sh.items = sh.nvms;

  int ok = block_latencies(f, (unsigned)blocks) == 0;
  uint64_t seq_ns = 0, sum = 0, at = 0;
  while (ok && seq && at < f->size) {
    uint64_t t0 = sf_time_ns();
    long n = sf_file_read(f, at, chunk, CHUNK);
    seq_ns += sf_time_ns() - t0;
    if (n <= 0) {
      ok = 0;
      break;
    }
    uint64_t word = 0;
    for (long i = 0; i < n; i++) { /* little-endian 64-bit words, the last one zero-padded */
      word |= (uint64_t)chunk[i] << (8 * ((at + (uint64_t)i) % 8));
      if ((at + (uint64_t)i) % 8 == 7) {
        sum += word;
        word = 0;
      }
    }
    at += (uint64_t)n;
    if (at % 8) sum += word; /* only at the end: every chunk but the last is a whole number of words */
  }
  const unsigned b = (unsigned)blocks;
  printf(
      "diskbench vmid=%u size=%llu first_p50_ns=%llu first_p99_ns=%llu overlay_p50_ns=%llu overlay_p99_ns=%llu "
      "seq_ns=%llu sum=0x%016llx requests=%llu renotifies=%llu %s\n",
      sh.vmid, (unsigned long long)f->size, (unsigned long long)pct(first_ns, b, 50),
      (unsigned long long)pct(first_ns, b, 99), (unsigned long long)pct(overlay_ns, b, 50),
      (unsigned long long)pct(overlay_ns, b, 99), (unsigned long long)seq_ns, (unsigned long long)sum,
      (unsigned long long)sf_blk_stats()->requests, (unsigned long long)sf_blk_stats()->renotifies,
      ok ? "OK" : "FAILED");
  share_add(&sh, sh.vmid, ok);
  return share_finish(&sh, ok ? 0 : 1);
}
