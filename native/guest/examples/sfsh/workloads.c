/* `run`: sfsh's built-in workloads, small versions of the example guests built on their own code
 * (align's Smith-Waterman and planted database, render's ray tracer) plus a memory toucher, each
 * timing itself and checking its result, so a clone shows its own speed and a lazily fetched memory
 * that is right. Args are key=value words, as the examples take them. */
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/time.h>
#include "align/seqdb.h"
#include "align/sw.h"
#include "render/scene.h"
#include "sfsh/commands.h"

#define US(ns) ((unsigned long long)((ns) / 1000ull))

/* Plants queries in a generated database and finds each one's best hit over all of it. */
static int run_align(int argc, char **argv) {
  unsigned long long nseq, len, nq, qlen, seed;
  if (sf_arg_u64(argc, argv, "db", 32, &nseq) || sf_arg_u64(argc, argv, "len", 256, &len) ||
      sf_arg_u64(argc, argv, "queries", 2, &nq) || sf_arg_u64(argc, argv, "qlen", 64, &qlen) ||
      sf_arg_u64(argc, argv, "seed", 1, &seed))
    return 2;
  if (nseq < 1 || nseq > 4096 || len < QUERY_SRC_MIN || len > 4096 || nq < 1 || nq > 64 || qlen < QUERY_SRC_MIN ||
      qlen > QUERY_SRC_MAX || qlen > len) {
    printf("align: need 1 <= db <= 4096, %d <= qlen <= len <= 4096, 1 <= queries <= 64\n", QUERY_SRC_MIN);
    return 2;
  }
  static const struct sw_scoring sc = SW_DEFAULT_SCORING;
  struct seqdb db;
  struct planted_query *q = malloc(sizeof *q);
  int *work = malloc(sizeof(int) * 2 * (QUERY_SRC_MAX + QUERY_MAX_MUTATIONS + 1));
  if (!q || !work || seqdb_generate(&db, (int)nseq, (int)len, seed) < 0) {
    printf("align: out of memory for a %llu x %llu database\n", nseq, len);
    free(q), free(work);
    return 1;
  }
  uint64_t t0 = sf_time_ns();
  int right = 0;
  for (int qi = 0; qi < (int)nq; qi++) {
    plant_query(&db, qi, (int)qlen, seed, &sc, q);
    int best = -1, best_score = -1;
    for (int s = 0; s < db.nseq; s++) {
      struct sw_result r;
      sw_align(q->bases, q->len, seqdb_seq(&db, s), db.len, &sc, work, &r);
      if (r.score > best_score) best = s, best_score = r.score;
    }
    int ok = best == q->target && best_score == q->expected;
    right += ok;
    printf("query %d: best hit seq %d score %d (planted in %d, score %d) %s\n", qi, best, best_score, q->target,
           q->expected, ok ? "ok" : "WRONG");
  }
  uint64_t ns = sf_time_ns() - t0;
  printf("align vmid=%u queries=%llu db=%llu len=%llu elapsed_us=%llu %s\n", sf_vmid(), nq, nseq, len, US(ns),
         right == (int)nq ? "verified OK" : "MISMATCH");
  seqdb_free(&db);
  free(q), free(work);
  return right == (int)nq ? 0 : 1;
}

