/* Unit tests of flight_call_on_cancel over real gRPC: a handler's hook runs exactly once when the
 * client cancels or the call's deadline passes, a hook registered after that runs at once, and
 * a call that completes normally never runs its hooks. */
#include "flight/flight_server.h"
#include "common/mlr_time.h"
#include "mallard/client.h"
#include "mtest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

typedef struct cancel_state {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool registered;    /* the handler registered its hook */
  bool handler_done;  /* the handler returned */
  bool saw_cancelled; /* flight_call_is_cancelled was true after the hook ran */
  atomic_int hook_runs;
  atomic_int late_runs;    /* the hook registered after cancellation */
  int late_runs_at_return; /* late_runs right after flight_call_on_cancel returned */
} cancel_state;

static void hook(void *arg) {
  cancel_state *st = arg;
  pthread_mutex_lock(&st->mu);
  atomic_fetch_add(&st->hook_runs, 1);
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
}

static void late_hook(void *arg) {
  cancel_state *st = arg;
  atomic_fetch_add(&st->late_runs, 1);
}

static struct timespec in_ms(int ms) {
  return mlr_deadline_after_ms(CLOCK_REALTIME, ms);
}

/* Waits (st->mu held) until *flag is set or 10 s pass. */
static void wait_flag(cancel_state *st, bool *flag) {
  struct timespec ts = in_ms(10000);
  while (!*flag)
    if (pthread_cond_timedwait(&st->cv, &st->mu, &ts) == ETIMEDOUT) break;
}

/* DoGet that writes nothing: registers the hook and waits (at most 10 s) for it to run. */
static mlr_code h_do_get(void *ctx, flight_call *call, const flight_bytes *ticket, mlr_error *err) {
  (void)ticket;
  cancel_state *st = ctx;
  flight_call_on_cancel(call, hook, st);
  pthread_mutex_lock(&st->mu);
  st->registered = true;
  pthread_cond_broadcast(&st->cv);
  struct timespec ts = in_ms(10000);
  while (atomic_load(&st->hook_runs) == 0)
    if (pthread_cond_timedwait(&st->cv, &st->mu, &ts) == ETIMEDOUT) break;
  pthread_mutex_unlock(&st->mu);
  bool cancelled = flight_call_is_cancelled(call);
  flight_call_on_cancel(call, late_hook, st);
  int late = atomic_load(&st->late_runs);
  pthread_mutex_lock(&st->mu);
  st->saw_cancelled = cancelled;
  st->late_runs_at_return = late;
  pthread_mutex_unlock(&st->mu);
  return mlr_error_set(err, MALLARD_CANCELLED, "gave up");
}

static void call_done(void *ctx, flight_call *call, const mlr_error *status) {
  (void)call;
  (void)status;
  cancel_state *st = ctx;
  pthread_mutex_lock(&st->mu);
  st->handler_done = true;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
}

/* DoAction that completes normally after registering a hook. */
static mlr_code h_do_action(void *ctx, flight_call *call, const flight_action *a, mlr_error *err) {
  (void)a;
  flight_call_on_cancel(call, hook, ctx);
  return flight_call_write_result(call, (const uint8_t *)"ok", 2, err);
}

static flight_server *start(cancel_state *st, char *uri, size_t uri_len) {
  memset(st, 0, sizeof *st);
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  atomic_init(&st->hook_runs, 0);
  atomic_init(&st->late_runs, 0);
  flight_service svc = {
      .ctx = st, .call_done = call_done, .do_get = h_do_get, .do_action = h_do_action};
  const char *listen[] = {"127.0.0.1:0"};
  flight_server_options opts = {.listen = listen, .n_listen = 1};
  flight_server *srv = NULL;
  mlr_error err;
  if (flight_server_start(&opts, &svc, &srv, &err) != MALLARD_OK) return NULL;
  snprintf(uri, uri_len, "grpc://127.0.0.1:%d", flight_server_port(srv, 0));
  return srv;
}

static void stop(flight_server *srv, cancel_state *st) {
  flight_server_shutdown(srv, 5.0);
  flight_server_free(srv);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
}

