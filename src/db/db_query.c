/* Queries as streams of Arrow batches: DuckDB's streaming result is pulled chunk by chunk into
 * batches of about batch_rows rows. A result whose columns all have flat types is written
 * straight into each batch's buffers (db_export.c, one copy); any other is exported chunk by
 * chunk with duckdb_data_chunk_to_arrow and the chunks are coalesced (db_coalesce.c). Also the
 * prepared statements with named parameters. */
#include "db/db_internal.h"
#include "db/db_coalesce.h"
#include "db/db_export.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DB_DEFAULT_BATCH_ROWS 65536

struct db_query {
  db_conn *conn;
  duckdb_prepared_statement stmt; /* owned when owns_stmt */
  bool owns_stmt;
  duckdb_result result;
  bool have_result;
  bool done;
  bool coalesce;       /* false when the schema has a layout db_coalesce does not handle */
  bool has_bool8;      /* every batch goes through db_coalesce, which unpacks arrow.bool8 */
  db_export *exporter; /* the direct path, when every column has a flat type; else NULL */
  uint64_t epoch;      /* conn->epoch when the query started */
  int64_t batch_rows;
  idx_t ncols;
  struct ArrowSchema schema; /* kept for coalescing; copies handed out are rebuilt */
  duckdb_logical_type *types;
  char **names;
  struct ArrowArray **pending; /* chunks waiting to be coalesced */
  int64_t npending, cap_pending;
  bool gated; /* counted by the compactor's query gate (db_compact_query_open) */
};

static mlr_code make_schema(db_conn *conn, duckdb_logical_type *types, char **names, idx_t n,
                            struct ArrowSchema *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  duckdb_error_data ed =
      duckdb_to_arrow_schema(conn->arrow_opts, types, (const char **)names, n, out);
  mlr_code rc = MALLARD_OK;
  if (ed && duckdb_error_data_has_error(ed)) {
    rc = db_error_from_data(ed, err);
    /* Name the column whose type has no Arrow export (e.g. TIME_NS). */
    for (idx_t i = 0; i < n; i++) {
      struct ArrowSchema one;
      memset(&one, 0, sizeof one);
      duckdb_error_data e1 =
          duckdb_to_arrow_schema(conn->arrow_opts, &types[i], (const char **)&names[i], 1, &one);
      bool bad = e1 && duckdb_error_data_has_error(e1);
      if (e1) duckdb_destroy_error_data(&e1);
      if (one.release) one.release(&one);
      if (bad) {
        char *t = db_logical_type_sql(types[i]);
        char msg[MALLARD_ERROR_MESSAGE_SIZE];
        snprintf(msg, sizeof msg, "%s", err ? err->message : "");
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "column %llu '%s': DuckDB type %s cannot be sent as Arrow (%s)",
                           (unsigned long long)i + 1, names[i], t ? t : "?", msg);
        free(t);
        break;
      }
    }
  }
  if (ed) duckdb_destroy_error_data(&ed);
  return rc;
}

static void free_pending(db_query *q) {
  for (int64_t i = 0; i < q->npending; i++) {
    if (q->pending[i]->release) q->pending[i]->release(q->pending[i]);
    free(q->pending[i]);
  }
  q->npending = 0;
}

void db_query_free(db_query *q) {
  if (!q) return;
  free_pending(q);
  free(q->pending);
  db_export_free(q->exporter);
  if (q->have_result) duckdb_destroy_result(&q->result);
  if (q->schema.release) q->schema.release(&q->schema);
  for (idx_t i = 0; i < q->ncols; i++) {
    if (q->types && q->types[i]) duckdb_destroy_logical_type(&q->types[i]);
    if (q->names) free(q->names[i]);
  }
  free(q->types);
  free(q->names);
  if (q->owns_stmt && q->stmt) duckdb_destroy_prepare(&q->stmt);
  if (q->gated) db_compact_query_close(q->conn->db);
  free(q);
}

