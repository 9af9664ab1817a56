/* Host tests of libsfmpi's matching engine and reductions (lib/mpi_core.c): MPI's matching rules (earliest
 * match first, wildcards, contexts kept apart, truncation reported), the unexpected queue, and every op on
 * the types programs reduce. */
#include <mpi.h>
#include <sfguest/malloc.h>
#include <sfguest/string.h>
#include "mpi_internal.h"
#include "test.h"

static struct mpi_msg *msg(int src, int tag, int ctx, const char *text) {
  struct mpi_msg *m = malloc(sizeof *m);
  size_t n = strlen(text);
  *m = (struct mpi_msg){.src = src, .tag = tag, .ctx = ctx, .len = n, .data = n ? malloc(n) : 0};
  if (n) memcpy(m->data, text, n);
  return m;
}

static void post(struct mpi_match *m, struct mpi_request *r, char *buf, size_t cap, int src, int tag, int ctx) {
  memset(r, 0, sizeof *r);
  memset(buf, 0, cap);
  *r = (struct mpi_request){.kind = MPI_REQ_RECV, .buf = buf, .cap = cap, .src = src, .tag = tag, .ctx = ctx};
  mpi_match_post(m, r);
}

static void test_matching(void) {
  struct mpi_match m;
  struct mpi_request r, r2;
  char buf[16], buf2[16];
  mpi_match_init(&m);
  /* Unexpected messages wait in arrival order; a specific receive skips over the ones it does not match. */
  mpi_match_arrive(&m, msg(1, 5, MPI_CTX_P2P, "a1"));
  mpi_match_arrive(&m, msg(2, 7, MPI_CTX_P2P, "b2"));
  mpi_match_arrive(&m, msg(1, 7, MPI_CTX_P2P, "c3"));
  mpi_match_arrive(&m, msg(1, 7, MPI_CTX_COLL, "coll"));
  post(&m, &r, buf, sizeof buf, 1, 7, MPI_CTX_P2P);
  CHECK(r.done && strcmp(buf, "c3") == 0 && r.st.MPI_SOURCE == 1 && r.st.MPI_TAG == 7 && r.st.count_bytes == 2);
  post(&m, &r, buf, sizeof buf, MPI_ANY_SOURCE, 7, MPI_CTX_P2P);
  CHECK(r.done && strcmp(buf, "b2") == 0 && r.st.MPI_SOURCE == 2);
  post(&m, &r, buf, sizeof buf, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_CTX_P2P);
  CHECK(r.done && strcmp(buf, "a1") == 0 && r.st.MPI_TAG == 5);
  /* ANY_TAG in the program's context never takes a collective's message. */
  post(&m, &r, buf, sizeof buf, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_CTX_P2P);
  CHECK(!r.done);
  CHECK(mpi_match_probe(&m, 1, MPI_ANY_TAG, MPI_CTX_COLL) != 0);
  /* A posted receive takes the next arrival that matches; earlier posted receives go first. */
  post(&m, &r2, buf2, sizeof buf2, 3, MPI_ANY_TAG, MPI_CTX_P2P);
  mpi_match_arrive(&m, msg(3, 9, MPI_CTX_P2P, "d4"));
  CHECK(r.done && !r2.done && strcmp(buf, "d4") == 0 && r.st.MPI_SOURCE == 3 && r.st.MPI_TAG == 9);
  mpi_match_arrive(&m, msg(3, 0, MPI_CTX_P2P, "e5"));
  CHECK(r2.done && strcmp(buf2, "e5") == 0);
  /* Too long for the buffer: what fits is copied and the status says MPI_ERR_TRUNCATE. */
  mpi_match_arrive(&m, msg(4, 1, MPI_CTX_P2P, "0123456789abcdefXYZ"));
  post(&m, &r, buf, 4, 4, 1, MPI_CTX_P2P);
  CHECK(r.done && r.st.MPI_ERROR == MPI_ERR_TRUNCATE && r.st.count_bytes == 4 && memcmp(buf, "0123", 4) == 0);
  /* Zero-length messages (barriers) match like any other. */
  mpi_match_arrive(&m, msg(2, 3, MPI_CTX_COLL, ""));
  post(&m, &r, 0, 0, 2, 3, MPI_CTX_COLL);
  CHECK(r.done && r.st.count_bytes == 0 && r.st.MPI_ERROR == MPI_SUCCESS);
  /* Left: the collective message from rank 1. */
  CHECK(mpi_match_probe(&m, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_CTX_P2P) == 0);
  post(&m, &r, buf, sizeof buf, 1, MPI_ANY_TAG, MPI_CTX_COLL);
  CHECK(r.done && strcmp(buf, "coll") == 0);
  mpi_match_arrive(&m, msg(5, 1, MPI_CTX_P2P, "left"));
  mpi_match_clear(&m);
  CHECK(m.unexp == 0 && m.posted == 0);
}

