/* libsfmpi's transport between VMs: a full TCP mesh over the cluster network, one connection per pair of VMs
 * (vmid v is host v+1 of the subnet), carrying framed messages (struct mpi_hdr + data) for any of their ranks.
 * lwIP runs NO_SYS (one thread, global state), so every call into it is made under one lock, net_lock: whichever
 * rank of the VM is waiting takes it and pumps for all of them (a trylock; the others sleep on their own
 * requests). That keeps the network moving while the VM's other ranks compute, which a fixed pump vCPU would
 * not. Never blocks inside lwIP: sends go out as the send buffers take them while receives keep draining.
 * A peer that is gone is noticed within a bound: its connection closing without a goodbye frame, or silence
 * past mpi_job.timeout_ms while a rank waits (each pump sends a heartbeat a second). */
#include <sfguest/hypercall.h>
#include <sfguest/malloc.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/time.h>
#include "mpi_internal.h"

#define MPI_TCP_PORT 7300
#define HELLO_MAGIC 0x4d504932u /* "MPI2": a connection per pair of VMs */
#define CONNECT_WAIT_MS 60000u  /* a clone may still be asking DHCP for its address */
#define BEAT_NS 1000000000ull
#define CTRL_BEAT 1
#define CTRL_BYE 2
#define CTRL_ABORT 3 /* the job is over: src names the rank that ended it */

struct peer {
  int sock;                                /* -1: none (this VM) */
  struct mpi_request *sendq, **sendq_tail; /* under q_lock: any vCPU appends, the pump takes from the head */
  /* the message being read: its header, then its data */
  struct mpi_hdr hdr;
  size_t hdr_got;
  struct mpi_msg *msg;
  size_t data_got;
  int closed; /* end of stream seen */
  int bye;    /* its goodbye frame came: it finalized, so the end of stream is expected */
  uint64_t heard_ns;
  uint64_t beat_ns;
  struct mpi_request beat, farewell; /* the transport's own frames, queued like sends */
};

static struct peer peers[MPI_MAX_NODES];
static int listener = -1;
static sf_spinlock_t net_lock = SF_SPINLOCK_INIT, q_lock = SF_SPINLOCK_INIT;
/* Set by a vCPU that must have the network to itself (an abort): pumpers, which would otherwise take net_lock
 * back the moment they let it go, stand aside until it has. */
static volatile int net_claimed;
static uint64_t last_pump_ns;
/* The rank this VM holds responsible for the job's end: the first rank of a VM found gone, or the one an abort
 * frame named. Passed on in this VM's own abort frames, so the master names the rank that started it. */
static int culprit = -1;

static uint32_t node_ip(int v) { return (sf_ip() & sf_netmask()) + (uint32_t)v + 1u; }

/* "ranks 4-6 (vm 1)": who a VM is, for messages. */
static const char *who(int v, char buf[48]) {
  int lo = mpi_job.base[v], hi = mpi_job.base[v + 1] - 1;
  if (lo == hi) snprintf(buf, 48, "rank %d (vm %d)", lo, v);
  else snprintf(buf, 48, "ranks %d-%d (vm %d)", lo, hi, v);
  return buf;
}

static int fail(int v, const char *what, long code) {
  char w[48];
  if (culprit < 0 && v >= 0) culprit = mpi_job.base[v];
  printf("mpi: rank %d: %s %s: %s\n", mpi_my_rank(), what, v >= 0 ? who(v, w) : "a peer",
         code < 0 ? sf_net_strerror((int)code) : "closed");
  return MPI_ERR_NET;
}

/* Reads exactly len bytes (set-up only: waits). */
static int read_full(int s, void *buf, size_t len) {
  for (size_t got = 0; got < len;) {
    long n = sf_recv(s, (unsigned char *)buf + got, len - got);
    if (n <= 0) return n < 0 ? (int)n : -SF_NET_ECONNRESET;
    got += (size_t)n;
  }
  return 0;
}

