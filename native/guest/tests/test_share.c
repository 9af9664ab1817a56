/* Host tests of the examples' fork/join gather (examples/common/share.c) against a fake sfld: the
 * exit-status encoding round trip, digests that add up the same however the items are shared,
 * and whole runs — one VM, a master with 8 clones whose statuses come from real clone-side
 * share_finish calls — that must print the same last line, or FAILED when a clone goes wrong. */
#include <setjmp.h>
#include <sf.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/string.h>
#include <stdint.h>
#include "common/share.h"
#include "shim.h"
#include "test.h"

#define ITEMS 16
#define CLONES 8

static const char TICKET[] = "0f8fad5b-d9cb-469f-a165-70867728950e";
static int fake_vmid;        /* CLONE_MASTER's answer */
static int fake_join_status; /* clone.join's reply status (0 = the join succeeded) */
static unsigned fake_join_count;
static struct sf_hc_exit fake_exits[SF_MAX_ALLOC];
static int last_exit_status; /* what the last CLONE_EXIT carried */

static long fake_sfld(unsigned nr, union sf_hc_block *b) {
  int status = b->req.status, nclones = b->req.nclones; /* the reply overwrites the request */
  struct sf_hc_reply *rep = &b->rep;
  memset(rep, 0, sizeof *rep);
  switch (nr) {
    case SF_HC_TICKET_REQUEST:
      rep->count = (unsigned)nclones;
      memcpy(rep->ticket, TICKET, sizeof TICKET);
      break;
    case SF_HC_CLONE_MASTER:
      rep->count = CLONES;
      rep->vmid = fake_vmid;
      if (fake_vmid > 0) sf_set_vmid((unsigned)fake_vmid); /* the VMM rewrites a clone's boot info */
      break;
    case SF_HC_CLONE_JOIN:
      rep->status = fake_join_status;
      rep->count = fake_join_count;
      memcpy(rep->exits, fake_exits, sizeof fake_exits);
      break;
    case SF_HC_CLONE_EXIT: last_exit_status = status; break;
    default: break;
  }
  return 0;
}

/* The job: item i's correct result is value_of(i); `wrong` (if < ITEMS) is computed wrongly. */
static uint64_t value_of(unsigned long long i, unsigned long long wrong) { return sf_mix64(i * 7 + 1) + (i == wrong); }

static const char *last_line(void) {
  static char line[256];
  size_t end = shim.console_len;
  if (end && shim.console[end - 1] == '\n') end--;
  size_t start = end;
  while (start && shim.console[start - 1] != '\n') start--;
  size_t n = end - start < sizeof line - 1 ? end - start : sizeof line - 1;
  memcpy(line, shim.console + start, n);
  line[n] = 0;
  return line;
}

static void setup(void) {
  shim_reset();
  shim_heap_reset();
  shim.seed = fake_sfld;
  sf_set_vmid(0);
  fake_vmid = 0;
  fake_join_status = 0;
  fake_join_count = 0;
  memset(fake_exits, 0, sizeof fake_exits);
}

/* One VM's part of the job from share_init to share_finish, as the examples do it. For a clone
 * (vmid > 0) returns the status it exited with; else share_finish's return value. */
static int run_vm(const char *clones_arg, int vmid, unsigned long long wrong, int own_status) {
  char a0[] = "test", a1[32];
  strlcpy(a1, clones_arg, sizeof a1);
  char *argv[] = {a0, a1, 0};
  struct share sh;
  fake_vmid = vmid;
  sf_set_vmid(0);
  if (share_init(2, argv, &sh) < 0 || share_fork(&sh) < 0) return -1000;
  sh.items = ITEMS;
  for (unsigned long long i = 0; i < ITEMS; i++)
    if (share_owns(&sh, i)) share_add(&sh, i, value_of(i, wrong));
  if (vmid == 0) return share_finish(&sh, own_status);
  jmp_buf jb;
  shim.catcher = &jb;
  last_exit_status = -1;
  if (setjmp(jb) == 0) {
    share_finish(&sh, own_status);
    CHECK(!"a clone's share_finish returned");
  }
  shim.catcher = 0;
  return last_exit_status;
}

