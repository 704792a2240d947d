/* The DuckDB adapter's core: database and connection lifetimes, statement execution, DuckDB
 * error -> status mapping, identifier/literal quoting and the table catalog helpers. */
#include "db/db_internal.h"

#include "common/mlr_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- errors */

mlr_code db_map_error_type(duckdb_error_type type, const char *msg) {
  switch (type) {
  case DUCKDB_ERROR_CATALOG:
    /* NOT_FOUND / ALREADY_EXISTS name tables (and their schemas and databases); an unknown
     * function or type, or a duplicate column, is a mistake in the statement. */
    if (msg && (strstr(msg, "Table with name") || strstr(msg, "View with name") ||
                strstr(msg, "Schema with name") || strstr(msg, "Catalog with name"))) {
      if (strstr(msg, "already exists")) return MALLARD_ALREADY_EXISTS;
      if (strstr(msg, "does not exist") || strstr(msg, "not found")) return MALLARD_NOT_FOUND;
    }
    return MALLARD_INVALID_ARGUMENT;
  case DUCKDB_ERROR_PERMISSION: /* e.g. file access with enable_external_access off */
    return MALLARD_PERMISSION_DENIED;
  case DUCKDB_ERROR_TRANSACTION:
    /* Two transactions wrote the same rows: retrying may succeed. A write in a read-only
     * transaction (a reader's query: nextval) is not allowed. Else a misuse (COMMIT with no
     * transaction open, ...). */
    if (msg && strstr(msg, "onflict")) return MALLARD_ABORTED;
    if (msg && strstr(msg, "read-only mode")) return MALLARD_PERMISSION_DENIED;
    /* The server could not write its log or database at COMMIT (permissions, a full disk):
     * nothing the client did wrong. */
    if (msg && strstr(msg, "Failed to commit")) return MALLARD_INTERNAL;
    return MALLARD_INVALID_ARGUMENT;
  case DUCKDB_ERROR_OUT_OF_MEMORY:
    return MALLARD_RESOURCE_EXHAUSTED;
  case DUCKDB_ERROR_INTERRUPT:
    return MALLARD_CANCELLED;
  /* Errors caused by the statement or its data, not by the server. */
  case DUCKDB_ERROR_PARSER:
  case DUCKDB_ERROR_SYNTAX:
  case DUCKDB_ERROR_BINDER:
  case DUCKDB_ERROR_CONVERSION:
  case DUCKDB_ERROR_CONSTRAINT:
  case DUCKDB_ERROR_OUT_OF_RANGE:
  case DUCKDB_ERROR_DECIMAL:
  case DUCKDB_ERROR_MISMATCH_TYPE:
  case DUCKDB_ERROR_DIVIDE_BY_ZERO:
  case DUCKDB_ERROR_INVALID_INPUT:
  case DUCKDB_ERROR_INVALID_TYPE:
  case DUCKDB_ERROR_UNKNOWN_TYPE:
  case DUCKDB_ERROR_PARAMETER_NOT_RESOLVED:
  case DUCKDB_ERROR_PARAMETER_NOT_ALLOWED:
  case DUCKDB_ERROR_DEPENDENCY:
    return MALLARD_INVALID_ARGUMENT;
  default:
    return MALLARD_INTERNAL;
  }
}

