/* Exchangers: streaming transforms run on DoExchange. The registry (one per server) holds the
 * built-ins (`echo`, `processed`), SQL exchangers registered at run time and native exchangers
 * loaded from the operator's --exchanger-dir; an instance runs one exchange. Knows nothing of gRPC.
 *
 * Lifetimes: registry entries are refcounted versions. xchg_open takes a reference on the version
 * current at that moment, so a running exchange keeps it even if the name is replaced or
 * unregistered meanwhile.
 *
 * Threads: the registry may be used from any thread (its entry list is guarded by
 * `entries_lock`; register/unregister are serialised by `update_lock`). An instance is used by one
 * thread at a time, except xchg_interrupt, which any thread may call until xchg_close starts. */
#ifndef XCHG_H
#define XCHG_H

#include "common/mlr_error.h"
#include "db/db.h"
#include "mallard/arrow_c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xchg_registry xchg_registry;
typedef struct xchg_instance xchg_instance;

typedef enum xchg_log_level {
  XCHG_LOG_INFO = 0,
  XCHG_LOG_WARN = 1,
  XCHG_LOG_ERROR = 2
} xchg_log_level;

typedef struct xchg_registry_options {
  /* The server's database: SQL exchangers are checked and persisted here. May be NULL (then only
   * built-ins and native exchangers are available; registering SQL answers FAILED_PRECONDITION).
   * Borrowed: must outlive the registry. */
  db_database *db;
  /* Store SQL exchangers in the table mallard_meta.exchangers (created on demand) and load them
   * at start. Set it for a persistent (--db) database. */
  bool persist;
  /* The database is read-only: persisted exchangers are loaded (with persist) but registering
   * and unregistering answer PERMISSION_DENIED. */
  bool read_only;
  /* Directory of native exchangers (every *.so is dlopen'ed at start); NULL = none. A library
   * that fails to load or has an incompatible ABI is skipped with a log line. */
  const char *native_dir;
  /* Log sink (one line, no newline); NULL = stderr. */
  void (*log)(void *log_ctx, xchg_log_level level, const char *line);
  void *log_ctx;
} xchg_registry_options;

/* Creates a server's registry (built-ins, then persisted SQL exchangers, then native ones).
 * Fails only on out of memory or when persisted exchangers cannot be read.
 * Ownership: xchg_registry_free (after every instance is closed is not required: instances
 * hold their own references). */
mlr_code xchg_registry_new(const xchg_registry_options *opts, xchg_registry **out, mlr_error *err);
void xchg_registry_free(xchg_registry *reg); /* NULL is a no-op */

/* ---------------------------------------------------------------- registration */

typedef enum xchg_sql_mode {
  XCHG_SQL_BATCH = 0,     /* the query runs on each incoming batch (table `input`) */
  XCHG_SQL_STREAM_END = 1 /* the whole input is table `input`; the query runs once at the end */
} xchg_sql_mode;

typedef struct xchg_sql_def {
  const char *name;
  const char *sql;
  xchg_sql_mode mode;
  /* Optional declared input: JSON object {"columns": {"col": "SQL TYPE", ...}}; when given, the
   * query is prepared against it at registration; else only its syntax is checked then and it is
   * fully checked when the first exchange opens. NULL = none. */
  const char *input_schema_json;
} xchg_sql_def;

/* Registers (or with replace, replaces) a SQL exchanger. ALREADY_EXISTS when the name exists and
 * !replace; INVALID_ARGUMENT (with DuckDB's message) for a bad query or name; built-in and native
 * names cannot be replaced (INVALID_ARGUMENT). Persisted when the registry persists. */
mlr_code xchg_register_sql(xchg_registry *reg, const xchg_sql_def *def, bool replace,
                           mlr_error *err);
/* Removes a SQL exchanger: NOT_FOUND if unknown; built-ins/native: INVALID_ARGUMENT. */
mlr_code xchg_unregister(xchg_registry *reg, const char *name, mlr_error *err);

/* DoAction helpers: body bytes in, JSON result out (*result NUL-terminated, caller frees with
 * free()). The caller checks the role first (register/unregister write; list is read-only).
 *   register_exchanger   body {"name","sql","mode":"batch"|"stream_end","replace":bool,
 *                              "input_schema":{"columns":{...}}}  -> {"registered": name}
 *   unregister_exchanger body = the name (plain text), or a JSON string, or {"name": ..}
 *                              -> {"unregistered": name}
 *   list_exchangers      no body -> [{"name","kind":"builtin"|"sql"|"native", ...}] */
mlr_code xchg_action_register(xchg_registry *reg, const uint8_t *body, size_t body_len,
                              char **result, size_t *result_len, mlr_error *err);
mlr_code xchg_action_unregister(xchg_registry *reg, const uint8_t *body, size_t body_len,
                                char **result, size_t *result_len, mlr_error *err);
mlr_code xchg_action_list(xchg_registry *reg, char **result, size_t *result_len, mlr_error *err);

/* ---------------------------------------------------------------- running an exchange */

/* Parses a DoExchange descriptor CMD: either an exchanger name, or JSON
 * {"exchanger": "name", "params": {...}}. *name gets the name and *params_json the params object
 * as JSON text (NULL when there are none); both NUL-terminated, caller frees with free().
 * INVALID_ARGUMENT for bad JSON, a missing/empty name or non-object params. */
mlr_code xchg_parse_command(const uint8_t *cmd, size_t cmd_len, char **name, char **params_json,
                            mlr_error *err);

/* Called for each output batch, in order. Takes ownership of *batch (moved: the callee releases
 * it, also on error). Blocking here is how a slow client slows the exchanger. A non-OK return
 * stops the exchange and is returned by xchg_push/xchg_finish. */
typedef mlr_code (*xchg_emit_fn)(void *ctx, struct ArrowArray *batch, mlr_error *err);

/* Opens an exchange with `name` (NOT_FOUND if unknown) for a stream of `input_schema` (a "+s"
 * schema; borrowed, only read during the call). params_json: the command's params object or NULL.
 * conn: the call's own connection, used by SQL exchangers (temp table `input` on it; borrowed,
 * must outlive the instance; may be NULL, then the instance connects to the registry's database
 * itself). INVALID_ARGUMENT for a query that does not fit the input or bad params.
 * Ownership: xchg_close. */
mlr_code xchg_open(xchg_registry *reg, const char *name, const char *params_json,
                   const struct ArrowSchema *input_schema, db_conn *conn, xchg_instance **out,
                   mlr_error *err);
/* The output stream's schema (deep copy; the caller releases it). Known right after xchg_open. */
mlr_code xchg_instance_output_schema(xchg_instance *inst, struct ArrowSchema *out, mlr_error *err);
/* Feeds one input batch ("+s" array matching input_schema; moved in, released by the instance,
 * also on error); emits zero or more output batches through emit before returning. */
mlr_code xchg_push(xchg_instance *inst, struct ArrowArray *batch, xchg_emit_fn emit, void *ctx,
                   mlr_error *err);
/* End of input: emits the remaining output (stream_end queries, native on_end). */
mlr_code xchg_finish(xchg_instance *inst, xchg_emit_fn emit, void *ctx, mlr_error *err);
/* Cancels the exchange's work (thread-safe, idempotent): a running or later push/finish returns
 * CANCELLED; a running SQL query is interrupted. */
void xchg_interrupt(xchg_instance *inst);
/* Frees the instance (drops the temp table, releases native state and the version reference).
 * NULL is a no-op. */
void xchg_close(xchg_instance *inst);

#endif /* XCHG_H */
