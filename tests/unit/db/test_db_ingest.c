/* Ingest (DoPut) at the adapter level: the four modes with success and failure, schema checks
 * naming the column, abort leaving the table exactly as before, rows reported by commit. */
#include "db_test_util.h"

#include <pthread.h>
#include <string.h>

typedef struct fixture {
  db_database *db;
  db_conn *src; /* produces Arrow batches with db_query */
  db_conn *dst; /* ingests them */
} fixture;

static bool fx_open(fixture *f) {
  f->db = tu_open_mem();
  if (!f->db) return false;
  f->src = tu_connect(f->db);
  f->dst = tu_connect(f->db);
  return f->src && f->dst;
}

static void fx_close(fixture *f) {
  db_disconnect(f->src);
  db_disconnect(f->dst);
  db_close(f->db);
}

/* Begins an ingest of sql's schema into table with mode; appends its batches unless
 * only_begin. Leaves the ingest open in *ing (caller commits/aborts). */
static mlr_code start_put(fixture *f, const char *sql, const char *table, db_put_mode mode,
                          db_ingest **ing, mlr_error *e) {
  db_query *q = NULL;
  struct ArrowSchema s = {0};
  mlr_code rc;
  *ing = NULL;
  if ((rc = db_query_start(f->src, sql, NULL, &q, e))) return rc;
  if ((rc = db_query_schema(q, &s, e))) goto done;
  if ((rc = db_ingest_begin(f->dst, NULL, table, mode, &s, ing, e))) goto done;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    if ((rc = db_query_next(q, &b, &eof, e)) || eof) break;
    if ((rc = db_ingest_append(*ing, &b, e))) break;
  }
  if (rc) {
    db_ingest_abort(*ing);
    *ing = NULL;
  }
done:
  if (s.release) s.release(&s);
  db_query_free(q);
  return rc;
}

static mlr_code put(fixture *f, const char *sql, const char *table, db_put_mode mode, int64_t *rows,
                    mlr_error *e) {
  db_ingest *ing = NULL;
  mlr_code rc = start_put(f, sql, table, mode, &ing, e);
  if (rc) return rc;
  return db_ingest_commit(ing, rows, e);
}

static const char *k_data = "SELECT i::BIGINT AS id, (i * 2)::BIGINT AS delay, 'c' || i AS "
                            "carrier FROM range(100000) t(i)";

