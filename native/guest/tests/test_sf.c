/* Host tests of libsf (sf.h) against a fake sfld in the shim: the section-6 structures' layout, what
 * each call puts in the request block, how replies become sf_results and ints (min and block as
 * documented), error paths (rax, reply status, local checks), fork semantics of CLONE_MASTER /
 * sf_clone / sf_checkpoint_parent + sf_create_clones, the join's exit records (sf_join_results,
 * SF_ECLONE), and that FREE_SF_RES returns every byte. */
#include <setjmp.h>
#include <sf.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/string.h>
#include <stddef.h>
#include <stdint.h>
#include "shim.h"
#include "test.h"

static char T1[] = "0f8fad5b-d9cb-469f-a165-70867728950e";
static char T2[] = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
static char T3[] = "c9bf9e57-1685-4c89-bafb-ff5af830be8a";

static struct sf_hc_request last_req; /* copy of the last request the fake sfld saw */
static int fake_vmid;                 /* what CLONE_MASTER answers this VM */
static int fake_status;               /* reply status to answer (0 = success) */
static unsigned fake_granted = 3;     /* ticket.request grants at most this many */
static long fake_rax;                 /* rax to answer (0 = success) */
static int fake_status_in_rax;        /* answer a failed call's status in rax too, as the real VMM does */
static unsigned fake_nunused = 2, fake_noutstanding = 1;
static unsigned fake_join_count;                   /* clone.join: count to answer ... */
static struct sf_hc_exit fake_exits[SF_MAX_ALLOC]; /* ... and the records */

static long fake_sfld(unsigned nr, union sf_hc_block *b) {
  last_req = b->req;
  if (fake_rax) return fake_rax;
  struct sf_hc_reply *rep = &b->rep;
  memset(rep, 0x5A, sizeof *rep); /* garbage everywhere a careless reader might look */
  rep->status = fake_status;
  rep->count = 0;
  rep->vmid = 0;
  rep->ticket[0] = 0;
  rep->errmsg[0] = 0;
  if (fake_status) {
    strcpy(rep->errmsg, "only the master may request tickets");
    return fake_status_in_rax ? fake_status : 0;
  }
  switch (nr) {
    case SF_HC_TICKET_REQUEST:
      rep->count = (unsigned)last_req.nclones > fake_granted ? fake_granted : (unsigned)last_req.nclones;
      if (rep->count) memcpy(rep->ticket, T1, sizeof T1);
      break;
    case SF_HC_TICKET_LIST:
      rep->nunused = fake_nunused;
      rep->noutstanding = fake_noutstanding;
      rep->count = fake_nunused + fake_noutstanding;
      for (unsigned i = 0; i < SF_MAX_TICKETS; i++) memcpy(rep->tickets[i], i % 2 ? T3 : T2, sizeof T2);
      memcpy(rep->tickets[0], T1, sizeof T1);
      break;
    case SF_HC_TICKET_INFO:
      rep->count = 3;
      for (unsigned i = 0; i < 3; i++) {
        rep->alloc[i].vmid = i + 1;
        rep->alloc[i].processors = 2 * (i + 1);
      }
      break;
    case SF_HC_CLONE_MASTER:
      rep->count = 3;
      rep->vmid = fake_vmid;
      if (fake_vmid > 0) sf_set_vmid((unsigned)fake_vmid); /* the VMM rewrites a clone's boot info */
      break;
    case SF_HC_CLONE_MERGE: rep->count = 3; break;
    case SF_HC_CLONE_JOIN:
      rep->count = fake_join_count;
      memcpy(rep->exits, fake_exits, sizeof fake_exits);
      break;
    default: break;
  }
  return 0;
}

static void setup(void) {
  shim_reset();
  shim_heap_reset();
  shim.seed = fake_sfld;
  fake_vmid = 0;
  fake_status = 0;
  fake_rax = 0;
  fake_granted = 3;
  fake_nunused = 2;
  fake_noutstanding = 1;
  /* By default three clones that all exited by themselves, with statuses 10, 20, 30. */
  fake_join_count = 3;
  memset(fake_exits, 0, sizeof fake_exits);
  for (unsigned i = 0; i < SF_MAX_ALLOC; i++) {
    fake_exits[i].vmid = i + 1;
    fake_exits[i].status = 10 * (int)(i + 1);
    fake_exits[i].how = SF_CLONE_EXITED;
  }
  sf_set_vmid(0);
  memset(&last_req, 0, sizeof last_req);
}

