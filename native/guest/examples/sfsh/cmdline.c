/* sfsh's argument checks, worded as the host-side tools word theirs (apps/daemon/src/cli/commands/
 * guest-args.ts), so the same mistake gets the same answer inside the VM and outside it. */
#include "sfsh/cmdline.h"
#include <sfguest/ctype.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>

const struct sfsh_command *sfsh_find(const struct sfsh_command *table, const char *name) {
  for (const struct sfsh_command *c = table; c->name; c++)
    if (strcmp(c->name, name) == 0) return c;
  return 0;
}

int sfsh_parse_count(const char *text, const char *what, int min, int *out, char *err, size_t errlen) {
  if (!text) {
    snprintf(err, errlen, "missing %s", what);
    return -1;
  }
  size_t n = strlen(text);
  int ok = n >= 1 && n <= 7;
  for (size_t i = 0; ok && i < n; i++) ok = isdigit((unsigned char)text[i]);
  int v = 0;
  for (size_t i = 0; ok && i < n; i++) v = v * 10 + (text[i] - '0');
  if (!ok || v < min) {
    snprintf(err, errlen, "%s must be a whole number >= %d, got '%s'", what, min, text);
    return -1;
  }
  *out = v;
  return 0;
}

int sfsh_parse_ticket(const char *text, char *out, char *err, size_t errlen) {
  if (!text || !*text) {
    snprintf(err, errlen, "missing TICKET (a 36-character id from sfdotix)");
    return -1;
  }
  int ok = strlen(text) == SFSH_TICKET_LEN;
  for (int i = 0; ok && i < SFSH_TICKET_LEN; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    ok = dash ? text[i] == '-' : isxdigit((unsigned char)text[i]);
  }
  if (!ok) {
    snprintf(err, errlen, "'%s' is not a ticket: tickets are 36-character ids from sfdotix", text);
    return -1;
  }
  for (int i = 0; i < SFSH_TICKET_LEN; i++) out[i] = (char)tolower((unsigned char)text[i]);
  out[SFSH_TICKET_LEN] = 0;
  return 0;
}

int sfsh_parse_request(int argc, char **argv, struct sfsh_request *r, char *err, size_t errlen) {
  const char *count = 0;
  r->nclones = 0;
  r->procs = r->block = r->min = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--procs") == 0) {
      r->procs = 1;
    } else if (strcmp(a, "--block") == 0) {
      r->block = 1;
    } else if (strcmp(a, "--min") == 0 || strncmp(a, "--min=", 6) == 0) {
      const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : 0);
      if (sfsh_parse_count(v, "--min", 0, &r->min, err, errlen) < 0) return -1;
    } else if (a[0] == '-' && a[1] == '-') {
      snprintf(err, errlen, "unknown option %s (options: --procs, --min M, --block)", a);
      return -1;
    } else if (count) {
      snprintf(err, errlen, "unexpected argument '%s': give N once", a);
      return -1;
    } else {
      count = a;
    }
  }
  if (sfsh_parse_count(count, "N (how many clones)", 1, &r->nclones, err, errlen) < 0) return -1;
  if (r->min > r->nclones) {
    snprintf(err, errlen, "--min %d is more than the %d asked for", r->min, r->nclones);
    return -1;
  }
  return 0;
}

int sfsh_parse_merge(int argc, char **argv, char *ticket, int *all, char *err, size_t errlen) {
  *all = 0;
  if (argc > 2) {
    snprintf(err, errlen, "sfmerge takes one TICKET, or '' (or --all) for every ticket");
    return -1;
  }
  if (argc < 2) {
    snprintf(err, errlen, "missing TICKET (a 36-character id from sfdotix), or '' for every ticket");
    return -1;
  }
  /* The seed's way to say "every ticket" is the empty string. */
  if (argv[1][0] == 0 || strcmp(argv[1], "--all") == 0) {
    *all = 1;
    ticket[0] = 0;
    return 0;
  }
  return sfsh_parse_ticket(argv[1], ticket, err, errlen);
}
