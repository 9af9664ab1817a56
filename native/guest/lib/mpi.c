/* libsfmpi's API: MPI_Init forks the job and lays the ranks out over the VMs' vCPUs, point-to-point calls
 * turn into mailbox deliveries (a rank of the same VM) or transport sends (another VM), collectives are built
 * on them (linear, through the root, combining in rank order), MPI_Finalize ends the clones and joins them.
 *
 * Processor mode (the default): the master takes a processor ticket for the ranks its own vCPUs cannot run,
 * every VM runs one rank per vCPU it was given, ranks numbered VM by VM (vmid 0's first). vCPU 0 of each VM
 * returns from MPI_Init as its first rank; the others run main() from the start on their own vCPU (their
 * MPI_Init returns at once), so ranks of one VM share its globals — see mpi.h. With `mpi=vm` in the args
 * (sfmpirun -v) each VM runs one rank on vCPU 0, rank = vmid.
 * Errors: a lost peer, a dead rank, or a failed send end the job (the clones are killed, the master exits 2)
 * with a message naming the rank: a job that cannot finish never hangs. */
#include <mpi.h>
#include <sf.h>
#include <sfguest/args.h>
#include <sfguest/malloc.h>
#include <sfguest/net.h>
#include <sfguest/smp.h>
#include <sfguest/stdio.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include <sfguest/time.h>
#include "mpi_internal.h"

#define WAIT_SLICE_MS 1         /* how long a waiting call sleeps in the network between looks */
#define DEFAULT_TIMEOUT_S 60ull /* mpi_timeout=S: a peer VM silent this long while a rank waits is dead */
#define STATUS_ABORTED 2        /* what a VM exits with when the job is aborted under it */

enum { TAG_BARRIER = 1, TAG_BCAST, TAG_REDUCE, TAG_GATHER, TAG_SCATTER };

/* One per vCPU of this VM that runs a rank (a cache line each: their owners poll them). */
struct rank_slot {
  int rank;
  int state;  /* 0 before MPI_Init, 1 running, 2 finalized */
  int status; /* a secondary's main() return */
  struct mpi_mailbox box;
} __attribute__((aligned(64)));

struct mpi_layout mpi_job;
static struct rank_slot slots[SF_MAX_VCPUS];
static int local_n = 1; /* ranks this VM runs (vCPUs 0 .. local_n-1) */
static int vm_mode;     /* one rank per VM */
static const struct mpi_transport *tx;
static char ticket[SF_TICKET_SIZE + 1];
static int have_clones;
static uint64_t t_origin;
static int main_argc;
static char **main_argv;
static volatile int aborting;

extern int main(int argc, char **argv);

static struct rank_slot *me(void) {
  unsigned c = sf_vcpu_id();
  return c < SF_MAX_VCPUS ? &slots[c] : &slots[0];
}

int mpi_my_rank(void) { return me()->rank; }

int mpi_node_of(int r) {
  int v = 0;
  while (v + 1 < mpi_job.nodes && r >= mpi_job.base[v + 1]) v++;
  return v;
}

void mpi_deliver(int dst, struct mpi_msg *msg) { mpi_mbox_arrive(&slots[dst - mpi_job.base[mpi_job.self]].box, msg); }

static const char *rank_prefix(void) {
  static char text[SF_MAX_VCPUS][16];
  unsigned c = sf_vcpu_id();
  if (c >= (unsigned)local_n) return 0;
  snprintf(text[c], sizeof text[c], "[%d] ", slots[c].rank);
  return text[c];
}

/* Ends the job from any rank: this VM's connections drop (its peers notice at once), the master kills the
 * clones and exits; a clone exits with the status. */
__attribute__((noreturn)) static void abort_job(int status) {
  if (__atomic_exchange_n(&aborting, 1, __ATOMIC_ACQ_REL)) /* another rank of this VM is at it already */
    for (;;) sf_hc_wait(1000000);
  int failed = tx ? tx->abort(me()->rank) : me()->rank;
  printf("mpi: job aborted: rank %d failed\n", failed); /* the line sfmpirun names the rank from */
  sf_flush();
  if (mpi_job.self == 0) {
    if (have_clones) sf_kill(ticket);
    exit(status);
  }
  sf_flush();
  sf_exit_status(status);
  exit(status);
}

