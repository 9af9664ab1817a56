/* mkdb — the build's generator of align's disk database (a host program, not a guest): the same sequences and
 * planted queries align makes in memory (seqdb.c), written as DIR/queries.fa and DIR/seqs.fa (dbfile.h), each
 * query's truth in its header with the ends the guest's aligner reports for it. Prints the checksum the seed
 * bakes ("dbsum=0x<16 hex>": FNV-1a 64 of queries.fa then seqs.fa). Deterministic: same arguments, same bytes.
 * Usage: mkdb DIR NSEQ LEN QUERIES QLEN SEED */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "align/dbfile.h"
#include "align/seqdb.h"
#include "align/sw.h"

static const struct sw_scoring scoring = SW_DEFAULT_SCORING;

static uint64_t write_file(const char *dir, const char *name, const char *text, size_t n, uint64_t sum) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "mkdb: cannot write %s\n", path);
    exit(1);
  }
  return dbfile_fnv1a(sum, text, n);
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: mkdb DIR NSEQ LEN QUERIES QLEN SEED\n");
    return 64;
  }
  const char *dir = argv[1];
  int nseq = atoi(argv[2]), len = atoi(argv[3]), nq = atoi(argv[4]), qlen = atoi(argv[5]);
  uint64_t seed = strtoull(argv[6], 0, 0);
  if (nseq < 2 || len < qlen || nq < 1 || qlen < QUERY_SRC_MIN || qlen > QUERY_SRC_MAX) {
    fprintf(stderr, "mkdb: need NSEQ >= 2, QUERIES >= 1, %d <= QLEN <= min(LEN, %d)\n", QUERY_SRC_MIN, QUERY_SRC_MAX);
    return 64;
  }
  struct seqdb db;
  if (seqdb_generate(&db, nseq, len, seed) < 0) return 1;

  /* The queries, with the ends the aligner finds on each one's source sequence. */
  struct db_query *q = calloc((size_t)nq, sizeof *q);
  int *work = malloc(sizeof(int) * 2 * (QUERY_SRC_MAX + QUERY_MAX_MUTATIONS + 1));
  size_t qcap = (size_t)nq * dbfile_record_size(160, QUERY_SRC_MAX + QUERY_MAX_MUTATIONS), qn = 0;
  char *qtext = malloc(qcap);
  if (!q || !work || !qtext) return 1;
  for (int i = 0; i < nq; i++) {
    plant_query(&db, i, qlen, seed, &scoring, &q[i].pq);
    struct sw_result r;
    sw_align(q[i].pq.bases, q[i].pq.len, seqdb_seq(&db, q[i].pq.target), db.len, &scoring, work, &r);
    if (r.score != q[i].pq.expected) {
      fprintf(stderr, "mkdb: query %d scores %d on its source, not the planted %d\n", i, r.score, q[i].pq.expected);
      return 1;
    }
    q[i].query_end = r.query_end;
    q[i].target_end = r.target_end;
    char header[160];
    if (dbfile_query_header(header, sizeof header, i, &q[i]) < 0) return 1;
    qn += dbfile_record(qtext + qn, header, q[i].pq.bases, q[i].pq.len);
  }

  size_t scap = (size_t)nseq * dbfile_record_size(16, len), sn = 0;
  char *stext = malloc(scap);
  if (!stext) return 1;
  for (int s = 0; s < nseq; s++) {
    char header[16];
    snprintf(header, sizeof header, "s%d", s);
    sn += dbfile_record(stext + sn, header, seqdb_seq(&db, s), len);
  }

  uint64_t sum = write_file(dir, "queries.fa", qtext, qn, DBFILE_FNV_INIT);
  sum = write_file(dir, "seqs.fa", stext, sn, sum);
  printf("dbsum=0x%016llx\n", (unsigned long long)sum);
  return 0;
}
