/* A line editor for `mallard shell` (see cli_lineedit.h). The screen shows the prompt and a
 * window of the line as wide as the terminal; each change redraws that one row ("\r", the text,
 * erase to the end of the row, the cursor moved back into place), and while more keys wait to be
 * read (a paste) drawing is put off until the last of them. */
#include "cli/cli_lineedit.h"

#include "common/mlr_json.h"
#include "common/mlr_utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* How long the bytes after an ESC may take to arrive, in ms: a terminal sends a key's sequence
 * at once; an ESC alone (the Esc key) is followed by nothing. */
#define LE_SEQ_WAIT_MS 50
/* The same for the rest of a UTF-8 character (over a slow link its bytes may come apart). */
#define LE_UTF8_WAIT_MS 1000

/* Keys beyond the 256 byte values. */
enum {
  K_NONE = 256, /* an escape sequence this editor does not know: ignored */
  K_UP,
  K_DOWN,
  K_LEFT,
  K_RIGHT,
  K_HOME,
  K_END,
  K_DELETE,
  K_WORD_LEFT,
  K_WORD_RIGHT,
  K_KILL_WORD_LEFT,  /* Alt-Backspace */
  K_KILL_WORD_RIGHT, /* Alt-D */
  K_EOF = -1,        /* the input ended */
  K_INTR = -2,       /* a signal interrupted the read */
  K_ERROR = -3,
};

#define KEY_CTRL(c) ((c)&0x1f)

struct cli_lineedit {
  int in_fd, out_fd;
  bool tty;              /* in_fd is a terminal: raw mode while reading */
  struct termios cooked; /* its settings outside reads */
  char *hist_path;       /* NULL: no history file */
  size_t hist_max;       /* entries kept */
  char **hist;           /* oldest first */
  size_t hist_n;
  /* The read under way. */
  const char *prompt;   /* shown before the line (the search prompt while searching) */
  char *buf;            /* the line (NUL-terminated) */
  size_t len, cap, pos; /* its length, capacity, and the cursor (a byte offset) */
  size_t scroll;        /* the line's first column shown */
  bool dirty;           /* the screen does not show the line as it is */
  size_t hist_idx;      /* 0: the new line; k > 0: hist[hist_n - k] */
  char **edits;         /* edits[k]: line k as edited in this read, NULL: as it was (hist_n + 1
                         * slots, made when the history is first walked), as readline keeps them */
  int pushed;           /* a byte read ahead (-1: none) */
  bool oom;
  atomic_bool redraw; /* cli_lineedit_request_redraw was called */
};

/* ------------------------------------------------------------------ UTF-8 */

/* The offset of the code point before pos (0 at the start). */
static size_t u8_prev(const char *s, size_t pos) {
  if (pos == 0) return 0;
  size_t p = pos - 1;
  while (p > 0 && pos - p < 4 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
  uint32_t cp;
  return p + mlr_utf8_decode(s + p, pos - p, &cp) == pos ? p : pos - 1;
}

/* The offset of the code point after pos. */
static size_t u8_next(const char *s, size_t len, size_t pos) {
  uint32_t cp;
  return pos >= len ? len : pos + mlr_utf8_decode(s + pos, len - pos, &cp);
}

/* ------------------------------------------------------------------ terminal */

static bool write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s += w;
    n -= (size_t)w;
  }
  return true;
}

static void out_str(cli_lineedit *le, const char *s) {
  (void)write_all(le->out_fd, s, strlen(s));
}

