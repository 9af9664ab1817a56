/* Several vCPUs in one flat guest: vCPU 0 runs main; sf_vcpu_run hands a function to every vCPU the VM has
 * (secondaries are started on first use and parked between runs), plus spinlocks and a barrier to go with it.
 *
 *  - sf_vcpus() is read from the boot info each time: a clone may run fewer vCPUs than its master (a processor
 *    ticket gives it k of them) and the VMM tells it so at the fork. Fork (sf_clone) from vCPU 0, outside
 *    sf_vcpu_run: the clone's missing vCPUs would never finish a run in progress.
 *  - Only VMs entered in user mode (the default) get secondaries; a VM created in kernel mode runs everything
 *    on vCPU 0 (sf_vcpus() answers 1 there).
 *  - malloc/free and the console (printf, puts, ...) are safe from any vCPU; a line printed by one vCPU is
 *    never mixed with another's. The network stack and the block device are not: keep them on vCPU 0.
 *  - No TLS: sf_vcpu_id() finds the caller by its stack (every vCPU has its own, SF_VCPU_STACK bytes). */
#ifndef SFGUEST_SMP_H
#define SFGUEST_SMP_H

#include <snowflock/abi.h>

#define SF_VCPU_STACK (64u * 1024u) /* each secondary's stack (vCPU 0 has crt0's) */

/* The vCPUs this VM runs now (1 .. SF_MAX_VCPUS), and the caller's (0 = the boot vCPU, the one main runs on). */
unsigned sf_vcpus(void);
unsigned sf_vcpu_id(void);

/* Runs fn(vcpu, arg) once on each of the sf_vcpus() vCPUs (vCPU 0 included, on the caller's stack) and returns
 * when all have finished: the number of vCPUs that ran it. Call it from vCPU 0 only (-1 otherwise; fn does
 * not run). A secondary that cannot be started (VMM refusal) is left out: the count says how many ran. */
typedef void (*sf_vcpu_fn)(unsigned vcpu, void *arg);
int sf_vcpu_run(sf_vcpu_fn fn, void *arg);

/* sf_vcpu_run in two halves, for work vCPU 0 does not share: sf_vcpu_launch starts fn(vcpu, arg) on vCPUs
 * 1 .. n-1 only and returns n at once (-1 off vCPU 0); sf_vcpu_launched_done says whether they all returned and
 * sf_vcpu_join waits for it. vCPU 0 must not start another run (or fork) before they have. */
int sf_vcpu_launch(sf_vcpu_fn fn, void *arg);
int sf_vcpu_launched_done(void);
void sf_vcpu_join(void);

/* body(i, arg) for every i in [0, n), split in contiguous blocks over the vCPUs (vCPU v takes the v-th block):
 * sf_vcpu_run underneath, same rules. Returns the number of vCPUs used, or -1. */
int sf_parallel_for(long n, void (*body)(long i, void *arg), void *arg);

/* A spinlock: waiters spin briefly, then sleep in short SF_HC_WAITs (50 us, growing to 1 ms) so a busy host core is
 * given back. */
typedef struct {
  volatile int locked;
} sf_spinlock_t;
#define SF_SPINLOCK_INIT \
  { 0 }
void sf_spin_lock(sf_spinlock_t *l);
int sf_spin_trylock(sf_spinlock_t *l); /* 1: taken */
void sf_spin_unlock(sf_spinlock_t *l);

/* A reusable barrier for `count` participants (e.g. sf_vcpus() inside an sf_vcpu_run function). */
struct sf_barrier {
  unsigned count;
  volatile unsigned waiting;
  volatile unsigned generation;
};
void sf_barrier_init(struct sf_barrier *b, unsigned count);
void sf_barrier_wait(struct sf_barrier *b);

/* One step of waiting for another vCPU: `pause` for the first spins, then sleeps growing from 50 us to 1 ms.
 * *spins counts (start it at 0 for each wait). */
void sf_cpu_wait(unsigned *spins);
/* How many `pause`s a waiter spins before it sleeps (default 2000: right when the host has fewer free cores than
 * the VM has vCPUs). On a host with a core per vCPU (a processor ticket's clones) 100000 makes a run's hand-off
 * about 1 us instead of ~0.2 ms; on an oversubscribed host it makes them slower (ms). */
void sf_smp_set_spins(unsigned spins);

#endif /* SFGUEST_SMP_H */