static int connect_to(int v) {
  uint64_t start = sf_time_ns(), next_note_s = 10;
  long err = 0;
  while ((sf_time_ns() - start) / 1000000u < CONNECT_WAIT_MS) {
    int s = sf_socket(SF_SOCK_STREAM);
    if (s < 0) return fail(v, "no socket for", s);
    sf_set_timeout(s, 1000);
    err = sf_connect(s, node_ip(v), MPI_TCP_PORT);
    if (err == 0) {
      uint32_t hello[2] = {HELLO_MAGIC, (uint32_t)mpi_job.self};
      err = sf_send(s, hello, sizeof hello);
      if (err == (long)sizeof hello) {
        sf_set_timeout(s, 0);
        peers[v].sock = s;
        return MPI_SUCCESS;
      }
    }
    sf_close(s);
    sf_net_wait(50); /* refused or unanswered: the peer is not listening yet */
    uint64_t waited_s = (sf_time_ns() - start) / 1000000000u;
    if (waited_s >= next_note_s) { /* a silent hang is the worst way to fail: say what is slow */
      char me[16], to[16], w[48];
      printf("mpi: vm %d (%s): still connecting to %s (%s) after %llu s (%s)\n", mpi_job.self,
             sf_ip_format(sf_ip(), me), who(v, w), sf_ip_format(node_ip(v), to), (unsigned long long)waited_s,
             sf_net_strerror((int)err));
      next_note_s += 10;
    }
  }
  return fail(v, "cannot connect to", err ? err : -SF_NET_ETIMEDOUT);
}

static int accept_one(void) {
  int c = sf_accept(listener, 0, 0);
  if (c < 0) return fail(-1, "no connection from", c);
  uint32_t hello[2];
  sf_set_timeout(c, 10000);
  int e = read_full(c, hello, sizeof hello);
  if (e < 0 || hello[0] != HELLO_MAGIC || hello[1] >= (uint32_t)mpi_job.nodes || (int)hello[1] <= mpi_job.self ||
      peers[hello[1]].sock >= 0) {
    sf_close(c);
    return fail(-1, "a bad hello from", e < 0 ? e : -SF_NET_EINVAL);
  }
  sf_set_timeout(c, 0);
  peers[hello[1]].sock = c;
  return MPI_SUCCESS;
}

/* Lower vmids are dialled, higher ones accepted (lwIP accepts in the background meanwhile). Runs on vCPU 0
 * before the VM's other ranks start, so it needs no lock. */
static int tcp_start(void) {
  int self = mpi_job.self, nodes = mpi_job.nodes;
  uint64_t now = sf_time_ns();
  for (int v = 0; v < nodes; v++) {
    memset(&peers[v], 0, sizeof peers[v]);
    peers[v].sock = -1;
    peers[v].sendq_tail = &peers[v].sendq;
    peers[v].heard_ns = peers[v].beat_ns = now;
  }
  last_pump_ns = now;
  if (nodes == 1) return MPI_SUCCESS;
  long e = 0;
  if (self > 0 && listener >= 0) { /* a clone: the parent's listener was dropped at the fork */
    sf_close(listener);
    listener = -1;
  }
  if (listener < 0) {
    listener = sf_socket(SF_SOCK_STREAM);
    e = listener < 0 ? listener : sf_listen(listener, MPI_TCP_PORT);
  }
  if (e < 0) return fail(self, "cannot listen as", e);
  sf_set_timeout(listener, CONNECT_WAIT_MS);
  for (int v = 0; v < self; v++)
    if ((e = connect_to(v)) != MPI_SUCCESS) return (int)e;
  for (int k = self + 1; k < nodes; k++)
    if ((e = accept_one()) != MPI_SUCCESS) return (int)e;
  now = sf_time_ns();
  for (int v = 0; v < nodes; v++) peers[v].heard_ns = now;
  return MPI_SUCCESS;
}

static void enqueue(struct peer *p, struct mpi_request *r) {
  r->next = 0;
  r->sent = 0;
  sf_spin_lock(&q_lock);
  *p->sendq_tail = r;
  p->sendq_tail = &r->next;
  sf_spin_unlock(&q_lock);
}

static int tcp_send(int v, struct mpi_request *r) {
  struct peer *p = &peers[v];
  if (p->sock < 0 || p->closed) return fail(v, "no connection to", -SF_NET_ENOTCONN);
  enqueue(p, r);
  return MPI_SUCCESS;
}

static void queue_ctrl(struct peer *p, struct mpi_request *r, int what) {
  memset(r, 0, sizeof *r);
  r->kind = MPI_REQ_SEND;
  r->hdr = (struct mpi_hdr){.src = -1, .dst = -1, .tag = what, .ctx = MPI_CTX_CTRL};
  enqueue(p, r);
}

