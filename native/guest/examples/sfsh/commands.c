/* sfsh's commands. The seed's tools answer in the words the host-side tools print (apps/daemon/src/cli/
 * commands/guest.ts, after the SnowFlock 0.2c Getting Started), errors as "sf: CODE: message" as there. */
#include "sfsh/commands.h"
#include <sf.h>
#include <sfguest/api_net.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>

static char err[SFSH_ERR_LEN];

/* The API's error codes by the names the host tools print (common/errors.ts). */
static const char *code_name(int code) {
  switch (code) {
    case SF_EINVAL:
    case SF_EFAULT: return "BAD_INPUT";
    case SF_ENORES: return "NO_RESOURCES";
    case SF_ENOTMASTER: return "NOT_MASTER";
    case SF_ENOTCLONE: return "NOT_CLONE";
    case SF_ETICKET: return "TICKET_UNKNOWN";
    case SF_ESTATE: return "TICKET_STATE";
    case SF_EHOSTLOST: return "HOST_LOST";
    case SF_ETIMEDOUT: return "TIMEOUT";
    case SF_EUNAVAIL: return "UNAVAILABLE";
    case SF_EPERM: return "FORBIDDEN";
    case SF_ECLONE: return "CLONE_FAILED";
    default: return "INTERNAL";
  }
}

/* The last API call's failure as the host tools print it: "sf: CODE: message". sfld's messages (and most
 * fixed texts) already start with the code; a message cut at the reply's size says so. */
static int api_failed(void) {
  const char *msg = sf_errmsg(), *code = code_name(sf_errno);
  size_t n = strlen(code);
  int named = strncmp(msg, code, n) == 0 && (msg[n] == ':' || msg[n] == 0);
  printf("sf: %s%s%s%s\n", named ? "" : code, named ? "" : ": ", msg, strlen(msg) >= SF_ERRMSG_LEN - 1 ? "..." : "");
  return 1;
}

static int bad_input(void) {
  printf("sf: BAD_INPUT: %s\n", err);
  return 2;
}

static const char *unit(int procs) { return procs ? "processors" : "clones"; }

/* REQUEST_CLONE_TICKET as sfdotix asks it: min 0 means at least one (sfmd's reading), never an empty
 * ticket. The seed's two lines, then the allocation. NULL (and the error printed) on failure. */
static sf_result *request(const struct sfsh_request *r) {
  sf_result *res = REQUEST_CLONE_TICKET(r->nclones, r->procs, r->min > 0 ? r->min : 1, r->block);
  if (!res) {
    api_failed();
    return 0;
  }
  printf("Requested %d %s, %d allocations received.\nTicket is %s\n", r->nclones, unit(r->procs),
         res->rc.allowed_clones, res->ticket);
  return res;
}

static int cmd_sfdotix(int argc, char **argv) {
  struct sfsh_request r;
  if (sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0) return bad_input();
  sf_result *res = request(&r);
  if (!res) return 1;
  sf_result *info = READ_TICKET_INFO(res->ticket);
  if (info) {
    printf("VMID  PROCESSORS\n");
    for (sf_clone_info *c = info->clone_list; c; c = c->next) printf("%4d  %10d\n", c->vmid, c->processors);
  }
  FREE_SF_RES(info);
  FREE_SF_RES(res);
  return 0;
}

/* CLONE_MASTER with fork semantics: the master prints the seed's answer; each clone resumes right here
 * with its own vmid, says who it is, and goes back to its own prompt. */
static int do_clone(const char *ticket) {
  static char forked[SFSH_TICKET_LEN + 1]; /* static: the same in every clone, whatever the stack */
  strlcpy(forked, ticket, sizeof forked);
  sf_result *res = CLONE_MASTER(forked);
  if (!res) return -1;
  if (res->vmid == 0) printf("I am the master with %d clones (original VM).\n", res->rc.number_clones);
  else printf("I am clone %d of %d (ticket %s).\n", res->vmid, res->rc.number_clones, forked);
  FREE_SF_RES(res);
  return 0;
}

