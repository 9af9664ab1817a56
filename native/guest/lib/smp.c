/* Secondary vCPUs of a flat guest (sfguest/smp.h): started lazily with SF_HC_VCPU_START on per-vCPU stacks in
 * .bss, parked in a loop that waits for the next run's generation number, and the locks that go with them.
 * State that a fork copies (who is started, the run generation) lives in guest memory, as the VMM's does. */
#include <sfguest/bootinfo.h>
#include <sfguest/hypercall.h>
#include <sfguest/smp.h>
#include <stdint.h>

/* Spins before a waiter sleeps. Short by default: on a host with fewer free cores than vCPUs a spinning vCPU holds
 * the core the one it waits for needs (measured on a 2-core host, an empty sf_vcpu_run on 4 vCPUs: 0.28 ms with
 * 2000 spins, 4 ms with 100000). With a core per vCPU, longer spins make hand-offs ~1 us: sf_smp_set_spins. */
static unsigned spins_before_sleep = 2000u;
/* Sleeps start short (a waiter that sleeps too long delays the whole run) and grow to 1 ms the longer the wait
 * lasts, so that a vCPU parked for long costs its host about a thousand exits a second, not twenty thousand. */
#define SLEEP_MIN_NS 50000ul
#define SLEEP_MAX_NS 1000000ul

/* Set by cpu.c when crt0 entered at CPL0 and dropped to ring 3 itself: secondaries would then start at CPL0
 * with no IDT of their own, so such a VM stays on one vCPU. */
int sf_smp_kernel_entry;

void sf_smp_secondary_entry(void);

/* In .noinit (flat.ld): never cleared at start, so a guest that runs one vCPU never touches them. */
static char stacks[SF_MAX_VCPUS - 1][SF_VCPU_STACK] __attribute__((aligned(4096), section(".noinit.vcpu_stacks")));

/* One cache line per vCPU: what it has seen and whether it runs. */
struct vcpu_slot {
  volatile unsigned started;
  volatile unsigned long seen;
} __attribute__((aligned(64)));
static struct vcpu_slot slots[SF_MAX_VCPUS];

/* The current run: published by bumping `generation` after the other fields are written. */
static struct {
  sf_vcpu_fn fn;
  void *arg;
  unsigned n;
  volatile unsigned done;
  volatile unsigned long generation;
} job;

unsigned sf_vcpus(void) {
#ifdef SF_HOST_TEST
  return 1; /* the host tests run the library on one thread, without a boot info */
#endif
  const struct sf_bootinfo *bi = sf_bootinfo();
  if (!bi || sf_smp_kernel_entry) return 1;
  /* volatile: a fork rewrites it in a clone given fewer processors. */
  unsigned n = ((const volatile struct sf_bootinfo *)bi)->vcpus;
  if (n < 1) return 1;
  return n > SF_MAX_VCPUS ? SF_MAX_VCPUS : n;
}

unsigned sf_vcpu_id(void) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  uintptr_t lo = (uintptr_t)stacks, hi = lo + sizeof stacks;
  if (sp < lo || sp >= hi) return 0; /* vCPU 0 runs on crt0's stack */
  return (unsigned)((sp - lo) / SF_VCPU_STACK) + 1;
}

void sf_smp_set_spins(unsigned spins) { spins_before_sleep = spins; }

void sf_cpu_wait(unsigned *spins) {
  if (++*spins < spins_before_sleep) {
    __asm__ volatile("pause" ::: "memory");
    return;
  }
  /* A VMM without SF_HC_WAIT answers at once: that is just a slower pause. */
  unsigned long ns = SLEEP_MIN_NS * (1ul + (*spins - spins_before_sleep) / 16u);
  sf_hc_wait(ns < SLEEP_MAX_NS ? ns : SLEEP_MAX_NS);
}

void sf_spin_lock(sf_spinlock_t *l) {
  unsigned spins = 0;
  for (;;) {
    if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) return;
    while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) sf_cpu_wait(&spins);
  }
}

