/* heat — 2-D Jacobi relaxation of a heated plate (top edge at 1, the others at 0) split by rows over the ranks,
 * with a halo exchange (MPI_Sendrecv) each sweep. Rank 0 then computes the same sweeps alone and compares:
 * every point is the same arithmetic whoever computes it, so the final change (max over the grid, an
 * MPI_Allreduce) and the plate's sum must agree; rank 0 prints
 *   heat n=N iters=I ranks=R residual=<x> serial=<x> sum=<x> ms=<wall ms, 3 decimals> verified OK|FAILED
 * Args: np=ranks n=256 (grid side, interior points) iters=500 serial=1 (0 skips the serial check). */
#include <mpi.h>
#include <sfguest/args.h>
#include <sfguest/malloc.h>
#include <sfguest/math.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>

SF_PROGRAM_NAME("heat");

/* A row-major block of rows [lo-1, hi] of the (n+2)-wide plate, boundary rows and columns included. */
struct block {
  int n, lo, hi;
  double *u, *v;
};

static double *row(double *g, const struct block *b, int i) { return g + (size_t)(i - b->lo + 1) * (size_t)(b->n + 2); }

static void init(struct block *b) {
  size_t cells = (size_t)(b->hi - b->lo + 2) * (size_t)(b->n + 2);
  b->u = calloc(cells, sizeof(double));
  b->v = calloc(cells, sizeof(double));
  for (int i = b->lo - 1; i <= b->hi; i++)
    if (i == 0)
      for (int j = 0; j < b->n + 2; j++) row(b->u, b, i)[j] = row(b->v, b, i)[j] = 1.0;
}

/* One sweep from u into v over rows [lo, hi) (global rows 1..n are the interior); returns the largest change. */
static double sweep(struct block *b) {
  double change = 0;
  for (int i = b->lo; i < b->hi; i++) {
    if (i < 1 || i > b->n) continue;
    const double *up = row(b->u, b, i - 1), *mid = row(b->u, b, i), *down = row(b->u, b, i + 1);
    double *out = row(b->v, b, i);
    for (int j = 1; j <= b->n; j++) {
      out[j] = 0.25 * (up[j] + down[j] + mid[j - 1] + mid[j + 1]);
      double d = sf_fabs(out[j] - mid[j]);
      if (d > change) change = d;
    }
  }
  double *t = b->u;
  b->u = b->v;
  b->v = t;
  return change;
}

static double plate_sum(const struct block *b) {
  double s = 0;
  for (int i = b->lo; i < b->hi; i++)
    if (i >= 1 && i <= b->n)
      for (int j = 1; j <= b->n; j++) s += row(b->u, b, i)[j];
  return s;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  unsigned long long n, iters, check;
  if (sf_arg_u64(argc, argv, "n", 256, &n) < 0 || sf_arg_u64(argc, argv, "iters", 500, &iters) < 0 ||
      sf_arg_u64(argc, argv, "serial", 1, &check) < 0 || n < (unsigned long long)size)
    MPI_Abort(MPI_COMM_WORLD, 1);
  /* Rows 0..n+1; interior rows 1..n shared out as evenly as they go. */
  struct block b = {.n = (int)n};
  b.lo = 1 + (int)(n * (unsigned long long)rank / (unsigned long long)size);
  b.hi = 1 + (int)(n * (unsigned long long)(rank + 1) / (unsigned long long)size);
  init(&b);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime(), change = 0;
  int up = rank > 0 ? rank - 1 : MPI_PROC_NULL, down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
  size_t w = (size_t)n + 2;
  for (unsigned long long it = 0; it < iters; it++) {
    /* Halo: my first row goes up while the row above mine comes down, and the other way round. */
    MPI_Sendrecv(row(b.u, &b, b.lo), (int)w, MPI_DOUBLE, up, 1, row(b.u, &b, b.hi), (int)w, MPI_DOUBLE, down, 1,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Sendrecv(row(b.u, &b, b.hi - 1), (int)w, MPI_DOUBLE, down, 2, row(b.u, &b, b.lo - 1), (int)w, MPI_DOUBLE, up, 2,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    /* The boundary row n+1 stays 0 and row 0 stays 1: both halves of the buffers hold them. */
    double mine = sweep(&b);
    change = mine;
  }
  double residual, sum, mysum = plate_sum(&b);
  MPI_Allreduce(&change, &residual, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Reduce(&mysum, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  double ms = (MPI_Wtime() - t0) * 1e3;
  if (rank == 0) {
    double s_res = residual, s_sum = sum;
    int ok = 1;
    if (check) {
      struct block all = {.n = (int)n, .lo = 1, .hi = (int)n + 1};
      init(&all);
      for (unsigned long long it = 0; it < iters; it++) s_res = sweep(&all);
      s_sum = plate_sum(&all);
      ok = s_res == residual && sf_fabs(s_sum - sum) <= 1e-9 * s_sum;
    }
    char serial[40] = "skipped";
    if (check) snprintf(serial, sizeof serial, "%.12f", s_res);
    printf("heat n=%llu iters=%llu ranks=%d residual=%.12f serial=%s sum=%.12f ms=%.3f verified %s\n", n, iters, size,
           residual, serial, sum, ms, ok ? "OK" : "FAILED");
    MPI_Finalize();
    return ok ? 0 : 1;
  }
  MPI_Finalize();
  return 0;
}