/* DuckDB formats errors as "<Type> Error: <message>"; used where only the text is available. */
static const struct {
  const char *prefix;
  duckdb_error_type type;
} k_error_prefixes[] = {
    {"Parser Error", DUCKDB_ERROR_PARSER},
    {"Syntax Error", DUCKDB_ERROR_SYNTAX},
    {"Binder Error", DUCKDB_ERROR_BINDER},
    {"Catalog Error", DUCKDB_ERROR_CATALOG},
    {"Conversion Error", DUCKDB_ERROR_CONVERSION},
    {"Constraint Error", DUCKDB_ERROR_CONSTRAINT},
    {"Out of Memory Error", DUCKDB_ERROR_OUT_OF_MEMORY},
    {"INTERRUPT Error", DUCKDB_ERROR_INTERRUPT},
    {"Interrupt Error", DUCKDB_ERROR_INTERRUPT},
    {"Invalid Input Error", DUCKDB_ERROR_INVALID_INPUT},
    {"Out of Range Error", DUCKDB_ERROR_OUT_OF_RANGE},
    {"Invalid Error", DUCKDB_ERROR_INVALID},
    {"Mismatch Type Error", DUCKDB_ERROR_MISMATCH_TYPE},
    {"Dependency Error", DUCKDB_ERROR_DEPENDENCY},
    {"TransactionContext Error", DUCKDB_ERROR_TRANSACTION},
    {"Permission Error", DUCKDB_ERROR_PERMISSION},
    {"Transaction Error", DUCKDB_ERROR_TRANSACTION},
    {"Parameter Not Resolved Error", DUCKDB_ERROR_PARAMETER_NOT_RESOLVED},
    {"Parameter Not Allowed Error", DUCKDB_ERROR_PARAMETER_NOT_ALLOWED},
};

mlr_code db_map_error_message(const char *msg) {
  if (!msg) return MALLARD_INTERNAL;
  for (size_t i = 0; i < sizeof k_error_prefixes / sizeof k_error_prefixes[0]; i++) {
    size_t n = strlen(k_error_prefixes[i].prefix);
    if (strncasecmp(msg, k_error_prefixes[i].prefix, n) == 0)
      return db_map_error_type(k_error_prefixes[i].type, msg);
  }
  return MALLARD_INTERNAL;
}

/* Some DuckDB errors (e.g. from the Arrow conversion functions) carry their message as JSON
 * ({"exception_type":"...","exception_message":"..."}): keep the message only. */
static const char *clean_message(const char *msg, char *buf, size_t size) {
  static const char key[] = "\"exception_message\":\"";
  const char *p;
  if (!msg || msg[0] != '{' || !(p = strstr(msg, key))) return msg;
  p += sizeof key - 1;
  size_t n = 0;
  for (; *p && *p != '"' && n + 1 < size; p++) {
    if (*p == '\\' && p[1]) p++;
    buf[n++] = *p;
  }
  buf[n] = '\0';
  return buf;
}

mlr_code db_error_set(mlr_error *err, mlr_code code, const char *msg, const char *fallback) {
  if (msg == NULL) return mlr_error_set(err, code, "%s", fallback);
  mlr_error_set(err, code, "%s", msg);
  if (err == NULL) return code;
  /* An INTERNAL error carries DuckDB's native stack trace: library paths and load addresses
   * are nothing a client can act on, and they tell it where the server's code lies in memory.
   * The server logs the message as the client sees it. */
  char *trace = strstr(err->message, "\n\nStack Trace:");
  if (trace == NULL && strncmp(err->message, "Stack Trace:", 12) == 0) trace = err->message;
  if (trace != NULL) *trace = '\0';
  /* DuckDB 1.4 repeats a parser error's "LINE n: ... ^" context: keep it once. */
  char *first = strstr(err->message, "\n\nLINE ");
  char *second = first != NULL ? strstr(first + 2, "\n\nLINE ") : NULL;
  /* The text from `first` is the same block twice exactly when it splits in equal halves. */
  if (second != NULL && strlen(first) == 2 * strlen(second) &&
      strncmp(first, second, strlen(second)) == 0)
    *second = '\0';
  return code;
}

mlr_code db_error_from_result(duckdb_result *res, mlr_error *err) {
  const char *msg = duckdb_result_error(res);
  duckdb_error_type t = duckdb_result_error_type(res);
  mlr_code code = db_map_error_type(t, msg);
  if (code == MALLARD_INTERNAL && t == DUCKDB_ERROR_INVALID) code = db_map_error_message(msg);
  return db_error_set(err, code, msg, "DuckDB error");
}

mlr_code db_error_from_data(duckdb_error_data ed, mlr_error *err) {
  char buf[MALLARD_ERROR_MESSAGE_SIZE];
  const char *msg = clean_message(duckdb_error_data_message(ed), buf, sizeof buf);
  return db_error_set(err, db_map_error_type(duckdb_error_data_error_type(ed), msg), msg,
                      "DuckDB error");
}

