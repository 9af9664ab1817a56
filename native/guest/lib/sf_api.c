/* The SnowFlock 0.2c calls of sf.h (section 6 of its documentation), as real functions: each builds a
 * request, runs one seed hypercall and answers as documented — a malloc'd struct sf_result or NULL, an
 * int 0 / -1, or nothing — with sf_errno and sf_errmsg() telling why a call failed. */
#include <sf.h>
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
  r->rc.allowed_clones = (int)rep->count;
  r->vmid = rep->vmid;
  strlcpy(r->ticket, rep->ticket[0] || !ticket ? rep->ticket : ticket, sizeof r->ticket);
  return r;
}

/* Runs a call whose only argument is a ticket (required, or "" allowed); *rep_out gets the reply.
 * Returns 0 or -SF_E*. */
int sf_ticket_call(unsigned nr, const char *ticket, int allow_empty, const struct sf_hc_reply **rep_out) {
  if (!sf_ticket_ok(ticket, allow_empty))
    return sf_fail(SF_EINVAL, "bad ticket argument (NULL, empty or longer than SF_TICKET_SIZE)");
  struct sf_seed_args a = {0, 0, 0, 0, ticket};
  return sf_seed_call(nr, &a, rep_out);
}

sf_result *REQUEST_CLONE_TICKET(int nclones, int procs, int min, int block) {
  const struct sf_hc_reply *rep;
  if (nclones < 1 || min > nclones) {
    sf_fail(SF_EINVAL, "REQUEST_CLONE_TICKET needs nclones >= 1 and min <= nclones");
    return 0;
  }
  /* min < 0: the documentation's "no range", all nclones or nothing. */
  int want = min < 0 ? nclones : min;
  struct sf_seed_args a = {(procs ? SF_REQ_PROCS : 0u) | (block ? SF_REQ_BLOCK : 0u), nclones, want, 0, 0};
  if (sf_seed_call(SF_HC_TICKET_REQUEST, &a, &rep) < 0) {
    /* min 0 without waiting takes whatever fits, nothing included: an empty reservation, no error. */
    if (want == 0 && !block && sf_errno == SF_ENORES) {
      sf_result *none = calloc(1, sizeof *none);
      if (none) sf_errno = 0;
      else sf_fail(SF_EINTERNAL, "out of guest memory for the result");
      return none;
    }
    return 0;
  }
  if (!rep->ticket[0]) {
    if (want == 0 && rep->count == 0) return new_result(rep, 0); /* nothing granted, as asked */
    sf_fail(SF_EINTERNAL, "ticket.request answered without a ticket");
    return 0;
  }
  return new_result(rep, 0);
}

sf_result *REQUEST_VM_TICKET(int nclones) { return REQUEST_CLONE_TICKET(nclones, 0, -1, 1); }
sf_result *REQUEST_PROC_TICKET(int nclones) { return REQUEST_CLONE_TICKET(nclones, 1, -1, 1); }

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

sf_result *LIST_TICKETS(void) {
  const struct sf_hc_reply *rep;
  if (sf_seed_call(SF_HC_TICKET_LIST, 0, &rep) < 0) return 0;
  /* Clamp to what the reply's array can hold, whatever the counts claim. */
  unsigned nu = rep->nunused > SF_MAX_TICKETS ? SF_MAX_TICKETS : rep->nunused;
  unsigned no = rep->noutstanding > SF_MAX_TICKETS - nu ? SF_MAX_TICKETS - nu : rep->noutstanding;
  sf_result *r = new_result(rep, 0);
  if (!r) return 0;
  int ok = 1;
  r->rc.number_clones = 0;
  r->unused_tickets = ticket_chain(rep->tickets, nu, &ok);
  r->outstanding_tickets = ticket_chain(rep->tickets + nu, no, &ok);
  if (!ok) {
    FREE_SF_RES(r);
    sf_fail(SF_EINTERNAL, "out of guest memory for the ticket list");
    return 0;
  }
  return r;
}

sf_result *READ_TICKET_INFO(char *ticket) {
  const struct sf_hc_reply *rep;
  if (sf_ticket_call(SF_HC_TICKET_INFO, ticket, 0, &rep) < 0) return 0;
  unsigned n = rep->count > SF_MAX_ALLOC ? SF_MAX_ALLOC : rep->count;
  sf_result *r = new_result(rep, ticket);
  if (!r) return 0;
  r->rc.number_clones = (int)n;
  sf_clone_info **tail = &r->clone_list;
  for (unsigned i = 0; i < n; i++) {
    sf_clone_info *c = calloc(1, sizeof *c);
    if (!c) {
      FREE_SF_RES(r);
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

void DISPOSE_TICKET(char *ticket) {
  const struct sf_hc_reply *rep;
  sf_ticket_call(SF_HC_TICKET_DISPOSE, ticket, 0, &rep);
}

sf_result *CLONE_MASTER(char *ticket) {
  const struct sf_hc_reply *rep;
  if (sf_ticket_call(SF_HC_CLONE_MASTER, ticket, 0, &rep) < 0) return 0;
  sf_result *r = new_result(rep, ticket);
  if (r) r->rc.number_clones = (int)rep->count;
  return r;
}

int MERGE_MASTER(char *ticket) { return sf_kill(ticket) < 0 ? -1 : 0; }
int IC_KILL(char *ticket) { return sf_kill(ticket) < 0 ? -1 : 0; }
void MERGE_ALL(void) { sf_merge_all(); }
void IC_JOIN(char *ticket) { sf_join(ticket); }
int IC_EXIT(void) { return sf_exit_status(0) < 0 ? -1 : 0; }

int SHUTDOWN_CLUSTER(void) {
  const struct sf_hc_reply *rep;
  return sf_seed_call(SF_HC_CLUSTER_SHUTDOWN, 0, &rep) < 0 ? -1 : 0;
}

void FREE_SF_RES(sf_result *r) {
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