/* exit() in a rank that has not finalized (a return from main included): its peers must not wait for it. */
static void exit_mid_job(int code) {
  struct rank_slot *s = me();
  if (s->state != 1 || aborting) return;
  printf("mpi: rank %d exits (status %d) without MPI_Finalize\n", s->rank, code);
  abort_job(code ? code : STATUS_ABORTED);
}

/* Every transport error ends the job: the rank at fault was named when it was found. */
static void progress(unsigned wait_ms) {
  if (tx->progress(wait_ms) != MPI_SUCCESS) {
    printf("mpi: rank %d: aborting the job\n", mpi_my_rank());
    abort_job(STATUS_ABORTED);
  }
}

static int check(int comm) {
  if (me()->state != 1) return MPI_ERR_NOT_INIT;
  return comm == MPI_COMM_WORLD ? MPI_SUCCESS : MPI_ERR_COMM;
}

/* Takes libsfmpi's own arguments out of argv (np=N, mpi=vm|procs, mpi_timeout=S), so the program sees only its
 * own. Exits on a malformed one. */
static unsigned long long take_args(int *argc, char ***argv, unsigned long long *timeout_s) {
  unsigned long long np = 1;
  if (!argc || !argv || !*argv) return np;
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = (*argv)[i];
    if (strncmp(a, "np=", 3) == 0) {
      if (sf_parse_u64(a + 3, &np) < 0 || np < 1) {
        printf("mpi: MPI_Init: np=%s is not a number of ranks (1 or more)\n", a + 3);
        exit(3);
      }
    } else if (strncmp(a, "mpi=", 4) == 0) {
      if (strcmp(a + 4, "vm") != 0 && strcmp(a + 4, "procs") != 0) {
        printf("mpi: MPI_Init: %s: say mpi=vm (one rank per VM) or mpi=procs (one rank per vCPU)\n", a);
        exit(3);
      }
      vm_mode = strcmp(a + 4, "vm") == 0;
    } else if (strncmp(a, "mpi_timeout=", 12) == 0) {
      if (sf_parse_u64(a + 12, timeout_s) < 0 || *timeout_s > 86400) {
        printf("mpi: MPI_Init: %s is not a number of seconds (0 = never)\n", a);
        exit(3);
      }
    } else {
      (*argv)[out++] = (*argv)[i];
      continue;
    }
  }
  (*argv)[out] = 0;
  *argc = out;
  return np;
}

/* Lays the ranks out over the VMs: this VM's first, then the ticket's clones in vmid order. 0 or an error
 * (printed). */
static int lay_out(unsigned long long np, int local0) {
  mpi_job.nodes = 1;
  mpi_job.base[0] = 0;
  mpi_job.base[1] = local0;
  if (!have_clones) return 0;
  struct sf_result *info = READ_TICKET_INFO(ticket);
  if (!info) {
    printf("mpi: MPI_Init: reading the ticket's allocation failed: %s\n", sf_errmsg());
    return -1;
  }
  int v = 1;
  for (const struct sf_clone_info *c = info->clone_list; c; c = c->next, v++) {
    if (v >= MPI_MAX_NODES || c->vmid != v) {
      printf("mpi: MPI_Init: np=%llu needs %s VMs than the %d libsfmpi connects: give the seed more vcpus\n", np,
             v >= MPI_MAX_NODES ? "more" : "other", MPI_MAX_NODES);
      FREE_SF_RES(info);
      return -1;
    }
    mpi_job.base[v + 1] = mpi_job.base[v] + (vm_mode ? 1 : c->processors);
  }
  FREE_SF_RES(info);
  mpi_job.nodes = v;
  if (mpi_job.base[v] != (int)np) {
    printf("mpi: MPI_Init: the ticket gives %d ranks, not np=%llu\n", mpi_job.base[v], np);
    return -1;
  }
  return 0;
}

