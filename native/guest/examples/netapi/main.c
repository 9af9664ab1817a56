/* netapi — sfmd's guest procedures over the cluster network (sfguest/api_net.h) next to the same calls by
 * hypercall (sf.h), each answer checked against the other. The master asks for a ticket over the network, reads
 * its allocation both ways, switches sf.h to the network and forks; each clone, its memory the master's, calls
 * master-only procedures over the network and must be refused (NOT_MASTER: its address says who it is), then
 * exits through the network with its verdict as status; the master joins over the network. Lines to look for:
 *     netapi: ticket.request over the network granted 2 (ticket …)
 *     netapi: ticket.info over the network and by hypercall agree: 2 allocations
 *     netapi vmid=1 (10.128.1.2): master calls over the network refused: NOT_MASTER, NOT_MASTER
 *     netapi: 2 clones refused master calls over the network and exited through it, all verified
 * Exit code 0 when everything verified. Args: clones=2 linger=0 (seconds the master then stays up, answering pings:
 * its cluster's router and guest API stay too). Needs a VM with a NIC (the `net` option). */
#include <sf.h>
#include <sfguest/api_net.h>
#include <sfguest/args.h>
#include <sfguest/json.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/time.h>

SF_PROGRAM_NAME("netapi");

static char out[8192];

/* The sfCode of a refusal sf_api_call left in `out` ("" if none). */
static const char *refusal_code(char *code, size_t cap) {
  struct sf_json v;
  code[0] = 0;
  if (sf_json_get(out, strlen(out), "data.sfCode", &v) == 0) sf_json_string(v, code, cap);
  return code;
}

/* A clone: its memory says it is the master that asked for the ticket; the network says otherwise. */
static int clone_side(int vmid) {
  char ip[16], ticket[SF_TICKET_SIZE + 1], a[32], b[32];
  int r1 = sf_request_ticket(1, ticket); /* sf.h, transport NET since before the fork */
  sf_ip_format(sf_ip(), ip);             /* its own by now: the call noticed the fork and asked DHCP again */
  int e1 = sf_errno;
  int r2 = sf_api_call("cluster.shutdown", "{}", out, sizeof out);
  refusal_code(b, sizeof b);
  snprintf(a, sizeof a, "%s", e1 == SF_ENOTMASTER ? "NOT_MASTER" : sf_strerror(e1));
  int ok = r1 == -SF_ENOTMASTER && r2 == -SF_ENOTMASTER && strcmp(b, "NOT_MASTER") == 0 &&
           sf_get_transport() == SF_TRANSPORT_NET;
  printf("netapi vmid=%d (%s): master calls over the network refused: %s, %s%s\n", vmid, ip, a, b[0] ? b : sf_errmsg(),
         ok ? "" : " — NOT as expected");
  sf_exit_status(ok ? 0 : 1); /* over the network too */
  printf("netapi vmid=%d: clone.exit over the network failed: %s\n", vmid, sf_errmsg());
  return 1;
}

