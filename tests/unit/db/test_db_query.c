/* Streaming queries: batch sizes, values after coalescing, zero-row results, errors before and
 * during the stream, error mapping, interrupts from another thread, prepared statements. */
#include "db_test_util.h"
#include "db/db_internal.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void test_batches_and_values(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  mlr_error e = {0};
  REQUIRE_ONCE(
      db_query_start(c,
                     "SELECT i::BIGINT AS i, CASE WHEN i % 5 = 0 THEN NULL ELSE i::VARCHAR "
                     "END AS s FROM range(300000) t(i) ORDER BY i",
                     NULL, &q, &e) == MALLARD_OK);
  struct ArrowSchema s;
  REQUIRE_ONCE(db_query_schema(q, &s, &e) == MALLARD_OK);
  CHECK_EQ_STR(s.format, "+s");
  CHECK_EQ_INT(s.n_children, 2);
  CHECK_EQ_STR(s.children[0]->name, "i");
  CHECK_EQ_STR(s.children[0]->format, "l");
  CHECK_EQ_STR(s.children[1]->format, "u");
  s.release(&s);
  int64_t total = 0, nbatches = 0, next_i = 0, bad = 0;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    mlr_code rc = db_query_next(q, &b, &eof, &e);
    CHECK_EQ_INT(rc, MALLARD_OK);
    if (rc || eof) break;
    nbatches++;
    /* About batch_rows: at least 65536 and less than one more chunk, except the last. */
    if (total + b.length < 300000) CHECK(b.length >= 65536 && b.length < 65536 + 2048);
    const struct ArrowArray *ci = b.children[0], *cs = b.children[1];
    const int64_t *iv = ci->buffers[1];
    const int32_t *off = cs->buffers[1];
    const char *data = cs->buffers[2];
    const uint8_t *valid = cs->buffers[0];
    CHECK(valid != NULL);
    int64_t want_nulls = 0;
    for (int64_t r = 0; r < b.length; r++) want_nulls += (next_i + r) % 5 == 0;
    CHECK_EQ_INT(cs->null_count, want_nulls);
    for (int64_t r = 0; r < b.length; r++, next_i++) {
      if (iv[ci->offset + r] != next_i) bad++;
      bool is_valid = (valid[(cs->offset + r) >> 3] >> ((cs->offset + r) & 7)) & 1;
      if (is_valid != (next_i % 5 != 0)) bad++;
      if (is_valid) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)next_i);
        int32_t len = off[cs->offset + r + 1] - off[cs->offset + r];
        if (len != n || memcmp(data + off[cs->offset + r], buf, (size_t)n) != 0) bad++;
      }
    }
    total += b.length;
    b.release(&b);
  }
  CHECK_EQ_INT(total, 300000);
  CHECK_EQ_INT(nbatches, 5);
  CHECK_EQ_INT(bad, 0);
  db_query_free(q);

  /* batch_rows is honoured. */
  db_query_options o = {.batch_rows = 10000};
  REQUIRE_ONCE(db_query_start(c, "SELECT * FROM range(100000)", &o, &q, &e) == MALLARD_OK);
  nbatches = total = 0;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    if (db_query_next(q, &b, &eof, &e) || eof) break;
    if (total + b.length < 100000) CHECK(b.length >= 10000 && b.length < 10000 + 2048);
    total += b.length;
    nbatches++;
    b.release(&b);
  }
  CHECK_EQ_INT(total, 100000);
  CHECK(nbatches >= 9 && nbatches <= 10);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

/* Coalesced batches hold the same data as DuckDB's own chunks (batch_rows 1 = no coalescing):
 * both are loaded into tables and compared. Nested types exercise unaligned child ranges. */
