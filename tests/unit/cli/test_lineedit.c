/* cli_lineedit: the shell's line editor, fed keys through a pipe (no terminal: no raw mode, the
 * keys are read as they come) and drawing into another pipe. */
#include "cli/cli_lineedit.h"
#include "mtest.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UP "\x1b[A"
#define DOWN "\x1b[B"
#define RIGHT "\x1b[C"
#define LEFT "\x1b[D"
#define HOME "\x1b[H"
#define END "\x1b[F"
#define DEL "\x1b[3~"
#define CTRL_LEFT "\x1b[1;5D"
#define CTRL_RIGHT "\x1b[1;5C"

typedef struct rig {
  int keys[2]; /* the editor reads keys[0]; the test writes keys[1] */
  int draw[2]; /* the editor draws on draw[1]; the test may read draw[0] */
  cli_lineedit *le;
} rig;

static void rig_open(rig *r, const char *history) {
  CHECK(pipe(r->keys) == 0);
  CHECK(pipe(r->draw) == 0);
  fcntl(r->draw[0], F_SETFL, O_NONBLOCK);
  fcntl(r->draw[1], F_SETFL, O_NONBLOCK); /* never block on a full pipe nobody reads */
  r->le = cli_lineedit_new(r->keys[0], r->draw[1], history, 5);
  CHECK(r->le != NULL);
}

static void rig_close(rig *r) {
  cli_lineedit_free(r->le);
  close(r->keys[0]);
  if (r->keys[1] >= 0) close(r->keys[1]);
  close(r->draw[0]);
  close(r->draw[1]);
}

/* Sends keys, reads one line; returns the result and the line in *line (caller frees). */
static cli_le_result type(rig *r, const char *keys, char **line) {
  size_t n = strlen(keys);
  CHECK(write(r->keys[1], keys, n) == (ssize_t)n);
  return cli_lineedit_read(r->le, "> ", line);
}

typedef struct later {
  int fd;
  const char *keys;
} later;

static void *write_later(void *arg) {
  later *l = arg;
  struct timespec pause = {0, 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  size_t n = strlen(l->keys);
  CHECK(write(l->fd, l->keys, n) == (ssize_t)n);
  return NULL;
}

/* Sends keys, then (0.2 s later, while the editor waits and has drawn what it has) more keys;
 * reads one line. */
static cli_le_result type_later(rig *r, const char *keys, const char *more, char **line) {
  later l = {r->keys[1], more};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, write_later, &l) == 0);
  cli_le_result res = type(r, keys, line);
  pthread_join(t, NULL);
  return res;
}

/* Types keys and checks that the line entered is want. */
static void check_line(rig *r, const char *keys, const char *want) {
  char *line = NULL;
  cli_le_result res = type(r, keys, &line);
  CHECK(res == CLI_LE_LINE);
  CHECK_EQ_STR(line ? line : "(none)", want);
  free(line);
}

static void test_editing(void) {
  rig r;
  rig_open(&r, NULL);
  check_line(&r, "SELECT 1;\r", "SELECT 1;");
  check_line(&r, "SELECT 1\n", "SELECT 1");                                /* LF enters too */
  check_line(&r, "SELEC 1" LEFT LEFT "T\r", "SELECT 1");                   /* insert mid-line */
  check_line(&r, "abc" HOME "x" END "y\r", "xabcy");                       /* Home, End */
  check_line(&r, "abc\x01x\x05y\r", "xabcy");                              /* Ctrl-A, Ctrl-E */
  check_line(&r, "abc\x02\x02z\x06\x06w\r", "azbcw");                      /* Ctrl-B, Ctrl-F */
  check_line(&r, "abcd\x7f\x08\r", "ab");                                  /* Backspace, Ctrl-H */
  check_line(&r, "abcd" HOME DEL "\x04\r", "cd");                          /* Delete, Ctrl-D */
  check_line(&r, "select a from t\x17\x17x\r", "select a x");              /* Ctrl-W by blanks */
  check_line(&r, "one two" LEFT LEFT "\x15\r", "wo");                      /* Ctrl-U */
  check_line(&r, "one two" HOME RIGHT "\x0b\r", "o");                      /* Ctrl-K */
  check_line(&r, "foo.bar baz" CTRL_LEFT CTRL_LEFT "X\r", "foo.Xbar baz"); /* by word */
  check_line(&r, "foo bar" HOME CTRL_RIGHT "X\r", "fooX bar");
  check_line(&r,
             "foo bar" HOME "\x1b"
             "f"
             "\x1b"
             "d\r",
             "foo"); /* Alt-F, Alt-D */
  check_line(&r,
             "foo.bar"
             "\x1b\x7f\r",
             "foo.");                                              /* Alt-Backspace */
  check_line(&r, "a" LEFT LEFT HOME HOME "\x7f" DEL DEL "\r", ""); /* edges do nothing */
  check_line(&r, "a\x1b[99~b\x1b[5;7Xc\x07\r", "abc");             /* unknown keys ignored */
  /* UTF-8: Backspace and the arrows move over whole characters. */
  check_line(&r,
             "h\xc3\xa9\xe6\xbc\xa2\xf0\x9f\xa6\x86"
             "\x7f" LEFT "x\r",
             "h\xc3\xa9x\xe6\xbc\xa2");
  check_line(&r,
             "\xe6\xbc\xa2"
             "a" LEFT LEFT DEL "\r",
             "a");
  rig_close(&r);
}