static void test_create_and_append(void) {
  fixture f;
  REQUIRE_ONCE(fx_open(&f));
  mlr_error e = {0};
  int64_t rows = 0;
  CHECK_EQ_INT(put(&f, k_data, "flights", DB_PUT_CREATE, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, 100000);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM flights"), 100000);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT sum(delay)::BIGINT FROM flights"), 9999900000LL);
  /* create on an existing table */
  CHECK_EQ_INT(put(&f, k_data, "flights", DB_PUT_CREATE, &rows, &e), MALLARD_ALREADY_EXISTS);
  CHECK(strstr(e.message, "flights") != NULL);
  /* append; column names compare case-insensitively, as DuckDB's identifiers do */
  CHECK_EQ_INT(put(&f, "SELECT 7::BIGINT AS ID, 8::BIGINT AS Delay, 'x' AS CARRIER FROM range(10)",
                   "FLIGHTS", DB_PUT_APPEND, &rows, &e),
               MALLARD_OK);
  CHECK_EQ_INT(rows, 10);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM flights"), 100010);
  /* append to a missing table */
  CHECK_EQ_INT(put(&f, k_data, "nope", DB_PUT_APPEND, &rows, &e), MALLARD_NOT_FOUND);
  CHECK(strstr(e.message, "nope") != NULL);
  /* create_or_append: both ways */
  CHECK_EQ_INT(put(&f, k_data, "coa", DB_PUT_CREATE_OR_APPEND, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(put(&f, k_data, "coa", DB_PUT_CREATE_OR_APPEND, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM coa"), 200000);
  /* an empty stream still creates the table */
  CHECK_EQ_INT(put(&f, "SELECT 1::INTEGER AS a FROM range(0)", "empty", DB_PUT_CREATE, &rows, &e),
               MALLARD_OK);
  CHECK_EQ_INT(rows, 0);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM empty"), 0);
  /* another schema */
  CHECK_EQ_INT(db_execute(f.src, "CREATE SCHEMA s2", NULL, &e), MALLARD_OK);
  db_query *q = NULL;
  struct ArrowSchema s;
  db_ingest *ing = NULL;
  REQUIRE_ONCE(db_query_start(f.src, "SELECT 1::INTEGER AS a", NULL, &q, &e) == 0);
  REQUIRE_ONCE(db_query_schema(q, &s, &e) == 0);
  CHECK_EQ_INT(db_ingest_begin(f.dst, "s2", "t", DB_PUT_CREATE, &s, &ing, &e), MALLARD_OK);
  struct ArrowArray b;
  bool eof;
  REQUIRE_ONCE(db_query_next(q, &b, &eof, &e) == 0 && !eof);
  CHECK_EQ_INT(db_ingest_append(ing, &b, &e), MALLARD_OK);
  CHECK_EQ_INT(db_ingest_commit(ing, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, 1);
  s.release(&s);
  db_query_free(q);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM s2.t"), 1);
  fx_close(&f);
}

static void test_schema_mismatch(void) {
  fixture f;
  REQUIRE_ONCE(fx_open(&f));
  mlr_error e = {0};
  int64_t rows = 0;
  REQUIRE_ONCE(put(&f, k_data, "flights", DB_PUT_CREATE, &rows, &e) == MALLARD_OK);
  /* type */
  CHECK_EQ_INT(put(&f, "SELECT 1::BIGINT AS id, 'late' AS delay, 'c' AS carrier", "flights",
                   DB_PUT_APPEND, &rows, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_STR(e.message, "column 2 'delay': table has BIGINT, stream has VARCHAR");
  /* name */
  CHECK_EQ_INT(put(&f, "SELECT 1::BIGINT AS id, 2::BIGINT AS delay_min, 'c' AS carrier", "flights",
                   DB_PUT_APPEND, &rows, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "column 2") && strstr(e.message, "delay_min"));
  /* count */
  CHECK_EQ_INT(
      put(&f, "SELECT 1::BIGINT AS id, 2::BIGINT AS delay", "flights", DB_PUT_APPEND, &rows, &e),
      MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "3 columns") && strstr(e.message, "2"));
  /* also for create_or_append on an existing table */
  CHECK_EQ_INT(put(&f, "SELECT 1::INTEGER AS id, 2::BIGINT AS delay, 'c' AS carrier", "flights",
                   DB_PUT_CREATE_OR_APPEND, &rows, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "table has BIGINT, stream has INTEGER") != NULL);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM flights"), 100000);
  /* DuckDB exports a NULL literal's column as INTEGER: it is stored as such. */
  CHECK_EQ_INT(
      put(&f, "SELECT 1::INTEGER AS a, NULL AS nothing", "nulls", DB_PUT_CREATE, &rows, &e),
      MALLARD_OK);
  fx_close(&f);
}

static void test_abort_leaves_table_unchanged(void) {
  fixture f;
  REQUIRE_ONCE(fx_open(&f));
  mlr_error e = {0};
  int64_t rows = 0;
  db_ingest *ing = NULL;
  REQUIRE_ONCE(put(&f, k_data, "flights", DB_PUT_CREATE, &rows, &e) == MALLARD_OK);
  int64_t sum0 = tu_scalar(f.src, "SELECT sum(id)::BIGINT FROM flights");
  /* append, abort */
  REQUIRE_ONCE(start_put(&f, k_data, "flights", DB_PUT_APPEND, &ing, &e) == MALLARD_OK);
  db_ingest_abort(ing);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM flights"), 100000);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT sum(id)::BIGINT FROM flights"), sum0);
  /* replace, abort: the old data is kept */
  REQUIRE_ONCE(start_put(&f, "SELECT 1::INTEGER AS other FROM range(5)", "flights", DB_PUT_REPLACE,
                         &ing, &e) == MALLARD_OK);
  db_ingest_abort(ing);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM flights"), 100000);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT sum(id)::BIGINT FROM flights"), sum0);
  /* create, abort: no table */
  REQUIRE_ONCE(start_put(&f, k_data, "fresh", DB_PUT_CREATE, &ing, &e) == MALLARD_OK);
  db_ingest_abort(ing);
  bool exists = true;
  CHECK_EQ_INT(db_table_exists(f.src, NULL, "fresh", &exists, &e), MALLARD_OK);
  CHECK(!exists);
  /* replace, commit: the table is swapped, schema included */
  CHECK_EQ_INT(
      put(&f, "SELECT 1::INTEGER AS other FROM range(5)", "flights", DB_PUT_REPLACE, &rows, &e),
      MALLARD_OK);
  CHECK_EQ_INT(rows, 5);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM flights"), 5);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT sum(other)::BIGINT FROM flights"), 5);
  /* replace of a missing table creates it */
  CHECK_EQ_INT(put(&f, k_data, "brand_new", DB_PUT_REPLACE, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM brand_new"), 100000);
  /* A failing batch (constraint) fails the commit and leaves nothing. */
  CHECK_EQ_INT(db_execute(f.src, "CREATE TABLE pk (id BIGINT PRIMARY KEY)", NULL, &e), 0);
  CHECK_EQ_INT(db_execute(f.src, "INSERT INTO pk VALUES (5)", NULL, &e), 0);
  mlr_code rc =
      start_put(&f, "SELECT i::BIGINT AS id FROM range(10) t(i)", "pk", DB_PUT_APPEND, &ing, &e);
  if (rc == MALLARD_OK) rc = db_ingest_commit(ing, &rows, &e);
  CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM pk"), 1);
  /* the connection is usable after all that */
  CHECK_EQ_INT(put(&f, k_data, "after", DB_PUT_CREATE, &rows, &e), MALLARD_OK);
  fx_close(&f);
}

/* Batches with an offset (sliced by the producer) and of odd sizes are appended correctly. */
static void test_batch_offsets(void) {
  fixture f;
  REQUIRE_ONCE(fx_open(&f));
  mlr_error e = {0};
  db_query *q = NULL;
  struct ArrowSchema s;
  db_ingest *ing = NULL;
  db_query_options o = {.batch_rows = 10000};
  REQUIRE_ONCE(db_query_start(f.src,
                              "SELECT i::BIGINT AS id, CASE WHEN i % 3 = 0 THEN NULL ELSE 's' || i "
                              "END AS s, [i, NULL] AS l FROM range(30000) t(i)",
                              &o, &q, &e) == 0);
  REQUIRE_ONCE(db_query_schema(q, &s, &e) == 0);
  REQUIRE_ONCE(db_ingest_begin(f.dst, NULL, "t", DB_PUT_CREATE, &s, &ing, &e) == 0);
  int64_t expect = 0;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    if (db_query_next(q, &b, &eof, &e) || eof) break;
    /* Keep rows [1000, length-3) only: a top-level offset, as a sliced batch would have. */
    b.offset = 1000;
    b.length -= 1003;
    expect += b.length;
    CHECK_EQ_INT(db_ingest_append(ing, &b, &e), MALLARD_OK);
  }
  int64_t rows = 0;
  CHECK_EQ_INT(db_ingest_commit(ing, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, expect);
  s.release(&s);
  db_query_free(q);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM t"), expect);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM t WHERE id % 3 = 0 AND s IS NOT NULL"), 0);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM t WHERE s <> 's' || id OR l[1] <> id OR "
                                "l[2] IS NOT NULL"),
               0);
  fx_close(&f);
}

