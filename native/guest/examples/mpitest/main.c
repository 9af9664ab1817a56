/* mpitest — checks every libsfmpi call against an answer each rank can compute alone: point to point with tags,
 * MPI_ANY_SOURCE/ANY_TAG and the unexpected queue, a ring of Isend/Irecv, a 1 MiB exchange both ways at once,
 * then Bcast, Reduce (every op, non-zero root), Allreduce, Gather, Scatter, Allgather and Barrier. Rank 0 ends
 * with one line:  mpitest ranks=N checks=C failed=F verified OK|FAILED
 * Every rank first prints  mpitest rank R of N ready at_ns=<host monotonic ns when MPI_Init returned>  (the time
 * from sfmpirun to every rank in MPI_Init, for bench/mpi).
 * Runs the same in both modes of sfmpirun (one rank per VM, or per vCPU), keeping per-rank state off globals.
 * Args: np=N (ranks), crash=R (rank R panics after MPI_Init), quit=R (rank R exits mid-job, between the
 * point-to-point and the collective phase, without MPI_Finalize): the fault tests; allreduce=K (then K timed
 * MPI_Allreduce calls of 8 doubles; rank 0 prints
 *   mpitest allreduce doubles=8 calls=K p50_us=<x> p99_us=<x> mean_us=<x> verified OK|FAILED). */
#include <mpi.h>
#include <sfguest/args.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include <sfguest/time.h>
#include "common/sort_doubles.h"

SF_PROGRAM_NAME("mpitest");

/* Per-rank state lives on each rank's stack, not in globals: in processor mode the ranks of a VM share its
 * memory (mpi.h). */
struct run {
  int rank, size, checks, failed;
};

static void check(struct run *t, int ok, const char *what) {
  t->checks++;
  if (!ok) {
    t->failed++;
    printf("mpitest rank %d: %s is wrong\n", t->rank, what);
  }
}
#define expect(ok, what) check(t, ok, what)

static void point_to_point(struct run *t) {
  int rank = t->rank, size = t->size;
  MPI_Status st;
  int v, n;
  /* Everyone reports to 0 with its own tag; 0 takes them in whatever order they come. */
  if (rank) {
    v = rank * 7;
    expect(MPI_Send(&v, 1, MPI_INT, 0, 100 + rank, MPI_COMM_WORLD) == MPI_SUCCESS, "MPI_Send");
  } else {
    unsigned long long seen = 0;
    for (int i = 1; i < size; i++) {
      expect(MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st) == MPI_SUCCESS, "MPI_Recv");
      MPI_Get_count(&st, MPI_INT, &n);
      expect(st.MPI_SOURCE > 0 && st.MPI_SOURCE < size && !(seen & (1ull << st.MPI_SOURCE)), "ANY_SOURCE's source");
      expect(st.MPI_TAG == 100 + st.MPI_SOURCE && v == st.MPI_SOURCE * 7 && n == 1, "ANY_TAG's message");
      seen |= 1ull << st.MPI_SOURCE;
    }
  }
  MPI_Barrier(MPI_COMM_WORLD); /* ANY_TAG above would take the next phase's messages too */
  /* Tags pick messages out of order: the last rank sends tag 2 then tag 1; rank 0 asks for 1 first. */
  if (size > 1 && rank == size - 1) {
    int a = 2, b = 1;
    MPI_Send(&a, 1, MPI_INT, 0, 2, MPI_COMM_WORLD);
    MPI_Send(&b, 1, MPI_INT, 0, 1, MPI_COMM_WORLD);
  } else if (size > 1 && rank == 0) {
    MPI_Recv(&v, 1, MPI_INT, size - 1, 1, MPI_COMM_WORLD, &st);
    expect(v == 1 && st.MPI_TAG == 1, "the tag-1 message");
    MPI_Recv(&v, 1, MPI_INT, size - 1, 2, MPI_COMM_WORLD, &st);
    expect(v == 2 && st.MPI_TAG == 2, "the tag-2 message");
  }
  /* A ring of Isend/Irecv (to itself on one rank). */
  enum { RING = 1000 };
  int *out = malloc(RING * sizeof *out), *in = malloc(RING * sizeof *in);
  for (int i = 0; i < RING; i++) out[i] = rank * 100000 + i;
  MPI_Request rq[2];
  int left = (rank + size - 1) % size, right = (rank + 1) % size;
  MPI_Irecv(in, RING, MPI_INT, left, 5, MPI_COMM_WORLD, &rq[0]);
  MPI_Isend(out, RING, MPI_INT, right, 5, MPI_COMM_WORLD, &rq[1]);
  expect(MPI_Waitall(2, rq, MPI_STATUSES_IGNORE) == MPI_SUCCESS, "MPI_Waitall");
  int ok = 1;
  for (int i = 0; i < RING; i++) ok &= in[i] == left * 100000 + i;
  expect(ok, "the ring's data");
  free(out);
  free(in);
  /* 1 MiB both ways at once between rank 0 and the last: sends must not wait for the receives. */
  if (size > 1 && (rank == 0 || rank == size - 1)) {
    enum { BIG = 1 << 18 };
    int *a = malloc(BIG * sizeof *a), *b = malloc(BIG * sizeof *b), peer = rank ? 0 : size - 1;
    for (int i = 0; i < BIG; i++) a[i] = i ^ (rank << 20);
    MPI_Request r2[2];
    MPI_Isend(a, BIG, MPI_INT, peer, 9, MPI_COMM_WORLD, &r2[0]);
    MPI_Irecv(b, BIG, MPI_INT, peer, 9, MPI_COMM_WORLD, &r2[1]);
    MPI_Waitall(2, r2, MPI_STATUSES_IGNORE);
    ok = 1;
    for (int i = 0; i < BIG; i++) ok &= b[i] == (i ^ (peer << 20));
    expect(ok, "the 1 MiB exchange");
    free(a);
    free(b);
  }
}

