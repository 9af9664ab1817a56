/* sfsh's command line: words of a typed line, the command table's shape, and the argument checks of the
 * seed's user-domain tools (counts, tickets, sfdotix's options). Pure, so the host tests run it. */
#ifndef SFSH_CMDLINE_H
#define SFSH_CMDLINE_H

#include <stddef.h>

#define SFSH_MAX_WORDS 32
#define SFSH_ERR_LEN 160
#define SFSH_TICKET_LEN 36

/* One command: its name as typed, its usage line, a one-line summary for `help`, and what runs it
 * (argv[0] is the name; the return value is the command's status, 0 = success). */
struct sfsh_command {
  const char *name;
  const char *usage;
  const char *summary;
  int (*run)(int argc, char **argv);
};

/* The command named `name` in a table ended by a NULL name, or NULL. */
const struct sfsh_command *sfsh_find(const struct sfsh_command *table, const char *name);

/* sfdotix / sfclone's arguments: N [--procs] [--min M] [--block]. */
struct sfsh_request {
  int nclones;
  int procs;
  int min; /* 0: accept any grant of at least one */
  int block;
};
/* Parses argv[1..argc) into *r: 0, or -1 with the reason (the host tool's words) in err. */
int sfsh_parse_request(int argc, char **argv, struct sfsh_request *r, char *err, size_t errlen);
/* A whole number >= min of at most 7 digits in text: 0 and *out, or -1 with the reason in err. */
int sfsh_parse_count(const char *text, const char *what, int min, int *out, char *err, size_t errlen);
/* A ticket (36-character uuid) in text, lower-cased into out[SFSH_TICKET_LEN + 1]: 0, or -1 and err. */
int sfsh_parse_ticket(const char *text, char *out, char *err, size_t errlen);
/* sfmerge's target (required, as the host tool has it): a ticket, or every ticket for '' or --all (*all = 1). */
int sfsh_parse_merge(int argc, char **argv, char *ticket, int *all, char *err, size_t errlen);

#endif /* SFSH_CMDLINE_H */