static void noop_schema_release(struct ArrowSchema *s) {
  s->release = NULL;
}

/* Arrow types DuckDB cannot store without changing them are refused, naming the column. */
static void test_refused_arrow_types(void) {
  static const struct {
    const char *format, *why;
  } cases[] = {{"n", "NULL"},           {"e", "half"},       {"tsn:UTC", "microseconds"},
               {"ttn", "microseconds"}, {"tdm", "date32"},   {"w:4", "fixed-size"},
               {"d:40,2,256", "38"},    {"tDs", "interval"}, {"+r", "run-end"}};
  fixture f;
  REQUIRE_ONCE(fx_open(&f));
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ArrowSchema ok = {.format = "i", .name = "id", .release = noop_schema_release};
    struct ArrowSchema bad = {
        .format = cases[i].format, .name = "weird", .release = noop_schema_release};
    struct ArrowSchema *kids[2] = {&ok, &bad};
    struct ArrowSchema root = {.format = "+s",
                               .name = "",
                               .n_children = 2,
                               .children = kids,
                               .release = noop_schema_release};
    db_ingest *ing = NULL;
    mlr_error e = {0};
    CHECK_EQ_INT(db_ingest_begin(f.dst, NULL, "t", DB_PUT_CREATE, &root, &ing, &e),
                 MALLARD_INVALID_ARGUMENT);
    if (!strstr(e.message, "'weird'") || !strstr(e.message, cases[i].format))
      fprintf(stderr, "  %s: %s\n", cases[i].format, e.message);
    CHECK(strstr(e.message, "'weird'") != NULL);
    CHECK(ing == NULL);
  }
  bool exists = true;
  mlr_error e = {0};
  CHECK_EQ_INT(db_table_exists(f.src, NULL, "t", &exists, &e), MALLARD_OK);
  CHECK(!exists);
  fx_close(&f);
}

