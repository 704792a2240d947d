/* SQL exchangers against a real DuckDB (through src/db): batch and stream_end modes with bound
 * params, registration checks, a query failing on a later batch, versions that survive
 * replacement and removal, cancellation, persistence across a restart, and that the caller's
 * connection and tables are left as they were. */
#include "exchange/xchg.h"
#include "mtest.h"
#include "xchg_testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static db_database *open_db(const char *path) {
  db_database *db = NULL;
  db_options o = {.path = path};
  mlr_error err = {0};
  if (db_open(&o, &db, &err) != MALLARD_OK) fprintf(stderr, "db_open: %s\n", err.message);
  return db;
}

static xchg_registry *new_registry(db_database *db, bool persist) {
  xchg_registry *reg = NULL;
  mlr_error err = {0};
  xchg_registry_options o = {.db = db, .persist = persist};
  if (xchg_registry_new(&o, &reg, &err) != MALLARD_OK) {
    fprintf(stderr, "registry: %s\n", err.message);
  }
  return reg;
}

static mlr_code reg_json(xchg_registry *reg, const char *body, mlr_error *err) {
  char *res = NULL;
  size_t n = 0;
  mlr_code rc = xchg_action_register(reg, (const uint8_t *)body, strlen(body), &res, &n, err);
  free(res);
  return rc;
}

/* Runs a whole exchange: `nb` batches of `rows` rows (x = 0, 1, 2, ...). */
static mlr_code run(xchg_registry *reg, db_conn *conn, const char *name, const char *params, int nb,
                    int rows, tu_sink *sink, struct ArrowSchema *out_schema, mlr_error *err) {
  struct ArrowSchema in = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  mlr_code rc = xchg_open(reg, name, params, &in, conn, &inst, err);
  if (rc == MALLARD_OK && out_schema != NULL)
    rc = xchg_instance_output_schema(inst, out_schema, err);
  for (int i = 0; rc == MALLARD_OK && i < nb; i++) {
    struct ArrowArray b;
    tu_batch_xys(&b, rows, (int64_t)i * rows, 1);
    rc = xchg_push(inst, &b, tu_emit, sink, err);
  }
  if (rc == MALLARD_OK) rc = xchg_finish(inst, tu_emit, sink, err);
  xchg_close(inst);
  tu_schema_release(&in);
  return rc;
}

static void test_batch_mode_with_params(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"big\", \"sql\": \"SELECT x, y * $factor AS y2, s || $suffix "
                        "AS s2 FROM input WHERE x >= $lo ORDER BY x\", \"mode\": \"batch\"}",
                        &err),
               MALLARD_OK);
  db_conn *conn = NULL;
  REQUIRE_OK(db_connect(db, &conn, &err));
  tu_sink sink = {0};
  struct ArrowSchema out = {0};
  mlr_code rc = run(reg, conn, "big", "{\"factor\": 4, \"suffix\": \"!\", \"lo\": 150}", 3, 100,
                    &sink, &out, &err);
  CHECK_EQ_INT(rc, MALLARD_OK);
  if (rc != MALLARD_OK) fprintf(stderr, "%s\n", err.message);
  CHECK_EQ_INT(out.n_children, 3);
  if (out.n_children == 3) {
    CHECK_EQ_STR(out.children[1]->name, "y2");
    CHECK_EQ_STR(out.children[2]->name, "s2");
  }
  /* Batch 0 (x 0..99) yields nothing; batch 1 yields x 150..199; batch 2 all 100 rows. */
  CHECK_EQ_INT(sink.rows, 150);
  CHECK_EQ_INT(sink.n, 2);
  if (sink.n == 2) {
    CHECK_EQ_INT(tu_i64(&sink.batches[0], 0, 0), 150);
    CHECK_EQ_INT(tu_i64(&sink.batches[1], 0, 99), 299);
    CHECK(!tu_valid(&sink.batches[0], 1, 4)); /* x=154 has a NULL y */
    CHECK(tu_f64(&sink.batches[0], 1, 1) == 151 * 0.5 * 4);
  }
  tu_sink_release(&sink);
  if (out.release) out.release(&out);
  /* Missing and unknown params are refused with what to send. */
  rc = run(reg, conn, "big", "{\"factor\": 4, \"suffix\": \"!\"}", 1, 10, &sink, NULL, &err);
  CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "$lo") != NULL);
  rc = run(reg, conn, "big", "{\"factor\": 4, \"suffix\": \"!\", \"lo\": 1, \"typo\": 2}", 1, 10,
           &sink, NULL, &err);
  CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "typo") != NULL);
  /* A param is a value, never SQL: a quote in it is just a character. */
  rc = run(reg, conn, "big", "{\"factor\": 1, \"suffix\": \"' OR 1=1 --\", \"lo\": 5}", 1, 10,
           &sink, NULL, &err);
  CHECK_EQ_INT(rc, MALLARD_OK);
  CHECK_EQ_INT(sink.rows, 5);
  tu_sink_release(&sink);
  db_disconnect(conn);
  xchg_registry_free(reg);
  db_close(db);
}