static mlr_code prepare_stmt(db_conn *conn, const char *sql, duckdb_prepared_statement *st,
                             mlr_error *err) {
  if (duckdb_prepare(conn->con, sql, st) != DuckDBSuccess) {
    const char *m = duckdb_prepare_error(*st);
    mlr_code rc = db_error_set(err, db_map_error_message(m), m, "prepare failed");
    duckdb_destroy_prepare(st);
    *st = NULL;
    return rc;
  }
  return MALLARD_OK;
}

/* Only top-level columns carry arrow.bool8 bytes (see db_coalesce.c). */
static bool schema_has_bool8(const struct ArrowSchema *s) {
  for (int64_t i = 0; i < s->n_children; i++)
    if (db_arrow_is_bool8(s->children[i])) return true;
  return false;
}

mlr_code db_query_from_stmt(db_conn *conn, duckdb_prepared_statement stmt, bool owns_stmt,
                            const db_query_options *opts, db_query **out, mlr_error *err) {
  conn->epoch++;
  mlr_code rc = MALLARD_OK;
  duckdb_pending_result pending = NULL;
  *out = NULL;
  db_query *q = calloc(1, sizeof *q);
  if (!q) {
    if (owns_stmt) duckdb_destroy_prepare(&stmt);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  q->conn = conn;
  db_compact_query_open(conn->db);
  q->gated = true;
  q->stmt = stmt;
  q->owns_stmt = owns_stmt;
  q->batch_rows = opts && opts->batch_rows > 0 ? opts->batch_rows : DB_DEFAULT_BATCH_ROWS;

  if (duckdb_pending_prepared_streaming(stmt, &pending) != DuckDBSuccess) {
    const char *m = duckdb_pending_error(pending);
    rc = db_error_set(err, db_map_error_message(m), m, "query failed");
    goto cleanup;
  }
  q->have_result = true;
  if (duckdb_execute_pending(pending, &q->result) != DuckDBSuccess) {
    rc = db_error_from_result(&q->result, err);
    goto cleanup;
  }
  q->ncols = duckdb_column_count(&q->result);
  q->types = calloc(q->ncols ? q->ncols : 1, sizeof *q->types);
  q->names = calloc(q->ncols ? q->ncols : 1, sizeof *q->names);
  if (!q->types || !q->names) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  for (idx_t i = 0; i < q->ncols; i++) {
    const char *nm = duckdb_column_name(&q->result, i);
    q->types[i] = duckdb_column_logical_type(&q->result, i);
    q->names[i] = strdup(nm ? nm : "");
    if (!q->names[i]) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
  }
  if ((rc = make_schema(conn, q->types, q->names, q->ncols, &q->schema, err))) goto cleanup;
  q->coalesce = db_coalesce_supported(&q->schema);
  q->has_bool8 = q->coalesce && schema_has_bool8(&q->schema);
  if (q->coalesce && (rc = db_export_plan(q->types, &q->schema, q->batch_rows, &q->exporter, err)))
    goto cleanup;
  q->epoch = conn->epoch;
  *out = q;
  q = NULL;
cleanup:
  if (pending) duckdb_destroy_pending(&pending);
  if (q) db_query_free(q);
  return rc;
}

mlr_code db_query_start(db_conn *conn, const char *sql, const db_query_options *opts,
                        db_query **out, mlr_error *err) {
  duckdb_prepared_statement st = NULL;
  *out = NULL;
  MLR_RETURN_NOT_OK(prepare_stmt(conn, sql, &st, err));
  return db_query_from_stmt(conn, st, true, opts, out, err);
}

bool db_query_is_direct(const db_query *q) {
  return q->exporter != NULL;
}

mlr_code db_query_schema(db_query *q, struct ArrowSchema *out, mlr_error *err) {
  MLR_RETURN_NOT_OK(make_schema(q->conn, q->types, q->names, q->ncols, out, err));
  if (q->coalesce) db_arrow_schema_unbool8(out);
  return MALLARD_OK;
}

/* Pulls one chunk and exports it; *got = false at the end of the result. */
static mlr_code fetch_one(db_query *q, struct ArrowArray **arr, bool *got, mlr_error *err) {
  *got = false;
  *arr = NULL;
  duckdb_data_chunk chunk = duckdb_fetch_chunk(q->result);
  if (!chunk) {
    const char *m = duckdb_result_error(&q->result);
    if (m && m[0]) return db_error_from_result(&q->result, err);
    return MALLARD_OK;
  }
  mlr_code rc = MALLARD_OK;
  struct ArrowArray *a = calloc(1, sizeof *a);
  if (!a) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  duckdb_error_data ed = duckdb_data_chunk_to_arrow(q->conn->arrow_opts, chunk, a);
  if (ed && duckdb_error_data_has_error(ed)) {
    rc = db_error_from_data(ed, err);
    duckdb_destroy_error_data(&ed);
    free(a);
    a = NULL;
    goto cleanup;
  }
  if (ed) duckdb_destroy_error_data(&ed);
  *arr = a;
  *got = true;
cleanup:
  duckdb_destroy_data_chunk(&chunk);
  return rc;
}

/* The direct path: chunks go straight into the batch's buffers, the same batch boundaries as
 * the coalescing path (a batch ends with the chunk that reaches batch_rows). */
static mlr_code next_direct(db_query *q, struct ArrowArray *batch, bool *eof, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  while (db_export_rows(q->exporter) < q->batch_rows) {
    duckdb_data_chunk chunk = duckdb_fetch_chunk(q->result);
    if (!chunk) {
      const char *m = duckdb_result_error(&q->result);
      q->done = true;
      if (m && m[0]) return db_error_from_result(&q->result, err);
      break;
    }
    rc = db_export_append(q->exporter, chunk, err);
    duckdb_destroy_data_chunk(&chunk);
    if (rc) {
      q->done = true; /* rows are missing: the stream cannot go on */
      return rc;
    }
  }
  if (db_export_rows(q->exporter) == 0) {
    *eof = true;
    return MALLARD_OK;
  }
  rc = db_export_finish(q->exporter, batch, err);
  if (rc) q->done = true;
  return rc;
}

mlr_code db_query_next(db_query *q, struct ArrowArray *batch, bool *eof, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  int64_t rows = 0;
  *eof = false;
  if (q->done) {
    *eof = true;
    return MALLARD_OK;
  }
  if (q->conn->epoch != q->epoch) {
    q->done = true;
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                         "the query's result was closed: its connection ran another statement");
  }
  if (q->exporter) return next_direct(q, batch, eof, err);
  for (;;) {
    struct ArrowArray *a;
    bool got;
    if ((rc = fetch_one(q, &a, &got, err))) {
      q->done = true;
      free_pending(q);
      return rc;
    }
    if (!got) {
      q->done = true;
      break;
    }
    if (a->length == 0) { /* DuckDB may hand out empty chunks; they carry nothing */
      a->release(a);
      free(a);
      continue;
    }
    if (!q->coalesce) {
      *batch = *a;
      free(a);
      return MALLARD_OK;
    }
    if (q->npending == q->cap_pending) {
      int64_t cap = q->cap_pending ? q->cap_pending * 2 : 64;
      struct ArrowArray **p = realloc(q->pending, sizeof *p * (size_t)cap);
      if (!p) {
        a->release(a);
        free(a);
        return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      }
      q->pending = p;
      q->cap_pending = cap;
    }
    q->pending[q->npending++] = a;
    rows += a->length;
    if (rows >= q->batch_rows) break;
  }
  if (q->npending == 0) {
    *eof = true;
    return MALLARD_OK;
  }
  if (q->npending == 1 &&
      !q->has_bool8) { /* nothing to concatenate: hand the chunk over as it is */
    *batch = *q->pending[0];
    free(q->pending[0]);
    q->npending = 0;
    return MALLARD_OK;
  }
  rc = db_coalesce(&q->schema, q->pending, q->npending, batch, err);
  free_pending(q);
  if (rc) q->done = true; /* rows are missing: the stream cannot go on */
  return rc;
}