static void test_coalesce_matches_chunks(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db), *c2 = tu_connect(db);
  REQUIRE(c && c2);
  tu_exec(c, "CREATE TYPE color AS ENUM ('red', 'green', 'blue')");
  tu_exec(c, "CREATE TABLE src AS SELECT i, i % 3 = 0 AS b, (i * 1.5)::DECIMAL(18,2) AS d, "
             "CASE WHEN i % 11 = 0 THEN NULL ELSE repeat('x', (i % 7)::INTEGER) END AS s, "
             "CASE WHEN i % 13 = 0 THEN NULL ELSE range(i % 5) END AS l, "
             "{'a': i, 'b': [i::VARCHAR, NULL]} AS st, MAP {i: i % 2 = 0} AS m, "
             "array_value(i, i + 1) AS a, (['red', 'green', 'blue'])[i % 3 + 1]::color AS e, "
             "(i % 7)::UTINYINT AS u8, uuid() AS id "
             "FROM range(20000) t(i)");
  tu_exec(c, "UPDATE src SET a = NULL, e = NULL, b = NULL WHERE i % 17 = 5");
  mlr_error e = {0};
  int64_t rows = 0, nb1 = 0, nb2 = 0, mx = 0;
  CHECK_EQ_INT(
      tu_copy(c, "SELECT * FROM src", 1, c2, "chunks", DB_PUT_CREATE, &rows, &nb1, &mx, &e),
      MALLARD_OK);
  CHECK_EQ_INT(rows, 20000);
  CHECK(mx <= 2048);
  CHECK_EQ_INT(
      tu_copy(c, "SELECT * FROM src", 7000, c2, "coalesced", DB_PUT_CREATE, &rows, &nb2, &mx, &e),
      MALLARD_OK);
  CHECK_EQ_INT(rows, 20000);
  CHECK(nb2 < nb1);
  CHECK(mx > 2048);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM (SELECT * FROM chunks EXCEPT ALL "
                            "SELECT * FROM coalesced)"),
               0);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM (SELECT * FROM coalesced EXCEPT ALL "
                            "SELECT * FROM src)"),
               0);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM (SELECT * FROM src EXCEPT ALL "
                            "SELECT * FROM coalesced)"),
               0);
  db_disconnect(c2);
  db_disconnect(c);
  db_close(db);
}

