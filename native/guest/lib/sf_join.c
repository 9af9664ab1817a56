/* How a clone.join answer becomes a result: the per-clone exit records (struct sf_hc_exit) are
 * copied out and checked, so every join flavour reports a crashed or killed clone as SF_ECLONE. */
#include <sf.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include "sf_internal.h"

static const char *how_text(unsigned how) {
  switch (how) {
    case SF_CLONE_CRASHED: return "crashed";
    case SF_CLONE_KILLED: return "was killed";
    default: return "ended abnormally";
  }
}

int sf_join_outcome(const struct sf_hc_reply *rep, struct sf_hc_exit *out, int max) {
  /* The reply is sfld's word but its count sizes our copy: never read past the array. */
  unsigned n = rep->count > SF_MAX_ALLOC ? SF_MAX_ALLOC : rep->count;
  unsigned copy = max < 0 ? 0 : (unsigned)max < n ? (unsigned)max : n;
  if (out && copy) memcpy(out, rep->exits, copy * sizeof *out);
  int first = -1, bad = 0;
  for (unsigned i = 0; i < n; i++) {
    if (rep->exits[i].how == SF_CLONE_EXITED) continue;
    if (first < 0) first = (int)i;
    bad++;
  }
  if (first < 0) return (int)n;
  const struct sf_hc_exit *e = &rep->exits[first];
  char msg[96];
  if (e->how == SF_CLONE_CRASHED || e->how == SF_CLONE_KILLED)
    snprintf(msg, sizeof msg, "clone %u %s", e->vmid, how_text(e->how));
  else snprintf(msg, sizeof msg, "clone %u %s (how=%u)", e->vmid, how_text(e->how), e->how);
  if (bad > 1) {
    size_t len = strlen(msg);
    snprintf(msg + len, sizeof msg - len, "; %d of %u clones did not exit by themselves", bad, n);
  }
  return sf_fail(SF_ECLONE, msg);
}
