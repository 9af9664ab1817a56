/* The SnowFlock papers' short API (sf_request_ticket, sf_clone, sf_checkpoint_parent +
 * sf_create_clones, sf_exit, sf_join, sf_kill, plus sf_exit_status / sf_join_results) over the same
 * seed hypercalls, returning ints instead of results so nothing needs freeing. */
#include <sf.h>
#include <sfguest/bootinfo.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include "sf_internal.h"

int sf_request_ticket(int nclones, char ticket[SF_TICKET_SIZE + 1]) {
  const struct sf_hc_reply *rep;
  if (nclones < 1 || !ticket) return sf_fail(SF_EINVAL, "sf_request_ticket needs n >= 1 and a buffer");
  struct sf_seed_args a = {0, nclones, 1, 0, 0};
  int rc = sf_seed_call(SF_HC_TICKET_REQUEST, &a, &rep);
  if (rc < 0) return rc;
  if (!rep->ticket[0] || rep->count < 1) return sf_fail(SF_EINTERNAL, "ticket.request answered no ticket");
  strlcpy(ticket, rep->ticket, SF_TICKET_SIZE + 1);
  return (int)rep->count;
}

static int ticket_int(unsigned nr, const char *ticket, const struct sf_hc_reply **rep) {
  if (!sf_ticket_ok(ticket, 0))
    return sf_fail(SF_EINVAL, "bad ticket argument (NULL, empty or longer than SF_TICKET_SIZE)");
  struct sf_seed_args a = {0, 0, 0, 0, ticket};
  return sf_seed_call(nr, &a, rep);
}

int sf_clone(const char *ticket) {
  const struct sf_hc_reply *rep;
  int rc = ticket_int(SF_HC_CLONE_MASTER, ticket, &rep);
  if (rc < 0) return rc;
  if (rep->vmid < 0) return sf_fail(SF_EINTERNAL, "clone.master answered a negative vmid");
  if (rep->vmid > 0) sf_set_vmid((unsigned)rep->vmid);
  return rep->vmid;
}

int sf_create_clones(sf_checkpoint *c, const char *ticket) {
  const struct sf_hc_reply *rep;
  if (!c) return sf_fail(SF_EINVAL, "sf_create_clones needs the checkpoint");
  int rc = ticket_int(SF_HC_CLONE_MASTER, ticket, &rep);
  if (rc < 0) return rc;
  if (rep->vmid < 0) return sf_fail(SF_EINTERNAL, "clone.master answered a negative vmid");
  if (rep->vmid > 0) {
    /* A clone: resume where the master took the checkpoint, answering our vmid there. */
    sf_set_vmid((unsigned)rep->vmid);
    sf_longjmp(c->ctx, rep->vmid);
  }
  return (int)rep->count;
}

int sf_exit_status(int status) {
  sf_result *r = sf_ic_exit(status); /* returns only on failure */
  (void)r;
  return -sf_errno;
}

int sf_exit(void) { return sf_exit_status(0); }

int sf_join_results(const char *ticket, struct sf_hc_exit *out, int max) {
  const struct sf_hc_reply *rep;
  if (max < 0 || (max > 0 && !out))
    return sf_fail(SF_EINVAL, "sf_join_results needs max >= 0 and room for max records");
  int rc = ticket_int(SF_HC_CLONE_JOIN, ticket, &rep);
  return rc < 0 ? rc : sf_join_outcome(rep, out, max);
}

int sf_join(const char *ticket) { return sf_join_results(ticket, 0, 0); }

int sf_kill(const char *ticket) {
  const struct sf_hc_reply *rep;
  int rc = ticket_int(SF_HC_CLONE_MERGE, ticket, &rep);
  return rc < 0 ? rc : (int)rep->count;
}