/* Fills the fake join with what clones 1..CLONES really exit with; clone `bad` gets `wrong`. */
static void clones_exit(unsigned bad, unsigned long long wrong, int bad_status) {
  for (unsigned v = 1; v <= CLONES; v++) {
    fake_exits[v - 1].vmid = v;
    fake_exits[v - 1].how = SF_CLONE_EXITED;
    fake_exits[v - 1].status = run_vm("clones=8", (int)v, v == bad ? wrong : ITEMS, v == bad ? bad_status : 0);
  }
  fake_join_count = CLONES;
}

static void test_encoding(void) {
  struct sf_prng r;
  sf_prng_seed(&r, 5);
  int bad = 0;
  for (int k = 0; k < 1000; k++) {
    uint32_t d = (uint32_t)sf_prng_next(&r) & SHARE_DIGEST_MASK, d2 = 0;
    int failed = k & 1, f2 = -1;
    int st = share_encode(d, failed);
    bad += st < 0 || share_decode(st, &d2, &f2) != 0 || d2 != d || f2 != failed;
  }
  CHECKF(bad == 0, "%d encode/decode round trips failed", bad);
  uint32_t d;
  int f;
  /* Plain exit codes and negative statuses are not results. */
  CHECK(share_decode(0, &d, &f) < 0 && share_decode(1, &d, &f) < 0 && share_decode(64, &d, &f) < 0);
  CHECK(share_decode(-1, &d, &f) < 0 && share_decode((int)0xC0000000u, &d, &f) < 0);
  CHECK(share_encode(0, 0) == (int)SHARE_MARK && share_encode(SHARE_DIGEST_MASK, 1) == 0x7fffffff);
}

static void test_combine(void) {
  uint32_t item[64];
  for (unsigned i = 0; i < 64; i++) item[i] = share_item_digest(i, sf_mix64(i));
  uint32_t fwd = 0, rev = 0;
  for (unsigned i = 0; i < 64; i++) fwd = share_combine(fwd, item[i]);
  for (unsigned i = 64; i-- > 0;) rev = share_combine(rev, item[i]);
  CHECK(fwd == rev && fwd <= SHARE_DIGEST_MASK);
  int bad = 0;
  for (unsigned nvms = 1; nvms <= 12; nvms++) {
    uint32_t all = 0;
    for (unsigned v = nvms; v-- > 0;) { /* VMs in any order, each summing its own items */
      uint32_t part = 0;
      for (unsigned i = v; i < 64; i += nvms) part = share_combine(part, item[i]);
      all = share_combine(all, part);
    }
    bad += all != fwd;
  }
  CHECKF(bad == 0, "%d partitions gave another digest", bad);
  /* The item number matters: the same value for another item digests differently. */
  CHECK(share_item_digest(1, 42) != share_item_digest(2, 42));
  CHECK(share_item_digest(0, 0) != 0);
  CHECK(share_owned_count(16, 0, 9) == 2 && share_owned_count(16, 7, 9) == 1 && share_owned_count(16, 0, 1) == 16 &&
        share_owned_count(3, 5, 9) == 0);
}

static void test_runs(void) {
  /* One VM alone: the reference line. */
  setup();
  CHECK(run_vm("clones=0", 0, ITEMS, 0) == 0);
  char single[256];
  strlcpy(single, last_line(), sizeof single);
  CHECKF(strncmp(single, "test result digest=0x", 21) == 0 && strstr(single, " items=16 verified OK"),
         "single-VM line \"%s\"", single);
  CHECK(shim.calls[SF_HC_CLONE_JOIN] == 0);

  /* A clone exits with a marked, passing status and prints what it sends. */
  setup();
  int st = run_vm("clones=8", 3, ITEMS, 0);
  uint32_t d;
  int failed = -1;
  CHECK(share_decode(st, &d, &failed) == 0 && failed == 0);
  CHECK(strstr(last_line(), "test clone vmid=3 digest=0x") != 0);

  /* Master + 8 clones: the same last line. */
  setup();
  clones_exit(0, ITEMS, 0);
  shim_console_clear();
  CHECK(run_vm("clones=8", 0, ITEMS, 0) == 0);
  CHECKF(strcmp(last_line(), single) == 0, "forked \"%s\" vs single \"%s\"", last_line(), single);
  CHECK(shim.calls[SF_HC_CLONE_JOIN] == 1 && strstr(shim.console, "joined 8 clones\n") != 0);

  /* A clone that computed one item wrongly: still "OK" by its own checks, but the digest differs. */
  setup();
  clones_exit(2, 2, 0); /* item 2 belongs to clone 2 of 9 VMs */
  CHECK(run_vm("clones=8", 0, ITEMS, 0) == 0);
  CHECK(strcmp(last_line(), single) != 0 && strstr(last_line(), "verified OK"));
  /* A wrong item in the master changes it too. */
  setup();
  clones_exit(0, ITEMS, 0);
  CHECK(run_vm("clones=8", 0, 9, 0) == 0 && strcmp(last_line(), single) != 0);
}

