/* SQL statement splitting for `mallard shell` (see cli_sql_split.h). */
#include "cli/cli_sql_split.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum { ST_CODE, ST_SQUOTE, ST_ESQUOTE, ST_DQUOTE, ST_DOLLAR, ST_LINE_COMMENT, ST_BLOCK_COMMENT };

void cli_sql_split_init(cli_sql_split *s) {
  memset(s, 0, sizeof *s);
  s->line = 1;
}

static void drop_cur(cli_sql_split *s) {
  mlr_strbuf_release(&s->cur);
  memset(&s->cur, 0, sizeof s->cur);
  s->content = false;
  s->cur_nul = false;
  s->after_literal = false;
  s->lit_nl = 0;
  s->state = ST_CODE;
  s->depth = 0;
  free(s->tag);
  s->tag = NULL;
  s->tag_len = 0;
  s->prev = 0;
}

void cli_sql_split_free(cli_sql_split *s) {
  drop_cur(s);
  for (size_t i = s->head; i < s->n_done; i++) free(s->done[i].sql);
  free(s->done);
  memset(s, 0, sizeof *s);
}

void cli_sql_split_reset(cli_sql_split *s) {
  drop_cur(s);
}

/* The statement text without surrounding blanks, as a new string. */
static char *trimmed(const char *p, size_t n) {
  while (n > 0 && isspace((unsigned char)*p)) p++, n--;
  while (n > 0 && isspace((unsigned char)p[n - 1])) n--;
  char *out = malloc(n + 1);
  if (out != NULL) {
    memcpy(out, p, n);
    out[n] = '\0';
  }
  return out;
}

static bool push_done(cli_sql_split *s) {
  bool ok = true;
  if (s->content && !s->cur.oom) {
    char *stmt = trimmed(s->cur.data ? s->cur.data : "", s->cur.len);
    if (s->n_done == s->cap_done) {
      if (s->head > 0) { /* reuse the slots of statements already taken */
        memmove(s->done, s->done + s->head, (s->n_done - s->head) * sizeof *s->done);
        s->n_done -= s->head;
        s->head = 0;
      } else {
        size_t cap = s->cap_done ? s->cap_done * 2 : 8;
        struct cli_sql_stmt *d = realloc(s->done, cap * sizeof *d);
        if (d == NULL) {
          free(stmt);
          stmt = NULL;
        } else {
          s->done = d;
          s->cap_done = cap;
        }
      }
    }
    if (stmt != NULL)
      s->done[s->n_done++] = (struct cli_sql_stmt){stmt, s->cur_line, s->cur_nul};
    else
      ok = false;
  } else if (s->cur.oom) {
    ok = false;
  }
  drop_cur(s);
  return ok;
}

/* At text[i] == '$' in code: the length of a dollar-quote opener ("$$" or "$tag$"), else 0 (a
 * parameter such as $1 or $name). */
/* A character of an identifier: ASCII letters, digits and '_', and every byte of a UTF-8
 * multibyte character (DuckDB's identifiers may hold any letter). */
static bool ident_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

static size_t dollar_tag(const char *text, size_t len, size_t i) {
  size_t j = i + 1;
  if (j < len && text[j] == '$') return 2;
  if (j >= len || !(ident_char(text[j]) && !isdigit((unsigned char)text[j]))) return 0;
  while (j < len && ident_char(text[j])) j++;
  return j < len && text[j] == '$' ? j - i + 1 : 0;
}

/* The line text[i] is on: s->line advanced by the newlines in text[*counted..i). */
static long line_at(cli_sql_split *s, const char *text, size_t i, size_t *counted) {
  for (; *counted < i; (*counted)++)
    if (text[*counted] == '\n') s->line++;
  return s->line;
}