/* Hands queued frames to lwIP as far as it takes them; 1 if anything moved. Under net_lock. */
static int push(int v, struct peer *p, int *err) {
  int moved = 0;
  for (;;) {
    sf_spin_lock(&q_lock);
    struct mpi_request *q = p->sendq;
    sf_spin_unlock(&q_lock);
    if (!q) return moved;
    size_t total = sizeof q->hdr + q->hdr.len;
    const unsigned char *from;
    size_t left;
    if (q->sent < sizeof q->hdr) {
      from = (const unsigned char *)&q->hdr + q->sent;
      left = sizeof q->hdr - q->sent;
    } else {
      from = q->data + (q->sent - sizeof q->hdr);
      left = total - q->sent;
    }
    long n = sf_send_some(p->sock, from, left);
    if (n < 0) {
      *err = fail(v, "lost the connection to", n);
      return moved;
    }
    if (n == 0) return moved;
    moved = 1;
    q->sent += (size_t)n;
    if (q->sent == total) {
      sf_spin_lock(&q_lock);
      p->sendq = q->next;
      if (!p->sendq) p->sendq_tail = &p->sendq;
      sf_spin_unlock(&q_lock);
      q->next = 0;
      __atomic_store_n(&q->done, 1, __ATOMIC_RELEASE);
    }
  }
}

/* A whole header is in: a control frame is taken here, a message gets its buffer. MPI_SUCCESS or an error. */
static int header_in(int v, struct peer *p) {
  const struct mpi_hdr *h = &p->hdr;
  if (h->ctx == MPI_CTX_CTRL) {
    if (h->len) return fail(v, "a garbled control frame from", -SF_NET_EINVAL);
    p->hdr_got = 0;
    if (h->tag == CTRL_BYE) p->bye = 1;
    if (h->tag == CTRL_ABORT) {
      char w[48];
      culprit = h->src >= 0 && h->src < mpi_job.size ? h->src : mpi_job.base[v];
      printf("mpi: rank %d: %s ended the job: rank %d failed\n", mpi_my_rank(), who(v, w), culprit);
      return MPI_ERR_NET;
    }
    return MPI_SUCCESS;
  }
  /* The connection says which VM sent it: the source must be one of its ranks, the destination one of ours. */
  if (h->src < mpi_job.base[v] || h->src >= mpi_job.base[v + 1] || h->dst < mpi_job.base[mpi_job.self] ||
      h->dst >= mpi_job.base[mpi_job.self + 1])
    return fail(v, "a frame with wrong ranks from", -SF_NET_EINVAL);
  p->msg = malloc(sizeof *p->msg);
  if (p->msg) {
    memset(p->msg, 0, sizeof *p->msg);
    *p->msg = (struct mpi_msg){.src = h->src, .tag = h->tag, .ctx = h->ctx, .len = h->len};
    if (h->len && !(p->msg->data = malloc(h->len))) {
      free(p->msg);
      p->msg = 0;
    }
  }
  if (!p->msg) {
    printf("mpi: rank %d: no memory for a %u-byte message from rank %d\n", mpi_my_rank(), h->len, h->src);
    return MPI_ERR_NO_MEM;
  }
  p->data_got = 0;
  return MPI_SUCCESS;
}

/* Reads what is there; whole messages go to mpi_deliver. 1 if anything moved. Under net_lock. */
static int pull(int v, struct peer *p, int *err) {
  int moved = 0;
  while (!p->closed && sf_readable(p->sock) > 0) {
    long n;
    if (p->hdr_got < sizeof p->hdr) {
      n = sf_recv(p->sock, (unsigned char *)&p->hdr + p->hdr_got, sizeof p->hdr - p->hdr_got);
      if (n > 0 && (p->hdr_got += (size_t)n) == sizeof p->hdr && (*err = header_in(v, p)) != MPI_SUCCESS) return moved;
    } else {
      n = sf_recv(p->sock, p->msg->data + p->data_got, p->msg->len - p->data_got);
      if (n > 0) p->data_got += (size_t)n;
    }
    if (n == 0) { /* end of stream: fine once the peer said goodbye, never before */
      p->closed = 1;
      if (!p->bye || p->hdr_got) *err = fail(v, "lost", 0);
      return moved;
    }
    if (n < 0) {
      *err = fail(v, "lost the connection to", n);
      return moved;
    }
    moved = 1;
    p->heard_ns = sf_time_ns();
    if (p->msg && p->data_got == p->msg->len) {
      struct mpi_msg *m = p->msg;
      int dst = p->hdr.dst;
      p->msg = 0;
      p->hdr_got = 0;
      mpi_deliver(dst, m);
    }
  }
  return moved;
}