static void test_odd_input(void) {
  rig r;
  rig_open(&r, NULL);
  check_line(&r,
             "a\x1b"
             "xb\r",
             "axb");                              /* Esc, then a key: the key is kept */
  check_line(&r, "ab\x1b\r", "ab");               /* ... Enter too (Alt-Enter) */
  check_line(&r, "a\x1b[M !!b\r", "ab");          /* an X10 mouse report is dropped whole */
  check_line(&r, "foo bar\x1bOdX\r", "foo Xbar"); /* rxvt's Ctrl-Left */
  /* Not shown, not inserted: C1 controls (U+009B is a terminal's CSI), invalid UTF-8 (a
   * surrogate, an overlong ';', past U+10FFFF). */
  check_line(&r,
             "a\xc2\x9b"
             "31mb\r",
             "a31mb");
  check_line(&r,
             "a\xed\xa0\x80\xe0\x80\xbb\xf4\x90\x80\x80"
             "b\r",
             "ab");
  rig_close(&r);
}

/* Everything drawn since the last call (the draw pipe is non-blocking). */
static void drawn(rig *r, char *out, size_t cap) {
  size_t n = 0;
  for (;;) {
    ssize_t k = read(r->draw[0], out + n, cap - 1 - n);
    if (k <= 0) break;
    n += (size_t)k;
  }
  out[n] = '\0';
}

/* The text of the last full redraw ("\r> " + window), up to its erase-to-end. */
static void last_row(const char *screen, char *row, size_t cap) {
  const char *p = NULL;
  for (const char *q = screen; (q = strstr(q, "\r> ")) != NULL; q++) p = q;
  row[0] = '\0';
  if (p == NULL) return;
  p += 3;
  const char *e = strstr(p, "\x1b[0K");
  size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
  if (n >= cap) n = cap - 1;
  memcpy(row, p, n);
  row[n] = '\0';
}

