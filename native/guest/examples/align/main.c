/* align — the bioinformatics workload SnowFlock was built for: Smith-Waterman local alignment of
 * query sequences against a sequence database. The master generates the database from a seed into
 * its memory and plants each query in it with known mutations; with clones=N it then forks and
 * the queries are shared out by vmid. Every VM checks its best hits and scores against the
 * planted truth, and first checks the fast aligner against the naive one on small cases. Each
 * query's best hit (sequence, score, end points) goes into the gathered digest (common/share.h), so
 * the master's last line "align result digest=0x... items=<queries> verified OK" is the same
 * whatever the number of clones, and a wrong or missing clone result changes or fails it.
 * With disk=1 the data comes from files on the VM's tar disk instead (dbfile.h; the build makes the disk,
 * build/disk/align-db.img, and align-disk.cfg seeds it): the master reads db/queries.fa before the fork, then
 * every VM reads db/seqs.fa itself, so each one's database is the disk's. The checksum of both files must equal
 * dbsum= (baked in the seed by the build), each hit must be the planted one with its recorded ends, and the
 * master's last line compares the joined digest with the digest of the planted truth, which is what one VM
 * alone gets:
 *     align disk fnv1a=0x<16 hex> dbsum=ok digest=0x<8 hex> expected=0x<8 hex> verified OK
 * Args: db=64 len=512 queries=4 qlen=96 seed=1 clones=0 nvms=1 hints=1 disk=0 dbsum=0x<16 hex> */
#include <sfguest/args.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/tarfs.h>
#include <sfguest/time.h>
#include "align/dbfile.h"
#include "align/seqdb.h"
#include "align/sw.h"
#include "common/share.h"

SF_PROGRAM_NAME("align");

#define MAX_QUERIES 256

static const struct sw_scoring scoring = SW_DEFAULT_SCORING;

/* What the digest vouches for: a query's best hit, exactly. */
static uint64_t hit_value(int seq, int score, int query_end, int target_end) {
  return ((uint64_t)(uint32_t)seq << 32 | (uint32_t)score) ^
         sf_mix64((uint64_t)(uint32_t)query_end << 32 | (uint32_t)target_end);
}

/* A whole file of the tar disk into a malloc'd buffer, its bytes folded into *sum. NULL (reason printed) on failure. */
static char *read_disk_file(const char *path, size_t *len, uint64_t *sum) {
  struct sf_file *f = sf_file_open(path);
  if (!f) {
    printf("align: cannot open %s on the disk: %s\n", path, sf_tar_error());
    return 0;
  }
  const uint64_t size = sf_file_size(f);
  char *text = size < (256ull << 20) ? malloc(size ? size : 1) : 0;
  if (!text) {
    printf("align: %s (%llu bytes) does not fit in memory\n", path, (unsigned long long)size);
    sf_file_close(f);
    return 0;
  }
  long n = sf_file_read(f, 0, text, size);
  sf_file_close(f);
  if (n < 0 || (uint64_t)n != size) {
    printf("align: reading %s failed: %s\n", path, sf_tar_error());
    free(text);
    return 0;
  }
  *len = (size_t)size;
  *sum = dbfile_fnv1a(*sum, text, *len);
  return text;
}

/* The master's queries from the disk, before the fork. Returns their number, or -1 (reason printed). */
static int load_disk_queries(struct db_query *q, uint64_t *sum) {
  size_t len;
  char *text = read_disk_file("db/queries.fa", &len, sum);
  if (!text) return -1;
  int n = dbfile_parse_queries(text, len, q, MAX_QUERIES);
  free(text);
  if (n < 0) printf("align: %s\n", dbfile_error());
  return n;
}

