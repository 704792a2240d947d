/* The DuckDB adapter: one database per server, a connection per call, queries as streams of
 * Arrow record batches, ingest of Arrow batches inside one transaction, table catalog helpers,
 * and DuckDB error -> mallard status mapping. It knows nothing of gRPC.
 *
 * Status mapping of DuckDB errors: parser/binder/conversion errors -> INVALID_ARGUMENT;
 * catalog "does not exist" -> NOT_FOUND; "already exists" -> ALREADY_EXISTS; out of memory ->
 * RESOURCE_EXHAUSTED; interrupted -> CANCELLED; constraint -> INVALID_ARGUMENT (FAILED_PRECONDITION
 * is not used); anything else -> INTERNAL. The message is DuckDB's own.
 * (Implementation detail, src/db/db.c: the other errors caused by the statement or its data --
 * syntax, invalid input, out of range, division by zero, type mismatch, decimal, parameter not
 * resolved, dependency, other catalog errors -- are INVALID_ARGUMENT too.)
 *
 * Thread safety: a db_database may be used from any thread; a db_conn and everything made from
 * it by one thread at a time, except db_conn_interrupt which any thread may call.
 * A connection runs one statement at a time: a streaming query stays readable only until
 * anything else runs on its connection (DuckDB closes the result); db_query_next then fails
 * with FAILED_PRECONDITION instead of ending early. Use another connection meanwhile. */
#ifndef DB_H
#define DB_H

#include "common/mlr_error.h"
#include "mallard/arrow_c.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct db_database db_database;
typedef struct db_conn db_conn;

typedef struct db_options {
  const char *path;         /* NULL or ":memory:" = in-memory */
  int threads;              /* 0 = DuckDB's default */
  const char *memory_limit; /* e.g. "4GB"; NULL = default */
  bool read_only;
  /* DuckDB's arrow_lossless_conversion. Off (the default): HUGEINT/UHUGEINT go out as
   * decimal128(38,0) and UUID as a string, which every Arrow client reads as numbers and text
   * (what `SELECT sum(x)` users expect). On: they go out as Arrow extension types (arrow.opaque,
   * arrow.uuid) that DuckDB imports back as the same type, for exact DuckDB-to-DuckDB copies. */
  bool arrow_lossless;
  /* On: an in-memory database stores its tables compressed, as a database file holds them
   * (the 24M-row flights table: 0.15 GB instead of 1.28 GB). Loads are as fast as uncompressed
   * ones: commits never checkpoint, and the database's own thread compresses what was written
   * once writes settle (about 0.1 s after the last commit; CPU as much again as the load,
   * on DuckDB's threads). Until then new rows are held uncompressed. Off: uncompressed,
   * DuckDB's default for in-memory databases. No effect on a file. */
  bool compress;
} db_options;

/* Opens (creates) the database. Ownership: db_close. */
mlr_code db_open(const db_options *opts, db_database **out, mlr_error *err);
/* Checkpoints a persistent database, then closes it. All connections must be closed first. */
void db_close(db_database *db);

/* Waits up to timeout_ms until the compressed database's background compaction has nothing
 * left to do (true) or the time is up (false); true at once for any other database. *passes
 * (may be NULL) gets the number of compactions run so far. For tests and tools. */
bool db_compact_wait(db_database *db, int timeout_ms, uint64_t *passes);

mlr_code db_connect(db_database *db, db_conn **out, mlr_error *err);
void db_disconnect(db_conn *conn); /* NULL is a no-op; rolls back an open transaction */
/* Interrupts the query running on conn (thread-safe; for cancellation). */
void db_conn_interrupt(db_conn *conn);

/* Runs a statement to completion; *rows_changed (may be NULL) gets the changed-row count
 * (0 for statements without one). */
mlr_code db_execute(db_conn *conn, const char *sql, int64_t *rows_changed, mlr_error *err);

/* ---------------------------------------------------------------- queries as Arrow streams */

typedef struct db_query db_query;