mlr_code db_exec_internal(duckdb_connection con, const char *sql, mlr_error *err) {
  duckdb_result res;
  mlr_code rc = MALLARD_OK;
  if (duckdb_query(con, sql, &res) != DuckDBSuccess) rc = db_error_from_result(&res, err);
  duckdb_destroy_result(&res);
  return rc;
}

/* ---------------------------------------------------------------- database, connections */

/* DuckDB stores an in-memory database uncompressed unless it is attached with COMPRESS, and 1.4
 * has no open option for it. So the default database `memory` is swapped, before any other
 * connection exists, for a compressed in-memory database of the same name: every connection
 * still starts in `memory`.main, and current_database(), qualified names (memory.main.t) and
 * the catalog read exactly as before. The swap needs a third database to stand on while
 * `memory` is detached. */
static mlr_code compress_default_database(duckdb_database dbh, mlr_error *err) {
  /* The last step keeps commits from checkpointing (db_compact.c does it instead). The
   * database has no WAL for the threshold to bound. */
  static const char *const k_steps[] = {
      "ATTACH ':memory:' AS mallard_boot",         "USE mallard_boot", "DETACH memory",
      "ATTACH ':memory:' AS memory (COMPRESS)",    "USE memory",       "DETACH mallard_boot",
      "SET GLOBAL checkpoint_threshold = '1000TB'"};
  duckdb_connection con = NULL;
  mlr_code rc = MALLARD_OK;
  if (duckdb_connect(dbh, &con) != DuckDBSuccess)
    return mlr_error_set(err, MALLARD_UNAVAILABLE, "cannot connect to the DuckDB database");
  for (size_t i = 0; i < sizeof k_steps / sizeof k_steps[0] && rc == MALLARD_OK; i++)
    rc = db_exec_internal(con, k_steps[i], err);
  if (rc != MALLARD_OK) mlr_error_prefix(err, "compressed in-memory database: ");
  duckdb_disconnect(&con);
  return rc;
}

mlr_code db_open(const db_options *opts, db_database **out, mlr_error *err) {
  db_options defaults = {0};
  if (!opts) opts = &defaults;
  *out = NULL;
  mlr_code rc = MALLARD_OK;
  duckdb_config config = NULL;
  char *open_err = NULL;
  char buf[32];
  db_database *db = calloc(1, sizeof *db);
  if (!db) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  const char *path = opts->path && opts->path[0] ? opts->path : ":memory:";
  db->persistent = strcmp(path, ":memory:") != 0 && !opts->read_only;
  if (duckdb_create_config(&config) != DuckDBSuccess) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot create DuckDB config");
    goto cleanup;
  }
  if (opts->threads > 0) {
    snprintf(buf, sizeof buf, "%d", opts->threads);
    if (duckdb_set_config(config, "threads", buf) != DuckDBSuccess) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid thread count %d", opts->threads);
      goto cleanup;
    }
  }
  if (opts->memory_limit && opts->memory_limit[0] &&
      duckdb_set_config(config, "memory_limit", opts->memory_limit) != DuckDBSuccess) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid memory limit '%s'",
                       opts->memory_limit);
    goto cleanup;
  }
  if (opts->read_only && duckdb_set_config(config, "access_mode", "READ_ONLY") != DuckDBSuccess) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "cannot set DuckDB access_mode");
    goto cleanup;
  }
  /* Type fidelity through Arrow (see docs/types.md and db_options.arrow_lossless). */
  if (duckdb_set_config(config, "arrow_lossless_conversion",
                        opts->arrow_lossless ? "true" : "false") != DuckDBSuccess) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "cannot set arrow_lossless_conversion");
    goto cleanup;
  }
  if (duckdb_open_ext(path, &db->db, config, &open_err) != DuckDBSuccess) {
    rc = mlr_error_set(err, MALLARD_UNAVAILABLE, "cannot open database '%s': %s", path,
                       open_err ? open_err : "unknown error");
    goto cleanup;
  }
  if (strcmp(path, ":memory:") == 0 && !opts->read_only && opts->compress &&
      (rc = compress_default_database(db->db, err)) != MALLARD_OK)
    goto cleanup;
  db->compressed = strcmp(path, ":memory:") == 0 && !opts->read_only && opts->compress;
  if (db->compressed && (rc = db_compactor_start(db, err)) != MALLARD_OK) goto cleanup;
  *out = db;
  db = NULL;
