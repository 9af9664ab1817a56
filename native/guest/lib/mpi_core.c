/* libsfmpi's matching engine and reduction ops: which receive takes which message (MPI's rules: a posted
 * receive matches by source, tag and context, wildcards allowed, earliest first), and the arithmetic of
 * MPI_Reduce. No I/O here, so the host tests run it as is. */
#include <sfguest/malloc.h>
#include <sfguest/string.h>
#include "mpi_internal.h"

void mpi_match_init(struct mpi_match *m) {
  m->unexp = 0;
  m->unexp_tail = &m->unexp;
  m->posted = 0;
  m->posted_tail = &m->posted;
}

static int matches(int want_src, int want_tag, int want_ctx, int src, int tag, int ctx) {
  return ctx == want_ctx && (want_src == MPI_ANY_SOURCE || want_src == src) &&
         (want_tag == MPI_ANY_TAG || want_tag == tag);
}

static void complete(struct mpi_request *r, const struct mpi_msg *msg) {
  size_t n = msg->len < r->cap ? msg->len : r->cap;
  if (n) memcpy(r->buf, msg->data, n);
  r->st.MPI_SOURCE = msg->src;
  r->st.MPI_TAG = msg->tag;
  r->st.MPI_ERROR = msg->len > r->cap ? MPI_ERR_TRUNCATE : MPI_SUCCESS;
  r->st.count_bytes = n;
  __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE); /* last: the owner may be polling from its vCPU */
}

static void free_msg(struct mpi_msg *msg) {
  free(msg->data);
  free(msg);
}

void mpi_match_arrive(struct mpi_match *m, struct mpi_msg *msg) {
  for (struct mpi_request **p = &m->posted; *p; p = &(*p)->next) {
    struct mpi_request *r = *p;
    if (!matches(r->src, r->tag, r->ctx, msg->src, msg->tag, msg->ctx)) continue;
    *p = r->next;
    if (!*p) m->posted_tail = p;
    r->next = 0;
    complete(r, msg);
    free_msg(msg);
    return;
  }
  msg->next = 0;
  *m->unexp_tail = msg;
  m->unexp_tail = &msg->next;
}

void mpi_match_post(struct mpi_match *m, struct mpi_request *r) {
  for (struct mpi_msg **p = &m->unexp; *p; p = &(*p)->next) {
    struct mpi_msg *msg = *p;
    if (!matches(r->src, r->tag, r->ctx, msg->src, msg->tag, msg->ctx)) continue;
    *p = msg->next;
    if (!*p) m->unexp_tail = p;
    complete(r, msg);
    free_msg(msg);
    return;
  }
  r->next = 0;
  r->done = 0;
  *m->posted_tail = r;
  m->posted_tail = &r->next;
}

const struct mpi_msg *mpi_match_probe(const struct mpi_match *m, int src, int tag, int ctx) {
  for (const struct mpi_msg *msg = m->unexp; msg; msg = msg->next)
    if (matches(src, tag, ctx, msg->src, msg->tag, msg->ctx)) return msg;
  return 0;
}

void mpi_match_clear(struct mpi_match *m) {
  while (m->unexp) {
    struct mpi_msg *next = m->unexp->next;
    free_msg(m->unexp);
    m->unexp = next;
  }
  mpi_match_init(m);
}

size_t mpi_type_size(MPI_Datatype t) {
  unsigned kind = ((unsigned)t >> 8) & 0xff, size = (unsigned)t & 0xff;
  return kind >= 1 && kind <= 13 && (size == 1 || size == 2 || size == 4 || size == 8) ? size : 0;
}

