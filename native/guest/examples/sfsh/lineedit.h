/* sfsh's line editor: turns the keystrokes a terminal sends (xterm in the dashboard, `sf console`) into
 * edited lines, echoing as it goes, with a history the arrows walk. Pure: bytes in, echo out a callback. */
#ifndef SFSH_LINEEDIT_H
#define SFSH_LINEEDIT_H

#include <stddef.h>

#define LE_MAX 256 /* a line's bytes, NUL included */
#define LE_HISTORY 16

enum le_status {
  LE_MORE = 0,   /* keep feeding */
  LE_LINE = 1,   /* Enter: le->buf holds the line */
  LE_CANCEL = 2, /* Ctrl-C: the line was dropped */
  LE_EOF = 3,    /* Ctrl-D on an empty line */
};

struct lineedit {
  char buf[LE_MAX];
  size_t len, pos; /* bytes in buf, cursor */
  char history[LE_HISTORY][LE_MAX];
  int hist_count; /* lines kept, at most LE_HISTORY; the newest at (hist_next - 1) mod LE_HISTORY */
  int hist_next;
  int browsing;                           /* 0: editing a new line; k: showing the k-th newest history line */
  char draft[LE_MAX];                     /* the new line as it was when the up arrow was first pressed */
  int esc;                                /* escape sequence state: 0 none, 1 after ESC, 2 inside ESC [ or ESC O */
  int last_cr;                            /* swallow the LF of CR LF */
  void (*write)(const char *s, size_t n); /* the echo */
};

/* Ready for a new line (the history stays). */
void le_start(struct lineedit *le);
/* One byte from the terminal: LE_MORE, or what ended the line. */
enum le_status le_feed(struct lineedit *le, int c);
/* Remembers a line for the arrows (empty lines and a repeat of the newest are not kept). */
void le_remember(struct lineedit *le, const char *line);

#endif /* SFSH_LINEEDIT_H */