cleanup:
  if (open_err) duckdb_free(open_err);
  if (config) duckdb_destroy_config(&config);
  if (db && db->db) duckdb_close(&db->db);
  free(db);
  return rc;
}

void db_close(db_database *db) {
  if (!db) return;
  db_compactor_stop(db);
  if (db->persistent) {
    duckdb_connection con;
    if (duckdb_connect(db->db, &con) == DuckDBSuccess) {
      (void)db_exec_internal(con, "CHECKPOINT", NULL);
      duckdb_disconnect(&con);
    }
  }
  duckdb_close(&db->db);
  free(db);
}

mlr_code db_connect(db_database *db, db_conn **out, mlr_error *err) {
  *out = NULL;
  db_conn *c = calloc(1, sizeof *c);
  if (!c) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  c->db = db;
  if (duckdb_connect(db->db, &c->con) != DuckDBSuccess) {
    free(c);
    return mlr_error_set(err, MALLARD_UNAVAILABLE, "cannot connect to the DuckDB database");
  }
  duckdb_connection_get_arrow_options(c->con, &c->arrow_opts);
  *out = c;
  return MALLARD_OK;
}

void db_disconnect(db_conn *conn) {
  if (!conn) return;
  if (conn->in_transaction) (void)db_exec_internal(conn->con, "ROLLBACK", NULL);
  if (conn->arrow_opts) duckdb_destroy_arrow_options(&conn->arrow_opts);
  duckdb_disconnect(&conn->con);
  free(conn);
}

void db_conn_interrupt(db_conn *conn) {
  if (conn) duckdb_interrupt(conn->con);
}

/* The rows a statement's result reports: changed rows, or the count CREATE TABLE ... AS wrote
 * (a one-row "Count" column, not changed rows to DuckDB). */
static int64_t result_rows(duckdb_result *res) {
  int64_t n = (int64_t)duckdb_rows_changed(res);
  if (n == 0 && duckdb_result_statement_type(*res) == DUCKDB_STATEMENT_TYPE_CREATE &&
      duckdb_column_count(res) == 1 && duckdb_column_type(res, 0) == DUCKDB_TYPE_BIGINT &&
      strcmp(duckdb_column_name(res, 0), "Count") == 0) {
    duckdb_data_chunk chunk = duckdb_fetch_chunk(*res);
    if (chunk != NULL) {
      if (duckdb_data_chunk_get_size(chunk) == 1) {
        const int64_t *v = duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 0));
        if (v[0] > 0) n = v[0];
      }
      duckdb_destroy_data_chunk(&chunk);
    }
  }
  return n;
}

mlr_code db_execute(db_conn *conn, const char *sql, int64_t *rows_changed, mlr_error *err) {
  conn->epoch++;
  mlr_code rc = MALLARD_OK;
  int64_t total = 0;
  if (rows_changed) *rows_changed = 0;
  /* Statement by statement (each prepared once the ones before it ran), as duckdb_query does,
   * so that the rows of every statement are counted, not only the last one's. */
  duckdb_extracted_statements ex = NULL;
  idx_t n = duckdb_extract_statements(conn->con, sql, &ex);
  if (n == 0) {
    const char *m = duckdb_extract_statements_error(ex);
    rc = m != NULL ? db_error_set(err, db_map_error_message(m), m, "no statement")
                   : mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "no statement to run");
  }
  /* Several statements run as one transaction (all or nothing), unless one is already open. */
  bool own_txn = n > 1 && !conn->in_transaction;
  if (own_txn) rc = db_exec_internal(conn->con, "BEGIN TRANSACTION", err);
  for (idx_t i = 0; i < n && rc == MALLARD_OK; i++) {
    duckdb_prepared_statement st = NULL;
    if (duckdb_prepare_extracted_statement(conn->con, ex, i, &st) != DuckDBSuccess) {
      const char *m = duckdb_prepare_error(st);
      rc = db_error_set(err, db_map_error_message(m), m, "prepare failed");
    } else if (n > 1 && duckdb_prepared_statement_type(st) == DUCKDB_STATEMENT_TYPE_TRANSACTION) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "statement %llu of %llu is BEGIN, COMMIT or ROLLBACK: several statements "
                         "run as one transaction already (all or nothing), leave them out",
                         (unsigned long long)i + 1, (unsigned long long)n);
    } else {
      duckdb_result res;
      if (duckdb_execute_prepared(st, &res) != DuckDBSuccess)
        rc = db_error_from_result(&res, err);
      else
        total += result_rows(&res);
      duckdb_destroy_result(&res);
    }
    duckdb_destroy_prepare(&st);
  }
  duckdb_destroy_extracted(&ex);
  if (own_txn && rc == MALLARD_OK) rc = db_exec_internal(conn->con, "COMMIT", err);
  if (own_txn && rc != MALLARD_OK) (void)db_exec_internal(conn->con, "ROLLBACK", NULL);
  if (rc == MALLARD_OK && rows_changed) *rows_changed = total;
  if (rc == MALLARD_OK) db_compact_request(conn->db);
  return rc;
}

