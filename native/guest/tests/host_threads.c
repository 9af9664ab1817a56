/* Real host threads for the host tests of code that several vCPUs run at once (libsfmpi's mailboxes): built
 * without the libc renames, like test_main.c, because pthreads is the host's. */
#include "host_threads.h"
#include <pthread.h>
#include <sched.h>

struct start {
  void (*fn)(int, void *);
  void *arg;
  int id;
};

static void *trampoline(void *p) {
  struct start *s = p;
  s->fn(s->id, s->arg);
  return 0;
}

int host_run_threads(int n, void (*fn)(int id, void *arg), void *arg) {
  pthread_t t[HOST_MAX_THREADS];
  struct start s[HOST_MAX_THREADS];
  if (n < 1 || n > HOST_MAX_THREADS) return -1;
  int started = 0;
  for (; started < n; started++) {
    s[started] = (struct start){fn, arg, started};
    if (pthread_create(&t[started], 0, trampoline, &s[started]) != 0) break;
  }
  for (int i = 0; i < started; i++) pthread_join(t[i], 0);
  return started;
}

void host_yield(void) { sched_yield(); }
