/* The in-memory database stored compressed with db_options.compress (the database every
 * connection starts in, under its usual name) and grouped ingest (INSERT ... SELECT over an Arrow
 * scan of the gathered batches): rows in stream order with the appender's tail, aborts and failures
 * leaving the table exactly as before, no scan view left behind. */
#include "db_test_util.h"

#include <string.h>

static db_database *open_mem(bool compress) {
  db_database *db = NULL;
  mlr_error e = {0};
  db_options o = {.threads = 2, .compress = compress};
  if (db_open(&o, &db, &e) != MALLARD_OK) fprintf(stderr, "db_open: %s\n", e.message);
  return db;
}

static const char *k_rows = "SELECT i::BIGINT AS id, 'carrier ' || (i % 17) AS carrier "
                            "FROM range(300000) t(i)";

/* Large enough that its commit checkpoints (DuckDB compresses at checkpoints). */
static const char *k_ctas = "CREATE TABLE t AS SELECT i::BIGINT AS id, 'carrier ' || (i % 17) "
                            "AS carrier FROM range(2000000) t(i)";

static int64_t table_memory(db_conn *c) {
  return tu_scalar(c, "SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT FROM duckdb_memory() "
                      "WHERE tag = 'IN_MEMORY_TABLE'");
}

static void test_compressed_default_database(void) {
  db_database *db = open_mem(true), *plain = open_mem(false);
  REQUIRE(db != NULL && plain != NULL);
  db_conn *a = tu_connect(db), *p = tu_connect(plain);
  REQUIRE(a != NULL && p != NULL);
  CHECK_EQ_INT(tu_exec(a, k_ctas), 0);
  CHECK_EQ_INT(tu_exec(p, k_ctas), 0);
  /* A connection made afterwards starts in the compressed database, under the usual name. */
  db_conn *b = tu_connect(db);
  REQUIRE(b != NULL);
  CHECK_EQ_INT(tu_scalar(b, "SELECT count(*) FROM t"), 2000000);
  CHECK_EQ_INT(tu_scalar(b, "SELECT count(*) FROM memory.main.t"), 2000000);
  CHECK_EQ_INT(tu_scalar(b, "SELECT (current_database() = 'memory' AND current_schema() = "
                            "'main')::BIGINT"),
               1);
  CHECK_EQ_INT(tu_scalar(b, "SELECT count(*) FROM duckdb_databases() WHERE NOT internal"), 1);
  db_table_list list = {0};
  mlr_error e = {0};
  CHECK_EQ_INT(db_list_tables(b, NULL, &list, &e), MALLARD_OK);
  CHECK_EQ_INT(list.count, 1);
  if (list.count == 1) {
    CHECK_EQ_STR(list.items[0].schema, "main");
    CHECK_EQ_STR(list.items[0].table, "t");
    CHECK_EQ_INT(list.items[0].rows, 2000000);
  }
  db_table_list_free(&list);
  /* Stored compressed: well under half the memory of the uncompressed copy. */
  int64_t mc = table_memory(b), mp = table_memory(p);
  CHECK(mc > 0 && mp > 0 && mc * 2 < mp);
  CHECK_EQ_INT(db_drop_table(b, NULL, "t", &e), MALLARD_OK);
  CHECK_EQ_INT(tu_scalar(a, "SELECT count(*) FROM duckdb_tables()"), 0);
  db_disconnect(a);
  db_disconnect(b);
  db_disconnect(p);
  db_close(db);
  db_close(plain);
}

/* Streams sql in batches of batch_rows into table, loaded in groups; commits unless abort_it. */
static mlr_code group_put(db_conn *src, db_conn *dst, const char *sql, int64_t batch_rows,
                          const char *table, db_put_mode mode, int64_t group_rows, int64_t min_rows,
                          bool abort_it, int64_t *rows, mlr_error *e) {
  db_query *q = NULL;
  db_ingest *ing = NULL;
  struct ArrowSchema s = {0};
  db_query_options o = {.batch_rows = batch_rows};
  mlr_code rc;
  if ((rc = db_query_start(src, sql, &o, &q, e))) return rc;
  if ((rc = db_query_schema(q, &s, e))) goto done;
  if ((rc = db_ingest_begin(dst, NULL, table, mode, &s, &ing, e))) goto done;
  db_ingest_set_grouping(ing, group_rows, min_rows);
  for (;;) {
    struct ArrowArray b;
    bool eof;
    if ((rc = db_query_next(q, &b, &eof, e)) || eof) break;
    if ((rc = db_ingest_append(ing, &b, e))) break;
  }
  if (rc || abort_it)
    db_ingest_abort(ing);
  else
    rc = db_ingest_commit(ing, rows, e);
done:
  if (s.release) s.release(&s);
  db_query_free(q);
  return rc;
}