static void test_stream_end(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"agg\", \"sql\": \"SELECT count(*) AS n, sum(x) AS sx, "
                        "count(y) AS ny FROM input WHERE x < $hi\", \"mode\": \"stream_end\"}",
                        &err),
               MALLARD_OK);
  db_conn *conn = NULL;
  REQUIRE_OK(db_connect(db, &conn, &err));
  tu_sink sink = {0};
  mlr_code rc = run(reg, conn, "agg", "{\"hi\": 1000}", 20, 100, &sink, NULL, &err);
  CHECK_EQ_INT(rc, MALLARD_OK);
  if (rc != MALLARD_OK) fprintf(stderr, "%s\n", err.message);
  CHECK_EQ_INT(sink.n, 1);
  if (sink.n == 1) {
    CHECK_EQ_INT(sink.batches[0].length, 1);
    CHECK_EQ_INT(tu_i64(&sink.batches[0], 0, 0), 1000);
    CHECK_EQ_INT(tu_i64(&sink.batches[0], 1, 0), 999 * 1000 / 2);
    CHECK_EQ_INT(tu_i64(&sink.batches[0], 2, 0), 1000 - 143); /* every 7th y is NULL */
  }
  tu_sink_release(&sink);
  /* Empty input: the query still runs once, on an empty table. */
  rc = run(reg, conn, "agg", "{\"hi\": 5}", 0, 0, &sink, NULL, &err);
  CHECK_EQ_INT(rc, MALLARD_OK);
  CHECK_EQ_INT(sink.rows, 1);
  if (sink.n == 1) CHECK_EQ_INT(tu_i64(&sink.batches[0], 0, 0), 0);
  tu_sink_release(&sink);
  db_disconnect(conn);
  xchg_registry_free(reg);
  db_close(db);
}

