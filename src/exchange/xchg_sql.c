/* SQL exchangers: the query runs on a table `input` private to the exchange, refilled per batch
 * (mode batch) or filled with the whole stream and queried once (mode stream_end, the data staying
 * in DuckDB). Params are bound as named parameters, never pasted into SQL.
 *
 * Where `input` lives: each exchange ATTACHes its own in-memory database and makes it the
 * connection's default (USE), with the server's database next on the search path. So `input`
 * is invisible to other sessions, shadows nothing of the user's, the user's tables stay readable
 * unqualified, and db_ingest (which looks tables up in the current database) can fill it. A
 * TEMP table would do for the query, but db_ingest cannot see temp tables. */
#include "exchange/xchg_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mlr_code named(const char *name, mlr_code rc, mlr_error *err) {
  if (rc != MALLARD_OK) mlr_error_prefix(err, "exchanger '%s': ", name);
  return rc;
}

/* A declared SQL type is pasted into CREATE TABLE, so only type-name characters pass. */
static mlr_code check_type_text(const char *col, const char *t, mlr_error *err) {
  size_t n = strlen(t);
  if (n == 0 || n > 256) goto bad;
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ' ' || c == '(' || c == ')' || c == ',' || c == '[' || c == ']';
    if (!ok) goto bad;
  }
  return MALLARD_OK;
bad:
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "input_schema: column '%s' has type \"%s\", which is not a SQL type name",
                       col, t);
}

/* CREATE TEMP TABLE input from {"columns": {"name": "TYPE", ...}}. */
static mlr_code declared_input_sql(const char *schema_json, char **sql, mlr_error *err) {
  *sql = NULL;
  mlr_json_doc *doc = NULL;
  mlr_strbuf b = {0};
  mlr_code rc = mlr_json_parse(schema_json, strlen(schema_json), &doc, err);
  if (rc != MALLARD_OK) goto cleanup;
  const mlr_json *cols = mlr_json_get(mlr_json_root(doc), "columns");
  if (cols == NULL || cols->type != MLR_JSON_OBJECT || cols->child == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "input_schema needs \"columns\": {\"name\": \"SQL TYPE\", ...} with at "
                       "least one column");
    goto cleanup;
  }
  mlr_strbuf_appendf(&b, "CREATE OR REPLACE TEMP TABLE input (");
  for (const mlr_json *c = cols->child; c != NULL; c = c->next) {
    if (c->type != MLR_JSON_STRING) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "input_schema: the type of column '%s' must be a string", c->key);
      goto cleanup;
    }
    rc = check_type_text(c->key, c->string, err);
    if (rc != MALLARD_OK) goto cleanup;
    char *q = db_quote_identifier(c->key);
    if (q == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
    mlr_strbuf_appendf(&b, "%s%s %s", c == cols->child ? "" : ", ", q, c->string);
    free(q);
  }
  mlr_strbuf_appendf(&b, ")");
  *sql = b.oom ? NULL : mlr_strbuf_take(&b, NULL);
  if (*sql == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
cleanup:
  mlr_strbuf_release(&b);
  mlr_json_free(doc);
  return rc;
}

/* An exchanger transforms its input: its SQL must be a query, so that running it (a reader may)
 * never writes. p NULL: the text is not one. */
static mlr_code require_query(const db_prepared *p, mlr_error *err) {
  if (p != NULL && db_prepared_is_query(p)) return MALLARD_OK;
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "the SQL must be one query (SELECT, WITH, FROM, VALUES, ...) over the "
                       "table `input`: an exchanger transforms batches and writes nothing (load "
                       "tables with DoPut or the execute action)");
}

