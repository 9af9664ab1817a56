/* Smith-Waterman–Gotoh scoring (see sw.h). The fast version keeps one row of H and of the
 * vertical-gap state F and carries the horizontal-gap state E along the row: O(qlen) memory. */
#include "align/sw.h"
#include <sfguest/malloc.h>

#define NEG_INF (-(1 << 28)) /* far below any score, yet safe to subtract from */

static inline int max2(int a, int b) { return a > b ? a : b; }

void sw_align(const uint8_t *q, int qlen, const uint8_t *t, int tlen, const struct sw_scoring *sc, int *work,
              struct sw_result *out) {
  int *H = work, *F = work + qlen + 1;
  const int oe = sc->gap_open + sc->gap_extend, e = sc->gap_extend;
  int best = 0, best_q = -1, best_t = -1;
  for (int j = 0; j <= qlen; j++) {
    H[j] = 0;
    F[j] = NEG_INF;
  }
  for (int i = 1; i <= tlen; i++) {
    const uint8_t ti = t[i - 1];
    int diag = 0, left = 0, E = NEG_INF;
    for (int j = 1; j <= qlen; j++) {
      const int up = H[j];
      const int f = max2(up - oe, F[j] - e);
      F[j] = f;
      E = max2(left - oe, E - e);
      int h = diag + (q[j - 1] == ti ? sc->match : sc->mismatch);
      h = max2(max2(h, 0), max2(E, f));
      diag = up;
      H[j] = left = h;
      if (h > best) {
        best = h;
        best_q = j - 1;
        best_t = i - 1;
      }
    }
  }
  out->score = best;
  out->query_end = best_q;
  out->target_end = best_t;
}

int sw_naive(const uint8_t *q, int qlen, const uint8_t *t, int tlen, const struct sw_scoring *sc) {
  const long w = qlen + 1, cells = w * (tlen + 1);
  int *H = malloc(sizeof(int) * (size_t)cells * 3);
  if (!H) return -1;
  int *E = H + cells, *F = E + cells;
  int best = 0;
  for (int i = 0; i <= tlen; i++) {
    for (int j = 0; j <= qlen; j++) {
      long c = i * w + j;
      if (i == 0 || j == 0) {
        H[c] = 0;
        E[c] = F[c] = NEG_INF;
        continue;
      }
      /* E: alignment ends with a gap in the target (moving along the query), F: in the query. */
      E[c] = max2(H[c - 1] - sc->gap_open - sc->gap_extend, E[c - 1] - sc->gap_extend);
      F[c] = max2(H[c - w] - sc->gap_open - sc->gap_extend, F[c - w] - sc->gap_extend);
      int s = q[j - 1] == t[i - 1] ? sc->match : sc->mismatch;
      int h = H[c - w - 1] + s;
      if (E[c] > h) h = E[c];
      if (F[c] > h) h = F[c];
      if (h < 0) h = 0;
      H[c] = h;
      if (h > best) best = h;
    }
  }
  free(H);
  return best;
}
