/* sfguest/api_net.h's network half: one HTTP/1.1 POST per call to the cluster gateway's guest API (Connection:
 * close, the answer read to its end), and the seed calls' transport that sf_set_transport installs. */
#include <sf.h>
#include <sfguest/api_net.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include "sf_internal.h"

static uint16_t api_port = SF_API_PORT;
/* One answer at a time (vCPU 0 only): kept out of the stack, which is small. */
static char answer[SF_API_ANSWER_MAX + 1];

void sf_api_set_port(uint16_t port) { api_port = port ? port : SF_API_PORT; }

/* Procedure names are words joined by a dot: nothing that could bend the request line. */
static int procedure_ok(const char *p) {
  size_t n = p ? strnlen(p, 65) : 0;
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.')) return 0;
  }
  return 1;
}

/* POSTs json_in to /trpc/procedure and reads the answer into `answer`: 0 with its status and body, or -SF_E*
 * with why in msg. timeout_ms: the caller's limit on a waiting call (0: none), plus a margin for the answer. */
static int post(const char *procedure, const char *json_in, unsigned timeout_ms, int *status, const char **body,
                size_t *body_len, char *msg, size_t cap) {
  char ip[16];
  if (!procedure_ok(procedure)) {
    snprintf(msg, cap, "'%s' is no procedure name (words joined by a dot, like ticket.list)",
             procedure ? procedure : "(null)");
    return -SF_EINVAL;
  }
  /* A fork or link change since the last call drops this VM's address here: then wait for the new one. */
  sf_net_poll();
  if (!sf_ip()) {
    int r = sf_net_init(0);
    if (r < 0) {
      snprintf(msg, cap, "UNAVAILABLE: the cluster network did not come up: %s", sf_net_strerror(r));
      return -SF_EUNAVAIL;
    }
  }
  uint32_t gateway = sf_gateway();
  if (!gateway) {
    snprintf(msg, cap, "UNAVAILABLE: the cluster network gave this VM no gateway");
    return -SF_EUNAVAIL;
  }
  size_t in_len = json_in ? strlen(json_in) : 0;
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "POST /trpc/%s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                    "Content-Length: %lu\r\nConnection: close\r\n\r\n",
                    procedure, sf_ip_format(gateway, ip), api_port, (unsigned long)in_len);
  int s = sf_socket(SF_SOCK_STREAM);
  if (s < 0) {
    snprintf(msg, cap, "UNAVAILABLE: no socket for the guest API: %s", sf_net_strerror(s));
    return -SF_EUNAVAIL;
  }
  sf_set_timeout(s, SF_API_CONNECT_TIMEOUT_MS);
  long r = sf_connect(s, gateway, api_port);
  if (r >= 0) {
    sf_set_timeout(s, timeout_ms ? timeout_ms + 30000u : 0);
    r = sf_send(s, head, (size_t)hn);
  }
  if (r >= 0 && in_len) r = sf_send(s, json_in, in_len);
  size_t got = 0;
  while (r >= 0 && got < SF_API_ANSWER_MAX && (r = sf_recv(s, answer + got, SF_API_ANSWER_MAX - got)) > 0)
    got += (size_t)r;
  sf_close(s);
  answer[got] = 0;
  if (r < 0) {
    snprintf(msg, cap, "UNAVAILABLE: the guest API at %s:%u: %s", ip, api_port, sf_net_strerror((int)r));
    return -SF_EUNAVAIL;
  }
  if (got >= SF_API_ANSWER_MAX) {
    snprintf(msg, cap, "the guest API's answer is over %u bytes, more than the library reads", SF_API_ANSWER_MAX);
    return -SF_EINTERNAL;
  }
  if (sf_api_http_split(answer, got, status, body, body_len) < 0) {
    snprintf(msg, cap, "the guest API at %s:%u answered no HTTP (%lu bytes)", ip, api_port, (unsigned long)got);
    return -SF_EINTERNAL;
  }
  return 0;
}

/* Copies span into out[cap] (NUL-terminated, cut to fit); returns whether it all fitted. */
static int copy_out(const char *p, size_t n, char *out, size_t cap) {
  if (!out || cap == 0) return n == 0;
  size_t c = n < cap ? n : cap - 1;
  memcpy(out, p, c);
  out[c] = 0;
  return c == n;
}

int sf_api_call(const char *procedure, const char *json_in, char *json_out, size_t cap) {
  char msg[SF_ERRMSG_LEN];
  int status;
  const char *body;
  size_t len;
  struct sf_json data, err;
  if (json_out && cap) json_out[0] = 0;
  int r = post(procedure, json_in, 0, &status, &body, &len, msg, sizeof msg);
  if (r < 0) return sf_fail(-r, msg);
  r = sf_api_answer(status, body, len, &data, msg, sizeof msg);
  if (r < 0) {
    if (sf_json_get(body, len, "error", &err) == 0) copy_out(err.p, err.n, json_out, cap);
    return sf_fail(-r, msg);
  }
  if (!copy_out(data.p, data.n, json_out, cap)) {
    snprintf(msg, sizeof msg, "the answer of %s is %lu bytes, more than the %lu-byte buffer", procedure,
             (unsigned long)data.n, (unsigned long)cap);
    return sf_fail(SF_EINVAL, msg);
  }
  sf_succeed();
  return (int)data.n;
}

/* sf.h's calls over the network: the same reply block the hypercall path fills. */
static int net_seed_call(unsigned nr, const struct sf_seed_args *a, unsigned timeout_ms, struct sf_hc_reply *rep) {
  char in[160];
  int status;
  const char *body;
  size_t len;
  struct sf_json data;
  const char *procedure = sf_api_seed_procedure(nr);
  int r = !procedure ? -SF_ENOSYS : sf_api_seed_input(nr, a, timeout_ms, in, sizeof in) < 0 ? -SF_EINVAL : 0;
  if (r < 0) {
    rep->status = r;
    snprintf(rep->errmsg, sizeof rep->errmsg, "seed call %u has no network form", nr);
    return 0;
  }
  r = post(procedure, in, timeout_ms, &status, &body, &len, rep->errmsg, sizeof rep->errmsg);
  if (r == 0) r = sf_api_answer(status, body, len, &data, rep->errmsg, sizeof rep->errmsg);
  if (r == 0 && (r = sf_api_seed_reply(nr, data, rep)) < 0) {
    snprintf(rep->errmsg, sizeof rep->errmsg, "the answer of %s lacks what the call needs", procedure);
  }
  rep->status = r;
  return 0;
}

int sf_set_transport(int transport) {
  if (transport == SF_TRANSPORT_HYPERCALL) {
    sf_seed_transport = 0;
    return sf_succeed();
  }
  if (transport != SF_TRANSPORT_NET)
    return sf_fail(SF_EINVAL, "sf_set_transport takes SF_TRANSPORT_HYPERCALL or SF_TRANSPORT_NET");
  int r = sf_ip() ? 0 : sf_net_init(0);
  if (r < 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "the cluster network did not come up: %s", sf_net_strerror(r));
    return sf_fail(SF_EUNAVAIL, msg);
  }
  sf_seed_transport = net_seed_call;
  return sf_succeed();
}

int sf_get_transport(void) { return sf_seed_transport ? SF_TRANSPORT_NET : SF_TRANSPORT_HYPERCALL; }
