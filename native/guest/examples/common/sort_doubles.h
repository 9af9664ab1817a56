/* Timing samples in ascending order, for the MPI examples' percentiles (mpitest, pingpong): an insertion sort,
 * since a run keeps at most a few thousand samples. Header-only: it compiles with each example's own flags
 * (the SDK's library is built without floating point). */
#ifndef EXAMPLES_SORT_DOUBLES_H
#define EXAMPLES_SORT_DOUBLES_H

static inline void sort_doubles(double *a, int n) {
  for (int i = 1; i < n; i++) {
    double x = a[i];
    int j = i;
    for (; j > 0 && a[j - 1] > x; j--) a[j] = a[j - 1];
    a[j] = x;
  }
}

#endif /* EXAMPLES_SORT_DOUBLES_H */
