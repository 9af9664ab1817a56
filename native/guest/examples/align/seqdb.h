/* The alignment workload's data: a database of random DNA sequences generated from a seed into
 * (the parent VM's) memory, and query sequences planted in it as copies of a database region
 * with known substitutions, insertions and deletions, so the best hit and its score are known. */
#ifndef ALIGN_SEQDB_H
#define ALIGN_SEQDB_H

#include <stdint.h>
#include "align/sw.h"

struct seqdb {
  int nseq, len;
  uint8_t *bases; /* nseq * len bases, each 0..3 (A C G T) */
};

/* Allocates and fills the database. Returns 0, or -1 if out of memory. */
int seqdb_generate(struct seqdb *db, int nseq, int len, uint64_t seed);
static inline const uint8_t *seqdb_seq(const struct seqdb *db, int i) { return db->bases + (long)i * db->len; }
void seqdb_free(struct seqdb *db);

#define QUERY_MAX_MUTATIONS 8
#define QUERY_SRC_MIN 48 /* shortest source region: room for one mutation 12 bases from the ends */
#define QUERY_SRC_MAX 1024

struct planted_query {
  int target; /* database sequence it was copied from */
  int start;  /* first base of the source region in it */
  int srclen; /* length of the source region */
  int len;    /* length of the query (srclen + insertions - deletions) */
  int subs, ins, dels;
  int expected; /* the score of the planted alignment, which is the optimum (see seqdb.c) */
  uint8_t bases[QUERY_SRC_MAX + QUERY_MAX_MUTATIONS];
};

/* Plants query number qi (0-based) of srclen source bases; db->len must be >= srclen. */
void plant_query(const struct seqdb *db, int qi, int srclen, uint64_t seed, const struct sw_scoring *sc,
                 struct planted_query *out);

/* "ACGT..." for printing the first n bases (n < size). */
void bases_to_text(const uint8_t *b, int n, char *out, int size);

#endif /* ALIGN_SEQDB_H */