static size_t used_bytes(void) {
  struct sf_heap_stats st;
  sf_heap_stats(&st);
  return st.used_bytes;
}

/* The structures are section 6's, field for field: a program's initialisers and pointer walks rely on it. */
static void test_layout(void) {
  CHECK(SF_TICKET_SIZE == 36);
  CHECK(offsetof(sf_ticket_list, next) == 0 && offsetof(sf_ticket_list, ticket) == sizeof(void *));
  CHECK(sizeof(((sf_ticket_list *)0)->ticket) == SF_TICKET_SIZE + 1);
  CHECK(offsetof(sf_clone_info, next) == 0 && offsetof(sf_clone_info, vmid) == sizeof(void *) &&
        offsetof(sf_clone_info, processors) == sizeof(void *) + sizeof(int));
  CHECK(offsetof(sf_result, rc) == 0 && sizeof(((sf_result *)0)->rc) == sizeof(int));
  CHECK(offsetof(sf_result, rc.allowed_clones) == offsetof(sf_result, rc.number_clones));
  CHECK(offsetof(sf_result, vmid) == sizeof(int) && offsetof(sf_result, ticket) == 2 * sizeof(int));
  CHECK(offsetof(sf_result, clone_list) > offsetof(sf_result, ticket) + SF_TICKET_SIZE);
  CHECK(offsetof(sf_result, unused_tickets) == offsetof(sf_result, clone_list) + sizeof(void *));
  CHECK(offsetof(sf_result, outstanding_tickets) == offsetof(sf_result, unused_tickets) + sizeof(void *));
  CHECK(sizeof(sf_result) == offsetof(sf_result, outstanding_tickets) + sizeof(void *));
}

