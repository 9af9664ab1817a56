/* sf.h — the SnowFlock in-guest C API: the classic calls of SnowFlock 0.2c (REQUEST_CLONE_TICKET …
 * FREE_SF_RES, returning struct sf_result) and the short names of the SnowFlock papers
 * (sf_request_ticket, sf_clone, …), implemented by libsf on the seed hypercalls 16–24 of abi.h.
 *
 * Provenance: the 0.2c manual's section 6 was not available when this was written. The types and
 * names follow the calls' documented names and the way SnowFlock-era programs use them
 * (result->rc.allowed_clones, result->ticket, result->vmid, result->rc.number_clones,
 * tickets->outstanding_tickets->ticket/->next, info->clone_list->vmid/->next, FREE_SF_RES(result),
 * NULL on failure); field order and the extra fields are Snowflock's.
 *
 * Common rules
 *  - Every call blocks this vCPU until sfld answers (which asks sfmd). Identity (cluster, vmid) is
 *    stamped by sfld, never taken from the guest: a guest can only act on its own cluster.
 *  - The classic calls return a struct sf_result allocated with malloc, or NULL on failure with
 *    sf_errno set to an SF_E* code (abi.h) and sf_errmsg() telling why. Release a result with
 *    FREE_SF_RES. The short names return ints: >= 0 on success, -SF_E* on failure.
 *  - A ticket is a uuid string of SF_TICKET_SIZE characters. Passing NULL, "" (where a ticket is
 *    required) or a longer string fails locally with SF_EINVAL, without a hypercall.
 *  - Errors any call may give: SF_EUNAVAIL (sfld/sfmd unreachable), SF_ETIMEDOUT, SF_EPERM,
 *    SF_EFAULT/SF_EINVAL (a malformed request), SF_ENOSYS (VMM without the seed API),
 *    SF_EINTERNAL. Call-specific errors are listed with each call.
 *  - Not reentrant and single-vCPU: one request/reply block (union sf_hc_block) is shared by all
 *    calls; flat guests run one program on one vCPU with interrupts off.
 */
#ifndef SNOWFLOCK_SF_H
#define SNOWFLOCK_SF_H

#include <sfguest/setjmp.h>
#include <snowflock/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SF_TICKET_SIZE 36 /* characters in a ticket (a uuid), without the terminating NUL */

/* One ticket in LIST_TICKETS' lists. */
typedef struct sf_ticket_list {
  char ticket[SF_TICKET_SIZE + 1];
  struct sf_ticket_list *next; /* NULL ends the list */
} sf_ticket_list;

/* One VM allocated by a ticket (READ_TICKET_INFO), in vmid order. */
typedef struct sf_clone_info {
  int vmid;       /* 1..n: the vmid the clone gets (or has) */
  int processors; /* vCPUs reserved for it */
  struct sf_clone_info *next;
} sf_clone_info;

/* What a classic call answers. Fields a call does not set are zero / NULL. */
typedef struct sf_result {
  union {
    int allowed_clones; /* REQUEST_*_TICKET: clones (PROC ticket: processors) granted, >= min */
    int number_clones;  /* CLONE_MASTER: clones created; READ_TICKET_INFO: VMs allocated;
                           IC_JOIN / MERGE_* / IC_KILL: clones joined or merged */
    int retval;         /* any call: the answer's count as a plain value */
  } rc;
  int vmid;                            /* CLONE_MASTER: 0 in the master, 1..n in each clone */
  char ticket[SF_TICKET_SIZE + 1];     /* REQUEST_*_TICKET: the new ticket; else the one asked about */
  int num_unused;                      /* LIST_TICKETS: length of unused_tickets */
  int num_outstanding;                 /* LIST_TICKETS: length of outstanding_tickets */
  sf_ticket_list *unused_tickets;      /* LIST_TICKETS: granted, not yet used to clone */
  sf_ticket_list *outstanding_tickets; /* LIST_TICKETS: used to clone, clones not yet merged */
  sf_clone_info *clone_list;           /* READ_TICKET_INFO: the allocation, vmid → processors */
} sf_result;

/* The SF_E* code (positive) of the last failed call; 0 after a success. */
extern int sf_errno;
/* Why the last call failed: sfld's message if it sent one, else sf_strerror(sf_errno). */
const char *sf_errmsg(void);
/* A short fixed text for an SF_E* code ("NO_RESOURCES", …). */
const char *sf_strerror(int code);
/* Timeout sent with each request in ms; 0 (default) lets sfld choose. */
void sf_set_timeout_ms(unsigned ms);

/* ---- Classic calls (SnowFlock 0.2c names) ---------------------------------------------------- */