/* One loop per (C type, op); the integer ops also do the logical and bitwise ones. */
#define ARITH(T)                                            \
  do {                                                      \
    T *a = (T *)acc;                                        \
    const T *b = (const T *)in;                             \
    switch (op) {                                           \
      case MPI_SUM:                                         \
        for (int i = 0; i < count; i++) a[i] = a[i] + b[i]; \
        break;                                              \
      case MPI_PROD:                                        \
        for (int i = 0; i < count; i++) a[i] = a[i] * b[i]; \
        break;                                              \
      case MPI_MAX:                                         \
        for (int i = 0; i < count; i++)                     \
          if (b[i] > a[i]) a[i] = b[i];                     \
        break;                                              \
      case MPI_MIN:                                         \
        for (int i = 0; i < count; i++)                     \
          if (b[i] < a[i]) a[i] = b[i];                     \
        break;                                              \
      default: goto other;                                  \
    }                                                       \
    return MPI_SUCCESS;                                     \
  } while (0)
#define BITS(T)                                              \
  do {                                                       \
    T *a = (T *)acc;                                         \
    const T *b = (const T *)in;                              \
    switch (op) {                                            \
      case MPI_LAND:                                         \
        for (int i = 0; i < count; i++) a[i] = a[i] && b[i]; \
        break;                                               \
      case MPI_LOR:                                          \
        for (int i = 0; i < count; i++) a[i] = a[i] || b[i]; \
        break;                                               \
      case MPI_BAND:                                         \
        for (int i = 0; i < count; i++) a[i] = a[i] & b[i];  \
        break;                                               \
      case MPI_BOR:                                          \
        for (int i = 0; i < count; i++) a[i] = a[i] | b[i];  \
        break;                                               \
      case MPI_BXOR:                                         \
        for (int i = 0; i < count; i++) a[i] = a[i] ^ b[i];  \
        break;                                               \
      default: return MPI_ERR_OP;                            \
    }                                                        \
    return MPI_SUCCESS;                                      \
  } while (0)
#define INTEGER(T) \
  ARITH(T);        \
  other:           \
  BITS(T)

static int op_i8(MPI_Op op, void *acc, const void *in, int count) { INTEGER(signed char); }
static int op_u8(MPI_Op op, void *acc, const void *in, int count) { INTEGER(unsigned char); }
static int op_i16(MPI_Op op, void *acc, const void *in, int count) { INTEGER(short); }
static int op_u16(MPI_Op op, void *acc, const void *in, int count) { INTEGER(unsigned short); }
static int op_i32(MPI_Op op, void *acc, const void *in, int count) { INTEGER(int); }
static int op_u32(MPI_Op op, void *acc, const void *in, int count) { INTEGER(unsigned); }
static int op_i64(MPI_Op op, void *acc, const void *in, int count) { INTEGER(long long); }
static int op_u64(MPI_Op op, void *acc, const void *in, int count) { INTEGER(unsigned long long); }
static int op_f32(MPI_Op op, void *acc, const void *in, int count) {
  ARITH(float);
other:
  return MPI_ERR_OP;
}
static int op_f64(MPI_Op op, void *acc, const void *in, int count) {
  ARITH(double);
other:
  return MPI_ERR_OP;
}

int mpi_op_apply(MPI_Op op, MPI_Datatype t, void *acc, const void *in, int count) {
  if (op < MPI_SUM || op > MPI_BXOR) return MPI_ERR_OP;
  if (!mpi_type_size(t)) return MPI_ERR_TYPE;
  switch (t) {
    case MPI_CHAR: return op_i8(op, acc, in, count);
    case MPI_UNSIGNED_CHAR:
    case MPI_BYTE: return op_u8(op, acc, in, count);
    case MPI_SHORT: return op_i16(op, acc, in, count);
    case MPI_UNSIGNED_SHORT: return op_u16(op, acc, in, count);
    case MPI_INT: return op_i32(op, acc, in, count);
    case MPI_UNSIGNED: return op_u32(op, acc, in, count);
    case MPI_LONG:
    case MPI_LONG_LONG: return op_i64(op, acc, in, count);
    case MPI_UNSIGNED_LONG:
    case MPI_UNSIGNED_LONG_LONG: return op_u64(op, acc, in, count);
    case MPI_FLOAT: return op_f32(op, acc, in, count);
    case MPI_DOUBLE: return op_f64(op, acc, in, count);
    default: return MPI_ERR_TYPE;
  }
}