bool cli_sql_split_feed(cli_sql_split *s, const char *text, size_t len) {
  size_t start = 0;   /* text[start..i) is not yet in cur */
  size_t counted = 0; /* text[0..counted) is counted in s->line */
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    char next = i + 1 < len ? text[i + 1] : '\0';
    if (c == '\0') s->cur_nul = true;
    if (c == '\n' && s->state == ST_LINE_COMMENT) s->comment_nl = true;
    if (c == '\n' && s->state != ST_CODE && s->state != ST_BLOCK_COMMENT &&
        s->state != ST_LINE_COMMENT)
      s->nl_matters = true;
    switch (s->state) {
    case ST_CODE:
      if (s->comment_nl && !isspace((unsigned char)c) && c != '\0') {
        s->nl_matters = true; /* (a ';' too: joined, the comment would hide it) */
        s->comment_nl = false;
      }
      if (c == ';') {
        mlr_strbuf_append(&s->cur, text + start, i - start);
        start = i + 1;
        if (!push_done(s)) s->oom = true;
        continue;
      }
      if (c == '-' && next == '-') {
        s->state = ST_LINE_COMMENT;
        i++;
        continue;
      }
      if (c == '/' && next == '*') {
        s->state = ST_BLOCK_COMMENT;
        s->depth = 1;
        i++;
        continue;
      }
      if (isspace((unsigned char)c) || c == '\0') { /* (a NUL: not SQL, and no content) */
        if (c == '\n' && s->after_literal) s->lit_nl = 1;
        s->prev = c;
        break;
      }
      if (s->lit_nl == 2 || (s->lit_nl == 1 && c != 'E' && c != 'e')) {
        if (c == '\'') s->nl_matters = true; /* 'a'<newline>'b' or 'a'<newline>E'b' */
        s->lit_nl = 0;
      } else if (s->lit_nl == 1) {
        s->lit_nl = 2;
      }
      s->after_literal = false;
      if (!s->content) {
        if (s->cur_nul) { /* a NUL only in blanks or comments before the statement: drop them */
          s->cur.len = 0;
          start = i;
          s->cur_nul = false;
        }
        s->content = true;
        s->cur_line = line_at(s, text, i, &counted);
      }
      if (c == '\'') {
        /* E'...' (not the end of an identifier such as "name'"): backslash escapes. */
        bool e = (s->prev == 'E' || s->prev == 'e') && (i < 2 || !ident_char(text[i - 2]));
        s->state = e ? ST_ESQUOTE : ST_SQUOTE;
      } else if (c == '"') {
        s->state = ST_DQUOTE;
      } else if (c == '$' && !(ident_char(s->prev) || s->prev == '$')) {
        /* (a '$' inside an identifier, as in a$b$, opens nothing) */
        size_t n = dollar_tag(text, len, i);
        char *tag = n > 0 ? malloc(n) : NULL;
        if (n > 0 && tag == NULL) s->oom = true;
        if (tag != NULL) {
          memcpy(tag, text + i, n);
          s->tag = tag;
          s->tag_len = n;
          s->state = ST_DOLLAR;
          i += n - 1;
          s->prev = '$';
          continue;
        }
      }
      s->prev = c;
      break;
    case ST_SQUOTE:
    case ST_ESQUOTE:
    case ST_DQUOTE: {
      char q = s->state == ST_DQUOTE ? '"' : '\'';
      if (s->state == ST_ESQUOTE && c == '\\') {
        if (i + 1 < len && next == '\0') s->cur_nul = true;
        if (next == '\n') s->nl_matters = true;
        i++; /* the escaped character, whatever it is */
      } else if (c == q && next == q) {
        i++; /* a doubled quote stands for itself */
      } else if (c == q) {
        s->after_literal = q == '\'';
        s->state = ST_CODE;
        s->prev = c;
      }
      break;
    }
    case ST_DOLLAR:
      if (c == '$' && len - i >= s->tag_len && memcmp(text + i, s->tag, s->tag_len) == 0) {
        i += s->tag_len - 1;
        free(s->tag);
        s->tag = NULL;
        s->tag_len = 0;
        s->state = ST_CODE;
        s->prev = '$';
      }
      break;
    case ST_LINE_COMMENT: /* ends at a line end, \r included (files with CR line ends) */
      if (c == '\n' || c == '\r') s->state = ST_CODE;
      break;
    case ST_BLOCK_COMMENT:
      if (c == '/' && next == '*') {
        s->depth++;
        i++;
      } else if (c == '*' && next == '/') {
        i++;
        if (--s->depth == 0) s->state = ST_CODE;
      }
      break;
    }
  }
  if (start < len) mlr_strbuf_append(&s->cur, text + start, len - start);
  line_at(s, text, len, &counted);
  return !(s->oom || s->cur.oom);
}

void cli_sql_split_set_line(cli_sql_split *s, long line) {
  s->line = line;
}

char *cli_sql_split_next(cli_sql_split *s, long *line) {
  if (s->head == s->n_done) return NULL;
  if (line != NULL) *line = s->done[s->head].line;
  s->last_nul = s->done[s->head].nul;
  return s->done[s->head++].sql;
}

bool cli_sql_split_pending(const cli_sql_split *s) {
  return s->content || s->state != ST_CODE;
}

char *cli_sql_split_finish(cli_sql_split *s, long *line) {
  char *stmt =
      s->content && !s->cur.oom ? trimmed(s->cur.data ? s->cur.data : "", s->cur.len) : NULL;
  if (line != NULL) *line = s->cur_line;
  s->last_nul = s->cur_nul;
  drop_cur(s);
  return stmt;
}

bool cli_sql_split_last_had_nul(const cli_sql_split *s) {
  return s->last_nul;
}

bool cli_sql_split_newline_matters(const cli_sql_split *s) {
  return s->nl_matters;
}

void cli_sql_split_clear_newline_matters(cli_sql_split *s) {
  s->nl_matters = false;
  s->comment_nl = false;
  s->lit_nl = 0;
}
