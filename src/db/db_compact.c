/* Background compaction of a compressed in-memory database (db_options.compress). DuckDB
 * compresses at checkpoints, and it checkpoints inside the committing call once a transaction
 * writes more than checkpoint_threshold: a 24M-row DoPut then took 10 s instead of 5. So the
 * database's commits never checkpoint (the threshold is set out of reach in db_open) and this
 * thread, owned by the database, runs CHECKPOINT once writes settle: `settle_ms` after the last
 * request, retried every `retry_ms` while another write transaction is open (DuckDB refuses to
 * checkpoint then), stopped by db_close. Until it runs, the newly written rows are held
 * uncompressed, as in an uncompressed database. Writable database files attached to it are
 * checkpointed in the same pass (see compact_all). */
#include "db/db_internal.h"

#include "common/mlr_json.h"
#include "common/mlr_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_COMPACT_SETTLE_MS 100
#define DB_COMPACT_RETRY_MS 200

struct db_compactor {
  pthread_t thread;
  pthread_mutex_t lock; /* guards everything below */
  pthread_cond_t cond;  /* requests, stop, the end of a pass (for waiters), queries closing */
  duckdb_connection con;
  /* The query gate. A streaming query holds its tables' scan locks until its client has read it
   * all, and a CHECKPOINT waits for those locks while holding the lock that every write needs:
   * with a slow reader (or a transfer from and into this server, whose reader waits for its
   * writer) every write stalled, or deadlocked. So a pass starts only while no query is open,
   * and a query that starts during a pass waits for its end. */
  int open_queries;
  uint64_t requested; /* bumped by every request */
  uint64_t done;      /* the request count the last successful CHECKPOINT covered */
  bool running;       /* a CHECKPOINT is under way */
  bool stop;
  uint64_t passes; /* successful checkpoints (tests) */
};

static struct timespec deadline_in(int ms) {
  return mlr_deadline_after_ms(CLOCK_MONOTONIC, ms);
}

/* Runs CHECKPOINT through DuckDB's pending-query API. duckdb_query would have this thread poll
 * for tasks without pause while DuckDB's workers compress (measured: a third of the compaction's
 * CPU); here it sleeps a millisecond whenever no task is left for it. */
