/* Fork/join plumbing shared by the example guests (see share.h): one ticket, one sf_clone, each
 * VM does its share and digests it, clones exit with digest + verdict, the master joins, adds the
 * digests up and prints the one result line. */
#include "common/share.h"
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/stdio.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include <sfguest/time.h>

/* The join's records and which clones answered: static, since the master joins once and 4 KiB
 * would be a lot of crt0's stack. */
static struct sf_hc_exit exits[SF_MAX_ALLOC];
static unsigned char seen[SF_MAX_ALLOC + 1];

static int share_reserve(struct share *s);

int share_init(int argc, char **argv, struct share *s) {
  unsigned long long nvms, hints;
  memset(s, 0, sizeof *s);
  s->vmid = sf_vmid();
  s->name = argc > 0 && argv[0] ? argv[0] : "guest";
  if (sf_arg_u64(argc, argv, "clones", 0, &s->clones_wanted) < 0) return -1;
  if (sf_arg_u64(argc, argv, "nvms", s->vmid + 1ull, &nvms) < 0) return -1;
  if (sf_arg_u64(argc, argv, "hints", 1, &hints) < 0) return -1;
  if (sf_arg_u64(argc, argv, "crash", 0, &s->crash_vmid) < 0) return -1;
  if (s->clones_wanted > SF_MAX_ALLOC) {
    printf("clones=%llu: at most %u\n", s->clones_wanted, SF_MAX_ALLOC);
    return -1;
  }
  if (hints > 1) {
    printf("hints=%llu: 0 or 1\n", hints);
    return -1;
  }
  sf_malloc_set_hints((int)hints);
  if (nvms <= s->vmid) nvms = s->vmid + 1ull; /* a booted clone is at least one of vmid+1 VMs */
  s->nvms = (unsigned)nvms;
  (void)share_reserve(s); /* a failure is reported now and ends the program at share_fork */
  return 0;
}

/* The ticket comes first, before the program builds its data: the hosts then prepare the clones
 * (their VMs, empty) while the master works, and the fork itself only has to copy state. */
static int share_reserve(struct share *s) {
  if (!s->clones_wanted || s->vmid != 0) return 0;
  int granted = sf_request_ticket((int)s->clones_wanted, s->ticket);
  if (granted < 0) {
    printf("sf_request_ticket(%llu) failed: %s\n", s->clones_wanted, sf_errmsg());
    return -1;
  }
  if ((unsigned)granted < s->clones_wanted)
    printf("ticket %s: %d of %llu clones granted\n", s->ticket, granted, s->clones_wanted);
  s->granted = granted;
  return 0;
}

int share_fork(struct share *s) {
  if (!s->clones_wanted) return 0;
  if (s->vmid != 0) {
    printf("clones=%llu ignored: this VM is already clone %u\n", s->clones_wanted, s->vmid);
    return 0;
  }
  if (s->granted <= 0) return -1; /* share_init reported why */
  int granted = s->granted;
  s->fork_t0_ns = sf_time_ns();
  int vmid = sf_clone(s->ticket);
  s->fork_t1_ns = sf_time_ns(); /* in a clone: the first thing it does */
  if (vmid < 0) {
    printf("sf_clone(%s) failed: %s\n", s->ticket, sf_errmsg());
    sf_kill(s->ticket);
    return -1;
  }
  if (vmid > 0 && (unsigned long long)vmid == s->crash_vmid)
    sf_panic("clone %d crashes on purpose (crash=%d)", vmid, vmid);
  s->vmid = (unsigned)vmid;
  s->nvms = (unsigned)granted + 1;
  s->forked = 1;
  if (vmid > 0) printf("clone %d of %d running\n", vmid, granted);
  else printf("forked %d clones with ticket %s\n", granted, s->ticket);
  return 0;
}

uint32_t share_item_digest(unsigned long long item, uint64_t value) {
  /* The item number is mixed in first, so equal results of different items (or one item's result
   * credited to another) do not cancel out or pass unnoticed. */
  uint64_t h = sf_mix64(sf_mix64(item ^ 0x5348415245ull) ^ value);
  return (uint32_t)(h >> (64 - SHARE_DIGEST_BITS));
}

void share_add(struct share *s, unsigned long long item, uint64_t value) {
  s->digest = share_combine(s->digest, share_item_digest(item, value));
  s->added++;
}

static void result_line(const struct share *s, uint32_t digest, int ok) {
  printf("%s result digest=0x%08x items=%llu verified %s\n", s->name, digest, s->items, ok ? "OK" : "FAILED");
}