static void test_registration_checks(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  /* Syntax errors are caught at once, even without a declared input. */
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"bad\", \"sql\": \"SELEC x FROM input\"}", &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "syntax") != NULL || strstr(err.message, "Parser") != NULL);
  /* With a declared input, binding errors are caught too, with DuckDB's message. */
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"bad\", \"sql\": \"SELECT nosuch FROM input\", "
                        "\"input_schema\": {\"columns\": {\"x\": \"BIGINT\"}}}",
                        &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "nosuch") != NULL);
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"ok\", \"sql\": \"SELECT x + 1 AS x1 FROM input\", "
                        "\"input_schema\": {\"columns\": {\"x\": \"BIGINT\"}}}",
                        &err),
               MALLARD_OK);
  /* A declared type is a type name, nothing else. */
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"inj\", \"sql\": \"SELECT 1\", \"input_schema\": "
                        "{\"columns\": {\"x\": \"INT); DROP TABLE t; --\"}}}",
                        &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"ok\", \"sql\": \"SELECT x FROM input\"}", &err),
               MALLARD_ALREADY_EXISTS);
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"echo\", \"sql\": \"SELECT x FROM input\"}", &err),
               MALLARD_ALREADY_EXISTS);
  CHECK_EQ_INT(
      reg_json(reg, "{\"name\": \"echo\", \"sql\": \"SELECT 1\", \"replace\": true}", &err),
      MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"m\", \"sql\": \"SELECT 1\", \"mode\": \"x\"}", &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"a b\", \"sql\": \"SELECT 1\"}", &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(reg_json(reg, "{\"sql\": \"SELECT 1\"}", &err), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(reg_json(reg, "not json", &err), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"two\", \"sql\": \"SELECT 1; SELECT 2\"}", &err),
               MALLARD_INVALID_ARGUMENT);
  /* A query that does not fit the actual input fails when the exchange opens. */
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"late\", \"sql\": \"SELECT nosuch FROM input\"}", &err),
               MALLARD_OK);
  tu_sink sink = {0};
  CHECK_EQ_INT(run(reg, NULL, "late", NULL, 1, 5, &sink, NULL, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "nosuch") != NULL);
  char *json = NULL;
  size_t len = 0;
  REQUIRE_OK(xchg_action_list(reg, &json, &len, &err));
  CHECK(strstr(json, "\"name\":\"ok\",\"kind\":\"sql\"") != NULL);
  CHECK(strstr(json, "\"input_schema\":{\"columns\":{\"x\":\"BIGINT\"}}") != NULL);
  CHECK(strstr(json, "\"bad\"") == NULL);
  free(json);
  REQUIRE_OK(xchg_action_unregister(reg, (const uint8_t *)"\"ok\"", 4, &json, &len, &err));
  CHECK_EQ_STR(json, "{\"unregistered\":\"ok\"}");
  free(json);
  CHECK_EQ_INT(xchg_action_unregister(reg, (const uint8_t *)"ok", 2, &json, &len, &err),
               MALLARD_NOT_FOUND);
  xchg_registry_free(reg);
  db_close(db);
}

static void test_fails_on_later_batch(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"picky\", \"sql\": \"SELECT CASE WHEN x >= 150 THEN "
                        "error('x too big: ' || x) ELSE x END AS x FROM input\"}",
                        &err),
               MALLARD_OK);
  tu_sink sink = {0};
  mlr_code rc = run(reg, NULL, "picky", NULL, 3, 100, &sink, NULL, &err);
  CHECK(rc == MALLARD_INVALID_ARGUMENT || rc == MALLARD_INTERNAL);
  CHECK(strstr(err.message, "x too big") != NULL);
  CHECK(strstr(err.message, "picky") != NULL);
  CHECK_EQ_INT(sink.rows, 100); /* the first batch went through */
  tu_sink_release(&sink);
  xchg_registry_free(reg);
  db_close(db);
}

/* Plans must not be reused across data: DuckDB folds `y IS NULL` to false when the statistics of
 * the data it was planned on say "no NULLs" (e.g. the empty `input` at open). */
static void test_null_checks_see_the_data(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  const char *modes[] = {"batch", "stream_end"};
  for (int m = 0; m < 2; m++) {
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\": \"nulls_%s\", \"sql\": \"SELECT count(*) FILTER (WHERE y IS NULL) AS n "
             "FROM input\", \"mode\": \"%s\"}",
             modes[m], modes[m]);
    REQUIRE_OK(reg_json(reg, body, &err));
    char name[32];
    snprintf(name, sizeof name, "nulls_%s", modes[m]);
    tu_sink sink = {0};
    /* x = 0..69 in 2 batches of 35: y is NULL at x = 0, 7, ..., 63 (10 rows, 5 per batch). */
    CHECK_EQ_INT(run(reg, NULL, name, NULL, 2, 35, &sink, NULL, &err), MALLARD_OK);
    int64_t total = 0;
    for (int i = 0; i < sink.n; i++) total += tu_i64(&sink.batches[i], 0, 0);
    CHECK_EQ_INT(total, 10);
    CHECK_EQ_INT(sink.n, m == 0 ? 2 : 1);
    tu_sink_release(&sink);
  }
  xchg_registry_free(reg);
  db_close(db);
}