static void test_tickets(void) {
  setup();
  sf_result *r = REQUEST_CLONE_TICKET(8, 0, 2, 1);
  CHECK(r && r->rc.allowed_clones == 3 && strcmp(r->ticket, T1) == 0);
  CHECK(last_req.nr == SF_HC_TICKET_REQUEST && last_req.nclones == 8 && last_req.min == 2 &&
        last_req.flags == SF_REQ_BLOCK && last_req.ticket[0] == 0);
  CHECK(shim.seed_regs[0] != 0 && shim.seed_regs[1] == 0 && shim.seed_regs[2] == 0 && shim.seed_regs[3] == 0 &&
        shim.seed_nr_mismatch == 0); /* rdi = the block, nothing else */
  CHECK(sf_errno == 0);
  FREE_SF_RES(r);

  /* The two wrappers block and want all n (min < 0 means no range). */
  r = REQUEST_VM_TICKET(2);
  CHECK(r && r->rc.allowed_clones == 2 && last_req.flags == SF_REQ_BLOCK && last_req.min == 2 && last_req.nclones == 2);
  FREE_SF_RES(r);
  r = REQUEST_PROC_TICKET(6);
  CHECK(r && last_req.flags == (SF_REQ_PROCS | SF_REQ_BLOCK) && last_req.nclones == 6 && last_req.min == 6);
  FREE_SF_RES(r);
  r = REQUEST_CLONE_TICKET(3, 0, -1, 0);
  CHECK(r && last_req.min == 3 && last_req.flags == 0);
  FREE_SF_RES(r);

  /* min 0 without blocking: nothing fitting is an empty reservation, not an error ... */
  fake_status = -SF_ENORES;
  r = REQUEST_CLONE_TICKET(4, 0, 0, 0);
  CHECK(r && r->rc.allowed_clones == 0 && r->ticket[0] == 0 && !r->clone_list && sf_errno == 0);
  CHECK(last_req.min == 0 && last_req.flags == 0);
  FREE_SF_RES(r);
  /* ... whereas with min 1, or blocking, it stays the error it is. */
  CHECK(REQUEST_CLONE_TICKET(4, 0, 1, 0) == 0 && sf_errno == SF_ENORES);
  CHECK(REQUEST_CLONE_TICKET(4, 0, 0, 1) == 0 && sf_errno == SF_ENORES);
  fake_status = 0;
  /* A grant of nothing with no ticket (an sfmd that answers min 0 so) is the same empty reservation. */
  fake_granted = 0;
  r = REQUEST_CLONE_TICKET(4, 0, 0, 0);
  CHECK(r && r->rc.allowed_clones == 0 && r->ticket[0] == 0 && sf_errno == 0);
  FREE_SF_RES(r);
  CHECK(REQUEST_CLONE_TICKET(4, 0, 1, 0) == 0 && sf_errno == SF_EINTERNAL); /* min 1: a ticket is due */
  fake_granted = 3;

  unsigned long calls = shim.calls[SF_HC_TICKET_REQUEST];
  CHECK(REQUEST_CLONE_TICKET(2, 0, 3, 0) == 0 && sf_errno == SF_EINVAL); /* min > nclones */
  CHECK(REQUEST_CLONE_TICKET(0, 0, 0, 0) == 0 && sf_errno == SF_EINVAL);
  CHECK(shim.calls[SF_HC_TICKET_REQUEST] == calls); /* rejected locally */

  char ticket[SF_TICKET_SIZE + 1];
  CHECK(sf_request_ticket(5, ticket) == 3 && strcmp(ticket, T1) == 0 && last_req.min == 1);
  CHECK(sf_request_ticket(0, ticket) == -SF_EINVAL);

  r = LIST_TICKETS();
  CHECK(r && r->unused_tickets && strcmp(r->unused_tickets->ticket, T1) == 0 && r->unused_tickets->next &&
        strcmp(r->unused_tickets->next->ticket, T3) == 0 && !r->unused_tickets->next->next);
  CHECK(r && r->outstanding_tickets && strcmp(r->outstanding_tickets->ticket, T2) == 0 &&
        !r->outstanding_tickets->next);
  FREE_SF_RES(r);

  /* Counts larger than the reply's array are clamped, not trusted. */
  fake_nunused = 1000;
  fake_noutstanding = 1000;
  r = LIST_TICKETS();
  int n = 0;
  for (sf_ticket_list *t = r ? r->unused_tickets : 0; t; t = t->next) n++;
  CHECK(r && !r->outstanding_tickets && n == SF_MAX_TICKETS);
  FREE_SF_RES(r);

  r = READ_TICKET_INFO(T1);
  CHECK(r && r->rc.number_clones == 3 && strcmp(r->ticket, T1) == 0 && strcmp(last_req.ticket, T1) == 0 &&
        last_req.nr == SF_HC_TICKET_INFO);
  int vm = 0, procs = 0;
  for (sf_clone_info *c = r ? r->clone_list : 0; c; c = c->next) {
    vm += c->vmid;
    procs += c->processors;
  }
  CHECK(vm == 1 + 2 + 3 && procs == 2 + 4 + 6);
  FREE_SF_RES(r);

  char t1[] = "0f8fad5b-d9cb-469f-a165-70867728950e";
  DISPOSE_TICKET(t1);
  CHECK(sf_errno == 0 && last_req.nr == SF_HC_TICKET_DISPOSE && strcmp(last_req.ticket, T1) == 0);
  fake_status = -SF_ESTATE;
  DISPOSE_TICKET(t1);
  CHECK(sf_errno == SF_ESTATE);
  fake_status = 0;
  FREE_SF_RES(0);
  CHECKF(used_bytes() == 0, "%zu bytes leaked", used_bytes());
}

