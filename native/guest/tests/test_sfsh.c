/* Host tests of sfsh's line editor (what a terminal's keys do to the line and what is echoed) and of
 * its argument checks (the seed tools' arguments, worded as the host tools word their refusals). */
#include <sfguest/args.h>
#include <sfguest/string.h>
#include "sfsh/cmdline.h"
#include "sfsh/lineedit.h"
#include "test.h"

static char screen[4096]; /* the echo, as written */
static size_t screen_len;
static void capture(const char *s, size_t n) {
  for (size_t i = 0; i < n && screen_len + 1 < sizeof screen; i++) screen[screen_len++] = s[i];
  screen[screen_len] = 0;
}

/* Feeds keys until the line ends; returns how it ended (LE_MORE if the keys ran out first). */
static enum le_status type(struct lineedit *le, const char *keys) {
  le_start(le);
  screen_len = 0;
  screen[0] = 0;
  for (const char *k = keys; *k; k++) {
    enum le_status st = le_feed(le, (unsigned char)*k);
    if (st != LE_MORE) return st;
  }
  return LE_MORE;
}

/* What a terminal would show on the line: replays the echo's printable bytes and backspaces. */
static const char *shown(void) {
  static char line[LE_MAX * 2];
  size_t cur = 0, end = 0;
  for (size_t i = 0; i < screen_len; i++) {
    char c = screen[i];
    if (c == '\b') {
      if (cur) cur--;
    } else if (c == '\r' || c == '\n') {
      continue;
    } else {
      line[cur++] = c;
      if (cur > end) end = cur;
    }
  }
  while (end && line[end - 1] == ' ') end--;
  line[end] = 0;
  return line;
}

static void test_editing(void) {
  static struct lineedit le;
  le.write = capture;
  CHECK(type(&le, "sfdotix 1\r") == LE_LINE && strcmp(le.buf, "sfdotix 1") == 0);
  CHECK(strcmp(screen, "sfdotix 1\r\n") == 0);
  /* Backspace and DEL erase before the cursor, and the terminal shows the same. */
  CHECK(type(&le,
             "sfclonx\x7f"
             "e 3\b2\r") == LE_LINE &&
        strcmp(le.buf, "sfclone 2") == 0);
  CHECKF(strcmp(shown(), "sfclone 2") == 0, "shown: '%s'", shown());
  /* Left arrow, insert in the middle, Ctrl-A / Ctrl-E, right arrow. */
  CHECK(type(&le, "vid\x1b[D\x1b[Dm\x01\x05\x1b[C!\r") == LE_LINE);
  CHECKF(strcmp(le.buf, "vmid!") == 0, "buf: '%s'", le.buf);
  CHECKF(strcmp(shown(), "vmid!") == 0, "shown: '%s'", shown());
  CHECK(type(&le, "ab\x1b[Dc\x1b[D\x1b[D\x7f\x7fX\r") == LE_LINE &&
        strcmp(le.buf, "Xacb") == 0); /* BS at col 0: nothing */
  /* Ctrl-U wipes the line (and the screen), Ctrl-C drops it. */
  CHECK(type(&le, "sfshutdown\x15mem\r") == LE_LINE && strcmp(le.buf, "mem") == 0);
  CHECKF(strcmp(shown(), "mem") == 0, "shown: '%s'", shown());
  CHECK(type(&le, "sfmerge ''\x03") == LE_CANCEL && le.len == 0);
  CHECK(strstr(screen, "^C\r\n") != 0);
  /* CR LF is one Enter; Ctrl-D ends only an empty line; other controls and non-ASCII are dropped. */
  CHECK(type(&le, "a\r") == LE_LINE && type(&le, "\nb\r") == LE_LINE && strcmp(le.buf, "b") == 0);
  CHECK(type(&le, "x\x04y\x07\xc3\xa9\t\r") == LE_LINE && strcmp(le.buf, "xy") == 0);
  CHECK(type(&le, "\x04") == LE_EOF);
  /* Keys xterm sends that are not editing keys (Delete: ESC [ 3 ~, F1: ESC O P) leave the line alone. */
  CHECK(type(&le, "ab\x1b[3~\x1bOPc\r") == LE_LINE && strcmp(le.buf, "abc") == 0);
  /* A full line takes no more. */
  le_start(&le);
  for (int i = 0; i < LE_MAX + 10; i++) le_feed(&le, 'z');
  CHECK(le.len == LE_MAX - 1 && strlen(le.buf) == LE_MAX - 1);
}

