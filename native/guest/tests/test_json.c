/* The JSON reader (lib/json.c) and the guest API's pure half (lib/api_seed.c): paths, numbers, strings, malformed
 * and truncated text, sfmd's answers judged, and seed calls as procedures with their input and reply block. */
#include <sfguest/api_net.h>
#include <sfguest/json.h>
#include <sfguest/string.h>
#include "sf_internal.h"
#include "test.h"

static const char DOC[] =
    " {\"result\" : {\"data\": {\"ticket\":\"0b2c\\\"q\\u0041\\u00e9\", \"granted\":3, \"neg\":-42, \"f\":1.5,"
    " \"ok\":true, \"none\":null, \"list\":[ 1, {\"k\":[\"x\",\"y\"]}, \"z\" ], \"empty\":[], \"{\":\"brace\"}}} ";

static void test_reader(void) {
  struct sf_json v;
  long long n;
  char buf[32];
  int b;
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.granted", &v) == 0 && sf_json_int(v, &n) == 0 && n == 3);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.neg", &v) == 0 && sf_json_int(v, &n) == 0 && n == -42);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.f", &v) == 0 && sf_json_type(v) == SF_JSON_NUMBER &&
        sf_json_int(v, &n) < 0);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.ok", &v) == 0 && sf_json_bool(v, &b) == 0 && b == 1);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.none", &v) == 0 && sf_json_type(v) == SF_JSON_NULL);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.ticket", &v) == 0);
  CHECKF(sf_json_string(v, buf, sizeof buf) == 8 && strcmp(buf, "0b2c\"qA?") == 0, "got '%s'", buf);
  CHECK(sf_json_string(v, buf, 4) == -1 && strcmp(buf, "0b2") == 0); /* cut to fit, and said so */
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.list.1.k.1", &v) == 0 &&
        sf_json_string(v, buf, sizeof buf) == 1 && buf[0] == 'y');
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.list.2", &v) == 0 && v.n == 3);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.list", &v) == 0 && sf_json_length(v) == 3);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.empty", &v) == 0 && sf_json_length(v) == 0);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.{", &v) == 0 && v.n == 7);
  struct sf_json data;
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data", &data) == 0 && sf_json_at(data, "granted", &v) == 0 &&
        v.n == 1);
  /* Missing, wrong kind, out of range. */
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.nope", &v) < 0);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.list.3", &v) < 0);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.list.x", &v) < 0);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.granted.x", &v) < 0);
  CHECK(sf_json_get(DOC, sizeof DOC - 1, "result.data.ok", &v) == 0 && sf_json_int(v, &n) < 0 &&
        sf_json_string(v, buf, 8) < 0);
  /* Every truncation of the document is malformed: no lookup succeeds on any prefix, none reads past it. */
  int found = 0;
  for (size_t cut = 0; cut < sizeof DOC - 2; cut++) found += sf_json_get(DOC, cut, "result.data.granted", &v) == 0;
  CHECKF(found == 0, "%d prefixes gave a value", found);
  static const char *bad[] = {"{\"a\":}",         "{\"a\" 1}", "{\"a\":1,}", "[1 2]", "{\"a\":tru}",
                              "{\"a\":\"x\ny\"}", "{a:1}",     "-",          "[-]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECKF(sf_json_get(bad[i], strlen(bad[i]), "", &v) < 0, "%s", bad[i]);
  /* Nesting past the bound is malformed, not a deep recursion. */
  static char deep[2 * (SF_JSON_MAX_DEPTH + 5) + 1];
  for (int i = 0; i < SF_JSON_MAX_DEPTH + 5; i++) {
    deep[i] = '[';
    deep[2 * (SF_JSON_MAX_DEPTH + 5) - 1 - i] = ']';
  }
  CHECK(sf_json_get(deep, strlen(deep), "", &v) < 0);
  CHECK(sf_json_get("[[1]]", 5, "0.0", &v) == 0 && sf_json_int(v, &n) == 0 && n == 1);
  CHECK(sf_json_get("9223372036854775807", 19, "", &v) == 0 && sf_json_int(v, &n) == 0 && n == 9223372036854775807LL);
  CHECK(sf_json_get("9223372036854775808", 19, "", &v) == 0 && sf_json_int(v, &n) < 0);
  CHECK(sf_json_get("-9223372036854775808", 20, "", &v) == 0 && sf_json_int(v, &n) == 0 &&
        n == (-9223372036854775807LL - 1));

  char q[32];
  CHECK(sf_json_quote("a\"b\\c\n", q, sizeof q) == 15 && strcmp(q, "\"a\\\"b\\\\c\\u000a\"") == 0);
  CHECK(sf_json_quote("abcdef", q, 6) < 0);
}