/* REQUEST_CLONE_TICKET(nclones, procs, min, block) — reserve resources for up to nclones clones.
 * procs != 0: nclones counts processors, not VMs (sfmd packs them into as few clones as it can).
 * min: the fewest acceptable (1 <= min <= nclones); block != 0: wait for resources instead of failing.
 * → rc.allowed_clones (min..nclones granted), ticket. Master only.
 * Errors: SF_ENORES (fewer than min available and !block), SF_ENOTMASTER, SF_EINVAL (nclones < 1,
 * min outside 1..nclones). Maps to SF_HC_TICKET_REQUEST {nclones, min, flags PROCS|BLOCK}. */
#define REQUEST_CLONE_TICKET(nclones, procs, min, block) sf_request_clone_ticket((nclones), (procs), (min), (block))
/* REQUEST_VM_TICKET(n) = REQUEST_CLONE_TICKET(n, 0, 1, 0): up to n VMs, at least one, no wait. */
#define REQUEST_VM_TICKET(nclones) sf_request_clone_ticket((nclones), 0, 1, 0)
/* REQUEST_PROC_TICKET(n) = REQUEST_CLONE_TICKET(n, 1, 1, 0): up to n processors, no wait. */
#define REQUEST_PROC_TICKET(nprocs) sf_request_clone_ticket((nprocs), 1, 1, 0)

/* LIST_TICKETS() — this cluster's tickets: unused_tickets / outstanding_tickets (and their counts).
 * → lists in sfld's order (at most SF_MAX_TICKETS in all). Maps to SF_HC_TICKET_LIST. */
#define LIST_TICKETS() sf_list_tickets()

/* READ_TICKET_INFO(ticket) — the allocation behind a ticket: clone_list (vmid, processors) and
 * rc.number_clones = its length (at most SF_MAX_ALLOC). Errors: SF_ETICKET (unknown ticket).
 * Maps to SF_HC_TICKET_INFO {ticket}. */
#define READ_TICKET_INFO(ticket) sf_read_ticket_info((ticket))

/* DISPOSE_TICKET(ticket) — give an unused ticket's resources back. Master only.
 * Errors: SF_ETICKET, SF_ESTATE (already used: merge instead), SF_ENOTMASTER.
 * Maps to SF_HC_TICKET_DISPOSE {ticket}. */
#define DISPOSE_TICKET(ticket) sf_dispose_ticket((ticket))

/* CLONE_MASTER(ticket) — fork this VM into the ticket's clones (VM fork, fork semantics): the call
 * returns in the master with vmid 0 and rc.number_clones = n, and in each new clone with its own
 * vmid 1..n (rc.number_clones = n there too). Clones share the master's memory lazily, as it was
 * at the call. Master only; the ticket becomes outstanding.
 * Errors (master only; no clone returns with an error): SF_ETICKET, SF_ESTATE (ticket used or
 * disposed), SF_ENOTMASTER, SF_ENORES, SF_EHOSTLOST. Maps to SF_HC_CLONE_MASTER {ticket}. */
#define CLONE_MASTER(ticket) sf_clone_master((ticket))

/* MERGE_MASTER(ticket) — end the ticket's clones now and release the ticket (outstanding →
 * merged); the master keeps running. Master only. rc.number_clones = clones merged.
 * Errors: SF_ETICKET, SF_ESTATE (ticket not outstanding), SF_ENOTMASTER.
 * Maps to SF_HC_CLONE_MERGE {ticket}. */
#define MERGE_MASTER(ticket) sf_merge_master((ticket))
/* MERGE_ALL() — MERGE_MASTER for every outstanding ticket of the cluster.
 * Maps to SF_HC_CLONE_MERGE {ticket ""}. */
#define MERGE_ALL() sf_merge_all()
/* IC_KILL(ticket) — kill the ticket's clones immediately and discard the ticket (the papers'
 * sf_kill). Same operation as MERGE_MASTER (SF_HC_CLONE_MERGE {ticket}); kept for the classic name. */
#define IC_KILL(ticket) sf_ic_kill((ticket))

/* IC_JOIN(ticket) — wait until every clone of the ticket has called IC_EXIT (or died), then
 * release the ticket. Master only. rc.number_clones = clones joined.
 * Errors: SF_ETICKET, SF_ESTATE, SF_ENOTMASTER, SF_ETIMEDOUT (with sf_set_timeout_ms), SF_ECLONE
 * (the join completed, but a clone crashed or was killed instead of exiting: sf_errmsg() names
 * the first one; sf_join_results gives every clone's record). Maps to SF_HC_CLONE_JOIN {ticket}. */
#define IC_JOIN(ticket) sf_ic_join((ticket))

/* IC_EXIT(status) — end this clone, reporting status (0 = success) to the cluster.
 * Clone only. Does not return on success. Errors: SF_ENOTCLONE (called in the master).
 * Maps to SF_HC_CLONE_EXIT {status}; if the VMM ever resumes the clone after a successful
 * CLONE_EXIT, libsf ends it with SF_HC_EXIT(status). */