mlr_code db_query_schema_only(db_conn *conn, const char *sql, struct ArrowSchema *out,
                              mlr_error *err) {
  conn->epoch++;
  db_prepared p = {conn, NULL, NULL, 0};
  MLR_RETURN_NOT_OK(prepare_stmt(conn, sql, &p.stmt, err));
  mlr_code rc = db_prepared_schema(&p, out, err);
  duckdb_destroy_prepare(&p.stmt);
  return rc;
}

/* ---------------------------------------------------------------- read-only statements */

static const char *skip_space_and_comments(const char *p) {
  for (;;) {
    while (*p != '\0' && isspace((unsigned char)*p)) p++;
    if (p[0] == '-' && p[1] == '-') {
      while (*p != '\0' && *p != '\n') p++;
      continue;
    }
    if (p[0] == '/' && p[1] == '*') {
      const char *e = strstr(p + 2, "*/");
      if (e == NULL) return p + strlen(p);
      p = e + 2;
      continue;
    }
    return p;
  }
}

/* The word at p (letters and underscores): its length. */
static size_t word_len(const char *p) {
  size_t n = 0;
  while (isalpha((unsigned char)p[n]) || p[n] == '_') n++;
  return n;
}

static bool word_is(const char *p, size_t n, const char *w) {
  return n == strlen(w) && strncasecmp(p, w, n) == 0;
}