int sf_spin_trylock(sf_spinlock_t *l) { return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE); }

void sf_spin_unlock(sf_spinlock_t *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

void sf_barrier_init(struct sf_barrier *b, unsigned count) {
  b->count = count ? count : 1;
  b->waiting = 0;
  b->generation = 0;
}

void sf_barrier_wait(struct sf_barrier *b) {
  unsigned gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&b->waiting, 1, __ATOMIC_ACQ_REL) == b->count) {
    __atomic_store_n(&b->waiting, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b->generation, 1, __ATOMIC_RELEASE);
    return;
  }
  unsigned spins = 0;
  while (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen) sf_cpu_wait(&spins);
}

__attribute__((noreturn)) void sf_smp_secondary_main(const struct sf_bootinfo *bi) {
  unsigned id = bi->vcpu_id;
  struct vcpu_slot *me = &slots[id];
  for (;;) {
    unsigned spins = 0;
    unsigned long gen;
    while ((gen = __atomic_load_n(&job.generation, __ATOMIC_ACQUIRE)) == me->seen) sf_cpu_wait(&spins);
    me->seen = gen;
    if (id < job.n) {
      job.fn(id, job.arg);
      __atomic_add_fetch(&job.done, 1, __ATOMIC_RELEASE);
    }
  }
}

/* Starts vCPUs 1 .. n-1 that are not running yet; returns how many vCPUs (from 0, contiguous) can take part. */
static unsigned start_secondaries(unsigned n) {
#ifdef SF_HOST_TEST
  return 1;
#endif
  for (unsigned i = 1; i < n; i++) {
    if (slots[i].started) continue;
    /* It must not mistake the current generation for a new run. */
    slots[i].seen = job.generation;
    long rc = sf_hc4(SF_HC_VCPU_START, i, (unsigned long)(uintptr_t)sf_smp_secondary_entry,
                     (unsigned long)(uintptr_t)(stacks[i - 1] + SF_VCPU_STACK), 0);
    if (rc < 0 && rc != -(long)SF_ESTATE) return i;
    slots[i].started = 1;
  }
  return n;
}

int sf_vcpu_launch(sf_vcpu_fn fn, void *arg) {
  if (sf_vcpu_id() != 0) return -1;
  unsigned n = start_secondaries(sf_vcpus());
  job.fn = fn;
  job.arg = arg;
  job.n = n;
  job.done = 0;
  __atomic_add_fetch(&job.generation, 1, __ATOMIC_RELEASE);
  return (int)n;
}

int sf_vcpu_launched_done(void) {
  unsigned n = job.n ? job.n : 1;
  return __atomic_load_n(&job.done, __ATOMIC_ACQUIRE) >= n - 1;
}

void sf_vcpu_join(void) {
  unsigned spins = 0;
  while (!sf_vcpu_launched_done()) sf_cpu_wait(&spins);
}

int sf_vcpu_run(sf_vcpu_fn fn, void *arg) {
  int n = sf_vcpu_launch(fn, arg);
  if (n < 0) return n;
  fn(0, arg);
  sf_vcpu_join();
  return n;
}

struct pfor {
  long n;
  unsigned parts;
  void (*body)(long, void *);
  void *arg;
};

static void pfor_part(unsigned vcpu, void *p) {
  const struct pfor *f = p;
  long per = f->n / f->parts, extra = f->n % f->parts;
  long lo = (long)vcpu * per + ((long)vcpu < extra ? (long)vcpu : extra);
  long hi = lo + per + ((long)vcpu < extra ? 1 : 0);
  for (long i = lo; i < hi; i++) f->body(i, f->arg);
}

int sf_parallel_for(long n, void (*body)(long i, void *arg), void *arg) {
  if (sf_vcpu_id() != 0) return -1;
  /* parts is fixed before the run: a secondary that fails to start shrinks it, so ask first. */
  struct pfor f = {n < 0 ? 0 : n, start_secondaries(sf_vcpus()), body, arg};
  return sf_vcpu_run(pfor_part, &f);
}