/* Every way a forked run can go wrong ends in "verified FAILED" and a nonzero exit code. */
static int failed_run(int expect_code, const char *why) {
  int code = run_vm("clones=8", 0, ITEMS, 0);
  const char *line = last_line();
  int ok = code == expect_code && strstr(line, "test result digest=0x") == line && strstr(line, "verified FAILED") != 0;
  CHECKF(ok, "%s: code %d, line \"%s\"", why, code, line);
  return ok;
}

static void test_failures(void) {
  setup();
  clones_exit(4, ITEMS, 1); /* clone 4's own checks failed */
  failed_run(1, "clone verdict");
  CHECK(strstr(shim.console, "clone 4: its checks FAILED") != 0);

  setup();
  clones_exit(0, ITEMS, 0);
  fake_exits[5].how = SF_CLONE_CRASHED;
  fake_exits[5].status = 0;
  failed_run(2, "crashed clone");
  CHECK(strstr(shim.console, "clone 6 crashed") != 0);

  setup();
  clones_exit(0, ITEMS, 0);
  fake_exits[0].how = SF_CLONE_KILLED;
  failed_run(2, "killed clone");

  setup();
  clones_exit(0, ITEMS, 0);
  fake_exits[7].status = 0; /* a bare exit(0): no result */
  failed_run(2, "unmarked status");

  setup();
  clones_exit(0, ITEMS, 0);
  fake_join_count = CLONES - 1; /* clone 8 missing */
  failed_run(2, "missing record");
  CHECK(strstr(shim.console, "clone 8: no exit record") != 0);

  setup();
  clones_exit(0, ITEMS, 0);
  fake_exits[1].vmid = 1; /* clone 1 twice, clone 2 never */
  failed_run(2, "duplicate record");

  setup();
  fake_join_status = -SF_ETIMEDOUT;
  failed_run(2, "join error");

  setup();
  clones_exit(0, ITEMS, 0);
  CHECK(run_vm("clones=8", 0, ITEMS, 1) == 1 && strstr(last_line(), "verified FAILED"));
}

static void test_args_and_partial(void) {
  setup();
  char a0[] = "test", a1[] = "hints=0", a2[] = "hints=2";
  char *argv[] = {a0, a1, 0};
  struct share sh;
  CHECK(share_init(2, argv, &sh) == 0);
  CHECK(malloc(100000) != 0 && shim.nhints == 0); /* hints=0 reached malloc */
  argv[1] = a2;
  CHECK(share_init(2, argv, &sh) < 0);

  /* A VM booted as one of three: its part only, in a line of its own. */
  setup();
  sf_set_vmid(1);
  char n3[] = "nvms=3";
  argv[1] = n3;
  CHECK(share_init(2, argv, &sh) == 0 && sh.vmid == 1 && sh.nvms == 3);
  sh.items = ITEMS;
  for (unsigned long long i = 0; i < ITEMS; i++)
    if (share_owns(&sh, i)) share_add(&sh, i, value_of(i, ITEMS));
  CHECK(share_finish(&sh, 0) == 0 && strstr(last_line(), "test partial vmid=1 nvms=3 digest=0x") &&
        strstr(last_line(), "items=5/16 verified OK"));
  /* One owned item left out: caught even though nothing else is wrong. */
  sh.added--;
  CHECK(share_finish(&sh, 0) == 1 && strstr(last_line(), "verified FAILED"));
  sf_set_vmid(0);
}

void test_share(void) {
  test_encoding();
  test_combine();
  test_runs();
  test_failures();
  test_args_and_partial();
  shim.seed = 0;
  shim_heap_reset();
}
