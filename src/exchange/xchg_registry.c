/* The per-server exchanger registry: refcounted entry versions behind a named lock, registration
 * of SQL exchangers (checked, optionally persisted in mallard_meta.exchangers), the DoAction
 * helpers, and opening instances of any kind. */
#include "exchange/xchg_internal.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xchg_registry {
  /* Guards entries/n_entries/cap/next_version. Held only for list operations, never across a
   * DuckDB call, so opening an exchange never waits for a registration's query check. */
  pthread_mutex_t entries_lock;
  /* Serialises register/unregister (existence check, query check, persistence, swap) so the
   * persisted table and the in-memory list change in the same order. */
  pthread_mutex_t update_lock;
  xchg_entry **entries;
  size_t n_entries;
  size_t cap;
  int64_t next_version;
  db_database *db;
  bool persist;
  bool read_only;
  void (*log)(void *ctx, xchg_log_level level, const char *line);
  void *log_ctx;
};

static const char *const META_CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS mallard_meta";
static const char *const META_CREATE_TABLE =
    "CREATE TABLE IF NOT EXISTS mallard_meta.exchangers (name VARCHAR PRIMARY KEY, sql VARCHAR "
    "NOT NULL, mode VARCHAR NOT NULL, input_schema VARCHAR, updated TIMESTAMPTZ DEFAULT "
    "current_timestamp)";

/* ---------------------------------------------------------------- entries */

void xchg_entry_ref(xchg_entry *e) {
  atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void xchg_entry_unref(xchg_entry *e) {
  if (e == NULL) return;
  if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1) return;
  free(e->name);
  free(e->description);
  free(e->sql);
  free(e->input_schema_json);
  free(e->path);
  if (e->dl_handle != NULL) dlclose(e->dl_handle);
  free(e);
}

static xchg_entry *entry_new(xchg_kind kind, const char *name, const char *description) {
  xchg_entry *e = calloc(1, sizeof *e);
  if (e == NULL) return NULL;
  atomic_init(&e->refs, 1);
  e->kind = kind;
  e->name = strdup(name);
  e->description = description != NULL ? strdup(description) : NULL;
  if (e->name == NULL || (description != NULL && e->description == NULL)) {
    xchg_entry_unref(e);
    return NULL;
  }
  return e;
}

static void default_log(void *ctx, xchg_log_level level, const char *line) {
  static const char *const names[] = {"info", "warn", "error"};
  fprintf(stderr, "mallard: %s: exchangers: %s\n", names[level], line);
}