mlr_code xchg_sql_validate(db_database *db, const xchg_sql_def *def, mlr_error *err) {
  db_conn *conn = NULL;
  db_prepared *p = NULL;
  char *create = NULL;
  mlr_error local = {0};
  mlr_code rc = db_connect(db, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (def->input_schema_json != NULL) {
    rc = declared_input_sql(def->input_schema_json, &create, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = db_execute(conn, create, NULL, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "input_schema: ");
      if (rc != MALLARD_RESOURCE_EXHAUSTED) {
        rc = MALLARD_INVALID_ARGUMENT;
        if (err != NULL) err->code = rc;
      }
      goto cleanup;
    }
    rc = db_prepare(conn, def->sql, &p, err);
    if (rc != MALLARD_OK && rc != MALLARD_RESOURCE_EXHAUSTED && rc != MALLARD_CANCELLED) {
      rc = MALLARD_INVALID_ARGUMENT;
      if (err != NULL) err->code = rc;
    }
    if (rc == MALLARD_OK) rc = require_query(p, err);
    goto cleanup;
  }
  /* Without a declared input the table `input` does not exist yet, so only a parse error is
   * certain to be the query's fault; binding is checked when the first exchange opens. */
  rc = db_prepare(conn, def->sql, &p, &local);
  if (rc == MALLARD_OK) {
    rc = require_query(p, err);
  } else {
    bool parse_error = strstr(local.message, "Parser Error") != NULL ||
                       strstr(local.message, "syntax error") != NULL ||
                       strstr(local.message, "multiple statements") != NULL;
    if (parse_error) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s", local.message);
    } else {
      /* Parsed but not bound (it reads `input`): what it is shows in its first word. */
      rc = db_sql_starts_like_query(def->sql) ? MALLARD_OK : require_query(NULL, err);
    }
  }
cleanup:
  db_prepared_free(p);
  free(create);
  db_disconnect(conn); /* drops the connection's temp table too */
  return named(def->name, rc, err);
}

/* Binds the command's params (a JSON object) to the statement's named parameters. */
static mlr_code bind_params(xchg_instance *inst, db_prepared *stmt, const char *params_json,
                            mlr_error *err) {
  mlr_json_doc *doc = NULL;
  const mlr_json *params = NULL;
  mlr_code rc = MALLARD_OK;
  if (params_json != NULL) {
    rc = mlr_json_parse(params_json, strlen(params_json), &doc, err);
    if (rc != MALLARD_OK) goto cleanup;
    params = mlr_json_root(doc);
    if (params->type != MLR_JSON_OBJECT) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "params must be a JSON object");
      goto cleanup;
    }
  }
  int64_t n = db_prepared_param_count(stmt);
  for (int64_t i = 0; i < n; i++) {
    const char *pname = db_prepared_param_name(stmt, i);
    if (pname == NULL || pname[0] == '\0') {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "the query has a positional parameter: use named ones ($name)");
      goto cleanup;
    }
    if (pname[0] == '$') pname++;
    const mlr_json *v = mlr_json_get(params, pname);
    if (v == NULL) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "the query needs parameter $%s: pass it as {\"exchanger\": \"%s\", "
                         "\"params\": {\"%s\": ...}}",
                         pname, inst->entry->name, pname);
      goto cleanup;
    }
    switch (v->type) {
    case MLR_JSON_NULL:
      rc = db_prepared_bind_null(stmt, pname, err);
      break;
    case MLR_JSON_BOOL:
      rc = db_prepared_bind_bool(stmt, pname, v->boolean, err);
      break;
    case MLR_JSON_NUMBER:
      if (v->integral && !v->is_integer) /* as a double it would be rounded: refuse */
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "parameter $%s is an integer beyond 64 bits: pass it as a string and "
                           "cast it in the query ($%s::UBIGINT, $%s::HUGEINT)",
                           pname, pname, pname);
      else
        rc = v->is_integer ? db_prepared_bind_int64(stmt, pname, v->integer, err)
                           : db_prepared_bind_double(stmt, pname, v->number, err);
      break;
    case MLR_JSON_STRING:
      if (strlen(v->string) != v->string_len) {
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "parameter $%s has a NUL character",
                           pname);
      } else {
        rc = db_prepared_bind_varchar(stmt, pname, v->string, err);
      }
      break;
    default:
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "parameter $%s must be a number, string, boolean or null", pname);
      break;
    }
    if (rc != MALLARD_OK) goto cleanup;
  }
  /* A param the query does not use is most likely a typo: say so rather than ignore it. */
  for (const mlr_json *m = params != NULL ? params->child : NULL; m != NULL; m = m->next) {
    bool used = false;
    for (int64_t i = 0; i < n && !used; i++) {
      const char *pname = db_prepared_param_name(stmt, i);
      if (pname != NULL && pname[0] == '$') pname++;
      used = pname != NULL && strcmp(pname, m->key) == 0;
    }
    if (!used) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "the query has no parameter $%s", m->key);
      goto cleanup;
    }
  }