static int cmd_sfdoclone(int argc, char **argv) {
  char ticket[SFSH_TICKET_LEN + 1];
  if (sfsh_parse_ticket(argc > 1 ? argv[1] : 0, ticket, err, sizeof err) < 0) return bad_input();
  return do_clone(ticket) < 0 ? api_failed() : 0;
}

/* A failed sfclone gives its ticket back, as the host tool does: disposed while unused, else merged. */
static void release(char *ticket) {
  int code = sf_errno;
  char msg[SF_ERRMSG_LEN];
  strlcpy(msg, sf_errmsg(), sizeof msg);
  DISPOSE_TICKET(ticket);
  if (sf_errno == 0) printf("ticket %s disposed\n", ticket);
  else if (sf_errno == SF_ESTATE && MERGE_MASTER(ticket) == 0) printf("ticket %s merged\n", ticket);
  else printf("ticket %s could not be given back (%s): sfmerge %s ends it\n", ticket, sf_errmsg(), ticket);
  sf_errno = code; /* the fork's own error is what the user is told */
  printf("sf: %s: %s\n", code_name(code), msg);
}

static int cmd_sfclone(int argc, char **argv) {
  struct sfsh_request r;
  if (sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0) return bad_input();
  sf_result *res = request(&r);
  if (!res) return 1;
  char ticket[SFSH_TICKET_LEN + 1];
  strlcpy(ticket, res->ticket, sizeof ticket);
  FREE_SF_RES(res);
  if (do_clone(ticket) < 0) {
    release(ticket);
    return 1;
  }
  return 0;
}

static int count_outstanding(void) {
  sf_result *list = LIST_TICKETS();
  int n = 0;
  for (sf_ticket_list *t = list ? list->outstanding_tickets : 0; t; t = t->next) n++;
  FREE_SF_RES(list);
  return n;
}

static int cmd_sfmerge(int argc, char **argv) {
  char ticket[SFSH_TICKET_LEN + 1];
  int all;
  if (sfsh_parse_merge(argc, argv, ticket, &all, err, sizeof err) < 0) return bad_input();
  printf("Attempting to merge virtual cluster...\n");
  if (all) {
    int tickets = count_outstanding();
    int clones = sf_merge_all();
    if (clones < 0) return api_failed();
    printf("Successful merge of %d ticket(s), %d clones\n", tickets, clones);
    return 0;
  }
  if (MERGE_MASTER(ticket) != 0) return api_failed();
  printf("Successful merge for ticket %s\n", ticket);
  return 0;
}

static int cmd_sfjoin(int argc, char **argv) {
  char ticket[SFSH_TICKET_LEN + 1];
  if (sfsh_parse_ticket(argc > 1 ? argv[1] : 0, ticket, err, sizeof err) < 0) return bad_input();
  int n = sf_join(ticket);
  if (n < 0) return api_failed();
  printf("all %d clones of %s exited; merged\n", n, ticket);
  return 0;
}

static int cmd_sfexit(int argc, char **argv) {
  (void)argc, (void)argv;
  if (sf_vmid() != 0) printf("domain %u:%u exits with status 0\n", sf_clusterid(), sf_vmid());
  IC_EXIT(); /* returns only on failure: in the master, or sfld unreachable */
  return api_failed();
}

static int cmd_sfshutdown(int argc, char **argv) {
  (void)argc, (void)argv;
  if (SHUTDOWN_CLUSTER() != 0) return api_failed();
  printf("cluster %u is shutdown\n", sf_clusterid());
  return 0;
}

static int cmd_sftickets(int argc, char **argv) {
  (void)argc, (void)argv;
  sf_result *list = LIST_TICKETS();
  if (!list) return api_failed();
  int any = 0;
  for (sf_ticket_list *t = list->unused_tickets; t; t = t->next, any = 1) printf("%s  unused\n", t->ticket);
  for (sf_ticket_list *t = list->outstanding_tickets; t; t = t->next, any = 1) printf("%s  outstanding\n", t->ticket);
  if (!any) printf("no tickets\n");
  FREE_SF_RES(list);
  return 0;
}

static int cmd_vmid(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("%u\n", sf_vmid());
  return 0;
}

