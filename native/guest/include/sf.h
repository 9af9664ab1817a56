/* sf.h — the SnowFlock in-guest C API. Part 1 is the C API of the SnowFlock 0.2c documentation
 * (section 6) as documented: the same names, argument lists, return types, structures and field order,
 * so a program written for it builds unchanged. Part 2 is Snowflock's extension (an exit status per
 * clone, the join's exit records, int-returning short names of the SnowFlock papers). Both run on the
 * seed hypercalls 16–24 of abi.h, in libsf (libsfguest.a).
 *
 * Common rules
 *  - Every call blocks this vCPU until sfld answers (which asks sfmd). Identity (cluster, vmid) is
 *    stamped by sfld, never taken from the guest: a guest can only act on its own cluster.
 *  - The section-6 calls fail as documented (NULL, or a non-zero int); every failure, including those
 *    of the void calls, also leaves sf_errno set to an SF_E* code (abi.h) and sf_errmsg() saying why;
 *    a success sets sf_errno to 0.
 *  - A ticket is a uuid string of SF_TICKET_SIZE characters. Passing NULL, "" (where a ticket is
 *    required) or a longer string fails locally with SF_EINVAL, without a hypercall.
 *  - Errors any call may give: SF_EUNAVAIL (sfld/sfmd unreachable), SF_ETIMEDOUT, SF_EPERM,
 *    SF_EFAULT/SF_EINVAL (a malformed request), SF_ENOSYS (VMM without the seed API), SF_EINTERNAL.
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

/* ==== Part 1: the SnowFlock 0.2c C API (documentation section 6) =============================== */

#define SF_TICKET_SIZE 36 /* characters in a ticket (a uuid), without the terminating NUL */

/* One ticket of LIST_TICKETS' lists; NULL next ends a list. */
typedef struct sf_ticket_list {
  struct sf_ticket_list *next;
  char ticket[SF_TICKET_SIZE + 1];
} sf_ticket_list;

/* One VM of a ticket's allocation (READ_TICKET_INFO), in vmid order. */
typedef struct sf_clone_info {
  struct sf_clone_info *next;
  int vmid;       /* 1..n: the vmid the clone gets (or has) */
  int processors; /* vCPUs reserved for it */
} sf_clone_info;

/* What the result-returning calls answer (malloc'd: release it with FREE_SF_RES). Fields a call
 * does not set are zero / NULL. */
typedef struct sf_result {
  union {
    int allowed_clones; /* REQUEST_*_TICKET: clones (processors for a procs ticket) granted */
    int number_clones;  /* CLONE_MASTER: clones created; READ_TICKET_INFO: VMs allocated */
  } rc;
  int vmid;                                   /* CLONE_MASTER: 0 in the master, 1..n in each clone */
  char ticket[SF_TICKET_SIZE + 1];            /* the ticket granted, or the one asked about */
  struct sf_clone_info *clone_list;           /* READ_TICKET_INFO: the allocation, vmid → processors */
  struct sf_ticket_list *unused_tickets;      /* LIST_TICKETS: granted, not yet used to clone */
  struct sf_ticket_list *outstanding_tickets; /* LIST_TICKETS: used to clone, not yet merged/joined */
} sf_result;

/* REQUEST_CLONE_TICKET(nclones, procs, min, block) — reserve resources for up to nclones clones.
 *  procs != 0: nclones counts processors, spread over clones of at most the master's vCPUs.
 *  min >= 0: accept any grant from min to nclones; min < 0: only all nclones will do.
 *  block == 0: answer at once with what fits now; with min 0 that may be nothing, answered as a result
 *    with rc.allowed_clones 0 and an empty ticket (not an error). block != 0: wait until at least
 *    max(min, 1) fit (sfmd's wait limit applies; sf_set_timeout_ms sets one).
 * → rc.allowed_clones granted and ticket; NULL on error (SF_ENORES: fewer than min fit and !block, or
 * the wait ran out; SF_ENOTMASTER; SF_EINVAL: nclones < 1 or min > nclones). Master only. */
extern struct sf_result *REQUEST_CLONE_TICKET(int nclones, int procs, int min, int block);
/* REQUEST_VM_TICKET(n) — REQUEST_CLONE_TICKET(n, 0, -1, 1): n VM clones, waiting until all n fit. */
extern struct sf_result *REQUEST_VM_TICKET(int nclones);
/* REQUEST_PROC_TICKET(n) — REQUEST_CLONE_TICKET(n, 1, -1, 1): n processors, waiting until all fit. */
extern struct sf_result *REQUEST_PROC_TICKET(int nclones);

