/* forkbench — the VM-fork benchmark guest. The master fills `pages` pages with a formula and forks
 * `clones` clones, timing its sf_clone call; each clone times the fork call → its own first
 * instructions, then reads `touch` pages spread over the buffer (its working set, fetched lazily
 * from the parent) and verifies every word, and leaves through the gather (common/share.h).
 * `scratch` pages malloc'd and written after the fork show what malloc's fresh-page hints save
 * (compare hints=1 with hints=0). With clones=0 the master just fills and verifies.
 * Args: clones=0 pages=4096 touch=256 scratch=0 seed=1 hints=1
 * Lines: "forkbench master clone_call_ns=N" (forked master), "forkbench vmid=V
 * first_instruction_ns=N" (clone), "forkbench vmid=V touched=T verified OK|FAILED" (every VM), and
 * the master's last "forkbench result digest=0x... items=T verified OK|FAILED". */
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/time.h>
#include <stdint.h>
#include "common/share.h"

SF_PROGRAM_NAME("forkbench");

#define WORDS_PER_PAGE (SF_PAGE_SIZE / 8)

/* The master's fill: every word of every page, so each touched page really has to come over. */
static uint64_t word_of(uint64_t seed, uint64_t page, uint64_t w) {
  return sf_mix64(seed * 0x9e3779b97f4a7c15ull ^ (page * WORDS_PER_PAGE + w));
}

/* The j-th of `touch` pages, spread evenly over `pages` (distinct since touch <= pages). */
static uint64_t touched_page(uint64_t j, uint64_t touch, uint64_t pages) { return j * pages / touch; }

/* Reads and checks one page; returns the number of wrong words and its content hash in *hash. */
static unsigned check_page(const uint64_t *page, uint64_t seed, uint64_t pg, uint64_t *hash) {
  unsigned bad = 0;
  uint64_t h = pg;
  for (uint64_t w = 0; w < WORDS_PER_PAGE; w++) {
    uint64_t v = page[w];
    bad += v != word_of(seed, pg, w);
    h = sf_mix64(h ^ v);
  }
  *hash = h;
  return bad;
}

/* Pages malloc'd after the fork and written before being read: what hints=1 keeps a clone from
 * fetching. Returns 0 if they read back right. */
static int scratch_pass(uint64_t npages, unsigned vmid) {
  if (!npages) return 0;
  uint64_t *s = aligned_alloc(SF_PAGE_SIZE, npages * SF_PAGE_SIZE);
  if (!s) {
    printf("forkbench vmid=%u: cannot allocate %llu scratch pages\n", vmid, (unsigned long long)npages);
    return 1;
  }
  uint64_t t0 = sf_time_ns();
  for (uint64_t i = 0; i < npages * WORDS_PER_PAGE; i++) s[i] = sf_mix64(i ^ vmid);
  uint64_t write_ns = sf_time_ns() - t0;
  int bad = 0;
  for (uint64_t i = 0; i < npages * WORDS_PER_PAGE; i += 61) bad += s[i] != sf_mix64(i ^ vmid);
  struct sf_heap_stats hs;
  sf_heap_stats(&hs);
  printf("forkbench vmid=%u scratch=%llu write_ns=%llu fresh_pages=%llu\n", vmid, (unsigned long long)npages,
         (unsigned long long)write_ns, (unsigned long long)hs.fresh_pages);
  free(s);
  return bad != 0;
}

int main(int argc, char **argv) {
  unsigned long long pages, touch, scratch, seed;
  struct share sh;
  if (share_init(argc, argv, &sh) < 0 || sf_arg_u64(argc, argv, "pages", 4096, &pages) ||
      sf_arg_u64(argc, argv, "touch", 256, &touch) || sf_arg_u64(argc, argv, "scratch", 0, &scratch) ||
      sf_arg_u64(argc, argv, "seed", 1, &seed))
    return 64;
  if (pages < 1 || touch > pages || pages > (sf_ram_bytes() / SF_PAGE_SIZE)) {
    printf("need 1 <= pages <= RAM pages, touch <= pages\n");
    return 64;
  }

  uint64_t *buf = aligned_alloc(SF_PAGE_SIZE, pages * SF_PAGE_SIZE);
  if (!buf) {
    printf("forkbench: cannot allocate %llu pages (%llu MiB of %llu MiB RAM)\n", pages, (pages * SF_PAGE_SIZE) >> 20,
           sf_ram_bytes() >> 20);
    return 1;
  }
  uint64_t t0 = sf_time_ns();
  for (uint64_t pg = 0; pg < pages; pg++)
    for (uint64_t w = 0; w < WORDS_PER_PAGE; w++) buf[pg * WORDS_PER_PAGE + w] = word_of(seed, pg, w);
  printf("forkbench vmid=%u pages=%llu fill_ns=%llu\n", sh.vmid, pages, (unsigned long long)(sf_time_ns() - t0));

  if (share_fork(&sh) < 0) return 2;
  /* Signed: a clone on another host reads another clock (see share.h). */
  long long fork_ns = (long long)(sh.fork_t1_ns - sh.fork_t0_ns);
  if (sh.forked && sh.vmid == 0) printf("forkbench master clone_call_ns=%lld\n", fork_ns);
  if (sh.forked && sh.vmid > 0) printf("forkbench vmid=%u first_instruction_ns=%lld\n", sh.vmid, fork_ns);

  /* Every VM reads the whole touched set (that is the working set being measured); only a page's
   * owner vouches for it in the digest, so the result line does not depend on the clone count. */
  sh.items = touch;
  unsigned bad_words = 0, bad_pages = 0;
  t0 = sf_time_ns();
  for (uint64_t j = 0; j < touch; j++) {
    uint64_t pg = touched_page(j, touch, pages), hash;
    unsigned bad = check_page(buf + pg * WORDS_PER_PAGE, seed, pg, &hash);
    bad_words += bad;
    bad_pages += bad != 0;
    if (share_owns(&sh, j)) share_add(&sh, j, hash);
  }
  uint64_t touch_ns = sf_time_ns() - t0;
  if (bad_pages) printf("forkbench vmid=%u: %u wrong words in %u pages\n", sh.vmid, bad_words, bad_pages);
  printf("forkbench vmid=%u touch_ns=%llu ns_per_page=%llu\n", sh.vmid, (unsigned long long)touch_ns,
         (unsigned long long)(touch ? touch_ns / touch : 0));
  int bad_scratch = scratch_pass(scratch, sh.vmid);
  int ok = !bad_pages && !bad_scratch;
  printf("forkbench vmid=%u touched=%llu verified %s\n", sh.vmid, touch, ok ? "OK" : "FAILED");
  return share_finish(&sh, ok ? 0 : 1);
}