typedef struct db_query_options {
  int64_t batch_rows; /* target rows per batch, default 65536 when 0 */
} db_query_options;

/* Starts a streaming query (DuckDB's streaming result: rows are produced as they are pulled).
 * Named parameters may be bound first with db_query_bind_json-like helpers (see below).
 * Ownership: db_query_free. */
mlr_code db_query_start(db_conn *conn, const char *sql, const db_query_options *opts,
                        db_query **out, mlr_error *err);
/* The result's schema ("+s"); the caller releases it. Valid right after db_query_start. */
mlr_code db_query_schema(db_query *q, struct ArrowSchema *out, mlr_error *err);
/* The next batch ("+s" array of about batch_rows rows, coalesced from DuckDB's chunks);
 * *eof = true at the end (batch untouched). The caller owns and releases the batch; it stays
 * valid after db_query_free. An error mid-stream (after batches were returned) is reported here. */
mlr_code db_query_next(db_query *q, struct ArrowArray *batch, bool *eof, mlr_error *err);
void db_query_free(db_query *q);

/* The schema a query would produce, without running it (prepare only). */
mlr_code db_query_schema_only(db_conn *conn, const char *sql, struct ArrowSchema *out,
                              mlr_error *err);

/* ---------------------------------------------------------------- prepared statements */

typedef struct db_prepared db_prepared;
mlr_code db_prepare(db_conn *conn, const char *sql, db_prepared **out, mlr_error *err);
/* Number and names of the statement's named parameters ($name). */
int64_t db_prepared_param_count(db_prepared *p);
const char *db_prepared_param_name(db_prepared *p, int64_t i); /* NULL if positional */
/* Binds a value by parameter name: typed binders. Unknown name -> INVALID_ARGUMENT. */
mlr_code db_prepared_bind_null(db_prepared *p, const char *name, mlr_error *err);
mlr_code db_prepared_bind_bool(db_prepared *p, const char *name, bool v, mlr_error *err);
mlr_code db_prepared_bind_int64(db_prepared *p, const char *name, int64_t v, mlr_error *err);
mlr_code db_prepared_bind_double(db_prepared *p, const char *name, double v, mlr_error *err);
mlr_code db_prepared_bind_varchar(db_prepared *p, const char *name, const char *v, mlr_error *err);
/* The prepared statement's result schema. */
mlr_code db_prepared_schema(db_prepared *p, struct ArrowSchema *out, mlr_error *err);
/* Executes as a streaming query (the prepared statement may be executed again after the query is
 * freed). */
mlr_code db_prepared_query(db_prepared *p, const db_query_options *opts, db_query **out,
                           mlr_error *err);
void db_prepared_free(db_prepared *p);
/* Whether the statement is a query (DuckDB's SELECT statement type: SELECT, WITH ... SELECT,
 * FROM, VALUES, TABLE, SHOW, DESCRIBE, SUMMARIZE and PIVOT are all planned as one). A data-
 * modifying WITH (WITH ... INSERT) is not. */
bool db_prepared_is_query(const db_prepared *p);

/* Whether sql is one statement that cannot write: a query (as db_prepared_is_query), or an
 * EXPLAIN, unless EXPLAIN ANALYZE (it runs its statement) of a statement that is not a query.
 * Decided by DuckDB's parser and binder: the statement is prepared, never run. A statement that
 * does not prepare (a syntax error, an unknown table, several statements) answers its error.
 * A query that names a function with a side effect on other users (DuckDB's log: turning it
 * on, reading, clearing or writing it; checkpoints; running SQL given as a string) is not
 * read-only either: *why (NULL allowed) is then that function's name, else NULL. An EXPLAIN
 * whose prefix holds a comment or quotes is not read-only (fails closed). */
mlr_code db_sql_is_read_only(db_conn *conn, const char *sql, bool *read_only, const char **why,
                             mlr_error *err);
/* Whether sql's first word is one a query starts with (SELECT, WITH, FROM, VALUES, TABLE, SHOW,
 * DESCRIBE, SUMMARIZE, PIVOT, UNPIVOT or '('): for text that cannot be prepared yet (its
 * tables do not exist), as a first check; db_prepared_is_query decides once it prepares. */