int main(int argc, char **argv) {
  unsigned long long clones, linger;
  if (sf_arg_u64(argc, argv, "clones", 2, &clones) || sf_arg_u64(argc, argv, "linger", 0, &linger) || clones < 1 ||
      clones > 64 || linger > 600) {
    printf("netapi: clones=N from 1 to 64, linger=S at most 600\n");
    return 64;
  }
  int r = sf_net_init(0);
  if (r < 0) {
    printf("netapi: the network did not come up: %s\n", sf_net_strerror(r));
    return 1;
  }
  int bad = 0;
  char in[96], ticket[SF_TICKET_SIZE + 1], ip[16], gw[16];
  struct sf_json data, v;

  snprintf(in, sizeof in, "{\"nclones\":%llu,\"block\":true}", clones);
  int n = sf_api_call("ticket.request", in, out, sizeof out);
  long long granted = -1;
  if (n < 0 || sf_json_get(out, (size_t)n, "granted", &v) < 0 || sf_json_int(v, &granted) < 0 ||
      sf_json_get(out, (size_t)n, "ticket", &v) < 0 || sf_json_string(v, ticket, sizeof ticket) != SF_TICKET_SIZE) {
    printf("netapi: ticket.request over the network failed: %s\n", sf_errmsg());
    return 1;
  }
  printf("netapi: ticket.request over the network granted %lld (ticket %s) from %s via gateway %s\n", granted, ticket,
         sf_ip_format(sf_ip(), ip), sf_ip_format(sf_gateway(), gw));

  /* The same ticket's allocation both ways. */
  snprintf(in, sizeof in, "{\"ticket\":\"%s\"}", ticket);
  n = sf_api_call("ticket.info", in, out, sizeof out);
  struct sf_result *info = READ_TICKET_INFO(ticket);
  long net_allocs = n < 0 || sf_json_get(out, (size_t)n, "allocations", &data) < 0 ? -1 : sf_json_length(data);
  int agree = info && net_allocs == info->rc.number_clones && net_allocs == granted;
  int i = 0;
  for (struct sf_clone_info *c = info ? info->clone_list : 0; agree && c; c = c->next, i++) {
    char path[24];
    long long vmid = -1;
    snprintf(path, sizeof path, "%d.vmid", i);
    agree = sf_json_at(data, path, &v) == 0 && sf_json_int(v, &vmid) == 0 && vmid == c->vmid;
  }
  FREE_SF_RES(info);
  printf("netapi: ticket.info over the network and by hypercall %s: %ld allocations\n", agree ? "agree" : "DISAGREE",
         net_allocs);
  bad += !agree;

  /* From here sf.h's calls go over the network; the fork itself stays a hypercall. */
  if (sf_set_transport(SF_TRANSPORT_NET) < 0) {
    printf("netapi: sf_set_transport(SF_TRANSPORT_NET): %s\n", sf_errmsg());
    return 1;
  }
  int vmid = sf_clone(ticket);
  if (vmid < 0) {
    printf("netapi: sf_clone failed: %s\n", sf_errmsg());
    return 1;
  }
  if (vmid > 0) return clone_side(vmid);

  static struct sf_hc_exit exits[64];
  int joined = sf_join_results(ticket, exits, 64);
  int verified = 0;
  for (int k = 0; k < joined && k < 64; k++) verified += exits[k].how == SF_CLONE_EXITED && exits[k].status == 0;
  int all = joined == (int)granted && verified == joined;
  printf("netapi: %d clones refused master calls over the network and exited through it, %s\n", joined,
         all ? "all verified" : "NOT all verified");
  if (joined < 0) printf("netapi: clone.join over the network failed: %s\n", sf_errmsg());
  for (int k = 0; k < joined && k < 64; k++)
    if (exits[k].how != SF_CLONE_EXITED || exits[k].status != 0)
      printf("netapi: clone %u ended how=%u status=%d\n", exits[k].vmid, exits[k].how, exits[k].status);
  bad += !all;

  /* Nothing in flight now, both ways. */
  struct sf_result *list = LIST_TICKETS(); /* over the network */
  sf_set_transport(SF_TRANSPORT_HYPERCALL);
  struct sf_result *again = LIST_TICKETS();
  int empty = list && again && !list->unused_tickets && !list->outstanding_tickets && !again->unused_tickets &&
              !again->outstanding_tickets;
  FREE_SF_RES(list);
  FREE_SF_RES(again);
  printf("netapi: ticket.list over the network and by hypercall %s\n", empty ? "agree: nothing in flight" : "DISAGREE");
  bad += !empty;
  /* What a call costs each way (within the per-VM limit's burst, so no call waits for its rate). */
  uint64_t t0 = sf_time_ns();
  int calls_ok = 0;
  for (int k = 0; k < 10; k++) calls_ok += sf_api_call("ticket.list", 0, out, sizeof out) >= 0;
  uint64_t t1 = sf_time_ns();
  for (int k = 0; k < 10; k++) {
    struct sf_result *l = LIST_TICKETS();
    calls_ok += l != 0;
    FREE_SF_RES(l);
  }
  uint64_t t2 = sf_time_ns();
  printf("netapi: ticket.list takes %llu us over the network, %llu us by hypercall (10 calls each, %d answered)\n",
         (unsigned long long)(t1 - t0) / 10000, (unsigned long long)(t2 - t1) / 10000, calls_ok);
  printf("netapi: %s\n", bad ? "FAILED" : "all verified");
  if (linger) {
    printf("netapi: lingering %llu s\n", linger);
    for (uint64_t end = sf_time_ns() + linger * 1000000000ull; sf_time_ns() < end;) sf_net_wait(100);
  }
  return bad ? 1 : 0;
}