/* A secondary vCPU's life as a rank: the program's main from the start (its MPI_Init sees the job running). */
static void rank_main(unsigned vcpu, void *arg) {
  (void)arg;
  if (vcpu >= (unsigned)local_n) return;
  slots[vcpu].status = main(main_argc, main_argv);
  if (slots[vcpu].state != 2) {
    printf("mpi: rank %d returned from main without MPI_Finalize\n", slots[vcpu].rank);
    abort_job(STATUS_ABORTED);
  }
}

int MPI_Init(int *argc, char ***argv) {
  struct rank_slot *self = me();
  if (sf_vcpu_id() != 0) { /* a rank started by vCPU 0's MPI_Init: the job is set up already */
    if (self->state || self != &slots[sf_vcpu_id()] || (int)sf_vcpu_id() >= local_n) return MPI_ERR_OTHER;
    self->state = 1;
    return MPI_SUCCESS;
  }
  if (self->state) return MPI_ERR_OTHER;
  unsigned long long timeout_s = DEFAULT_TIMEOUT_S;
  unsigned long long np = take_args(argc, argv, &timeout_s);
  t_origin = sf_time_ns();
  tx = &mpi_tcp_transport;
  mpi_job.size = (int)np;
  mpi_job.timeout_ms = (unsigned)(timeout_s * 1000u);
  unsigned vcpus = sf_vcpus();
  int local0 = vm_mode || np < 1 ? 1 : (int)(np < vcpus ? np : vcpus);
  if (np > (unsigned long long)local0) {
    int e = sf_net_init(0);
    if (e < 0) {
      printf("mpi: MPI_Init: the network is not up (%s): give the seed a NIC (net option)\n", sf_net_strerror(e));
      exit(3);
    }
    if (tx->prepare() != MPI_SUCCESS) exit(3);
    int want = (int)np - local0;
    struct sf_result *res = REQUEST_CLONE_TICKET(want, !vm_mode, want, 0);
    if (!res) {
      printf("mpi: MPI_Init: the reservation is short: np=%llu needs %d %s (%s)\n", np, want,
             vm_mode ? "clones" : "more processors", sf_errmsg());
      exit(3);
    }
    memcpy(ticket, res->ticket, sizeof ticket);
    FREE_SF_RES(res);
    have_clones = 1;
  }
  if (lay_out(np, local0) < 0) {
    if (have_clones) DISPOSE_TICKET(ticket);
    exit(3);
  }
  mpi_job.self = 0;
  if (have_clones) {
    int vmid = sf_clone(ticket);
    if (vmid < 0) {
      printf("mpi: MPI_Init: cloning %d VMs failed: %s\n", mpi_job.nodes - 1, sf_errmsg());
      exit(3);
    }
    mpi_job.self = vmid;
  }
  local_n = mpi_job.base[mpi_job.self + 1] - mpi_job.base[mpi_job.self];
  for (int c = 0; c < local_n; c++) {
    slots[c].rank = mpi_job.base[mpi_job.self] + c;
    mpi_mbox_init(&slots[c].box);
  }
  if (mpi_job.self > 0) {
    int e = sf_net_init(0); /* a clone asks DHCP for its own address */
    if (e < 0) printf("mpi: rank %d: no address after the fork (%s)\n", slots[0].rank, sf_net_strerror(e));
    else if (local_n > (int)sf_vcpus())
      printf("mpi: vm %d runs %u vCPUs, not the %d its ranks need\n", mpi_job.self, sf_vcpus(), local_n);
    if (e < 0 || local_n > (int)sf_vcpus()) {
      sf_flush();
      sf_exit_status(3);
    }
  }
  if (tx->start() != MPI_SUCCESS) {
    sf_flush();
    if (mpi_job.self > 0) sf_exit_status(3);
    if (have_clones) sf_kill(ticket);
    exit(3);
  }
  self->state = 1;
  sf_exit_hook = exit_mid_job;
  if (mpi_job.size > 1) sf_console_set_prefix(rank_prefix); /* lines say whose they are, as mpirun's do */
  if (local_n > 1) {
    main_argc = argc ? *argc : 0;
    main_argv = argv ? *argv : 0;
    int n = sf_vcpu_launch(rank_main, 0);
    if (n < local_n) {
      printf("mpi: vm %d started %d of the %d vCPUs its ranks need\n", mpi_job.self, n, local_n);
      abort_job(STATUS_ABORTED);
    }
  }
  return MPI_SUCCESS;
}

