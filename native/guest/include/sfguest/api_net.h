/* The guest API over the cluster network (lib/api_net.c in libsfnet, lib/api_seed.c): sfmd's guest procedures
 * (ticket.request, clone.join, …) called with HTTP + JSON on the cluster's gateway, where the sfld running the
 * cluster's router answers for sfmd. Who calls is this VM's IP on the cluster network (which the network lets no
 * other VM use), never anything the request says: a clone is a clone whatever its memory holds.
 *
 * Rules: as sfguest/net.h (vCPU 0 only; the calls poll the network while they wait), and as sf.h's Part 2 for
 * errors (sf_errno, sf_errmsg(): "CODE: sfmd's message" for sfmd's refusals). */
#ifndef SFGUEST_API_NET_H
#define SFGUEST_API_NET_H

#include <sfguest/json.h>
#include <stddef.h>
#include <stdint.h>

#define SF_API_PORT 7007u        /* sfld.cfg guest_api_port's default: the same on every host */
#define SF_API_ANSWER_MAX 65536u /* the most of an HTTP answer read (a join of 256 clones fits) */
#define SF_API_CONNECT_TIMEOUT_MS 10000u

/* sf_api_call(procedure, json_in, json_out, cap) — calls one guest procedure, e.g.
 *     char out[512];
 *     int n = sf_api_call("ticket.request", "{\"nclones\":2}", out, sizeof out);
 * json_in: the procedure's JSON input (NULL or "" for none). On success returns the length of the answer's
 * data (tRPC's result.data, e.g. {"ticket":"…","granted":2,…}) copied NUL-terminated into json_out. On failure
 * returns -SF_E* (sf_errno, sf_errmsg() set) and json_out holds sfmd's error object ({"message":…,"data":
 * {"sfCode":"NOT_MASTER",…}}), or "" when no answer came (SF_EUNAVAIL: the network or the gateway is down).
 * An answer larger than cap is cut to fit and fails with SF_EINVAL. Waiting procedures (a blocking
 * ticket.request, clone.join) wait as the hypercall path does: as long as it takes, unless the input has a
 * timeoutMs. Brings the network up (sf_net_init) on first use, and after a fork waits for the clone's own address.
 * "clone.master" forks too, but only the master can read its answer here (the clones' copy of the connection is
 * gone): fork with sf_clone / CLONE_MASTER. */
int sf_api_call(const char *procedure, const char *json_in, char *json_out, size_t cap);
/* The gateway port sf_api_call uses (SF_API_PORT unless the hosts' sfld.cfg say otherwise). */
void sf_api_set_port(uint16_t port);

/* Which path sf.h's calls take: the hypercall to this VM's sfld (the default), or sf_api_call over the cluster
 * network. CLONE_MASTER / sf_clone always take the hypercall: each VM's answer to a fork (its vmid) is the VMM's to
 * give. sf_set_transport(SF_TRANSPORT_NET) brings the network up first: 0, or -SF_EUNAVAIL if it does not come up. */
enum sf_transport { SF_TRANSPORT_HYPERCALL = 0, SF_TRANSPORT_NET = 1 };
int sf_set_transport(int transport);
int sf_get_transport(void);

/* ---- The pure parts (lib/api_seed.c), for tests and other transports ---------------------------------- */
/* sfmd's error code name ("NOT_MASTER") as an SF_E* code (SF_EINTERNAL for any it does not know). */
int sf_api_code(const char *sfcode);
/* An HTTP answer: its status code and body. 0, or -1 when it is no complete HTTP/1.x answer head. */
int sf_api_http_split(const char *buf, size_t n, int *status, const char **body, size_t *body_len);
/* Judges an answer: 0 and *data = result.data, or -SF_E* with errmsg "CODE: message" (from error.data.sfCode
 * and error.message). */
int sf_api_answer(int http_status, const char *body, size_t n, struct sf_json *data, char *errmsg, size_t cap);

#endif /* SFGUEST_API_NET_H */