static void test_client_cancel_runs_hook(void) {
  cancel_state st;
  char uri[64];
  flight_server *srv = start(&st, uri, sizeof uri);
  REQUIRE(srv != NULL);
  mallard_client *c = NULL;
  mallard_error err;
  REQUIRE(mallard_client_connect(uri, NULL, &c, &err) == MALLARD_OK);
  mallard_reader *r = NULL;
  REQUIRE(mallard_client_do_get(c, NULL, "t", 1, &r, &err) == MALLARD_OK);
  pthread_mutex_lock(&st.mu);
  wait_flag(&st, &st.registered);
  bool registered = st.registered;
  pthread_mutex_unlock(&st.mu);
  CHECK(registered);
  CHECK_EQ_INT(atomic_load(&st.hook_runs), 0); /* nothing cancelled yet */
  mallard_reader_cancel(r);
  pthread_mutex_lock(&st.mu);
  wait_flag(&st, &st.handler_done);
  bool done = st.handler_done, saw = st.saw_cancelled;
  int late_at_return = st.late_runs_at_return;
  pthread_mutex_unlock(&st.mu);
  CHECK(done);
  CHECK(saw);
  CHECK_EQ_INT(atomic_load(&st.hook_runs), 1);
  /* Registered after the cancellation: ran inside flight_call_on_cancel, before it returned. */
  CHECK_EQ_INT(late_at_return, 1);
  CHECK_EQ_INT(mallard_reader_close(&r, &err), MALLARD_CANCELLED);
  mallard_client_close(&c);
  stop(srv, &st);
  CHECK_EQ_INT(atomic_load(&st.hook_runs), 1); /* once, also after shutdown */
  CHECK_EQ_INT(atomic_load(&st.late_runs), 1);
}

static void test_deadline_runs_hook(void) {
  cancel_state st;
  char uri[64];
  flight_server *srv = start(&st, uri, sizeof uri);
  REQUIRE(srv != NULL);
  mallard_client *c = NULL;
  mallard_error err;
  REQUIRE(mallard_client_connect(uri, NULL, &c, &err) == MALLARD_OK);
  mallard_call_options o = {.timeout_ms = 300};
  mallard_reader *r = NULL;
  REQUIRE(mallard_client_do_get(c, &o, "t", 1, &r, &err) == MALLARD_OK);
  pthread_mutex_lock(&st.mu);
  wait_flag(&st, &st.handler_done);
  bool done = st.handler_done, saw = st.saw_cancelled;
  pthread_mutex_unlock(&st.mu);
  CHECK(done);
  CHECK(saw);
  CHECK_EQ_INT(atomic_load(&st.hook_runs), 1);
  struct ArrowArray batch;
  bool eof = false;
  CHECK_EQ_INT(mallard_reader_next(r, &batch, NULL, &eof, &err), MALLARD_DEADLINE_EXCEEDED);
  mallard_reader_close(&r, &err);
  mallard_client_close(&c);
  stop(srv, &st);
  CHECK_EQ_INT(atomic_load(&st.hook_runs), 1);
}

static void test_completed_call_skips_hook(void) {
  cancel_state st;
  char uri[64];
  flight_server *srv = start(&st, uri, sizeof uri);
  REQUIRE(srv != NULL);
  mallard_client *c = NULL;
  mallard_error err;
  REQUIRE(mallard_client_connect(uri, NULL, &c, &err) == MALLARD_OK);
  mallard_result_list res;
  memset(&res, 0, sizeof res);
  CHECK_EQ_INT(mallard_client_do_action(c, NULL, "x", NULL, 0, &res, &err), MALLARD_OK);
  mallard_result_list_release(&res);
  mallard_client_close(&c);
  stop(srv, &st);
  CHECK_EQ_INT(atomic_load(&st.hook_runs), 0);
}

MTEST_MAIN(MTEST(test_client_cancel_runs_hook), MTEST(test_deadline_runs_hook),
           MTEST(test_completed_call_skips_hook))