static size_t term_cols(const cli_lineedit *le) {
  struct winsize ws;
  if (ioctl(le->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

/* Raw mode: keys arrive one by one, unechoed, Ctrl-C/Z as bytes; output is processed as
 * usual ("\n" moves to the next row's start). */
static bool raw_on(cli_lineedit *le) {
  if (!le->tty) return true;
  struct termios raw = le->cooked;
  raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
  raw.c_cflag |= CS8;
  raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  return tcsetattr(le->in_fd, TCSADRAIN, &raw) == 0;
}

static void raw_off(cli_lineedit *le) {
  if (le->tty) tcsetattr(le->in_fd, TCSADRAIN, &le->cooked);
}

static void refresh(cli_lineedit *le);

/* One byte; K_EOF at the end of input, K_INTR when a signal interrupted the wait, K_NONE when
 * wait_ms (>= 0) passed with nothing to read. A redraw requested meanwhile (SIGCONT, SIGWINCH)
 * is done at once, and the wait goes on: a key's sequence read in parts is not cut. */
static int read_byte(cli_lineedit *le, int wait_ms) {
  if (le->pushed >= 0) {
    int c = le->pushed;
    le->pushed = -1;
    return c;
  }
  for (;;) {
    int r = 1;
    if (wait_ms >= 0) {
      struct pollfd p = {.fd = le->in_fd, .events = POLLIN};
      r = poll(&p, 1, wait_ms);
      if (r == 0) return K_NONE;
    }
    unsigned char c;
    ssize_t n = r > 0 ? read(le->in_fd, &c, 1) : -1;
    if (n == 1) return c;
    if (n == 0) return K_EOF;
    if (errno != EINTR) return K_ERROR;
    if (!atomic_exchange(&le->redraw, false)) return K_INTR;
    /* Continued after a stop (the terminal's mode may have changed meanwhile), or resized. */
    raw_on(le);
    refresh(le);
  }
}

static bool input_waiting(const cli_lineedit *le) {
  if (le->pushed >= 0) return true;
  struct pollfd p = {.fd = le->in_fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1;
}

/* The key an escape sequence's final byte names; modified: with Ctrl or Alt; number: the
 * sequence's first parameter (for "ESC [ n ~"). */
static int final_key(int final, bool modified, int number) {
  switch (final) {
  case 'A':
    return K_UP;
  case 'B':
    return K_DOWN;
  case 'C':
    return modified ? K_WORD_RIGHT : K_RIGHT;
  case 'D':
    return modified ? K_WORD_LEFT : K_LEFT;
  case 'H':
    return K_HOME;
  case 'F':
    return K_END;
  case '~':
    switch (number) {
    case 1:
    case 7:
      return K_HOME;
    case 4:
    case 8:
      return K_END;
    case 3:
      return K_DELETE;
    default:
      return K_NONE;
    }
  default:
    return K_NONE;
  }
}

/* The key after an ESC: a CSI ("ESC [ params final") or SS3 ("ESC O x") sequence, or Alt and a
 * key. */
static int read_escape(cli_lineedit *le) {
  int c = read_byte(le, LE_SEQ_WAIT_MS);
  if (c < 0 || c == K_NONE) return c == K_NONE ? K_NONE : c;
  if (c == 'b' || c == 'B') return K_WORD_LEFT;
  if (c == 'f' || c == 'F') return K_WORD_RIGHT;
  if (c == 'd' || c == 'D') return K_KILL_WORD_RIGHT;
  if (c == 127 || c == KEY_CTRL('h')) return K_KILL_WORD_LEFT;
  if (c == 'O') { /* SS3: one final byte (rxvt: 'c'/'d' for Ctrl-Right/Left) */
    c = read_byte(le, LE_SEQ_WAIT_MS);
    if (c == 'c' || c == 'd') return c == 'c' ? K_WORD_RIGHT : K_WORD_LEFT;
    return c < 0 ? c : c == K_NONE ? K_NONE : final_key(c, false, 0);
  }
  if (c != '[') {
    le->pushed = c; /* Esc, then a key: the Esc alone is dropped, the key is read as usual */
    return K_NONE;
  }
  char params[16];
  size_t np = 0;
  for (;;) {
    c = read_byte(le, LE_SEQ_WAIT_MS);
    if (c < 0) return c;
    if (c == K_NONE) return K_NONE;
    if (c >= 0x40 && c <= 0x7E) break; /* the final byte */
    if (np + 1 < sizeof params) params[np++] = (char)c;
  }
  params[np] = '\0';
  if (c == 'M' && np == 0) { /* an X10 mouse report: three bytes follow */
    for (int i = 0; i < 3; i++)
      if (read_byte(le, LE_SEQ_WAIT_MS) < 0) break;
    return K_NONE;
  }
  /* "1;5C" (Ctrl), "1;3C" (Alt): by word; "1;2C" (Shift) as the plain key. */
  bool modified = strchr(params, ';') != NULL && strcmp(params, "1;2") != 0;
  return final_key(c, modified, atoi(params));
}

/* ------------------------------------------------------------------ the line */

static bool reserve(cli_lineedit *le, size_t extra) {
  if (le->len + extra + 1 <= le->cap) return true;
  size_t cap = le->cap ? le->cap : 128;
  while (cap < le->len + extra + 1) cap *= 2;
  char *b = realloc(le->buf, cap);
  if (b == NULL) {
    le->oom = true;
    return false;
  }
  le->buf = b;
  le->cap = cap;
  return true;
}

static void set_line(cli_lineedit *le, const char *s) {
  size_t n = strlen(s);
  le->len = 0;
  if (!reserve(le, n)) return;
  memcpy(le->buf, s, n + 1);
  le->len = le->pos = n;
  le->scroll = 0;
  le->dirty = true;
}

static void delete_range(cli_lineedit *le, size_t from, size_t to) {
  if (to <= from) return;
  memmove(le->buf + from, le->buf + to, le->len - to + 1);
  le->len -= to - from;
  if (le->pos > to)
    le->pos -= to - from;
  else if (le->pos > from)
    le->pos = from;
  le->dirty = true;
}

static bool is_word_byte(unsigned char c) {
  return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') ||
         ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static size_t word_left(const cli_lineedit *le) {
  size_t p = le->pos;
  while (p > 0 && !is_word_byte((unsigned char)le->buf[p - 1])) p--;
  while (p > 0 && is_word_byte((unsigned char)le->buf[p - 1])) p--;
  return p;
}

static size_t word_right(const cli_lineedit *le) {
  size_t p = le->pos;
  while (p < le->len && !is_word_byte((unsigned char)le->buf[p])) p++;
  while (p < le->len && is_word_byte((unsigned char)le->buf[p])) p++;
  return p;
}

/* The row's layout: the columns of the prompt drawn (a prompt too wide for the terminal is
 * drawn by its end) and of the line's window, which leaves the last column free (a character
 * there would make some terminals wrap). */
static void layout(const cli_lineedit *le, size_t *prompt_cols, size_t *prompt_skip,
                   size_t *avail) {
  size_t cols = term_cols(le);
  size_t plen = strlen(le->prompt);
  size_t pw = mlr_utf8_width(le->prompt, plen); /* columns, not bytes (a search's text) */
  size_t text_min = cols >= 20 ? 10 : cols / 2; /* columns kept for the line at least */
  size_t max_pw = cols > text_min + 1 ? cols - text_min - 1 : 0;
  /* Too wide: whole characters are left out from the start until the rest fits. */
  size_t skip = 0;
  while (pw > max_pw && skip < plen) {
    uint32_t cp;
    size_t k = mlr_utf8_decode(le->prompt + skip, plen - skip, &cp);
    size_t w = mlr_codepoint_width(cp);
    pw -= w < pw ? w : pw;
    skip += k;
  }
  *prompt_cols = pw;
  *prompt_skip = skip;
  *avail = cols > pw + 1 ? cols - pw - 1 : 1;
}

/* Draws the prompt and the window of the line that holds the cursor. */
static void refresh(cli_lineedit *le) {
  size_t pw, skip, avail;
  layout(le, &pw, &skip, &avail);
  size_t cx = mlr_utf8_width(le->buf, le->pos);
  size_t total = mlr_utf8_width(le->buf, le->len);
  /* As much of the line as fits (a shorter line after a deletion or a recall scrolls back),
   * with the cursor inside the window. */
  if (total <= avail)
    le->scroll = 0;
  else if (le->scroll > total - avail)
    le->scroll = total - avail;
  if (cx < le->scroll) le->scroll = cx;
  if (cx > le->scroll + avail) le->scroll = cx - avail;
  mlr_strbuf b = {0};
  mlr_strbuf_append_str(&b, "\r");
  mlr_strbuf_append_str(&b, le->prompt + skip);
  size_t col = 0;
  for (size_t i = 0; i < le->len;) {
    uint32_t cp;
    size_t k = mlr_utf8_decode(le->buf + i, le->len - i, &cp);
    size_t w = mlr_codepoint_width(cp);
    if (col >= le->scroll && col + w <= le->scroll + avail) {
      if (mlr_codepoint_is_control(cp) || cp == 0xFFFD)
        mlr_strbuf_append_str(&b, cp == '\t' ? " " : "?");
      else
        mlr_strbuf_append(&b, le->buf + i, k);
    } else if (col < le->scroll && col + w > le->scroll) {
      mlr_strbuf_append_str(&b, " "); /* a wide character cut by the window's left edge */
    }
    col += w;
    i += k;
    if (col > le->scroll + avail) break;
  }
  mlr_strbuf_append_str(&b, "\x1b[0K\r");
  if (pw + cx - le->scroll > 0) mlr_strbuf_appendf(&b, "\x1b[%zuC", pw + cx - le->scroll);
  if (!b.oom) (void)write_all(le->out_fd, b.data, b.len);
  mlr_strbuf_release(&b);
  le->dirty = false;
}

/* Inserts the bytes of one character at the cursor; at the line's end with room on the row it is
 * written as is instead of redrawing the row. */
static void insert(cli_lineedit *le, const char *s, size_t n) {
  if (!reserve(le, n)) return;
  bool at_end = le->pos == le->len;
  memmove(le->buf + le->pos + n, le->buf + le->pos, le->len - le->pos + 1);
  memcpy(le->buf + le->pos, s, n);
  le->len += n;
  le->pos += n;
  uint32_t cp;
  mlr_utf8_decode(s, n, &cp);
  size_t pw, skip, avail;
  layout(le, &pw, &skip, &avail);
  if (!le->dirty && at_end && !mlr_codepoint_is_control(cp) && le->scroll == 0 && skip == 0 &&
      mlr_utf8_width(le->buf, le->len) <= avail)
    (void)write_all(le->out_fd, s, n);
  else
    le->dirty = true;
}

/* Keeps text as line k's edit in this read (k = 0: the new line); an entry given back unchanged
 * needs none. False when out of memory. */
static bool keep_edit(cli_lineedit *le, size_t k, const char *text) {
  if (le->edits == NULL && (le->edits = calloc(le->hist_n + 1, sizeof *le->edits)) == NULL)
    return false;
  char *copy = NULL;
  if ((k == 0 || strcmp(text, le->hist[le->hist_n - k]) != 0) && (copy = strdup(text)) == NULL)
    return false;
  free(le->edits[k]);
  le->edits[k] = copy;
  return true;
}

static void drop_edits(cli_lineedit *le) {
  if (le->edits == NULL) return;
  for (size_t k = 0; k <= le->hist_n; k++) free(le->edits[k]);
  free(le->edits);
  le->edits = NULL;
}

/* Line idx (0: the new line) as last edited in this read, else as it was. */
static const char *entry_text(const cli_lineedit *le, size_t idx) {
  const char *edited = le->edits != NULL ? le->edits[idx] : NULL;
  return edited != NULL ? edited : idx == 0 ? "" : le->hist[le->hist_n - idx];
}

/* Replaces the line with history entry idx (0: the new line), as last edited in this read. */
static void history_go(cli_lineedit *le, size_t idx) {
  if (idx > le->hist_n || idx == le->hist_idx) return;
  if (!keep_edit(le, le->hist_idx, le->buf)) {
    le->oom = true;
    return;
  }
  le->hist_idx = idx;
  set_line(le, entry_text(le, idx));
}

/* Reads the rest of the UTF-8 character whose first byte is c into seq (4 bytes); true when it is
 * a valid character a terminal shows (not a control). A byte that does not continue it is read
 * next. */
static bool read_char(cli_lineedit *le, int c, char *seq, size_t *n) {
  seq[0] = (char)c;
  *n = mlr_utf8_seq_len((unsigned char)c);
  size_t got = 1;
  while (got < *n) {
    int d = read_byte(le, LE_UTF8_WAIT_MS);
    if (d < 0 || d == K_NONE || (d & 0xC0) != 0x80) {
      if (d >= 0 && d < 256) le->pushed = d; /* not part of it: read it next */
      return false;
    }
    seq[got++] = (char)d;
  }
  uint32_t cp;
  return mlr_utf8_decode(seq, *n, &cp) == *n && !mlr_codepoint_is_control(cp) &&
         (*n > 1 || c == '\t' || (c >= 0x20 && c < 0x7F));
}

/* Ctrl-R: searches the history backwards for the text typed, showing the newest entry that holds
 * it. Enter takes the entry as the line and enters it; Ctrl-R again looks further back; Ctrl-G
 * gives the line back as it was; any other key (Ctrl-C too) leaves the search with the entry as
 * the line and is then read as usual. Returns that key (or '\r' for Enter). */
static int search(cli_lineedit *le) {
  char query[256] = "";
  size_t qn = 0;
  char *saved = strdup(le->buf);
  char prompt[300];
  size_t found = SIZE_MAX; /* the entry shown */
  bool failed = false;
  int key;
  const char *outer_prompt = le->prompt;
  /* The entries are searched as edited in this read (as readline searches its history list),
   * the line shown now among them. */
  if (saved == NULL || !keep_edit(le, le->hist_idx, saved)) {
    free(saved);
    le->oom = true;
    return K_NONE;
  }
  for (;;) {
    snprintf(prompt, sizeof prompt, "(%sreverse-i-search)`%s': ", failed ? "failed " : "", query);
    le->prompt = prompt;
    le->dirty = true;
    if (!input_waiting(le)) refresh(le);
    key = read_byte(le, -1);
    if (key == 27) key = read_escape(le);
    size_t from; /* entries below this index are searched, newest first */
    if (key == KEY_CTRL('r')) {
      from = found == SIZE_MAX ? le->hist_n : found;
    } else if (key == 127 || key == KEY_CTRL('h')) {
      qn = u8_prev(query, qn);
      query[qn] = '\0';
      from = le->hist_n;
    } else if (key >= 0x20 && key < 256 && key != 0x7F) {
      char seq[4];
      size_t n = 0;
      if (!read_char(le, key, seq, &n) || qn + n >= sizeof query) continue;
      memcpy(query + qn, seq, n);
      query[qn += n] = '\0';
      from = found == SIZE_MAX ? le->hist_n : found + 1; /* the entry shown may still match */
    } else {
      break;
    }
    if (qn == 0) { /* nothing to look for: the next text starts from the newest entry */
      found = SIZE_MAX;
      failed = false;
      continue;
    }
    failed = true;
    for (size_t i = from; i-- > 0;) {
      const char *text = entry_text(le, le->hist_n - i);
      const char *hit = strstr(text, query);
      if (hit != NULL) {
        found = i;
        failed = false;
        set_line(le, text);
        le->pos = (size_t)(hit - text);
        break;
      }
    }
  }
  le->prompt = outer_prompt;
  le->dirty = true;
  if (key == KEY_CTRL('g')) {
    set_line(le, saved);
    key = K_NONE;
  } else {
    if (key == '\n') key = '\r';
    if (found != SIZE_MAX && le->buf != NULL &&
        strcmp(le->buf, entry_text(le, le->hist_n - found)) == 0) {
      /* Up and Down go on from the entry found (the line shown before is kept as edited) */
      le->hist_idx = le->hist_n - found;
    }
  }
  free(saved);
  return key;
}

cli_le_result cli_lineedit_read(cli_lineedit *le, const char *prompt, char **line) {
  *line = NULL;
  le->prompt = prompt;
  le->len = le->pos = le->scroll = 0;
  le->hist_idx = 0;
  le->dirty = false;
  le->oom = false;
  if (!reserve(le, 0)) return CLI_LE_ERROR;
  le->buf[0] = '\0';
  if (!raw_on(le)) return CLI_LE_ERROR;
  size_t pw, skip, avail;
  layout(le, &pw, &skip, &avail);
  if (skip == 0)
    out_str(le, prompt);
  else
    refresh(le); /* a prompt wider than the terminal */
  cli_le_result res = CLI_LE_ERROR;
  for (;;) {
    if (le->oom) {
      errno = ENOMEM;
      res = CLI_LE_ERROR;
      break;
    }
    if (le->dirty && !input_waiting(le)) refresh(le);
    int c = read_byte(le, -1);
    if (c == 27) c = read_escape(le);
    if (c == KEY_CTRL('r')) c = search(le);
    if (c == K_EOF || c == K_INTR || c == K_ERROR) {
      if (c == K_EOF && le->len > 0) {
        res = CLI_LE_LINE; /* the input ended within a line: it is taken as entered */
        break;
      }
      res = c == K_EOF ? CLI_LE_EOF : c == K_INTR ? CLI_LE_INTERRUPT : CLI_LE_ERROR;
      break;
    }
    if (c == '\r' || c == '\n') {
      res = CLI_LE_LINE;
      break;
    }
    if (c == KEY_CTRL('c')) {
      bool moved = le->pos != le->len;
      le->pos = le->len;
      if (le->dirty || le->scroll > 0 || moved) refresh(le);
      /* "^C" after the line, where it fits on the row */
      layout(le, &pw, &skip, &avail);
      if (mlr_utf8_width(le->buf, le->len) - le->scroll + 2 <= avail) out_str(le, "^C");
      res = CLI_LE_INTERRUPT;
      break;
    }
    if (c == KEY_CTRL('d') && le->len == 0) {
      res = CLI_LE_EOF;
      break;
    }
    switch (c) {
    case KEY_CTRL('d'):
    case K_DELETE:
      delete_range(le, le->pos, u8_next(le->buf, le->len, le->pos));
      break;
    case 127:
    case KEY_CTRL('h'):
      delete_range(le, u8_prev(le->buf, le->pos), le->pos);
      break;
    case KEY_CTRL('a'):
    case K_HOME:
      le->pos = 0, le->dirty = true;
      break;
    case KEY_CTRL('e'):
    case K_END:
      le->pos = le->len, le->dirty = true;
      break;
    case KEY_CTRL('b'):
    case K_LEFT:
      le->pos = u8_prev(le->buf, le->pos), le->dirty = true;
      break;
    case KEY_CTRL('f'):
    case K_RIGHT:
      le->pos = u8_next(le->buf, le->len, le->pos), le->dirty = true;
      break;
    case K_WORD_LEFT:
      le->pos = word_left(le), le->dirty = true;
      break;
    case K_WORD_RIGHT:
      le->pos = word_right(le), le->dirty = true;
      break;
    case K_KILL_WORD_LEFT:
      delete_range(le, word_left(le), le->pos);
      break;
    case K_KILL_WORD_RIGHT:
      delete_range(le, le->pos, word_right(le));
      break;
    case KEY_CTRL('w'): { /* back to the previous blank, as a shell's Ctrl-W */
      size_t p = le->pos;
      while (p > 0 && (le->buf[p - 1] == ' ' || le->buf[p - 1] == '\t')) p--;
      while (p > 0 && le->buf[p - 1] != ' ' && le->buf[p - 1] != '\t') p--;
      delete_range(le, p, le->pos);
      break;
    }
    case KEY_CTRL('u'):
      delete_range(le, 0, le->pos);
      break;
    case KEY_CTRL('k'):
      delete_range(le, le->pos, le->len);
      break;
    case KEY_CTRL('p'):
    case K_UP:
      history_go(le, le->hist_idx + 1);
      break;
    case KEY_CTRL('n'):
    case K_DOWN:
      if (le->hist_idx > 0) history_go(le, le->hist_idx - 1);
      break;
    case KEY_CTRL('l'):
      out_str(le, "\x1b[H\x1b[2J");
      le->dirty = true;
      break;
    case KEY_CTRL('z'):
      if (le->tty) {
        raw_off(le);
        out_str(le, "\n");
        kill(0, SIGTSTP); /* the whole process group, as the terminal's own Ctrl-Z (a
                           * wrapper script stops too); back here once continued */
        raw_on(le);
        le->dirty = true;
      }
      break;
    default:
      if (c == '\t' || (c >= 0x20 && c < 0x7F)) {
        char ch = (char)c;
        insert(le, &ch, 1);
      } else if (c >= 0xC2 && c <= 0xF4) {
        char seq[4];
        size_t n = 0;
        if (read_char(le, c, seq, &n)) insert(le, seq, n);
      }
      break; /* other controls and unknown keys: ignored */
    }
  }
  if (res == CLI_LE_LINE) {
    if (le->dirty) refresh(le);
    out_str(le, "\n");
    *line = strdup(le->buf);
    if (*line == NULL) res = CLI_LE_ERROR;
  }
  raw_off(le);
  drop_edits(le);
  return res;
}

/* ------------------------------------------------------------------ history */

/* Opens the history file, which must be a regular file: a FIFO or a terminal named by mistake
 * would block the shell. -1 (errno set) otherwise. */
static int open_history(const cli_lineedit *le, int flags) {
  int fd = open(le->hist_path, flags | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  return fd;
}

/* Shells sharing a history file lock it while they write it (flock: every append, and the rewrite
 * that trims it at start, which would otherwise drop a line appended between its read and its
 * rewrite). Another shell holds the lock only while it writes: wait at most about a second for
 * it, then go on without. */
static bool lock_history(int fd) {
  for (int i = 0; i < 100; i++) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno != EWOULDBLOCK && errno != EINTR) return false;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return false;
}

static bool history_push(cli_lineedit *le, char *owned) {
  if (le->hist_max == 0) {
    free(owned);
    return true;
  }
  if (le->hist_n == le->hist_max) {
    free(le->hist[0]);
    memmove(le->hist, le->hist + 1, (le->hist_n - 1) * sizeof *le->hist);
    le->hist_n--;
  }
  le->hist[le->hist_n++] = owned;
  return true;
}

bool cli_lineedit_history_add(cli_lineedit *le, const char *line) {
  const char *p = line;
  while (*p == ' ' || *p == '\t') p++;
  if (*p == '\0') return true;
  if (le->hist_n > 0 && strcmp(le->hist[le->hist_n - 1], line) == 0) return true;
  char *copy = strdup(line);
  if (copy == NULL) return false;
  history_push(le, copy);
  if (le->hist_path == NULL) return true;
  int fd = open_history(le, O_WRONLY | O_APPEND | O_CREAT);
  if (fd < 0) return false;
  (void)lock_history(fd); /* released by close */
  /* One write per entry: appends of shells sharing the file do not interleave. */
  mlr_strbuf b = {0};
  mlr_strbuf_appendf(&b, "%s\n", line);
  bool ok = !b.oom && write_all(fd, b.data, b.len);
  mlr_strbuf_release(&b);
  return close(fd) == 0 && ok;
}

/* Loads the newest entries of the history file; rewrites it when it holds more than are kept,
 * so that it does not grow without end (under the file's lock, so that no shell's append is lost
 * between the read and the rewrite; a file this user may only read is loaded, not trimmed). */
static void history_load(cli_lineedit *le) {
  int fd = open_history(le, O_RDWR);
  bool writable = fd >= 0;
  if (fd < 0 && errno != ENOENT) fd = open_history(le, O_RDONLY);
  if (fd < 0) return;
  bool locked = writable && lock_history(fd);
  int rfd = dup(fd);
  FILE *f = rfd >= 0 ? fdopen(rfd, "r") : NULL;
  if (f == NULL) {
    if (rfd >= 0) close(rfd);
    close(fd);
    return;
  }
  char *ln = NULL;
  size_t cap = 0, total = 0;
  ssize_t n;
  while ((n = getline(&ln, &cap, f)) >= 0) {
    while (n > 0 && (ln[n - 1] == '\n' || ln[n - 1] == '\r')) ln[--n] = '\0';
    if (n == 0) continue;
    char *copy = strdup(ln);
    if (copy == NULL) break;
    history_push(le, copy);
    total++;
  }
  free(ln);
  fclose(f);
  if (total > le->hist_n && locked && ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0) {
    for (size_t i = 0; i < le->hist_n; i++)
      if (!write_all(fd, le->hist[i], strlen(le->hist[i])) || !write_all(fd, "\n", 1)) break;
  }
  close(fd); /* the lock with it */
}

void cli_lineedit_request_redraw(cli_lineedit *le) {
  atomic_store(&le->redraw, true);
}

bool cli_lineedit_redraw_pending(cli_lineedit *le) {
  return atomic_load(&le->redraw);
}

size_t cli_lineedit_history_len(const cli_lineedit *le) {
  return le->hist_n;
}

const char *cli_lineedit_history_get(const cli_lineedit *le, size_t i) {
  return i < le->hist_n ? le->hist[i] : NULL;
}

char *cli_lineedit_default_history_path(void) {
  const char *env = getenv("MALLARD_HISTORY");
  if (env != NULL) return *env ? strdup(env) : NULL;
  const char *home = getenv("HOME");
  if (home == NULL || *home == '\0') return NULL;
  mlr_strbuf b = {0};
  mlr_strbuf_appendf(&b, "%s/.mallard_history", home);
  return mlr_strbuf_take(&b, NULL);
}

/* ------------------------------------------------------------------ life cycle */

cli_lineedit *cli_lineedit_new(int in_fd, int out_fd, const char *history_path,
                               size_t max_entries) {
  cli_lineedit *le = calloc(1, sizeof *le);
  if (le == NULL) return NULL;
  le->in_fd = in_fd;
  le->out_fd = out_fd;
  le->pushed = -1;
  le->hist_max = max_entries;
  le->tty = isatty(in_fd) && tcgetattr(in_fd, &le->cooked) == 0;
  if (max_entries > 0 && (le->hist = calloc(max_entries, sizeof *le->hist)) == NULL) goto fail;
  if (history_path != NULL) {
    if ((le->hist_path = strdup(history_path)) == NULL) goto fail;
    history_load(le);
  }
  return le;
fail:
  cli_lineedit_free(le);
  return NULL;
}

void cli_lineedit_free(cli_lineedit *le) {
  if (le == NULL) return;
  for (size_t i = 0; i < le->hist_n; i++) free(le->hist[i]);
  free(le->hist);
  free(le->hist_path);
  free(le->buf);
  drop_edits(le);
  free(le);
}
