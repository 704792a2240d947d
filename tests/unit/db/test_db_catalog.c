/* Catalog helpers (exists, schema, row count, list with a bound LIKE pattern, drop), quoting,
 * and a persistent database that survives close/open (and read-only opening). */
#include "db_test_util.h"

#include <string.h>
#include <unistd.h>

static void test_quote(void) {
  char *a = db_quote_identifier("we\"ird name");
  char *b = db_quote_literal("it's");
  CHECK_EQ_STR(a, "\"we\"\"ird name\"");
  CHECK_EQ_STR(b, "'it''s'");
  free(a);
  free(b);
  a = db_quote_identifier("");
  CHECK_EQ_STR(a, "\"\"");
  free(a);
}

static void test_catalog(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  mlr_error e = {0};
  tu_exec(c, "CREATE TABLE alpha AS SELECT i::INTEGER AS a, 'x' AS b FROM range(123) t(i)");
  tu_exec(c, "CREATE TABLE \"we'ird\"\"t\" (x DOUBLE)");
  tu_exec(c, "CREATE SCHEMA other; CREATE TABLE other.beta AS SELECT 1 AS z FROM range(7)");
  tu_exec(c, "CREATE VIEW v AS SELECT 1");
  bool ex = false;
  CHECK_EQ_INT(db_table_exists(c, NULL, "alpha", &ex, &e), MALLARD_OK);
  CHECK(ex);
  CHECK_EQ_INT(db_table_exists(c, NULL, "ALPHA", &ex, &e), MALLARD_OK);
  CHECK(ex);
  CHECK_EQ_INT(db_table_exists(c, NULL, "beta", &ex, &e), MALLARD_OK);
  CHECK(!ex);
  CHECK_EQ_INT(db_table_exists(c, "other", "beta", &ex, &e), MALLARD_OK);
  CHECK(ex);
  CHECK_EQ_INT(db_table_exists(c, NULL, "we'ird\"t", &ex, &e), MALLARD_OK);
  CHECK(ex);
  CHECK_EQ_INT(db_table_exists(c, NULL, "alpha' OR 1=1 --", &ex, &e), MALLARD_OK);
  CHECK(!ex);

  struct ArrowSchema s;
  REQUIRE_ONCE(db_table_schema(c, NULL, "alpha", &s, &e) == MALLARD_OK);
  CHECK_EQ_INT(s.n_children, 2);
  CHECK_EQ_STR(s.children[0]->name, "a");
  CHECK_EQ_STR(s.children[0]->format, "i");
  CHECK_EQ_STR(s.children[1]->format, "u");
  s.release(&s);
  CHECK_EQ_INT(db_table_schema(c, NULL, "missing", &s, &e), MALLARD_NOT_FOUND);

  int64_t rows = -1;
  CHECK_EQ_INT(db_table_row_count(c, NULL, "alpha", &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, 123);
  CHECK_EQ_INT(db_table_row_count(c, "other", "beta", &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, 7);
  CHECK_EQ_INT(db_table_row_count(c, NULL, "we'ird\"t", &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, 0);
  CHECK_EQ_INT(db_table_row_count(c, NULL, "missing", &rows, &e), MALLARD_NOT_FOUND);

  db_table_list l;
  REQUIRE_ONCE(db_list_tables(c, NULL, &l, &e) == MALLARD_OK);
  CHECK_EQ_INT(l.count, 3); /* views are not listed */
  bool saw_beta = false;
  for (int64_t i = 0; i < l.count; i++)
    if (!strcmp(l.items[i].table, "beta")) {
      saw_beta = true;
      CHECK_EQ_STR(l.items[i].schema, "other");
      CHECK_EQ_INT(l.items[i].rows, 7);
    }
  CHECK(saw_beta);
  db_table_list_free(&l);
  REQUIRE_ONCE(db_list_tables(c, "al%", &l, &e) == MALLARD_OK);
  CHECK_EQ_INT(l.count, 1);
  if (l.count == 1) {
    CHECK_EQ_STR(l.items[0].table, "alpha");
    CHECK_EQ_STR(l.items[0].schema, "main");
    CHECK_EQ_INT(l.items[0].rows, 123);
  }
  db_table_list_free(&l);
  /* The pattern is a bound value: quotes in it are data. */
  REQUIRE_ONCE(db_list_tables(c, "x' OR '1'='1", &l, &e) == MALLARD_OK);
  CHECK_EQ_INT(l.count, 0);
  db_table_list_free(&l);
  REQUIRE_ONCE(db_list_tables(c, "we'ird%", &l, &e) == MALLARD_OK);
  CHECK_EQ_INT(l.count, 1);
  db_table_list_free(&l);

  CHECK_EQ_INT(db_drop_table(c, NULL, "we'ird\"t", &e), MALLARD_OK);
  CHECK_EQ_INT(db_drop_table(c, NULL, "we'ird\"t", &e), MALLARD_NOT_FOUND);
  CHECK_EQ_INT(db_drop_table(c, "other", "beta", &e), MALLARD_OK);
  CHECK_EQ_INT(db_table_exists(c, "other", "beta", &ex, &e), MALLARD_OK);
  CHECK(!ex);
  db_disconnect(c);
  db_close(db);
}

static void test_persistent(void) {
  char dir[] = "/tmp/mallard-db-test-XXXXXX";
  REQUIRE_ONCE(mkdtemp(dir) != NULL);
  char path[256], wal[300];
  snprintf(path, sizeof path, "%s/test.duckdb", dir);
  snprintf(wal, sizeof wal, "%s.wal", path);
  mlr_error e = {0};
  db_options o = {.path = path, .threads = 2, .memory_limit = "512MB"};
  db_database *db = NULL;
  REQUIRE_ONCE(db_open(&o, &db, &e) == MALLARD_OK);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  CHECK_EQ_INT(tu_exec(c, "CREATE TABLE kept AS SELECT i FROM range(1000) t(i)"), 0);
  /* the options reached DuckDB */
  CHECK_EQ_INT(tu_scalar(c, "SELECT current_setting('threads')::BIGINT"), 2);
  CHECK_EQ_INT(tu_scalar(c, "SELECT (current_setting('memory_limit') LIKE '48%')::BIGINT"), 1);
  db_disconnect(c);
  db_close(db);
  /* close checkpointed: the write-ahead log is gone. */
  CHECK(access(wal, F_OK) != 0);

  o.read_only = true;
  REQUIRE_ONCE(db_open(&o, &db, &e) == MALLARD_OK);
  c = tu_connect(db);
  REQUIRE(c);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM kept"), 1000);
  CHECK(db_execute(c, "INSERT INTO kept VALUES (1)", NULL, &e) != MALLARD_OK);
  db_disconnect(c);
  db_close(db);

  o.read_only = false;
  REQUIRE_ONCE(db_open(&o, &db, &e) == MALLARD_OK);
  c = tu_connect(db);
  CHECK_EQ_INT(tu_scalar(c, "SELECT sum(i)::BIGINT FROM kept"), 499500);
  db_disconnect(c);
  db_close(db);

  /* bad options are reported */
  db_options bad = {.memory_limit = "lots"};
  CHECK_EQ_INT(db_open(&bad, &db, &e), MALLARD_INVALID_ARGUMENT);
  db_options nodir = {.path = "/nonexistent-dir/x.duckdb"};
  CHECK(db_open(&nodir, &db, &e) != MALLARD_OK);
  unlink(path);
  unlink(wal);
  rmdir(dir);
}

MTEST_MAIN(MTEST(test_quote), MTEST(test_catalog), MTEST(test_persistent))
