/* Snowflock's int-returning forms over the same seed hypercalls (the SnowFlock papers' short names
 * sf_request_ticket, sf_clone, sf_checkpoint_parent + sf_create_clones, sf_exit, sf_join, sf_kill, and
 * sf_exit_status / sf_join_results / sf_merge_all): nothing to free, counts and statuses kept. */
#include <sf.h>
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

/* The fork's answer in this VM: its vmid. The VMM also wrote it into each clone's boot info, which is
 * where sf_vmid() reads it (a clone forked from the host, not by this call, learns it there too). */
static int fork_call(const char *ticket, const struct sf_hc_reply **rep) {
  int rc = sf_ticket_call(SF_HC_CLONE_MASTER, ticket, 0, rep);
  if (rc < 0) return rc;
  if ((*rep)->vmid < 0) return sf_fail(SF_EINTERNAL, "clone.master answered a negative vmid");
  return (*rep)->vmid;
}

int sf_clone(const char *ticket) {
  const struct sf_hc_reply *rep;
  return fork_call(ticket, &rep);
}

int sf_create_clones(sf_checkpoint *c, const char *ticket) {
  const struct sf_hc_reply *rep;
  if (!c) return sf_fail(SF_EINVAL, "sf_create_clones needs the checkpoint");
  int vmid = fork_call(ticket, &rep);
  if (vmid < 0) return vmid;
  if (vmid > 0) sf_longjmp(c->ctx, vmid); /* a clone: resume at the checkpoint, answering our vmid there */
  return (int)rep->count;
}

int sf_exit_status(int status) {
  const struct sf_hc_reply *rep;
  struct sf_seed_args a = {0, 0, 0, status, 0};
  int rc = sf_seed_call(SF_HC_CLONE_EXIT, &a, &rep);
  if (rc < 0) return rc;
  /* A clone that has exited must not run on: if the VMM resumed us anyway, end the program. */
  sf_terminate(status);
}

int sf_exit(void) { return sf_exit_status(0); }

int sf_join_results(const char *ticket, struct sf_hc_exit *out, int max) {
  const struct sf_hc_reply *rep;
  if (max < 0 || (max > 0 && !out))
    return sf_fail(SF_EINVAL, "sf_join_results needs max >= 0 and room for max records");
  int rc = sf_ticket_call(SF_HC_CLONE_JOIN, ticket, 0, &rep);
  return rc < 0 ? rc : sf_join_outcome(rep, out, max);
}

int sf_join(const char *ticket) { return sf_join_results(ticket, 0, 0); }

int sf_kill(const char *ticket) {
  const struct sf_hc_reply *rep;
  int rc = sf_ticket_call(SF_HC_CLONE_MERGE, ticket, 0, &rep);
  return rc < 0 ? rc : (int)rep->count;
}

int sf_merge_all(void) {
  const struct sf_hc_reply *rep;
  int rc = sf_ticket_call(SF_HC_CLONE_MERGE, "", 1, &rep);
  return rc < 0 ? rc : (int)rep->count;
}
