/* Smith-Waterman local alignment with affine gaps (Gotoh): a gap of length k costs
 * gap_open + k * gap_extend. sw_align is the fast, linear-space scorer the workload runs;
 * sw_naive is the textbook three-matrix version, kept for cross-checking on small inputs. */
#ifndef ALIGN_SW_H
#define ALIGN_SW_H

#include <stdint.h>

struct sw_scoring {
  int match;      /* > 0 */
  int mismatch;   /* < 0 */
  int gap_open;   /* >= 0, charged once per gap */
  int gap_extend; /* > 0, charged per gap position */
};
#define SW_DEFAULT_SCORING \
  { 2, -3, 5, 2 } /* a 1-base gap costs 7, a substitution loses 5 */

struct sw_result {
  int score;      /* best local score, >= 0 */
  int query_end;  /* 0-based end of the best alignment in the query (-1 if score is 0) */
  int target_end; /* ... and in the target; the first (row-major) cell reaching the score */
};

/* Scores query q against target t. work: at least 2 * (qlen + 1) ints of scratch. */
void sw_align(const uint8_t *q, int qlen, const uint8_t *t, int tlen, const struct sw_scoring *sc, int *work,
              struct sw_result *out);
/* Same score from full matrices (3 * (qlen+1) * (tlen+1) ints, malloc'd). -1 if out of memory. */
int sw_naive(const uint8_t *q, int qlen, const uint8_t *t, int tlen, const struct sw_scoring *sc);

#endif /* ALIGN_SW_H */
