/* cli_sql_split: statements of a shell session, split at ';' outside quotes and comments. */
#include "cli/cli_sql_split.h"
#include "mtest.h"

#include <stdlib.h>

/* Feeds each of the lines in turn and collects every statement completed, joined by " | ". */
static char *split_lines(const char *const *lines, size_t n, bool *pending_after) {
  cli_sql_split s;
  cli_sql_split_init(&s);
  mlr_strbuf out = {0};
  for (size_t i = 0; i < n; i++) {
    CHECK(cli_sql_split_feed(&s, lines[i], strlen(lines[i])));
    for (char *stmt; (stmt = cli_sql_split_next(&s, NULL)) != NULL; free(stmt))
      mlr_strbuf_appendf(&out, "%s%s", out.len ? " | " : "", stmt);
  }
  if (pending_after) *pending_after = cli_sql_split_pending(&s);
  cli_sql_split_free(&s);
  char *r = mlr_strbuf_take(&out, NULL);
  return r ? r : strdup("");
}

static char *split1(const char *text, bool *pending_after) {
  return split_lines(&text, 1, pending_after);
}

static void check_split(const char *text, const char *want, bool want_pending) {
  bool pending = !want_pending;
  char *got = split1(text, &pending);
  CHECK_EQ_STR(got, want);
  CHECK(pending == want_pending);
  free(got);
}

static void test_plain_statements(void) {
  check_split("SELECT 1;", "SELECT 1", false);
  check_split("  SELECT 1 ;  SELECT 2;\n", "SELECT 1 | SELECT 2", false);
  check_split("SELECT 1", "", true);
  check_split(";;  ;\n", "", false); /* empty statements are dropped */
}

static void test_quotes_hide_semicolons(void) {
  check_split("SELECT 'a;b';", "SELECT 'a;b'", false);
  check_split("SELECT 'it''s; here';", "SELECT 'it''s; here'", false);
  check_split("SELECT \"odd;name\" FROM t;", "SELECT \"odd;name\" FROM t", false);
  check_split("SELECT E'back\\'slash;' AS x;", "SELECT E'back\\'slash;' AS x", false);
  /* 'e' ending an identifier does not open an escape string: the quote there is plain. */
  check_split("SELECT some'\\';", "SELECT some'\\'", false);
  check_split("SELECT $$a;b$$, $tag$ $$; $tag$;", "SELECT $$a;b$$, $tag$ $$; $tag$", false);
  check_split("SELECT $1; SELECT $name;", "SELECT $1 | SELECT $name", false); /* parameters */
  check_split("SELECT 'open;", "", true);
  /* A doubled quote inside an escape string, then an escaped one. */
  check_split("SELECT E'it''s \\'; x' AS s; SELECT 2;", "SELECT E'it''s \\'; x' AS s | SELECT 2",
              false);
  check_split("SELECT \"a\"\"b;\" FROM t;", "SELECT \"a\"\"b;\" FROM t", false);
  /* '$' inside an identifier opens no dollar quote. */
  check_split("SELECT a$b$ FROM t; SELECT 2;", "SELECT a$b$ FROM t | SELECT 2", false);
  check_split("SELECT caf\xc3\xa9$x$ FROM t; SELECT 2;", "SELECT caf\xc3\xa9$x$ FROM t | SELECT 2",
              false);
  check_split("SELECT $\xc3\xa9$ a; b $\xc3\xa9$;", "SELECT $\xc3\xa9$ a; b $\xc3\xa9$", false);
  /* A dollar-quote tag of any length. */
  char sql[256], want[256];
  char tag[80];
  memset(tag, 'q', 70);
  tag[70] = '\0';
  snprintf(sql, sizeof sql, "SELECT $%s$ a; b $%s$; SELECT 3;", tag, tag);
  snprintf(want, sizeof want, "SELECT $%s$ a; b $%s$ | SELECT 3", tag, tag);
  check_split(sql, want, false);
}

