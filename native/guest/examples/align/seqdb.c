/* Sequence database generation and query planting (see seqdb.h).
 * Why the planted score is the optimum: mutations sit at least 12 bases from either end of the
 * source region and at least 13 bases from each other, so every mutation is flanked by runs of
 * >= 12 matches (worth >= 24). Trimming a flank to drop a mutation loses more than the mutation
 * costs (5 for a substitution, gap_open + gap_extend = 7 for a 1-base indel), re-routing around
 * one costs more than it (two gaps = 14 > 5; a shifted diagonal matches only by chance), and the
 * other database sequences are random. The host tests check this against sw_naive over many seeds. */
#include "align/seqdb.h"
#include <sfguest/malloc.h>
#include <sfguest/prng.h>

int seqdb_generate(struct seqdb *db, int nseq, int len, uint64_t seed) {
  struct sf_prng r;
  db->nseq = nseq;
  db->len = len;
  db->bases = malloc((size_t)nseq * (size_t)len);
  if (!db->bases) return -1;
  sf_prng_seed(&r, seed);
  long n = (long)nseq * len;
  for (long i = 0; i < n; i += 32) {
    uint64_t bits = sf_prng_next(&r); /* 32 bases per 64 random bits */
    for (long k = i; k < i + 32 && k < n; k++, bits >>= 2) db->bases[k] = (uint8_t)(bits & 3);
  }
  return 0;
}

void seqdb_free(struct seqdb *db) {
  free(db->bases);
  db->bases = 0;
}

enum { MUT_SUB, MUT_INS, MUT_DEL };

void plant_query(const struct seqdb *db, int qi, int srclen, uint64_t seed, const struct sw_scoring *sc,
                 struct planted_query *out) {
  struct sf_prng r;
  sf_prng_seed(&r, seed ^ (0x51ed270b27e3f1a5ull * (uint64_t)(qi + 1)));
  out->target = (int)sf_prng_below(&r, (uint32_t)db->nseq);
  out->start = (int)sf_prng_below(&r, (uint32_t)(db->len - srclen + 1));
  out->srclen = srclen;
  out->subs = out->ins = out->dels = 0;

  /* Mutation k sits at source offset 12 + 16k + (0..3); its kind rotates with the query. */
  int nmut = (srclen - 24) / 16;
  if (nmut > QUERY_MAX_MUTATIONS) nmut = QUERY_MAX_MUTATIONS;
  int pos[QUERY_MAX_MUTATIONS], kind[QUERY_MAX_MUTATIONS];
  for (int k = 0; k < nmut; k++) {
    pos[k] = 12 + 16 * k + (int)sf_prng_below(&r, 4);
    kind[k] = (qi + k) % 3;
  }

  const uint8_t *src = seqdb_seq(db, out->target) + out->start;
  int n = 0, k = 0;
  for (int i = 0; i < srclen; i++) {
    if (k < nmut && pos[k] == i) {
      int kd = kind[k++];
      if (kd == MUT_SUB) {
        out->bases[n++] = (uint8_t)((src[i] + 1 + sf_prng_below(&r, 3)) & 3); /* never src[i] */
        out->subs++;
      } else if (kd == MUT_INS) {
        out->bases[n++] = (uint8_t)sf_prng_below(&r, 4);
        out->bases[n++] = src[i];
        out->ins++;
      } else {
        out->dels++; /* src[i] left out */
      }
      continue;
    }
    out->bases[n++] = src[i];
  }
  out->len = n;
  int matches = srclen - out->subs - out->dels;
  out->expected =
      matches * sc->match + out->subs * sc->mismatch - (out->ins + out->dels) * (sc->gap_open + sc->gap_extend);
}

void bases_to_text(const uint8_t *b, int n, char *out, int size) {
  int i = 0;
  for (; i < n && i < size - 1; i++) out[i] = "ACGT"[b[i] & 3];
  if (size > 0) out[i] = 0;
}
