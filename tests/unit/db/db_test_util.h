/* Helpers shared by the db adapter's unit tests: an in-memory database, SQL scalars, and a
 * copy of a query's result into a table through db_query -> db_ingest. */
#ifndef DB_TEST_UTIL_H
#define DB_TEST_UTIL_H

#include "db/db.h"
#include "mtest.h"

#include <stdlib.h>

/* mtest's REQUIRE evaluates its condition twice: calls with side effects go through this. */
#define REQUIRE_ONCE(cond)                                                                         \
  do {                                                                                             \
    bool req_ok_ = (cond);                                                                         \
    REQUIRE(req_ok_);                                                                              \
  } while (0)

/* An in-memory database with 2 DuckDB threads and the given modes; NULL (reported) on failure. */
static inline db_database *tu_open_with(bool arrow_lossless, bool compress) {
  db_database *db = NULL;
  mlr_error e = {0};
  db_options o = {.threads = 2, .arrow_lossless = arrow_lossless, .compress = compress};
  if (db_open(&o, &db, &e) != MALLARD_OK) fprintf(stderr, "db_open: %s\n", e.message);
  return db;
}

/* The adapter's exact-fidelity mode (--arrow-lossless): the type tests check that every DuckDB
 * type comes back as itself. test_db_types.c also checks the default mode separately. */
static inline db_database *tu_open_mem(void) {
  return tu_open_with(true, false);
}

static inline db_conn *tu_connect(db_database *db) {
  db_conn *c = NULL;
  mlr_error e = {0};
  if (db_connect(db, &c, &e) != MALLARD_OK) fprintf(stderr, "db_connect: %s\n", e.message);
  return c;
}

static inline int tu_exec(db_conn *c, const char *sql) {
  mlr_error e = {0};
  mlr_code rc = db_execute(c, sql, NULL, &e);
  if (rc) fprintf(stderr, "exec '%s': %s\n", sql, e.message);
  return rc;
}

/* First column of the first row as int64 (via a one-row query); -1 on error. */
static inline int64_t tu_scalar(db_conn *c, const char *sql) {
  db_query *q = NULL;
  mlr_error e = {0};
  struct ArrowArray b;
  bool eof = false;
  int64_t v = -1;
  if (db_query_start(c, sql, NULL, &q, &e)) {
    fprintf(stderr, "scalar '%s': %s\n", sql, e.message);
    return -1;
  }
  if (db_query_next(q, &b, &eof, &e) == MALLARD_OK && !eof) {
    if (b.length > 0 && b.n_children > 0 && b.children[0]->n_buffers >= 2)
      v = ((const int64_t *)b.children[0]->buffers[1])[b.children[0]->offset];
    b.release(&b);
  } else {
    fprintf(stderr, "scalar '%s': %s\n", sql, e.message);
  }
  db_query_free(q);
  return v;
}

/* Streams sql (from src) into table dst (on dstc) with mode; returns the status and counts. */
static inline mlr_code tu_copy(db_conn *src, const char *sql, int64_t batch_rows, db_conn *dstc,
                               const char *dst, db_put_mode mode, int64_t *rows, int64_t *batches,
                               int64_t *max_batch, mlr_error *e) {
  db_query *q = NULL;
  db_ingest *ing = NULL;
  struct ArrowSchema s = {0};
  db_query_options o = {.batch_rows = batch_rows};
  mlr_code rc;
  if (batches) *batches = 0;
  if (max_batch) *max_batch = 0;
  if ((rc = db_query_start(src, sql, &o, &q, e))) return rc;
  if ((rc = db_query_schema(q, &s, e))) goto done;
  if ((rc = db_ingest_begin(dstc, NULL, dst, mode, &s, &ing, e))) goto done;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    if ((rc = db_query_next(q, &b, &eof, e))) break;
    if (eof) break;
    if (batches) (*batches)++;
    if (max_batch && b.length > *max_batch) *max_batch = b.length;
    if ((rc = db_ingest_append(ing, &b, e))) break;
  }
  if (rc)
    db_ingest_abort(ing);
  else
    rc = db_ingest_commit(ing, rows, e);
done:
  if (s.release) s.release(&s);
  db_query_free(q);
  return rc;
}

#endif /* DB_TEST_UTIL_H */