/* ---------------------------------------------------------------- quoting */

static char *quote_with(const char *s, char q) {
  if (!s) s = "";
  size_t n = strlen(s), extra = 0;
  for (size_t i = 0; i < n; i++) extra += s[i] == q;
  if (n > SIZE_MAX / 2 - 3) return NULL;
  char *out = malloc(n + extra + 3);
  if (!out) return NULL;
  char *p = out;
  *p++ = q;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == q) *p++ = q;
    *p++ = s[i];
  }
  *p++ = q;
  *p = '\0';
  return out;
}

char *db_quote_identifier(const char *name) {
  return quote_with(name, '"');
}

char *db_quote_literal(const char *value) {
  return quote_with(value, '\'');
}

char *db_qualified_name(const char *schema, const char *table) {
  char *qt = db_quote_identifier(table), *qs = NULL, *out = NULL;
  if (!qt) return NULL;
  if (!schema || !schema[0]) return qt;
  qs = db_quote_identifier(schema);
  if (qs) {
    size_t n = strlen(qs) + strlen(qt) + 2;
    out = malloc(n);
    if (out) snprintf(out, n, "%s.%s", qs, qt);
  }
  free(qs);
  free(qt);
  return out;
}

/* ---------------------------------------------------------------- catalog */

static mlr_code prepare(db_conn *conn, const char *sql, duckdb_prepared_statement *st,
                        mlr_error *err) {
  if (duckdb_prepare(conn->con, sql, st) != DuckDBSuccess) {
    const char *m = duckdb_prepare_error(*st);
    mlr_code rc = db_error_set(err, db_map_error_message(m), m, "prepare failed");
    duckdb_destroy_prepare(st);
    return rc;
  }
  return MALLARD_OK;
}

static mlr_code bind_text_or_null(duckdb_prepared_statement st, idx_t i, const char *v,
                                  mlr_error *err) {
  duckdb_state s = v ? duckdb_bind_varchar(st, i, v) : duckdb_bind_null(st, i);
  if (s != DuckDBSuccess)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot bind parameter %llu",
                         (unsigned long long)i);
  return MALLARD_OK;
}