/* Running exchanges keep the version they started with. */
static void test_versions(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  REQUIRE_OK(
      reg_json(reg, "{\"name\": \"v\", \"sql\": \"SELECT 1 AS version, x FROM input\"}", &err));
  struct ArrowSchema in = {0};
  tu_schema_xys(&in);
  xchg_instance *old = NULL, *newer = NULL;
  REQUIRE_OK(xchg_open(reg, "v", NULL, &in, NULL, &old, &err));
  REQUIRE_OK(reg_json(reg,
                      "{\"name\": \"v\", \"sql\": \"SELECT 2 AS version, x FROM input\", "
                      "\"replace\": true}",
                      &err));
  REQUIRE_OK(xchg_open(reg, "v", NULL, &in, NULL, &newer, &err));
  char *json = NULL;
  size_t len = 0;
  REQUIRE_OK(xchg_action_unregister(reg, (const uint8_t *)"v", 1, &json, &len, &err));
  free(json);
  CHECK_EQ_INT(xchg_open(reg, "v", NULL, &in, NULL, &(xchg_instance *){NULL}, &err),
               MALLARD_NOT_FOUND);
  tu_sink s1 = {0}, s2 = {0};
  struct ArrowArray b;
  tu_batch_xys(&b, 3, 0, 0);
  CHECK_EQ_INT(xchg_push(old, &b, tu_emit, &s1, &err), MALLARD_OK);
  tu_batch_xys(&b, 3, 0, 0);
  CHECK_EQ_INT(xchg_push(newer, &b, tu_emit, &s2, &err), MALLARD_OK);
  REQUIRE(s1.n == 1 && s2.n == 1);
  const struct ArrowArray *v1 = s1.batches[0].children[0], *v2 = s2.batches[0].children[0];
  CHECK_EQ_INT(((const int32_t *)v1->buffers[1])[0], 1);
  CHECK_EQ_INT(((const int32_t *)v2->buffers[1])[0], 2);
  tu_sink_release(&s1);
  tu_sink_release(&s2);
  xchg_close(old);
  xchg_close(newer);
  tu_schema_release(&in);
  xchg_registry_free(reg);
  db_close(db);
}

typedef struct interrupter {
  xchg_instance *inst;
  int delay_ms;
} interrupter;

static void *interrupt_later(void *arg) {
  interrupter *it = arg;
  usleep((useconds_t)it->delay_ms * 1000);
  xchg_interrupt(it->inst);
  return NULL;
}

static void test_cancel_running_query(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  REQUIRE_OK(reg_json(reg,
                      "{\"name\": \"slow\", \"sql\": \"SELECT count(*) AS n FROM input, range(0, "
                      "2000000000) r WHERE r.range % 7 = x % 7\", \"mode\": \"stream_end\"}",
                      &err));
  db_conn *conn = NULL;
  REQUIRE_OK(db_connect(db, &conn, &err));
  struct ArrowSchema in = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  REQUIRE_OK(xchg_open(reg, "slow", NULL, &in, conn, &inst, &err));
  struct ArrowArray b;
  tu_batch_xys(&b, 1000, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &(tu_sink){0}, &err), MALLARD_OK);
  interrupter it = {inst, 300};
  pthread_t th;
  pthread_create(&th, NULL, interrupt_later, &it);
  tu_sink sink = {0};
  mlr_code rc = xchg_finish(inst, tu_emit, &sink, &err);
  pthread_join(th, NULL);
  CHECK_EQ_INT(rc, MALLARD_CANCELLED);
  xchg_close(inst);
  /* The connection is usable again, back on its own database, with no `input` left. */
  int64_t changed = -1;
  CHECK_EQ_INT(db_execute(conn, "CREATE TABLE after_cancel AS SELECT 1 AS a", &changed, &err),
               MALLARD_OK);
  bool exists = true;
  CHECK_EQ_INT(db_table_exists(conn, NULL, "after_cancel", &exists, &err), MALLARD_OK);
  CHECK(exists);
  CHECK_EQ_INT(db_table_exists(conn, NULL, "input", &exists, &err), MALLARD_OK);
  CHECK(!exists);
  tu_sink_release(&sink);
  tu_schema_release(&in);
  db_disconnect(conn);
  xchg_registry_free(reg);
  db_close(db);
}

