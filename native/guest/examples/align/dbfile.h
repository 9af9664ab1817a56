/* align's database as files (the disk mode): the sequences as FASTA text (db/seqs.fa, ">s<i>" records of
 * equal length) and the planted queries as FASTA with their truth in the header (db/queries.fa, ">q<i> target=
 * start= srclen= subs= ins= dels= expected= qend= tend="). The build's generator (mkdb.c) formats them, the guest
 * parses them back; a file that does not parse is refused with the reason, never half-used. */
#ifndef ALIGN_DBFILE_H
#define ALIGN_DBFILE_H

#include <stddef.h>
#include <stdint.h>
#include "align/seqdb.h"

#define DBFILE_LINE 64 /* bases per FASTA line */

/* A planted query with where its best alignment ends (sw.h's query_end/target_end on its source sequence). */
struct db_query {
  struct planted_query pq;
  int query_end, target_end;
};

/* FNV-1a, 64 bits, continued from h (start with DBFILE_FNV_INIT): the checksum the seed bakes as dbsum=. */
#define DBFILE_FNV_INIT 0xcbf29ce484222325ull
uint64_t dbfile_fnv1a(uint64_t h, const void *data, size_t n);

/* The FASTA record of `n` bases under header line `header` (without '>' or newline) into out; returns its
 * length. out must hold dbfile_record_size(strlen(header), n) bytes. */
size_t dbfile_record_size(size_t header_len, int n);
size_t dbfile_record(char *out, const char *header, const uint8_t *bases, int n);
/* The header of query qi (the text after '>'); returns its length, or -1 if cap is too small. */
int dbfile_query_header(char *out, size_t cap, int qi, const struct db_query *q);

/* Parses seqs.fa text into db (db->bases malloc'd: seqdb_free frees it). 0, or -1 (dbfile_error() says why). */
int dbfile_parse_seqs(const char *text, size_t n, struct seqdb *db);
/* Parses queries.fa text into out[0..max); returns the number of queries, or -1. Queries must be numbered
 * 0, 1, ... in order, and each one's bases must be as long as its header says. */
int dbfile_parse_queries(const char *text, size_t n, struct db_query *out, int max);
/* 0 if every query's truth lies inside db (its source region, its ends), else -1 (dbfile_error() says which). */
int dbfile_queries_fit(const struct seqdb *db, const struct db_query *q, int n);
const char *dbfile_error(void);

#endif /* ALIGN_DBFILE_H */