static bool checkpoint(db_compactor *c, const char *sql) {
  duckdb_prepared_statement st = NULL;
  duckdb_pending_result pending = NULL;
  duckdb_result res;
  bool ok = false;
  if (duckdb_prepare(c->con, sql, &st) != DuckDBSuccess) goto done;
  if (duckdb_pending_prepared(st, &pending) != DuckDBSuccess) goto done;
  for (;;) {
    duckdb_pending_state state = duckdb_pending_execute_task(pending);
    if (state == DUCKDB_PENDING_RESULT_READY) break;
    if (state == DUCKDB_PENDING_ERROR) goto done;
    if (state == DUCKDB_PENDING_NO_TASKS_AVAILABLE) {
      struct timespec ts = {0, 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  if (duckdb_execute_pending(pending, &res) == DuckDBSuccess) ok = true;
  duckdb_destroy_result(&res);
done:
  if (pending) duckdb_destroy_pending(&pending);
  if (st) duckdb_destroy_prepare(&st);
  return ok;
}

/* One pass: the default database, then every other writable DuckDB database file attached to it
 * (say by --init-sql): checkpoint_threshold is a global setting, so their commits no longer
 * checkpoint either, and a file's WAL would otherwise grow until the server stops. In-memory
 * databases attached by a call (a SQL exchanger's private `input` database) are left alone: the
 * call may be detaching it, and checkpointing one then crashed DuckDB (seen in a test). The pass
 * counts as done when the default database's checkpoint succeeded; the others are best effort
 * (tried again at the next pass), so that one that cannot checkpoint does not keep the thread busy.
 */
static bool compact_all(db_compactor *c) {
  if (!checkpoint(c, "CHECKPOINT")) return false;
  duckdb_result res;
  if (duckdb_query(c->con,
                   "SELECT database_name FROM duckdb_databases() WHERE NOT internal AND NOT "
                   "readonly AND type = 'duckdb' AND path IS NOT NULL AND database_name <> "
                   "current_database()",
                   &res) != DuckDBSuccess) {
    duckdb_destroy_result(&res);
    return true;
  }
  idx_t n = duckdb_row_count(&res);
  for (idx_t i = 0; i < n; i++) {
    char *name = duckdb_value_varchar(&res, 0, i);
    mlr_strbuf sql = {0};
    mlr_strbuf_append_str(&sql, "CHECKPOINT ");
    mlr_strbuf_append_owned(&sql, name ? db_quote_identifier(name) : NULL);
    if (!sql.oom) (void)checkpoint(c, sql.data);
    free(sql.data);
    if (name) duckdb_free(name);
  }
  duckdb_destroy_result(&res);
  return true;
}

static void *compact_main(void *arg) {
  db_compactor *c = arg;
  pthread_mutex_lock(&c->lock);
  while (!c->stop) {
    if (c->done == c->requested) {
      pthread_cond_wait(&c->cond, &c->lock);
      continue;
    }
    /* Let a burst of writes settle: wait until no request came for settle_ms. */
    uint64_t seen = c->requested;
    struct timespec ts = deadline_in(DB_COMPACT_SETTLE_MS);
    while (!c->stop && c->requested == seen &&
           pthread_cond_timedwait(&c->cond, &c->lock, &ts) != ETIMEDOUT) {
    }
    if (c->stop) break;
    if (c->requested != seen) continue;
    if (c->open_queries > 0) { /* a query holds scan locks: when the last one closes */
      pthread_cond_wait(&c->cond, &c->lock);
      continue;
    }
    c->running = true;
    pthread_mutex_unlock(&c->lock);
    bool ok = compact_all(c);
    pthread_mutex_lock(&c->lock);
    c->running = false;
    if (ok) {
      c->done = seen;
      c->passes++;
    }
    pthread_cond_broadcast(&c->cond);
    if (!ok && !c->stop) { /* a write transaction is open (or it was interrupted): later */
      ts = deadline_in(DB_COMPACT_RETRY_MS);
      while (!c->stop && pthread_cond_timedwait(&c->cond, &c->lock, &ts) != ETIMEDOUT) {
      }
    }
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

mlr_code db_compactor_start(db_database *db, mlr_error *err) {
  db_compactor *c = calloc(1, sizeof *c);
  if (!c) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&c->lock, NULL);
  if (duckdb_connect(db->db, &c->con) != DuckDBSuccess) {
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return mlr_error_set(err, MALLARD_UNAVAILABLE, "cannot connect to the DuckDB database");
  }
  int e = pthread_create(&c->thread, NULL, compact_main, c);
  if (e != 0) {
    duckdb_disconnect(&c->con);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot start the compaction thread: %s",
                         strerror(e));
  }
  db->compactor = c;
  return MALLARD_OK;
}

void db_compactor_stop(db_database *db) {
  db_compactor *c = db->compactor;
  if (!c) return;
  pthread_mutex_lock(&c->lock);
  c->stop = true;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  duckdb_interrupt(c->con);
  pthread_join(c->thread, NULL);
  duckdb_disconnect(&c->con);
  pthread_cond_destroy(&c->cond);
  pthread_mutex_destroy(&c->lock);
  free(c);
  db->compactor = NULL;
}

void db_compact_request(db_database *db) {
  db_compactor *c = db ? db->compactor : NULL;
  if (!c) return;
  pthread_mutex_lock(&c->lock);
  c->requested++;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

void db_compact_query_open(db_database *db) {
  db_compactor *c = db ? db->compactor : NULL;
  if (!c) return;
  pthread_mutex_lock(&c->lock);
  while (c->running) pthread_cond_wait(&c->cond, &c->lock);
  c->open_queries++;
  pthread_mutex_unlock(&c->lock);
}

void db_compact_query_close(db_database *db) {
  db_compactor *c = db ? db->compactor : NULL;
  if (!c) return;
  pthread_mutex_lock(&c->lock);
  if (--c->open_queries == 0) pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

bool db_compact_wait(db_database *db, int timeout_ms, uint64_t *passes) {
  db_compactor *c = db ? db->compactor : NULL;
  if (passes) *passes = 0;
  if (!c) return true;
  struct timespec ts = deadline_in(timeout_ms);
  pthread_mutex_lock(&c->lock);
  while ((c->done != c->requested || c->running) &&
         pthread_cond_timedwait(&c->cond, &c->lock, &ts) != ETIMEDOUT) {
  }
  bool idle = c->done == c->requested && !c->running;
  if (passes) *passes = c->passes;
  pthread_mutex_unlock(&c->lock);
  return idle;
}