mlr_code db_table_exists(db_conn *conn, const char *schema, const char *table, bool *exists,
                         mlr_error *err) {
  conn->epoch++;
  duckdb_prepared_statement st = NULL;
  duckdb_result res;
  bool have_res = false;
  *exists = false;
  /* Identifiers are case-insensitive in DuckDB, hence lower() on both sides. */
  mlr_code rc = prepare(conn,
                        "SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                        "current_database() AND lower(schema_name) = lower(coalesce($1, "
                        "current_schema())) AND lower(table_name) = lower($2)",
                        &st, err);
  if (rc) return rc;
  if ((rc = bind_text_or_null(st, 1, schema && schema[0] ? schema : NULL, err))) goto cleanup;
  if ((rc = bind_text_or_null(st, 2, table, err))) goto cleanup;
  have_res = true;
  if (duckdb_execute_prepared(st, &res) != DuckDBSuccess) {
    rc = db_error_from_result(&res, err);
    goto cleanup;
  }
  *exists = duckdb_value_int64(&res, 0, 0) > 0;
cleanup:
  if (have_res) duckdb_destroy_result(&res);
  duckdb_destroy_prepare(&st);
  return rc;
}

mlr_code db_table_schema(db_conn *conn, const char *schema, const char *table,
                         struct ArrowSchema *out, mlr_error *err) {
  char *q = db_qualified_name(schema, table);
  if (!q) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  size_t n = strlen(q) + 32;
  char *sql = malloc(n);
  mlr_code rc;
  if (!sql) {
    free(q);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  snprintf(sql, n, "SELECT * FROM %s", q);
  rc = db_query_schema_only(conn, sql, out, err);
  free(sql);
  free(q);
  return rc;
}

mlr_code db_table_row_count(db_conn *conn, const char *schema, const char *table, int64_t *rows,
                            mlr_error *err) {
  conn->epoch++;
  char *q = db_qualified_name(schema, table);
  duckdb_result res;
  mlr_code rc = MALLARD_OK;
  *rows = 0;
  if (!q) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  size_t n = strlen(q) + 40;
  char *sql = malloc(n);
  if (!sql) {
    free(q);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  snprintf(sql, n, "SELECT count(*) FROM %s", q);
  if (duckdb_query(conn->con, sql, &res) != DuckDBSuccess)
    rc = db_error_from_result(&res, err);
  else
    *rows = duckdb_value_int64(&res, 0, 0);
  duckdb_destroy_result(&res);
  free(sql);
  free(q);
  return rc;
}

void db_table_list_free(db_table_list *list) {
  if (!list) return;
  for (int64_t i = 0; i < list->count; i++) {
    free(list->items[i].schema);
    free(list->items[i].table);
  }
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

mlr_code db_list_tables(db_conn *conn, const char *like_pattern, db_table_list *out,
                        mlr_error *err) {
  conn->epoch++;
  duckdb_prepared_statement st = NULL;
  duckdb_result res;
  bool have_res = false;
  out->items = NULL;
  out->count = 0;
  mlr_code rc = prepare(conn,
                        "SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                        "database_name = current_database() AND NOT temporary AND "
                        "($1::VARCHAR IS NULL OR table_name LIKE $1) ORDER BY 1, 2",
                        &st, err);
  if (rc) return rc;
  if ((rc = bind_text_or_null(st, 1, like_pattern, err))) goto cleanup;
  have_res = true;
  if (duckdb_execute_prepared(st, &res) != DuckDBSuccess) {
    rc = db_error_from_result(&res, err);
    goto cleanup;
  }
  idx_t n = duckdb_row_count(&res);
  if (n > 0) {
    out->items = calloc(n, sizeof *out->items);
    if (!out->items) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
  }
  for (idx_t i = 0; i < n; i++) {
    char *s = duckdb_value_varchar(&res, 0, i), *t = duckdb_value_varchar(&res, 1, i);
    db_table_entry *e = &out->items[out->count];
    e->schema = s ? strdup(s) : NULL;
    e->table = t ? strdup(t) : NULL;
    if (s) duckdb_free(s);
    if (t) duckdb_free(t);
    out->count++;
    if (!e->schema || !e->table) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
    /* Exact count rather than duckdb_tables().estimated_size, which is an estimate. */
    if ((rc = db_table_row_count(conn, e->schema, e->table, &e->rows, err))) goto cleanup;
  }
cleanup:
  if (rc) db_table_list_free(out);
  if (have_res) duckdb_destroy_result(&res);
  duckdb_destroy_prepare(&st);
  return rc;
}

mlr_code db_drop_table(db_conn *conn, const char *schema, const char *table, mlr_error *err) {
  conn->epoch++;
  char *q = db_qualified_name(schema, table);
  if (!q) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  size_t n = strlen(q) + 16;
  char *sql = malloc(n);
  mlr_code rc;
  if (!sql) {
    free(q);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  snprintf(sql, n, "DROP TABLE %s", q);
  rc = db_exec_internal(conn->con, sql, err);
  if (rc == MALLARD_OK) db_compact_request(conn->db);
  free(sql);
  free(q);
  return rc;
}

/* ---------------------------------------------------------------- logical type -> SQL */

/* SQL text is built with the shared growable string (src/common/mlr_json.h). */

static void sb_add_quoted(mlr_strbuf *b, const char *s, char q) {
  mlr_strbuf_append_owned(b, quote_with(s, q));
}

static bool type_sql(mlr_strbuf *b, duckdb_logical_type t) {
  char tmp[64];
  duckdb_type id = duckdb_get_type_id(t);
  switch (id) {
  case DUCKDB_TYPE_BOOLEAN:
    mlr_strbuf_append_str(b, "BOOLEAN");
    return true;
  case DUCKDB_TYPE_TINYINT:
    mlr_strbuf_append_str(b, "TINYINT");
    return true;
  case DUCKDB_TYPE_SMALLINT:
    mlr_strbuf_append_str(b, "SMALLINT");
    return true;
  case DUCKDB_TYPE_INTEGER:
    mlr_strbuf_append_str(b, "INTEGER");
    return true;
  case DUCKDB_TYPE_BIGINT:
    mlr_strbuf_append_str(b, "BIGINT");
    return true;
  case DUCKDB_TYPE_UTINYINT:
    mlr_strbuf_append_str(b, "UTINYINT");
    return true;
  case DUCKDB_TYPE_USMALLINT:
    mlr_strbuf_append_str(b, "USMALLINT");
    return true;
  case DUCKDB_TYPE_UINTEGER:
    mlr_strbuf_append_str(b, "UINTEGER");
    return true;
  case DUCKDB_TYPE_UBIGINT:
    mlr_strbuf_append_str(b, "UBIGINT");
    return true;
  case DUCKDB_TYPE_HUGEINT:
    mlr_strbuf_append_str(b, "HUGEINT");
    return true;
  case DUCKDB_TYPE_UHUGEINT:
    mlr_strbuf_append_str(b, "UHUGEINT");
    return true;
  case DUCKDB_TYPE_FLOAT:
    mlr_strbuf_append_str(b, "FLOAT");
    return true;
  case DUCKDB_TYPE_DOUBLE:
    mlr_strbuf_append_str(b, "DOUBLE");
    return true;
  case DUCKDB_TYPE_VARCHAR: {
    /* JSON is a VARCHAR with an alias; a JSON column must read as JSON (a stream's arrow.json
     * column is JSON, and the two must match on append). */
    char *alias = duckdb_logical_type_get_alias(t);
    bool json = alias != NULL && strcasecmp(alias, "JSON") == 0;
    if (alias != NULL) duckdb_free(alias);
    mlr_strbuf_append_str(b, json ? "JSON" : "VARCHAR");
    return true;
  }
  case DUCKDB_TYPE_BLOB:
    mlr_strbuf_append_str(b, "BLOB");
    return true;
  case DUCKDB_TYPE_BIT:
    mlr_strbuf_append_str(b, "BIT");
    return true;
  case DUCKDB_TYPE_DATE:
    mlr_strbuf_append_str(b, "DATE");
    return true;
  case DUCKDB_TYPE_TIME:
    mlr_strbuf_append_str(b, "TIME");
    return true;
  case DUCKDB_TYPE_TIME_TZ:
    mlr_strbuf_append_str(b, "TIME WITH TIME ZONE");
    return true;
  case DUCKDB_TYPE_TIMESTAMP:
    mlr_strbuf_append_str(b, "TIMESTAMP");
    return true;
  case DUCKDB_TYPE_TIMESTAMP_S:
    mlr_strbuf_append_str(b, "TIMESTAMP_S");
    return true;
  case DUCKDB_TYPE_TIMESTAMP_MS:
    mlr_strbuf_append_str(b, "TIMESTAMP_MS");
    return true;
  case DUCKDB_TYPE_TIMESTAMP_NS:
    mlr_strbuf_append_str(b, "TIMESTAMP_NS");
    return true;
  case DUCKDB_TYPE_TIMESTAMP_TZ:
    mlr_strbuf_append_str(b, "TIMESTAMP WITH TIME ZONE");
    return true;
  case DUCKDB_TYPE_INTERVAL:
    mlr_strbuf_append_str(b, "INTERVAL");
    return true;
  case DUCKDB_TYPE_UUID:
    mlr_strbuf_append_str(b, "UUID");
    return true;
  case DUCKDB_TYPE_BIGNUM:
    mlr_strbuf_append_str(b, "BIGNUM");
    return true;
  case DUCKDB_TYPE_TIME_NS:
    mlr_strbuf_append_str(b, "TIME_NS");
    return true;
  case DUCKDB_TYPE_SQLNULL:
    mlr_strbuf_append_str(b, "\"NULL\"");
    return true;
  case DUCKDB_TYPE_DECIMAL:
    snprintf(tmp, sizeof tmp, "DECIMAL(%u,%u)", (unsigned)duckdb_decimal_width(t),
             (unsigned)duckdb_decimal_scale(t));
    mlr_strbuf_append_str(b, tmp);
    return true;
  case DUCKDB_TYPE_ENUM: {
    uint32_t n = duckdb_enum_dictionary_size(t);
    mlr_strbuf_append_str(b, "ENUM(");
    for (uint32_t i = 0; i < n; i++) {
      char *v = duckdb_enum_dictionary_value(t, i);
      if (i) mlr_strbuf_append_str(b, ", ");
      sb_add_quoted(b, v ? v : "", '\'');
      if (v) duckdb_free(v);
    }
    mlr_strbuf_append_str(b, ")");
    return true;
  }
  case DUCKDB_TYPE_LIST: {
    duckdb_logical_type c = duckdb_list_type_child_type(t);
    bool ok = type_sql(b, c);
    duckdb_destroy_logical_type(&c);
    mlr_strbuf_append_str(b, "[]");
    return ok;
  }
  case DUCKDB_TYPE_ARRAY: {
    duckdb_logical_type c = duckdb_array_type_child_type(t);
    bool ok = type_sql(b, c);
    duckdb_destroy_logical_type(&c);
    snprintf(tmp, sizeof tmp, "[%llu]", (unsigned long long)duckdb_array_type_array_size(t));
    mlr_strbuf_append_str(b, tmp);
    return ok;
  }
  case DUCKDB_TYPE_MAP: {
    duckdb_logical_type k = duckdb_map_type_key_type(t), v = duckdb_map_type_value_type(t);
    mlr_strbuf_append_str(b, "MAP(");
    bool ok = type_sql(b, k);
    mlr_strbuf_append_str(b, ", ");
    ok = ok && type_sql(b, v);
    mlr_strbuf_append_str(b, ")");
    duckdb_destroy_logical_type(&k);
    duckdb_destroy_logical_type(&v);
    return ok;
  }
  case DUCKDB_TYPE_STRUCT:
  case DUCKDB_TYPE_UNION: {
    bool is_union = id == DUCKDB_TYPE_UNION;
    idx_t n = is_union ? duckdb_union_type_member_count(t) : duckdb_struct_type_child_count(t);
    bool ok = true;
    mlr_strbuf_append_str(b, is_union ? "UNION(" : "STRUCT(");
    for (idx_t i = 0; i < n && ok; i++) {
      char *name =
          is_union ? duckdb_union_type_member_name(t, i) : duckdb_struct_type_child_name(t, i);
      duckdb_logical_type c =
          is_union ? duckdb_union_type_member_type(t, i) : duckdb_struct_type_child_type(t, i);
      if (i) mlr_strbuf_append_str(b, ", ");
      sb_add_quoted(b, name ? name : "", '"');
      mlr_strbuf_append_str(b, " ");
      ok = type_sql(b, c);
      if (name) duckdb_free(name);
      duckdb_destroy_logical_type(&c);
    }
    mlr_strbuf_append_str(b, ")");
    return ok;
  }
  default:
    return false;
  }
}

char *db_logical_type_sql(duckdb_logical_type t) {
  mlr_strbuf b = {0};
  if (!type_sql(&b, t) || b.oom) {
    free(b.data);
    return NULL;
  }
  return b.data;
}