/* A user's own table called `input` is neither read nor touched, and stays readable as other
 * tables do (fully qualified) from the exchanger's query. */
static void test_user_tables(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  db_conn *conn = NULL;
  REQUIRE_OK(db_connect(db, &conn, &err));
  REQUIRE_OK(db_execute(conn, "CREATE TABLE input AS SELECT 42 AS x", NULL, &err));
  REQUIRE_OK(db_execute(conn,
                        "CREATE TABLE lookup AS SELECT range AS k, 'k' || range AS label "
                        "FROM range(0, 1000)",
                        NULL, &err));
  REQUIRE_OK(
      reg_json(reg,
               "{\"name\": \"join\", \"sql\": \"SELECT i.x, l.label FROM input i JOIN lookup "
               "l ON l.k = i.x ORDER BY i.x\"}",
               &err));
  tu_sink sink = {0};
  mlr_code rc = run(reg, conn, "join", NULL, 2, 10, &sink, NULL, &err);
  CHECK_EQ_INT(rc, MALLARD_OK);
  if (rc != MALLARD_OK) fprintf(stderr, "%s\n", err.message);
  CHECK_EQ_INT(sink.rows, 20);
  tu_sink_release(&sink);
  int64_t rows = 0;
  CHECK_EQ_INT(db_table_row_count(conn, NULL, "input", &rows, &err), MALLARD_OK);
  CHECK_EQ_INT(rows, 1);
  db_disconnect(conn);
  xchg_registry_free(reg);
  db_close(db);
}

static void test_persistence(void) {
  char path[] = "/tmp/mallard_xchg_test_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  unlink(path); /* DuckDB creates the file itself */
  mlr_error err = {0};
  db_database *db = open_db(path);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, true);
  REQUIRE(reg != NULL);
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"keep\", \"sql\": \"SELECT x * $k AS xk FROM input\", "
                        "\"mode\": \"stream_end\", \"input_schema\": {\"columns\": {\"x\": "
                        "\"BIGINT\"}}}",
                        &err),
               MALLARD_OK);
  CHECK_EQ_INT(reg_json(reg, "{\"name\": \"gone\", \"sql\": \"SELECT x FROM input\"}", &err),
               MALLARD_OK);
  CHECK_EQ_INT(reg_json(reg,
                        "{\"name\": \"keep\", \"sql\": \"SELECT x * $k * 10 AS xk FROM input\", "
                        "\"mode\": \"stream_end\", \"replace\": true}",
                        &err),
               MALLARD_OK);
  char *json = NULL;
  size_t len = 0;
  CHECK_EQ_INT(xchg_action_unregister(reg, (const uint8_t *)"gone", 4, &json, &len, &err),
               MALLARD_OK);
  free(json);
  xchg_registry_free(reg);
  db_close(db);

  db = open_db(path);
  REQUIRE(db != NULL);
  reg = new_registry(db, true);
  REQUIRE(reg != NULL);
  REQUIRE_OK(xchg_action_list(reg, &json, &len, &err));
  CHECK(strstr(json, "\"name\":\"keep\",\"kind\":\"sql\"") != NULL);
  CHECK(strstr(json, "\"mode\":\"stream_end\"") != NULL);
  CHECK(strstr(json, "gone") == NULL);
  free(json);
  /* A read-only server loads them too, and refuses changes. */
  xchg_registry *ro = NULL;
  xchg_registry_options roo = {.db = db, .persist = true, .read_only = true};
  REQUIRE_OK(xchg_registry_new(&roo, &ro, &err));
  REQUIRE_OK(xchg_action_list(ro, &json, &len, &err));
  CHECK(strstr(json, "\"name\":\"keep\",\"kind\":\"sql\"") != NULL);
  free(json);
  CHECK_EQ_INT(reg_json(ro, "{\"name\": \"new\", \"sql\": \"SELECT 1\"}", &err),
               MALLARD_PERMISSION_DENIED);
  CHECK_EQ_INT(xchg_unregister(ro, "keep", &err), MALLARD_PERMISSION_DENIED);
  xchg_registry_free(ro);
  tu_sink sink = {0};
  CHECK_EQ_INT(run(reg, NULL, "keep", "{\"k\": 2}", 1, 5, &sink, NULL, &err), MALLARD_OK);
  CHECK_EQ_INT(sink.rows, 5);
  if (sink.n == 1) CHECK_EQ_INT(tu_i64(&sink.batches[0], 0, 4), 80);
  tu_sink_release(&sink);
  xchg_registry_free(reg);
  db_close(db);

  /* A read-only database (--read-only --db): loaded, and SQL exchangers still run. */
  db_options ro_opts = {.path = path, .read_only = true};
  REQUIRE_OK(db_open(&ro_opts, &db, &err));
  xchg_registry_options roo2 = {.db = db, .persist = true, .read_only = true};
  REQUIRE_OK(xchg_registry_new(&roo2, &reg, &err));
  mlr_code rc = run(reg, NULL, "keep", "{\"k\": 1}", 2, 5, &sink, NULL, &err);
  CHECK_EQ_INT(rc, MALLARD_OK);
  if (rc != MALLARD_OK) fprintf(stderr, "%s\n", err.message);
  CHECK_EQ_INT(sink.rows, 10);
  tu_sink_release(&sink);
  xchg_registry_free(reg);
  db_close(db);
  unlink(path);
  char wal[sizeof path + 8];
  snprintf(wal, sizeof wal, "%s.wal", path);
  unlink(wal);
}