int MPI_Initialized(int *flag) {
  *flag = me()->state != 0;
  return MPI_SUCCESS;
}

int MPI_Finalized(int *flag) {
  *flag = me()->state == 2;
  return MPI_SUCCESS;
}

/* Who a VM runs, for the master's verdict: "rank 3" or "vm 1 (ranks 4-6)". */
static const char *vm_ranks(int v, char buf[48]) {
  int lo = mpi_job.base[v], hi = mpi_job.base[v + 1] - 1;
  if (vm_mode) snprintf(buf, 48, "rank %d", lo);
  else if (lo == hi) snprintf(buf, 48, "vm %d (rank %d)", v, lo);
  else snprintf(buf, 48, "vm %d (ranks %d-%d)", v, lo, hi);
  return buf;
}

int MPI_Finalize(void) {
  struct rank_slot *self = me();
  if (self->state != 1) return MPI_ERR_NOT_INIT;
  int e = MPI_Barrier(MPI_COMM_WORLD); /* nobody leaves while a rank may still need it */
  __atomic_store_n(&self->state, 2, __ATOMIC_RELEASE);
  if (sf_vcpu_id() != 0) return e; /* vCPU 0 ends the VM once this rank's main has returned */
  if (local_n > 1) {
    /* The other ranks still use the network until they are past the barrier: keep pumping meanwhile. */
    unsigned spins = 0;
    while (!sf_vcpu_launched_done()) {
      if (mpi_job.nodes > 1) progress(WAIT_SLICE_MS);
      else sf_cpu_wait(&spins);
    }
    for (int c = 1; c < local_n; c++)
      if (slots[c].status && e == MPI_SUCCESS) e = slots[c].status;
  }
  tx->stop();
  for (int c = 0; c < local_n; c++) mpi_mbox_clear(&slots[c].box);
  if (!have_clones) return e;
  if (mpi_job.self > 0) {
    sf_flush();
    sf_exit_status(e); /* does not return */
    return MPI_ERR_OTHER;
  }
  static struct sf_hc_exit exits[SF_MAX_ALLOC];
  int n = sf_join_results(ticket, exits, SF_MAX_ALLOC);
  have_clones = 0;
  if (n < 0 && n != -SF_ECLONE) {
    printf("mpi: MPI_Finalize: joining the ranks failed: %s\n", sf_errmsg());
    exit(2);
  }
  int bad = 0;
  for (int i = 0; i < (n < 0 ? mpi_job.nodes - 1 : n) && i < (int)SF_MAX_ALLOC; i++) {
    if (exits[i].how == SF_CLONE_EXITED && exits[i].status == 0) continue;
    char w[48];
    int v = (int)exits[i].vmid < mpi_job.nodes ? (int)exits[i].vmid : 0;
    if (exits[i].how == SF_CLONE_EXITED) printf("mpi: %s exited with status %d\n", vm_ranks(v, w), exits[i].status);
    else printf("mpi: %s %s\n", vm_ranks(v, w), exits[i].how == SF_CLONE_CRASHED ? "crashed" : "was killed");
    bad = 1;
  }
  if (bad || n == -SF_ECLONE) {
    if (!bad) printf("mpi: %s\n", sf_errmsg());
    exit(2);
  }
  return e;
}

int MPI_Abort(MPI_Comm comm, int errorcode) {
  (void)comm;
  printf("mpi: rank %d called MPI_Abort(%d)\n", mpi_my_rank(), errorcode);
  abort_job(errorcode ? errorcode : 1);
}

int MPI_Comm_rank(MPI_Comm comm, int *r) {
  int e = check(comm);
  if (e == MPI_SUCCESS) *r = me()->rank;
  return e;
}

int MPI_Comm_size(MPI_Comm comm, int *s) {
  int e = check(comm);
  if (e == MPI_SUCCESS) *s = mpi_job.size;
  return e;
}

int MPI_Get_processor_name(char *name, int *len) {
  *len = snprintf(name, MPI_MAX_PROCESSOR_NAME, "vm%d", mpi_job.self);
  return MPI_SUCCESS;
}

