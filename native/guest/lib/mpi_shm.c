/* libsfmpi between ranks of one VM: each rank's mailbox is its matching engine behind a spinlock, so another
 * vCPU's send is a copy of the data and an enqueue (completing a posted receive at once), with no network. */
#include <sfguest/malloc.h>
#include <sfguest/string.h>
#include "mpi_internal.h"

void mpi_mbox_init(struct mpi_mailbox *b) {
  b->lock = (sf_spinlock_t)SF_SPINLOCK_INIT;
  mpi_match_init(&b->m);
}

void mpi_mbox_arrive(struct mpi_mailbox *b, struct mpi_msg *msg) {
  sf_spin_lock(&b->lock);
  mpi_match_arrive(&b->m, msg);
  sf_spin_unlock(&b->lock);
}

int mpi_mbox_copy_in(struct mpi_mailbox *b, int src, int tag, int ctx, const void *data, size_t len) {
  /* The copy is made outside the lock: the receiver's matching is held up only for the enqueue. */
  struct mpi_msg *m = malloc(sizeof *m);
  unsigned char *d = len ? malloc(len) : 0;
  if (!m || (len && !d)) {
    free(m);
    free(d);
    return MPI_ERR_NO_MEM;
  }
  if (len) memcpy(d, data, len);
  *m = (struct mpi_msg){.src = src, .tag = tag, .ctx = ctx, .len = len, .data = d};
  mpi_mbox_arrive(b, m);
  return MPI_SUCCESS;
}

void mpi_mbox_post(struct mpi_mailbox *b, struct mpi_request *r) {
  sf_spin_lock(&b->lock);
  mpi_match_post(&b->m, r);
  sf_spin_unlock(&b->lock);
}

int mpi_mbox_probe(struct mpi_mailbox *b, int src, int tag, int ctx, MPI_Status *st) {
  sf_spin_lock(&b->lock);
  const struct mpi_msg *m = mpi_match_probe(&b->m, src, tag, ctx);
  if (m && st) *st = (MPI_Status){.MPI_SOURCE = m->src, .MPI_TAG = m->tag, .count_bytes = m->len};
  sf_spin_unlock(&b->lock);
  return m != 0;
}

void mpi_mbox_clear(struct mpi_mailbox *b) {
  sf_spin_lock(&b->lock);
  mpi_match_clear(&b->m);
  sf_spin_unlock(&b->lock);
}