static void reg_logf(xchg_registry *reg, xchg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reg_logf(xchg_registry *reg, xchg_log_level level, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  reg->log(reg->log_ctx, level, line);
}

/* Index of name in entries, or -1. Caller holds entries_lock. */
static ptrdiff_t find_locked(xchg_registry *reg, const char *name) {
  for (size_t i = 0; i < reg->n_entries; i++) {
    if (strcmp(reg->entries[i]->name, name) == 0) return (ptrdiff_t)i;
  }
  return -1;
}

/* Adds e (taking its reference) or replaces the entry of the same name (dropping the registry's
 * reference to the old version; running instances keep theirs). */
static mlr_code put_entry(xchg_registry *reg, xchg_entry *e, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  xchg_entry *old = NULL;
  pthread_mutex_lock(&reg->entries_lock);
  e->version = ++reg->next_version;
  ptrdiff_t i = find_locked(reg, e->name);
  if (i >= 0) {
    old = reg->entries[i];
    reg->entries[i] = e;
  } else {
    if (reg->n_entries == reg->cap) {
      size_t cap = reg->cap ? reg->cap * 2 : 16;
      xchg_entry **n = realloc(reg->entries, cap * sizeof *n);
      if (n == NULL) {
        rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
        goto unlock;
      }
      reg->entries = n;
      reg->cap = cap;
    }
    reg->entries[reg->n_entries++] = e;
  }
unlock:
  pthread_mutex_unlock(&reg->entries_lock);
  if (rc != MALLARD_OK) xchg_entry_unref(e);
  xchg_entry_unref(old);
  return rc;
}

/* A new reference to the current version of name, or NULL. */
static xchg_entry *get_entry(xchg_registry *reg, const char *name) {
  xchg_entry *e = NULL;
  pthread_mutex_lock(&reg->entries_lock);
  ptrdiff_t i = find_locked(reg, name);
  if (i >= 0) {
    e = reg->entries[i];
    xchg_entry_ref(e);
  }
  pthread_mutex_unlock(&reg->entries_lock);
  return e;
}

/* ---------------------------------------------------------------- persistence */

/* Reads row `row` of a string column (utf8 or large utf8) of a DuckDB result. */
static bool column_string(const struct ArrowArray *col, const char *format, int64_t row,
                          const char **s, size_t *len) {
  int64_t r = row + col->offset;
  const uint8_t *validity = col->buffers[0];
  if (validity != NULL && !(validity[r / 8] & (1u << (r % 8)))) {
    *s = NULL;
    *len = 0;
    return true;
  }
  if (strcmp(format, "u") == 0) {
    const int32_t *off = col->buffers[1];
    *s = (const char *)col->buffers[2] + off[r];
    *len = (size_t)(off[r + 1] - off[r]);
    return true;
  }
  if (strcmp(format, "U") == 0) {
    const int64_t *off = col->buffers[1];
    *s = (const char *)col->buffers[2] + off[r];
    *len = (size_t)(off[r + 1] - off[r]);
    return true;
  }
  if (strcmp(format, "vu") == 0) {
    const uint8_t *view = (const uint8_t *)col->buffers[1] + 16 * r;
    int32_t n, buf, off;
    memcpy(&n, view, 4);
    if (n <= 12) {
      *s = (const char *)view + 4;
    } else {
      memcpy(&buf, view + 8, 4);
      memcpy(&off, view + 12, 4);
      *s = (const char *)col->buffers[2 + buf] + off;
    }
    *len = (size_t)n;
    return true;
  }
  return false;
}

static mlr_code load_persisted(xchg_registry *reg, mlr_error *err) {
  db_conn *conn = NULL;
  db_query *q = NULL;
  struct ArrowSchema schema = {0};
  struct ArrowArray batch = {0};
  bool exists = false;
  int64_t loaded = 0;
  mlr_code rc = db_connect(reg->db, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_table_exists(conn, "mallard_meta", "exchangers", &exists, err);
  if (rc != MALLARD_OK || !exists) goto cleanup;
  rc = db_query_start(conn,
                      "SELECT name, sql, mode, input_schema FROM mallard_meta.exchangers "
                      "ORDER BY name",
                      NULL, &q, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_query_schema(q, &schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (schema.n_children != 4) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "mallard_meta.exchangers has an unexpected shape");
    goto cleanup;
  }
  for (;;) {
    bool eof = false;
    rc = db_query_next(q, &batch, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    for (int64_t r = 0; r < batch.length; r++) {
      const char *v[4];
      size_t n[4];
      char *s[4] = {0};
      for (int c = 0; c < 4; c++) {
        if (!column_string(batch.children[c], schema.children[c]->format, r, &v[c], &n[c])) {
          rc = mlr_error_set(err, MALLARD_INTERNAL, "mallard_meta.exchangers: unexpected type %s",
                             schema.children[c]->format);
          for (int k = 0; k < c; k++) free(s[k]);
          goto cleanup;
        }
        if (v[c] != NULL) s[c] = strndup(v[c], n[c]);
      }
      if (s[0] == NULL || s[1] == NULL || s[2] == NULL ||
          xchg_check_name(s[0], strlen(s[0]), NULL) != MALLARD_OK) {
        reg_logf(reg, XCHG_LOG_WARN, "skipped a malformed row of mallard_meta.exchangers");
      } else {
        xchg_entry *e = entry_new(XCHG_KIND_SQL, s[0], NULL);
        if (e != NULL) {
          e->sql = s[1];
          e->mode = strcmp(s[2], "stream_end") == 0 ? XCHG_SQL_STREAM_END : XCHG_SQL_BATCH;
          e->input_schema_json = s[3];
          s[1] = s[3] = NULL;
          if (put_entry(reg, e, err) == MALLARD_OK) loaded++;
        }
      }
      for (int c = 0; c < 4; c++) free(s[c]);
    }
    xchg_array_release(&batch);
  }
  if (rc == MALLARD_OK && loaded > 0) {
    reg_logf(reg, XCHG_LOG_INFO, "loaded %lld SQL exchanger(s) from mallard_meta.exchangers",
             (long long)loaded);
  }
cleanup:
  xchg_array_release(&batch);
  xchg_schema_release(&schema);
  db_query_free(q);
  db_disconnect(conn);
  return rc;
}

/* Runs a prepared statement to completion. */
static mlr_code run_prepared(db_prepared *p, mlr_error *err) {
  db_query *q = NULL;
  mlr_code rc = db_prepared_query(p, NULL, &q, err);
  while (rc == MALLARD_OK) {
    struct ArrowArray b = {0};
    bool eof = false;
    rc = db_query_next(q, &b, &eof, err);
    if (eof) break;
    xchg_array_release(&b);
  }
  db_query_free(q);
  return rc;
}

static mlr_code persist_put(xchg_registry *reg, const xchg_entry *e, mlr_error *err) {
  db_conn *conn = NULL;
  db_prepared *p = NULL;
  mlr_code rc = db_connect(reg->db, &conn, err);
  if (rc == MALLARD_OK) rc = db_execute(conn, META_CREATE_SCHEMA, NULL, err);
  if (rc == MALLARD_OK) rc = db_execute(conn, META_CREATE_TABLE, NULL, err);
  if (rc == MALLARD_OK) {
    rc = db_prepare(conn,
                    "INSERT OR REPLACE INTO mallard_meta.exchangers (name, sql, mode, "
                    "input_schema) VALUES ($name, $sql, $mode, $input_schema)",
                    &p, err);
  }
  if (rc == MALLARD_OK) rc = db_prepared_bind_varchar(p, "name", e->name, err);
  if (rc == MALLARD_OK) rc = db_prepared_bind_varchar(p, "sql", e->sql, err);
  if (rc == MALLARD_OK) {
    rc = db_prepared_bind_varchar(p, "mode",
                                  e->mode == XCHG_SQL_STREAM_END ? "stream_end" : "batch", err);
  }
  if (rc == MALLARD_OK) {
    rc = e->input_schema_json != NULL
             ? db_prepared_bind_varchar(p, "input_schema", e->input_schema_json, err)
             : db_prepared_bind_null(p, "input_schema", err);
  }
  if (rc == MALLARD_OK) rc = run_prepared(p, err);
  if (rc != MALLARD_OK) mlr_error_prefix(err, "storing exchanger '%s': ", e->name);
  db_prepared_free(p);
  db_disconnect(conn);
  return rc;
}

static mlr_code persist_delete(xchg_registry *reg, const char *name, mlr_error *err) {
  db_conn *conn = NULL;
  db_prepared *p = NULL;
  bool exists = false;
  mlr_code rc = db_connect(reg->db, &conn, err);
  if (rc == MALLARD_OK) rc = db_table_exists(conn, "mallard_meta", "exchangers", &exists, err);
  if (rc == MALLARD_OK && exists) {
    rc = db_prepare(conn, "DELETE FROM mallard_meta.exchangers WHERE name = $name", &p, err);
    if (rc == MALLARD_OK) rc = db_prepared_bind_varchar(p, "name", name, err);
    if (rc == MALLARD_OK) rc = run_prepared(p, err);
  }
  if (rc != MALLARD_OK) mlr_error_prefix(err, "removing exchanger '%s': ", name);
  db_prepared_free(p);
  db_disconnect(conn);
  return rc;
}

/* ---------------------------------------------------------------- registry */

typedef struct native_add_ctx {
  xchg_registry *reg;
} native_add_ctx;

static void add_native(void *ctx, xchg_entry *e) {
  xchg_registry *reg = ((native_add_ctx *)ctx)->reg;
  xchg_entry *existing = get_entry(reg, e->name);
  if (existing != NULL) {
    reg_logf(reg, XCHG_LOG_ERROR,
             "refused native exchanger '%s' from %s: the name is already taken by a %s exchanger",
             e->name, e->path, existing->kind == XCHG_KIND_NATIVE ? "native" : "built-in or SQL");
    xchg_entry_unref(existing);
    xchg_entry_unref(e);
    return;
  }
  if (put_entry(reg, e, NULL) == MALLARD_OK) {
    reg_logf(reg, XCHG_LOG_INFO, "loaded native exchanger '%s' from %s", e->name, e->path);
  }
}

mlr_code xchg_registry_new(const xchg_registry_options *opts, xchg_registry **out, mlr_error *err) {
  *out = NULL;
  xchg_registry *reg = calloc(1, sizeof *reg);
  if (reg == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&reg->entries_lock, NULL);
  pthread_mutex_init(&reg->update_lock, NULL);
  reg->db = opts != NULL ? opts->db : NULL;
  reg->persist = opts != NULL && opts->persist && reg->db != NULL;
  reg->read_only = opts != NULL && opts->read_only;
  reg->log = opts != NULL && opts->log != NULL ? opts->log : default_log;
  reg->log_ctx = opts != NULL ? opts->log_ctx : NULL;
  mlr_code rc = MALLARD_OK;
  static const struct {
    const char *name;
    xchg_builtin_id id;
    const char *description;
  } builtins[] = {
      {"echo", XCHG_BUILTIN_ECHO, "answers each batch unchanged"},
      {"processed", XCHG_BUILTIN_PROCESSED,
       "answers each batch with an extra BOOLEAN column 'processed' set to true"},
  };
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
    xchg_entry *e = entry_new(XCHG_KIND_BUILTIN, builtins[i].name, builtins[i].description);
    if (e == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
    e->builtin = builtins[i].id;
    rc = put_entry(reg, e, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  if (reg->persist) {
    rc = load_persisted(reg, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "loading registered exchangers: ");
      goto cleanup;
    }
  }
  if (opts != NULL && opts->native_dir != NULL) {
    native_add_ctx actx = {reg};
    xchg_native_load_dir(opts->native_dir, add_native, &actx, reg->log, reg->log_ctx);
  }
  *out = reg;
  reg = NULL;
cleanup:
  xchg_registry_free(reg);
  return rc;
}

void xchg_registry_free(xchg_registry *reg) {
  if (reg == NULL) return;
  for (size_t i = 0; i < reg->n_entries; i++) xchg_entry_unref(reg->entries[i]);
  free(reg->entries);
  pthread_mutex_destroy(&reg->entries_lock);
  pthread_mutex_destroy(&reg->update_lock);
  free(reg);
}

mlr_code xchg_register_sql(xchg_registry *reg, const xchg_sql_def *def, bool replace,
                           mlr_error *err) {
  if (def == NULL || def->name == NULL || def->sql == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "an exchanger needs a name and sql");
  }
  MLR_RETURN_NOT_OK(xchg_check_name(def->name, strlen(def->name), err));
  if (def->mode != XCHG_SQL_BATCH && def->mode != XCHG_SQL_STREAM_END) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unknown exchanger mode");
  }
  if (reg->db == NULL) {
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                         "this server has no database for SQL exchangers");
  }
  if (reg->read_only) {
    return mlr_error_set(err, MALLARD_PERMISSION_DENIED,
                         "this server is read-only: exchangers cannot be registered");
  }
  mlr_code rc = MALLARD_OK;
  xchg_entry *e = NULL;
  pthread_mutex_lock(&reg->update_lock);
  xchg_entry *existing = get_entry(reg, def->name);
  if (existing != NULL) {
    if (existing->kind != XCHG_KIND_SQL) {
      const char *what = existing->kind == XCHG_KIND_BUILTIN ? "built in" : "a native exchanger";
      rc = replace ? mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                                   "exchanger '%s' is %s and cannot be replaced", def->name, what)
                   : mlr_error_set(err, MALLARD_ALREADY_EXISTS,
                                   "exchanger '%s' already exists (%s)", def->name, what);
    } else if (!replace) {
      rc = mlr_error_set(err, MALLARD_ALREADY_EXISTS,
                         "exchanger '%s' already exists (send \"replace\": true to replace it)",
                         def->name);
    }
    xchg_entry_unref(existing);
    if (rc != MALLARD_OK) goto cleanup;
  }
  rc = xchg_sql_validate(reg->db, def, err);
  if (rc != MALLARD_OK) goto cleanup;
  e = entry_new(XCHG_KIND_SQL, def->name, NULL);
  if (e == NULL || (e->sql = strdup(def->sql)) == NULL ||
      (def->input_schema_json != NULL &&
       (e->input_schema_json = strdup(def->input_schema_json)) == NULL)) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  e->mode = def->mode;
  if (reg->persist) {
    rc = persist_put(reg, e, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  rc = put_entry(reg, e, err);
  e = NULL;
cleanup:
  pthread_mutex_unlock(&reg->update_lock);
  xchg_entry_unref(e);
  return rc;
}

mlr_code xchg_unregister(xchg_registry *reg, const char *name, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  xchg_entry *old = NULL;
  if (reg->read_only) {
    return mlr_error_set(err, MALLARD_PERMISSION_DENIED,
                         "this server is read-only: exchangers cannot be removed");
  }
  pthread_mutex_lock(&reg->update_lock);
  xchg_entry *existing = get_entry(reg, name);
  if (existing == NULL) {
    rc = mlr_error_set(err, MALLARD_NOT_FOUND, "unknown exchanger '%s'", name);
    goto cleanup;
  }
  if (existing->kind != XCHG_KIND_SQL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "exchanger '%s' is %s and cannot be removed",
                       name, existing->kind == XCHG_KIND_BUILTIN ? "built in" : "native");
    goto cleanup;
  }
  if (reg->persist) {
    rc = persist_delete(reg, name, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  pthread_mutex_lock(&reg->entries_lock);
  ptrdiff_t i = find_locked(reg, name);
  if (i >= 0) {
    old = reg->entries[i];
    memmove(&reg->entries[i], &reg->entries[i + 1],
            (reg->n_entries - (size_t)i - 1) * sizeof reg->entries[0]);
    reg->n_entries--;
  }
  pthread_mutex_unlock(&reg->entries_lock);
cleanup:
  pthread_mutex_unlock(&reg->update_lock);
  xchg_entry_unref(existing);
  xchg_entry_unref(old);
  return rc;
}

/* ---------------------------------------------------------------- actions */

static mlr_code take_result(mlr_strbuf *b, char **result, size_t *result_len, mlr_error *err) {
  size_t n = 0;
  *result = b->oom ? NULL : mlr_strbuf_take(b, &n);
  mlr_strbuf_release(b);
  if (*result == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  if (result_len != NULL) *result_len = n;
  return MALLARD_OK;
}

mlr_code xchg_action_register(xchg_registry *reg, const uint8_t *body, size_t body_len,
                              char **result, size_t *result_len, mlr_error *err) {
  *result = NULL;
  mlr_json_doc *doc = NULL;
  mlr_strbuf schema_text = {0};
  mlr_strbuf b = {0};
  char *schema_json = NULL;
  mlr_code rc = mlr_json_parse((const char *)body, body_len, &doc, err);
  if (rc != MALLARD_OK) {
    mlr_error_prefix(err, "register_exchanger body: ");
    goto cleanup;
  }
  const mlr_json *root = mlr_json_root(doc);
  if (root->type != MLR_JSON_OBJECT) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "register_exchanger body must be a JSON object {\"name\", \"sql\", "
                       "\"mode\", \"replace\"}");
    goto cleanup;
  }
  static const char *const keys[] = {"name", "sql", "mode", "replace", "input_schema"};
  if ((rc = mlr_json_only_keys(root, keys, 5, "register_exchanger", err))) goto cleanup;
  const char *name = NULL, *sql = NULL;
  const mlr_json *mode = mlr_json_get(root, "mode");
  const mlr_json *replace = mlr_json_get(root, "replace");
  const mlr_json *ischema = mlr_json_get(root, "input_schema");
  if ((rc = mlr_json_text_member(root, "name", "register_exchanger", &name, err)) ||
      (rc = mlr_json_text_member(root, "sql", "register_exchanger", &sql, err)))
    goto cleanup;
  if (name == NULL || sql == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "register_exchanger: \"%s\" is missing",
                       name == NULL ? "name" : "sql");
    goto cleanup;
  }
  xchg_sql_def def = {.name = name, .sql = sql, .mode = XCHG_SQL_BATCH};
  if (mode != NULL && mode->type != MLR_JSON_NULL) {
    if (mode->type == MLR_JSON_STRING && strcmp(mode->string, "batch") == 0) {
      def.mode = XCHG_SQL_BATCH;
    } else if (mode->type == MLR_JSON_STRING && strcmp(mode->string, "stream_end") == 0) {
      def.mode = XCHG_SQL_STREAM_END;
    } else {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "register_exchanger: \"mode\" must be \"batch\" or \"stream_end\"");
      goto cleanup;
    }
  }
  bool do_replace = false;
  if (replace != NULL && replace->type != MLR_JSON_NULL) {
    if (replace->type != MLR_JSON_BOOL) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "register_exchanger: \"replace\" must be true or false");
      goto cleanup;
    }
    do_replace = replace->boolean;
  }
  if (ischema != NULL && ischema->type != MLR_JSON_NULL) {
    if (ischema->type != MLR_JSON_OBJECT) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "register_exchanger: \"input_schema\" must be an object like "
                         "{\"columns\": {\"delay\": \"INTEGER\"}}");
      goto cleanup;
    }
    mlr_json_write(&schema_text, ischema);
    schema_json = schema_text.oom ? NULL : mlr_strbuf_take(&schema_text, NULL);
    if (schema_json == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
    def.input_schema_json = schema_json;
  }
  rc = xchg_register_sql(reg, &def, do_replace, err);
  if (rc != MALLARD_OK) goto cleanup;
  mlr_strbuf_append(&b, "{\"registered\":", 14);
  mlr_strbuf_append_json_string(&b, def.name, strlen(def.name));
  mlr_strbuf_append(&b, "}", 1);
  rc = take_result(&b, result, result_len, err);