int MPI_Error_string(int code, char *s, int *len) {
  static const char *const names[] = {"success",      "bad buffer",       "bad count",     "bad datatype",
                                      "bad tag",      "bad communicator", "bad rank",      "bad request",
                                      "bad root",     "bad op",           "bad argument",  "message truncated",
                                      "other error",  "internal error",   "out of memory", "MPI not initialised",
                                      "network error"};
  const char *n = code >= 0 && code <= MPI_ERR_LASTCODE ? names[code] : "unknown error";
  *len = snprintf(s, 64, "%s", n);
  return MPI_SUCCESS;
}

int MPI_Type_size(MPI_Datatype t, int *s) {
  size_t n = mpi_type_size(t);
  if (!n) return MPI_ERR_TYPE;
  *s = (int)n;
  return MPI_SUCCESS;
}

double MPI_Wtime(void) { return (double)(sf_time_ns() - t_origin) * 1e-9; }
double MPI_Wtick(void) { return 1e-9; }

static int my_rank(void) { return me()->rank; }

/* ---- point to point ------------------------------------------------------------------------------------ */

static int bytes_of(int count, MPI_Datatype t, size_t *out) {
  size_t s = mpi_type_size(t);
  if (!s) return MPI_ERR_TYPE;
  if (count < 0) return MPI_ERR_COUNT;
  *out = (size_t)count * s;
  return MPI_SUCCESS;
}

static int post_send(const void *buf, size_t len, int dest, int tag, int ctx, struct mpi_request *r) {
  memset(r, 0, sizeof *r);
  r->kind = MPI_REQ_SEND;
  int node = mpi_node_of(dest);
  if (node == mpi_job.self) { /* a rank of this VM (itself included): a copy into its mailbox, done at once */
    int e = mpi_mbox_copy_in(&slots[dest - mpi_job.base[node]].box, my_rank(), tag, ctx, buf, len);
    if (e == MPI_SUCCESS) r->done = 1;
    return e;
  }
  r->hdr = (struct mpi_hdr){.src = my_rank(), .dst = dest, .tag = tag, .ctx = ctx, .len = (uint32_t)len};
  r->data = buf;
  if (tx->send(node, r) != MPI_SUCCESS) {
    printf("mpi: rank %d: aborting the job\n", my_rank());
    abort_job(STATUS_ABORTED);
  }
  return MPI_SUCCESS;
}

static void post_recv(void *buf, size_t cap, int src, int tag, int ctx, struct mpi_request *r) {
  memset(r, 0, sizeof *r);
  r->kind = MPI_REQ_RECV;
  r->buf = buf;
  r->cap = cap;
  r->src = src;
  r->tag = tag;
  r->ctx = ctx;
  mpi_mbox_post(&me()->box, r);
}

/* Waits in the network while any rank is in another VM (whoever waits pumps for the VM); with every rank in
 * this VM nothing needs pumping, and the wait is a spin that turns into short sleeps. */
static int wait_done(struct mpi_request *r) {
  unsigned spins = 0;
  while (!mpi_req_done(r)) {
    if (mpi_job.nodes > 1) progress(WAIT_SLICE_MS);
    else sf_cpu_wait(&spins);
  }
  return MPI_SUCCESS;
}

static int check_p2p(int comm, int peer, int tag, int recv) {
  int e = check(comm);
  if (e != MPI_SUCCESS) return e;
  if (peer < 0 || peer >= mpi_job.size) {
    if (!(recv && peer == MPI_ANY_SOURCE)) return MPI_ERR_RANK;
  }
  if (tag < 0 && !(recv && tag == MPI_ANY_TAG)) return MPI_ERR_TAG;
  return MPI_SUCCESS;
}

static void set_null_status(MPI_Status *st) {
  if (st) *st = (MPI_Status){.MPI_SOURCE = MPI_PROC_NULL, .MPI_TAG = MPI_ANY_TAG};
}

