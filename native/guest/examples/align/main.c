/* align — the bioinformatics workload SnowFlock was built for: Smith-Waterman local alignment of
 * query sequences against a sequence database. The master generates the database from a seed into
 * its memory and plants each query in it with known mutations; with clones=N it then forks and
 * the queries are shared out by vmid. Every VM checks its best hits and scores against the
 * planted truth, and first checks the fast aligner against the naive one on small cases. Each
 * query's best hit (sequence, score, end points) goes into the gathered digest (common/share.h), so
 * the master's last line "align result digest=0x... items=<queries> verified OK" is the same
 * whatever the number of clones, and a wrong or missing clone result changes or fails it.
 * Args: db=64 len=512 queries=4 qlen=96 seed=1 clones=0 nvms=1 hints=1 */
#include <sfguest/args.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/time.h>
#include "align/seqdb.h"
#include "align/sw.h"
#include "common/share.h"

SF_PROGRAM_NAME("align");

#define MAX_QUERIES 256

static const struct sw_scoring scoring = SW_DEFAULT_SCORING;

/* The fast aligner must agree with the textbook one: on a planted query against its source
 * region (with flanks), and on random pairs. Returns the number of disagreements. */
static int self_check(const struct seqdb *db, const struct planted_query *pq, uint64_t seed) {
  int bad = 0;
  int *work = malloc(sizeof(int) * 2 * (QUERY_SRC_MAX + QUERY_MAX_MUTATIONS + 1));
  if (!work) return 1;
  struct sw_result res;
  int from = pq->start >= 8 ? pq->start - 8 : 0;
  int to = pq->start + pq->srclen + 8 <= db->len ? pq->start + pq->srclen + 8 : db->len;
  const uint8_t *t = seqdb_seq(db, pq->target) + from;
  sw_align(pq->bases, pq->len, t, to - from, &scoring, work, &res);
  int naive = sw_naive(pq->bases, pq->len, t, to - from, &scoring);
  if (res.score != naive || naive != pq->expected) {
    printf("self-check: planted query: fast %d, naive %d, expected %d\n", res.score, naive, pq->expected);
    bad++;
  }
  struct sf_prng r;
  sf_prng_seed(&r, seed ^ 0xa11ce);
  for (int k = 0; k < 4; k++) {
    uint8_t a[40], b[60];
    for (int i = 0; i < 40; i++) a[i] = (uint8_t)sf_prng_below(&r, 4);
    for (int i = 0; i < 60; i++) b[i] = (uint8_t)sf_prng_below(&r, k == 3 ? 2 : 4); /* a low-complexity one too */
    sw_align(a, 40, b, 60, &scoring, work, &res);
    naive = sw_naive(a, 40, b, 60, &scoring);
    if (res.score != naive) {
      printf("self-check: random pair %d: fast %d, naive %d\n", k, res.score, naive);
      bad++;
    }
  }
  free(work);
  return bad;
}

int main(int argc, char **argv) {
  unsigned long long nseq, len, nq, qlen, seed;
  struct share sh;
  if (sf_arg_u64(argc, argv, "db", 64, &nseq) || sf_arg_u64(argc, argv, "len", 512, &len) ||
      sf_arg_u64(argc, argv, "queries", 4, &nq) || sf_arg_u64(argc, argv, "qlen", 96, &qlen) ||
      sf_arg_u64(argc, argv, "seed", 1, &seed) || share_init(argc, argv, &sh) < 0)
    return 64;
  if (nseq < 2 || nseq > (1u << 20) || len > (1u << 24) || nq < 1 || nq > MAX_QUERIES || qlen < QUERY_SRC_MIN ||
      qlen > QUERY_SRC_MAX || qlen > len) {
    printf("need db >= 2, 1 <= queries <= %d, %d <= qlen <= min(len, %d)\n", MAX_QUERIES, QUERY_SRC_MIN, QUERY_SRC_MAX);
    return 64;
  }

  /* The parent's memory: database and queries exist before any fork. */
  uint64_t t0 = sf_time_ns();
  struct seqdb db;
  if (seqdb_generate(&db, (int)nseq, (int)len, seed) < 0) {
    printf("align: cannot allocate a %llu x %llu database\n", nseq, len);
    return 1;
  }
  struct planted_query *queries = malloc(sizeof *queries * nq);
  int *work = malloc(sizeof(int) * 2 * (QUERY_SRC_MAX + QUERY_MAX_MUTATIONS + 1));
  if (!queries || !work) {
    printf("align: out of memory\n");
    return 1;
  }
  for (int q = 0; q < (int)nq; q++) plant_query(&db, q, (int)qlen, seed, &scoring, &queries[q]);
  uint64_t gen_ns = sf_time_ns() - t0;

  if (share_fork(&sh) < 0) return 2;
  sh.items = nq;

  int failures = self_check(&db, &queries[0], seed);

  t0 = sf_time_ns();
  unsigned long long cells = 0;
  int done = 0;
  for (int q = 0; q < (int)nq; q++) {
    if (!share_owns(&sh, (unsigned)q)) continue;
    const struct planted_query *pq = &queries[q];
    struct sw_result best = {-1, -1, -1}, res;
    int best_seq = -1, second = 0;
    for (int s = 0; s < db.nseq; s++) {
      sw_align(pq->bases, pq->len, seqdb_seq(&db, s), db.len, &scoring, work, &res);
      if (res.score > best.score) {
        if (best.score > second) second = best.score;
        best = res;
        best_seq = s;
      } else if (res.score > second) {
        second = res.score;
      }
    }
    cells += (unsigned long long)pq->len * db.len * db.nseq;
    int ok = best_seq == pq->target && best.score == pq->expected && second < best.score;
    char text[17];
    bases_to_text(pq->bases, 16, text, sizeof text);
    printf(
        "query %d (%s..., %d bases, %d sub %d ins %d del): best seq %d score %d ends q%d/t%d, "
        "next best %d; planted seq %d at %d score %d %s\n",
        q, text, pq->len, pq->subs, pq->ins, pq->dels, best_seq, best.score, best.query_end, best.target_end, second,
        pq->target, pq->start, pq->expected, ok ? "ok" : "WRONG");
    failures += !ok;
    done++;
    /* What the digest vouches for: this query's best hit, exactly. */
    share_add(&sh, (unsigned)q,
              ((uint64_t)(uint32_t)best_seq << 32 | (uint32_t)best.score) ^
                  sf_mix64((uint64_t)(uint32_t)best.query_end << 32 | (uint32_t)best.target_end));
  }
  uint64_t align_ns = sf_time_ns() - t0;

  printf("align vmid=%u nvms=%u db=%llux%llu queries=%d/%llu cells=%llu gen_ns=%llu align_ns=%llu %s\n", sh.vmid,
         sh.nvms, nseq, len, done, nq, cells, (unsigned long long)gen_ns, (unsigned long long)align_ns,
         failures ? "FAILED" : "OK");
  return share_finish(&sh, failures ? 1 : 0);
}
