/* How the example guests split their work across a SnowFlock cluster and gather it back: `clones=N`
 * makes the program fork itself after preparing its data (the SnowFlock way), `nvms=K` tells a VM
 * booted with vmid > 0 how many VMs share the work. Item i belongs to the VM with i % nvms == vmid.
 * `hints=0` turns off malloc's fresh-page hints (default hints=1), to measure what they save.
 *
 * Gather: each VM folds a result per item it owns into a 29-bit digest (share_add); a clone hands
 * its digest and verdict to the master in its exit status; the master adds every clone's digest to
 * its own. The sum (mod 2^29) of per-item digests does not depend on which VM did which item, so
 * the master's last line is the same for clones=0 and any clones=N:
 *     <name> result digest=0x<8 hex> items=<n> verified OK
 * and "... verified FAILED" (exit code != 0) if any VM's checks failed, a clone crashed, was killed
 * or reported no result, or the join failed.
 *
 * Exit status of a clone (sf_exit_status, seen by the master in struct sf_hc_exit.status):
 *     bit 31      0            (the status stays a non-negative int)
 *     bit 30      SHARE_MARK   set on every gathered result: a bare exit(0) is not one
 *     bit 29      SHARE_FAILED the clone's own checks failed
 *     bits 28..0  its digest
 */
#ifndef EXAMPLES_SHARE_H
#define EXAMPLES_SHARE_H

#include <sf.h>
#include <stdint.h>

#define SHARE_DIGEST_BITS 29
#define SHARE_DIGEST_MASK ((1u << SHARE_DIGEST_BITS) - 1u)
#define SHARE_FAILED (1u << 29)
#define SHARE_MARK (1u << 30)

struct share {
  unsigned vmid; /* this VM: 0 master, 1..n clones */
  unsigned nvms; /* VMs sharing the work (master included) */
  int forked;    /* this program cloned itself (then the master joins, clones exit) */
  unsigned long long clones_wanted;
  char ticket[SF_TICKET_SIZE + 1];
  const char *name;         /* argv[0]: starts the result lines */
  unsigned long long items; /* work items in the whole job: the program sets it before finishing */
  unsigned long long added; /* items this VM folded in with share_add */
  uint32_t digest;          /* this VM's digest so far */
  uint32_t result;          /* the master's result line's digest (its own plus its clones'), after share_finish */
  /* share_fork's clock (host monotonic ns) around sf_clone: t0 is taken in the master just before
   * the call; a clone starts with the master's memory, so it sees the same t0, and its t1 is its
   * first act after sf_clone returns. t1 - t0: the fork call in the master, the time from the
   * call to the clone's first instructions in a clone (same host: the same clock). */
  uint64_t fork_t0_ns, fork_t1_ns;
  /* crash=V (fault tests): clone V panics right after the fork, so the master's join must report it. */
  unsigned long long crash_vmid;
  int granted; /* clones the ticket granted (share_init requests it when clones=N) */
};

/* Reads clones=, nvms=, hints= and crash= and the VM's identity; with clones=N the master requests its
 * ticket now, before building its data, so the hosts prepare the clones meanwhile. Returns 0, or -1 on
 * a malformed argument. */
int share_init(int argc, char **argv, struct share *s);
/* If clones=N was given: fork now with the ticket share_init got. Returns 0 (in every VM), or -1 in the
 * master if the cluster could not be made (the reason is printed). */
int share_fork(struct share *s);
static inline int share_owns(const struct share *s, unsigned long long item) { return item % s->nvms == s->vmid; }
/* Folds the result of one owned item into this VM's digest. value must be a pure function of the
 * item's correct result, the same whichever VM computes it. */
void share_add(struct share *s, unsigned long long item, uint64_t value);
/* Ends the share and returns the exit code to use. A forked clone leaves with its encoded status
 * (never returns unless the exit is refused). The master joins its clones, combines the digests
 * and prints the result line. An unforked VM prints the result line if it held the whole job,
 * else a "partial" line (partial digests of one job add up to its digest).
 * status: 0 if this VM's own checks passed. Returns 0 if everything passed; else status if it was
 * nonzero, 1 if a clone's checks failed, 2 if a clone or the join itself failed. */
int share_finish(struct share *s, int status);

/* The pure parts, exposed for the host tests. */
uint32_t share_item_digest(unsigned long long item, uint64_t value);
static inline uint32_t share_combine(uint32_t a, uint32_t b) { return (a + b) & SHARE_DIGEST_MASK; }
static inline int share_encode(uint32_t digest, int failed) {
  return (int)(SHARE_MARK | (failed ? SHARE_FAILED : 0u) | (digest & SHARE_DIGEST_MASK));
}
/* Returns 0 and the digest and verdict if status is a gathered result, -1 if it is not. */
static inline int share_decode(int status, uint32_t *digest, int *failed) {
  uint32_t u = (uint32_t)status;
  if (status < 0 || !(u & SHARE_MARK)) return -1;
  *digest = u & SHARE_DIGEST_MASK;
  *failed = (u & SHARE_FAILED) != 0;
  return 0;
}
/* Items of a job of `items` that VM vmid of nvms owns. */
static inline unsigned long long share_owned_count(unsigned long long items, unsigned vmid, unsigned nvms) {
  return items / nvms + (vmid < items % nvms ? 1 : 0);
}

#endif /* EXAMPLES_SHARE_H */