int MPI_Isend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm, MPI_Request *req) {
  *req = MPI_REQUEST_NULL;
  if (dest == MPI_PROC_NULL) return check(comm);
  size_t len;
  int e = check_p2p(comm, dest, tag, 0);
  if (e == MPI_SUCCESS) e = bytes_of(count, t, &len);
  if (e != MPI_SUCCESS) return e;
  struct mpi_request *r = malloc(sizeof *r);
  if (!r) return MPI_ERR_NO_MEM;
  e = post_send(buf, len, dest, tag, MPI_CTX_P2P, r);
  if (e != MPI_SUCCESS) {
    free(r);
    return e;
  }
  *req = r;
  if (!r->done) progress(0); /* start it moving now */
  return MPI_SUCCESS;
}

int MPI_Irecv(void *buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm comm, MPI_Request *req) {
  *req = MPI_REQUEST_NULL;
  if (src == MPI_PROC_NULL) return check(comm);
  size_t cap;
  int e = check_p2p(comm, src, tag, 1);
  if (e == MPI_SUCCESS) e = bytes_of(count, t, &cap);
  if (e != MPI_SUCCESS) return e;
  struct mpi_request *r = malloc(sizeof *r);
  if (!r) return MPI_ERR_NO_MEM;
  post_recv(buf, cap, src, tag, MPI_CTX_P2P, r);
  *req = r;
  return MPI_SUCCESS;
}

int MPI_Test(MPI_Request *req, int *flag, MPI_Status *st) {
  if (!*req) {
    *flag = 1;
    set_null_status(st);
    return MPI_SUCCESS;
  }
  progress(0);
  struct mpi_request *r = *req;
  *flag = mpi_req_done(r);
  if (!*flag) return MPI_SUCCESS;
  if (st && r->kind == MPI_REQ_RECV) *st = r->st;
  int e = r->kind == MPI_REQ_RECV ? r->st.MPI_ERROR : MPI_SUCCESS;
  free(r);
  *req = MPI_REQUEST_NULL;
  return e;
}

int MPI_Wait(MPI_Request *req, MPI_Status *st) {
  if (!*req) {
    set_null_status(st);
    return MPI_SUCCESS;
  }
  int e = wait_done(*req);
  if (e != MPI_SUCCESS) return e;
  int flag;
  return MPI_Test(req, &flag, st);
}

int MPI_Waitall(int count, MPI_Request reqs[], MPI_Status sts[]) {
  int first = MPI_SUCCESS;
  for (int i = 0; i < count; i++) {
    int e = MPI_Wait(&reqs[i], sts ? &sts[i] : 0);
    if (e != MPI_SUCCESS && first == MPI_SUCCESS) first = e;
  }
  return first;
}

int MPI_Send(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm) {
  MPI_Request r;
  int e = MPI_Isend(buf, count, t, dest, tag, comm, &r);
  return e == MPI_SUCCESS ? MPI_Wait(&r, 0) : e;
}

int MPI_Ssend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm) {
  return MPI_Send(buf, count, t, dest, tag, comm);
}

int MPI_Recv(void *buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm comm, MPI_Status *st) {
  MPI_Request r;
  int e = MPI_Irecv(buf, count, t, src, tag, comm, &r);
  if (e == MPI_SUCCESS && !r) set_null_status(st);
  return e == MPI_SUCCESS ? MPI_Wait(&r, st) : e;
}

int MPI_Sendrecv(const void *sbuf, int scount, MPI_Datatype stype, int dest, int stag, void *rbuf, int rcount,
                 MPI_Datatype rtype, int src, int rtag, MPI_Comm comm, MPI_Status *st) {
  MPI_Request r[2];
  int e = MPI_Irecv(rbuf, rcount, rtype, src, rtag, comm, &r[0]);
  if (e != MPI_SUCCESS) return e;
  e = MPI_Isend(sbuf, scount, stype, dest, stag, comm, &r[1]);
  if (e != MPI_SUCCESS) return e;
  int e2 = MPI_Wait(&r[1], 0);
  e = MPI_Wait(&r[0], st);
  return e != MPI_SUCCESS ? e : e2;
}