static void test_zero_rows(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  mlr_error e = {0};
  REQUIRE_ONCE(db_query_start(c, "SELECT 1::INTEGER AS a, 'x' AS b FROM range(10) WHERE false",
                              NULL, &q, &e) == MALLARD_OK);
  struct ArrowSchema s;
  REQUIRE_ONCE(db_query_schema(q, &s, &e) == MALLARD_OK);
  CHECK_EQ_INT(s.n_children, 2);
  CHECK_EQ_STR(s.children[0]->format, "i");
  s.release(&s);
  struct ArrowArray b = {0};
  bool eof = false;
  CHECK_EQ_INT(db_query_next(q, &b, &eof, &e), MALLARD_OK);
  CHECK(eof);
  CHECK(b.release == NULL);
  CHECK_EQ_INT(db_query_next(q, &b, &eof, &e), MALLARD_OK);
  CHECK(eof);
  db_query_free(q);
  /* Statements without a result set stream nothing but succeed. */
  REQUIRE_ONCE(db_query_start(c, "CREATE TABLE t (a INTEGER)", NULL, &q, &e) == MALLARD_OK);
  CHECK_EQ_INT(db_query_next(q, &b, &eof, &e), MALLARD_OK);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

static void test_errors(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  mlr_error e = {0};
  CHECK_EQ_INT(db_query_start(c, "SELEC 1", NULL, &q, &e), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "syntax error") != NULL);
  CHECK(q == NULL);
  CHECK_EQ_INT(db_query_start(c, "SELECT * FROM nope", NULL, &q, &e), MALLARD_NOT_FOUND);
  CHECK(strstr(e.message, "nope") != NULL);
  CHECK_EQ_INT(db_query_start(c, "SELECT x FROM range(3)", NULL, &q, &e), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "Binder Error") != NULL);
  CHECK_EQ_INT(db_execute(c, "CREATE TABLE t (a INTEGER PRIMARY KEY)", NULL, &e), MALLARD_OK);
  CHECK_EQ_INT(db_execute(c, "CREATE TABLE t (a INTEGER)", NULL, &e), MALLARD_ALREADY_EXISTS);
  int64_t changed = -1;
  CHECK_EQ_INT(db_execute(c, "INSERT INTO t VALUES (1), (2)", &changed, &e), MALLARD_OK);
  CHECK_EQ_INT(changed, 2);
  /* CREATE TABLE AS counts the rows it wrote; other DDL changes none. */
  CHECK_EQ_INT(db_execute(c, "CREATE TABLE t3 AS SELECT * FROM range(3)", &changed, &e),
               MALLARD_OK);
  CHECK_EQ_INT(changed, 3);
  CHECK_EQ_INT(db_execute(c, "CREATE VIEW v AS SELECT * FROM t3", &changed, &e), MALLARD_OK);
  CHECK_EQ_INT(changed, 0);
  /* Every statement's rows count; statements run in order, each seeing the ones before. */
  CHECK_EQ_INT(db_execute(c,
                          "CREATE TABLE t4 (i INT); INSERT INTO t4 VALUES (1), (2); "
                          "INSERT INTO t4 SELECT i + 10 FROM t4; DELETE FROM t4 WHERE i = 1",
                          &changed, &e),
               MALLARD_OK);
  CHECK_EQ_INT(changed, 5);
  CHECK_EQ_INT(db_execute(c, "", &changed, &e), MALLARD_INVALID_ARGUMENT);
  /* ... in one transaction: a failing statement leaves nothing of the ones before it. */
  CHECK_EQ_INT(
      db_execute(c, "INSERT INTO t4 VALUES (100); INSERT INTO nosuch VALUES (1)", &changed, &e),
      MALLARD_NOT_FOUND);
  CHECK_EQ_INT(db_execute(c, "BEGIN; INSERT INTO t4 VALUES (100)", &changed, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "one transaction") != NULL);
  CHECK_EQ_INT(db_execute(c, "DELETE FROM t4 WHERE i = 100", &changed, &e), MALLARD_OK);
  CHECK_EQ_INT(changed, 0);
  /* Status codes: NOT_FOUND / ALREADY_EXISTS for tables and schemas only. */
  CHECK_EQ_INT(db_execute(c, "SELECT nosuchfunc(1)", NULL, &e), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(db_execute(c, "SELECT 1::nosuchtype", NULL, &e), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(db_execute(c, "CREATE TABLE dup (a INT, a INT)", NULL, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(db_execute(c, "SELECT * FROM nosuch_table", NULL, &e), MALLARD_NOT_FOUND);
  CHECK_EQ_INT(db_execute(c, "SELECT * FROM nosuch_schema.t", NULL, &e), MALLARD_NOT_FOUND);
  CHECK_EQ_INT(db_execute(c, "CREATE TABLE t4 (i INT)", NULL, &e), MALLARD_ALREADY_EXISTS);
  CHECK_EQ_INT(db_execute(c, "ROLLBACK", NULL, &e), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(db_execute(c, "INSERT INTO t4 VALUES (3); SELEC", &changed, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(db_execute(c, "INSERT INTO t VALUES (1)", NULL, &e), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "Constraint") != NULL);
  CHECK_EQ_INT(db_execute(c, "SELECT 'a'::INTEGER", NULL, &e), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(db_execute(c, "DROP TABLE nope", NULL, &e), MALLARD_NOT_FOUND);
  db_disconnect(c);
  db_close(db);
}

/* A query failing after batches were returned reports the error from db_query_next. */
static void test_error_mid_stream(void) {
  db_options o = {.threads = 1};
  db_database *db = NULL;
  mlr_error e = {0};
  REQUIRE_ONCE(db_open(&o, &db, &e) == MALLARD_OK);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  db_query_options qo = {.batch_rows = 4096};
  REQUIRE_ONCE(
      db_query_start(c,
                     "SELECT (CASE WHEN i = 150000 THEN 'oops' ELSE i::VARCHAR END)::BIGINT "
                     "AS v FROM range(200000) t(i)",
                     &qo, &q, &e) == MALLARD_OK);
  int64_t rows = 0;
  mlr_code rc = MALLARD_OK;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    rc = db_query_next(q, &b, &eof, &e);
    if (rc || eof) break;
    rows += b.length;
    b.release(&b);
  }
  CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "oops") != NULL);
  CHECK(rows > 0 && rows < 200000);
  /* After the error the stream stays ended. */
  struct ArrowArray b;
  bool eof = false;
  CHECK_EQ_INT(db_query_next(q, &b, &eof, &e), MALLARD_OK);
  CHECK(eof);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

/* Another statement on the connection closes the stream: reported, not a silent end. */
static void test_stream_closed_by_other_statement(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  mlr_error e = {0};
  db_query_options qo = {.batch_rows = 2048};
  REQUIRE_ONCE(db_query_start(c, "SELECT * FROM range(100000)", &qo, &q, &e) == MALLARD_OK);
  struct ArrowArray b;
  bool eof;
  REQUIRE_ONCE(db_query_next(q, &b, &eof, &e) == MALLARD_OK && !eof);
  b.release(&b);
  CHECK_EQ_INT(db_execute(c, "SELECT 1", NULL, &e), MALLARD_OK);
  CHECK_EQ_INT(db_query_next(q, &b, &eof, &e), MALLARD_FAILED_PRECONDITION);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

typedef struct interrupter {
  db_conn *conn;
  int delay_ms;
} interrupter;

static void *interrupt_main(void *arg) {
  interrupter *it = arg;
  struct timespec ts = {it->delay_ms / 1000, (long)(it->delay_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  db_conn_interrupt(it->conn);
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_interrupt(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  mlr_error e = {0};
  db_query *q = NULL;
  interrupter it = {c, 300};
  pthread_t th;
  double t0 = now_s();
  REQUIRE_ONCE(pthread_create(&th, NULL, interrupt_main, &it) == 0);
  /* A query that would run for minutes. */
  mlr_code rc = db_query_start(
      c, "SELECT sum(hash(a.i * b.i)) FROM range(100000) a(i), range(1000000) b(i)", NULL, &q, &e);
  if (rc == MALLARD_OK) {
    struct ArrowArray b;
    bool eof;
    rc = db_query_next(q, &b, &eof, &e);
    if (rc == MALLARD_OK && !eof) b.release(&b);
  }
  pthread_join(th, NULL);
  CHECK_EQ_INT(rc, MALLARD_CANCELLED);
  CHECK(now_s() - t0 < 10.0);
  db_query_free(q);
  /* The connection is usable afterwards. */
  CHECK_EQ_INT(tu_scalar(c, "SELECT 42::BIGINT"), 42);
  db_disconnect(c);
  db_close(db);
}

static void test_prepared_named_params(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  mlr_error e = {0};
  db_prepared *p = NULL;
  REQUIRE_ONCE(
      db_prepare(c,
                 "SELECT i::BIGINT AS i, $label::VARCHAR AS label, $f::DOUBLE * 2 AS f2, "
                 "$flag::BOOLEAN AS flag FROM range($n::BIGINT) t(i) WHERE $nothing IS NULL",
                 &p, &e) == MALLARD_OK);
  CHECK_EQ_INT(db_prepared_param_count(p), 5);
  int found = 0;
  for (int64_t i = 0; i < db_prepared_param_count(p); i++) {
    const char *n = db_prepared_param_name(p, i);
    if (n && (!strcmp(n, "label") || !strcmp(n, "f") || !strcmp(n, "flag") || !strcmp(n, "n") ||
              !strcmp(n, "nothing")))
      found++;
  }
  CHECK_EQ_INT(found, 5);
  CHECK_EQ_INT(db_prepared_bind_varchar(p, "label", "héllo", &e), MALLARD_OK);
  CHECK_EQ_INT(db_prepared_bind_double(p, "f", 1.25, &e), MALLARD_OK);
  CHECK_EQ_INT(db_prepared_bind_bool(p, "flag", true, &e), MALLARD_OK);
  CHECK_EQ_INT(db_prepared_bind_int64(p, "n", 100000, &e), MALLARD_OK);
  CHECK_EQ_INT(db_prepared_bind_null(p, "nothing", &e), MALLARD_OK);
  CHECK_EQ_INT(db_prepared_bind_int64(p, "nope", 1, &e), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "nope") != NULL);
  struct ArrowSchema s;
  mlr_code src = db_prepared_schema(p, &s, &e);
  if (src) fprintf(stderr, "prepared schema: %s\n", e.message);
  REQUIRE(src == MALLARD_OK);
  CHECK_EQ_INT(s.n_children, 4);
  CHECK_EQ_STR(s.children[1]->name, "label");
  s.release(&s);
  for (int round = 0; round < 2; round++) {
    if (round == 1) CHECK_EQ_INT(db_prepared_bind_int64(p, "n", 10, &e), MALLARD_OK);
    db_query *q = NULL;
    REQUIRE_ONCE(db_prepared_query(p, NULL, &q, &e) == MALLARD_OK);
    int64_t rows = 0;
    for (;;) {
      struct ArrowArray b;
      bool eof;
      if (db_query_next(q, &b, &eof, &e) || eof) break;
      if (rows == 0) {
        const struct ArrowArray *l = b.children[1];
        const int32_t *off = l->buffers[1];
        CHECK_EQ_INT(off[1] - off[0], (int)strlen("héllo"));
        CHECK(((const double *)b.children[2]->buffers[1])[0] == 2.5);
        CHECK_EQ_INT(((const uint8_t *)b.children[3]->buffers[1])[0] & 1, 1);
      }
      rows += b.length;
      b.release(&b);
    }
    CHECK_EQ_INT(rows, round == 0 ? 100000 : 10);
    db_query_free(q);
  }
  db_prepared_free(p);
  /* Positional parameters have no name. */
  REQUIRE_ONCE(db_prepare(c, "SELECT ?::INTEGER", &p, &e) == MALLARD_OK);
  CHECK_EQ_INT(db_prepared_param_count(p), 1);
  CHECK(db_prepared_param_name(p, 0) == NULL);
  db_prepared_free(p);
  CHECK_EQ_INT(db_prepare(c, "SELEC $a", &p, &e), MALLARD_INVALID_ARGUMENT);
  /* A result type that depends on an unbound parameter is an error; once bound it resolves. */
  REQUIRE_ONCE(db_prepare(c, "SELECT $v AS v", &p, &e) == MALLARD_OK);
  struct ArrowSchema s3;
  CHECK_EQ_INT(db_prepared_schema(p, &s3, &e), MALLARD_INVALID_ARGUMENT);
  fprintf(stderr, "unbound: %s\n", e.message);
  CHECK_EQ_INT(db_prepared_bind_int64(p, "v", 7, &e), MALLARD_OK);
  REQUIRE_ONCE(db_prepared_schema(p, &s3, &e) == MALLARD_OK);
  CHECK_EQ_STR(s3.children[0]->format, "l");
  s3.release(&s3);
  db_prepared_free(p);
  /* schema only: no execution. */
  struct ArrowSchema s2;
  REQUIRE_ONCE(db_query_schema_only(c, "SELECT 1::SMALLINT AS x, 'a' AS y", &s2, &e) == MALLARD_OK);
  CHECK_EQ_STR(s2.children[0]->format, "s");
  CHECK_EQ_STR(s2.children[1]->name, "y");
  s2.release(&s2);
  db_disconnect(c);
  db_close(db);
}

/* Read-only statements are told by DuckDB's parser, not by their first word: a data-modifying
 * WITH and an EXPLAIN ANALYZE of a write are writes. */
static void test_read_only_sql(void) {
  db_options o = {.threads = 1};
  db_database *db = NULL;
  db_conn *c = NULL;
  mlr_error e = {0};
  REQUIRE(db_open(&o, &db, &e) == MALLARD_OK);
  REQUIRE(db_connect(db, &c, &e) == MALLARD_OK);
  REQUIRE(db_execute(c, "CREATE TABLE t (i INT)", NULL, &e) == MALLARD_OK);
  static const char *const ro[] = {
      "SELECT 1",
      "  select * from t",
      "WITH x AS (SELECT 1) SELECT * FROM x",
      "FROM t",
      "VALUES (1), (2)",
      "TABLE t",
      "(SELECT 1) UNION (SELECT 2)",
      "-- comment\nSELECT 1",
      "/* c */ SELECT 1;",
      "SELECT ';' AS semi",
      "SELECT 1 -- ; DROP TABLE t",
      "SHOW TABLES",
      "DESCRIBE t",
      "SUMMARIZE t",
      "PIVOT t ON i IN (1, 2) USING count(*)",
      "EXPLAIN SELECT 1",
      "EXPLAIN INSERT INTO t VALUES (1)",
      "EXPLAIN ANALYZE SELECT * FROM t",
      "EXPLAIN (FORMAT json) SELECT 1",
      "SELECT 'enable_logging' AS query, 'checkpoint' AS write_log", /* names, not calls */
      "SELECT count(*) AS checkpoint FROM t",
      "SHOW TABLES",
      "PRAGMA version" /* planned as SELECT * FROM pragma_version() */};
  /* Writes, and text that is not one statement (those answer their error). */
  static const char *const rw[] = {
      "INSERT INTO t VALUES (1)", "DROP TABLE t", "CREATE TABLE u (i INT)", "UPDATE t SET i = 1",
      "DELETE FROM t", "COPY t TO 'x.csv'", "ATTACH 'x.db'", "CHECKPOINT", "SET threads = 1",
      "PRAGMA threads = 1", "PRAGMA force_checkpoint",
      "WITH x AS (SELECT 8 AS i) INSERT INTO t SELECT * FROM x",
      "WITH x AS (SELECT 1) DELETE FROM t", "EXPLAIN ANALYZE COPY (SELECT 42 AS x) TO 'never.csv'",
      "EXPLAIN ANALYZE SET GLOBAL threads = 1", "EXPLAIN ANALYSE INSERT INTO t VALUES (9)",
      "EXPLAIN (ANALYZE) INSERT INTO t VALUES (9)", "EXPLAIN (ANALYZE, FORMAT json) DELETE FROM t",
      "EXPLAIN ANALYZE EXPLAIN ANALYZE DELETE FROM t",
      /* a ')' in a comment once ended the option list early */
      "EXPLAIN (/*)*/ ANALYZE) COPY (SELECT 1) TO 'never.csv'",
      "EXPLAIN (/*)*/ ANALYZE) SET GLOBAL threads = 1",
      /* comments nest in DuckDB's SQL */
      "EXPLAIN /* /* */ */ ANALYZE COPY (SELECT 1) TO 'never.csv'",
      /* any comment or quote before the statement: refused */
      "explain /* x */ analyze select 1", "EXPLAIN (\"analyze\") DELETE FROM t",
      /* queries with effects on others: DuckDB's log, ... */
      "SELECT * FROM enable_logging('QueryLog')",
      "SELECT * FROM system.main.enable_logging('QueryLog')",
      "SELECT * FROM \"ENABLE_LOGGING\"('QueryLog')", "SELECT 1 FROM (FROM disable_logging())",
      "SELECT * FROM truncate_duckdb_logs()", "SELECT write_log('x')",
      "SELECT message FROM duckdb_logs", "FROM duckdb_log_contexts()", "SELECT * FROM checkpoint()",
      "SELECT * FROM query('SELECT * FROM enable_logging()')", "FROM query_table('t')",
      "EXPLAIN ANALYZE SELECT write_log('x')",
      "PIVOT (SELECT i, write_log('x') AS w FROM t) ON i USING count(*)", "SELECT 1; DROP TABLE t",
      "SELECT 1;DELETE FROM t", "SELECTX 1", "", "   ", "/* only a comment */"};
  for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
    bool r = false;
    const char *why = "x";
    mlr_code rc = db_sql_is_read_only(c, ro[i], &r, &why, &e);
    CHECK(why == NULL);
    CHECK(rc == MALLARD_OK && r);
    if (rc != MALLARD_OK || !r) fprintf(stderr, "  wrongly refused: %s (%s)\n", ro[i], e.message);
  }
  /* Several statements: refused as writes when one writes, else as not one statement. */
  bool r = true;
  CHECK_EQ_INT(db_sql_is_read_only(c, "SELECT 1; DROP TABLE t", &r, NULL, &e), MALLARD_OK);
  CHECK(!r);
  CHECK_EQ_INT(db_sql_is_read_only(c, "SELECT 1; SELECT 2", &r, NULL, &e),
               MALLARD_INVALID_ARGUMENT);
  /* the function that made a query a write is named */
  const char *why = NULL;
  CHECK_EQ_INT(db_sql_is_read_only(c, "SELECT * FROM Enable_Logging('QueryLog')", &r, &why, &e),
               MALLARD_OK);
  CHECK(!r && why != NULL && strcmp(why, "enable_logging") == 0);
  for (size_t i = 0; i < sizeof rw / sizeof rw[0]; i++) {
    r = true;
    mlr_code rc = db_sql_is_read_only(c, rw[i], &r, NULL, &e);
    CHECK(rc != MALLARD_OK || !r);
    if (rc == MALLARD_OK && r) fprintf(stderr, "  wrongly allowed: %s\n", rw[i]);
  }
  /* Nothing was run: the table is empty, the file absent, the setting unchanged. */
  db_query *q = NULL;
  REQUIRE(db_query_start(c, "SELECT count(*) FROM t", NULL, &q, &e) == MALLARD_OK);
  struct ArrowArray b = {0};
  bool eof = false;
  REQUIRE(db_query_next(q, &b, &eof, &e) == MALLARD_OK && !eof);
  CHECK_EQ_INT(((const int64_t *)b.children[0]->buffers[1])[0], 0);
  b.release(&b);
  db_query_free(q);
  CHECK(access("never.csv", F_OK) != 0);
  /* A query prepared as a query is one; a write is not. */
  db_prepared *p = NULL;
  REQUIRE(db_prepare(c, "FROM t", &p, &e) == MALLARD_OK);
  CHECK(db_prepared_is_query(p));
  db_prepared_free(p);
  REQUIRE(db_prepare(c, "WITH x AS (SELECT 1 AS i) INSERT INTO t FROM x", &p, &e) == MALLARD_OK);
  CHECK(!db_prepared_is_query(p));
  db_prepared_free(p);
  db_disconnect(c);
  db_close(db);
}

/* DuckDB's error types and messages to gRPC codes, for the cases that need the message. */
static void test_error_codes(void) {
  CHECK_EQ_INT(db_map_error_type(DUCKDB_ERROR_TRANSACTION,
                                 "TransactionContext Error: Failed to commit: Cannot open file "
                                 "\"x.duckdb.wal\": Permission denied"),
               MALLARD_INTERNAL);
  CHECK_EQ_INT(db_map_error_type(DUCKDB_ERROR_TRANSACTION,
                                 "TransactionContext Error: Catalog write-write conflict"),
               MALLARD_ABORTED);
  CHECK_EQ_INT(db_map_error_type(DUCKDB_ERROR_TRANSACTION,
                                 "Cannot write to database \"memory\" - transaction is launched "
                                 "in read-only mode"),
               MALLARD_PERMISSION_DENIED);
  CHECK_EQ_INT(db_map_error_type(DUCKDB_ERROR_TRANSACTION, "cannot commit - no transaction is "
                                                           "active"),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(db_map_error_type(DUCKDB_ERROR_CATALOG, "Table with name t does not exist!"),
               MALLARD_NOT_FOUND);
}

MTEST_MAIN(MTEST(test_error_codes), MTEST(test_batches_and_values),
           MTEST(test_coalesce_matches_chunks), MTEST(test_zero_rows), MTEST(test_errors),
           MTEST(test_error_mid_stream), MTEST(test_stream_closed_by_other_statement),
           MTEST(test_interrupt), MTEST(test_prepared_named_params), MTEST(test_read_only_sql))
