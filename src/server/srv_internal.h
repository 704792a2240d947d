/* Private to src/server: the server object, the per-call state shared by the handlers, the
 * cancel/timeout plumbing and the handler entry points. */
#ifndef SRV_INTERNAL_H
#define SRV_INTERNAL_H

#include "server/srv.h"

#include "common/mlr_json.h"

#include "auth/auth.h"
#include "db/db.h"
#include "exchange/xchg.h"
#include "flight/flight_server.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct srv_call srv_call;

struct srv_server {
  char *listen;  /* as configured */
  char url[320]; /* with the bound port */
  bool read_only;
  bool persistent;
  double query_timeout_s;
  int64_t batch_rows;
  srv_logger *logger;

  db_database *db;
  auth_service *auth;
  xchg_registry *xchg;
  flight_server *flight;

  /* --query-timeout: calls with a deadline, checked by the watchdog thread. */
  pthread_mutex_t wd_lock;
  pthread_cond_t wd_cond;
  bool wd_stop;
  bool wd_started;
  pthread_t wd_thread;
  srv_call *wd_head;

  /* Finished calls whose cancel hook may still fire (the transport can run it from its close
   * event after call_done): freed a little later, see srv_call_done. */
  pthread_mutex_t dead_lock;
  srv_call *dead_head;

  /* DoPuts that may create (or replace) a table hold its name here for their whole
   * transaction: a second DoPut to that name waits, then appends to the table the first one
   * made instead of failing on DuckDB's catalog write-write conflict. */
  pthread_mutex_t create_lock;
  pthread_cond_t create_cond;
  char **creating; /* "schema\ntable", lowercased; NULL slots are free */
  size_t n_creating;

  atomic_bool shut_down;
};

/* Waits until no other DoPut holds the (schema, table) name, then holds it. False (with err)
 * when the call was cancelled while waiting or memory ran out. Release with
 * srv_table_name_release. */
bool srv_table_name_hold(srv_server *s, flight_call *call, const char *schema, const char *table,
                         char **held, mlr_error *err);
void srv_table_name_release(srv_server *s, char *held);

/* Per-call state, created by the middleware after auth admitted the call and freed in call_done.
 * `lock` guards conn/xchg/cancelled/timed_out against the cancel hook and the watchdog, which
 * run on other threads. */
struct srv_call {
  srv_server *srv;
  flight_call *call;
  int64_t start_ns;

  pthread_mutex_t lock;
  db_conn *conn;
  xchg_instance *xchg;
  bool cancelled;
  bool timed_out;

  /* watchdog list (under srv->wd_lock) */
  bool watched;
  int64_t deadline_ns;
  srv_call *wd_next;
  srv_call *wd_prev;

  /* dead list (under srv->dead_lock) */
  int64_t dead_ns;
  srv_call *dead_next;

  /* for the log line */
  char action[64];
  char *table;
  char query_hash[17];
  char exchanger[128];
  int64_t rows;
  int64_t bytes;
};

int64_t srv_now_ns(void);

/* The call's state (NULL when the middleware attached none). */
srv_call *srv_call_of(flight_call *call);

/* Opens the call's own connection and makes it interruptible by cancellation and the timeout.
 * CANCELLED when the call was already cancelled. */
mlr_code srv_call_connect(srv_call *sc, db_conn **out, mlr_error *err);
/* Detaches and closes the connection (rolls back anything open). NULL is fine. */
void srv_call_disconnect(srv_call *sc, db_conn *conn);
/* Makes an exchange instance interruptible (NULL to detach). */
void srv_call_set_xchg(srv_call *sc, xchg_instance *inst);

/* Starts the --query-timeout clock for this call (no-op without a timeout). */
void srv_call_watch(srv_call *sc);
void srv_call_unwatch(srv_call *sc);
/* Rewrites a CANCELLED error caused by the query timeout as DEADLINE_EXCEEDED. */
mlr_code srv_call_fix_status(srv_call *sc, mlr_code rc, mlr_error *err);

void srv_call_set_table(srv_call *sc, const char *schema, const char *table);
void srv_call_set_query(srv_call *sc, const char *sql, size_t len);

/* Copies a ticket / body into a NUL-terminated SQL string: INVALID_ARGUMENT when empty, not
 * UTF-8 or containing NUL. `what` names it in the message ("ticket"). Caller frees. */
mlr_code srv_sql_from_bytes(const uint8_t *data, size_t len, const char *what, char **out,
                            mlr_error *err);
/* True when the call may not write: the server is --read-only or the caller is a reader. */
bool srv_call_read_only(srv_server *s, flight_call *call);
/* For such calls: PERMISSION_DENIED unless the SQL is a single read-only statement (which then
 * runs in a transaction that is rolled back, catching what the keyword check cannot). */
mlr_code srv_check_read_only_sql(srv_server *s, flight_call *call, db_conn *conn, const char *sql,
                                 mlr_error *err);
/* --read-only: PERMISSION_DENIED for a write operation `what`. */
mlr_code srv_refuse_write(srv_server *s, const char *what, mlr_error *err);

/* Handlers (flight_service members), ctx = srv_server. */
mlr_code srv_do_get(void *ctx, flight_call *call, const flight_bytes *ticket, mlr_error *err);
mlr_code srv_do_put(void *ctx, flight_call *call, mlr_error *err);
mlr_code srv_do_exchange(void *ctx, flight_call *call, mlr_error *err);
mlr_code srv_get_flight_info(void *ctx, flight_call *call, const flight_descriptor *desc,
                             flight_info *info, mlr_error *err);
mlr_code srv_get_schema(void *ctx, flight_call *call, const flight_descriptor *desc,
                        struct ArrowSchema *schema, mlr_error *err);
mlr_code srv_list_flights(void *ctx, flight_call *call, const flight_bytes *criteria,
                          mlr_error *err);
mlr_code srv_do_action(void *ctx, flight_call *call, const flight_action *action, mlr_error *err);
mlr_code srv_list_actions(void *ctx, flight_call *call, mlr_error *err);

#endif /* SRV_INTERNAL_H */
