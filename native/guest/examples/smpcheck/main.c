/* smpcheck — every vCPU of the VM computes: the sum of f(i) over i < n is split over the vCPUs (sf_parallel_for),
 * each vCPU also mallocs and prints, and the total is checked against the serial answer. With `procs=P` the
 * master first takes a processor ticket of P, clones (each clone runs the vCPUs the ticket gave it), and every
 * VM runs the check; clones leave with their verdict, the master joins them. With `forkwait=S` it checks once, prints
 * "smpcheck waiting", and waits up to S seconds for the host to fork it (its vmid changes), then checks again: a
 * clone given fewer vCPUs than its master must run exactly those.
 * Args: n=200000 procs=0 forkwait=0
 * Lines: "smpcheck vmid=V vcpu=C part=X" per vCPU, "smpcheck vmid=V empty_run_ns=N" (an sf_vcpu_run that does
 * nothing, averaged over 100), then "smpcheck vmid=V vcpus=N ran=R busy=B total=T ok|FAILED"
 * (busy: vCPUs that did part of the work); with procs the master also prints the ticket's map, "smpcheck ticket
 * vmid=V processors=P" per clone, and at the end "smpcheck joined=J ok|FAILED". */
#include <sf.h>
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/smp.h>
#include <sfguest/stdio.h>
#include <sfguest/time.h>
#include <stdint.h>

SF_PROGRAM_NAME("smpcheck");

static uint64_t f(uint64_t i) { return (i * i) ^ (i >> 3); }

static uint64_t parts[SF_MAX_VCPUS];
static unsigned iters[SF_MAX_VCPUS];

static void body(long i, void *arg) {
  (void)arg;
  unsigned v = sf_vcpu_id();
  parts[v] += f((uint64_t)i);
  iters[v]++;
}

/* A malloc/free churn and a line from every vCPU: both must hold up with all vCPUs at it at once. */
static void report(unsigned vcpu, void *arg) {
  int *bad = arg;
  for (int k = 0; k < 200; k++) {
    uint64_t *p = malloc(64 + (size_t)k * 8);
    if (!p) {
      __atomic_add_fetch(bad, 1, __ATOMIC_RELAXED);
      return;
    }
    p[0] = vcpu;
    if (p[0] != vcpu) __atomic_add_fetch(bad, 1, __ATOMIC_RELAXED);
    free(p);
  }
  printf("smpcheck vmid=%u vcpu=%u part=%llu\n", sf_vmid(), vcpu, (unsigned long long)parts[vcpu]);
}

static void nothing(unsigned vcpu, void *arg) {
  (void)vcpu;
  (void)arg;
}

static int check(unsigned long long n) {
  for (unsigned v = 0; v < SF_MAX_VCPUS; v++) parts[v] = iters[v] = 0;
  int ran = sf_parallel_for((long)n, body, 0);
  int bad = 0;
  sf_vcpu_run(report, &bad);
  uint64_t total = 0, serial = 0;
  unsigned busy = 0;
  for (unsigned v = 0; v < SF_MAX_VCPUS; v++) {
    total += parts[v];
    busy += iters[v] > 0;
  }
  for (uint64_t i = 0; i < n; i++) serial += f(i);
  unsigned vcpus = sf_vcpus();
  int ok = total == serial && ran == (int)vcpus && (n < vcpus || busy == vcpus) && !bad;
  /* What a run costs when the vCPUs are already parked: the hand-off and the join, nothing else. */
  uint64_t t0 = sf_time_ns();
  for (int r = 0; r < 100; r++) sf_vcpu_run(nothing, 0);
  printf("smpcheck vmid=%u empty_run_ns=%llu\n", sf_vmid(), (unsigned long long)((sf_time_ns() - t0) / 100));
  printf("smpcheck vmid=%u vcpus=%u ran=%d busy=%u total=%llu %s\n", sf_vmid(), vcpus, ran, busy,
         (unsigned long long)total, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  unsigned long long n, procs, forkwait;
  if (sf_arg_u64(argc, argv, "n", 200000, &n) || sf_arg_u64(argc, argv, "procs", 0, &procs) ||
      sf_arg_u64(argc, argv, "forkwait", 0, &forkwait))
    return 64;
  if (forkwait) {
    int first = check(n);
    printf("smpcheck waiting\n");
    uint64_t until = sf_time_ns() + forkwait * 1000000000ull;
    while (sf_vmid() == 0 && sf_time_ns() < until) sf_hc_wait(1000000);
    return check(n) | first;
  }
  if (!procs) return check(n);

  char ticket[SF_TICKET_SIZE + 1];
  struct sf_result *r = REQUEST_PROC_TICKET((int)procs);
  if (!r) {
    printf("smpcheck: processor ticket of %llu refused: %s\n", procs, sf_errmsg());
    return 2;
  }
  for (unsigned i = 0; i <= SF_TICKET_SIZE; i++) ticket[i] = r->ticket[i];
  FREE_SF_RES(r);
  /* The allocation map: processors per clone, which is what each clone will find in sf_vcpus(). */
  struct sf_result *info = READ_TICKET_INFO(ticket);
  for (struct sf_clone_info *c = info ? info->clone_list : 0; c; c = c->next)
    printf("smpcheck ticket vmid=%d processors=%d\n", c->vmid, c->processors);
  FREE_SF_RES(info);
  int vmid = sf_clone(ticket);
  if (vmid < 0) {
    printf("smpcheck: clone failed: %s\n", sf_errmsg());
    return 3;
  }
  int verdict = check(n);
  if (vmid > 0) {
    sf_exit_status(verdict);
    return verdict;
  }
  struct sf_hc_exit ends[SF_MAX_ALLOC];
  int joined = sf_join_results(ticket, ends, SF_MAX_ALLOC);
  int ok = joined > 0 && verdict == 0;
  for (int i = 0; i < joined && i < (int)SF_MAX_ALLOC; i++)
    ok = ok && ends[i].how == SF_CLONE_EXITED && ends[i].status == 0;
  printf("smpcheck joined=%d %s\n", joined, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