static void test_drawing(void) {
  /* No terminal here: 80 columns, "> " as the prompt, 77 columns for the line. */
  rig r;
  rig_open(&r, NULL);
  static char screen[1 << 16];
  char row[256], keys[512];
  memset(keys, 'x', 150);
  strcpy(keys + 150, "\r");
  CHECK(cli_lineedit_history_add(r.le, "SELECT 1;"));
  CHECK(cli_lineedit_history_add(r.le, keys)); /* 150 x's and a CR, kept as typed */
  drawn(&r, screen, sizeof screen);
  /* A long line recalled, then a short one: the short one is shown (the window scrolled back;
   * the row was drawn empty and Enter ran what nobody saw). */
  check_line(&r, UP UP "\r", "SELECT 1;");
  drawn(&r, screen, sizeof screen);
  last_row(screen, row, sizeof row);
  CHECK_EQ_STR(row, "SELECT 1;");
  /* Deleting most of a long line: what is left shows. */
  memset(keys, 'y', 100);
  memset(keys + 100, 0x7f, 60);
  strcpy(keys + 160, "\r");
  char *line = NULL;
  CHECK(type(&r, keys, &line) == CLI_LE_LINE);
  CHECK(line != NULL && strlen(line) == 40);
  free(line);
  drawn(&r, screen, sizeof screen);
  last_row(screen, row, sizeof row);
  CHECK(strlen(row) == 40 && strspn(row, "y") == 40);
  /* A long line's window: the last 77 columns with the cursor at its end. */
  memset(keys, 'z', 120);
  strcpy(keys + 120, "\r");
  CHECK(type(&r, keys, &line) == CLI_LE_LINE);
  CHECK(line != NULL && strlen(line) == 120);
  free(line);
  drawn(&r, screen, sizeof screen);
  last_row(screen, row, sizeof row);
  CHECK(strlen(row) == 77 && strspn(row, "z") == 77);
  /* Ctrl-C with the cursor inside the line: the line is drawn whole, then "^C" after it (it was
   * written over the text). */
  CHECK(type_later(&r, "SELECT 12345" LEFT LEFT LEFT, "\x03", &line) == CLI_LE_INTERRUPT);
  drawn(&r, screen, sizeof screen);
  CHECK(strstr(screen, "\r> SELECT 12345\x1b[0K\r\x1b[14C^C") != NULL);
  /* The search prompt is measured in columns: the cursor sits on the match (2 columns + 9 of
   * "SELECT 'c" after the 23 of "(reverse-i-search)`é': "). */
  CHECK(cli_lineedit_history_add(r.le, "SELECT 'caf\xc3\xa9';"));
  CHECK(type_later(&r, "\x12\xc3\xa9", "\x07\r", &line) == CLI_LE_LINE); /* drawn between */
  CHECK_EQ_STR(line, "");
  free(line);
  drawn(&r, screen, sizeof screen);
  CHECK(strstr(screen, "`\xc3\xa9': SELECT 'caf\xc3\xa9';\x1b[0K\r\x1b[34C") != NULL);
  rig_close(&r);
}

static void test_results(void) {
  rig r;
  rig_open(&r, NULL);
  char *line = NULL;
  CHECK(type(&r, "half typed\x03", &line) == CLI_LE_INTERRUPT); /* Ctrl-C */
  CHECK(line == NULL);
  CHECK(type(&r, "\x04", &line) == CLI_LE_EOF);      /* Ctrl-D on an empty line */
  CHECK(type(&r, "ab\x04\r", &line) == CLI_LE_LINE); /* not on a line with text */
  CHECK_EQ_STR(line, "ab");
  free(line);
  line = NULL;
  /* The input ends: a line with text is taken as entered, then the end. */
  CHECK(write(r.keys[1], "last", 4) == 4);
  close(r.keys[1]);
  r.keys[1] = -1;
  CHECK(cli_lineedit_read(r.le, "> ", &line) == CLI_LE_LINE);
  CHECK_EQ_STR(line, "last");
  free(line);
  CHECK(cli_lineedit_read(r.le, "> ", &line) == CLI_LE_EOF);
  rig_close(&r);
}

