/* Fork/join plumbing shared by the example guests (see share.h): one ticket, one sf_clone, each
 * VM does its share, clones sf_exit with their verdict, the master joins. */
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/stdio.h>
#include "common/share.h"

int share_init(int argc, char **argv, struct share *s) {
  unsigned long long nvms;
  s->vmid = sf_vmid();
  s->forked = 0;
  s->ticket[0] = 0;
  if (sf_arg_u64(argc, argv, "clones", 0, &s->clones_wanted) < 0) return -1;
  if (sf_arg_u64(argc, argv, "nvms", s->vmid + 1ull, &nvms) < 0) return -1;
  if (s->clones_wanted > SF_MAX_ALLOC) {
    printf("clones=%llu: at most %u\n", s->clones_wanted, SF_MAX_ALLOC);
    return -1;
  }
  if (nvms <= s->vmid) nvms = s->vmid + 1ull; /* a booted clone is at least one of vmid+1 VMs */
  s->nvms = (unsigned)nvms;
  return 0;
}

int share_fork(struct share *s) {
  if (!s->clones_wanted) return 0;
  if (s->vmid != 0) {
    printf("clones=%llu ignored: this VM is already clone %u\n", s->clones_wanted, s->vmid);
    return 0;
  }
  int granted = sf_request_ticket((int)s->clones_wanted, s->ticket);
  if (granted < 0) {
    printf("sf_request_ticket(%llu) failed: %s\n", s->clones_wanted, sf_errmsg());
    return -1;
  }
  if ((unsigned)granted < s->clones_wanted)
    printf("ticket %s: %d of %llu clones granted\n", s->ticket, granted, s->clones_wanted);
  int vmid = sf_clone(s->ticket);
  if (vmid < 0) {
    printf("sf_clone(%s) failed: %s\n", s->ticket, sf_errmsg());
    sf_kill(s->ticket);
    return -1;
  }
  s->vmid = (unsigned)vmid;
  s->nvms = (unsigned)granted + 1;
  s->forked = 1;
  if (vmid > 0) printf("clone %d of %d running\n", vmid, granted);
  else printf("forked %d clones with ticket %s\n", granted, s->ticket);
  return 0;
}

int share_finish(struct share *s, int status) {
  if (!s->forked) return status;
  if (s->vmid > 0) {
    sf_flush();
    IC_EXIT(status); /* returns only if the exit was refused */
    printf("IC_EXIT refused: %s\n", sf_errmsg());
    return status ? status : 2;
  }
  int joined = sf_join(s->ticket);
  if (joined < 0) {
    printf("sf_join(%s) failed: %s\n", s->ticket, sf_errmsg());
    return status ? status : 2;
  }
  printf("joined %d clones\n", joined);
  return status;
}
