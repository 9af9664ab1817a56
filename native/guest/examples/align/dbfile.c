/* Formatting and parsing align's database files (see dbfile.h). The parsers trust nothing in the text: every
 * number is range-checked, every record's length agrees with its header, and the first fault names its line. */
#include "align/dbfile.h"
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>

static char error[160];

const char *dbfile_error(void) { return error; }

static int fail(const char *file, long line, const char *what) {
  snprintf(error, sizeof error, "%s line %ld: %s", file, line, what);
  return -1;
}

uint64_t dbfile_fnv1a(uint64_t h, const void *data, size_t n) {
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

size_t dbfile_record_size(size_t header_len, int n) {
  return 1 + header_len + 1 + (size_t)n + (size_t)(n + DBFILE_LINE - 1) / DBFILE_LINE;
}

size_t dbfile_record(char *out, const char *header, const uint8_t *bases, int n) {
  size_t at = 0, hl = strlen(header);
  out[at++] = '>';
  memcpy(out + at, header, hl);
  at += hl;
  out[at++] = '\n';
  for (int i = 0; i < n; i++) {
    out[at++] = "ACGT"[bases[i] & 3];
    if ((i + 1) % DBFILE_LINE == 0 || i == n - 1) out[at++] = '\n';
  }
  return at;
}

int dbfile_query_header(char *out, size_t cap, int qi, const struct db_query *q) {
  const struct planted_query *p = &q->pq;
  int n = snprintf(out, cap, "q%d target=%d start=%d srclen=%d subs=%d ins=%d dels=%d expected=%d qend=%d tend=%d", qi,
                   p->target, p->start, p->srclen, p->subs, p->ins, p->dels, p->expected, q->query_end, q->target_end);
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* The line starting at text[at]: its length without the newline (the last line may lack one). */
static size_t line_len(const char *text, size_t n, size_t at) {
  size_t e = at;
  while (e < n && text[e] != '\n') e++;
  return e - at;
}

static int base_code(char c) {
  switch (c) {
    case 'A': return 0;
    case 'C': return 1;
    case 'G': return 2;
    case 'T': return 3;
    default: return -1;
  }
}

/* Appends the bases of one sequence line; -1 on a character that is not A, C, G or T. */
static int take_bases(const char *s, size_t len, uint8_t *out, long *count, long limit) {
  for (size_t i = 0; i < len; i++) {
    int b = base_code(s[i]);
    if (b < 0 || *count >= limit) return -1;
    out[(*count)++] = (uint8_t)b;
  }
  return 0;
}

int dbfile_parse_seqs(const char *text, size_t n, struct seqdb *db) {
  db->nseq = db->len = 0;
  db->bases = malloc(n ? n : 1);
  if (!db->bases) return fail("seqs.fa", 0, "out of memory");
  long total = 0, in_record = -1, line = 0;
  for (size_t at = 0; at < n; line++) {
    size_t len = line_len(text, n, at);
    const char *s = text + at;
    at += len + 1;
    if (len > 0 && s[0] == '>') {
      if (in_record >= 0 && db->nseq == 1) db->len = (int)in_record;
      if (in_record >= 0 && in_record != db->len) goto unequal;
      if (db->nseq >= (1 << 20)) goto bad;
      db->nseq++;
      in_record = 0;
      continue;
    }
    if (in_record < 0) return seqdb_free(db), fail("seqs.fa", line + 1, "bases before the first '>' header");
    long before = total;
    if (take_bases(s, len, db->bases, &total, (long)n) < 0)
      return seqdb_free(db), fail("seqs.fa", line + 1, "not a base (A, C, G, T)");
    in_record += total - before;
    if (in_record > (1 << 24)) goto bad;
  }
  if (db->nseq == 1) db->len = (int)in_record;
  if (db->nseq < 1 || db->len < 1) return seqdb_free(db), fail("seqs.fa", line, "no sequences");
  if (in_record != db->len) goto unequal;
  return 0;
unequal:
  seqdb_free(db);
  return fail("seqs.fa", line, "sequences of different lengths (the database holds equal-length sequences)");
bad:
  seqdb_free(db);
  return fail("seqs.fa", line, "too many or too long sequences");
}

/* "key=<decimal>" at *p (after spaces); advances *p. -1 if the key differs or the number is malformed. */
static int field(const char **p, const char *end, const char *key, int *out) {
  const char *s = *p;
  while (s < end && *s == ' ') s++;
  size_t kl = strlen(key);
  if ((size_t)(end - s) <= kl || memcmp(s, key, kl) != 0 || s[kl] != '=') return -1;
  s += kl + 1;
  int neg = s < end && *s == '-';
  if (neg) s++;
  long v = 0;
  const char *digits = s;
  while (s < end && *s >= '0' && *s <= '9' && v < (1l << 30)) v = v * 10 + (*s++ - '0');
  if (s == digits || v >= (1l << 30) || (s < end && *s != ' ')) return -1;
  *out = (int)(neg ? -v : v);
  *p = s;
  return 0;
}

static int parse_header(const char *s, size_t len, int qi, struct db_query *q) {
  const char *end = s + len, *p = s;
  struct planted_query *pq = &q->pq;
  int num;
  if (len < 2 || s[0] != 'q') return -1;
  p++;
  num = 0;
  const char *digits = p;
  while (p < end && *p >= '0' && *p <= '9' && num < (1 << 20)) num = num * 10 + (*p++ - '0');
  if (p == digits || num != qi) return -1;
  if (field(&p, end, "target", &pq->target) || field(&p, end, "start", &pq->start) ||
      field(&p, end, "srclen", &pq->srclen) || field(&p, end, "subs", &pq->subs) || field(&p, end, "ins", &pq->ins) ||
      field(&p, end, "dels", &pq->dels) || field(&p, end, "expected", &pq->expected) ||
      field(&p, end, "qend", &q->query_end) || field(&p, end, "tend", &q->target_end) || p != end)
    return -1;
  if (pq->target < 0 || pq->start < 0 || pq->srclen < QUERY_SRC_MIN || pq->srclen > QUERY_SRC_MAX || pq->subs < 0 ||
      pq->ins < 0 || pq->dels < 0 || pq->subs + pq->ins + pq->dels > QUERY_MAX_MUTATIONS || pq->dels > pq->srclen)
    return -1;
  pq->len = pq->srclen + pq->ins - pq->dels;
  return 0;
}

int dbfile_parse_queries(const char *text, size_t n, struct db_query *out, int max) {
  int nq = -1;
  long got = 0, line = 0;
  for (size_t at = 0; at < n; line++) {
    size_t len = line_len(text, n, at);
    const char *s = text + at;
    at += len + 1;
    if (len > 0 && s[0] == '>') {
      if (nq >= 0 && got != out[nq].pq.len)
        return fail("queries.fa", line, "a query's bases differ from its header's length");
      if (nq + 1 >= max) return fail("queries.fa", line + 1, "too many queries");
      nq++;
      if (parse_header(s + 1, len - 1, nq, &out[nq]) < 0)
        return fail("queries.fa", line + 1,
                    "malformed header (want >q<i> target= start= srclen= subs= ins= dels= expected= qend= tend=)");
      got = 0;
      continue;
    }
    if (nq < 0) return fail("queries.fa", line + 1, "bases before the first '>' header");
    if (take_bases(s, len, out[nq].pq.bases, &got, out[nq].pq.len) < 0)
      return fail("queries.fa", line + 1, "not a base, or more bases than the header says");
  }
  if (nq < 0) return fail("queries.fa", line, "no queries");
  if (got != out[nq].pq.len) return fail("queries.fa", line, "a query's bases differ from its header's length");
  return nq + 1;
}

int dbfile_queries_fit(const struct seqdb *db, const struct db_query *q, int n) {
  for (int i = 0; i < n; i++) {
    const struct planted_query *p = &q[i].pq;
    if (p->target >= db->nseq || p->start + p->srclen > db->len || q[i].query_end < 0 || q[i].query_end >= p->len ||
        q[i].target_end < p->start || q[i].target_end >= db->len) {
      snprintf(error, sizeof error, "queries.fa: query %d's truth lies outside the %dx%d database", i, db->nseq,
               db->len);
      return -1;
    }
  }
  return 0;
}
