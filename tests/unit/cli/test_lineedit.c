/* cli_lineedit: the shell's line editor, fed keys through a pipe (no terminal: no raw mode, the
 * keys are read as they come) and drawing into another pipe. */
#include "cli/cli_lineedit.h"
#include "mtest.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
  check_line(&r,
             "new" UP "\x7f"
             "3" DOWN UP "\r",
             "SELECT 2;");                       /* edits are not kept */
  check_line(&r, "\x10\x10\x0e\r", "SELECT 2;"); /* Ctrl-P, Ctrl-N */
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
             "keep\x12"
             "1\x03"
             "\r",
             "keep"); /* Ctrl-C leaves the search only */
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
  CHECK_EQ_STR(cli_lineedit_history_get(r.le, 0), "SELECT 'abc' FROM t;");
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
  CHECK_EQ_STR(text, "SELECT 'abc' FROM t;\nSELECT 3;\na\nb\nc\n");
  unlink(path);
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

MTEST_MAIN(MTEST(test_editing), MTEST(test_results), MTEST(test_history),
           MTEST(test_default_history_path))
