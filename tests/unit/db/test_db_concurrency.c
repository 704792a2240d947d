/* Several threads, each with its own connection, appending to one table and querying at the
 * same time: every row is accounted for. Also what two concurrent creates of one table give. */
#include "db_test_util.h"

#include <pthread.h>
#include <string.h>

#define N_THREADS 8
#define N_ROUNDS 10

typedef struct worker {
  db_database *db;
  int id;
  int failures;
  int64_t appended;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  db_conn *src = tu_connect(w->db), *dst = tu_connect(w->db);
  char sql[256];
  if (!src || !dst) {
    w->failures++;
    goto done;
  }
  for (int r = 0; r < N_ROUNDS; r++) {
    mlr_error e = {0};
    int64_t rows = 0;
    snprintf(sql, sizeof sql,
             "SELECT %d AS worker, i::BIGINT AS i, 'w' || i AS s FROM range(%d) t(i)", w->id,
             1000 + r);
    mlr_code rc =
        tu_copy(src, sql, 0, dst, "shared", DB_PUT_CREATE_OR_APPEND, &rows, NULL, NULL, &e);
    if (rc) {
      fprintf(stderr, "worker %d: %s\n", w->id, e.message);
      w->failures++;
      continue;
    }
    w->appended += rows;
    if (tu_scalar(src, "SELECT count(*) FROM shared") < rows) w->failures++;
  }
done:
  db_disconnect(src);
  db_disconnect(dst);
  return NULL;
}

static void test_concurrent_appends(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  tu_exec(c, "CREATE TABLE shared (worker INTEGER, i BIGINT, s VARCHAR)");
  worker w[N_THREADS];
  pthread_t th[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    w[i] = (worker){db, i, 0, 0};
    int prc = pthread_create(&th[i], NULL, worker_main, &w[i]);
    CHECK_EQ_INT(prc, 0);
  }
  int64_t total = 0;
  for (int i = 0; i < N_THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ_INT(w[i].failures, 0);
    total += w[i].appended;
  }
  int64_t per_worker = 0;
  for (int r = 0; r < N_ROUNDS; r++) per_worker += 1000 + r;
  CHECK_EQ_INT(total, N_THREADS * per_worker);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM shared"), N_THREADS * per_worker);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(DISTINCT worker) FROM shared"), N_THREADS);
  db_disconnect(c);
  db_close(db);
}

/* Two ingests creating the same table: the second to commit fails (DuckDB's write-write
 * conflict), and the table holds exactly the first one's rows. */
static void test_concurrent_create_conflict(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *src = tu_connect(db), *d1 = tu_connect(db), *d2 = tu_connect(db);
  REQUIRE(src && d1 && d2);
  mlr_error e = {0};
  db_query *q = NULL;
  struct ArrowSchema s;
  REQUIRE_ONCE(db_query_start(src, "SELECT 1::INTEGER AS a", NULL, &q, &e) == MALLARD_OK);
  REQUIRE_ONCE(db_query_schema(q, &s, &e) == MALLARD_OK);
  db_query_free(q);
  db_ingest *i1 = NULL, *i2 = NULL;
  mlr_code r1 = db_ingest_begin(d1, NULL, "t", DB_PUT_CREATE, &s, &i1, &e);
  mlr_code r2 = db_ingest_begin(d2, NULL, "t", DB_PUT_CREATE, &s, &i2, &e);
  CHECK_EQ_INT(r1, MALLARD_OK);
  int64_t rows = 0;
  if (r1 == MALLARD_OK) CHECK_EQ_INT(db_ingest_commit(i1, &rows, &e), MALLARD_OK);
  if (r2 == MALLARD_OK) {
    r2 = db_ingest_commit(i2, &rows, &e);
  }
  fprintf(stderr, "  second create: %s: %s\n", mallard_code_name(r2), e.message);
  CHECK(r2 != MALLARD_OK);
  CHECK_EQ_INT(tu_scalar(src, "SELECT count(*) FROM t"), 0);
  s.release(&s);
  db_disconnect(src);
  db_disconnect(d1);
  db_disconnect(d2);
  db_close(db);
}

MTEST_MAIN(MTEST(test_concurrent_appends), MTEST(test_concurrent_create_conflict))
