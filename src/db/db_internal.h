/* Private to src/db: the structs behind db.h's handles, shared by the adapter's files, and the
 * DuckDB error -> mlr_code mapping. */
#ifndef DB_INTERNAL_H
#define DB_INTERNAL_H

#include "mallard/arrow_c.h" /* Arrow structs before duckdb.h */

#include "db/db.h"

#include <duckdb.h>

typedef struct db_compactor db_compactor;

struct db_database {
  duckdb_database db;
  bool persistent;
  bool compressed;         /* in-memory, stored compressed (db_options.compress) */
  db_compactor *compactor; /* compressed only: runs the deferred checkpoints (db_compact.c) */
};

struct db_conn {
  db_database *db;
  duckdb_connection con;
  duckdb_arrow_options arrow_opts;
  bool in_transaction; /* an ingest's transaction is open */
  /* Bumped by every statement run on the connection: DuckDB closes a streaming result when the
   * connection runs anything else, so a query remembers the epoch it started in and reports
   * the closure instead of a silently truncated stream. */
  uint64_t epoch;
};

struct db_prepared {
  db_conn *conn;
  duckdb_prepared_statement stmt;
  char **param_names; /* [nparams]; NULL entries for positional parameters */
  int64_t nparams;
};

/* The compressed database's background compaction (db_compact.c): started by db_open, stopped
 * (any CHECKPOINT under way interrupted or finished) by db_close before DuckDB closes. */
mlr_code db_compactor_start(db_database *db, mlr_error *err);
void db_compactor_stop(db_database *db);
/* Something was written: checkpoint once writes settle. A no-op without a compactor. */
void db_compact_request(db_database *db);
/* Around every streaming query (db_query_from_stmt .. db_query_free): open waits while a
 * compaction pass runs; no pass starts while a query is open. No-ops without a compactor. */
void db_compact_query_open(db_database *db);
void db_compact_query_close(db_database *db);

/* Maps a DuckDB error type (and, for catalog errors, the message) to a status. */
mlr_code db_map_error_type(duckdb_error_type type, const char *msg);
/* Maps an error known only by its message ("Parser Error: ..."), e.g. from duckdb_prepare_error. */
mlr_code db_map_error_message(const char *msg);
/* Sets err to code and DuckDB's message (fallback when msg is NULL), dropping the repeated
 * "LINE n:" context DuckDB 1.4 appends twice to parser errors. Returns code. */
mlr_code db_error_set(mlr_error *err, mlr_code code, const char *msg, const char *fallback);
/* Fills err from a failed result / error data (which is not destroyed). */
mlr_code db_error_from_result(duckdb_result *res, mlr_error *err);
mlr_code db_error_from_data(duckdb_error_data ed, mlr_error *err);

/* Runs sql and discards the result; on failure fills err. */
mlr_code db_exec_internal(duckdb_connection con, const char *sql, mlr_error *err);

/* Builds a query over an already prepared and bound statement (not owned). */
mlr_code db_query_from_stmt(db_conn *conn, duckdb_prepared_statement stmt, bool owns_stmt,
                            const db_query_options *opts, db_query **out, mlr_error *err);

/* True when q's batches are built by the direct exporter (db_export.h), false when its chunks
 * go through duckdb_data_chunk_to_arrow + db_coalesce (for tests). */
bool db_query_is_direct(const db_query *q);

/* Renders a DuckDB logical type as SQL ("DECIMAL(18,3)", "STRUCT(\"a\" INTEGER)").
 * Returns NULL if out of memory or unsupported; caller frees. */
char *db_logical_type_sql(duckdb_logical_type t);

/* "schema"."table" (schema may be NULL): caller frees; NULL if out of memory. */
char *db_qualified_name(const char *schema, const char *table);

#endif /* DB_INTERNAL_H */