cleanup:
  free(schema_json);
  mlr_strbuf_release(&schema_text);
  mlr_strbuf_release(&b);
  mlr_json_free(doc);
  return rc;
}

mlr_code xchg_action_unregister(xchg_registry *reg, const uint8_t *body, size_t body_len,
                                char **result, size_t *result_len, mlr_error *err) {
  *result = NULL;
  mlr_json_doc *doc = NULL;
  char *name = NULL;
  mlr_strbuf b = {0};
  mlr_code rc = MALLARD_OK;
  size_t start = 0, end = body != NULL ? body_len : 0;
  while (start < end &&
         (body[start] == ' ' || body[start] == '\n' || body[start] == '\t' || body[start] == '\r'))
    start++;
  while (end > start && (body[end - 1] == ' ' || body[end - 1] == '\n' || body[end - 1] == '\t' ||
                         body[end - 1] == '\r'))
    end--;
  if (start < end && (body[start] == '{' || body[start] == '"')) {
    rc = mlr_json_parse((const char *)body + start, end - start, &doc, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "unregister_exchanger body: ");
      goto cleanup;
    }
    const mlr_json *root = mlr_json_root(doc);
    const mlr_json *n = root->type == MLR_JSON_STRING ? root : mlr_json_get(root, "name");
    if (n == NULL || n->type != MLR_JSON_STRING) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "unregister_exchanger: the body is the exchanger's name");
      goto cleanup;
    }
    name = strndup(n->string, n->string_len);
  } else {
    name = strndup((const char *)body + start, end - start);
  }
  if (name == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  rc = xchg_check_name(name, strlen(name), err);
  if (rc != MALLARD_OK) {
    mlr_error_prefix(err, "unregister_exchanger: ");
    goto cleanup;
  }
  rc = xchg_unregister(reg, name, err);
  if (rc != MALLARD_OK) goto cleanup;
  mlr_strbuf_append(&b, "{\"unregistered\":", 16);
  mlr_strbuf_append_json_string(&b, name, strlen(name));
  mlr_strbuf_append(&b, "}", 1);
  rc = take_result(&b, result, result_len, err);
cleanup:
  mlr_strbuf_release(&b);
  free(name);
  mlr_json_free(doc);
  return rc;
}