static void test_e_string_after_a_letter(void) {
  /* E'...' takes backslash escapes only as a token of its own: after a letter (an accented one
   * too) the E ends an identifier and the quote opens a plain literal. */
  check_split("SELECT 1 AS \xc3\xa9"
              "E'a\\';\nSELECT 2;",
              "SELECT 1 AS \xc3\xa9"
              "E'a\\' | SELECT 2",
              false);
  check_split("SELECT E'a\\';' ;", "SELECT E'a\\';'", false);
}

static void test_comments(void) {
  check_split("SELECT 1 -- no; end\n;", "SELECT 1 -- no; end", false);
  check_split("SELECT /* a; /* nested; */ still; */ 2;", "SELECT /* a; /* nested; */ still; */ 2",
              false);
  check_split("-- only a comment;\n", "", false);
  check_split("SELECT 1; -- a comment\rSELECT 2;\r", "SELECT 1 | -- a comment\rSELECT 2", false);
  check_split("/* only; a comment */;", "", false);
  check_split("/* open", "", true);
}

static void test_across_lines(void) {
  const char *lines[] = {"SELECT 'multi\n", "line;' AS s,\n", "  2 AS n; SELECT\n", "3;\n"};
  bool pending = true;
  char *got = split_lines(lines, 4, &pending);
  CHECK_EQ_STR(got, "SELECT 'multi\nline;' AS s,\n  2 AS n | SELECT\n3");
  CHECK(!pending);
  free(got);
}

static void test_finish_and_reset(void) {
  cli_sql_split s;
  cli_sql_split_init(&s);
  CHECK(cli_sql_split_feed(&s, "SELECT 1; SELECT 2\n", 19));
  char *a = cli_sql_split_next(&s, NULL);
  CHECK_EQ_STR(a, "SELECT 1");
  free(a);
  CHECK(cli_sql_split_next(&s, NULL) == NULL);
  CHECK(cli_sql_split_pending(&s));
  char *b = cli_sql_split_finish(&s, NULL); /* end of input: the last statement needs no ';' */
  CHECK_EQ_STR(b, "SELECT 2");
  free(b);
  CHECK(!cli_sql_split_pending(&s));
  CHECK(cli_sql_split_feed(&s, "SELECT 'x\n", 10));
  cli_sql_split_reset(&s); /* Ctrl-C: the open quote goes with the statement */
  CHECK(!cli_sql_split_pending(&s));
  CHECK(cli_sql_split_feed(&s, "SELECT 3;", 9));
  char *c = cli_sql_split_next(&s, NULL);
  CHECK_EQ_STR(c, "SELECT 3");
  free(c);
  CHECK(cli_sql_split_finish(&s, NULL) == NULL);
  cli_sql_split_free(&s);
}

static void test_many_statements(void) {
  /* More statements than the queue's first allocation, some taken midway. */
  cli_sql_split s;
  cli_sql_split_init(&s);
  int taken = 0;
  for (int i = 0; i < 100; i++) {
    char line[32];
    int n = snprintf(line, sizeof line, "SELECT %d;", i);
    CHECK(cli_sql_split_feed(&s, line, (size_t)n));
    if (i % 7 == 0) {
      char *stmt = cli_sql_split_next(&s, NULL);
      char want[32];
      snprintf(want, sizeof want, "SELECT %d", taken++);
      CHECK_EQ_STR(stmt, want);
      free(stmt);
    }
  }
  for (char *stmt; (stmt = cli_sql_split_next(&s, NULL)) != NULL; free(stmt)) {
    char want[32];
    snprintf(want, sizeof want, "SELECT %d", taken++);
    CHECK_EQ_STR(stmt, want);
  }
  CHECK_EQ_INT(taken, 100);
  cli_sql_split_free(&s);
}