/* The two-step ingest the server pipelines: each batch converted on one thread while the previous
 * one is appended on another; rows land in stream order; a prepared batch never appended is just
 * freed (ASan checks nothing leaks); a batch with the wrong column count is refused by prepare. */
typedef struct pipe_state {
  db_ingest *ing;
  db_ingest_batch *slot;
  bool full, done;
  mlr_code rc;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} pipe_state;

static void *append_main(void *arg) {
  pipe_state *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->full && !p->done) pthread_cond_wait(&p->cv, &p->mu);
    if (!p->full) break;
    db_ingest_batch *b = p->slot;
    p->full = false;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    mlr_error e = {0};
    mlr_code rc = db_ingest_append_prepared(p->ing, b, &e);
    pthread_mutex_lock(&p->mu);
    if (rc && !p->rc) p->rc = rc;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void test_prepare_on_another_thread(void) {
  fixture f = {0};
  REQUIRE(fx_open(&f));
  mlr_error e = {0};
  db_query *q = NULL;
  struct ArrowSchema s = {0};
  db_query_options o = {.batch_rows = 7000};
  REQUIRE_ONCE(db_query_start(f.src, k_data, &o, &q, &e) == MALLARD_OK);
  REQUIRE_ONCE(db_query_schema(q, &s, &e) == MALLARD_OK);
  pipe_state p = {.rc = MALLARD_OK};
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  REQUIRE_ONCE(db_ingest_begin(f.dst, NULL, "piped", DB_PUT_CREATE, &s, &p.ing, &e) == MALLARD_OK);
  pthread_t th;
  REQUIRE_ONCE(pthread_create(&th, NULL, append_main, &p) == 0);
  int64_t sent = 0;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    if (db_query_next(q, &b, &eof, &e) != MALLARD_OK || eof) break;
    db_ingest_batch *pb = NULL;
    int64_t len = b.length;
    CHECK_EQ_INT(db_ingest_prepare(p.ing, &b, &pb, &e), MALLARD_OK);
    CHECK(b.release == NULL); /* moved in */
    CHECK_EQ_INT(db_ingest_batch_rows(pb), len);
    sent += len;
    pthread_mutex_lock(&p.mu);
    while (p.full) pthread_cond_wait(&p.cv, &p.mu);
    p.slot = pb;
    p.full = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
  }
  pthread_mutex_lock(&p.mu);
  p.done = true;
  pthread_cond_broadcast(&p.cv);
  pthread_mutex_unlock(&p.mu);
  pthread_join(th, NULL);
  CHECK_EQ_INT(p.rc, MALLARD_OK);
  CHECK_EQ_INT(sent, 100000);
  /* One more prepared but never appended, and one refused for its column count. */
  db_query_free(q);
  q = NULL;
  REQUIRE_ONCE(db_query_start(f.src, "SELECT 1::BIGINT AS id, 2::BIGINT AS delay, 'x' AS carrier",
                              NULL, &q, &e) == MALLARD_OK);
  struct ArrowArray b;
  bool eof = false;
  REQUIRE_ONCE(db_query_next(q, &b, &eof, &e) == MALLARD_OK && !eof);
  db_ingest_batch *unused = NULL;
  CHECK_EQ_INT(db_ingest_prepare(p.ing, &b, &unused, &e), MALLARD_OK);
  db_ingest_batch_free(unused);
  db_query_free(q);
  q = NULL;
  REQUIRE_ONCE(db_query_start(f.src, "SELECT 1::BIGINT AS id", NULL, &q, &e) == MALLARD_OK);
  REQUIRE_ONCE(db_query_next(q, &b, &eof, &e) == MALLARD_OK && !eof);
  db_ingest_batch *bad = NULL;
  CHECK_EQ_INT(db_ingest_prepare(p.ing, &b, &bad, &e), MALLARD_INVALID_ARGUMENT);
  CHECK(bad == NULL && b.release == NULL);
  CHECK(strstr(e.message, "columns") != NULL);
  int64_t rows = 0;
  CHECK_EQ_INT(db_ingest_commit(p.ing, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, 100000);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM piped WHERE id <> rowid OR delay <> 2 * id "
                                "OR carrier <> 'c' || id"),
               0);
  CHECK_EQ_INT(tu_scalar(f.src, "SELECT count(*) FROM piped"), 100000);
  db_query_free(q);
  if (s.release) s.release(&s);
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
  fx_close(&f);
}

MTEST_MAIN(MTEST(test_refused_arrow_types), MTEST(test_create_and_append),
           MTEST(test_schema_mismatch), MTEST(test_abort_leaves_table_unchanged),
           MTEST(test_batch_offsets), MTEST(test_prepare_on_another_thread))
