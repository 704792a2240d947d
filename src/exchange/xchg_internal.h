/* Internals shared by the exchange module's files: registry entries, the instance, and the Arrow
 * helpers (schema copy, the `processed` batch, Arrow type -> DuckDB SQL type). Not a public API. */
#ifndef XCHG_INTERNAL_H
#define XCHG_INTERNAL_H

#include "common/mlr_json.h"
#include "exchange/xchg.h"
#include "mallard/exchanger.h"

#include <pthread.h>
#include <stdatomic.h>

#define XCHG_NAME_MAX 128

typedef enum xchg_kind { XCHG_KIND_BUILTIN = 0, XCHG_KIND_SQL = 1, XCHG_KIND_NATIVE = 2 } xchg_kind;

typedef enum xchg_builtin_id { XCHG_BUILTIN_ECHO = 0, XCHG_BUILTIN_PROCESSED = 1 } xchg_builtin_id;

/* One immutable version of a registered exchanger; refcounted (the registry holds one reference
 * while it is current, every open instance one more). */
typedef struct xchg_entry {
  atomic_int refs;
  xchg_kind kind;
  char *name;
  char *description;
  int64_t version; /* increases with every registration of the name */
  /* builtin */
  xchg_builtin_id builtin;
  /* sql */
  char *sql;
  xchg_sql_mode mode;
  char *input_schema_json; /* NULL when none was declared */
  /* native */
  void *dl_handle;
  char *path;
  const mallard_exchanger *native;
} xchg_entry;

void xchg_entry_ref(xchg_entry *e);
void xchg_entry_unref(xchg_entry *e); /* frees (and dlcloses) at zero; NULL is a no-op */

struct xchg_instance {
  xchg_entry *entry;
  struct ArrowSchema input_schema;  /* deep copy */
  struct ArrowSchema output_schema; /* deep copy owned by the instance */
  atomic_bool interrupted;
  bool finished;
  bool failed;
  /* sql */
  db_database *db;
  db_conn *conn;
  bool own_conn;
  db_prepared *stmt;    /* prepared at open: checks the query and params, gives the schema */
  char *params_json;    /* bound again at every run */
  db_ingest *ingest;    /* stream_end: the open append into `input` */
  char attach_name[48]; /* the exchange's private database holding `input` */
  char *home_db;        /* the connection's default database before the exchange (quoted) */
  bool attached;
  bool switched; /* USE attach_name is in effect */
  /* native */
  void *native_state;
  bool native_ready;
};

/* ---- Arrow helpers (xchg_arrow.c) */

/* Deep-copies a schema (strings, metadata, children, dictionary); dst gets its own release. */
mlr_code xchg_schema_copy(const struct ArrowSchema *src, struct ArrowSchema *dst, mlr_error *err);
/* Deep copy of a "+s" schema with one more field appended. */
mlr_code xchg_schema_copy_append(const struct ArrowSchema *src, const char *name,
                                 const char *format, int64_t flags, struct ArrowSchema *dst,
                                 mlr_error *err);
/* Releases a schema if it is live (release != NULL). */
void xchg_schema_release(struct ArrowSchema *s);
void xchg_array_release(struct ArrowArray *a);
/* Builds `processed`'s output from a "+s" batch (moved in, also on error): the same children
 * (not copied) plus a BOOLEAN column of trues. */
mlr_code xchg_processed_batch(struct ArrowArray *in, struct ArrowArray *out, mlr_error *err);

/* ---- JSON helpers (xchg_command.c) */

/* Checks an exchanger name: 1..XCHG_NAME_MAX bytes of [A-Za-z0-9_.-]. */
mlr_code xchg_check_name(const char *name, size_t len, mlr_error *err);

/* ---- SQL exchangers (xchg_sql.c) */

/* Checks a definition against the database at registration (see xchg_register_sql). */
mlr_code xchg_sql_validate(db_database *db, const xchg_sql_def *def, mlr_error *err);
mlr_code xchg_sql_open(xchg_instance *inst, const char *params_json, mlr_error *err);
mlr_code xchg_sql_push(xchg_instance *inst, struct ArrowArray *batch, xchg_emit_fn emit, void *ctx,
                       mlr_error *err);
mlr_code xchg_sql_finish(xchg_instance *inst, xchg_emit_fn emit, void *ctx, mlr_error *err);
void xchg_sql_close(xchg_instance *inst);

/* ---- native exchangers (xchg_native.c) */

/* Loads every *.so of dir; calls add(ctx, entry) for each usable one (the callee takes the
 * entry's reference). Problems are logged, never fatal. */
void xchg_native_load_dir(const char *dir, void (*add)(void *ctx, xchg_entry *e), void *add_ctx,
                          void (*log)(void *ctx, xchg_log_level level, const char *line),
                          void *log_ctx);
mlr_code xchg_native_open(xchg_instance *inst, const char *params_json, mlr_error *err);
mlr_code xchg_native_push(xchg_instance *inst, struct ArrowArray *batch, xchg_emit_fn emit,
                          void *ctx, mlr_error *err);
mlr_code xchg_native_finish(xchg_instance *inst, xchg_emit_fn emit, void *ctx, mlr_error *err);
void xchg_native_close(xchg_instance *inst);

#endif /* XCHG_INTERNAL_H */
