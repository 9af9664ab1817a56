/* How the example guests split their work across a SnowFlock cluster: `clones=N` makes the
 * program fork itself after preparing its data (the SnowFlock way), `nvms=K` tells a VM booted
 * with vmid > 0 how many VMs share the work. Item i belongs to the VM with i % nvms == vmid. */
#ifndef EXAMPLES_SHARE_H
#define EXAMPLES_SHARE_H

#include <sf.h>

struct share {
  unsigned vmid;  /* this VM: 0 master, 1..n clones */
  unsigned nvms;  /* VMs sharing the work (master included) */
  int forked;     /* this program cloned itself (then the master joins, clones exit) */
  unsigned long long clones_wanted;
  char ticket[SF_TICKET_SIZE + 1];
};

/* Reads clones= and nvms= and the VM's identity. Returns 0, or -1 on a malformed argument. */
int share_init(int argc, char **argv, struct share *s);
/* If clones=N was given: ticket + fork now. Returns 0 (in every VM), or -1 in the master if the
 * cluster could not be made (the reason is printed). */
int share_fork(struct share *s);
static inline int share_owns(const struct share *s, unsigned long long item) {
  return item % s->nvms == s->vmid;
}
/* Ends the share: a forked clone leaves with IC_EXIT(status) and never returns; the master joins
 * its clones. Returns the exit code to use (status, or 2 if the join failed). */
int share_finish(struct share *s, int status);

#endif /* EXAMPLES_SHARE_H */
