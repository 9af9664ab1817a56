/* libsf's internal interface between the hypercall path (sf_call.c) and the API layers
 * (sf_api.c: classic calls, sf_short.c: the papers' short names). Not installed. */
#ifndef SF_INTERNAL_H
#define SF_INTERNAL_H

#include <snowflock/abi.h>

struct sf_seed_args {
  unsigned flags;
  int nclones, min, status;
  const char *ticket; /* NULL or "": none */
};

/* Runs seed hypercall nr. Returns 0 (sf_errno = 0) or -SF_E* (sf_errno and the message set);
 * *reply points at the shared block until the next call. */
int sf_seed_call(unsigned nr, const struct sf_seed_args *a, const struct sf_hc_reply **reply);
/* Records a local failure: sf_errno = code, message msg (or the code's text). Returns -code. */
int sf_fail(int code, const char *msg);
/* clone.join's answer (sf_join.c): copies min(count, max) exit records to out (NULL if max is 0)
 * and returns count, clamped to SF_MAX_ALLOC; or -SF_ECLONE (records still copied, message naming
 * the first clone that did not exit by itself) if any clone crashed or was killed. */
int sf_join_outcome(const struct sf_hc_reply *rep, struct sf_hc_exit *out, int max);
/* A ticket argument is usable: non-NULL, at most SF_TICKET_SIZE chars, non-empty unless allowed. */
int sf_ticket_ok(const char *ticket, int allow_empty);

#endif /* SF_INTERNAL_H */