static void test_history(void) {
  static struct lineedit le;
  le.write = capture;
  le_remember(&le, "sfdotix 1");
  le_remember(&le, ""); /* not kept */
  le_remember(&le, "sftickets");
  le_remember(&le, "sftickets"); /* a repeat of the newest: not kept twice */
  CHECK(le.hist_count == 2);
  CHECK(type(&le, "\x1b[A\r") == LE_LINE && strcmp(le.buf, "sftickets") == 0);
  CHECK(type(&le, "\x1b[A\x1b[A\r") == LE_LINE && strcmp(le.buf, "sfdotix 1") == 0);
  CHECKF(strcmp(shown(), "sfdotix 1") == 0, "shown: '%s'", shown()); /* the longer line was wiped */
  CHECK(type(&le, "\x1b[A\x1b[A\x1b[A\x1b[A\r") == LE_LINE &&
        strcmp(le.buf, "sfdotix 1") == 0); /* stops at the oldest */
  /* Down past the newest gives back the line being typed; an edited history line runs as edited. */
  CHECK(type(&le, "vm\x1b[A\x1b[B\x1b[Bid\r") == LE_LINE && strcmp(le.buf, "vmid") == 0);
  CHECK(type(&le,
             "\x1bOA\x7f\x7f"
             "5\r") == LE_LINE &&
        strcmp(le.buf, "sfticke5") == 0);
  /* The ring keeps the newest LE_HISTORY lines. */
  for (int i = 0; i < LE_HISTORY + 3; i++) {
    char line[8] = "cmd";
    line[3] = (char)('a' + i);
    line[4] = 0;
    le_remember(&le, line);
  }
  CHECK(le.hist_count == LE_HISTORY);
  char keys[LE_HISTORY * 3 + 8] = "";
  for (int i = 0; i < LE_HISTORY + 2; i++) strcat(keys, "\x1b[A");
  strcat(keys, "\r");
  CHECK(type(&le, keys) == LE_LINE);
  CHECKF(strcmp(le.buf, "cmdd") == 0, "oldest kept: '%s'", le.buf);
}

static int no_run(int argc, char **argv) {
  (void)argv;
  return argc;
}

static void test_arguments(void) {
  char err[SFSH_ERR_LEN], ticket[SFSH_TICKET_LEN + 1], line[128];
  char *argv[SFSH_MAX_WORDS];
  struct sfsh_request r;
  int all;

  static const struct sfsh_command table[] = {{"sfdotix", "", "", no_run}, {"vmid", "", "", no_run}, {0, 0, 0, 0}};
  CHECK(sfsh_find(table, "vmid") == &table[1] && sfsh_find(table, "vmi") == 0 && sfsh_find(table, "") == 0);

  strcpy(line, "sfdotix 4 --procs --min 2 --block");
  int argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) == 0);
  CHECK(r.nclones == 4 && r.procs && r.min == 2 && r.block);
  strcpy(line, "sfclone --min=1 2");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) == 0 && r.nclones == 2 && r.min == 1 && !r.procs &&
        !r.block);

  strcpy(line, "sfdotix");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0 && strcmp(err, "missing N (how many clones)") == 0);
  strcpy(line, "sfdotix 0");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECKF(sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0 &&
             strcmp(err, "N (how many clones) must be a whole number >= 1, got '0'") == 0,
         "err: %s", err);
  strcpy(line, "sfdotix two");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0 && strstr(err, "got 'two'"));
  strcpy(line, "sfdotix 2 --min 3");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0 && strstr(err, "--min 3 is more than the 2"));
  strcpy(line, "sfdotix 2 --min");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0 && strcmp(err, "missing --min") == 0);
  strcpy(line, "sfdotix 2 --force");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0 && strstr(err, "unknown option --force"));
  strcpy(line, "sfdotix 2 3");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_request(argc, argv, &r, err, sizeof err) < 0 && strstr(err, "unexpected argument '3'"));

  CHECK(sfsh_parse_ticket("D4D660B0-054E-4017-8393-AD04FF1C1FF7", ticket, err, sizeof err) == 0 &&
        strcmp(ticket, "d4d660b0-054e-4017-8393-ad04ff1c1ff7") == 0);
  CHECK(sfsh_parse_ticket("d4d660b0-054e-4017-8393-ad04ff1c1ff", ticket, err, sizeof err) < 0 &&
        strstr(err, "is not a ticket: tickets are 36-character ids from sfdotix"));
  CHECK(sfsh_parse_ticket("d4d660b0x054e-4017-8393-ad04ff1c1ff7", ticket, err, sizeof err) < 0);
  CHECK(sfsh_parse_ticket("g4d660b0-054e-4017-8393-ad04ff1c1ff7", ticket, err, sizeof err) < 0);
  CHECK(sfsh_parse_ticket(0, ticket, err, sizeof err) < 0 && strstr(err, "missing TICKET"));

  /* sfmerge '' is the seed's "every ticket": the quotes make an empty word. */
  strcpy(line, "sfmerge ''");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(argc == 2 && sfsh_parse_merge(argc, argv, ticket, &all, err, sizeof err) == 0 && all);
  strcpy(line, "sfmerge --all");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_merge(argc, argv, ticket, &all, err, sizeof err) == 0 && all);
  strcpy(line, "sfmerge a939ef76-48f1-4d5c-aae1-0529bd1044f4");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_merge(argc, argv, ticket, &all, err, sizeof err) == 0 && !all &&
        strcmp(ticket, "a939ef76-48f1-4d5c-aae1-0529bd1044f4") == 0);
  strcpy(line, "sfmerge");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_merge(argc, argv, ticket, &all, err, sizeof err) < 0 && strstr(err, "missing TICKET"));
  strcpy(line, "sfmerge a b");
  argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  CHECK(sfsh_parse_merge(argc, argv, ticket, &all, err, sizeof err) < 0);
}

void test_sfsh(void) {
  test_editing();
  test_history();
  test_arguments();
}