#define IC_EXIT(status) sf_ic_exit((status))

/* SHUTDOWN_CLUSTER() — destroy every clone and the master: the whole virtual cluster. Master only.
 * Does not return on success (the master is destroyed too). Errors: SF_ENOTMASTER.
 * Maps to SF_HC_CLUSTER_SHUTDOWN. */
#define SHUTDOWN_CLUSTER() sf_shutdown_cluster()

/* FREE_SF_RES(result) — free a result and its lists; NULL is fine. */
#define FREE_SF_RES(result) sf_free_result((result))

sf_result *sf_request_clone_ticket(int nclones, int procs, int min, int block);
sf_result *sf_list_tickets(void);
sf_result *sf_read_ticket_info(const char *ticket);
sf_result *sf_dispose_ticket(const char *ticket);
sf_result *sf_clone_master(const char *ticket);
sf_result *sf_merge_master(const char *ticket);
sf_result *sf_merge_all(void);
sf_result *sf_ic_kill(const char *ticket);
sf_result *sf_ic_join(const char *ticket);
sf_result *sf_ic_exit(int status);
sf_result *sf_shutdown_cluster(void);
void sf_free_result(sf_result *result);

/* ---- Short names (the SnowFlock papers' API) ------------------------------------------------ */

/* sf_request_ticket(n, ticket) — ticket for up to n clones (at least 1, no waiting), written to
 * ticket[SF_TICKET_SIZE + 1]. Returns m, the clones granted (1 <= m <= n), or -SF_E*. */
int sf_request_ticket(int nclones, char ticket[SF_TICKET_SIZE + 1]);

/* sf_clone(ticket) — CLONE_MASTER: returns this VM's vmid (0 in the master, 1..m in clone
 * number ID), or -SF_E* in the master if cloning failed. */
int sf_clone(const char *ticket);

/* sf_checkpoint_parent(&C) + sf_create_clones(&C, ticket) — the two-step fork: clones start
 * running at the checkpoint. sf_checkpoint_parent returns 0 when the master takes the
 * checkpoint and the clone's vmid (1..m) when a clone resumes there. sf_create_clones returns
 * the number of clones in the master, -SF_E* on failure, and never returns in a clone.
 * On KVM the fork happens inside sf_create_clones: clones get the registers of the checkpoint
 * and the memory of the fork, like setjmp/longjmp. So: call both from the same function (or
 * create from a function the checkpointing one called), and keep what must differ between the
 * two moments out of local variables changed in between (or make them volatile). */
typedef struct sf_checkpoint {
  sf_jmp_buf ctx;
} sf_checkpoint;
#define sf_checkpoint_parent(c) sf_setjmp((c)->ctx)
int sf_create_clones(sf_checkpoint *c, const char *ticket);

/* sf_exit() — IC_EXIT(0): ends this clone; returns -SF_ENOTCLONE if called in the master. */
int sf_exit(void);
/* sf_exit_status(status) — IC_EXIT(status): ends this clone, handing status (any int: a small
 * result, not just a verdict) to the master's sf_join_results. Returns -SF_E* only on failure
 * (-SF_ENOTCLONE in the master). */
int sf_exit_status(int status);
/* sf_join(ticket) — IC_JOIN: blocks until all the ticket's clones reached sf_exit, then
 * discards the ticket. Returns the number of clones joined, or -SF_E*. Master only.
 * -SF_ECLONE: the join completed but a clone crashed or was killed (see sf_join_results). */
int sf_join(const char *ticket);
/* sf_join_results(ticket, out, max) — sf_join that also gathers how each clone ended: copies the
 * first min(n, max) of the n exit records (struct sf_hc_exit, abi.h: vmid, how, and the status
 * the clone passed to sf_exit_status when how == SF_CLONE_EXITED) into out, in vmid order, and
 * returns n (at most SF_MAX_ALLOC whatever sfld claims). out may be NULL when max is 0.
 * If any clone crashed or was killed it returns -SF_ECLONE, with sf_errmsg() naming the first
 * ("clone 3 crashed", "clone 3 was killed"), and still fills out. Other errors as sf_join, and
 * SF_EINVAL for max < 0 or out == NULL with max > 0 (checked before any hypercall). */
int sf_join_results(const char *ticket, struct sf_hc_exit *out, int max);
/* sf_kill(ticket) — IC_KILL: kills the ticket's clones now and discards the ticket. Returns the
 * number of clones killed, or -SF_E*. Master only. */
int sf_kill(const char *ticket);

#ifdef __cplusplus
}
#endif

#endif /* SNOWFLOCK_SF_H */
