/* host_threads.c: run fn(id, arg) on n host threads at once (ids 0..n-1) and wait for all; the number that ran
 * (n unless the host refused a thread), -1 for a bad n. */
#ifndef TESTS_HOST_THREADS_H
#define TESTS_HOST_THREADS_H

#define HOST_MAX_THREADS 8
int host_run_threads(int n, void (*fn)(int id, void *arg), void *arg);
/* Gives the host core to another thread (the fake VMM's SF_HC_WAIT: a waiting vCPU sleeps). */
void host_yield(void);

#endif /* TESTS_HOST_THREADS_H */