static void test_ticket_validation(void) {
  setup();
  char longer[SF_TICKET_SIZE + 2];
  memset(longer, 'a', sizeof longer - 1);
  longer[sizeof longer - 1] = 0;
  unsigned long before = shim.calls[SF_HC_CLONE_MASTER] + shim.calls[SF_HC_TICKET_INFO] +
                         shim.calls[SF_HC_CLONE_MERGE] + shim.calls[SF_HC_CLONE_JOIN];
  char empty[] = "";
  CHECK(CLONE_MASTER(0) == 0 && sf_errno == SF_EINVAL);
  CHECK(CLONE_MASTER(empty) == 0 && sf_errno == SF_EINVAL);
  CHECK(READ_TICKET_INFO(longer) == 0 && sf_errno == SF_EINVAL);
  CHECK(IC_KILL(empty) == -1 && sf_errno == SF_EINVAL);
  CHECK(MERGE_MASTER(0) == -1 && sf_errno == SF_EINVAL);
  IC_JOIN(longer);
  CHECK(sf_errno == SF_EINVAL);
  CHECK(sf_clone(longer) == -SF_EINVAL);
  CHECK(sf_join(0) == -SF_EINVAL);
  CHECK(sf_kill("") == -SF_EINVAL);
  unsigned long after = shim.calls[SF_HC_CLONE_MASTER] + shim.calls[SF_HC_TICKET_INFO] + shim.calls[SF_HC_CLONE_MERGE] +
                        shim.calls[SF_HC_CLONE_JOIN];
  CHECK(before == after);
}

static void test_errors(void) {
  setup();
  fake_status = -SF_ENOTMASTER;
  CHECK(REQUEST_VM_TICKET(1) == 0 && sf_errno == SF_ENOTMASTER);
  CHECK(strcmp(sf_errmsg(), "only the master may request tickets") == 0);
  char ticket[SF_TICKET_SIZE + 1];
  CHECK(sf_request_ticket(1, ticket) == -SF_ENOTMASTER);
  /* The VMM (vcpu.cc) puts the reply's status in rax as well: sfld's message still counts. */
  fake_status_in_rax = 1;
  CHECK(SHUTDOWN_CLUSTER() == -1 && sf_errno == SF_ENOTMASTER);
  CHECKF(strcmp(sf_errmsg(), "only the master may request tickets") == 0, "errmsg \"%s\"", sf_errmsg());
  fake_status_in_rax = 0;
  fake_status = 0;
  fake_rax = -SF_EFAULT;
  MERGE_ALL();
  CHECK(sf_errno == SF_EFAULT);
  CHECK(strstr(sf_errmsg(), "EFAULT") != 0); /* no sfld message: the code's text */
  fake_rax = -999;
  CHECK(sf_join(T1) == -SF_EINTERNAL && sf_errno == SF_EINTERNAL);
  shim.seed = 0; /* a VMM without the seed API */
  CHECK(LIST_TICKETS() == 0 && sf_errno == SF_ENOSYS);
  shim.seed = fake_sfld;
  fake_rax = 0;
  MERGE_ALL();
  CHECK(sf_errno == 0 && strcmp(sf_errmsg(), "OK") == 0);
  CHECK(last_req.nr == SF_HC_CLONE_MERGE && last_req.ticket[0] == 0);
  CHECK(sf_merge_all() == 3 && last_req.ticket[0] == 0);
  CHECK(strcmp(sf_strerror(SF_ENORES), "NO_RESOURCES") == 0);
  sf_set_timeout_ms(2500);
  char t2[] = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
  IC_JOIN(t2);
  CHECK(sf_errno == 0 && last_req.timeout_ms == 2500 && last_req.nr == SF_HC_CLONE_JOIN);
  sf_set_timeout_ms(0);
}