static void test_answers(void) {
  static const char ok[] =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"result\":{\"data\":{\"granted\":2}}}";
  int status;
  const char *body;
  size_t len;
  struct sf_json data;
  char msg[SF_ERRMSG_LEN];
  CHECK(sf_api_http_split(ok, sizeof ok - 1, &status, &body, &len) == 0 && status == 200 && len == 33);
  CHECK(sf_api_answer(status, body, len, &data, msg, sizeof msg) == 0 && data.n == 13 && msg[0] == 0);
  CHECK(sf_api_http_split(ok, 40, &status, &body, &len) < 0); /* no end of the head */
  CHECK(sf_api_http_split("SSH-2.0-x\r\n\r\n", 13, &status, &body, &len) < 0);

  static const char refused[] =
      "{\"error\":{\"message\":\"only the master VM may do this\",\"data\":{\"code\":\"FORBIDDEN\",\"httpStatus\":403,"
      "\"sfCode\":\"NOT_MASTER\"}}}";
  CHECK(sf_api_answer(403, refused, sizeof refused - 1, &data, msg, sizeof msg) == -SF_ENOTMASTER);
  CHECKF(strcmp(msg, "NOT_MASTER: only the master VM may do this") == 0, "msg '%s'", msg);
  CHECK(sf_api_answer(502, "<html>", 6, &data, msg, sizeof msg) == -SF_EINTERNAL && strstr(msg, "HTTP 502"));
  CHECK(sf_api_answer(429, "", 0, &data, msg, sizeof msg) == -SF_EUNAVAIL);
  /* A 200 without result.data is no success. */
  CHECK(sf_api_answer(200, "{\"result\":{}}", 13, &data, msg, sizeof msg) == -SF_EINTERNAL);
  CHECK(sf_api_code("FORBIDDEN") == SF_EPERM && sf_api_code("TICKET_STATE") == SF_ESTATE &&
        sf_api_code("WHAT") == SF_EINTERNAL);
}

static void test_seed_calls(void) {
  char in[160];
  struct sf_seed_args req = {SF_REQ_BLOCK, 4, 2, 0, 0};
  CHECK(strcmp(sf_api_seed_procedure(SF_HC_TICKET_REQUEST), "ticket.request") == 0 && !sf_api_seed_procedure(99));
  CHECK(sf_api_seed_input(SF_HC_TICKET_REQUEST, &req, 0, in, sizeof in) > 0);
  CHECKF(strcmp(in, "{\"nclones\":4,\"procs\":false,\"min\":2,\"block\":true}") == 0, "%s", in);
  struct sf_seed_args join = {0, 0, 0, 0, "0b2c8a1e-0000-4000-8000-000000000001"};
  CHECK(sf_api_seed_input(SF_HC_CLONE_JOIN, &join, 5000, in, sizeof in) > 0);
  CHECKF(strcmp(in, "{\"ticket\":\"0b2c8a1e-0000-4000-8000-000000000001\",\"timeoutMs\":5000}") == 0, "%s", in);
  struct sf_seed_args all = {0, 0, 0, 0, ""};
  CHECK(sf_api_seed_input(SF_HC_CLONE_MERGE, &all, 0, in, sizeof in) > 0 && strcmp(in, "{\"ticket\":null}") == 0);
  struct sf_seed_args ex = {0, 0, 0, -7, 0};
  CHECK(sf_api_seed_input(SF_HC_CLONE_EXIT, &ex, 0, in, sizeof in) > 0 && strcmp(in, "{\"status\":-7}") == 0);
  CHECK(sf_api_seed_input(SF_HC_CLUSTER_SHUTDOWN, 0, 0, in, sizeof in) == 2);
  CHECK(sf_api_seed_input(SF_HC_TICKET_REQUEST, &req, 0, in, 10) < 0);

  static struct sf_hc_reply rep;
  struct sf_json data;
  static const char granted[] =
      "{\"ticket\":\"t-1\",\"granted\":3,\"allocations\":[{\"vmid\":1,\"processors\":2},"
      "{\"vmid\":2,\"processors\":1}]}";
  CHECK(sf_json_get(granted, sizeof granted - 1, "", &data) == 0);
  CHECK(sf_api_seed_reply(SF_HC_TICKET_REQUEST, data, &rep) == 0 && rep.count == 3 && strcmp(rep.ticket, "t-1") == 0);
  CHECK(sf_api_seed_reply(SF_HC_TICKET_INFO, data, &rep) == 0 && rep.count == 2 && rep.alloc[0].vmid == 1 &&
        rep.alloc[0].processors == 2 && rep.alloc[1].vmid == 2);
  static const char list[] = "{\"unused\":[\"a\",\"b\"],\"outstanding\":[\"c\"]}";
  CHECK(sf_json_get(list, sizeof list - 1, "", &data) == 0);
  CHECK(sf_api_seed_reply(SF_HC_TICKET_LIST, data, &rep) == 0 && rep.nunused == 2 && rep.noutstanding == 1 &&
        rep.count == 3 && strcmp(rep.tickets[2], "c") == 0);
  static const char joined[] =
      "{\"ticket\":\"t\",\"clones\":2,\"exits\":[{\"vmid\":1,\"how\":\"exited\",\"status\":-3,"
      "\"reason\":null},{\"vmid\":2,\"how\":\"killed\",\"status\":0,\"reason\":\"merged\"}]}";
  CHECK(sf_json_get(joined, sizeof joined - 1, "", &data) == 0);
  CHECK(sf_api_seed_reply(SF_HC_CLONE_JOIN, data, &rep) == 0 && rep.count == 2 && rep.exits[0].status == -3 &&
        rep.exits[0].how == SF_CLONE_EXITED && rep.exits[1].vmid == 2 && rep.exits[1].how == SF_CLONE_KILLED);
  CHECK(sf_api_seed_reply(SF_HC_TICKET_INFO, data, &rep) < 0); /* no allocations in a join's answer */
  static const char merged[] = "{\"merged\":[\"t\"],\"clones\":4}";
  CHECK(sf_json_get(merged, sizeof merged - 1, "", &data) == 0 &&
        sf_api_seed_reply(SF_HC_CLONE_MERGE, data, &rep) == 0 && rep.count == 4);
}

void test_json(void) {
  test_reader();
  test_answers();
  test_seed_calls();
}
