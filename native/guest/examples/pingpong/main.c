/* pingpong — MPI latency and bandwidth between rank 0 and every other rank in turn: n round trips of 8 bytes
 * (latency = half the round trip), then reps round trips of size bytes (bandwidth counts both directions).
 * Rank 0 prints per peer:
 *   pingpong peer=P vm=V peer_vm=W lat_us=<half rtt, p50> lat_p99_us=<x> lat_mean_us=<x> clock_us=<x>
 *            bw_mbps=<MB/s> verified OK|FAILED
 * vm/peer_vm are the two ranks' vmids (equal: both ranks ran in one VM); lat_mean_us is n more round trips
 * timed as one, so the clock read (clock_us: MPI_Wtime is a hypercall) is not in it; verified: every echoed byte
 * came back intact. Args: np=ranks n=1000 size=1m reps=20. */
#include <mpi.h>
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include "common/sort_doubles.h"

SF_PROGRAM_NAME("pingpong");

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  unsigned long long n, bytes, reps;
  if (sf_arg_u64(argc, argv, "n", 1000, &n) < 0 || sf_arg_u64(argc, argv, "size", 1 << 20, &bytes) < 0 ||
      sf_arg_u64(argc, argv, "reps", 20, &reps) < 0 || n < 1 || n > 100000)
    MPI_Abort(MPI_COMM_WORLD, 1);
  unsigned char *buf = malloc(bytes), *back = malloc(bytes);
  double *rtt = malloc(n * sizeof *rtt);
  int bad = 0;
  for (int peer = 1; peer < size; peer++) {
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank != 0 && rank != peer) continue;
    unsigned peer_vm = sf_vmid();
    if (rank == peer) MPI_Send(&peer_vm, 1, MPI_UNSIGNED, 0, 3, MPI_COMM_WORLD);
    else MPI_Recv(&peer_vm, 1, MPI_UNSIGNED, peer, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    long long small = 0;
    for (unsigned long long i = 0; i < n + 10; i++) { /* the first 10 warm the path up */
      double t = MPI_Wtime();
      if (rank == 0) {
        small = (long long)i;
        MPI_Send(&small, 1, MPI_LONG_LONG, peer, 1, MPI_COMM_WORLD);
        MPI_Recv(&small, 1, MPI_LONG_LONG, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (small != (long long)i + 1) bad = 1;
        if (i >= 10) rtt[i - 10] = MPI_Wtime() - t;
      } else {
        MPI_Recv(&small, 1, MPI_LONG_LONG, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        small++;
        MPI_Send(&small, 1, MPI_LONG_LONG, 0, 1, MPI_COMM_WORLD);
      }
    }
    /* The same round trips again timed as one: no clock read inside (MPI_Wtime is a hypercall). */
    double batch = MPI_Wtime();
    for (unsigned long long i = 0; i < n; i++) {
      if (rank == 0) {
        MPI_Send(&small, 1, MPI_LONG_LONG, peer, 1, MPI_COMM_WORLD);
        MPI_Recv(&small, 1, MPI_LONG_LONG, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        MPI_Recv(&small, 1, MPI_LONG_LONG, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(&small, 1, MPI_LONG_LONG, 0, 1, MPI_COMM_WORLD);
      }
    }
    batch = MPI_Wtime() - batch;
    double t0 = MPI_Wtime();
    for (unsigned long long r = 0; r < reps; r++) {
      if (rank == 0) {
        for (unsigned long long k = 0; k < bytes; k++) buf[k] = (unsigned char)(k * 31 + r);
        MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 2, MPI_COMM_WORLD);
        MPI_Recv(back, (int)bytes, MPI_BYTE, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (memcmp(buf, back, bytes) != 0) bad = 1;
      } else {
        MPI_Recv(back, (int)bytes, MPI_BYTE, 0, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(back, (int)bytes, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
      }
    }
    double secs = MPI_Wtime() - t0;
    if (rank == 0) {
      sort_doubles(rtt, (int)n);
      double c0 = MPI_Wtime(), c1 = c0;
      for (int k = 0; k < 100; k++) c1 = MPI_Wtime();
      printf(
          "pingpong peer=%d vm=%u peer_vm=%u lat_us=%.2f lat_p99_us=%.2f lat_mean_us=%.2f clock_us=%.2f "
          "bw_mbps=%.1f verified %s\n",
          peer, sf_vmid(), peer_vm, rtt[n / 2] * 1e6 / 2, rtt[n * 99 / 100] * 1e6 / 2, batch * 1e6 / (double)n / 2,
          (c1 - c0) * 1e6 / 100, (double)(2 * bytes * reps) / secs / 1e6, bad ? "FAILED" : "OK");
    }
  }
  MPI_Finalize();
  return bad;
}
