/* The inside of libsfmpi: the matching engine (mpi_core.c: posted receives, unexpected messages, reduction
 * ops — pure, host-tested), each rank's locked mailbox around it (mpi_shm.c: how ranks of one VM hand each
 * other messages), the job's layout (which VM runs which ranks) and the transport between VMs (mpi_tcp.c). */
#ifndef SFGUEST_MPI_INTERNAL_H
#define SFGUEST_MPI_INTERNAL_H

#include <mpi.h>
#include <sfguest/smp.h>
#include <stddef.h>
#include <stdint.h>

/* Contexts keep collective traffic out of reach of the program's receives (MPI_ANY_TAG included); CTRL frames
 * are the transport's own (heartbeat, goodbye) and never reach a mailbox. */
#define MPI_CTX_P2P 0
#define MPI_CTX_COLL 1
#define MPI_CTX_CTRL 2

/* What goes before every message on a connection (host byte order: every rank runs on x86-64). A connection
 * joins two VMs, so the header names both ranks; the receiver checks them against the sender's VM. */
struct mpi_hdr {
  int32_t src, dst, tag, ctx;
  uint32_t len;
};

/* A received message nobody was waiting for yet. */
struct mpi_msg {
  struct mpi_msg *next;
  int src, tag, ctx;
  size_t len;
  unsigned char *data; /* malloc'd (NULL when len is 0); freed when a receive takes it */
};

enum { MPI_REQ_SEND = 1, MPI_REQ_RECV = 2 };

struct mpi_request {
  struct mpi_request *next; /* in the posted-receive list, or a peer's send queue */
  int kind;
  int done;          /* set last, with release order: another vCPU may complete the request (mpi_req_done reads it) */
  int src, tag, ctx; /* receive: what it matches (src/tag may be MPI_ANY_*) */
  void *buf;
  size_t cap; /* receive: buffer bytes */
  MPI_Status st;
  /* send: the frame still to hand to the transport */
  struct mpi_hdr hdr;
  const unsigned char *data;
  size_t sent; /* bytes of header + data handed over so far */
};

static inline int mpi_req_done(const struct mpi_request *r) { return __atomic_load_n(&r->done, __ATOMIC_ACQUIRE); }

struct mpi_match {
  struct mpi_msg *unexp, **unexp_tail;
  struct mpi_request *posted, **posted_tail;
};

void mpi_match_init(struct mpi_match *m);
/* A whole message arrived: the first posted receive that matches takes it (copied, completed; the message is
 * freed), else it joins the unexpected queue in arrival order. */
void mpi_match_arrive(struct mpi_match *m, struct mpi_msg *msg);
/* A receive was posted: the first unexpected message that matches completes it at once, else it waits. */
void mpi_match_post(struct mpi_match *m, struct mpi_request *r);
/* The first unexpected message matching (src, tag, ctx), left queued; NULL if none. */
const struct mpi_msg *mpi_match_probe(const struct mpi_match *m, int src, int tag, int ctx);
/* Drops every queued message and forgets posted receives (MPI_Finalize). */
void mpi_match_clear(struct mpi_match *m);

/* A rank's mailbox: its matching engine behind a spinlock. The owner posts receives into it while the other
 * ranks of its VM (each on its own vCPU) and the network pump deliver into it: this lock-protected queue is
 * the whole shared-memory transport, a send to a rank in the same VM is one copy and one enqueue. */
struct mpi_mailbox {
  sf_spinlock_t lock;
  struct mpi_match m;
};
void mpi_mbox_init(struct mpi_mailbox *b);
void mpi_mbox_arrive(struct mpi_mailbox *b, struct mpi_msg *msg);
/* Copies len bytes into a new message from src and delivers it: MPI_SUCCESS or MPI_ERR_NO_MEM. */
int mpi_mbox_copy_in(struct mpi_mailbox *b, int src, int tag, int ctx, const void *data, size_t len);
void mpi_mbox_post(struct mpi_mailbox *b, struct mpi_request *r);
/* 1 and *st filled (source, tag, bytes) when a message matching (src, tag, ctx) is queued, else 0. */
int mpi_mbox_probe(struct mpi_mailbox *b, int src, int tag, int ctx, MPI_Status *st);
void mpi_mbox_clear(struct mpi_mailbox *b);

/* Bytes of one element, 0 for an unknown type. */
size_t mpi_type_size(MPI_Datatype t);
/* acc[i] = acc[i] op in[i] for count elements: MPI_SUCCESS, MPI_ERR_TYPE or MPI_ERR_OP (bitwise ops on floats). */
int mpi_op_apply(MPI_Op op, MPI_Datatype t, void *acc, const void *in, int count);

/* The job's layout, fixed in the master before the fork (clones inherit it): ranks are numbered VM by VM, the
 * ranks of vmid 0 first, then vmid 1's, ..., and inside a VM by vCPU. VM v runs ranks base[v] .. base[v+1]-1;
 * rank base[v] + c runs on its vCPU c. With one rank per VM (sfmpirun -v) rank = vmid. */
#define MPI_MAX_NODES 24 /* VMs in a job: each holds a socket per peer VM and a listener (SF_NET_MAX_SOCKETS) */
struct mpi_layout {
  int nodes, size;
  int base[MPI_MAX_NODES + 1];
  int self;            /* this VM's vmid */
  unsigned timeout_ms; /* a peer VM silent this long while a rank waits is taken for dead (0: never) */
};
extern struct mpi_layout mpi_job;
/* The VM (vmid) that runs a rank. */
int mpi_node_of(int rank);

/* A transport moves framed messages between VMs. send queues a send request for a rank of another VM (the
 * transport completes it once the bytes are handed over; the data is not copied before); progress moves bytes
 * both ways, hands whole messages to mpi_deliver, and sleeps up to wait_ms when nothing moved. Any vCPU may
 * call send and progress: the transport serialises them (lwIP is single-threaded). They return MPI_SUCCESS or
 * MPI_ERR_NET after printing which rank's VM failed; abort then tells every peer which rank ended the job and
 * drops the connections at once, so that no peer waits for this VM. */
struct mpi_transport {
  int (*prepare)(void); /* in the master, before the fork */
  int (*start)(void);
  int (*send)(int node, struct mpi_request *r);
  int (*progress)(unsigned wait_ms);
  void (*stop)(void);
  int (*abort)(int me); /* returns the rank at fault it told the peers: the one it found gone, else me */
};
extern const struct mpi_transport mpi_tcp_transport;
/* mpi.c: where transports hand received messages (dst: a rank of this VM, already checked). */
void mpi_deliver(int dst, struct mpi_msg *msg);
/* mpi.c: the calling vCPU's rank, for messages. */
int mpi_my_rank(void);

#endif /* SFGUEST_MPI_INTERNAL_H */