static void test_fork(void) {
  setup();
  char t1[] = "0f8fad5b-d9cb-469f-a165-70867728950e", t3[] = "c9bf9e57-1685-4c89-bafb-ff5af830be8a";
  /* The master's view. */
  sf_result *r = CLONE_MASTER(t1);
  CHECK(r && r->vmid == 0 && r->rc.number_clones == 3 && strcmp(r->ticket, T1) == 0 && sf_vmid() == 0);
  FREE_SF_RES(r);
  CHECK(sf_clone(T1) == 0 && last_req.nr == SF_HC_CLONE_MASTER && strcmp(last_req.ticket, T1) == 0);
  /* A clone's view of the same call. */
  fake_vmid = 2;
  r = CLONE_MASTER(t1);
  CHECK(r && r->vmid == 2 && r->rc.number_clones == 3 && sf_vmid() == 2);
  FREE_SF_RES(r);
  sf_set_vmid(0);
  CHECK(sf_clone(T1) == 2 && sf_vmid() == 2);

  /* Two-step fork: the master gets the clone count, a clone resumes at the checkpoint. */
  sf_set_vmid(0);
  fake_vmid = 0;
  static sf_checkpoint cp;
  volatile int passes = 0;
  int id = sf_checkpoint_parent(&cp);
  passes++;
  if (id == 0) {
    CHECK(sf_create_clones(&cp, T1) == 3);
    fake_vmid = 3;
    sf_create_clones(&cp, T1); /* as clone 3: jumps back to the checkpoint */
    CHECK(!"sf_create_clones returned in a clone");
  } else {
    CHECK(id == 3 && passes == 2 && sf_vmid() == 3);
  }
  CHECK(sf_create_clones(0, T1) == -SF_EINVAL);

  /* Merge, kill, join, shutdown. */
  CHECK(sf_kill(T2) == 3 && last_req.nr == SF_HC_CLONE_MERGE && strcmp(last_req.ticket, T2) == 0);
  CHECK(sf_join(T2) == 3 && last_req.nr == SF_HC_CLONE_JOIN);
  CHECK(MERGE_MASTER(t3) == 0 && last_req.nr == SF_HC_CLONE_MERGE && strcmp(last_req.ticket, T3) == 0);
  CHECK(IC_KILL(t1) == 0 && last_req.nr == SF_HC_CLONE_MERGE && strcmp(last_req.ticket, T1) == 0);
  CHECK(SHUTDOWN_CLUSTER() == 0 && last_req.nr == SF_HC_CLUSTER_SHUTDOWN);
  fake_status = -SF_ESTATE;
  CHECK(MERGE_MASTER(t3) == -1 && sf_errno == SF_ESTATE);
  CHECK(SHUTDOWN_CLUSTER() == -1 && sf_errno == SF_ESTATE);

  /* IC_EXIT: a refused exit returns non-zero; an accepted one never returns (ends the program). */
  fake_status = -SF_ENOTCLONE;
  CHECK(IC_EXIT() == -1 && sf_errno == SF_ENOTCLONE && last_req.status == 0);
  CHECK(sf_exit() == -SF_ENOTCLONE);
  fake_status = 0;
  jmp_buf jb;
  shim.catcher = &jb;
  shim.terminated_code = -1;
  if (setjmp(jb) == 0) {
    IC_EXIT();
    CHECK(!"IC_EXIT returned after success");
  } else {
    CHECK(shim.terminated_code == 0 && last_req.nr == SF_HC_CLONE_EXIT && last_req.status == 0);
  }
  shim.catcher = 0;
  CHECKF(used_bytes() == 0, "%zu bytes leaked", used_bytes());
}

/* clone.join's records: copied in vmid order up to max, count clamped to the array, and any clone
 * that did not exit by itself turns the join into SF_ECLONE naming it, records still delivered. */
