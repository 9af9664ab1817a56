/* libsf's internal interface between the hypercall path (sf_call.c) and the API layers
 * (sf_api.c: the 0.2c calls, sf_short.c: Snowflock's int-returning forms). Not installed. */
#ifndef SF_INTERNAL_H
#define SF_INTERNAL_H

#include <snowflock/abi.h>
#include <stddef.h>

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
/* Runs a call whose only argument is a ticket (required, or "" when allow_empty); *reply as above.
 * A bad ticket fails with SF_EINVAL before any hypercall. Returns 0 or -SF_E*. */
int sf_ticket_call(unsigned nr, const char *ticket, int allow_empty, const struct sf_hc_reply **reply);
/* A ticket argument is usable: non-NULL, at most SF_TICKET_SIZE chars, non-empty unless allowed. */
int sf_ticket_ok(const char *ticket, int allow_empty);

/* Clears sf_errno and the last message (a success); returns 0. */
int sf_succeed(void);

/* The seed calls' other path (sfguest/api_net.h, set by sf_set_transport): fills *rep as sfld would (status,
 * errmsg and the answer) and returns 0. NULL: the hypercall. Never used for SF_HC_CLONE_MASTER. */
struct sf_hc_reply;
struct sf_json;
extern int (*sf_seed_transport)(unsigned nr, const struct sf_seed_args *a, unsigned timeout_ms,
                                struct sf_hc_reply *rep);
/* lib/api_seed.c: a seed call's procedure name (NULL: none), its JSON input (length, or -1 if it does not fit),
 * and the answer's data as the reply block (0, or -SF_E* for an answer without what the call needs). */
const char *sf_api_seed_procedure(unsigned nr);
long sf_api_seed_input(unsigned nr, const struct sf_seed_args *a, unsigned timeout_ms, char *json, size_t cap);
int sf_api_seed_reply(unsigned nr, struct sf_json data, struct sf_hc_reply *rep);

#endif /* SF_INTERNAL_H */