int MPI_Iprobe(int src, int tag, MPI_Comm comm, int *flag, MPI_Status *st) {
  int e = check_p2p(comm, src, tag, 1);
  if (e != MPI_SUCCESS) return e;
  progress(0);
  MPI_Status found;
  *flag = mpi_mbox_probe(&me()->box, src, tag, MPI_CTX_P2P, &found);
  if (*flag && st) *st = found;
  return MPI_SUCCESS;
}

int MPI_Probe(int src, int tag, MPI_Comm comm, MPI_Status *st) {
  for (;;) {
    int flag, e = MPI_Iprobe(src, tag, comm, &flag, st);
    if (e != MPI_SUCCESS || flag) return e;
    progress(WAIT_SLICE_MS);
  }
}

int MPI_Get_count(const MPI_Status *st, MPI_Datatype t, int *count) {
  size_t s = mpi_type_size(t);
  if (!s) return MPI_ERR_TYPE;
  *count = st->count_bytes % s ? MPI_UNDEFINED : (int)(st->count_bytes / s);
  return MPI_SUCCESS;
}

/* ---- collectives: every rank calls them in the same order, so per-pair ordering keeps them apart ---- */

static int coll_send(const void *buf, size_t len, int dest, int tag) {
  struct mpi_request r;
  int e = post_send(buf, len, dest, tag, MPI_CTX_COLL, &r);
  return e == MPI_SUCCESS ? wait_done(&r) : e;
}

static int coll_recv(void *buf, size_t len, int src, int tag) {
  struct mpi_request r;
  post_recv(buf, len, src, tag, MPI_CTX_COLL, &r);
  int e = wait_done(&r);
  if (e == MPI_SUCCESS && r.st.count_bytes != len) e = MPI_ERR_TRUNCATE; /* the ranks disagree on the count */
  return e;
}

/* The root sends to every other rank; all sends are queued before any is waited for. */
static int fan_out(const void *buf, size_t piece, int per_rank, int root, int tag) {
  if (my_rank() != root) return MPI_SUCCESS;
  struct mpi_request *rs = calloc((size_t)mpi_job.size, sizeof *rs);
  if (!rs) return MPI_ERR_NO_MEM;
  int e = MPI_SUCCESS;
  for (int r = 0; r < mpi_job.size && e == MPI_SUCCESS; r++)
    if (r != root)
      e = post_send((const unsigned char *)buf + (per_rank ? (size_t)r * piece : 0), piece, r, tag, MPI_CTX_COLL,
                    &rs[r]);
  for (int r = 0; r < mpi_job.size && e == MPI_SUCCESS; r++)
    if (r != root) e = wait_done(&rs[r]);
  free(rs);
  return e;
}

int MPI_Barrier(MPI_Comm comm) {
  int e = check(comm);
  if (e != MPI_SUCCESS || mpi_job.size == 1) return e;
  if (my_rank() != 0) {
    e = coll_send(0, 0, 0, TAG_BARRIER);
    return e == MPI_SUCCESS ? coll_recv(0, 0, 0, TAG_BARRIER) : e;
  }
  for (int r = 1; r < mpi_job.size && e == MPI_SUCCESS; r++) e = coll_recv(0, 0, r, TAG_BARRIER);
  return e == MPI_SUCCESS ? fan_out(0, 0, 0, 0, TAG_BARRIER) : e;
}

static int check_root(MPI_Comm comm, int root) {
  int e = check(comm);
  if (e == MPI_SUCCESS && (root < 0 || root >= mpi_job.size)) e = MPI_ERR_ROOT;
  return e;
}

int MPI_Bcast(void *buf, int count, MPI_Datatype t, int root, MPI_Comm comm) {
  size_t len;
  int e = check_root(comm, root);
  if (e == MPI_SUCCESS) e = bytes_of(count, t, &len);
  if (e != MPI_SUCCESS || mpi_job.size == 1) return e;
  return my_rank() == root ? fan_out(buf, len, 0, root, TAG_BCAST) : coll_recv(buf, len, root, TAG_BCAST);
}