static void test_join_results(void) {
  setup();
  struct sf_hc_exit out[8];
  memset(out, 0xEE, sizeof out);
  CHECK(sf_join_results(T1, out, 8) == 3 && sf_errno == 0 && last_req.nr == SF_HC_CLONE_JOIN &&
        strcmp(last_req.ticket, T1) == 0);
  CHECK(out[0].vmid == 1 && out[1].vmid == 2 && out[2].vmid == 3 && out[2].status == 30 &&
        out[1].how == SF_CLONE_EXITED);
  CHECK(out[3].vmid == 0xEEEEEEEEu); /* nothing written past count */
  memset(out, 0xEE, sizeof out);
  CHECK(sf_join_results(T1, out, 2) == 3 && out[1].status == 20 && out[2].vmid == 0xEEEEEEEEu);
  CHECK(sf_join_results(T1, 0, 0) == 3);
  CHECK(sf_join(T1) == 3);

  /* Local argument checks: no hypercall. */
  unsigned long calls = shim.calls[SF_HC_CLONE_JOIN];
  CHECK(sf_join_results(T1, 0, 1) == -SF_EINVAL && sf_errno == SF_EINVAL);
  CHECK(sf_join_results(T1, out, -1) == -SF_EINVAL);
  CHECK(sf_join_results("", out, 8) == -SF_EINVAL);
  CHECK(shim.calls[SF_HC_CLONE_JOIN] == calls);

  /* A crashed clone: SF_ECLONE, the message names it, the records are still there. */
  fake_exits[1].how = SF_CLONE_CRASHED;
  fake_exits[1].status = 0;
  memset(out, 0, sizeof out);
  CHECK(sf_join_results(T1, out, 8) == -SF_ECLONE && sf_errno == SF_ECLONE);
  CHECKF(strcmp(sf_errmsg(), "clone 2 crashed") == 0, "errmsg \"%s\"", sf_errmsg());
  CHECK(out[0].status == 10 && out[1].how == SF_CLONE_CRASHED && out[2].status == 30);
  CHECK(sf_join(T1) == -SF_ECLONE);
  char t1[] = "0f8fad5b-d9cb-469f-a165-70867728950e";
  IC_JOIN(t1);
  CHECK(sf_errno == SF_ECLONE && strcmp(sf_errmsg(), "clone 2 crashed") == 0);
  /* Killed, several, and a `how` this SDK does not know. */
  fake_exits[1].how = SF_CLONE_EXITED;
  fake_exits[2].how = SF_CLONE_KILLED;
  CHECK(sf_join(T1) == -SF_ECLONE && strcmp(sf_errmsg(), "clone 3 was killed") == 0);
  fake_exits[0].how = SF_CLONE_CRASHED;
  CHECK(sf_join(T1) == -SF_ECLONE &&
        strcmp(sf_errmsg(), "clone 1 crashed; 2 of 3 clones did not exit by themselves") == 0);
  fake_exits[0].how = 9;
  fake_exits[2].how = SF_CLONE_EXITED;
  CHECK(sf_join(T1) == -SF_ECLONE && strcmp(sf_errmsg(), "clone 1 ended abnormally (how=9)") == 0);
  fake_exits[0].how = SF_CLONE_EXITED;
  /* A record beyond count does not count, however it ended. */
  fake_exits[3].how = SF_CLONE_CRASHED;
  CHECK(sf_join(T1) == 3 && sf_errno == 0);
  fake_exits[3].how = SF_CLONE_EXITED;

  /* A count beyond the reply's array is clamped, not trusted. */
  fake_join_count = 100000;
  static struct sf_hc_exit all[SF_MAX_ALLOC + 4];
  memset(all, 0xEE, sizeof all);
  CHECK(sf_join_results(T1, all, SF_MAX_ALLOC + 4) == (int)SF_MAX_ALLOC);
  CHECK(all[SF_MAX_ALLOC - 1].vmid == SF_MAX_ALLOC && all[SF_MAX_ALLOC].vmid == 0xEEEEEEEEu);
  fake_join_count = 3;
  IC_JOIN(t1);
  CHECK(sf_errno == 0);

  /* SF_ECLONE straight from the VMM keeps its code; its text says what it means. */
  fake_rax = -SF_ECLONE;
  CHECK(sf_join(T1) == -SF_ECLONE && strstr(sf_errmsg(), "CLONE") != 0);
  fake_rax = 0;
  CHECK(strstr(sf_strerror(SF_ECLONE), "crashed") != 0);

  /* sf_exit_status: the status travels in the request; refused in the master. */
  fake_status = -SF_ENOTCLONE;
  CHECK(sf_exit_status(5) == -SF_ENOTCLONE && last_req.status == 5);
  fake_status = 0;
  jmp_buf jb;
  shim.catcher = &jb;
  if (setjmp(jb) == 0) {
    sf_exit_status(0x40000123);
    CHECK(!"sf_exit_status returned after success");
  } else {
    CHECK(last_req.nr == SF_HC_CLONE_EXIT && last_req.status == 0x40000123);
  }
  shim.catcher = 0;
  CHECKF(used_bytes() == 0, "%zu bytes leaked", used_bytes());
}

void test_sf(void) {
  test_layout();
  test_tickets();
  test_ticket_validation();
  test_errors();
  test_fork();
  test_join_results();
  shim.seed = 0;
}
