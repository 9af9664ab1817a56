/* Host tests of libsfmpi's shared-memory queue (lib/mpi_shm.c), the mailbox through which ranks of one VM hand
 * each other messages: the copy is the sender's to reuse at once, posted receives complete from the sender's
 * side, and with several senders on real threads at once nothing is lost, torn or reordered between a pair. */
#include <mpi.h>
#include <sfguest/malloc.h>
#include <sfguest/smp.h>
#include <sfguest/string.h>
#include "host_threads.h"
#include "mpi_internal.h"
#include "test.h"

static void test_copy_and_match(void) {
  struct mpi_mailbox box;
  mpi_mbox_init(&box);
  char text[8] = "hello", got[8] = {0};
  CHECK(mpi_mbox_copy_in(&box, 3, 9, MPI_CTX_P2P, text, 6) == MPI_SUCCESS);
  memcpy(text, "XXXXX", 6); /* the sender reuses its buffer: the queued copy must not change */
  MPI_Status st;
  CHECK(mpi_mbox_probe(&box, MPI_ANY_SOURCE, 9, MPI_CTX_P2P, &st) && st.MPI_SOURCE == 3 && st.count_bytes == 6);
  CHECK(!mpi_mbox_probe(&box, 3, 9, MPI_CTX_COLL, 0)); /* collectives never see the program's messages */
  struct mpi_request r = {.kind = MPI_REQ_RECV, .buf = got, .cap = sizeof got, .src = 3, .tag = 9, .ctx = MPI_CTX_P2P};
  mpi_mbox_post(&box, &r);
  CHECK(mpi_req_done(&r) && strcmp(got, "hello") == 0 && r.st.MPI_TAG == 9);
  /* Posted first: the sender's delivery completes it. */
  struct mpi_request w = {.kind = MPI_REQ_RECV, .buf = got, .cap = 2, .src = MPI_ANY_SOURCE, .tag = MPI_ANY_TAG};
  mpi_mbox_post(&box, &w);
  CHECK(!mpi_req_done(&w));
  CHECK(mpi_mbox_copy_in(&box, 1, 4, MPI_CTX_P2P, "abc", 3) == MPI_SUCCESS);
  CHECK(mpi_req_done(&w) && w.st.MPI_SOURCE == 1 && w.st.MPI_ERROR == MPI_ERR_TRUNCATE && w.st.count_bytes == 2);
  CHECK(mpi_mbox_copy_in(&box, 0, 0, MPI_CTX_P2P, 0, 0) == MPI_SUCCESS); /* an empty message is a message */
  CHECK(mpi_mbox_probe(&box, 0, 0, MPI_CTX_P2P, &st) && st.count_bytes == 0);
  mpi_mbox_clear(&box);
  CHECK(!mpi_mbox_probe(&box, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_CTX_P2P, 0));
}

/* Thread 0 receives; threads 1..SENDERS send PER messages each, numbered, to it at once; receives are posted
 * before or after their messages come, as the threads race. */
enum { SENDERS = 3, PER = 2000 };
struct race {
  struct mpi_mailbox box;
  int bad_order, bad_data, received;
};

static void race_thread(int id, void *arg) {
  struct race *r = arg;
  if (id > 0) {
    for (int i = 0; i < PER; i++) {
      int payload[4] = {id, i, id * 1000 + i, ~i};
      mpi_mbox_copy_in(&r->box, id, i % 7, MPI_CTX_P2P, payload, sizeof payload);
    }
    return;
  }
  int next[SENDERS + 1] = {0};
  for (int k = 0; k < SENDERS * PER; k++) {
    int src = 1 + k % SENDERS, payload[4];
    /* Sources in turn, any tag: each source's messages must come in the order sent, whatever the others do. */
    struct mpi_request q = {.kind = MPI_REQ_RECV,
                            .buf = payload,
                            .cap = sizeof payload,
                            .src = src,
                            .tag = MPI_ANY_TAG,
                            .ctx = MPI_CTX_P2P};
    mpi_mbox_post(&r->box, &q);
    unsigned spins = 0;
    while (!mpi_req_done(&q)) sf_cpu_wait(&spins);
    int from = q.st.MPI_SOURCE;
    if (from < 1 || from > SENDERS || payload[0] != from || payload[2] != from * 1000 + payload[1] ||
        payload[3] != ~payload[1] || q.st.MPI_TAG != payload[1] % 7)
      r->bad_data++;
    else if (payload[1] != next[from]++) r->bad_order++;
    r->received++;
  }
}

static void test_senders_race(void) {
  struct race *r = malloc(sizeof *r);
  memset(r, 0, sizeof *r);
  mpi_mbox_init(&r->box);
  CHECK(host_run_threads(SENDERS + 1, race_thread, r) == SENDERS + 1);
  CHECKF(r->received == SENDERS * PER && r->bad_data == 0 && r->bad_order == 0,
         "received %d, bad data %d, out of order %d", r->received, r->bad_data, r->bad_order);
  CHECK(!mpi_mbox_probe(&r->box, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_CTX_P2P, 0));
  free(r);
}

void test_mpi_shm(void) {
  test_copy_and_match();
  test_senders_race();
}