static void test_lines(void) {
  /* Each statement knows the line its text starts on: blank lines, comments and a multi-line
   * string before it do not count as its start; an E-string's escaped newline still counts. */
  const char *const lines[] = {"\n",
                               "-- a comment\n",
                               "SELECT 1; SELECT\n", /* 3: two statements start here */
                               "  2;\n",             /* 4 */
                               "/* block\n",         /* 5 */
                               "*/ SELECT 'a\n",     /* 6 */
                               "b', E'c\\\n",        /* 7: escaped newline */
                               "d'; ; \n",           /* 8 */
                               "\n",                 /* 9 */
                               "   SELECT\n",        /* 10 */
                               "4\n"};
  cli_sql_split s;
  cli_sql_split_init(&s);
  long got[8];
  size_t n = 0;
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    CHECK(cli_sql_split_feed(&s, lines[i], strlen(lines[i])));
    long line = 0;
    for (char *stmt; (stmt = cli_sql_split_next(&s, &line)) != NULL; free(stmt))
      if (n < 8) got[n++] = line;
  }
  long line = 0;
  char *last = cli_sql_split_finish(&s, &line);
  CHECK_EQ_STR(last, "SELECT\n4");
  free(last);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_INT(got[0], 3);
  CHECK_EQ_INT(got[1], 3);
  CHECK_EQ_INT(got[2], 6);
  CHECK_EQ_INT(line, 10);
  /* A line the caller read but did not feed (a dot command) counts once it says so. */
  cli_sql_split_set_line(&s, 12);
  CHECK(cli_sql_split_feed(&s, "\n  SELECT 5;", 12));
  char *fifth = cli_sql_split_next(&s, &line);
  CHECK_EQ_STR(fifth, "SELECT 5");
  free(fifth);
  CHECK_EQ_INT(line, 13);
  cli_sql_split_free(&s);
}

/* Feeds len bytes (NULs included) and returns each statement as "text" or "NUL:text" (flagged),
 * joined by " | ", the unfinished one (finish) last. */
static char *split_nul(const char *text, size_t len) {
  cli_sql_split s;
  cli_sql_split_init(&s);
  mlr_strbuf out = {0};
  CHECK(cli_sql_split_feed(&s, text, len));
  for (char *stmt; (stmt = cli_sql_split_next(&s, NULL)) != NULL; free(stmt))
    mlr_strbuf_appendf(&out, "%s%s%s", out.len ? " | " : "",
                       cli_sql_split_last_had_nul(&s) ? "NUL:" : "", stmt);
  char *last = cli_sql_split_finish(&s, NULL);
  if (last != NULL)
    mlr_strbuf_appendf(&out, "%s%s%s", out.len ? " | " : "",
                       cli_sql_split_last_had_nul(&s) ? "NUL:" : "", last);
  free(last);
  cli_sql_split_free(&s);
  char *r = mlr_strbuf_take(&out, NULL);
  return r ? r : strdup("");
}

static void check_nul(const char *text, size_t len, const char *want) {
  char *got = split_nul(text, len);
  CHECK_EQ_STR(got, want);
  free(got);
}

/* A NUL byte marks the statement it is in (code, literal, comment, an escape), and only that one;
 * its string stops at the NUL. */
static void test_nul_bytes(void) {
  static const char line[] = "SELECT 1; SELECT 2\0 AS b; SELECT 3;";
  check_nul(line, sizeof line - 1, "SELECT 1 | NUL:SELECT 2 | SELECT 3");
  static const char quoted[] = "SELECT 'a\0;b'; SELECT \"x\0\"; SELECT 4";
  check_nul(quoted, sizeof quoted - 1, "NUL:SELECT 'a | NUL:SELECT \"x | SELECT 4");
  static const char comment[] = "SELECT 5 /* \0 */; SELECT 6 -- \0\n; SELECT 7";
  check_nul(comment, sizeof comment - 1, "NUL:SELECT 5 /*  | NUL:SELECT 6 --  | SELECT 7");
  static const char escape[] = "SELECT E'\\\0'; SELECT E'\\n'";
  check_nul(escape, sizeof escape - 1, "NUL:SELECT E'\\ | SELECT E'\\n'");
  static const char last[] = "SELECT 8; SELECT 9\0";
  check_nul(last, sizeof last - 1, "SELECT 8 | NUL:SELECT 9");
  /* a NUL in blanks or comments before a statement is not in it: dropped with them */
  static const char before[] = "SELECT 1 a; -- c\0\nSELECT 2 b; \0\nSELECT 3;\0 ;";
  check_nul(before, sizeof before - 1, "SELECT 1 a | SELECT 2 b | SELECT 3");
  static const char after_comment[] = "SELECT 10; -- \0"; /* nothing to run after the 10 */
  check_nul(after_comment, sizeof after_comment - 1, "SELECT 10");
}