/* Ray-traces the scene row by row, checks a second pass in tiles gives the same pixels, and previews it. */
static int run_render(int argc, char **argv) {
  unsigned long long w, h, aa, ascii;
  if (sf_arg_u64(argc, argv, "width", 128, &w) || sf_arg_u64(argc, argv, "height", 96, &h) ||
      sf_arg_u64(argc, argv, "aa", 1, &aa) || sf_arg_u64(argc, argv, "ascii", 1, &ascii))
    return 2;
  if (w < 8 || h < 8 || w > 2048 || h > 2048 || aa < 1 || aa > 4) {
    printf("render: need 8 <= width, height <= 2048, 1 <= aa <= 4\n");
    return 2;
  }
  struct render_params p = {(int)w, (int)h, 16, (int)aa};
  uint32_t *img = malloc(sizeof(uint32_t) * w * h);
  uint32_t *tile = malloc(sizeof(uint32_t) * 16 * 16);
  if (!img || !tile) {
    printf("render: out of memory for a %llux%llu image\n", w, h);
    free(img), free(tile);
    return 1;
  }
  uint64_t t0 = sf_time_ns();
  for (int y = 0; y < p.height; y++)
    for (int x = 0; x < p.width; x++) img[(long)y * p.width + x] = render_pixel(&p, x, y);
  uint64_t sum = pixels_checksum(img, p.width, p.width, p.height);
  uint64_t ns = sf_time_ns() - t0;
  /* Again in 16x16 tiles: the same pixels whatever the order, or something is wrong with this VM. */
  int same = 1, ntiles = render_tiles_x(&p) * render_tiles_y(&p);
  for (int t = 0; t < ntiles && same; t++) {
    int tw, th, x0 = (t % render_tiles_x(&p)) * 16, y0 = (t / render_tiles_x(&p)) * 16;
    render_tile(&p, t, tile, &tw, &th);
    for (int y = 0; y < th && same; y++)
      for (int x = 0; x < tw && same; x++) same = tile[y * 16 + x] == img[(long)(y0 + y) * p.width + x0 + x];
  }
  if (ascii) {
    static const char ramp[] = " .:-=+*#%@";
    for (int r = 0; r < 12; r++) {
      char line[49];
      for (int c = 0; c < 48; c++) {
        uint32_t px = img[(long)(r * p.height / 12) * p.width + c * p.width / 48];
        int lum = (int)(((px >> 16) & 0xff) * 3 + ((px >> 8) & 0xff) * 6 + (px & 0xff)) / 10;
        line[c] = ramp[lum * 9 / 255];
      }
      line[48] = 0;
      printf("|%s|\n", line);
    }
  }
  printf("render vmid=%u %llux%llu aa=%llu checksum=0x%016llx elapsed_us=%llu %s\n", sf_vmid(), w, h, aa,
         (unsigned long long)sum, US(ns), same ? "verified OK" : "MISMATCH");
  free(img), free(tile);
  return same ? 0 : 1;
}

/* Writes a value into a word of every page, then reads them all back: after a fork, the first read of
 * each page is a fetch from the master's memory. */
static int run_memtouch(int argc, char **argv) {
  unsigned long long pages, seed;
  if (sf_arg_u64(argc, argv, "pages", 1024, &pages) || sf_arg_u64(argc, argv, "seed", 1, &seed)) return 2;
  if (pages < 1 || pages > (sf_ram_bytes() / SF_PAGE_SIZE)) {
    printf("memtouch: need 1 <= pages <= %llu (this VM's RAM)\n", sf_ram_bytes() / SF_PAGE_SIZE);
    return 2;
  }
  uint64_t *buf = aligned_alloc(SF_PAGE_SIZE, pages * SF_PAGE_SIZE);
  if (!buf) {
    printf("memtouch: cannot allocate %llu pages\n", pages);
    return 1;
  }
  const uint64_t words = SF_PAGE_SIZE / 8;
  uint64_t t0 = sf_time_ns();
  for (uint64_t pg = 0; pg < pages; pg++) buf[pg * words + (pg & (words - 1))] = sf_mix64(seed ^ pg);
  uint64_t write_ns = sf_time_ns() - t0;
  t0 = sf_time_ns();
  uint64_t bad = 0;
  for (uint64_t pg = 0; pg < pages; pg++) bad += buf[pg * words + (pg & (words - 1))] != sf_mix64(seed ^ pg);
  uint64_t read_ns = sf_time_ns() - t0;
  printf("memtouch vmid=%u pages=%llu write_ns_per_page=%llu read_ns_per_page=%llu %s\n", sf_vmid(), pages,
         (unsigned long long)(write_ns / pages), (unsigned long long)(read_ns / pages),
         bad ? "MISMATCH" : "verified OK");
  free(buf);
  return bad ? 1 : 0;
}

static const struct {
  const char *name, *args;
  int (*run)(int argc, char **argv);
} workloads[] = {
    {"align", "db=32 len=256 queries=2 qlen=64 seed=1", run_align},
    {"render", "width=128 height=96 aa=1 ascii=1", run_render},
    {"memtouch", "pages=1024 seed=1", run_memtouch},
};

int sfsh_run(int argc, char **argv) {
  for (unsigned i = 0; argc > 1 && i < sizeof workloads / sizeof workloads[0]; i++)
    if (strcmp(argv[1], workloads[i].name) == 0) return workloads[i].run(argc - 1, argv + 1);
  if (argc > 1) printf("run: no workload '%s'\n", argv[1]);
  printf("workloads (defaults shown):\n");
  for (unsigned i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
    printf("  run %-9s %s\n", workloads[i].name, workloads[i].args);
  return argc > 1 ? 2 : 0;
}