static void test_history(void) {
  char path[] = "/tmp/mallard-history-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  unlink(path);
  rig r;
  rig_open(&r, path);
  CHECK(cli_lineedit_history_add(r.le, "SELECT 1;"));
  CHECK(cli_lineedit_history_add(r.le, "SELECT 2;"));
  CHECK(cli_lineedit_history_add(r.le, "SELECT 2;")); /* a repeat is not kept twice */
  CHECK(cli_lineedit_history_add(r.le, "   "));       /* nor a blank line */
  CHECK(cli_lineedit_history_len(r.le) == 2);
  check_line(&r, UP "\r", "SELECT 2;");
  check_line(&r, UP UP "\r", "SELECT 1;");
  check_line(&r, UP UP UP UP "\r", "SELECT 1;"); /* the oldest stays */
  check_line(&r, "new" UP DOWN "\r", "new");     /* Down back to the line typed */
  /* Edits to an entry are kept while the read lasts (as readline does), not after it. */
  check_line(&r,
             "new" UP "\x7f"
             "3" DOWN UP "\r",
             "SELECT 23");
  check_line(&r, UP "\r", "SELECT 2;"); /* the entry itself is unchanged */
  check_line(&r,
             "new" UP "\x7f"
             "3" UP "x" DOWN DOWN "!\r",
             "new!"); /* the new line too */
  check_line(&r,
             "new" UP "\x7f"
             "3" UP "x" DOWN UP "\r",
             "SELECT 1;x");
  check_line(&r, UP "\x7f" UP DOWN "\x7f\x7f" UP "\r", "SELECT 1;"); /* one not edited */
  check_line(&r, "\x10\x10\x0e\r", "SELECT 2;");                     /* Ctrl-P, Ctrl-N */
  check_line(&r,
             UP "\x7f\x7f"
                "9;\r",
             "SELECT 9;");
  /* Ctrl-R: the newest entry holding the text; Ctrl-R again goes further back. */
  CHECK(cli_lineedit_history_add(r.le, "SELECT 'abc' FROM t;"));
  CHECK(cli_lineedit_history_add(r.le, "SELECT 3;"));
  check_line(&r,
             "\x12"
             "SELECT\r",
             "SELECT 3;");
  check_line(&r,
             "\x12"
             "SELECT\x12\r",
             "SELECT 'abc' FROM t;");
  check_line(&r,
             "\x12"
             "ab"
             "\x05"
             "x\r",
             "SELECT 'abc' FROM t;x"); /* a key ends the search */
  check_line(&r,
             "keep\x12"
             "zzz\x07\r",
             "keep"); /* Ctrl-G: no match, line back */
  check_line(&r,
             "mine\x12"
             "abc" DOWN DOWN "\r",
             "mine"); /* Down from the entry found goes on to the line typed before the search */
  check_line(&r,
             UP UP "\x7f\x7f"
                   "u;" DOWN "\x12"
                   "abc\r",
             "SELECT 'abc' FROM u;"); /* Ctrl-R searches the entries as edited in this read */
  check_line(&r,
             UP UP "\x7f\x7f"
                   "u;" DOWN "\x12"
                   "abc" RIGHT UP DOWN "\r",
             "SELECT 'abc' FROM u;"); /* and keeps the edit of the entry it lands on */
  char *line = NULL;
  CHECK(type(&r,
             "keep\x12"
             "1\x03",
             &line) == CLI_LE_INTERRUPT); /* Ctrl-C drops the line */
  /* Backspace to an empty query, then other text: searched from the newest entry again. */
  check_line(&r,
             "\x12"
             "F"
             "\x7f"
             "3\r",
             "SELECT 3;");
  /* Leaving the search with a key: Up and Down go on from the entry found, and Down past the
   * newest gives back the line typed before the search. */
  check_line(&r,
             "\x12"
             "2"
             "\x05" UP "\r",
             "SELECT 1;");
  check_line(&r,
             "mine\x12"
             "2"
             "\x05" DOWN DOWN DOWN "\r",
             "mine");
  /* Text beyond ASCII can be searched for. */
  CHECK(cli_lineedit_history_add(r.le, "SELECT 'h\xc3\xa9llo';"));
  check_line(&r,
             "\x12"
             "SELECT\x12\x12"
             "\x7f\x7f\x7f\x7f\x7f\x7f"
             "\xc3\xa9\r",
             "SELECT 'h\xc3\xa9llo';");
  CHECK(cli_lineedit_history_len(r.le) == 5);
  /* The file: one entry per line, private, the newest 5 (the editor's maximum) loaded. */
  struct stat st;
  CHECK(stat(path, &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  rig_close(&r);
  FILE *f = fopen(path, "a");
  CHECK(f != NULL);
  fputs("a\nb\n\nc\n", f);
  fclose(f);
  rig_open(&r, path);
  CHECK(cli_lineedit_history_len(r.le) == 5);
  CHECK_EQ_STR(cli_lineedit_history_get(r.le, 0), "SELECT 3;");
  CHECK_EQ_STR(cli_lineedit_history_get(r.le, 4), "c");
  CHECK(cli_lineedit_history_get(r.le, 5) == NULL);
  rig_close(&r);
  /* ... and the file was cut to those 5 when it held more. */
  f = fopen(path, "r");
  CHECK(f != NULL);
  char text[256] = "";
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  CHECK_EQ_STR(text, "SELECT 3;\nSELECT 'h\xc3\xa9llo';\na\nb\nc\n");
  unlink(path);
}

static void test_history_file_not_regular(void) {
  /* A FIFO (or a terminal) named as the history file is neither read (it blocked the shell at
   * its start) nor written. */
  char dir[] = "/tmp/mallard-hist-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char fifo[64];
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  rig r;
  rig_open(&r, fifo);
  CHECK(cli_lineedit_history_len(r.le) == 0);
  CHECK(!cli_lineedit_history_add(r.le, "SELECT 1;")); /* the caller warns */
  CHECK(cli_lineedit_history_len(r.le) == 1);          /* kept in memory */
  rig_close(&r);
  unlink(fifo);
  rmdir(dir);
}

static void test_default_history_path(void) {
  setenv("MALLARD_HISTORY", "/x/h", 1);
  char *p = cli_lineedit_default_history_path();
  CHECK_EQ_STR(p, "/x/h");
  free(p);
  setenv("MALLARD_HISTORY", "", 1);
  CHECK(cli_lineedit_default_history_path() == NULL);
  unsetenv("MALLARD_HISTORY");
  setenv("HOME", "/home/u", 1);
  p = cli_lineedit_default_history_path();
  CHECK_EQ_STR(p, "/home/u/.mallard_history");
  free(p);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  static char buf[4096];
  size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = '\0';
  if (f != NULL) fclose(f);
  return buf;
}

typedef struct locked_call {
  const char *path;
  cli_lineedit *le; /* NULL: open an editor (load and trim); else add "added" to its history */
  cli_lineedit *opened;
  atomic_bool done;
} locked_call;

static void *locked_call_main(void *arg) {
  locked_call *c = arg;
  if (c->le == NULL)
    c->opened = cli_lineedit_new(-1, -1, c->path, 2);
  else
    CHECK(cli_lineedit_history_add(c->le, "added"));
  atomic_store(&c->done, true);
  return NULL;
}

/* Shells sharing a history file: an append and the trim at start wait for another's lock, so
 * that a line appended between a trim's read and its rewrite is not lost. */
static void test_history_file_lock(void) {
  char path[] = "/tmp/mallard-history-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "one\ntwo\nthree\n", 14) == 14);
  CHECK(flock(fd, LOCK_EX) == 0); /* another shell writing */
  locked_call c = {.path = path};
  atomic_init(&c.done, false);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, locked_call_main, &c) == 0);
  struct timespec pause = {0, 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  CHECK(!atomic_load(&c.done)); /* the trim waits */
  CHECK(write(fd, "four\n", 5) == 5);
  CHECK(flock(fd, LOCK_UN) == 0);
  pthread_join(t, NULL);
  REQUIRE(c.opened != NULL);
  CHECK_EQ_STR(read_file(path), "three\nfour\n"); /* the newest 2, "four" among them */
  CHECK_EQ_INT(cli_lineedit_history_len(c.opened), 2);
  CHECK_EQ_STR(cli_lineedit_history_get(c.opened, 1), "four");
  /* an append waits too */
  CHECK(flock(fd, LOCK_EX) == 0);
  locked_call a = {.path = path, .le = c.opened};
  atomic_init(&a.done, false);
  REQUIRE(pthread_create(&t, NULL, locked_call_main, &a) == 0);
  nanosleep(&pause, NULL);
  CHECK(!atomic_load(&a.done));
  CHECK_EQ_STR(read_file(path), "three\nfour\n");
  CHECK(flock(fd, LOCK_UN) == 0);
  pthread_join(t, NULL);
  CHECK_EQ_STR(read_file(path), "three\nfour\nadded\n");
  /* a lock never given back: after about a second the append goes on without it */
  CHECK(flock(fd, LOCK_EX) == 0);
  CHECK(cli_lineedit_history_add(c.opened, "late"));
  CHECK_EQ_STR(read_file(path), "three\nfour\nadded\nlate\n");
  cli_lineedit_free(c.opened);
  close(fd);
  unlink(path);
}

MTEST_MAIN(MTEST(test_editing), MTEST(test_odd_input), MTEST(test_drawing), MTEST(test_results),
           MTEST(test_history), MTEST(test_history_file_not_regular),
           MTEST(test_default_history_path), MTEST(test_history_file_lock))
