/* mpialign — the align workload (examples/align) as an MPI program: every rank builds the same database and
 * planted queries from the seed, aligns the queries it owns (query q belongs to rank q % size), and the per-query
 * digests of the best hits are summed to rank 0 with MPI_Reduce. Rank 0 then aligns every query alone, the
 * one-rank run, and the two digests must agree, as must every hit with its planted truth. Rank 0 prints
 *   mpialign ranks=N queries=Q digest=0x<8 hex> serial=0x<8 hex> failed=F ms=T verified OK|FAILED
 * Args: np=ranks db=64 len=512 queries=8 qlen=96 seed=1 serial=1 (0 skips the one-rank run). */
#include <mpi.h>
#include <sfguest/args.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include "align/seqdb.h"
#include "align/sw.h"
#include "common/share.h"

SF_PROGRAM_NAME("mpialign");

#define MAX_QUERIES 256

static const struct sw_scoring scoring = SW_DEFAULT_SCORING;

/* The digest of query q's best hit over the whole database; *bad counts hits that are not the planted one. */
static uint32_t align_one(const struct seqdb *db, const struct planted_query *pq, unsigned q, int *work, int *bad) {
  struct sw_result best = {-1, -1, -1}, res;
  int best_seq = -1;
  for (int s = 0; s < db->nseq; s++) {
    sw_align(pq->bases, pq->len, seqdb_seq(db, s), db->len, &scoring, work, &res);
    if (res.score > best.score) {
      best = res;
      best_seq = s;
    }
  }
  if (best_seq != pq->target || best.score != pq->expected) ++*bad;
  uint64_t value = ((uint64_t)(uint32_t)best_seq << 32 | (uint32_t)best.score) ^
                   ((uint64_t)(uint32_t)best.query_end << 32 | (uint32_t)best.target_end);
  return share_item_digest(q, value);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  unsigned long long nseq, len, nq, qlen, seed, serial;
  if (sf_arg_u64(argc, argv, "db", 64, &nseq) || sf_arg_u64(argc, argv, "len", 512, &len) ||
      sf_arg_u64(argc, argv, "queries", 8, &nq) || sf_arg_u64(argc, argv, "qlen", 96, &qlen) ||
      sf_arg_u64(argc, argv, "seed", 1, &seed) || sf_arg_u64(argc, argv, "serial", 1, &serial) || nseq < 2 ||
      nseq > 65536 || nq < 1 || nq > MAX_QUERIES || qlen < QUERY_SRC_MIN || qlen > QUERY_SRC_MAX || qlen > len ||
      len > (1u << 20)) {
    if (rank == 0)
      printf("mpialign: need 2 <= db, 1 <= queries <= %d, %d <= qlen <= min(len, %d)\n", MAX_QUERIES, QUERY_SRC_MIN,
             QUERY_SRC_MAX);
    MPI_Abort(MPI_COMM_WORLD, 64);
  }
  double t0 = MPI_Wtime();
  /* Every rank makes the same data from the seed: nothing to send but the results. */
  struct seqdb db = {0, 0, 0};
  struct planted_query *queries = malloc(sizeof *queries * nq);
  int *work = malloc(sizeof(int) * 2 * (QUERY_SRC_MAX + QUERY_MAX_MUTATIONS + 1));
  if (!queries || !work || seqdb_generate(&db, (int)nseq, (int)len, seed) < 0) {
    printf("mpialign: rank %d: out of memory\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  for (int q = 0; q < (int)nq; q++) plant_query(&db, q, (int)qlen, seed, &scoring, &queries[q]);

  unsigned mine[2] = {0, 0}, all[2] = {0, 0}; /* digest, hits that missed */
  int bad = 0;
  for (int q = rank; q < (int)nq; q += size)
    mine[0] = share_combine(mine[0], align_one(&db, &queries[q], (unsigned)q, work, &bad));
  mine[1] = (unsigned)bad;
  MPI_Reduce(mine, all, 2, MPI_UNSIGNED, MPI_SUM, 0, MPI_COMM_WORLD);
  double ms = (MPI_Wtime() - t0) * 1e3;
  if (rank == 0) {
    uint32_t digest = all[0] & SHARE_DIGEST_MASK, alone = 0;
    int alone_bad = 0;
    if (serial)
      for (int q = 0; q < (int)nq; q++)
        alone = share_combine(alone, align_one(&db, &queries[q], (unsigned)q, work, &alone_bad));
    int ok = all[1] == 0 && (!serial || (digest == alone && alone_bad == 0));
    printf("mpialign ranks=%d queries=%llu digest=0x%08x serial=0x%08x failed=%u ms=%d verified %s\n", size, nq, digest,
           alone, all[1] + (unsigned)alone_bad, (int)ms, ok ? "OK" : "FAILED");
    bad = !ok;
  }
  seqdb_free(&db);
  free(queries);
  free(work);
  MPI_Finalize();
  return rank == 0 ? bad : 0;
}
