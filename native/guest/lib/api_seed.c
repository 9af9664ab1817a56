/* The pure half of the guest API over the network (sfguest/api_net.h): a seed call as a procedure and its JSON
 * input, sfmd's HTTP answer split and judged (tRPC's shape: {"result":{"data":…}} or {"error":{"message",
 * "data":{"sfCode"}}}), and the data turned into the reply block the hypercall path fills. */
#include <sfguest/api_net.h>
#include <sfguest/json.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include "sf_internal.h"

static const struct {
  const char *name;
  int code;
} CODES[] = {
    {"BAD_INPUT", SF_EINVAL},      {"TOO_LARGE", SF_EINVAL},      {"NO_RESOURCES", SF_ENORES},
    {"NOT_MASTER", SF_ENOTMASTER}, {"NOT_CLONE", SF_ENOTCLONE},   {"TICKET_UNKNOWN", SF_ETICKET},
    {"TICKET_STATE", SF_ESTATE},   {"HOST_LOST", SF_EHOSTLOST},   {"TIMEOUT", SF_ETIMEDOUT},
    {"UNAVAILABLE", SF_EUNAVAIL},  {"RATE_LIMITED", SF_EUNAVAIL}, {"UNAUTHORIZED", SF_EPERM},
    {"FORBIDDEN", SF_EPERM},       {"DOMAIN_UNKNOWN", SF_EPERM},
};

int sf_api_code(const char *sfcode) {
  for (size_t i = 0; sfcode && i < sizeof CODES / sizeof CODES[0]; i++)
    if (strcmp(CODES[i].name, sfcode) == 0) return CODES[i].code;
  return SF_EINTERNAL;
}

