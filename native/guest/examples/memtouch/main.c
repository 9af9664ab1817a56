/* memtouch — the page-touch benchmark guest. The master fills a buffer of `pages` pages (one or
 * more words per page, values derived from `seed`), optionally forks (`clones=N`), then every VM
 * touches every `stride`-th page (reads, or with write=1 writes new values), in order or in a
 * seeded random order, timing it. The checksum of what was touched is verified against one
 * recomputed from the formulas, so a clone also proves its lazily fetched pages are right. What
 * each touched page holds goes into the gathered digest (common/share.h), one VM per page.
 * hint=1 hints the touched pages explicitly; hints=0 stops malloc's own fresh-page hints.
 * Args: pages=1024 stride=1 words=1 write=0 random=0 seed=1 fill=1 hint=0 split=0 clones=0 nvms=1
 *       hints=1 */
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/time.h>
#include <stdint.h>
#include "common/share.h"

SF_PROGRAM_NAME("memtouch");

#define WORDS_PER_PAGE (SF_PAGE_SIZE / 8)

struct params {
  unsigned long long pages, stride, words, write, random, seed, fill, hint, split;
};

/* The word stored at (page, word) by generation gen (0 = the master's fill, 1 = a write pass). */
static uint64_t value_of(uint64_t seed, uint64_t page, uint64_t word, uint64_t gen) {
  return sf_mix64(seed * 0x9e3779b97f4a7c15ull ^ (page * WORDS_PER_PAGE + word) ^ (gen << 60));
}
/* Where the w-th touched word of a page lives: distinct for w < 512 since 67 is odd. */
static uint64_t offset_of(uint64_t seed, uint64_t page, uint64_t w) {
  return (sf_mix64(seed ^ (page << 20)) + w * 67) & (WORDS_PER_PAGE - 1);
}
/* Order-independent, so random and sequential orders give the same checksum. */
static uint64_t contribution(uint64_t page, uint64_t word, uint64_t v) {
  return sf_mix64(v ^ (page * WORDS_PER_PAGE + word) * 0xff51afd7ed558ccdull);
}

