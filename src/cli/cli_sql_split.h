/* Splits SQL text, as a shell reads it line by line, into statements: a statement ends at a ';'
 * outside string literals ('...', E'...' with backslash escapes), quoted identifiers ("..."),
 * dollar-quoted strings ($$...$$, $tag$...$tag$), line comments (-- ...) and block comments
 * (nested, as DuckDB's parser reads them). Statements holding nothing but blanks and comments
 * are dropped. Ownership: the caller owns the splitter (init/free) and each returned string. */
#ifndef CLI_SQL_SPLIT_H
#define CLI_SQL_SPLIT_H

#include "common/mlr_json.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_sql_split {
  mlr_strbuf cur;     /* the statement being read */
  bool content;       /* cur holds something besides blanks and comments */
  int state;          /* where the scan is: code, a quote or a comment (cli_sql_split.c) */
  int depth;          /* block comment nesting */
  char *tag;          /* the open dollar quote's tag, "$tag$" (owned; NULL: none open) */
  size_t tag_len;     /* its length */
  char prev;          /* the previous character of code */
  long line;          /* the line the next byte fed is on (1 at the start) */
  long cur_line;      /* the line cur's content starts on */
  bool cur_nul;       /* cur holds a NUL byte */
  bool last_nul;      /* the statement last returned held one */
  bool nl_matters;    /* a newline was fed inside a literal or ended a line comment (see below) */
  bool comment_nl;    /* a line comment ended: its line break matters if code follows */
  bool after_literal; /* the last token of code was a '...' literal */
  int lit_nl;         /* 1: then a line break (adjacent literals across lines are one string,
                       * 'a'<newline>'b'), 2: and then an E (perhaps E'...') */
  struct cli_sql_stmt {
    char *sql;
    long line;
    bool nul;
  } * done; /* complete statements, oldest first */
  size_t n_done, cap_done, head;
  bool oom;
} cli_sql_split;

void cli_sql_split_init(cli_sql_split *s);
void cli_sql_split_free(cli_sql_split *s);
/* Feeds len bytes (e.g. one line with its newline). Returns false when out of memory. */
bool cli_sql_split_feed(cli_sql_split *s, const char *text, size_t len);
/* Says that the next text fed starts on line (when the caller reads lines it does not feed,
 * such as a shell's dot commands). */
void cli_sql_split_set_line(cli_sql_split *s, long line);
/* The next complete statement, without its ';' and trimmed (caller frees); NULL when none. When
 * line is not NULL, *line is the line its text starts on (counting every line fed, from 1). */
char *cli_sql_split_next(cli_sql_split *s, long *line);
/* True while an unfinished statement with content waits for its ';' (or a quote or comment is
 * open). */
bool cli_sql_split_pending(const cli_sql_split *s);
/* At the end of input: the unfinished statement if it has content (caller frees), else NULL;
 * *line (if not NULL) as for cli_sql_split_next. Drops the unfinished statement. */
char *cli_sql_split_finish(cli_sql_split *s, long *line);
/* True when the statement cli_sql_split_next or _finish returned last held a NUL byte (in code,
 * a literal or a comment): not SQL text (binary data?), and its string stops at the first NUL,
 * so it is not to be run. The statements around it are whole. */
bool cli_sql_split_last_had_nul(const cli_sql_split *s);
/* True once a newline was fed that is part of the SQL: inside a string literal, a quoted
 * identifier or a dollar quote, ending a line comment that more code follows, or between two
 * string literals (which the line break makes one: 'foo'<newline>'bar' is 'foobar', 'foo' 'bar'
 * an error). A line break is counted when the text after it shows it matters, so the last line
 * fed never sets it by its own end. Lines fed while it
 * stayed false can be joined into one line with spaces without changing their meaning (a shell's
 * history entry). Set by feeding; cleared by cli_sql_split_clear_newline_matters only. */
bool cli_sql_split_newline_matters(const cli_sql_split *s);
void cli_sql_split_clear_newline_matters(cli_sql_split *s);
/* Drops the unfinished statement (Ctrl-C at a continuation prompt). */
void cli_sql_split_reset(cli_sql_split *s);

#endif /* CLI_SQL_SPLIT_H */
