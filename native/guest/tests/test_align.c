/* Host tests of the alignment workload: the fast Smith-Waterman against the naive one on random
 * pairs, both against an exhaustive enumeration of alignments on tiny pairs, and the planted
 * queries' claimed optimum and best hit over many seeds and lengths; the database files (dbfile.h) read back
 * what was written, and malformed ones are refused. */
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <stdint.h>
#include "align/dbfile.h"
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

static char text[64 * 1024];

/* A small database and its queries through the file format and back: the same bases, the same truth. */
static void test_dbfile_round_trip(void) {
  struct seqdb db, back;
  CHECK(seqdb_generate(&db, 5, 130, 3) == 0);
  size_t n = 0;
  for (int s = 0; s < db.nseq; s++)
    n += dbfile_record(text + n, s == 2 ? "s2 a comment" : "s", seqdb_seq(&db, s), db.len);
  CHECKF(dbfile_parse_seqs(text, n, &back) == 0, "%s", dbfile_error());
  CHECK(back.nseq == 5 && back.len == 130 && memcmp(back.bases, db.bases, 5 * 130) == 0);
  seqdb_free(&back);

  static struct db_query q[3], got[4];
  n = 0;
  for (int i = 0; i < 3; i++) {
    plant_query(&db, i, 64, 3, &sc, &q[i].pq);
    q[i].query_end = q[i].pq.len - 1;
    q[i].target_end = q[i].pq.start + 63;
    char header[160];
    CHECK(dbfile_query_header(header, sizeof header, i, &q[i]) > 0);
    n += dbfile_record(text + n, header, q[i].pq.bases, q[i].pq.len);
  }
  CHECKF(dbfile_parse_queries(text, n, got, 4) == 3, "%s", dbfile_error());
  for (int i = 0; i < 3; i++) {
    CHECK(got[i].pq.target == q[i].pq.target && got[i].pq.start == q[i].pq.start && got[i].pq.len == q[i].pq.len);
    CHECK(got[i].pq.expected == q[i].pq.expected && got[i].query_end == q[i].query_end);
    CHECK(got[i].target_end == q[i].target_end && memcmp(got[i].pq.bases, q[i].pq.bases, (size_t)q[i].pq.len) == 0);
  }
  CHECK(dbfile_queries_fit(&db, got, 3) == 0);
  CHECK(dbfile_parse_queries(text, n, got, 2) < 0); /* more queries than room */
  got[1].pq.target = db.nseq;
  CHECK(dbfile_queries_fit(&db, got, 3) < 0);
  seqdb_free(&db);

  /* The FNV-1a 64 test vector, and that it continues across pieces. */
  CHECK(dbfile_fnv1a(DBFILE_FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
  CHECK(dbfile_fnv1a(dbfile_fnv1a(DBFILE_FNV_INIT, "ab", 2), "c", 1) == dbfile_fnv1a(DBFILE_FNV_INIT, "abc", 3));
}

static int seqs_refused(const char *t) {
  struct seqdb db;
  return dbfile_parse_seqs(t, strlen(t), &db) < 0;
}

static int queries_refused(const char *t) {
  static struct db_query q[4];
  return dbfile_parse_queries(t, strlen(t), q, 4) < 0;
}

static void test_dbfile_refused(void) {
  CHECK(!seqs_refused(">s0\nACGT\nAC\n>s1\nACGTAC"));
  CHECK(seqs_refused(">s0\nACGT\n>s1\nACG\n")); /* unequal lengths */
  CHECK(seqs_refused(">s0\nACGN\n"));           /* not a base */
  CHECK(seqs_refused("ACGT\n>s0\nACGT\n"));     /* bases before a header */
  CHECK(seqs_refused(""));
  CHECK(seqs_refused(">s0\n>s1\n")); /* no bases at all */
  char ok[200];
  snprintf(ok, sizeof ok, ">q0 target=1 start=2 srclen=48 subs=1 ins=0 dels=0 expected=1 qend=47 tend=49\n%.*s\n", 48,
           "ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT");
  CHECKF(!queries_refused(ok), "%s", dbfile_error());
  CHECK(queries_refused(">q0 target=1 start=2 srclen=48 subs=1 ins=0 dels=0 expected=1 qend=47 tend=49\nACGT\n"));
  CHECK(queries_refused(">q1 target=1 start=2 srclen=48 subs=1 ins=0 dels=0 expected=1 qend=47 tend=49\n"));
  CHECK(queries_refused(">q0 target=1 start=2 srclen=9999 subs=1 ins=0 dels=0 expected=1 qend=47 tend=49\n"));
  CHECK(queries_refused(">q0 target=-1 start=2 srclen=48 subs=1 ins=0 dels=0 expected=1 qend=47 tend=49\n"));
  CHECK(queries_refused(">q0 target=1 start=2 srclen=48 subs=1 ins=0 dels=0 expected=1 qend=47\n"));
  CHECK(queries_refused(">q0 target=1 start=2 srclen=48 subs=1 ins=0 dels=0 expected=1 qend=47 tend=49 more=1\n"));
}

void test_align(void) {
  test_random_pairs();
  test_planted();
  test_dbfile_round_trip();
  test_dbfile_refused();
}