/* For an EXPLAIN statement: the explained statement's text and whether it is run (ANALYZE).
 * Reads only the plain forms, EXPLAIN [ANALYZE | ANALYSE] [VERBOSE] [(option list of words and
 * commas)], and answers NULL (never read-only) for anything else: a comment, a quote or a nested
 * parenthesis before the explained statement. A reading of SQL by hand must fail closed wherever
 * it could disagree with DuckDB's parser (a ')' inside a comment once ended the option list
 * early here and hid an ANALYZE). */
static const char *explained(const char *sql, bool *analyze) {
  const char *p = skip_space_and_comments(sql);
  *analyze = false;
  if (!word_is(p, word_len(p), "EXPLAIN")) return NULL;
  p += strlen("EXPLAIN");
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    size_t n = word_len(p);
    if (word_is(p, n, "ANALYZE") || word_is(p, n, "ANALYSE")) {
      *analyze = true;
      p += n;
    } else if (word_is(p, n, "VERBOSE")) {
      p += n;
    } else if (*p == '(') {
      /* Words, digits and commas only; any ANALYZE in it counts (ANALYZE false too, which only
       * makes the check stricter). */
      for (p++; *p != ')'; p++) {
        if (*p == '\0' ||
            !(isalnum((unsigned char)*p) || *p == '_' || *p == ',' || isspace((unsigned char)*p)))
          return NULL;
        if (strncasecmp(p, "ANALY", 5) == 0) *analyze = true;
      }
      p++;
    } else if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
      return NULL;
    } else {
      return p;
    }
  }
}

/* Functions and tables a query may name and still change what others see, without writing a
 * table: DuckDB's log (turning it on records every user's SQL text, which the log's views then
 * show), and the functions that run SQL given as a string, which no check here could read. */
static const char *const k_side_effect_names[] = {"enable_logging",
                                                  "disable_logging",
                                                  "truncate_duckdb_logs",
                                                  "write_log",
                                                  "duckdb_logs",
                                                  "duckdb_log_contexts",
                                                  "checkpoint",
                                                  "force_checkpoint",
                                                  "query",
                                                  "query_table",
                                                  "json_execute_serialized_sql"};

/* The name of the list that the n bytes at name are (case-insensitively), or NULL. */
static const char *side_effect_name(const char *name, size_t n) {
  for (size_t i = 0; i < sizeof k_side_effect_names / sizeof k_side_effect_names[0]; i++)
    if (word_is(name, n, k_side_effect_names[i])) return k_side_effect_names[i];
  return NULL;
}

/* The first name of k_side_effect_names in json, DuckDB's serialized syntax tree of a query, as
 * a function's or a table's name; NULL when none. */