static int pump(unsigned wait_ms) {
  uint64_t now = sf_time_ns();
  /* Nobody listened for a while (the VM's ranks all computed): silence then says nothing about the peers. */
  if (now - last_pump_ns > BEAT_NS)
    for (int v = 0; v < mpi_job.nodes; v++) peers[v].heard_ns = now;
  last_pump_ns = now;
  sf_net_poll();
  int moved = 0, err = MPI_SUCCESS;
  for (int v = 0; v < mpi_job.nodes && err == MPI_SUCCESS; v++) {
    struct peer *p = &peers[v];
    if (p->sock < 0 || (p->closed && !p->sendq)) continue;
    if (now - p->beat_ns >= BEAT_NS && !p->closed) {
      p->beat_ns = now;
      if (!p->beat.kind || mpi_req_done(&p->beat)) queue_ctrl(p, &p->beat, CTRL_BEAT);
    }
    moved |= push(v, p, &err);
    if (err == MPI_SUCCESS) moved |= pull(v, p, &err);
    if (err == MPI_SUCCESS && !p->bye && mpi_job.timeout_ms && now > p->heard_ns &&
        (now - p->heard_ns) / 1000000u > mpi_job.timeout_ms) {
      char w[48];
      if (culprit < 0) culprit = mpi_job.base[v];
      printf("mpi: rank %d: heard nothing from %s for %u s: it is taken for dead\n", mpi_my_rank(), who(v, w),
             mpi_job.timeout_ms / 1000u);
      err = MPI_ERR_NET;
    }
  }
  if (err == MPI_SUCCESS && !moved && wait_ms) sf_net_wait(wait_ms);
  return err;
}

static int tcp_progress(unsigned wait_ms) {
  if (mpi_job.nodes == 1) return MPI_SUCCESS;
  if (__atomic_load_n(&net_claimed, __ATOMIC_ACQUIRE) || !sf_spin_trylock(&net_lock)) {
    /* another rank of this VM pumps for us, or is ending the job */
    if (wait_ms) sf_hc_wait(50000);
    return MPI_SUCCESS;
  }
  int e = pump(wait_ms);
  sf_spin_unlock(&net_lock);
  return e;
}

static void close_all(void) {
  for (int v = 0; v < mpi_job.nodes; v++) {
    if (peers[v].sock >= 0) sf_close(peers[v].sock);
    free(peers[v].msg ? peers[v].msg->data : 0);
    free(peers[v].msg);
    peers[v].sock = -1;
    peers[v].msg = 0;
  }
  if (listener >= 0) sf_close(listener);
  listener = -1;
  for (int i = 0; i < 20; i++) sf_net_wait(1); /* lets the FINs out */
}

/* After the job's last barrier, on vCPU 0 once the VM's other ranks are done with MPI: a goodbye frame to every
 * peer (so its end of stream is expected), then the connections close. */
static void tcp_stop(void) {
  if (mpi_job.nodes > 1) {
    sf_spin_lock(&net_lock);
    for (int v = 0; v < mpi_job.nodes; v++)
      if (peers[v].sock >= 0 && !peers[v].closed) queue_ctrl(&peers[v], &peers[v].farewell, CTRL_BYE);
    uint64_t until = sf_time_ns() + 2000000000ull;
    for (int v = 0; v < mpi_job.nodes; v++) {
      int err = MPI_SUCCESS;
      while (peers[v].sock >= 0 && !peers[v].closed && peers[v].sendq && err == MPI_SUCCESS && sf_time_ns() < until) {
        sf_net_poll();
        if (!push(v, &peers[v], &err)) sf_net_wait(1);
      }
    }
    close_all();
    sf_spin_unlock(&net_lock);
  }
}

/* A fatal error: every peer gets an abort frame naming the rank at fault (as far as the send buffers take it
 * at once) and the connections close without a goodbye, so no peer waits for this VM any longer. */
static int tcp_abort(int me) {
  int who_failed = culprit >= 0 ? culprit : me;
  if (mpi_job.nodes == 1) return who_failed;
  __atomic_store_n(&net_claimed, 1, __ATOMIC_RELEASE);
  sf_spin_lock(&net_lock);
  struct mpi_hdr h = {.src = who_failed, .dst = -1, .tag = CTRL_ABORT, .ctx = MPI_CTX_CTRL};
  for (int v = 0; v < mpi_job.nodes; v++) {
    struct peer *p = &peers[v];
    /* Only between whole frames: a half-sent one would make the abort frame garbage. */
    int clean = !p->sendq || (p->sendq->sent == 0);
    if (p->sock >= 0 && !p->closed && clean) sf_send_some(p->sock, &h, sizeof h);
  }
  close_all();
  sf_spin_unlock(&net_lock);
  return who_failed;
}

/* The master listens before the fork, as the network examples do, so it is reachable the moment clones run. */
static int tcp_prepare(void) {
  listener = sf_socket(SF_SOCK_STREAM);
  long e = listener < 0 ? listener : sf_listen(listener, MPI_TCP_PORT);
  if (e < 0) return fail(0, "cannot listen as", e);
  return MPI_SUCCESS;
}

const struct mpi_transport mpi_tcp_transport = {tcp_prepare, tcp_start, tcp_send, tcp_progress, tcp_stop, tcp_abort};
