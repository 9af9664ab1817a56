/* hello — the smallest flat guest: greets with its vmid, lists its boot arguments; with
 * `tickets=N` it walks the seed API (request, list, info, dispose a ticket for N clones), with
 * `hold=N` it asks for a ticket for N clones and keeps it, with `churn=S` it hammers the seed API
 * for S seconds (request a ticket, dispose of it, dispose of it again: refused), with `watch=S` runs
 * S seconds printing its vmid whenever it changes (a fork from the host: sfclone --domain), and with
 * `interactive=1` echoes console lines back until "quit" (or Ctrl-D). */
#include <sf.h>
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/stdio.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include <sfguest/time.h>

SF_PROGRAM_NAME("hello");

/* Requests, inspects and gives back a ticket: the seed API end to end, without cloning. */
static int ticket_tour(int nclones) {
  sf_result *req = REQUEST_CLONE_TICKET(nclones, 0, 1, 0);
  if (!req) {
    printf("ticket request failed: %s\n", sf_errmsg());
    return 3;
  }
  char ticket[SF_TICKET_SIZE + 1];
  strcpy(ticket, req->ticket);
  printf("ticket %s: %d of %d clones granted\n", ticket, req->rc.allowed_clones, nclones);
  FREE_SF_RES(req);

  sf_result *list = LIST_TICKETS();
  int unused = 0, outstanding = 0;
  for (sf_ticket_list *t = list ? list->unused_tickets : 0; t; t = t->next) unused++;
  for (sf_ticket_list *t = list ? list->outstanding_tickets : 0; t; t = t->next) outstanding++;
  int listed = list && unused == 1 && strcmp(list->unused_tickets->ticket, ticket) == 0;
  printf("tickets: %d unused, %d outstanding\n", list ? unused : -1, list ? outstanding : -1);
  FREE_SF_RES(list);

  sf_result *info = READ_TICKET_INFO(ticket);
  if (!info) {
    printf("ticket info failed: %s\n", sf_errmsg());
    return 4;
  }
  for (sf_clone_info *c = info->clone_list; c; c = c->next)
    printf("  vmid %d: %d processor(s)\n", c->vmid, c->processors);
  FREE_SF_RES(info);

  sf_result *bogus = READ_TICKET_INFO("00000000-0000-4000-8000-000000000000");
  int refused = bogus == NULL && sf_errno == SF_ETICKET;
  FREE_SF_RES(bogus);

  DISPOSE_TICKET(ticket);
  int disposed = sf_errno == 0;
  DISPOSE_TICKET(ticket);
  int twice_refused = sf_errno == SF_ESTATE;

  int ok = listed && refused && disposed && twice_refused;
  printf("ticket tour %s (listed=%d unknown-refused=%d disposed=%d twice-refused=%d)\n", ok ? "ok" : "FAILED", listed,
         refused, disposed, twice_refused);
  return ok ? 0 : 5;
}

/* Asks for a ticket and keeps it: what the daemons do with a ticket ended from outside shows. */
static int hold_ticket(int nclones) {
  sf_result *req = REQUEST_CLONE_TICKET(nclones, 0, 1, 0);
  if (!req) {
    printf("ticket request failed: %s\n", sf_errmsg());
    return 3;
  }
  printf("holding ticket %s (%d of %d clones)\n", req->ticket, req->rc.allowed_clones, nclones);
  FREE_SF_RES(req);
  return 0;
}

#define NS_PER_S 1000000000ull

/* A guest looping the seed API as fast as it is answered: three calls a round, the last one refused.
 * Every call is checked, so a reply that is wrong (not just slow) shows as failed. */
static void churn(unsigned long long seconds) {
  unsigned long long rounds = 0, calls = 0, failed = 0;
  uint64_t t0 = sf_time_ns(), report = t0 + 5 * NS_PER_S, now = t0;
  for (; now - t0 < seconds * NS_PER_S; now = sf_time_ns()) {
    if (now >= report) {
      printf("churn t=%llus rounds=%llu calls=%llu failed=%llu\n", (unsigned long long)((now - t0) / NS_PER_S), rounds,
             calls, failed);
      report += 5 * NS_PER_S;
    }
    calls++;
    sf_result *req = REQUEST_CLONE_TICKET(1, 0, 1, 0);
    if (!req) {
      failed++;
      continue;
    }
    calls += 2;
    DISPOSE_TICKET(req->ticket);
    failed += sf_errno != 0;
    DISPOSE_TICKET(req->ticket);
    failed += sf_errno != SF_ESTATE;
    FREE_SF_RES(req);
    rounds++;
  }
  unsigned long long ms = (now - t0) / 1000000ull;
  printf("churn done: %llu rounds, %llu calls in %llu ms (%llu calls/s), %llu failed\n", rounds, calls, ms,
         ms ? calls * 1000 / ms : 0, failed);
}

/* Runs until the deadline, printing who this VM is each time that changes: a clone made by the host
 * (no call of ours) resumes in this loop and must see its own vmid, not the master's it started with. */
static void watch_vmid(unsigned long long seconds) {
  unsigned seen = sf_vmid();
  printf("watching vmid %u for %llu s\n", seen, seconds);
  uint64_t end = sf_time_ns() + seconds * NS_PER_S;
  while (sf_time_ns() < end) {
    unsigned now = sf_vmid();
    if (now == seen) continue;
    printf("vmid changed from %u to %u\n", seen, now);
    seen = now;
  }
  printf("watch done as vmid %u\n", seen);
}

int main(int argc, char **argv) {
  printf("hello from Snowflock vmid %u\n", sf_vmid());
  printf("cluster %u, %llu MiB RAM, %u vCPU(s), %d arg(s)\n", sf_clusterid(), sf_ram_bytes() >> 20,
         sf_bootinfo()->vcpus, argc - 1);
  for (int i = 0; i < argc; i++) printf("argv[%d] = \"%s\"\n", i, argv[i]);

  const char *tickets = sf_arg_get(argc, argv, "tickets");
  if (tickets) {
    int status = ticket_tour(atoi(tickets));
    if (status) return status;
  }

  const char *hold = sf_arg_get(argc, argv, "hold");
  if (hold) {
    int status = hold_ticket(atoi(hold));
    if (status) return status;
  }

  unsigned long long churn_s = 0;
  if (sf_arg_u64(argc, argv, "churn", 0, &churn_s)) return 2;
  if (churn_s) churn(churn_s);

  unsigned long long watch_s = 0;
  if (sf_arg_u64(argc, argv, "watch", 0, &watch_s)) return 2;
  if (watch_s) watch_vmid(watch_s);

  const char *interactive = sf_arg_get(argc, argv, "interactive");
  if (interactive && strcmp(interactive, "0") != 0) {
    char line[256];
    for (;;) {
      printf("hello> ");
      int n = readline(line, sizeof line, 1);
      if (n == EOF || strcmp(line, "quit") == 0) break;
      printf("you said: %s (%d chars)\n", line, n);
    }
    printf("bye\n");
  }
  return 0;
}