static const char *named_side_effect(const char *json) {
  static const char *const k_keys[] = {"\"function_name\":\"", "\"table_name\":\""};
  for (size_t k = 0; k < 2; k++) {
    size_t klen = strlen(k_keys[k]);
    for (const char *p = strstr(json, k_keys[k]); p != NULL; p = strstr(p + 1, k_keys[k])) {
      const char *name = p + klen, *e = name;
      bool escaped = false;
      for (; *e != '\0' && *e != '"'; e++) {
        if (*e == '\\' && e[1] != '\0') e++, escaped = true;
      }
      /* DuckDB's JSON escapes only quotes, backslashes and control characters, none of which
       * the names above hold: a name with an escape is none of them. */
      if (escaped) continue;
      const char *hit = side_effect_name(name, (size_t)(e - name));
      if (hit != NULL) return hit;
    }
  }
  return NULL;
}

/* When DuckDB cannot serialize a query (it serializes every SELECT statement today), its text: any
 * of the names as a word anywhere in it, or a Unicode-escaped identifier (U&"..."), counts. */
static const char *text_names_side_effect(const char *sql) {
  for (const char *p = sql; *p != '\0'; p++) {
    if ((p[0] == 'U' || p[0] == 'u') && p[1] == '&') return "a Unicode-escaped name";
    if (!(isalpha((unsigned char)*p) || *p == '_')) continue;
    if (p > sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) continue;
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_') n++;
    const char *hit = side_effect_name(p, n);
    if (hit != NULL) return hit;
    p += n - 1;
  }
  return NULL;
}

/* Which side-effect name (above) a query uses, through DuckDB's own parser
 * (json_serialize_sql); NULL when none. */
static mlr_code query_side_effect(db_conn *conn, const char *sql, const char **name,
                                  mlr_error *err) {
  *name = NULL;
  duckdb_prepared_statement st = NULL;
  duckdb_result res;
  bool have_res = false;
  mlr_code rc = prepare_stmt(conn, "SELECT json_serialize_sql($1::VARCHAR)", &st, err);
  if (rc != MALLARD_OK) return rc;
  if (duckdb_bind_varchar(st, 1, sql) != DuckDBSuccess) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "cannot check the query");
    goto done;
  }
  if (duckdb_execute_prepared(st, &res) != DuckDBSuccess) {
    rc = db_error_from_result(&res, err);
    have_res = true;
    goto done;
  }
  have_res = true;
  char *json = duckdb_value_varchar(&res, 0, 0);
  if (json == NULL) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "cannot check the query");
    goto done;
  }
  static const char k_ok[] = "{\"error\":false,";
  if (strncmp(json, k_ok, sizeof k_ok - 1) == 0)
    *name = named_side_effect(json);
  else
    *name = text_names_side_effect(sql);
  duckdb_free(json);
done:
  if (have_res) duckdb_destroy_result(&res);
  duckdb_destroy_prepare(&st);
  return rc;
}

/* Text of several statements: true when one of them is not a query (so the text would write),
 * false when all are or cannot be told. */
static bool some_statement_writes(db_conn *conn, const char *sql) {
  duckdb_extracted_statements ex = NULL;
  idx_t n = duckdb_extract_statements(conn->con, sql, &ex);
  bool writes = false;
  for (idx_t i = 0; i < n && !writes; i++) {
    duckdb_prepared_statement st = NULL;
    if (duckdb_prepare_extracted_statement(conn->con, ex, i, &st) == DuckDBSuccess)
      writes = duckdb_prepared_statement_type(st) != DUCKDB_STATEMENT_TYPE_SELECT;
    duckdb_destroy_prepare(&st);
  }
  duckdb_destroy_extracted(&ex);
  return writes;
}