cleanup:
  mlr_json_free(doc);
  return rc;
}

/* The connection's current database, quoted for USE. */
static mlr_code current_database(db_conn *conn, char **out, mlr_error *err) {
  *out = NULL;
  db_query *q = NULL;
  struct ArrowSchema sc = {0};
  struct ArrowArray b = {0};
  bool eof = false;
  mlr_code rc = db_query_start(conn, "SELECT current_database()::VARCHAR", NULL, &q, err);
  if (rc == MALLARD_OK) rc = db_query_schema(q, &sc, err);
  if (rc == MALLARD_OK) rc = db_query_next(q, &b, &eof, err);
  if (rc == MALLARD_OK) {
    const struct ArrowArray *c = !eof && b.length == 1 && b.n_children == 1 ? b.children[0] : NULL;
    const char *f = sc.n_children == 1 ? sc.children[0]->format : "";
    if (c == NULL || (strcmp(f, "u") != 0 && strcmp(f, "U") != 0)) {
      rc = mlr_error_set(err, MALLARD_INTERNAL, "cannot read the connection's current database");
    } else {
      int64_t lo, hi;
      if (f[0] == 'u') {
        lo = ((const int32_t *)c->buffers[1])[c->offset];
        hi = ((const int32_t *)c->buffers[1])[c->offset + 1];
      } else {
        lo = ((const int64_t *)c->buffers[1])[c->offset];
        hi = ((const int64_t *)c->buffers[1])[c->offset + 1];
      }
      char *name = strndup((const char *)c->buffers[2] + lo, (size_t)(hi - lo));
      *out = name != NULL ? db_quote_identifier(name) : NULL;
      free(name);
      if (*out == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    }
  }
  xchg_array_release(&b);
  xchg_schema_release(&sc);
  db_query_free(q);
  return rc;
}

static mlr_code execf(db_conn *conn, mlr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mlr_code execf(db_conn *conn, mlr_error *err, const char *fmt, ...) {
  char sql[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof sql) {
    return mlr_error_set(err, MALLARD_INTERNAL, "internal statement too long");
  }
  return db_execute(conn, sql, NULL, err);
}

mlr_code xchg_sql_open(xchg_instance *inst, const char *params_json, mlr_error *err) {
  db_ingest *ing = NULL;
  mlr_code rc = MALLARD_OK;
  if (inst->conn == NULL) {
    if (inst->db == NULL) {
      rc = mlr_error_set(err, MALLARD_FAILED_PRECONDITION, "no database for a SQL exchanger");
      goto cleanup;
    }
    rc = db_connect(inst->db, &inst->conn, err);
    if (rc != MALLARD_OK) goto cleanup;
    inst->own_conn = true;
  }
  rc = current_database(inst->conn, &inst->home_db, err);
  if (rc != MALLARD_OK) goto cleanup;
  /* The address is unique among live exchanges of the process, hence of the database. */
  snprintf(inst->attach_name, sizeof inst->attach_name, "mallard_xchg_%llx",
           (unsigned long long)(uintptr_t)inst);
  /* READ_WRITE: also on a read-only server, whose database the exchange never writes. */
  rc = execf(inst->conn, err, "ATTACH ':memory:' AS %s (READ_WRITE)", inst->attach_name);
  if (rc != MALLARD_OK) goto cleanup;
  inst->attached = true;
  rc = execf(inst->conn, err, "USE %s", inst->attach_name);
  if (rc != MALLARD_OK) goto cleanup;
  inst->switched = true;
  rc = execf(inst->conn, err, "SET search_path = '%s.main,%s.main'", inst->attach_name,
             inst->home_db);
  if (rc != MALLARD_OK) goto cleanup;
  /* Creating `input` through db_ingest gives it exactly the types db_ingest will append. */
  rc = db_ingest_begin(inst->conn, NULL, "input", DB_PUT_CREATE, &inst->input_schema, &ing, err);
  if (rc != MALLARD_OK) {
    if (rc == MALLARD_INTERNAL) rc = MALLARD_INVALID_ARGUMENT;
    if (err != NULL) err->code = rc;
    mlr_error_prefix(err, "the input cannot be a SQL table: ");
    goto cleanup;
  }
  rc = db_ingest_commit(ing, NULL, err);
  ing = NULL;
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_prepare(inst->conn, inst->entry->sql, &inst->stmt, err);
  if (rc != MALLARD_OK) {
    if (rc == MALLARD_NOT_FOUND || rc == MALLARD_INTERNAL || rc == MALLARD_ALREADY_EXISTS) {
      /* The registered query does not fit this input: the caller's data, not the server. */
      rc = MALLARD_INVALID_ARGUMENT;
      if (err != NULL) err->code = rc;
    }
    goto cleanup;
  }
  rc = require_query(inst->stmt, err); /* registered before this rule, or without input_schema */
  if (rc != MALLARD_OK) goto cleanup;
  rc = bind_params(inst, inst->stmt, params_json, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (params_json != NULL && (inst->params_json = strdup(params_json)) == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_prepared_schema(inst->stmt, &inst->output_schema, NULL);
  if (rc != MALLARD_OK) {
    /* A result type that depends on a parameter ($factor * x) is only known once the values are
     * bound and the statement runs: run it once on the still empty `input` for its schema. */
    db_query *q = NULL;
    rc = db_prepared_query(inst->stmt, NULL, &q, err);
    if (rc == MALLARD_OK) rc = db_query_schema(q, &inst->output_schema, err);
    db_query_free(q);
  }
cleanup:
  db_ingest_abort(ing);
  return named(inst->entry->name, rc, err);
}

/* Runs the prepared query and emits every result batch. */
static mlr_code run_and_emit(xchg_instance *inst, xchg_emit_fn emit, void *ctx, mlr_error *err) {
  db_query *q = NULL;
  /* Prepared afresh for every run: a plan made while `input` was empty (or held another batch)
   * may have been optimised with that data's statistics (DuckDB folds `x IS NULL` to false on a
   * column with no NULLs), so reusing it would answer wrongly. */
  db_prepared *stmt = NULL;
  mlr_code rc = db_prepare(inst->conn, inst->entry->sql, &stmt, err);
  if (rc == MALLARD_OK) rc = bind_params(inst, stmt, inst->params_json, err);
  if (rc == MALLARD_OK) rc = db_prepared_query(stmt, NULL, &q, err);
  while (rc == MALLARD_OK) {
    struct ArrowArray b = {0};
    bool eof = false;
    rc = db_query_next(q, &b, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    if (atomic_load(&inst->interrupted)) {
      xchg_array_release(&b);
      rc = mlr_error_set(err, MALLARD_CANCELLED, "exchange was cancelled");
      break;
    }
    if (b.n_children != inst->output_schema.n_children) {
      xchg_array_release(&b);
      rc = mlr_error_set(err, MALLARD_INTERNAL,
                         "the query produced %lld columns where its schema said %lld",
                         (long long)b.n_children, (long long)inst->output_schema.n_children);
      break;
    }
    if (b.length == 0) {
      xchg_array_release(&b);
      continue;
    }
    rc = emit(ctx, &b, err);
    if (rc != MALLARD_OK) {
      db_query_free(q);
      db_prepared_free(stmt);
      return rc; /* the emitter's own error: not the query's */
    }
  }
  db_query_free(q);
  db_prepared_free(stmt);
  if (rc == MALLARD_OK) return rc;
  if (atomic_load(&inst->interrupted) && rc != MALLARD_CANCELLED) {
    rc = mlr_error_set(err, MALLARD_CANCELLED, "exchange was cancelled");
  }
  return named(inst->entry->name, rc, err);
}

mlr_code xchg_sql_push(xchg_instance *inst, struct ArrowArray *batch, xchg_emit_fn emit, void *ctx,
                       mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  if (inst->entry->mode == XCHG_SQL_STREAM_END) {
    if (inst->ingest == NULL) {
      rc = db_ingest_begin(inst->conn, NULL, "input", DB_PUT_APPEND, &inst->input_schema,
                           &inst->ingest, err);
      if (rc != MALLARD_OK) {
        xchg_array_release(batch);
        return named(inst->entry->name, rc, err);
      }
    }
    rc = db_ingest_append(inst->ingest, batch, err); /* releases the batch */
    if (rc != MALLARD_OK) {
      db_ingest_abort(inst->ingest);
      inst->ingest = NULL;
    }
    return named(inst->entry->name, rc, err);
  }
  /* Empty `input` and append the batch in one transaction. */
  db_ingest *ing = NULL;
  rc = db_ingest_begin(inst->conn, NULL, "input", DB_PUT_APPEND, &inst->input_schema, &ing, err);
  if (rc == MALLARD_OK) rc = db_execute(inst->conn, "DELETE FROM input", NULL, err);
  if (rc != MALLARD_OK) {
    db_ingest_abort(ing);
    xchg_array_release(batch);
    return named(inst->entry->name, rc, err);
  }
  rc = db_ingest_append(ing, batch, err);
  if (rc != MALLARD_OK) {
    db_ingest_abort(ing);
    return named(inst->entry->name, rc, err);
  }
  rc = db_ingest_commit(ing, NULL, err);
  if (rc != MALLARD_OK) return named(inst->entry->name, rc, err);
  return run_and_emit(inst, emit, ctx, err);
}

mlr_code xchg_sql_finish(xchg_instance *inst, xchg_emit_fn emit, void *ctx, mlr_error *err) {
  if (inst->entry->mode != XCHG_SQL_STREAM_END) return MALLARD_OK;
  if (inst->ingest != NULL) {
    db_ingest *ing = inst->ingest;
    inst->ingest = NULL;
    mlr_code rc = db_ingest_commit(ing, NULL, err);
    if (rc != MALLARD_OK) return named(inst->entry->name, rc, err);
  }
  return run_and_emit(inst, emit, ctx, err);
}

/* Cleanup statements run twice if need be: a cancellation that arrived between queries leaves
 * DuckDB's interrupt flag set, which fails exactly the next statement. */
static void exec_cleanup(db_conn *conn, const char *fmt, const char *arg) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (execf(conn, NULL, fmt, arg) == MALLARD_OK) return;
  }
}

void xchg_sql_close(xchg_instance *inst) {
  if (inst->ingest != NULL) {
    db_ingest_abort(inst->ingest);
    inst->ingest = NULL;
  }
  db_prepared_free(inst->stmt);
  inst->stmt = NULL;
  free(inst->params_json);
  inst->params_json = NULL;
  if (inst->conn != NULL) {
    /* Back to the connection's own database (USE also resets the search path); the private one
     * must go, or it would outlive the exchange in the database instance. */
    if (inst->switched) exec_cleanup(inst->conn, "USE %s", inst->home_db);
    if (inst->attached) exec_cleanup(inst->conn, "DETACH DATABASE IF EXISTS %s", inst->attach_name);
  }
  if (inst->own_conn) db_disconnect(inst->conn);
  inst->conn = NULL;
  free(inst->home_db);
  inst->home_db = NULL;
}