/* This VM folded in exactly the items it owns (a program that skips share_add for an item would
 * otherwise go unnoticed when that item's digest happens to be 0). */
static int own_count_ok(const struct share *s) {
  unsigned long long owned = share_owned_count(s->items, s->vmid, s->nvms);
  if (s->added == owned) return 1;
  printf("%s vmid=%u: %llu results for %llu owned items\n", s->name, s->vmid, s->added, owned);
  return 0;
}

/* One clone's record: adds its digest; returns 0, 1 (its checks failed) or 2 (no result). */
static int take_record(const struct sf_hc_exit *e, uint32_t *digest) {
  static const char *const how[] = {"exited", "crashed", "was killed"};
  if (e->how != SF_CLONE_EXITED) {
    printf("clone %u %s%s\n", e->vmid, e->how < 3 ? how[e->how] : "ended abnormally",
           e->how < 3 ? "" : " (unknown how)");
    return 2;
  }
  uint32_t d;
  int failed;
  if (share_decode(e->status, &d, &failed) < 0) {
    printf("clone %u exited with status %d: no result\n", e->vmid, e->status);
    return 2;
  }
  *digest = share_combine(*digest, d);
  if (failed) printf("clone %u: its checks FAILED\n", e->vmid);
  return failed ? 1 : 0;
}

/* The master's join: every clone 1..nvms-1 must have exactly one record. Returns the worst of
 * 0 / 1 / 2 as for take_record, adding the digests of the clones that reported one. */
static int gather(struct share *s, uint32_t *digest) {
  unsigned nclones = s->nvms - 1;
  memset(exits, 0, sizeof exits);
  memset(seen, 0, sizeof seen);
  int n = sf_join_results(s->ticket, exits, SF_MAX_ALLOC);
  if (n < 0 && n != -SF_ECLONE) {
    printf("sf_join(%s) failed: %s\n", s->ticket, sf_errmsg());
    return 2;
  }
  int worst = 0;
  /* On SF_ECLONE the count is not returned: scan the whole array; untouched records have vmid 0. */
  unsigned limit = n >= 0 ? (unsigned)n : SF_MAX_ALLOC;
  for (unsigned i = 0; i < limit; i++) {
    const struct sf_hc_exit *e = &exits[i];
    if (e->vmid == 0 && n < 0) continue;
    if (e->vmid < 1 || e->vmid > nclones || seen[e->vmid]) {
      printf("join: unexpected record for vmid %u\n", e->vmid);
      worst = 2;
      continue;
    }
    seen[e->vmid] = 1;
    int r = take_record(e, digest);
    if (r > worst) worst = r;
  }
  for (unsigned v = 1; v <= nclones; v++) {
    if (seen[v]) continue;
    printf("clone %u: no exit record in the join\n", v);
    worst = 2;
  }
  printf("joined %u clones%s\n", n >= 0 ? (unsigned)n : nclones, worst ? ", not all well" : "");
  return worst;
}

int share_finish(struct share *s, int status) {
  int mine_ok = own_count_ok(s) && status == 0;
  if (s->forked && s->vmid > 0) {
    int code = share_encode(s->digest, !mine_ok);
    printf("%s clone vmid=%u digest=0x%08x exit_status=0x%08x\n", s->name, s->vmid, s->digest, (unsigned)code);
    sf_flush();
    sf_exit_status(code); /* returns only if the exit was refused */
    printf("IC_EXIT refused: %s\n", sf_errmsg());
    return status ? status : 2;
  }
  if (!s->forked && s->nvms > 1) {
    /* One VM of several booted separately: its part only; the parts' digests add up. */
    printf("%s partial vmid=%u nvms=%u digest=0x%08x items=%llu/%llu verified %s\n", s->name, s->vmid, s->nvms,
           s->digest, s->added, s->items, mine_ok ? "OK" : "FAILED");
    return mine_ok ? 0 : status ? status : 1;
  }
  uint32_t digest = s->digest;
  int clones = s->forked ? gather(s, &digest) : 0;
  /* The parallel part's wall time (benchmarks set it against a single VM's work time). */
  if (s->forked)
    printf("%s master fork_to_join_ns=%llu\n", s->name, (unsigned long long)(sf_time_ns() - s->fork_t0_ns));
  s->result = digest;
  result_line(s, digest, mine_ok && clones == 0);
  if (status) return status;
  return !mine_ok ? 1 : clones;
}