/* count(*) of a query, or -1. */
static int64_t count_of(db_conn *conn, const char *sql) {
  db_query *q = NULL;
  struct ArrowArray b = {0};
  bool eof = false;
  int64_t n = -1;
  if (db_query_start(conn, sql, NULL, &q, NULL) == MALLARD_OK &&
      db_query_next(q, &b, &eof, NULL) == MALLARD_OK && !eof && b.length == 1) {
    n = tu_i64(&b, 0, 0);
  }
  if (b.release) b.release(&b);
  db_query_free(q);
  return n;
}

static const char *const COUNT_PRIVATE_DBS =
    "SELECT count(*) FROM duckdb_databases() WHERE database_name LIKE 'mallard_xchg_%'";

/* A cancellation that arrives between two statements still leaves nothing behind. */
static void test_interrupt_between_queries(void) {
  db_database *db = open_db(NULL);
  REQUIRE(db != NULL);
  xchg_registry *reg = new_registry(db, false);
  REQUIRE(reg != NULL);
  mlr_error err = {0};
  REQUIRE_OK(reg_json(reg, "{\"name\": \"q\", \"sql\": \"SELECT x FROM input\"}", &err));
  db_conn *conn = NULL;
  REQUIRE_OK(db_connect(db, &conn, &err));
  struct ArrowSchema in = {0};
  tu_schema_xys(&in);
  for (int mode = 0; mode < 2; mode++) {
    xchg_instance *inst = NULL;
    REQUIRE_OK(xchg_open(reg, "q", NULL, &in, mode == 0 ? conn : NULL, &inst, &err));
    CHECK_EQ_INT(count_of(conn, COUNT_PRIVATE_DBS), 1);
    xchg_interrupt(inst);
    if (mode == 0) db_conn_interrupt(conn); /* as the service also does */
    struct ArrowArray b;
    tu_batch_xys(&b, 3, 0, 0);
    tu_sink sink = {0};
    CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_CANCELLED);
    xchg_close(inst);
    int64_t n = count_of(conn, COUNT_PRIVATE_DBS);
    if (n < 0) n = count_of(conn, COUNT_PRIVATE_DBS);
    CHECK_EQ_INT(n, 0);
  }
  tu_schema_release(&in);
  db_disconnect(conn);
  xchg_registry_free(reg);
  db_close(db);
}

MTEST_MAIN(MTEST(test_interrupt_between_queries), MTEST(test_batch_mode_with_params),
           MTEST(test_stream_end), MTEST(test_registration_checks),
           MTEST(test_fails_on_later_batch), MTEST(test_versions),
           MTEST(test_null_checks_see_the_data), MTEST(test_cancel_running_query),
           MTEST(test_user_tables), MTEST(test_persistence))