static void test_ops(void) {
  int a[4] = {1, -2, 3, 4}, b[4] = {5, 6, -7, 8};
  CHECK(mpi_op_apply(MPI_SUM, MPI_INT, a, b, 4) == MPI_SUCCESS && a[0] == 6 && a[1] == 4 && a[2] == -4 && a[3] == 12);
  CHECK(mpi_op_apply(MPI_MAX, MPI_INT, a, b, 4) == MPI_SUCCESS && a[0] == 6 && a[1] == 6 && a[2] == -4 && a[3] == 12);
  CHECK(mpi_op_apply(MPI_MIN, MPI_INT, a, b, 4) == MPI_SUCCESS && a[0] == 5 && a[2] == -7);
  CHECK(mpi_op_apply(MPI_PROD, MPI_INT, a, b, 2) == MPI_SUCCESS && a[0] == 25 && a[1] == 36 && a[2] == -7);
  double x[2] = {1.5, -2.0}, y[2] = {0.25, 3.0};
  CHECK(mpi_op_apply(MPI_SUM, MPI_DOUBLE, x, y, 2) == MPI_SUCCESS && x[0] == 1.75 && x[1] == 1.0);
  CHECK(mpi_op_apply(MPI_PROD, MPI_DOUBLE, x, y, 2) == MPI_SUCCESS && x[0] == 0.4375 && x[1] == 3.0);
  CHECK(mpi_op_apply(MPI_MAX, MPI_DOUBLE, x, y, 2) == MPI_SUCCESS && x[0] == 0.4375 && x[1] == 3.0);
  CHECK(mpi_op_apply(MPI_BXOR, MPI_DOUBLE, x, y, 2) == MPI_ERR_OP);
  float f[1] = {2.5f}, g[1] = {-1.0f};
  CHECK(mpi_op_apply(MPI_MIN, MPI_FLOAT, f, g, 1) == MPI_SUCCESS && f[0] == -1.0f);
  long l[1] = {1L << 40}, k[1] = {3};
  CHECK(mpi_op_apply(MPI_SUM, MPI_LONG, l, k, 1) == MPI_SUCCESS && l[0] == (1L << 40) + 3);
  unsigned char u[2] = {0xf0, 200}, v[2] = {0x3c, 100};
  CHECK(mpi_op_apply(MPI_BXOR, MPI_BYTE, u, v, 1) == MPI_SUCCESS && u[0] == 0xcc);
  CHECK(mpi_op_apply(MPI_SUM, MPI_UNSIGNED_CHAR, u + 1, v + 1, 1) == MPI_SUCCESS && u[1] == 44); /* wraps mod 256 */
  signed char c[1] = {-3}, d[1] = {2};
  CHECK(mpi_op_apply(MPI_MAX, MPI_CHAR, c, d, 1) == MPI_SUCCESS && c[0] == 2);
  int p[2] = {1, 0}, q[2] = {1, 1};
  CHECK(mpi_op_apply(MPI_LAND, MPI_INT, p, q, 2) == MPI_SUCCESS && p[0] == 1 && p[1] == 0);
  CHECK(mpi_op_apply(MPI_LOR, MPI_INT, p, q, 2) == MPI_SUCCESS && p[1] == 1);
  CHECK(mpi_op_apply(MPI_OP_NULL, MPI_INT, p, q, 2) == MPI_ERR_OP);
  CHECK(mpi_op_apply(MPI_SUM, 0x7f04, p, q, 2) == MPI_ERR_TYPE);
  CHECK(mpi_type_size(MPI_DOUBLE) == 8 && mpi_type_size(MPI_INT) == 4 && mpi_type_size(MPI_CHAR) == 1 &&
        mpi_type_size(MPI_SHORT) == 2 && mpi_type_size(0) == 0);
}

void test_mpi(void) {
  test_matching();
  test_ops();
}
