/* The one path every seed API call takes: fill the shared request/reply block (union sf_hc_block),
 * ring the doorbell with its address, and turn rax and the reply's status into one SF_E* code.
 * Keeps sf_errno and the last error message for sf.h. With sf_set_transport(SF_TRANSPORT_NET) the calls but
 * clone.master go over the cluster network instead (sf_seed_transport, set by lib/api_net.c). */
#include <sf.h>
#include <sfguest/hypercall.h>
#include <sfguest/string.h>
#include <stdint.h>
#include "sf_internal.h"

/* One block for the (single) vCPU: flat guests are one address space with VA == GPA, so its
 * address is the guest-physical address the VMM wants. */
static union sf_hc_block block __attribute__((aligned(64)));
static unsigned timeout_ms;
static char errmsg[SF_ERRMSG_LEN];

int sf_errno;

void sf_set_timeout_ms(unsigned ms) { timeout_ms = ms; }

const char *sf_strerror(int code) {
  switch (code) {
    case SF_OK: return "OK";
    case SF_EFAULT: return "EFAULT: request outside guest memory";
    case SF_EINVAL: return "EINVAL: malformed argument";
    case SF_ENOSYS: return "ENOSYS: the VMM does not offer this call";
    case SF_ENORES: return "NO_RESOURCES";
    case SF_ENOTMASTER: return "NOT_MASTER: only the master VM may do this";
    case SF_ENOTCLONE: return "NOT_CLONE: only a clone may do this";
    case SF_ETICKET: return "TICKET_UNKNOWN";
    case SF_ESTATE: return "TICKET_STATE: the ticket is not in a state that allows this";
    case SF_EHOSTLOST: return "HOST_LOST";
    case SF_ETIMEDOUT: return "TIMEOUT";
    case SF_EUNAVAIL: return "UNAVAILABLE: sfld or sfmd cannot be reached";
    case SF_EPERM: return "FORBIDDEN";
    case SF_EINTERNAL: return "INTERNAL error";
    case SF_ECLONE: return "CLONE_FAILED: a clone crashed or was killed instead of exiting";
    default: return "unknown error";
  }
}

const char *sf_errmsg(void) { return errmsg[0] ? errmsg : sf_strerror(sf_errno); }

int sf_fail(int code, const char *msg) {
  sf_errno = code;
  if (msg) strlcpy(errmsg, msg, sizeof errmsg);
  else errmsg[0] = 0;
  return -code;
}

int sf_ticket_ok(const char *ticket, int allow_empty) {
  if (!ticket) return 0;
  size_t n = strnlen(ticket, SF_TICKET_SIZE + 1);
  return n <= SF_TICKET_SIZE && (n > 0 || allow_empty);
}

int sf_succeed(void) {
  sf_errno = 0;
  errmsg[0] = 0;
  return 0;
}

int (*sf_seed_transport)(unsigned nr, const struct sf_seed_args *a, unsigned timeout_ms, struct sf_hc_reply *rep);

int sf_seed_call(unsigned nr, const struct sf_seed_args *a, const struct sf_hc_reply **reply) {
  memset(&block, 0, sizeof block);
  long rax;
  /* A fork's answer differs in every VM it makes: only the VMM can give it, so clone.master stays a hypercall. */
  if (sf_seed_transport && nr != SF_HC_CLONE_MASTER) {
    rax = sf_seed_transport(nr, a, timeout_ms, &block.rep);
  } else {
    block.req.nr = nr;
    block.req.flags = a ? a->flags : 0;
    block.req.nclones = a ? a->nclones : 0;
    block.req.min = a ? a->min : 0;
    block.req.status = a ? a->status : 0;
    block.req.timeout_ms = timeout_ms;
    if (a && a->ticket) strlcpy(block.req.ticket, a->ticket, sizeof block.req.ticket);
    rax = sf_hc1(nr, (unsigned long)(uintptr_t)&block);
  }

  /* Never trust the VMM's strings to be terminated. */
  block.rep.errmsg[SF_ERRMSG_LEN - 1] = 0;
  block.rep.ticket[SF_TICKET_LEN] = 0;
  *reply = &block.rep;
  long status = rax < 0 ? rax : block.rep.status;
  if (status >= 0) {
    sf_errno = 0;
    errmsg[0] = 0;
    return 0;
  }
  /* SF_ECLONE is the highest code abi.h defines: anything beyond is not ours to interpret. */
  int code = status < -SF_ECLONE ? SF_EINTERNAL : (int)-status;
  /* The VMM answers sfld's failure in rax too, with the reply (and sfld's message) in the block; when it
   * rejected the call itself the block still holds our request, whose nr (where rep.status lies) is
   * positive, so the two cases never look alike. */
  int replied = rax >= 0 || block.rep.status == rax;
  return sf_fail(code, replied && block.rep.errmsg[0] ? block.rep.errmsg : 0);
}