static void collectives(struct run *t) {
  int rank = t->rank, size = t->size;
  double d[100];
  int root = size - 1;
  for (int i = 0; i < 100; i++) d[i] = rank == root ? i * 0.5 : -1;
  MPI_Bcast(d, 100, MPI_DOUBLE, root, MPI_COMM_WORLD);
  int ok = 1;
  for (int i = 0; i < 100; i++) ok &= d[i] == i * 0.5;
  expect(ok, "MPI_Bcast");

  /* Reduce to rank 1 % size: sums, products, extremes of values every rank can work out for all. */
  int r1 = 1 % size, mine[4] = {rank + 1, rank + 1, rank - 3, rank % 2 ? 2 : 1}, got[4] = {0};
  MPI_Reduce(mine, got, 1, MPI_INT, MPI_SUM, r1, MPI_COMM_WORLD);
  MPI_Reduce(mine + 1, got + 1, 1, MPI_INT, MPI_MAX, r1, MPI_COMM_WORLD);
  MPI_Reduce(mine + 2, got + 2, 1, MPI_INT, MPI_MIN, r1, MPI_COMM_WORLD);
  MPI_Reduce(mine + 3, got + 3, 1, MPI_INT, MPI_PROD, r1, MPI_COMM_WORLD);
  if (rank == r1) {
    expect(got[0] == size * (size + 1) / 2, "MPI_Reduce SUM");
    expect(got[1] == size, "MPI_Reduce MAX");
    expect(got[2] == -3, "MPI_Reduce MIN");
    expect(got[3] == 1 << (size / 2), "MPI_Reduce PROD");
  }
  long lv = (long)rank << 33, lsum = 0;
  MPI_Reduce(&lv, &lsum, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) expect(lsum == ((long)size * (size - 1) / 2) << 33, "MPI_Reduce of longs");

  /* Allreduce of 8 doubles: a sum in rank order is the same bits as the loop below. */
  double x[8], y[8], want[8];
  for (int i = 0; i < 8; i++) x[i] = 1.0 / (rank + i + 1);
  MPI_Allreduce(x, y, 8, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  ok = 1;
  for (int i = 0; i < 8; i++) {
    want[i] = 1.0 / (i + 1);
    for (int r = 1; r < size; r++) want[i] += 1.0 / (r + i + 1);
    ok &= y[i] == want[i];
  }
  expect(ok, "MPI_Allreduce of doubles");
  float f = (float)rank, fmax = -1;
  MPI_Allreduce(&f, &fmax, 1, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
  expect(fmax == (float)(size - 1), "MPI_Allreduce MAX of floats");
  char c = (char)(rank + 1), cmin = 0;
  MPI_Allreduce(&c, &cmin, 1, MPI_CHAR, MPI_MIN, MPI_COMM_WORLD);
  expect(cmin == 1, "MPI_Allreduce MIN of chars");
  int inplace = rank;
  MPI_Allreduce(MPI_IN_PLACE, &inplace, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  expect(inplace == size * (size - 1) / 2, "MPI_Allreduce in place");

  /* Gather 3 ints from each rank to the last; scatter them back from rank 0; allgather. */
  int three[3], *all = malloc((size_t)size * 3 * sizeof *all);
  for (int i = 0; i < 3; i++) three[i] = rank * 10 + i;
  MPI_Gather(three, 3, MPI_INT, all, 3, MPI_INT, root, MPI_COMM_WORLD);
  if (rank == root) {
    ok = 1;
    for (int r = 0; r < size; r++)
      for (int i = 0; i < 3; i++) ok &= all[r * 3 + i] == r * 10 + i;
    expect(ok, "MPI_Gather");
  }
  if (rank == 0)
    for (int k = 0; k < size * 3; k++) all[k] = 1000 + k;
  int piece[3] = {0};
  MPI_Scatter(all, 3, MPI_INT, piece, 3, MPI_INT, 0, MPI_COMM_WORLD);
  expect(piece[0] == 1000 + rank * 3 && piece[2] == 1002 + rank * 3, "MPI_Scatter");
  memset(all, 0, (size_t)size * 3 * sizeof *all);
  MPI_Allgather(three, 3, MPI_INT, all, 3, MPI_INT, MPI_COMM_WORLD);
  ok = 1;
  for (int r = 0; r < size; r++) ok &= all[r * 3 + 2] == r * 10 + 2;
  expect(ok, "MPI_Allgather");
  free(all);
  expect(MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS, "MPI_Barrier");
}

/* K calls of MPI_Allreduce(SUM) of 8 doubles, each timed alone (MPI_Wtime's hypercall included), checked against
 * what every rank knows the others sent; then K more timed as one (the mean, without the clock reads). */
static void time_allreduce(const struct run *t, int k) {
  double in[8], out[8], *each = malloc((size_t)k * sizeof *each);
  int ok = 1;
  MPI_Barrier(MPI_COMM_WORLD);
  for (int c = 0; c < k; c++) {
    for (int i = 0; i < 8; i++) in[i] = t->rank + i + c;
    double t0 = MPI_Wtime();
    MPI_Allreduce(in, out, 8, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    each[c] = MPI_Wtime() - t0;
    for (int i = 0; i < 8; i++) ok &= out[i] == (double)t->size * (t->size - 1) / 2 + (double)t->size * (i + c);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  double t_all = MPI_Wtime();
  for (int c = 0; c < k; c++) MPI_Allreduce(in, out, 8, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  t_all = MPI_Wtime() - t_all;
  int all_ok;
  MPI_Reduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, 0, MPI_COMM_WORLD);
  if (t->rank == 0) {
    sort_doubles(each, k);
    printf("mpitest allreduce doubles=8 calls=%d p50_us=%.2f p99_us=%.2f mean_us=%.2f verified %s\n", k,
           each[k / 2] * 1e6, each[k * 99 / 100] * 1e6, t_all * 1e6 / k, all_ok ? "OK" : "FAILED");
  }
  free(each);
}

int main(int argc, char **argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 3;
  unsigned long long ready_ns = sf_time_ns();
  struct run run = {0}, *t = &run;
  MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &t->size);
  unsigned long long crash, quit, calls;
  if (sf_arg_u64(argc, argv, "crash", (unsigned long long)-1, &crash) < 0 ||
      sf_arg_u64(argc, argv, "quit", (unsigned long long)-1, &quit) < 0 ||
      sf_arg_u64(argc, argv, "allreduce", 0, &calls) < 0 || calls > 100000)
    return 1;
  expect(argc == 1 || sf_arg_get(argc, argv, "np") == 0, "argv without np=");
  if ((unsigned long long)t->rank == crash)
    sf_panic("mpitest: rank %d crashes on purpose (crash=%llu)", t->rank, crash);
  /* Every rank's console has a line (sfmpirun's test). */
  printf("mpitest rank %d of %d ready at_ns=%llu\n", t->rank, t->size, ready_ns);
  double t0 = MPI_Wtime();
  point_to_point(t);
  if ((unsigned long long)t->rank == quit) { /* leaves mid-job without a word: the others must not wait forever */
    printf("mpitest: rank %d quits mid-job (quit=%llu)\n", t->rank, quit);
    exit(7);
  }
  collectives(t);
  int totals[2] = {t->checks, t->failed}, sums[2];
  MPI_Reduce(totals, sums, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
  if (t->rank == 0)
    printf("mpitest ranks=%d checks=%d failed=%d us=%d verified %s\n", t->size, sums[0], sums[1],
           (int)((MPI_Wtime() - t0) * 1e6), sums[1] ? "FAILED" : "OK");
  if (calls) time_allreduce(t, (int)calls);
  MPI_Finalize();
  return t->rank == 0 && sums[1] ? 1 : 0;
}