static uint64_t gcd(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static int parse(int argc, char **argv, struct params *p) {
  if (sf_arg_u64(argc, argv, "pages", 1024, &p->pages) || sf_arg_u64(argc, argv, "stride", 1, &p->stride) ||
      sf_arg_u64(argc, argv, "words", 1, &p->words) || sf_arg_u64(argc, argv, "write", 0, &p->write) ||
      sf_arg_u64(argc, argv, "random", 0, &p->random) || sf_arg_u64(argc, argv, "seed", 1, &p->seed) ||
      sf_arg_u64(argc, argv, "fill", 1, &p->fill) || sf_arg_u64(argc, argv, "hint", 0, &p->hint) ||
      sf_arg_u64(argc, argv, "split", 0, &p->split))
    return -1;
  if (p->pages < 1 || p->stride < 1 || p->words < 1 || p->words > WORDS_PER_PAGE) {
    printf("need pages >= 1, stride >= 1, 1 <= words <= %u\n", WORDS_PER_PAGE);
    return -1;
  }
  if (!p->fill && !p->write) {
    printf("fill=0 needs write=1: reading pages nobody wrote checks nothing\n");
    return -1;
  }
  if (p->hint && !p->write) {
    printf("hint=1 needs write=1: it promises the touched pages are overwritten before read\n");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct params p;
  struct share sh;
  if (parse(argc, argv, &p) < 0 || share_init(argc, argv, &sh) < 0) return 64;

  uint64_t bytes = p.pages * SF_PAGE_SIZE;
  uint64_t *buf = aligned_alloc(SF_PAGE_SIZE, bytes);
  if (!buf) {
    printf("memtouch: cannot allocate %llu pages (%llu MiB of %llu MiB RAM)\n", p.pages,
           (unsigned long long)(bytes >> 20), sf_ram_bytes() >> 20);
    return 1;
  }

  uint64_t t0 = sf_time_ns();
  if (p.fill) {
    for (uint64_t pg = 0; pg < p.pages; pg++)
      for (uint64_t w = 0; w < p.words; w++)
        buf[pg * WORDS_PER_PAGE + offset_of(p.seed, pg, w)] = value_of(p.seed, pg, w, 0);
  }
  uint64_t fill_ns = sf_time_ns() - t0;

  if (share_fork(&sh) < 0) return 2;

  /* The touched set: pages 0, stride, 2*stride, ... (this VM's share if split=1). */
  uint64_t count = (p.pages + p.stride - 1) / p.stride;
  uint64_t mul = 1; /* step of the visiting order; coprime to count, so every index comes once */
  if (p.random && count > 2) {
    mul = 0x9e3779b1ull % count;
    if (mul < 2) mul = 2;
    while (gcd(mul, count) != 1) mul++; /* ends at count - 1 at the latest */
  }
  uint64_t k = p.random ? p.seed % count : 0;

  if (p.hint) {
    if (p.stride == 1 && !p.split) {
      sf_hint_overwrite(buf, bytes);
    } else {
      for (uint64_t j = 0; j < count; j++)
        if (!p.split || share_owns(&sh, j)) sf_hint_overwrite(buf + j * p.stride * WORDS_PER_PAGE, SF_PAGE_SIZE);
    }
  }

  uint64_t sum = 0, touched = 0;
  t0 = sf_time_ns();
  for (uint64_t i = 0; i < count; i++, k = k + mul >= count ? k + mul - count : k + mul) {
    if (p.split && !share_owns(&sh, k)) continue;
    uint64_t pg = k * p.stride;
    uint64_t *page = buf + pg * WORDS_PER_PAGE;
    for (uint64_t w = 0; w < p.words; w++) {
      uint64_t off = offset_of(p.seed, pg, w);
      uint64_t v;
      if (p.write) page[off] = v = value_of(p.seed, pg, w, 1);
      else v = page[off];
      sum += contribution(pg, w, v);
    }
    touched++;
  }
  uint64_t touch_ns = sf_time_ns() - t0;

  /* Verification, sequentially: the checksum the formulas promise, and (after writes) what the
   * memory really holds now. */
  uint64_t expected = 0, reread = 0;
  sh.items = count;
  for (uint64_t j = 0; j < count; j++) {
    if (p.split && !share_owns(&sh, j)) continue;
    uint64_t pg = j * p.stride, page_sum = 0;
    for (uint64_t w = 0; w < p.words; w++) {
      uint64_t off = offset_of(p.seed, pg, w);
      expected += contribution(pg, w, value_of(p.seed, pg, w, p.write ? 1 : 0));
      page_sum += contribution(pg, w, buf[pg * WORDS_PER_PAGE + off]);
    }
    reread += page_sum;
    /* Without split every VM reads every page, but only the page's owner vouches for it. */
    if (share_owns(&sh, j)) share_add(&sh, j, page_sum);
  }
  int ok = sum == expected && reread == expected;

  struct sf_heap_stats hs;
  sf_heap_stats(&hs);
  printf(
      "memtouch vmid=%u pages=%llu stride=%llu words=%llu write=%llu random=%llu touched=%llu "
      "checksum=0x%016llx expected=0x%016llx fill_ns=%llu elapsed_ns=%llu ns_per_page=%llu "
      "fresh_pages=%llu %s\n",
      sh.vmid, p.pages, p.stride, p.words, p.write, p.random, (unsigned long long)touched, (unsigned long long)sum,
      (unsigned long long)expected, (unsigned long long)fill_ns, (unsigned long long)touch_ns,
      (unsigned long long)(touched ? touch_ns / touched : 0), (unsigned long long)hs.fresh_pages,
      ok ? "OK" : "MISMATCH");
  return share_finish(&sh, ok ? 0 : 1);
}