static int cmd_ip(int argc, char **argv) {
  (void)argc, (void)argv;
  /* The NIC comes up on first use; in a clone this also drops the master's lease and asks for its own. */
  int rc = sf_net_init(5000);
  if (rc < 0) {
    printf("no address: %s%s\n", sf_net_strerror(rc),
           rc == -SF_NET_ENODEV ? " (this VM has no NIC: its host's sfld.cfg has cluster_network = False)" : "");
    return 1;
  }
  char a[16], m[16], g[16];
  printf("%s netmask %s gateway %s\n", sf_ip_format(sf_ip(), a), sf_ip_format(sf_netmask(), m),
         sf_ip_format(sf_gateway(), g));
  return 0;
}

static int cmd_mem(int argc, char **argv) {
  (void)argc, (void)argv;
  struct sf_heap_stats hs;
  sf_heap_stats(&hs);
  printf("RAM %llu MiB; heap %llu KiB in use of %llu KiB reached, %llu KiB free (arena %llu MiB)\n",
         sf_ram_bytes() >> 20, (unsigned long long)hs.used_bytes >> 10, (unsigned long long)hs.heap_bytes >> 10,
         (unsigned long long)hs.free_bytes >> 10, (unsigned long long)hs.arena_bytes >> 20);
  return 0;
}

/* api PROCEDURE ['JSON']: one guest procedure over the cluster network (sfguest/api_net.h), the way a program
 * would call it; sfmd knows the caller by this VM's address, so a clone asking for a master's call is refused. */
static int cmd_api(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    printf("usage: api PROCEDURE ['JSON']   e.g. api ticket.request '{\"nclones\":2}'\n");
    return 2;
  }
  static char out[SF_API_ANSWER_MAX];
  int n = sf_api_call(argv[1], argc == 3 ? argv[2] : "", out, sizeof out);
  if (n < 0) return api_failed();
  printf("%s\n", out);
  return 0;
}

static int cmd_help(int argc, char **argv);

const struct sfsh_command sfsh_commands[] = {
    {"help", "help", "list the commands", cmd_help},
    {"sfdotix", "sfdotix N [--procs] [--min M] [--block]", "reserve resources for up to N clones (a ticket)",
     cmd_sfdotix},
    {"sfdoclone", "sfdoclone TICKET", "clone this VM with a ticket: every clone resumes here", cmd_sfdoclone},
    {"sfclone", "sfclone N [--procs] [--min M] [--block]", "sfdotix + sfdoclone in one step", cmd_sfclone},
    {"sfmerge", "sfmerge TICKET|''", "end the clones of a ticket ('' for every ticket)", cmd_sfmerge},
    {"sfjoin", "sfjoin TICKET", "wait until every clone of a ticket ran sfexit, then merge it", cmd_sfjoin},
    {"sfexit", "sfexit", "end this clone (in a clone only)", cmd_sfexit},
    {"sfshutdown", "sfshutdown", "shut the cluster down (refused while clones are out)", cmd_sfshutdown},
    {"sftickets", "sftickets", "list this cluster's unused and outstanding tickets", cmd_sftickets},
    {"api", "api PROCEDURE ['JSON']", "call sfmd's API over the cluster network as this VM (e.g. api ticket.list)",
     cmd_api},
    {"vmid", "vmid", "this VM's vmid (0: the master)", cmd_vmid},
    {"ip", "ip", "this VM's address on the cluster network", cmd_ip},
    {"mem", "mem", "this VM's memory and heap", cmd_mem},
    {"run", "run PROGRAM [ARGS]", "run a built-in workload: align, render, memtouch (run alone lists them)", sfsh_run},
    {0, 0, 0, 0},
};

static int cmd_help(int argc, char **argv) {
  (void)argc, (void)argv;
  for (const struct sfsh_command *c = sfsh_commands; c->name; c++) printf("  %-40s %s\n", c->usage, c->summary);
  printf(
      "Keys: Left/Right, Ctrl-A/Ctrl-E move; Backspace, Ctrl-U erase; Up/Down walk the history; Ctrl-C drops the "
      "line.\n");
  return 0;
}
