/* Host tests of the alignment workload: the fast Smith-Waterman against the naive one on random
 * pairs, both against an exhaustive enumeration of alignments on tiny pairs, and the planted
 * queries' claimed optimum and best hit over many seeds and lengths. */
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <stdint.h>
#include "align/seqdb.h"
#include "align/sw.h"
#include "shim.h"
#include "test.h"

static const struct sw_scoring sc = SW_DEFAULT_SCORING;

/* Exhaustive: the best score over every global alignment of a[i..] with b[j..], where prev is the
 * previous column (0 pair, 1 gap in b, 2 gap in a); columns scored independently of sw.c. */
static int best_global(const uint8_t *a, int na, const uint8_t *b, int nb, int prev) {
  if (na == 0 && nb == 0) return 0;
  int best = -1000000;
  if (na && nb) {
    int s = (a[0] == b[0] ? sc.match : sc.mismatch) + best_global(a + 1, na - 1, b + 1, nb - 1, 0);
    if (s > best) best = s;
  }
  if (na) {
    int s = -(prev == 1 ? 0 : sc.gap_open) - sc.gap_extend + best_global(a + 1, na - 1, b, nb, 1);
    if (s > best) best = s;
  }
  if (nb) {
    int s = -(prev == 2 ? 0 : sc.gap_open) - sc.gap_extend + best_global(a, na, b + 1, nb - 1, 2);
    if (s > best) best = s;
  }
  return best;
}

/* Local = the best global alignment of any pair of substrings, or 0. */
static int brute_local(const uint8_t *a, int na, const uint8_t *b, int nb) {
  int best = 0;
  for (int i = 0; i < na; i++)
    for (int i2 = i + 1; i2 <= na; i2++)
      for (int j = 0; j < nb; j++)
        for (int j2 = j + 1; j2 <= nb; j2++) {
          int s = best_global(a + i, i2 - i, b + j, j2 - j, 0);
          if (s > best) best = s;
        }
  return best;
}

static void test_random_pairs(void) {
  struct sf_prng r;
  sf_prng_seed(&r, 99);
  int work[2 * 130];
  int bad = 0, bad_brute = 0;
  for (int k = 0; k < 400; k++) {
    uint8_t a[64], b[64];
    int na = 1 + (int)sf_prng_below(&r, 64), nb = 1 + (int)sf_prng_below(&r, 64);
    uint32_t alpha = k % 3 == 0 ? 2 : 4; /* low-complexity pairs exercise long gaps */
    for (int i = 0; i < na; i++) a[i] = (uint8_t)sf_prng_below(&r, alpha);
    for (int i = 0; i < nb; i++) b[i] = (uint8_t)sf_prng_below(&r, alpha);
    struct sw_result res;
    sw_align(a, na, b, nb, &sc, work, &res);
    bad += res.score != sw_naive(a, na, b, nb, &sc);
    if (res.score > 0) bad += res.query_end < 0 || res.query_end >= na || res.target_end >= nb;
  }
  CHECKF(bad == 0, "%d fast/naive disagreements", bad);
  for (int k = 0; k < 150; k++) {
    uint8_t a[4], b[6];
    int na = 1 + (int)sf_prng_below(&r, 4), nb = 1 + (int)sf_prng_below(&r, 6);
    for (int i = 0; i < na; i++) a[i] = (uint8_t)sf_prng_below(&r, 3);
    for (int i = 0; i < nb; i++) b[i] = (uint8_t)sf_prng_below(&r, 3);
    struct sw_result res;
    sw_align(a, na, b, nb, &sc, work, &res);
    bad_brute += res.score != brute_local(a, na, b, nb);
  }
  CHECKF(bad_brute == 0, "%d disagreements with the exhaustive search", bad_brute);

  /* Hand-checked: identical 10-mers score 20; one substitution in the middle 2*9-3 = 15;
   * a one-base gap between two 6-base runs 12+12-7 = 17. */
  uint8_t x[10] = {0, 1, 2, 3, 0, 1, 2, 3, 3, 2}, y[10];
  struct sw_result res;
  sw_align(x, 10, x, 10, &sc, work, &res);
  CHECK(res.score == 20 && res.query_end == 9 && res.target_end == 9);
  for (int i = 0; i < 10; i++) y[i] = x[i];
  y[5] = (uint8_t)((y[5] + 1) & 3);
  sw_align(x, 10, y, 10, &sc, work, &res);
  CHECK(res.score == 15);
  uint8_t g1[12] = {0, 1, 2, 3, 0, 2, 1, 3, 3, 1, 0, 2}, g2[13];
  for (int i = 0, j = 0; i < 12; i++) {
    if (i == 6) g2[j++] = 0;
    g2[j++] = g1[i];
  }
  sw_align(g1, 12, g2, 13, &sc, work, &res);
  CHECKF(res.score == 17, "gap case scored %d", res.score);
}

static void test_planted(void) {
  shim_heap_reset();
  struct seqdb db;
  CHECK(seqdb_generate(&db, 16, 256, 7) == 0);
  int counts[4] = {0};
  for (int i = 0; i < 16 * 256; i++) counts[db.bases[i] & 3]++;
  CHECK(counts[0] > 900 && counts[1] > 900 && counts[2] > 900 && counts[3] > 900);

  static const int lens[] = {48, 64, 96, 150, 256};
  int *work = malloc(sizeof(int) * 2 * (QUERY_SRC_MAX + QUERY_MAX_MUTATIONS + 1));
  int wrong_len = 0, wrong_score = 0, wrong_naive = 0, wrong_hit = 0, planted = 0;
  struct planted_query pq;
  for (uint64_t seed = 1; seed <= 40; seed++)
    for (unsigned li = 0; li < sizeof lens / sizeof lens[0]; li++)
      for (int qi = 0; qi < 3; qi++) {
        plant_query(&db, qi, lens[li], seed, &sc, &pq);
        planted++;
        wrong_len += pq.len != pq.srclen + pq.ins - pq.dels || pq.subs + pq.ins + pq.dels < 1;
        struct sw_result res, best = {-1, 0, 0};
        int best_seq = -1, ties = 0;
        for (int s = 0; s < db.nseq; s++) {
          sw_align(pq.bases, pq.len, seqdb_seq(&db, s), db.len, &sc, work, &res);
          if (s == pq.target) wrong_score += res.score != pq.expected;
          if (res.score > best.score) {
            best = res;
            best_seq = s;
            ties = 0;
          } else if (res.score == best.score) {
            ties++;
          }
        }
        wrong_hit += best_seq != pq.target || ties != 0;
        if (seed <= 5) {
          int from = pq.start >= 5 ? pq.start - 5 : 0;
          int to = pq.start + pq.srclen + 5 <= db.len ? pq.start + pq.srclen + 5 : db.len;
          wrong_naive += sw_naive(pq.bases, pq.len, seqdb_seq(&db, pq.target) + from, to - from, &sc) != pq.expected;
        }
      }
  CHECK(wrong_len == 0);
  CHECKF(wrong_score == 0, "%d of %d planted queries did not score as planted", wrong_score, planted);
  CHECKF(wrong_naive == 0, "%d naive disagreements on planted queries", wrong_naive);
  CHECKF(wrong_hit == 0, "%d planted queries had another (or a tied) best hit", wrong_hit);
  free(work);
  seqdb_free(&db);
}

void test_align(void) {
  test_random_pairs();
  test_planted();
}
