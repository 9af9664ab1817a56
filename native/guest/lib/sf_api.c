/* The classic SnowFlock 0.2c calls of sf.h: each builds a request, runs one seed hypercall and
 * turns the reply into a malloc'd struct sf_result (NULL + sf_errno on failure). */
#include <sf.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include "sf_internal.h"

static sf_result *new_result(const struct sf_hc_reply *rep, const char *ticket) {
  sf_result *r = calloc(1, sizeof *r);
  if (!r) {
    sf_fail(SF_EINTERNAL, "out of guest memory for the result");
    return 0;
  }
  r->rc.retval = (int)rep->count;
  r->vmid = rep->vmid;
  strlcpy(r->ticket, rep->ticket[0] || !ticket ? rep->ticket : ticket, sizeof r->ticket);
  return r;
}

/* Runs a call whose only argument is a ticket (required, or "" allowed) and optionally a
 * status; *rep_out gets the reply. Returns 0 or -SF_E*. */
static int ticket_call(unsigned nr, const char *ticket, int allow_empty, int status,
                       const struct sf_hc_reply **rep_out) {
  if (!sf_ticket_ok(ticket, allow_empty))
    return sf_fail(SF_EINVAL, "bad ticket argument (NULL, empty or longer than SF_TICKET_SIZE)");
  struct sf_seed_args a = {0, 0, 0, status, ticket};
  return sf_seed_call(nr, &a, rep_out);
}

static sf_result *ticket_result(unsigned nr, const char *ticket, int allow_empty) {
  const struct sf_hc_reply *rep;
  if (ticket_call(nr, ticket, allow_empty, 0, &rep) < 0) return 0;
  return new_result(rep, ticket);
}

sf_result *sf_request_clone_ticket(int nclones, int procs, int min, int block) {
  const struct sf_hc_reply *rep;
  if (nclones < 1 || min < 1 || min > nclones) {
    sf_fail(SF_EINVAL, "REQUEST_CLONE_TICKET needs 1 <= min <= nclones");
    return 0;
  }
  struct sf_seed_args a = {(procs ? SF_REQ_PROCS : 0u) | (block ? SF_REQ_BLOCK : 0u), nclones, min, 0, 0};
  if (sf_seed_call(SF_HC_TICKET_REQUEST, &a, &rep) < 0) return 0;
  if (!rep->ticket[0]) {
    sf_fail(SF_EINTERNAL, "ticket.request answered without a ticket");
    return 0;
  }
  return new_result(rep, 0);
}

static sf_ticket_list *ticket_chain(const char (*tickets)[SF_TICKET_LEN + 1], unsigned n, int *ok) {
  sf_ticket_list *head = 0, **tail = &head;
  for (unsigned i = 0; i < n; i++) {
    sf_ticket_list *t = calloc(1, sizeof *t);
    if (!t) {
      *ok = 0;
      break;
    }
    memcpy(t->ticket, tickets[i], SF_TICKET_SIZE);
    t->ticket[SF_TICKET_SIZE] = 0;
    *tail = t;
    tail = &t->next;
  }
  return head;
}

sf_result *sf_list_tickets(void) {
  const struct sf_hc_reply *rep;
  if (sf_seed_call(SF_HC_TICKET_LIST, 0, &rep) < 0) return 0;
  /* Clamp to what the reply's array can hold, whatever the counts claim. */
  unsigned nu = rep->nunused > SF_MAX_TICKETS ? SF_MAX_TICKETS : rep->nunused;
  unsigned no = rep->noutstanding > SF_MAX_TICKETS - nu ? SF_MAX_TICKETS - nu : rep->noutstanding;
  sf_result *r = new_result(rep, 0);
  if (!r) return 0;
  int ok = 1;
  r->num_unused = (int)nu;
  r->num_outstanding = (int)no;
  r->rc.retval = (int)(nu + no);
  r->unused_tickets = ticket_chain(rep->tickets, nu, &ok);
  r->outstanding_tickets = ticket_chain(rep->tickets + nu, no, &ok);
  if (!ok) {
    sf_free_result(r);
    sf_fail(SF_EINTERNAL, "out of guest memory for the ticket list");
    return 0;
  }
  return r;
}

sf_result *sf_read_ticket_info(const char *ticket) {
  const struct sf_hc_reply *rep;
  if (ticket_call(SF_HC_TICKET_INFO, ticket, 0, 0, &rep) < 0) return 0;
  unsigned n = rep->count > SF_MAX_ALLOC ? SF_MAX_ALLOC : rep->count;
  sf_result *r = new_result(rep, ticket);
  if (!r) return 0;
  r->rc.number_clones = (int)n;
  sf_clone_info **tail = &r->clone_list;
  for (unsigned i = 0; i < n; i++) {
    sf_clone_info *c = calloc(1, sizeof *c);
    if (!c) {
      sf_free_result(r);
      sf_fail(SF_EINTERNAL, "out of guest memory for the clone list");
      return 0;
    }
    c->vmid = (int)rep->alloc[i].vmid;
    c->processors = (int)rep->alloc[i].processors;
    *tail = c;
    tail = &c->next;
  }
  return r;
}

sf_result *sf_dispose_ticket(const char *ticket) { return ticket_result(SF_HC_TICKET_DISPOSE, ticket, 0); }

sf_result *sf_clone_master(const char *ticket) {
  const struct sf_hc_reply *rep;
  if (ticket_call(SF_HC_CLONE_MASTER, ticket, 0, 0, &rep) < 0) return 0;
  /* From here on this may be a clone: remember who we are before anything else. */
  if (rep->vmid > 0) sf_set_vmid((unsigned)rep->vmid);
  return new_result(rep, ticket);
}

sf_result *sf_merge_master(const char *ticket) { return ticket_result(SF_HC_CLONE_MERGE, ticket, 0); }
sf_result *sf_merge_all(void) { return ticket_result(SF_HC_CLONE_MERGE, "", 1); }
sf_result *sf_ic_kill(const char *ticket) { return ticket_result(SF_HC_CLONE_MERGE, ticket, 0); }
sf_result *sf_ic_join(const char *ticket) {
  const struct sf_hc_reply *rep;
  if (ticket_call(SF_HC_CLONE_JOIN, ticket, 0, 0, &rep) < 0) return 0;
  int n = sf_join_outcome(rep, 0, 0); /* a crashed or killed clone fails the join: SF_ECLONE */
  if (n < 0) return 0;
  sf_result *r = new_result(rep, ticket);
  if (r) r->rc.number_clones = n;
  return r;
}

sf_result *sf_ic_exit(int status) {
  const struct sf_hc_reply *rep;
  struct sf_seed_args a = {0, 0, 0, status, 0};
  if (sf_seed_call(SF_HC_CLONE_EXIT, &a, &rep) < 0) return 0;
  /* A clone that has exited must not run on: if the VMM resumed us anyway, end the program. */
  sf_terminate(status);
}

sf_result *sf_shutdown_cluster(void) {
  const struct sf_hc_reply *rep;
  if (sf_seed_call(SF_HC_CLUSTER_SHUTDOWN, 0, &rep) < 0) return 0;
  return new_result(rep, 0);
}

void sf_free_result(sf_result *r) {
  if (!r) return;
  for (sf_ticket_list *t = r->unused_tickets, *n; t; t = n) {
    n = t->next;
    free(t);
  }
  for (sf_ticket_list *t = r->outstanding_tickets, *n; t; t = n) {
    n = t->next;
    free(t);
  }
  for (sf_clone_info *c = r->clone_list, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  free(r);
}