bool db_sql_starts_like_query(const char *sql);

/* ---------------------------------------------------------------- catalog */

/* Table names: schema may be NULL (the default schema). Identifiers are quoted by the adapter;
 * callers never paste names into SQL. */
mlr_code db_table_exists(db_conn *conn, const char *schema, const char *table, bool *exists,
                         mlr_error *err);
mlr_code db_table_schema(db_conn *conn, const char *schema, const char *table,
                         struct ArrowSchema *out, mlr_error *err);
mlr_code db_table_row_count(db_conn *conn, const char *schema, const char *table, int64_t *rows,
                            mlr_error *err);

typedef struct db_table_entry {
  char *schema;
  char *table;
  int64_t rows;
} db_table_entry;
typedef struct db_table_list {
  db_table_entry *items;
  int64_t count;
} db_table_list;
/* Lists base tables (all schemas of the main database); like_pattern (NULL = all) filters the
 * table name with SQL LIKE. Ownership: db_table_list_free. */
mlr_code db_list_tables(db_conn *conn, const char *like_pattern, db_table_list *out,
                        mlr_error *err);
void db_table_list_free(db_table_list *list);
mlr_code db_drop_table(db_conn *conn, const char *schema, const char *table, mlr_error *err);

/* A SQL string literal / identifier, quoted and escaped; caller frees with free(). */
char *db_quote_identifier(const char *name);
char *db_quote_literal(const char *value);

/* ---------------------------------------------------------------- ingest (DoPut) */

typedef enum db_put_mode {
  DB_PUT_CREATE_OR_APPEND = 0, /* PATH descriptors */
  DB_PUT_APPEND = 1,           /* table must exist: else NOT_FOUND */
  DB_PUT_CREATE = 2,           /* table must not exist: else ALREADY_EXISTS */
  DB_PUT_REPLACE = 3           /* the table is swapped for the new data */
} db_put_mode;

typedef struct db_ingest db_ingest;

/* Begins one transaction on conn and prepares to load batches of `schema` into the table:
 * creates it (from the Arrow schema's types) or checks that the stream's schema matches it
 * (column count, names, types: a mismatch is INVALID_ARGUMENT naming the column).
 * Ownership: exactly one of db_ingest_commit or db_ingest_abort ends it (both free it). */
mlr_code db_ingest_begin(db_conn *conn, const char *schema_name, const char *table,
                         db_put_mode mode, const struct ArrowSchema *schema, db_ingest **out,
                         mlr_error *err);
/* Appends one batch ("+s" array; moved in, released by the adapter, also on error). */
mlr_code db_ingest_append(db_ingest *ing, struct ArrowArray *batch, mlr_error *err);
/* The same in two steps, so that converting a batch to DuckDB's chunks (db_ingest_prepare, on a
 * connection of the ingest's own) can run on one thread while the previous batch is appended on
 * another (db_ingest_append_prepared, the thread making every other call). One prepare at a time.
 * prepare moves the batch in (released on error too); append_prepared takes b (freed on error
 * too); db_ingest_batch_free frees one not appended. */
typedef struct db_ingest_batch db_ingest_batch;
mlr_code db_ingest_prepare(db_ingest *ing, struct ArrowArray *batch, db_ingest_batch **out,
                           mlr_error *err);
mlr_code db_ingest_append_prepared(db_ingest *ing, db_ingest_batch *b, mlr_error *err);
int64_t db_ingest_batch_rows(const db_ingest_batch *b);
void db_ingest_batch_free(db_ingest_batch *b);
/* Commits; *rows = rows appended by this ingest. On failure the transaction is rolled back. */
mlr_code db_ingest_commit(db_ingest *ing, int64_t *rows, mlr_error *err);
/* Rolls back: the table is exactly as before db_ingest_begin. */
void db_ingest_abort(db_ingest *ing);

#endif /* DB_H */