static int64_t leftover_views(db_conn *c) {
  return tu_scalar(c, "SELECT count(*) FROM duckdb_views() WHERE view_name LIKE 'mallard_ingest%'");
}

static void test_groups_keep_order_and_count(void) {
  db_database *db = open_mem(true);
  REQUIRE(db != NULL);
  db_conn *src = tu_connect(db), *dst = tu_connect(db);
  REQUIRE(src != NULL && dst != NULL);
  mlr_error e = {0};
  int64_t rows = 0;
  /* Groups of 100,000 rows (batches of 10,000) inserted by scan, then a 50,000-row tail under
   * min_rows through the appender; then a second ingest appends with groups only. */
  CHECK_EQ_INT(group_put(src, dst,
                         "SELECT i::BIGINT AS id, 'carrier ' || (i % 17) AS carrier FROM "
                         "range(250000) t(i)",
                         10000, "g", DB_PUT_CREATE, 100000, 60000, false, &rows, &e),
               MALLARD_OK);
  CHECK_EQ_INT(rows, 250000);
  CHECK_EQ_INT(group_put(src, dst,
                         "SELECT (250000 + i)::BIGINT AS id, 'carrier ' || ((250000 + i) % 17) AS "
                         "carrier FROM range(50000) t(i)",
                         7000, "g", DB_PUT_APPEND, 10000, 1, false, &rows, &e),
               MALLARD_OK);
  CHECK_EQ_INT(rows, 50000);
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM g"), 300000);
  /* Stream order: the rowid (insertion order) is the id. */
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM g WHERE id <> rowid OR carrier <> 'carrier ' "
                              "|| (id % 17)"),
               0);
  CHECK_EQ_INT(leftover_views(src), 0);
  db_disconnect(src);
  db_disconnect(dst);
  db_close(db);
}

static void test_group_abort_leaves_table_unchanged(void) {
  db_database *db = open_mem(true);
  REQUIRE(db != NULL);
  db_conn *src = tu_connect(db), *dst = tu_connect(db);
  REQUIRE(src != NULL && dst != NULL);
  mlr_error e = {0};
  int64_t rows = 0;
  CHECK_EQ_INT(group_put(src, dst, k_rows, 65536, "t", DB_PUT_CREATE, 0, 0, false, &rows, &e),
               MALLARD_OK);
  CHECK_EQ_INT(rows, 300000);
  int64_t sum = tu_scalar(src, "SELECT sum(id)::BIGINT FROM t");
  /* Several groups inserted, then the stream aborted: append and replace. */
  CHECK_EQ_INT(group_put(src, dst, k_rows, 20000, "t", DB_PUT_APPEND, 50000, 1, true, NULL, &e),
               MALLARD_OK);
  CHECK_EQ_INT(group_put(src, dst, k_rows, 20000, "t", DB_PUT_REPLACE, 50000, 1, true, NULL, &e),
               MALLARD_OK);
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM t"), 300000);
  CHECK_EQ_INT(tu_scalar(src, "SELECT sum(id)::BIGINT FROM t"), sum);
  CHECK_EQ_INT(leftover_views(src), 0);
  /* A group that fails midway (a NOT NULL violation in its last batches) fails the ingest with
   * the constraint's status; the abort leaves the table as it was. */
  CHECK_EQ_INT(tu_exec(src, "CREATE TABLE nn (id BIGINT NOT NULL, carrier VARCHAR)"), 0);
  CHECK_EQ_INT(tu_exec(src, "INSERT INTO nn VALUES (1, 'a')"), 0);
  mlr_code rc = group_put(src, dst,
                          "SELECT CASE WHEN i < 90000 THEN i END::BIGINT AS id, 'x' AS carrier "
                          "FROM range(100000) t(i)",
                          10000, "nn", DB_PUT_APPEND, 50000, 1, false, NULL, &e);
  CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "NOT NULL") != NULL);
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM nn"), 1);
  CHECK_EQ_INT(leftover_views(src), 0);
  /* The connection is usable afterwards. */
  CHECK_EQ_INT(group_put(src, dst, k_rows, 65536, "t", DB_PUT_APPEND, 100000, 1, false, &rows, &e),
               MALLARD_OK);
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM t"), 600000);
  db_disconnect(src);
  db_disconnect(dst);
  db_close(db);
}

MTEST_MAIN(MTEST(test_compressed_default_database), MTEST(test_groups_keep_order_and_count),
           MTEST(test_group_abort_leaves_table_unchanged))