static int cmp_entry_name(const void *a, const void *b) {
  return strcmp((*(xchg_entry *const *)a)->name, (*(xchg_entry *const *)b)->name);
}

mlr_code xchg_action_list(xchg_registry *reg, char **result, size_t *result_len, mlr_error *err) {
  *result = NULL;
  mlr_strbuf b = {0};
  /* Snapshot (with references) so that the JSON is written without holding the lock. */
  pthread_mutex_lock(&reg->entries_lock);
  size_t n = reg->n_entries;
  xchg_entry **snap = calloc(n > 0 ? n : 1, sizeof *snap);
  if (snap != NULL) {
    for (size_t i = 0; i < n; i++) {
      snap[i] = reg->entries[i];
      xchg_entry_ref(snap[i]);
    }
  }
  pthread_mutex_unlock(&reg->entries_lock);
  if (snap == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  qsort(snap, n, sizeof *snap, cmp_entry_name);
  static const char *const kinds[] = {"builtin", "sql", "native"};
  mlr_strbuf_append(&b, "[", 1);
  for (size_t i = 0; i < n; i++) {
    const xchg_entry *e = snap[i];
    if (i > 0) mlr_strbuf_append(&b, ",", 1);
    mlr_strbuf_append(&b, "{\"name\":", 8);
    mlr_strbuf_append_json_string(&b, e->name, strlen(e->name));
    mlr_strbuf_appendf(&b, ",\"kind\":\"%s\"", kinds[e->kind]);
    if (e->description != NULL) {
      mlr_strbuf_append(&b, ",\"description\":", 15);
      mlr_strbuf_append_json_string(&b, e->description, strlen(e->description));
    }
    if (e->kind == XCHG_KIND_SQL) {
      mlr_strbuf_append(&b, ",\"sql\":", 7);
      mlr_strbuf_append_json_string(&b, e->sql, strlen(e->sql));
      mlr_strbuf_appendf(&b, ",\"mode\":\"%s\",\"version\":%lld",
                         e->mode == XCHG_SQL_STREAM_END ? "stream_end" : "batch",
                         (long long)e->version);
      if (e->input_schema_json != NULL) {
        mlr_strbuf_appendf(&b, ",\"input_schema\":%s", e->input_schema_json);
      }
    } else if (e->kind == XCHG_KIND_NATIVE) {
      mlr_strbuf_append(&b, ",\"path\":", 8);
      mlr_strbuf_append_json_string(&b, e->path, strlen(e->path));
    }
    mlr_strbuf_append(&b, "}", 1);
  }
  mlr_strbuf_append(&b, "]", 1);
  for (size_t i = 0; i < n; i++) xchg_entry_unref(snap[i]);
  free(snap);
  return take_result(&b, result, result_len, err);
}

/* ---------------------------------------------------------------- instances */

mlr_code xchg_open(xchg_registry *reg, const char *name, const char *params_json,
                   const struct ArrowSchema *input_schema, db_conn *conn, xchg_instance **out,
                   mlr_error *err) {
  *out = NULL;
  mlr_code rc = MALLARD_OK;
  xchg_instance *inst = NULL;
  if (name == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "no exchanger name");
  xchg_entry *e = get_entry(reg, name);
  if (e == NULL) {
    return mlr_error_set(err, MALLARD_NOT_FOUND,
                         "unknown exchanger '%s' (the list_exchangers action lists them)", name);
  }
  if (input_schema == NULL || input_schema->release == NULL || input_schema->format == NULL ||
      strcmp(input_schema->format, "+s") != 0) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "the input schema is not a struct (+s)");
    goto cleanup;
  }
  inst = calloc(1, sizeof *inst);
  if (inst == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  inst->entry = e;
  e = NULL;
  atomic_init(&inst->interrupted, false);
  inst->db = reg->db;
  inst->conn = conn;
  rc = xchg_schema_copy(input_schema, &inst->input_schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  switch (inst->entry->kind) {
  case XCHG_KIND_BUILTIN:
    if (inst->entry->builtin == XCHG_BUILTIN_ECHO) {
      rc = xchg_schema_copy(input_schema, &inst->output_schema, err);
    } else {
      rc = xchg_schema_copy_append(input_schema, "processed", "b", ARROW_FLAG_NULLABLE,
                                   &inst->output_schema, err);
    }
    break;
  case XCHG_KIND_SQL:
    rc = xchg_sql_open(inst, params_json, err);
    break;
  case XCHG_KIND_NATIVE:
    rc = xchg_native_open(inst, params_json, err);
    break;
  }
  if (rc != MALLARD_OK) goto cleanup;
  *out = inst;
  inst = NULL;
cleanup:
  xchg_close(inst);
  xchg_entry_unref(e);
  return rc;
}

mlr_code xchg_instance_output_schema(xchg_instance *inst, struct ArrowSchema *out, mlr_error *err) {
  return xchg_schema_copy(&inst->output_schema, out, err);
}

mlr_code xchg_push(xchg_instance *inst, struct ArrowArray *batch, xchg_emit_fn emit, void *ctx,
                   mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  if (inst->failed || inst->finished) {
    rc = mlr_error_set(err, MALLARD_FAILED_PRECONDITION, "exchange '%s' already %s",
                       inst->entry->name, inst->failed ? "failed" : "finished");
    goto fail;
  }
  if (atomic_load(&inst->interrupted)) {
    rc = mlr_error_set(err, MALLARD_CANCELLED, "exchange '%s' was cancelled", inst->entry->name);
    goto fail;
  }
  if (batch == NULL || batch->release == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "input batch is released");
    goto fail;
  }
  if (batch->n_children != inst->input_schema.n_children || batch->length < 0) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "input batch has %lld columns, the stream's schema %lld",
                       (long long)batch->n_children, (long long)inst->input_schema.n_children);
    goto fail;
  }
  switch (inst->entry->kind) {
  case XCHG_KIND_BUILTIN:
    if (inst->entry->builtin == XCHG_BUILTIN_ECHO) {
      rc = emit(ctx, batch, err);
    } else {
      struct ArrowArray outb;
      rc = xchg_processed_batch(batch, &outb, err);
      if (rc == MALLARD_OK) rc = emit(ctx, &outb, err);
    }
    break;
  case XCHG_KIND_SQL:
    rc = xchg_sql_push(inst, batch, emit, ctx, err);
    break;
  case XCHG_KIND_NATIVE:
    rc = xchg_native_push(inst, batch, emit, ctx, err);
    break;
  }
  if (rc != MALLARD_OK) inst->failed = true;
  return rc;