static mlr_code read_only_at(db_conn *conn, const char *sql, int depth, bool *read_only,
                             const char **why, mlr_error *err) {
  *read_only = false;
  duckdb_prepared_statement st = NULL;
  mlr_code rc = prepare_stmt(conn, sql, &st, err);
  if (rc != MALLARD_OK) {
    /* Several statements are never allowed; when one of them writes, that is the refusal. */
    if (err != NULL && strstr(err->message, "multiple statements") != NULL &&
        some_statement_writes(conn, sql))
      return MALLARD_OK;
    return rc;
  }
  duckdb_statement_type type = duckdb_prepared_statement_type(st);
  duckdb_destroy_prepare(&st);
  if (type == DUCKDB_STATEMENT_TYPE_SELECT) {
    rc = query_side_effect(conn, sql, why, err);
    if (rc != MALLARD_OK) return rc;
    *read_only = *why == NULL;
  } else if (type == DUCKDB_STATEMENT_TYPE_EXPLAIN && depth < 4) {
    bool analyze = false;
    const char *inner = explained(sql, &analyze);
    if (inner == NULL) return MALLARD_OK;
    if (analyze) return read_only_at(conn, inner, depth + 1, read_only, why, err);
    /* Nothing runs; the explained text must still be a statement of its own (else this
     * reading of the EXPLAIN's prefix was wrong). */
    rc = prepare_stmt(conn, inner, &st, err);
    if (rc != MALLARD_OK) return rc;
    duckdb_destroy_prepare(&st);
    *read_only = true;
  }
  return MALLARD_OK;
}

bool db_sql_starts_like_query(const char *sql) {
  static const char *const words[] = {"SELECT",   "WITH", "FROM",      "VALUES", "TABLE",  "SHOW",
                                      "DESCRIBE", "DESC", "SUMMARIZE", "PIVOT",  "UNPIVOT"};
  const char *p = skip_space_and_comments(sql);
  if (*p == '(') return true;
  size_t n = word_len(p);
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (word_is(p, n, words[i])) return true;
  return false;
}

mlr_code db_sql_is_read_only(db_conn *conn, const char *sql, bool *read_only, const char **why,
                             mlr_error *err) {
  const char *unused = NULL;
  conn->epoch++;
  if (why == NULL) why = &unused;
  *why = NULL;
  return read_only_at(conn, sql, 0, read_only, why, err);
}

/* ---------------------------------------------------------------- prepared statements */

mlr_code db_prepare(db_conn *conn, const char *sql, db_prepared **out, mlr_error *err) {
  conn->epoch++;
  *out = NULL;
  db_prepared *p = calloc(1, sizeof *p);
  if (!p) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  p->conn = conn;
  mlr_code rc = prepare_stmt(conn, sql, &p->stmt, err);
  if (rc) {
    free(p);
    return rc;
  }
  p->nparams = (int64_t)duckdb_nparams(p->stmt);
  if (p->nparams > 0) {
    p->param_names = calloc((size_t)p->nparams, sizeof *p->param_names);
    if (!p->param_names) {
      db_prepared_free(p);
      return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    }
  }
  for (int64_t i = 0; i < p->nparams; i++) {
    char *n = (char *)duckdb_parameter_name(p->stmt, (idx_t)i + 1);
    const char *c = n;
    while (c && *c >= '0' && *c <= '9') c++;
    /* DuckDB names positional parameters "1", "2", ...: those are not names. */
    if (n && *c != '\0') p->param_names[i] = strdup(n);
    if (n) duckdb_free(n);
  }
  *out = p;
  return MALLARD_OK;
}

bool db_prepared_is_query(const db_prepared *p) {
  return p != NULL && duckdb_prepared_statement_type(p->stmt) == DUCKDB_STATEMENT_TYPE_SELECT;
}

void db_prepared_free(db_prepared *p) {
  if (!p) return;
  if (p->stmt) duckdb_destroy_prepare(&p->stmt);
  for (int64_t i = 0; i < p->nparams && p->param_names; i++) free(p->param_names[i]);
  free(p->param_names);
  free(p);
}

int64_t db_prepared_param_count(db_prepared *p) {
  return (int64_t)duckdb_nparams(p->stmt);
}

const char *db_prepared_param_name(db_prepared *p, int64_t i) {
  if (i < 0 || i >= p->nparams) return NULL;
  return p->param_names[i];
}

static mlr_code param_index(db_prepared *p, const char *name, idx_t *idx, mlr_error *err) {
  if (!name || duckdb_bind_parameter_index(p->stmt, idx, name) != DuckDBSuccess)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unknown parameter '%s'",
                         name ? name : "(null)");
  return MALLARD_OK;
}

