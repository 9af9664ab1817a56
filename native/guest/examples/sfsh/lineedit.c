/* sfsh's line editor: insertion at the cursor, Backspace/DEL, Ctrl-U, Ctrl-C, Ctrl-A/Ctrl-E, left/right
 * arrows, up/down through the history. Echo uses only backspace, printable bytes and spaces, which every
 * terminal (and the console's replay in a browser) draws the same way. */
#include "sfsh/lineedit.h"
#include <sfguest/string.h>

static void put(struct lineedit *le, const char *s, size_t n) {
  if (n) le->write(s, n);
}
static void backs(struct lineedit *le, size_t n) {
  while (n--) le->write("\b", 1);
}
static void spaces(struct lineedit *le, size_t n) {
  while (n--) le->write(" ", 1);
}

void le_start(struct lineedit *le) {
  le->len = le->pos = 0;
  le->buf[0] = 0;
  le->browsing = 0;
  le->esc = 0;
}

/* Erases what the terminal shows of the line and leaves the cursor at its start. */
static void wipe(struct lineedit *le) {
  backs(le, le->pos);
  spaces(le, le->len);
  backs(le, le->len);
}

/* Replaces the whole line (history) and puts the cursor at its end. */
static void replace(struct lineedit *le, const char *text) {
  wipe(le);
  strlcpy(le->buf, text, sizeof le->buf);
  le->len = le->pos = strlen(le->buf);
  put(le, le->buf, le->len);
}

static void insert(struct lineedit *le, char c) {
  if (le->len + 1 >= LE_MAX) return;
  memmove(le->buf + le->pos + 1, le->buf + le->pos, le->len - le->pos);
  le->buf[le->pos] = c;
  le->len++;
  le->buf[le->len] = 0;
  put(le, le->buf + le->pos, le->len - le->pos);
  le->pos++;
  backs(le, le->len - le->pos);
}

static void erase_back(struct lineedit *le) {
  if (!le->pos) return;
  le->pos--;
  memmove(le->buf + le->pos, le->buf + le->pos + 1, le->len - le->pos - 1);
  le->len--;
  le->buf[le->len] = 0;
  backs(le, 1);
  put(le, le->buf + le->pos, le->len - le->pos);
  spaces(le, 1);
  backs(le, le->len - le->pos + 1);
}

static const char *history_at(const struct lineedit *le, int k) { /* k = 1: the newest */
  return le->history[((le->hist_next - k) % LE_HISTORY + LE_HISTORY) % LE_HISTORY];
}

static void browse(struct lineedit *le, int step) {
  int k = le->browsing + step;
  if (k < 0 || k > le->hist_count) return;
  if (le->browsing == 0) strlcpy(le->draft, le->buf, sizeof le->draft);
  le->browsing = k;
  replace(le, k == 0 ? le->draft : history_at(le, k));
}

static void move_to(struct lineedit *le, size_t pos) {
  if (pos < le->pos) backs(le, le->pos - pos);
  else put(le, le->buf + le->pos, pos - le->pos);
  le->pos = pos;
}

/* The final byte of ESC [ x or ESC O x. */
static void escape(struct lineedit *le, int c) {
  switch (c) {
    case 'A': browse(le, 1); break;
    case 'B': browse(le, -1); break;
    case 'C':
      if (le->pos < le->len) move_to(le, le->pos + 1);
      break;
    case 'D':
      if (le->pos) move_to(le, le->pos - 1);
      break;
    case 'H': move_to(le, 0); break;
    case 'F': move_to(le, le->len); break;
    default: break; /* other keys (Delete, F-keys, …) are not editing keys here */
  }
}

enum le_status le_feed(struct lineedit *le, int c) {
  int after_cr = le->last_cr;
  le->last_cr = c == '\r';
  if (le->esc == 1) {
    le->esc = c == '[' || c == 'O' ? 2 : 0;
    return LE_MORE;
  }
  if (le->esc == 2) {
    if (c >= 0x40 && c <= 0x7e) { /* parameters (digits, ';') come before the final byte */
      le->esc = 0;
      escape(le, c);
    }
    return LE_MORE;
  }
  switch (c) {
    case '\n':
      if (after_cr) return LE_MORE;
      /* fall through */
    case '\r': put(le, "\r\n", 2); return LE_LINE;
    case 0x1b: le->esc = 1; return LE_MORE;
    case 0x03: /* Ctrl-C */
      move_to(le, le->len);
      put(le, "^C\r\n", 4);
      le_start(le);
      return LE_CANCEL;
    case 0x04: /* Ctrl-D */ return le->len ? LE_MORE : LE_EOF;
    case 0x15: /* Ctrl-U */
      wipe(le);
      le->len = le->pos = 0;
      le->buf[0] = 0;
      return LE_MORE;
    case 0x01: move_to(le, 0); return LE_MORE;       /* Ctrl-A */
    case 0x05: move_to(le, le->len); return LE_MORE; /* Ctrl-E */
    case 0x08:
    case 0x7f: erase_back(le); return LE_MORE;
    default:
      if (c >= 0x20 && c <= 0x7e) insert(le, (char)c);
      return LE_MORE; /* other controls and non-ASCII bytes are dropped */
  }
}

void le_remember(struct lineedit *le, const char *line) {
  if (!line[0] || (le->hist_count && strcmp(history_at(le, 1), line) == 0)) return;
  strlcpy(le->history[le->hist_next], line, LE_MAX);
  le->hist_next = (le->hist_next + 1) % LE_HISTORY;
  if (le->hist_count < LE_HISTORY) le->hist_count++;
}
