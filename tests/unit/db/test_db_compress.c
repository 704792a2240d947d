/* The in-memory database stored compressed with db_options.compress (the database every
 * connection starts in, under its usual name) and its background compaction (db_compact.c):
 * commits leave new rows uncompressed, the compactor compresses them once no write transaction
 * is open, loads keep their rows and order, and closing with work pending neither hangs nor
 * leaks. */
#include "db_test_util.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static db_database *open_mem(bool compress) {
  return tu_open_with(false, compress);
}

static const char *k_rows = "SELECT i::BIGINT AS id, 'carrier ' || (i % 17) AS carrier "
                            "FROM range(300000) t(i)";

/* Large enough to make compression visible in duckdb_memory(). */
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
  /* Stored compressed once the compactor has run: well under half the memory of the
   * uncompressed copy. */
  uint64_t passes = 0;
  CHECK(db_compact_wait(db, 60000, &passes));
  CHECK(passes >= 1);
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

/* DuckDB refuses to checkpoint while another write transaction is open: the compactor keeps the
 * rows uncompressed meanwhile (without failing anything) and compresses them after the commit. */
static void test_compaction_waits_for_open_writers(void) {
  db_database *db = open_mem(true);
  REQUIRE(db != NULL);
  db_conn *a = tu_connect(db), *w = tu_connect(db);
  REQUIRE(a != NULL && w != NULL);
  CHECK_EQ_INT(tu_exec(w, "CREATE TABLE other (x INTEGER)"), 0);
  REQUIRE(db_compact_wait(db, 60000, NULL));
  CHECK_EQ_INT(tu_exec(w, "BEGIN TRANSACTION"), 0);
  CHECK_EQ_INT(tu_exec(w, "INSERT INTO other VALUES (1)"), 0);
  CHECK_EQ_INT(tu_exec(a, k_ctas), 0); /* autocommit, beside w's open transaction */
  int64_t before = table_memory(a);
  CHECK(!db_compact_wait(db, 1000, NULL)); /* pending: w is still writing */
  CHECK(table_memory(a) * 2 > before);     /* still uncompressed */
  CHECK_EQ_INT(tu_exec(w, "COMMIT"), 0);
  CHECK(db_compact_wait(db, 60000, NULL));
  CHECK(table_memory(a) * 2 < before);
  CHECK_EQ_INT(tu_scalar(a, "SELECT count(*) FROM t"), 2000000);
  CHECK_EQ_INT(tu_scalar(a, "SELECT count(*) FROM other"), 1);
  db_disconnect(a);
  db_disconnect(w);
  db_close(db);
}

/* Loads into a compressed database keep every row in stream order, before and after the
 * compactor rewrites them; a replace leaves only the new rows. */
static void test_ingest_then_compact(void) {
  db_database *db = open_mem(true);
  REQUIRE(db != NULL);
  db_conn *src = tu_connect(db), *dst = tu_connect(db);
  REQUIRE(src != NULL && dst != NULL);
  mlr_error e = {0};
  int64_t rows = 0;
  CHECK_EQ_INT(tu_copy(src, k_rows, 10000, dst, "t", DB_PUT_CREATE, &rows, NULL, NULL, &e),
               MALLARD_OK);
  CHECK_EQ_INT(rows, 300000);
  const char *order = "SELECT count(*) FROM t WHERE id <> rowid OR carrier <> 'carrier ' || "
                      "(id % 17)";
  CHECK_EQ_INT(tu_scalar(src, order), 0);
  CHECK(db_compact_wait(db, 60000, NULL));
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM t"), 300000);
  CHECK_EQ_INT(tu_scalar(src, order), 0);
  CHECK_EQ_INT(tu_copy(src, "SELECT * FROM t WHERE id < 1000", 100, dst, "t", DB_PUT_REPLACE, &rows,
                       NULL, NULL, &e),
               MALLARD_OK);
  CHECK_EQ_INT(rows, 1000);
  CHECK(db_compact_wait(db, 60000, NULL));
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM t"), 1000);
  CHECK_EQ_INT(tu_scalar(src, order), 0);
  db_disconnect(src);
  db_disconnect(dst);
  db_close(db);
}

/* A database file attached to the compressed one (as --init-sql may) has its WAL checkpointed by
 * the same passes: commits no longer checkpoint any database (the threshold is global). */
static void test_attached_file_checkpointed(void) {
  char dir[] = "/tmp/mallard-compact-XXXXXX";
  REQUIRE(mkdtemp(dir) != NULL);
  char path[128], wal[140], sql[200];
  snprintf(path, sizeof path, "%s/f.db", dir);
  snprintf(wal, sizeof wal, "%s.wal", path);
  db_database *db = open_mem(true);
  REQUIRE(db != NULL);
  db_conn *a = tu_connect(db);
  REQUIRE(a != NULL);
  snprintf(sql, sizeof sql, "ATTACH '%s' AS f", path);
  CHECK_EQ_INT(tu_exec(a, sql), 0);
  CHECK_EQ_INT(tu_exec(a, "CREATE TABLE f.t AS SELECT range AS i FROM range(100000)"), 0);
  CHECK(db_compact_wait(db, 60000, NULL));
  struct stat st;
  CHECK(stat(wal, &st) != 0 || st.st_size == 0); /* checkpointed: the WAL is gone or empty */
  CHECK(stat(path, &st) == 0 && st.st_size > 0);
  CHECK_EQ_INT(tu_scalar(a, "SELECT count(*) FROM f.t"), 100000);
  db_disconnect(a);
  db_close(db);
  unlink(wal);
  unlink(path);
  rmdir(dir);
}

/* Closing right after a large write (compaction pending or running) returns promptly. */
static void test_close_with_compaction_pending(void) {
  for (int i = 0; i < 3; i++) {
    db_database *db = open_mem(true);
    REQUIRE(db != NULL);
    db_conn *a = tu_connect(db);
    REQUIRE(a != NULL);
    CHECK_EQ_INT(tu_exec(a, k_ctas), 0);
    if (i == 1) { /* let the checkpoint start */
      struct timespec ts = {0, 150 * 1000000L};
      nanosleep(&ts, NULL);
    }
    db_disconnect(a);
    db_close(db);
  }
  /* An uncompressed database has no compactor: waiting is immediate. */
  db_database *plain = open_mem(false);
  REQUIRE(plain != NULL);
  uint64_t passes = 7;
  CHECK(db_compact_wait(plain, 0, &passes));
  CHECK_EQ_INT(passes, 0);
  db_close(plain);
}

MTEST_MAIN(MTEST(test_compressed_default_database), MTEST(test_compaction_waits_for_open_writers),
           MTEST(test_ingest_then_compact), MTEST(test_attached_file_checkpointed),
           MTEST(test_close_with_compaction_pending))