static mlr_code bind_done(duckdb_state s, const char *name, mlr_error *err) {
  if (s != DuckDBSuccess)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot bind parameter '%s'", name);
  return MALLARD_OK;
}

mlr_code db_prepared_bind_null(db_prepared *p, const char *name, mlr_error *err) {
  idx_t i;
  MLR_RETURN_NOT_OK(param_index(p, name, &i, err));
  return bind_done(duckdb_bind_null(p->stmt, i), name, err);
}

mlr_code db_prepared_bind_bool(db_prepared *p, const char *name, bool v, mlr_error *err) {
  idx_t i;
  MLR_RETURN_NOT_OK(param_index(p, name, &i, err));
  return bind_done(duckdb_bind_boolean(p->stmt, i, v), name, err);
}

mlr_code db_prepared_bind_int64(db_prepared *p, const char *name, int64_t v, mlr_error *err) {
  idx_t i;
  MLR_RETURN_NOT_OK(param_index(p, name, &i, err));
  return bind_done(duckdb_bind_int64(p->stmt, i, v), name, err);
}

mlr_code db_prepared_bind_double(db_prepared *p, const char *name, double v, mlr_error *err) {
  idx_t i;
  MLR_RETURN_NOT_OK(param_index(p, name, &i, err));
  return bind_done(duckdb_bind_double(p->stmt, i, v), name, err);
}

mlr_code db_prepared_bind_varchar(db_prepared *p, const char *name, const char *v, mlr_error *err) {
  idx_t i;
  MLR_RETURN_NOT_OK(param_index(p, name, &i, err));
  return bind_done(v ? duckdb_bind_varchar(p->stmt, i, v) : duckdb_bind_null(p->stmt, i), name,
                   err);
}

mlr_code db_prepared_schema(db_prepared *p, struct ArrowSchema *out, mlr_error *err) {
  idx_t n = duckdb_prepared_statement_column_count(p->stmt);
  mlr_code rc = MALLARD_OK;
  duckdb_logical_type *types = calloc(n ? n : 1, sizeof *types);
  char **names = calloc(n ? n : 1, sizeof *names);
  if (!types || !names) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  for (idx_t i = 0; i < n; i++) {
    types[i] = duckdb_prepared_statement_column_logical_type(p->stmt, i);
    names[i] = (char *)duckdb_prepared_statement_column_name(p->stmt, i);
  }
  for (idx_t i = 0; i < n; i++) {
    if (duckdb_get_type_id(types[i]) == DUCKDB_TYPE_INVALID &&
        duckdb_prepared_statement_type(p->stmt) == DUCKDB_STATEMENT_TYPE_SELECT) {
      /* DuckDB binds statements whose shape depends on parameter values (range($n)) only
       * when they run: start the (streaming, read-only) query with the bound values and take
       * its schema. */
      db_query *q = NULL;
      if ((rc = db_query_from_stmt(p->conn, p->stmt, false, NULL, &q, err))) goto cleanup;
      rc = db_query_schema(q, out, err);
      db_query_free(q);
      goto cleanup;
    }
    if (duckdb_get_type_id(types[i]) == DUCKDB_TYPE_INVALID) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "column %llu '%s': its type depends on a parameter; cast the parameter "
                         "($name::TYPE)",
                         (unsigned long long)i + 1, names[i] ? names[i] : "");
      goto cleanup;
    }
  }
  rc = make_schema(p->conn, types, names, n, out, err);
  /* The same rewrite db_query_schema does, so both describe the batches actually sent. */
  if (!rc && db_coalesce_supported(out)) db_arrow_schema_unbool8(out);
cleanup:
  for (idx_t i = 0; i < n && types && names; i++) {
    if (types[i]) duckdb_destroy_logical_type(&types[i]);
    if (names[i]) duckdb_free(names[i]);
  }
  free(types);
  free(names);
  return rc;
}

mlr_code db_prepared_query(db_prepared *p, const db_query_options *opts, db_query **out,
                           mlr_error *err) {
  return db_query_from_stmt(p->conn, p->stmt, false, opts, out, err);
}