int MPI_Reduce(const void *sbuf, void *rbuf, int count, MPI_Datatype t, MPI_Op op, int root, MPI_Comm comm) {
  size_t len;
  int e = check_root(comm, root);
  if (e == MPI_SUCCESS) e = bytes_of(count, t, &len);
  if (e == MPI_SUCCESS && count > 0)
    e = mpi_op_apply(op, t, rbuf ? rbuf : (void *)sbuf, sbuf, 0); /* validates op/type */
  if (e != MPI_SUCCESS) return e;
  if (my_rank() != root) return coll_send(sbuf, len, root, TAG_REDUCE);
  /* Rank order whoever the root is: rank 0's contribution first, then each next one folded in. */
  unsigned char *own = 0, *tmp = malloc(len ? len : 1);
  if (sbuf == MPI_IN_PLACE && (own = malloc(len ? len : 1)) != 0) memcpy(own, rbuf, len);
  const void *mine = sbuf == MPI_IN_PLACE ? own : sbuf;
  if (!tmp || !mine) e = MPI_ERR_NO_MEM;
  for (int r = 0; r < mpi_job.size && e == MPI_SUCCESS; r++) {
    const void *in = mine;
    if (r != root) {
      e = coll_recv(tmp, len, r, TAG_REDUCE);
      in = tmp;
    }
    if (e != MPI_SUCCESS) break;
    if (r == 0) memmove(rbuf, in, len);
    else e = mpi_op_apply(op, t, rbuf, in, count);
  }
  free(tmp);
  free(own);
  return e;
}

int MPI_Allreduce(const void *sbuf, void *rbuf, int count, MPI_Datatype t, MPI_Op op, MPI_Comm comm) {
  int e = MPI_Reduce(my_rank() == 0 ? sbuf : (sbuf == MPI_IN_PLACE ? rbuf : sbuf), rbuf, count, t, op, 0, comm);
  return e == MPI_SUCCESS ? MPI_Bcast(rbuf, count, t, 0, comm) : e;
}

int MPI_Gather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype, int root,
               MPI_Comm comm) {
  size_t slen = 0, rlen = 0;
  int e = check_root(comm, root);
  if (e == MPI_SUCCESS && sbuf != MPI_IN_PLACE) e = bytes_of(scount, stype, &slen);
  if (e == MPI_SUCCESS && my_rank() == root) e = bytes_of(rcount, rtype, &rlen);
  if (e != MPI_SUCCESS) return e;
  if (my_rank() != root) return coll_send(sbuf, slen, root, TAG_GATHER);
  unsigned char *out = rbuf;
  for (int r = 0; r < mpi_job.size && e == MPI_SUCCESS; r++) {
    if (r != root) e = coll_recv(out + (size_t)r * rlen, rlen, r, TAG_GATHER);
    else if (sbuf != MPI_IN_PLACE) memmove(out + (size_t)r * rlen, sbuf, rlen);
  }
  return e;
}

int MPI_Allgather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype,
                  MPI_Comm comm) {
  const void *s = sbuf;
  if (sbuf == MPI_IN_PLACE && my_rank() != 0) { /* this rank's piece is already in place in rbuf */
    size_t rlen;
    int e = bytes_of(rcount, rtype, &rlen);
    if (e != MPI_SUCCESS) return e;
    s = (unsigned char *)rbuf + (size_t)my_rank() * rlen;
    scount = rcount;
    stype = rtype;
  }
  int e = MPI_Gather(s, scount, stype, rbuf, rcount, rtype, 0, comm);
  return e == MPI_SUCCESS ? MPI_Bcast(rbuf, rcount * mpi_job.size, rtype, 0, comm) : e;
}

int MPI_Scatter(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype, int root,
                MPI_Comm comm) {
  size_t slen = 0, rlen = 0;
  int e = check_root(comm, root);
  if (e == MPI_SUCCESS && my_rank() == root) e = bytes_of(scount, stype, &slen);
  if (e == MPI_SUCCESS && rbuf != MPI_IN_PLACE) e = bytes_of(rcount, rtype, &rlen);
  if (e != MPI_SUCCESS) return e;
  if (my_rank() != root) return coll_recv(rbuf, rlen, root, TAG_SCATTER);
  if (rbuf != MPI_IN_PLACE) memmove(rbuf, (const unsigned char *)sbuf + (size_t)root * slen, slen);
  return fan_out(sbuf, slen, 1, root, TAG_SCATTER);
}