/* Every VM's database from the disk, after the fork. 0, or -1 (reason printed). */
static int load_disk_db(struct seqdb *db, const struct db_query *q, int nq, uint64_t *sum) {
  size_t len;
  char *text = read_disk_file("db/seqs.fa", &len, sum);
  if (!text) return -1;
  int rc = dbfile_parse_seqs(text, len, db);
  free(text);
  if (rc == 0 && (rc = dbfile_queries_fit(db, q, nq)) != 0) seqdb_free(db);
  if (rc != 0) printf("align: %s\n", dbfile_error());
  return rc;
}

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
  unsigned long long nseq, len, nq, qlen, seed, disk, dbsum;
  struct share sh;
  if (sf_arg_u64(argc, argv, "db", 64, &nseq) || sf_arg_u64(argc, argv, "len", 512, &len) ||
      sf_arg_u64(argc, argv, "queries", 4, &nq) || sf_arg_u64(argc, argv, "qlen", 96, &qlen) ||
      sf_arg_u64(argc, argv, "seed", 1, &seed) || sf_arg_u64(argc, argv, "disk", 0, &disk) ||
      sf_arg_u64(argc, argv, "dbsum", 0, &dbsum) || share_init(argc, argv, &sh) < 0)
    return 64;
  const int has_dbsum = sf_arg_get(argc, argv, "dbsum") != 0;
  if (!disk && (nseq < 2 || nseq > (1u << 20) || len > (1u << 24) || nq < 1 || nq > MAX_QUERIES ||
                qlen < QUERY_SRC_MIN || qlen > QUERY_SRC_MAX || qlen > len)) {
    printf("need db >= 2, 1 <= queries <= %d, %d <= qlen <= min(len, %d)\n", MAX_QUERIES, QUERY_SRC_MIN, QUERY_SRC_MAX);
    return 64;
  }

  /* The parent's memory: the queries (and, generated, the database) exist before any fork. */
  uint64_t t0 = sf_time_ns();
  struct seqdb db = {0, 0, 0};
  struct db_query *queries = malloc(sizeof *queries * (disk ? MAX_QUERIES : nq));
  int *work = malloc(sizeof(int) * 2 * (QUERY_SRC_MAX + QUERY_MAX_MUTATIONS + 1));
  if (!queries || !work) {
    printf("align: out of memory\n");
    return 1;
  }
  uint64_t sum = DBFILE_FNV_INIT;
  if (disk) {
    int n = load_disk_queries(queries, &sum);
    if (n < 0) return 1;
    nq = (unsigned long long)n;
  } else {
    if (seqdb_generate(&db, (int)nseq, (int)len, seed) < 0) {
      printf("align: cannot allocate a %llu x %llu database\n", nseq, len);
      return 1;
    }
    for (int q = 0; q < (int)nq; q++) {
      plant_query(&db, q, (int)qlen, seed, &scoring, &queries[q].pq);
      queries[q].query_end = queries[q].target_end = -1; /* not recorded: only the hit and score are checked */
    }
  }
  uint64_t gen_ns = sf_time_ns() - t0;

  if (share_fork(&sh) < 0) return 2;
  sh.items = nq;

  /* Disk mode: every VM reads the database from its own disk now (the clones from the fork's disk snapshot). */
  int failures = 0;
  int sum_ok = 1;
  if (disk) {
    t0 = sf_time_ns();
    if (load_disk_db(&db, queries, (int)nq, &sum) < 0) return share_finish(&sh, 1);
    uint64_t read_ns = sf_time_ns() - t0;
    nseq = (unsigned long long)db.nseq;
    len = (unsigned long long)db.len;
    sum_ok = !has_dbsum || sum == dbsum;
    printf("align vmid=%u read db/seqs.fa from the disk: %dx%d in %llu ns, fnv1a=0x%016llx %s\n", sh.vmid, db.nseq,
           db.len, (unsigned long long)read_ns, (unsigned long long)sum,
           !has_dbsum ? "(no dbsum= to check)"
           : sum_ok   ? "matches dbsum"
                      : "DIFFERS from dbsum");
    failures += !sum_ok;
  }

  failures += self_check(&db, &queries[0].pq, seed);

  t0 = sf_time_ns();
  unsigned long long cells = 0;
  int done = 0;
  for (int q = 0; q < (int)nq; q++) {
    if (!share_owns(&sh, (unsigned)q)) continue;
    const struct planted_query *pq = &queries[q].pq;
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
    int ends_ok = queries[q].query_end < 0 ||
                  (best.query_end == queries[q].query_end && best.target_end == queries[q].target_end);
    int ok = best_seq == pq->target && best.score == pq->expected && second < best.score && ends_ok;
    char text[17];
    bases_to_text(pq->bases, 16, text, sizeof text);
    printf(
        "query %d (%s..., %d bases, %d sub %d ins %d del): best seq %d score %d ends q%d/t%d, "
        "next best %d; planted seq %d at %d score %d %s\n",
        q, text, pq->len, pq->subs, pq->ins, pq->dels, best_seq, best.score, best.query_end, best.target_end, second,
        pq->target, pq->start, pq->expected, ok ? "ok" : "WRONG");
    failures += !ok;
    done++;
    share_add(&sh, (unsigned)q, hit_value(best_seq, best.score, best.query_end, best.target_end));
  }
  uint64_t align_ns = sf_time_ns() - t0;

  printf("align vmid=%u nvms=%u db=%llux%llu queries=%d/%llu cells=%llu gen_ns=%llu align_ns=%llu %s\n", sh.vmid,
         sh.nvms, nseq, len, done, nq, cells, (unsigned long long)gen_ns, (unsigned long long)align_ns,
         failures ? "FAILED" : "OK");
  int rc = share_finish(&sh, failures ? 1 : 0);
  if (!disk || sh.vmid != 0 || (!sh.forked && sh.nvms > 1)) return rc;
  /* The planted truth's digest: what one VM gets when every hit is right, however the work was split. */
  uint32_t expected = 0;
  for (int q = 0; q < (int)nq; q++) {
    const struct db_query *d = &queries[q];
    expected = share_combine(
        expected, share_item_digest((unsigned)q, hit_value(d->pq.target, d->pq.expected, d->query_end, d->target_end)));
  }
  const int verified = rc == 0 && sum_ok && has_dbsum && sh.result == expected;
  printf("align disk fnv1a=0x%016llx dbsum=%s digest=0x%08x expected=0x%08x verified %s\n", (unsigned long long)sum,
         !has_dbsum ? "missing"
         : sum_ok   ? "ok"
                    : "WRONG",
         sh.result, expected, verified ? "OK" : "FAILED");
  return rc ? rc : verified ? 0 : 1;
}