fail:
  xchg_array_release(batch);
  inst->failed = true;
  return rc;
}

mlr_code xchg_finish(xchg_instance *inst, xchg_emit_fn emit, void *ctx, mlr_error *err) {
  if (inst->failed || inst->finished) {
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION, "exchange '%s' already %s",
                         inst->entry->name, inst->failed ? "failed" : "finished");
  }
  if (atomic_load(&inst->interrupted)) {
    inst->failed = true;
    return mlr_error_set(err, MALLARD_CANCELLED, "exchange '%s' was cancelled", inst->entry->name);
  }
  mlr_code rc = MALLARD_OK;
  switch (inst->entry->kind) {
  case XCHG_KIND_BUILTIN:
    break;
  case XCHG_KIND_SQL:
    rc = xchg_sql_finish(inst, emit, ctx, err);
    break;
  case XCHG_KIND_NATIVE:
    rc = xchg_native_finish(inst, emit, ctx, err);
    break;
  }
  if (rc != MALLARD_OK) {
    inst->failed = true;
  } else {
    inst->finished = true;
  }
  return rc;
}

void xchg_interrupt(xchg_instance *inst) {
  if (inst == NULL) return;
  atomic_store(&inst->interrupted, true);
  if (inst->entry->kind == XCHG_KIND_SQL && inst->conn != NULL) db_conn_interrupt(inst->conn);
}

void xchg_close(xchg_instance *inst) {
  if (inst == NULL) return;
  if (inst->entry != NULL) {
    if (inst->entry->kind == XCHG_KIND_SQL) xchg_sql_close(inst);
    if (inst->entry->kind == XCHG_KIND_NATIVE) xchg_native_close(inst);
  }
  xchg_schema_release(&inst->output_schema);
  xchg_schema_release(&inst->input_schema);
  xchg_entry_unref(inst->entry);
  free(inst);
}