int sf_api_http_split(const char *buf, size_t n, int *status, const char **body, size_t *body_len) {
  /* "HTTP/1.x NNN ..." */
  if (n < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return -1;
  int code = 0;
  for (int i = 9; i < 12; i++) {
    if (buf[i] < '0' || buf[i] > '9') return -1;
    code = code * 10 + (buf[i] - '0');
  }
  size_t h = 0;
  while (h + 4 <= n && memcmp(buf + h, "\r\n\r\n", 4) != 0) h++;
  if (h + 4 > n) return -1;
  *status = code;
  *body = buf + h + 4;
  *body_len = n - h - 4;
  return 0;
}

int sf_api_answer(int http_status, const char *body, size_t n, struct sf_json *data, char *errmsg, size_t cap) {
  struct sf_json v;
  if (http_status == 200 && sf_json_get(body, n, "result.data", data) == 0) {
    if (errmsg && cap) errmsg[0] = 0;
    return 0;
  }
  char code[32] = "", message[SF_ERRMSG_LEN] = "";
  if (sf_json_get(body, n, "error.data.sfCode", &v) == 0) sf_json_string(v, code, sizeof code);
  if (sf_json_get(body, n, "error.message", &v) == 0) sf_json_string(v, message, sizeof message);
  int err = code[0] ? sf_api_code(code) : http_status == 429 || http_status == 503 ? SF_EUNAVAIL : SF_EINTERNAL;
  if (errmsg && cap) {
    if (code[0]) snprintf(errmsg, cap, "%s: %s", code, message[0] ? message : "(no message)");
    else snprintf(errmsg, cap, "the guest API answered HTTP %d without an error the library knows", http_status);
  }
  return -err;
}

const char *sf_api_seed_procedure(unsigned nr) {
  switch (nr) {
    case SF_HC_TICKET_REQUEST: return "ticket.request";
    case SF_HC_TICKET_LIST: return "ticket.list";
    case SF_HC_TICKET_INFO: return "ticket.info";
    case SF_HC_TICKET_DISPOSE: return "ticket.dispose";
    case SF_HC_CLONE_MASTER: return "clone.master";
    case SF_HC_CLONE_MERGE: return "clone.merge";
    case SF_HC_CLONE_JOIN: return "clone.join";
    case SF_HC_CLONE_EXIT: return "clone.exit";
    case SF_HC_CLUSTER_SHUTDOWN: return "cluster.shutdown";
    default: return 0;
  }
}

long sf_api_seed_input(unsigned nr, const struct sf_seed_args *a, unsigned timeout_ms, char *json, size_t cap) {
  char ticket[SF_TICKET_LEN + 8] = "null", limit[32] = "";
  int has_ticket = a && a->ticket && a->ticket[0];
  /* A ticket is a uuid; quoted anyway, so whatever a caller passed stays one JSON string. */
  if (has_ticket && sf_json_quote(a->ticket, ticket, sizeof ticket) < 0) return -1;
  if (timeout_ms) snprintf(limit, sizeof limit, ",\"timeoutMs\":%u", timeout_ms);
  int n;
  switch (nr) {
    case SF_HC_TICKET_REQUEST:
      n = snprintf(json, cap, "{\"nclones\":%d,\"procs\":%s,\"min\":%d,\"block\":%s%s}", a ? a->nclones : 0,
                   a && (a->flags & SF_REQ_PROCS) ? "true" : "false", a ? a->min : 0,
                   a && (a->flags & SF_REQ_BLOCK) ? "true" : "false", limit);
      break;
    case SF_HC_TICKET_LIST:
    case SF_HC_CLUSTER_SHUTDOWN: n = snprintf(json, cap, "{}"); break;
    case SF_HC_CLONE_JOIN: n = snprintf(json, cap, "{\"ticket\":%s%s}", ticket, limit); break;
    case SF_HC_TICKET_INFO:
    case SF_HC_TICKET_DISPOSE:
    case SF_HC_CLONE_MASTER:
    case SF_HC_CLONE_MERGE: n = snprintf(json, cap, "{\"ticket\":%s}", ticket); break;
    case SF_HC_CLONE_EXIT: n = snprintf(json, cap, "{\"status\":%d}", a ? a->status : 0); break;
    default: return -1;
  }
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

static unsigned uint_at(struct sf_json v, const char *path) {
  struct sf_json x;
  long long n;
  return sf_json_at(v, path, &x) == 0 && sf_json_int(x, &n) == 0 && n >= 0 && n <= 0x7fffffff ? (unsigned)n : 0;
}

/* Copies a string at path into dst[cap]; an absent or oversized one leaves dst empty. */
static void string_at(struct sf_json v, const char *path, char *dst, size_t cap) {
  struct sf_json x;
  if (sf_json_at(v, path, &x) < 0 || sf_json_string(x, dst, cap) < 0) dst[0] = 0;
}

/* A list of tickets at path into rep->tickets from slot `from`; returns how many were copied. */
static unsigned tickets_at(struct sf_json data, const char *path, struct sf_hc_reply *rep, unsigned from) {
  struct sf_json list, t;
  if (sf_json_at(data, path, &list) < 0) return 0;
  long n = sf_json_length(list);
  unsigned copied = 0;
  for (long i = 0; i < n && from + copied < SF_MAX_TICKETS; i++) {
    char idx[16];
    snprintf(idx, sizeof idx, "%ld", i);
    if (sf_json_at(list, idx, &t) == 0 && sf_json_string(t, rep->tickets[from + copied], SF_TICKET_LEN + 1) >= 0)
      copied++;
  }
  return copied;
}

int sf_api_seed_reply(unsigned nr, struct sf_json data, struct sf_hc_reply *rep) {
  memset(rep, 0, sizeof *rep);
  char path[48];
  switch (nr) {
    case SF_HC_TICKET_REQUEST:
      rep->count = uint_at(data, "granted");
      string_at(data, "ticket", rep->ticket, sizeof rep->ticket);
      break;
    case SF_HC_TICKET_LIST:
      rep->nunused = tickets_at(data, "unused", rep, 0);
      rep->noutstanding = tickets_at(data, "outstanding", rep, rep->nunused);
      rep->count = rep->nunused + rep->noutstanding;
      break;
    case SF_HC_TICKET_INFO: {
      struct sf_json allocs;
      string_at(data, "ticket", rep->ticket, sizeof rep->ticket);
      long n = sf_json_at(data, "allocations", &allocs) == 0 ? sf_json_length(allocs) : -1;
      if (n < 0) return -SF_EINTERNAL;
      rep->count = n > (long)SF_MAX_ALLOC ? SF_MAX_ALLOC : (unsigned)n;
      for (unsigned i = 0; i < rep->count; i++) {
        snprintf(path, sizeof path, "%u.vmid", i);
        rep->alloc[i].vmid = uint_at(allocs, path);
        snprintf(path, sizeof path, "%u.processors", i);
        rep->alloc[i].processors = uint_at(allocs, path);
      }
      break;
    }
    case SF_HC_CLONE_MASTER:
      rep->count = uint_at(data, "nclones");
      rep->vmid = (int)uint_at(data, "vmid");
      string_at(data, "ticket", rep->ticket, sizeof rep->ticket);
      break;
    case SF_HC_CLONE_MERGE: rep->count = uint_at(data, "clones"); break;
    case SF_HC_CLONE_JOIN: {
      struct sf_json exits, x;
      long n = sf_json_at(data, "exits", &exits) == 0 ? sf_json_length(exits) : -1;
      if (n < 0) return -SF_EINTERNAL;
      rep->count = n > (long)SF_MAX_ALLOC ? SF_MAX_ALLOC : (unsigned)n;
      for (unsigned i = 0; i < rep->count; i++) {
        char how[16] = "";
        snprintf(path, sizeof path, "%u.vmid", i);
        rep->exits[i].vmid = uint_at(exits, path);
        snprintf(path, sizeof path, "%u.status", i);
        long long status = 0;
        if (sf_json_at(exits, path, &x) == 0) sf_json_int(x, &status);
        rep->exits[i].status = (int)status;
        snprintf(path, sizeof path, "%u.how", i);
        string_at(exits, path, how, sizeof how);
        rep->exits[i].how = strcmp(how, "exited") == 0   ? SF_CLONE_EXITED
                            : strcmp(how, "killed") == 0 ? SF_CLONE_KILLED
                                                         : SF_CLONE_CRASHED;
      }
      break;
    }
    case SF_HC_TICKET_DISPOSE:
    case SF_HC_CLONE_EXIT:
    case SF_HC_CLUSTER_SHUTDOWN: break;
    default: return -SF_ENOSYS;
  }
  return 0;
}