/* LIST_TICKETS() — the cluster's tickets in flight: unused_tickets and outstanding_tickets (at most
 * SF_MAX_TICKETS in all). NULL on error. Master only. */
extern struct sf_result *LIST_TICKETS(void);

/* READ_TICKET_INFO(ticket) — a ticket's allocation map: clone_list of (vmid, processors) in vmid order,
 * rc.number_clones its length, ticket repeated as a sanity check. NULL on error (SF_ETICKET). */
extern struct sf_result *READ_TICKET_INFO(char *ticket);

/* DISPOSE_TICKET(ticket) — give an unused ticket's resources back; the ticket is dead afterwards.
 * Failure (SF_ETICKET; SF_ESTATE: already used, merge instead) shows only in sf_errno. Master only. */
extern void DISPOSE_TICKET(char *ticket);

/* CLONE_MASTER(ticket) — fork this VM into the ticket's clones. The call returns in the master with
 * vmid 0 and in each new clone with its own vmid 1..n; rc.number_clones = n in both. Clones share the
 * master's memory lazily, as it was at the call. NULL on error, in the master only (SF_ETICKET,
 * SF_ESTATE: ticket used or disposed, SF_ENOTMASTER, SF_ENORES, SF_EHOSTLOST). */
extern struct sf_result *CLONE_MASTER(char *ticket);

/* MERGE_MASTER(ticket) — end the ticket's clones now (their state, disk included, is lost) and retire
 * the ticket; the master runs on. 0 on success, -1 on error (SF_ETICKET, SF_ESTATE). Master only. */
extern int MERGE_MASTER(char *ticket);
/* MERGE_ALL() — MERGE_MASTER for every outstanding ticket; failure shows only in sf_errno. */
extern void MERGE_ALL(void);
/* IC_KILL(ticket) — the same operation as MERGE_MASTER: 0 on success, -1 on error. */
extern int IC_KILL(char *ticket);

/* IC_JOIN(ticket) — wait, like waitpid(), until every clone of the ticket has called IC_EXIT, then
 * retire the ticket. Waits as long as sfmd allows (sf_set_timeout_ms bounds it). Failure shows only in
 * sf_errno (SF_ECLONE: a clone crashed or was killed instead of exiting; sf_errmsg() names it). */
extern void IC_JOIN(char *ticket);

/* IC_EXIT() — end this clone (status 0), letting a master waiting in IC_JOIN go on when it was the
 * ticket's last. Does not return on success; returns -1 on error (SF_ENOTCLONE in the master). */
extern int IC_EXIT(void);

/* SHUTDOWN_CLUSTER() — end the whole cluster, master included. Refused (-1, sf_errno) when sfmd will
 * not shut it down; on success the master is stopped, and 0 is returned only if it runs on meanwhile. */
extern int SHUTDOWN_CLUSTER(void);

/* FREE_SF_RES(res) — free a result and its lists, whichever call returned it; NULL is fine. */
extern void FREE_SF_RES(struct sf_result *res);

/* ==== Part 2: Snowflock's extensions =========================================================== */

/* The SF_E* code (positive) of the last failed call; 0 after a success. */
extern int sf_errno;
/* Why the last call failed: sfld's message if it sent one, else sf_strerror(sf_errno). */
const char *sf_errmsg(void);
/* A short fixed text for an SF_E* code ("NO_RESOURCES", …). */
const char *sf_strerror(int code);
/* Timeout sent with each request in ms; 0 (default) lets sfmd choose (blocking requests and joins
 * then wait as long as sfmd allows). */
void sf_set_timeout_ms(unsigned ms);

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

/* sf_exit() — IC_EXIT(): ends this clone; returns -SF_ENOTCLONE if called in the master. */
int sf_exit(void);
/* sf_exit_status(status) — IC_EXIT with a status (any int: a small result, not just a verdict) handed
 * to the master's sf_join_results. Returns -SF_E* only on failure (-SF_ENOTCLONE in the master). */
int sf_exit_status(int status);
/* sf_join(ticket) — IC_JOIN: blocks until all the ticket's clones reached sf_exit, then
 * retires the ticket. Returns the number of clones joined, or -SF_E*. Master only.
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
/* sf_kill(ticket) — IC_KILL / MERGE_MASTER: ends the ticket's clones now and retires the ticket.
 * Returns the number of clones ended, or -SF_E*. Master only. */
int sf_kill(const char *ticket);
/* sf_merge_all() — MERGE_ALL: returns the number of clones ended over all tickets, or -SF_E*. */
int sf_merge_all(void);

#ifdef __cplusplus
}
#endif

#endif /* SNOWFLOCK_SF_H */