/* Whether the line breaks fed so far are part of the SQL (a shell joins lines only if not). */
static bool newline_matters_after(const char *text) {
  cli_sql_split s;
  cli_sql_split_init(&s);
  CHECK(cli_sql_split_feed(&s, text, strlen(text)));
  bool m = cli_sql_split_newline_matters(&s);
  cli_sql_split_free(&s);
  return m;
}

static void test_newline_matters(void) {
  CHECK(!newline_matters_after("SELECT 1\n  + 2\n\n AS x;\n"));
  CHECK(!newline_matters_after("SELECT /* a\nblock */ 1;\n")); /* a comment stays one */
  CHECK(!newline_matters_after("SELECT 'a'''\n || 'b';"));     /* after it ('' is a quote) */
  CHECK(newline_matters_after("SELECT 'a''\n' || 'b';"));      /* inside the literal */
  CHECK(newline_matters_after("SELECT 'a\nb';\n"));
  CHECK(newline_matters_after("SELECT E'a\\\nb';\n")); /* an escaped line break */
  CHECK(newline_matters_after("SELECT \"a\nb\";\n"));
  CHECK(newline_matters_after("SELECT $$a\nb$$;\n"));
  CHECK(newline_matters_after("SELECT 1 -- one\nAS x;\n"));
  CHECK(newline_matters_after("SELECT 1 -- c\n;\n"));   /* joined, the comment would hide the ; */
  CHECK(!newline_matters_after("SELECT 1; -- done\n")); /* nothing after it */
  /* adjacent literals: a line break between them makes one string of them */
  CHECK(newline_matters_after("SELECT 'foo'\n'bar' AS x;\n"));
  CHECK(newline_matters_after("SELECT 'foo'  \n\n   E'bar';\n"));
  CHECK(newline_matters_after("SELECT 'foo'\n/* c */ 'bar';\n"));
  CHECK(!newline_matters_after("SELECT 'foo' ||\n'bar';\n"));
  CHECK(!newline_matters_after("SELECT CASE WHEN a = 'x'\nELSE 'y'\nEND;\n"));
  CHECK(!newline_matters_after("SELECT \"a\"\n'b';\n")); /* an identifier, not a literal */
  CHECK(!newline_matters_after("SELECT 'a';\n'b';\n"));  /* two statements */
  /* it stays set across statements until cleared */
  cli_sql_split s;
  cli_sql_split_init(&s);
  CHECK(cli_sql_split_feed(&s, "SELECT 'a\nb'; SELECT\n", 22));
  CHECK(cli_sql_split_newline_matters(&s));
  cli_sql_split_clear_newline_matters(&s);
  CHECK(!cli_sql_split_newline_matters(&s));
  CHECK(cli_sql_split_feed(&s, "2;\n", 3));
  CHECK(!cli_sql_split_newline_matters(&s));
  CHECK(cli_sql_split_feed(&s, "SELECT 3; -- c\n", 15)); /* a comment ends an entry */
  CHECK(!cli_sql_split_newline_matters(&s));
  cli_sql_split_clear_newline_matters(&s); /* the next entry */
  CHECK(cli_sql_split_feed(&s, "SELECT 4;\n", 10));
  CHECK(!cli_sql_split_newline_matters(&s));
  for (char *st; (st = cli_sql_split_next(&s, NULL)) != NULL;) free(st);
  cli_sql_split_free(&s);
}

MTEST_MAIN(MTEST(test_plain_statements), MTEST(test_quotes_hide_semicolons), MTEST(test_comments),
           MTEST(test_across_lines), MTEST(test_finish_and_reset), MTEST(test_many_statements),
           MTEST(test_lines), MTEST(test_nul_bytes), MTEST(test_newline_matters),
           MTEST(test_e_string_after_a_letter))
