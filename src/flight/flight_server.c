/* The Flight server on gRPC core's C API: completion-queue threads that only move events, one
 * worker thread per call running the service's handler, and the blocking call API the handlers
 * use (each blocking call waits on its own call's condition variable). */
#include "flight/flight_server.h"
#include "common/mlr_time.h"
#include "flight/flight_rx.h"
#include "flight/flight_server_int.h"
#include "flight/flight_types_pb.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FS_DEFAULT_MAX_MESSAGE (128 * 1024 * 1024)
#define FS_DEFAULT_MAX_METADATA (1024 * 1024)
#define FS_DEFAULT_MAX_CALLS 256
#define FS_DEFAULT_BYTES_IN_FLIGHT (32 * 1024 * 1024)
#define FS_DEFAULT_CQ_THREADS 2

typedef enum fs_tag_kind {
  TAG_ACCEPT,
  TAG_RECV,
  TAG_SEND,
  TAG_CLOSE,
  TAG_STATUS,
  TAG_REJECT,
  TAG_SHUTDOWN
} fs_tag_kind;

typedef struct fs_tag {
  fs_tag_kind kind;
  flight_call *call;
} fs_tag;

typedef struct fs_send {
  struct fs_send *next;
  grpc_byte_buffer *bb;
  size_t bytes;
} fs_send;

typedef struct fs_hook {
  void (*fn)(void *);
  void *arg;
} fs_hook;

typedef struct fs_md {
  grpc_metadata *items;
  size_t n, cap;
} fs_md;

struct flight_call {
  flight_server *srv;
  flight_method method;
  grpc_call *gcall;
  gpr_timespec deadline;
  double idle_timeout_s;        /* 0 = none */
  bool idle_expired;            /* cancelled for waiting on the client too long */
  bool shutdown_expired;        /* cancelled by a shutdown whose grace period ran out */
  flight_call *h_prev, *h_next; /* srv->handling list, while a handler runs */
  grpc_metadata_array req_md;
  grpc_call_details details; /* the method of a call no registered method matched */
  grpc_byte_buffer *reply;   /* its answer, alive until the batch sending it completes */
  atomic_int refs;
  fs_tag t_accept, t_recv, t_send, t_close, t_status;
  char *peer;
  void *user_data;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* receive side */
  bool recv_pending;
  bool recv_ok;
  grpc_byte_buffer *recv_bb;
  bool recv_eof;
  /* send side: a queue drained one message at a time by the CQ thread */
  fs_send *q_head, *q_tail;
  fs_send *cur_send;
  int64_t queued_bytes;
  bool send_failed;
  bool initial_md_sent;
  bool status_pending;
  bool status_done;
  /* close */
  bool closed;
  int cancelled_flag;
  bool cancelled;
  fs_hook *hooks;
  size_t n_hooks, cap_hooks;
  bool hooks_ran;
  bool committing; /* flight_call_enter_commit: no interrupt from here on */

  fs_md headers, trailers;

  /* stream state for DoPut/DoExchange and the Arrow-level helpers */
  bool has_first_desc;
  bool read_any;
  flight_descriptor first_desc;
  fs_arrow_state arrow;
};

struct flight_server {
  flight_service service;
  grpc_server *server;
  grpc_completion_queue *cq;
  void *methods[FLIGHT_METHOD_COUNT];
  int *ports;
  int n_listen;
  int64_t max_message_size;
  arrowc_pool *rx_pool; /* NULL unless opts->rx_pool_bytes > 0 */
  int max_calls;
  int64_t max_bytes_in_flight;
  double idle_timeout_s;
  int n_cq_threads;
  pthread_t *cq_threads;
  bool started;

  pthread_mutex_t mu; /* guards the fields below */
  pthread_cond_t cv;
  int active_handlers;
  int live_calls;
  int committing;        /* handlers between flight_call_enter_commit and their return */
  flight_call *handling; /* calls whose handler runs */
  bool shutting_down;    /* flight_server_shutdown began: new calls are refused (UNAVAILABLE) */
  bool grpc_stopped;     /* grpc_server_shutdown_and_notify was called: no more calls requested */
  bool shutdown_done;
  bool shutdown_called;
  bool teardown_done; /* finish_teardown ran */
  fs_tag t_shutdown;
};

static const char *const method_names[FLIGHT_METHOD_COUNT] = {
    "Handshake", "ListFlights", "GetFlightInfo", "PollFlightInfo", "GetSchema",
    "DoGet",     "DoPut",       "DoExchange",    "DoAction",       "ListActions"};

const char *flight_method_name(flight_method m) {
  return (unsigned)m < FLIGHT_METHOD_COUNT ? method_names[m] : "Unknown";
}

/* ------------------------------------------------------------------------------------------
 * Call lifetime
 * ---------------------------------------------------------------------------------------- */

static void md_release(fs_md *md) {
  for (size_t i = 0; i < md->n; i++) {
    grpc_slice_unref(md->items[i].key);
    grpc_slice_unref(md->items[i].value);
  }
  free(md->items);
  memset(md, 0, sizeof *md);
}

static void call_free(flight_call *call) {
  flight_server *srv = call->srv;
  fs_arrow_state_release(&call->arrow);
  for (fs_send *s = call->q_head; s != NULL;) {
    fs_send *next = s->next;
    grpc_byte_buffer_destroy(s->bb);
    free(s);
    s = next;
  }
  if (call->recv_bb != NULL) grpc_byte_buffer_destroy(call->recv_bb);
  md_release(&call->headers);
  md_release(&call->trailers);
  flight_descriptor_release(&call->first_desc);
  grpc_metadata_array_destroy(&call->req_md);
  grpc_call_details_destroy(&call->details);
  if (call->reply != NULL) grpc_byte_buffer_destroy(call->reply);
  if (call->gcall != NULL) grpc_call_unref(call->gcall);
  if (call->peer != NULL) gpr_free(call->peer);
  free(call->hooks);
  pthread_mutex_destroy(&call->mu);
  pthread_cond_destroy(&call->cv);
  free(call);
  pthread_mutex_lock(&srv->mu);
  srv->live_calls--;
  pthread_cond_broadcast(&srv->cv);
  pthread_mutex_unlock(&srv->mu);
}

static void call_ref(flight_call *call) {
  atomic_fetch_add(&call->refs, 1);
}

static void call_unref(flight_call *call) {
  if (atomic_fetch_sub(&call->refs, 1) == 1) call_free(call);
}

/* Waits on the call's condition variable (call->mu held), at most until *deadline when the
 * call has an idle timeout. When the wait times out without progress (*progress unchanged since
 * the deadline was set), the call is cancelled with DEADLINE_EXCEEDED (its pending operations
 * then complete and wake the caller). */
static void call_wait_progress(flight_call *call, struct timespec *deadline, int64_t *mark,
                               int64_t progress) {
  if (call->idle_timeout_s <= 0 || call->idle_expired) {
    pthread_cond_wait(&call->cv, &call->mu);
    return;
  }
  if (progress != *mark) { /* something moved: a new idle period starts */
    *mark = progress;
    *deadline =
        mlr_deadline_after_ms(CLOCK_REALTIME, (int64_t)(call->idle_timeout_s * 1000.0 + 0.5));
  }
  if (pthread_cond_timedwait(&call->cv, &call->mu, deadline) != ETIMEDOUT) return;
  call->idle_expired = true;
  char msg[160];
  snprintf(msg, sizeof msg,
           "the client neither sent nor read anything for %.0f s: call ended (--idle-timeout)",
           call->idle_timeout_s);
  pthread_mutex_unlock(&call->mu);
  grpc_call_cancel_with_status(call->gcall, GRPC_STATUS_DEADLINE_EXCEEDED, msg, NULL);
  pthread_mutex_lock(&call->mu);
}

static mlr_code idle_error(const flight_call *call, mlr_error *err) {
  return mlr_error_set(err, MALLARD_DEADLINE_EXCEEDED,
                       "the client neither sent nor read anything for %.0f s: call ended "
                       "(--idle-timeout)",
                       call->idle_timeout_s);
}

/* After a shutdown's grace period: how long interrupted handlers get to send their status before
 * gRPC cancels every call. */
#define FS_INTERRUPT_WAIT_S 2.0
/* After gRPC's cancel-all and the handlers' return: how long flight_server_shutdown waits for
 * gRPC to finish the calls before leaving that to flight_server_free. */
#define FS_TEARDOWN_WAIT_S 0.5

#define FS_DRAINING_MESSAGE                                                                        \
  "the server is shutting down and takes no new calls: retry on another server, or once it is "    \
  "back"

#define FS_SHUTDOWN_MESSAGE                                                                        \
  "the server is shutting down and this call did not finish within its grace period"

static mlr_code call_cancel_code(const flight_call *call, mlr_error *err) {
  if (call->shutdown_expired) return mlr_error_set(err, MALLARD_UNAVAILABLE, FS_SHUTDOWN_MESSAGE);
  gpr_timespec now = gpr_now(call->deadline.clock_type);
  if (gpr_time_cmp(now, call->deadline) >= 0)
    return mlr_error_set(err, MALLARD_DEADLINE_EXCEEDED, "deadline exceeded");
  return mlr_error_set(err, MALLARD_CANCELLED, "call cancelled by the client");
}

/* m is a Flight method, or FLIGHT_METHOD_COUNT for any other method (answered without a
 * handler: see on_unknown_method). */
static void request_call(flight_server *srv, flight_method m) {
  flight_call *call = calloc(1, sizeof *call);
  if (call == NULL) return;
  call->srv = srv;
  call->idle_timeout_s = srv->idle_timeout_s;
  call->method = m;
  atomic_init(&call->refs, 1);
  pthread_mutex_init(&call->mu, NULL);
  pthread_cond_init(&call->cv, NULL);
  grpc_metadata_array_init(&call->req_md);
  grpc_call_details_init(&call->details);
  call->t_accept = (fs_tag){TAG_ACCEPT, call};
  call->t_recv = (fs_tag){TAG_RECV, call};
  call->t_send = (fs_tag){TAG_SEND, call};
  call->t_close = (fs_tag){TAG_CLOSE, call};
  call->t_status = (fs_tag){TAG_STATUS, call};
  pthread_mutex_lock(&srv->mu);
  srv->live_calls++;
  pthread_mutex_unlock(&srv->mu);
  grpc_call_error e =
      m == FLIGHT_METHOD_COUNT
          ? grpc_server_request_call(srv->server, &call->gcall, &call->details, &call->req_md,
                                     srv->cq, srv->cq, &call->t_accept)
          : grpc_server_request_registered_call(srv->server, srv->methods[m], &call->gcall,
                                                &call->deadline, &call->req_md, NULL, srv->cq,
                                                srv->cq, &call->t_accept);
  if (e != GRPC_CALL_OK) call_unref(call);
}

/* ------------------------------------------------------------------------------------------
 * Sending
 * ---------------------------------------------------------------------------------------- */

/* Starts the next queued message; call->mu held. */
static void start_next_send_locked(flight_call *call) {
  fs_send *s = call->q_head;
  if (s == NULL || call->cur_send != NULL) return;
  call->q_head = s->next;
  if (call->q_head == NULL) call->q_tail = NULL;
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!call->initial_md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = call->headers.n;
    ops[n].data.send_initial_metadata.metadata = call->headers.items;
    n++;
    call->initial_md_sent = true;
  }
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n].data.send_message.send_message = s->bb;
  n++;
  call->cur_send = s;
  call_ref(call);
  if (grpc_call_start_batch(call->gcall, ops, n, &call->t_send, NULL) != GRPC_CALL_OK) {
    call->cur_send = NULL;
    call->send_failed = true;
    call->queued_bytes -= (int64_t)s->bytes;
    grpc_byte_buffer_destroy(s->bb);
    free(s);
    atomic_fetch_sub(&call->refs, 1); /* the handler still holds a reference */
  }
}

/* Queues bb (taken) for sending; blocks while the call's byte budget is used up. */
static mlr_code call_send(flight_call *call, grpc_byte_buffer *bb, size_t bytes, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  fs_send *s = calloc(1, sizeof *s);
  if (s == NULL) {
    grpc_byte_buffer_destroy(bb);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  s->bb = bb;
  s->bytes = bytes;
  pthread_mutex_lock(&call->mu);
  /* Backpressure: wait while the budget is spent (one message always goes, whatever its size). */
  struct timespec deadline;
  int64_t mark = -1;
  while (!call->closed && !call->send_failed && call->queued_bytes > 0 &&
         call->queued_bytes + (int64_t)bytes > call->srv->max_bytes_in_flight)
    call_wait_progress(call, &deadline, &mark, call->queued_bytes);
  if (call->closed || call->send_failed) {
    if (call->idle_expired)
      rc = idle_error(call, err);
    else if (call->closed && call->cancelled)
      rc = call_cancel_code(call, err);
    else
      rc = mlr_error_set(err, MALLARD_CANCELLED, "the client is gone (send failed)");
    pthread_mutex_unlock(&call->mu);
    grpc_byte_buffer_destroy(bb);
    free(s);
    return rc;
  }
  if (call->q_tail != NULL)
    call->q_tail->next = s;
  else
    call->q_head = s;
  call->q_tail = s;
  call->queued_bytes += (int64_t)bytes;
  start_next_send_locked(call);
  pthread_mutex_unlock(&call->mu);
  return MALLARD_OK;
}

static mlr_code call_send_copy(flight_call *call, const uint8_t *data, size_t len, mlr_error *err) {
  grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return call_send(call, bb, len, err);
}

/* Sends protobuf bytes produced by an encoder and frees them. */
static mlr_code call_send_owned(flight_call *call, uint8_t *data, size_t len, mlr_error *err) {
  grpc_slice s = grpc_slice_new(data, len, free);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return call_send(call, bb, len, err);
}

/* Waits until every queued message went out, then sends the status and waits for it. */
static void call_finish(flight_call *call, const mlr_error *status) {
  pthread_mutex_lock(&call->mu);
  struct timespec deadline;
  int64_t mark = -1;
  while (!call->closed && !call->send_failed && (call->cur_send != NULL || call->q_head != NULL))
    call_wait_progress(call, &deadline, &mark, call->queued_bytes);
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!call->initial_md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = call->headers.n;
    ops[n].data.send_initial_metadata.metadata = call->headers.items;
    n++;
    call->initial_md_sent = true;
  }
  grpc_slice details =
      grpc_slice_from_copied_string(status->code == MALLARD_OK ? "" : status->message);
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.trailing_metadata_count = call->trailers.n;
  ops[n].data.send_status_from_server.trailing_metadata = call->trailers.items;
  ops[n].data.send_status_from_server.status = (grpc_status_code)status->code;
  ops[n].data.send_status_from_server.status_details = &details;
  n++;
  call_ref(call);
  call->status_pending = true;
  if (grpc_call_start_batch(call->gcall, ops, n, &call->t_status, NULL) != GRPC_CALL_OK) {
    call->status_pending = false;
    atomic_fetch_sub(&call->refs, 1);
  }
  grpc_slice_unref(details);
  while (call->status_pending) pthread_cond_wait(&call->cv, &call->mu);
  pthread_mutex_unlock(&call->mu);
}

/* ------------------------------------------------------------------------------------------
 * Receiving
 * ---------------------------------------------------------------------------------------- */

/* Next request message as a byte buffer (*bb NULL at end of stream). */
static mlr_code call_recv(flight_call *call, grpc_byte_buffer **bb, mlr_error *err) {
  *bb = NULL;
  pthread_mutex_lock(&call->mu);
  if (call->recv_eof) {
    pthread_mutex_unlock(&call->mu);
    return MALLARD_OK;
  }
  if (call->closed) {
    mlr_code rc = call->cancelled ? call_cancel_code(call, err)
                                  : mlr_error_set(err, MALLARD_CANCELLED, "call already finished");
    pthread_mutex_unlock(&call->mu);
    return rc;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &call->recv_bb;
  call->recv_bb = NULL;
  call->recv_pending = true;
  call_ref(call);
  if (grpc_call_start_batch(call->gcall, &op, 1, &call->t_recv, NULL) != GRPC_CALL_OK) {
    call->recv_pending = false;
    atomic_fetch_sub(&call->refs, 1);
    pthread_mutex_unlock(&call->mu);
    return mlr_error_set(err, MALLARD_INTERNAL, "cannot start a receive on the call");
  }
  struct timespec deadline;
  int64_t mark = -1;
  while (call->recv_pending) call_wait_progress(call, &deadline, &mark, 0);
  mlr_code rc = MALLARD_OK;
  if (!call->recv_ok && call->idle_expired) {
    rc = idle_error(call, err);
  } else if (!call->recv_ok) {
    rc = call->closed && !call->cancelled
             ? mlr_error_set(err, MALLARD_CANCELLED, "call already finished")
             : call_cancel_code(call, err);
  } else if (call->recv_bb == NULL) {
    call->recv_eof = true;
  } else {
    *bb = call->recv_bb;
    call->recv_bb = NULL;
  }
  pthread_mutex_unlock(&call->mu);
  return rc;
}

static mlr_code call_recv_buf(flight_call *call, arrowc_buf **out, mlr_error *err) {
  *out = NULL;
  grpc_byte_buffer *bb;
  MLR_RETURN_NOT_OK(call_recv(call, &bb, err));
  if (bb == NULL) return MALLARD_OK;
  return flight_rx_take(call->srv->rx_pool, bb, out, err);
}

/* ------------------------------------------------------------------------------------------
 * Completion-queue threads
 * ---------------------------------------------------------------------------------------- */

static void *handler_thread(void *arg);

static void reject_call(flight_call *call, grpc_status_code code, const char *msg) {
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  grpc_slice details = grpc_slice_from_copied_string(msg);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[1].data.send_status_from_server.status = code;
  ops[1].data.send_status_from_server.status_details = &details;
  call->initial_md_sent = true;
  call->t_status.kind = TAG_REJECT;
  if (grpc_call_start_batch(call->gcall, ops, 2, &call->t_status, NULL) != GRPC_CALL_OK)
    call_unref(call);
  grpc_slice_unref(details);
}

static bool slice_is(grpc_slice s, const char *text) {
  size_t n = strlen(text);
  return GRPC_SLICE_LENGTH(s) == n && memcmp(GRPC_SLICE_START_PTR(s), text, n) == 0;
}

/* A call to a method that is not Flight's. The standard health check (grpc.health.v1.Health/
 * Check, as load balancers and Kubernetes probes send it, without credentials) answers SERVING,
 * or NOT_SERVING once the server is shutting down; anything else UNIMPLEMENTED at once, as gRPC
 * servers do (unanswered, the client would wait for its deadline, or forever). */
static void on_unknown_method(flight_call *call, bool shutting) {
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  grpc_status_code code = GRPC_STATUS_UNIMPLEMENTED;
  char msg[320];
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (slice_is(call->details.method, "/grpc.health.v1.Health/Check")) {
    /* HealthCheckResponse{status: SERVING (1) or NOT_SERVING (2)} */
    static const char serving[] = {0x08, 0x01}, not_serving[] = {0x08, 0x02};
    grpc_slice body = grpc_slice_from_static_buffer(shutting ? not_serving : serving, 2);
    call->reply = grpc_raw_byte_buffer_create(&body, 1);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = call->reply;
    code = GRPC_STATUS_OK;
    msg[0] = '\0';
  } else {
    int len = (int)GRPC_SLICE_LENGTH(call->details.method);
    snprintf(msg, sizeof msg,
             "method %.*s is not implemented: this is an Arrow Flight server "
             "(arrow.flight.protocol.FlightService)",
             len > 200 ? 200 : len, (const char *)GRPC_SLICE_START_PTR(call->details.method));
  }
  grpc_slice details = grpc_slice_from_copied_string(msg);
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n++].data.send_status_from_server.status_details = &details;
  call->initial_md_sent = true;
  call->t_status.kind = TAG_REJECT;
  if (grpc_call_start_batch(call->gcall, ops, n, &call->t_status, NULL) != GRPC_CALL_OK)
    call_unref(call);
  grpc_slice_unref(details);
}

static void on_accept(flight_call *call, bool ok) {
  flight_server *srv = call->srv;
  if (!ok) {
    call_unref(call);
    return;
  }
  pthread_mutex_lock(&srv->mu);
  bool shutting = srv->shutting_down;
  bool stopped = srv->grpc_stopped;
  pthread_mutex_unlock(&srv->mu);
  if (!stopped) request_call(srv, call->method);
  if (call->method == FLIGHT_METHOD_COUNT) {
    on_unknown_method(call, shutting);
    return;
  }

  call->peer = grpc_call_get_peer(call->gcall);
  /* The close op tells us about cancellation; it holds its own reference. */
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &call->cancelled_flag;
  call_ref(call);
  if (grpc_call_start_batch(call->gcall, &op, 1, &call->t_close, NULL) != GRPC_CALL_OK) {
    atomic_fetch_sub(&call->refs, 1);
    call->closed = true;
  }

  if (shutting) {
    /* During the grace period running calls finish; a new one gets a status that says to go
     * elsewhere (gRPC core, once shut down, would answer it CANCELLED with no message). */
    reject_call(call, GRPC_STATUS_UNAVAILABLE, FS_DRAINING_MESSAGE);
    return;
  }
  pthread_mutex_lock(&srv->mu);
  bool admit = srv->active_handlers < srv->max_calls;
  if (admit) srv->active_handlers++;
  pthread_mutex_unlock(&srv->mu);
  if (!admit) {
    reject_call(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                "too many concurrent calls: the server is at its limit (mallard serve "
                "--max-calls); try again shortly");
    return;
  }
  pthread_t th;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&th, &attr, handler_thread, call);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    pthread_mutex_lock(&srv->mu);
    srv->active_handlers--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    reject_call(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a handler thread");
  }
}

static void on_close(flight_call *call) {
  pthread_mutex_lock(&call->mu);
  call->closed = true;
  call->cancelled = call->cancelled_flag != 0;
  bool run = call->cancelled && !call->hooks_ran && !call->committing;
  if (run) call->hooks_ran = true;
  size_t n = call->n_hooks;
  pthread_cond_broadcast(&call->cv);
  pthread_mutex_unlock(&call->mu);
  /* Hooks are appended only while the handler runs and never removed; n is a snapshot. */
  if (run)
    for (size_t i = 0; i < n; i++) call->hooks[i].fn(call->hooks[i].arg);
}

static void on_send_done(flight_call *call, bool ok) {
  pthread_mutex_lock(&call->mu);
  fs_send *s = call->cur_send;
  call->cur_send = NULL;
  if (s != NULL) {
    call->queued_bytes -= (int64_t)s->bytes;
    grpc_byte_buffer_destroy(s->bb);
    free(s);
  }
  if (!ok) {
    call->send_failed = true;
    for (fs_send *q = call->q_head; q != NULL;) {
      fs_send *next = q->next;
      call->queued_bytes -= (int64_t)q->bytes;
      grpc_byte_buffer_destroy(q->bb);
      free(q);
      q = next;
    }
    call->q_head = call->q_tail = NULL;
  } else {
    start_next_send_locked(call);
  }
  pthread_cond_broadcast(&call->cv);
  pthread_mutex_unlock(&call->mu);
}

static void *cq_thread(void *arg) {
  flight_server *srv = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    fs_tag *tag = ev.tag;
    flight_call *call = tag->call;
    bool ok = ev.success != 0;
    switch (tag->kind) {
    case TAG_ACCEPT:
      on_accept(call, ok);
      break;
    case TAG_RECV:
      pthread_mutex_lock(&call->mu);
      call->recv_ok = ok;
      call->recv_pending = false;
      pthread_cond_broadcast(&call->cv);
      pthread_mutex_unlock(&call->mu);
      call_unref(call);
      break;
    case TAG_SEND:
      on_send_done(call, ok);
      call_unref(call);
      break;
    case TAG_CLOSE:
      on_close(call);
      call_unref(call);
      break;
    case TAG_STATUS:
      pthread_mutex_lock(&call->mu);
      call->status_pending = false;
      call->status_done = true;
      pthread_cond_broadcast(&call->cv);
      pthread_mutex_unlock(&call->mu);
      call_unref(call);
      break;
    case TAG_REJECT:
      call_unref(call);
      break;
    case TAG_SHUTDOWN:
      pthread_mutex_lock(&srv->mu);
      srv->shutdown_done = true;
      pthread_cond_broadcast(&srv->cv);
      pthread_mutex_unlock(&srv->mu);
      break;
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Handlers
 * ---------------------------------------------------------------------------------------- */

/* Reads the one request message of a unary-request RPC (caller frees *data). */
static mlr_code read_request(flight_call *call, uint8_t **data, size_t *len, mlr_error *err) {
  bool eof = false;
  MLR_RETURN_NOT_OK(flight_call_read_message(call, data, len, &eof, err));
  if (eof)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s: the request message is missing",
                         flight_method_name(call->method));
  return MALLARD_OK;
}

static mlr_code unimplemented(flight_call *call, mlr_error *err) {
  return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "%s is not implemented by this server",
                       flight_method_name(call->method));
}

static mlr_code dispatch(flight_call *call, mlr_error *err) {
  const flight_service *svc = &call->srv->service;
  void *ctx = svc->ctx;
  uint8_t *req = NULL, *out = NULL;
  size_t req_len = 0, out_len = 0;
  mlr_code rc = MALLARD_OK;
  switch (call->method) {
  case FLIGHT_HANDSHAKE:
    rc = svc->handshake ? svc->handshake(ctx, call, err) : unimplemented(call, err);
    break;
  case FLIGHT_LIST_FLIGHTS: {
    if (!svc->list_flights) return unimplemented(call, err);
    flight_bytes criteria = {0};
    rc = read_request(call, &req, &req_len, err);
    if (rc == MALLARD_OK)
      rc = flight_bytes_message_decode(req, req_len, "Criteria", &criteria, err);
    if (rc == MALLARD_OK) rc = svc->list_flights(ctx, call, &criteria, err);
    flight_bytes_release(&criteria);
    break;
  }
  case FLIGHT_GET_FLIGHT_INFO:
  case FLIGHT_POLL_FLIGHT_INFO:
  case FLIGHT_GET_SCHEMA: {
    bool have = call->method == FLIGHT_GET_FLIGHT_INFO    ? svc->get_flight_info != NULL
                : call->method == FLIGHT_POLL_FLIGHT_INFO ? svc->poll_flight_info != NULL
                                                          : svc->get_schema != NULL;
    if (!have) return unimplemented(call, err);
    flight_descriptor desc = {0};
    rc = read_request(call, &req, &req_len, err);
    if (rc == MALLARD_OK) rc = flight_descriptor_decode(req, req_len, &desc, err);
    if (rc == MALLARD_OK && call->method == FLIGHT_GET_FLIGHT_INFO) {
      flight_info info;
      memset(&info, 0, sizeof info);
      info.total_records = info.total_bytes = -1;
      rc = svc->get_flight_info(ctx, call, &desc, &info, err);
      if (rc == MALLARD_OK) rc = flight_info_encode(&info, &out, &out_len, err);
      flight_info_release(&info);
    } else if (rc == MALLARD_OK && call->method == FLIGHT_POLL_FLIGHT_INFO) {
      flight_poll_info info;
      memset(&info, 0, sizeof info);
      rc = svc->poll_flight_info(ctx, call, &desc, &info, err);
      if (rc == MALLARD_OK) rc = flight_poll_info_encode(&info, &out, &out_len, err);
      flight_poll_info_release(&info);
    } else if (rc == MALLARD_OK) {
      struct ArrowSchema schema;
      memset(&schema, 0, sizeof schema);
      rc = svc->get_schema(ctx, call, &desc, &schema, err);
      if (rc == MALLARD_OK && schema.release == NULL)
        rc = mlr_error_set(err, MALLARD_INTERNAL, "GetSchema handler returned no schema");
      if (rc == MALLARD_OK) rc = flight_schema_result_encode(&schema, &out, &out_len, err);
      if (schema.release != NULL) schema.release(&schema);
    }
    flight_descriptor_release(&desc);
    if (rc == MALLARD_OK) {
      rc = call_send_owned(call, out, out_len, err);
      out = NULL;
    }
    break;
  }
  case FLIGHT_DO_GET: {
    if (!svc->do_get) return unimplemented(call, err);
    flight_bytes ticket = {0};
    rc = read_request(call, &req, &req_len, err);
    if (rc == MALLARD_OK) rc = flight_bytes_message_decode(req, req_len, "Ticket", &ticket, err);
    if (rc == MALLARD_OK) rc = svc->do_get(ctx, call, &ticket, err);
    flight_bytes_release(&ticket);
    break;
  }
  case FLIGHT_DO_PUT:
    rc = svc->do_put ? svc->do_put(ctx, call, err) : unimplemented(call, err);
    break;
  case FLIGHT_DO_EXCHANGE:
    rc = svc->do_exchange ? svc->do_exchange(ctx, call, err) : unimplemented(call, err);
    break;
  case FLIGHT_DO_ACTION: {
    if (!svc->do_action) return unimplemented(call, err);
    flight_action action = {0};
    rc = read_request(call, &req, &req_len, err);
    if (rc == MALLARD_OK) rc = flight_action_decode(req, req_len, &action, err);
    if (rc == MALLARD_OK) rc = svc->do_action(ctx, call, &action, err);
    flight_action_release(&action);
    break;
  }
  case FLIGHT_LIST_ACTIONS:
    if (!svc->list_actions) return unimplemented(call, err);
    rc = read_request(call, &req, &req_len, err);
    if (rc == MALLARD_OK) rc = svc->list_actions(ctx, call, err);
    break;
  default:
    rc = unimplemented(call, err);
  }
  free(req);
  free(out);
  return rc;
}

static void *handler_thread(void *arg) {
  flight_call *call = arg;
  flight_server *srv = call->srv;
  mlr_error err;
  mlr_error_reset(&err);
  mlr_code rc = MALLARD_OK;
  pthread_mutex_lock(&srv->mu);
  call->h_next = srv->handling;
  if (srv->handling != NULL) srv->handling->h_prev = call;
  srv->handling = call;
  pthread_mutex_unlock(&srv->mu);
  if (srv->service.middleware != NULL) rc = srv->service.middleware(srv->service.ctx, call, &err);
  if (rc == MALLARD_OK) rc = dispatch(call, &err);
  if (rc == MALLARD_OK) {
    mlr_error_reset(&err);
  } else if (err.code != rc) {
    /* A handler returned a code without filling err: keep its code, say something. */
    mlr_error_set(&err, rc, "%s failed (%s)", flight_method_name(call->method),
                  mallard_code_name(rc));
  }
  pthread_mutex_lock(&call->mu);
  bool cut = call->shutdown_expired;
  pthread_mutex_unlock(&call->mu);
  if (cut && rc != MALLARD_OK) mlr_error_set(&err, MALLARD_UNAVAILABLE, FS_SHUTDOWN_MESSAGE);
  call_finish(call, &err);
  pthread_mutex_lock(&call->mu);
  bool committed = call->committing;
  pthread_mutex_unlock(&call->mu);
  if (srv->service.call_done != NULL) srv->service.call_done(srv->service.ctx, call, &err);
  pthread_mutex_lock(&srv->mu);
  if (call->h_prev != NULL) call->h_prev->h_next = call->h_next;
  if (call->h_next != NULL) call->h_next->h_prev = call->h_prev;
  if (srv->handling == call) srv->handling = call->h_next;
  pthread_mutex_unlock(&srv->mu);
  call_unref(call);
  pthread_mutex_lock(&srv->mu);
  srv->active_handlers--;
  if (committed) srv->committing--;
  pthread_cond_broadcast(&srv->cv);
  pthread_mutex_unlock(&srv->mu);
  return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Server
 * ---------------------------------------------------------------------------------------- */

static int clamp_int(int64_t v) {
  return v > INT32_MAX ? INT32_MAX : (int)v;
}

mlr_code flight_server_start(const flight_server_options *opts, const flight_service *service,
                             flight_server **out, mlr_error *err) {
  *out = NULL;
  if (opts == NULL || opts->n_listen <= 0 || opts->listen == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "no listen address given");
  if ((opts->tls_cert_pem == NULL) != (opts->tls_key_pem == NULL))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "TLS needs both a certificate and a private key");
  flight_server *srv = calloc(1, sizeof *srv);
  if (srv == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  mlr_code rc = MALLARD_OK;
  grpc_init();
  srv->service = *service;
  srv->max_message_size =
      opts->max_message_size > 0 ? opts->max_message_size : FS_DEFAULT_MAX_MESSAGE;
  int64_t max_md = opts->max_metadata_size > 0 ? opts->max_metadata_size : FS_DEFAULT_MAX_METADATA;
  srv->max_calls =
      opts->max_concurrent_calls > 0 ? opts->max_concurrent_calls : FS_DEFAULT_MAX_CALLS;
  srv->idle_timeout_s = opts->idle_timeout_s > 0 ? opts->idle_timeout_s : 0;
  srv->max_bytes_in_flight =
      opts->max_bytes_in_flight > 0 ? opts->max_bytes_in_flight : FS_DEFAULT_BYTES_IN_FLIGHT;
  srv->n_cq_threads = opts->cq_threads > 0 ? opts->cq_threads : FS_DEFAULT_CQ_THREADS;
  pthread_mutex_init(&srv->mu, NULL);
  pthread_cond_init(&srv->cv, NULL);
  srv->t_shutdown = (fs_tag){TAG_SHUTDOWN, NULL};
  if (opts->rx_pool_bytes > 0)
    srv->rx_pool = arrowc_pool_new(opts->rx_pool_bytes); /* NULL: plain allocations */

  grpc_arg args[8];
  memset(args, 0, sizeof args);
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = clamp_int(srv->max_message_size);
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[1].value.integer = clamp_int(srv->max_message_size);
  args[2].type = GRPC_ARG_INTEGER;
  args[2].key = GRPC_ARG_MAX_METADATA_SIZE;
  args[2].value.integer = clamp_int(max_md);
  args[3].type = GRPC_ARG_INTEGER;
  args[3].key = "grpc.absolute_max_metadata_size";
  args[3].value.integer = clamp_int(max_md);
  args[4].type = GRPC_ARG_INTEGER;
  args[4].key = GRPC_ARG_ALLOW_REUSEPORT;
  args[4].value.integer = 0;
  args[5].type = GRPC_ARG_INTEGER;
  args[5].key = GRPC_ARG_MAX_CONCURRENT_STREAMS;
  args[5].value.integer = srv->max_calls + 64;
  /* Bigger HTTP/2 windows and frames: Flight messages are megabytes, and the defaults (64 KiB
   * window growth by BDP probing, 16 KiB frames) cost round trips on a fast link. */
  args[6].type = GRPC_ARG_INTEGER;
  args[6].key = GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES;
  args[6].value.integer = 16 * 1024 * 1024;
  args[7].type = GRPC_ARG_INTEGER;
  args[7].key = GRPC_ARG_HTTP2_MAX_FRAME_SIZE;
  args[7].value.integer = 1024 * 1024;
  grpc_channel_args cargs = {.num_args = 8, .args = args};

  srv->cq = grpc_completion_queue_create_for_next(NULL);
  srv->server = grpc_server_create(&cargs, NULL);
  grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
  for (int m = 0; m < FLIGHT_METHOD_COUNT; m++) {
    char path[96];
    snprintf(path, sizeof path, "/arrow.flight.protocol.FlightService/%s", method_names[m]);
    srv->methods[m] =
        grpc_server_register_method(srv->server, path, NULL, GRPC_SRM_PAYLOAD_NONE, 0);
    if (srv->methods[m] == NULL) {
      rc = mlr_error_set(err, MALLARD_INTERNAL, "cannot register %s", path);
      goto fail;
    }
  }
  srv->ports = calloc((size_t)opts->n_listen, sizeof *srv->ports);
  if (srv->ports == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  srv->n_listen = opts->n_listen;
  for (int i = 0; i < opts->n_listen; i++) {
    grpc_server_credentials *creds;
    if (opts->tls_cert_pem != NULL) {
      grpc_ssl_pem_key_cert_pair pair = {.private_key = opts->tls_key_pem,
                                         .cert_chain = opts->tls_cert_pem};
      creds = grpc_ssl_server_credentials_create_ex(
          opts->tls_client_ca_pem, &pair, 1,
          opts->tls_client_ca_pem != NULL
              ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
              : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          NULL);
    } else {
      creds = grpc_insecure_server_credentials_create();
    }
    if (creds == NULL) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot create server credentials");
      goto fail;
    }
    int port = grpc_server_add_http2_port(srv->server, opts->listen[i], creds);
    grpc_server_credentials_release(creds);
    if (port <= 0 && opts->tls_cert_pem != NULL) {
      /* gRPC says which on stderr only: the TLS files are the likelier cause once loaded. */
      rc = mlr_error_set(err, MALLARD_UNAVAILABLE,
                         "cannot listen on %s: gRPC refused the TLS certificate and key (does the "
                         "--tls-key belong to the --tls-cert? see gRPC's lines above), or the "
                         "address is in use or not host:port",
                         opts->listen[i]);
      goto fail;
    }
    if (port <= 0) {
      rc =
          mlr_error_set(err, MALLARD_UNAVAILABLE,
                        "cannot listen on %s (address in use, or not host:port?)", opts->listen[i]);
      goto fail;
    }
    srv->ports[i] = port;
  }
  grpc_server_start(srv->server);
  srv->started = true;
  srv->cq_threads = calloc((size_t)srv->n_cq_threads, sizeof *srv->cq_threads);
  if (srv->cq_threads == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  for (int i = 0; i < srv->n_cq_threads; i++) {
    if (pthread_create(&srv->cq_threads[i], NULL, cq_thread, srv) != 0) {
      srv->n_cq_threads = i;
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot start completion-queue thread");
      goto fail;
    }
  }
  /* A few outstanding accepts per method so that bursts of new calls do not wait on us. */
  for (int k = 0; k < 4; k++)
    for (int m = 0; m <= FLIGHT_METHOD_COUNT; m++) request_call(srv, (flight_method)m);
  *out = srv;
  return MALLARD_OK;
fail:
  flight_server_shutdown(srv, 0);
  flight_server_free(srv);
  return rc;
}

int flight_server_port(const flight_server *srv, int listen_index) {
  if (srv == NULL || listen_index < 0 || listen_index >= srv->n_listen) return -1;
  return srv->ports[listen_index];
}

static void wait_until(flight_server *srv, bool (*done)(flight_server *), double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double whole = (double)(long)seconds;
  ts.tv_sec += (time_t)whole;
  ts.tv_nsec += (long)((seconds - whole) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&srv->mu);
  while (!done(srv)) {
    if (seconds < 0) {
      pthread_cond_wait(&srv->cv, &srv->mu);
    } else if (pthread_cond_timedwait(&srv->cv, &srv->mu, &ts) == ETIMEDOUT) {
      break;
    }
  }
  pthread_mutex_unlock(&srv->mu);
}

static bool is_drained(flight_server *srv) {
  return srv->shutdown_done && srv->active_handlers == 0;
}

static bool no_live_calls(flight_server *srv) {
  return srv->live_calls == 0 && srv->active_handlers == 0;
}

/* No call is running: only idle connections may remain, which gRPC core's shutdown would wait
 * for their clients to close; the cancel-all after it closes them at once. */
static bool no_handlers(flight_server *srv) {
  return srv->active_handlers == 0;
}

static bool none_committing(flight_server *srv) {
  return srv->committing == 0;
}

static bool no_live_calls_drained(flight_server *srv) {
  return is_drained(srv) && no_live_calls(srv);
}

/* The grace period is over: every call still being handled is interrupted as a cancelled
 * client would interrupt it (its cancel hooks run: DuckDB stops), and ends with UNAVAILABLE and
 * a message that says why, sent by its own handler (gRPC's cancel-all, which follows for calls
 * blocked on the network, says only "Cancelling all calls"). Returns how many it interrupted. */
static size_t interrupt_handled_calls(flight_server *srv) {
  pthread_mutex_lock(&srv->mu);
  size_t n = 0;
  for (flight_call *c = srv->handling; c != NULL; c = c->h_next) n++;
  flight_call **calls = n > 0 ? malloc(n * sizeof *calls) : NULL;
  size_t k = 0;
  for (flight_call *c = srv->handling; c != NULL && calls != NULL; c = c->h_next) {
    call_ref(c);
    calls[k++] = c;
  }
  pthread_mutex_unlock(&srv->mu);
  for (size_t i = 0; i < k; i++) {
    flight_call *call = calls[i];
    pthread_mutex_lock(&call->mu);
    /* A call committing its effect is left to finish and tell its client (see
     * flight_call_enter_commit); the wait after this gives it FS_INTERRUPT_WAIT_S. */
    bool run = !call->hooks_ran && !call->committing;
    if (!call->committing) {
      call->shutdown_expired = true;
      call->hooks_ran = true;
    }
    size_t nh = call->n_hooks;
    /* Only a handler waiting for its client's next message is answered by the transport: it
     * has written nothing. One running DuckDB sends its own status once interrupted, which
     * is OK when its statement got through all the same (an INSERT committed just then). */
    bool cut = !call->committing && call->recv_pending;
    pthread_cond_broadcast(&call->cv);
    pthread_mutex_unlock(&call->mu);
    if (run)
      for (size_t h = 0; h < nh; h++) call->hooks[h].fn(call->hooks[h].arg);
    if (cut)
      grpc_call_cancel_with_status(call->gcall, GRPC_STATUS_UNAVAILABLE, FS_SHUTDOWN_MESSAGE, NULL);
    call_unref(call);
  }
  free(calls);
  return k;
}

/* The rest of a shutdown once no handler runs: gRPC's own end of the calls it still closes, then
 * the completion queue and its threads. */
static void finish_teardown(flight_server *srv) {
  if (srv->teardown_done) return;
  srv->teardown_done = true;
  if (srv->server != NULL && srv->started && srv->n_cq_threads > 0 && srv->cq_threads != NULL) {
    wait_until(srv, is_drained, -1);
    wait_until(srv, no_live_calls, -1);
  }
  if (srv->cq != NULL) grpc_completion_queue_shutdown(srv->cq);
  if (srv->cq_threads != NULL)
    for (int i = 0; i < srv->n_cq_threads; i++) pthread_join(srv->cq_threads[i], NULL);
  if (srv->cq != NULL && (srv->cq_threads == NULL || srv->n_cq_threads == 0)) {
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    }
  }
}

void flight_server_shutdown(flight_server *srv, double grace_seconds) {
  if (srv == NULL) return;
  pthread_mutex_lock(&srv->mu);
  bool already = srv->shutdown_called;
  srv->shutdown_called = true;
  srv->shutting_down = true;
  pthread_mutex_unlock(&srv->mu);
  if (already) return;
  if (srv->server != NULL && srv->started && srv->n_cq_threads > 0 && srv->cq_threads != NULL) {
    /* The grace period: running calls finish while new ones are refused with UNAVAILABLE (the
     * listener stays open so that they get that status rather than gRPC's bare CANCELLED). */
    wait_until(srv, no_handlers, grace_seconds > 0 ? grace_seconds : 0);
    pthread_mutex_lock(&srv->mu);
    srv->grpc_stopped = true;
    pthread_mutex_unlock(&srv->mu);
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->t_shutdown);
    /* Interrupted handlers get FS_INTERRUPT_WAIT_S to send their own status; with none (only
     * idle connections are left) the cancel-all below closes the connections at once. */
    if (interrupt_handled_calls(srv) > 0) wait_until(srv, is_drained, FS_INTERRUPT_WAIT_S);
    /* A commit under way finishes and reports first, however long it takes (the cancel-all
     * would tell its client it failed; `mallard serve` bounds the whole wait). */
    wait_until(srv, none_committing, -1);
    grpc_server_cancel_all_calls(srv->server);
    /* Handlers whose sends the cancel failed return at once. gRPC's own end of the cancelled
     * calls can take seconds more (its transport closes a connection whose client stopped
     * reading on a poller's timer): that part is left to flight_server_free when it is not over
     * soon, so that the caller can close what the handlers used (the database) meanwhile. */
    wait_until(srv, no_handlers, -1);
    wait_until(srv, no_live_calls_drained, FS_TEARDOWN_WAIT_S);
    if (!no_live_calls_drained(srv)) return;
  } else if (srv->server != NULL) {
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->t_shutdown);
    grpc_server_cancel_all_calls(srv->server);
    /* No CQ thread: drain the queue here. */
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type != GRPC_OP_COMPLETE) break;
      fs_tag *tag = ev.tag;
      if (tag->kind == TAG_SHUTDOWN) break;
      if (tag->kind == TAG_ACCEPT) call_unref(tag->call);
    }
  }
  finish_teardown(srv);
}

void flight_server_free(flight_server *srv) {
  if (srv == NULL) return;
  flight_server_shutdown(srv, 0);
  finish_teardown(srv);
  if (srv->server != NULL) grpc_server_destroy(srv->server);
  if (srv->cq != NULL) grpc_completion_queue_destroy(srv->cq);
  free(srv->cq_threads);
  free(srv->ports);
  arrowc_pool_unref(srv->rx_pool);
  pthread_mutex_destroy(&srv->mu);
  pthread_cond_destroy(&srv->cv);
  free(srv);
  grpc_shutdown();
}

/* ------------------------------------------------------------------------------------------
 * Call API
 * ---------------------------------------------------------------------------------------- */

flight_method flight_call_method(const flight_call *call) {
  return call->method;
}

const char *flight_call_peer(const flight_call *call) {
  return call->peer != NULL ? call->peer : "";
}

static bool slice_eq_str(grpc_slice s, const char *str) {
  size_t n = strlen(str);
  return GRPC_SLICE_LENGTH(s) == n && memcmp(GRPC_SLICE_START_PTR(s), str, n) == 0;
}

int flight_call_header(const flight_call *call, const char *name, const char **value, size_t *len) {
  int count = 0;
  *value = NULL;
  *len = 0;
  for (size_t i = 0; i < call->req_md.count; i++) {
    const grpc_metadata *md = &call->req_md.metadata[i];
    if (!slice_eq_str(md->key, name)) continue;
    if (count == 0) {
      *value = (const char *)GRPC_SLICE_START_PTR(md->value);
      *len = GRPC_SLICE_LENGTH(md->value);
    }
    count++;
  }
  return count;
}

size_t flight_call_header_count(const flight_call *call) {
  return call->req_md.count;
}

void flight_call_header_at(const flight_call *call, size_t i, const char **name, size_t *name_len,
                           const char **value, size_t *value_len) {
  const grpc_metadata *md = &call->req_md.metadata[i];
  *name = (const char *)GRPC_SLICE_START_PTR(md->key);
  *name_len = GRPC_SLICE_LENGTH(md->key);
  *value = (const char *)GRPC_SLICE_START_PTR(md->value);
  *value_len = GRPC_SLICE_LENGTH(md->value);
}

static mlr_code md_add(fs_md *md, const char *key, const char *value, size_t len, mlr_error *err) {
  if (md->n == md->cap) {
    size_t cap = md->cap ? md->cap * 2 : 4;
    grpc_metadata *items = realloc(md->items, cap * sizeof *items);
    if (items == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    md->items = items;
    md->cap = cap;
  }
  grpc_metadata *m = &md->items[md->n++];
  memset(m, 0, sizeof *m);
  m->key = grpc_slice_from_copied_string(key);
  m->value = grpc_slice_from_copied_buffer(value, len);
  return MALLARD_OK;
}

mlr_code flight_call_add_header(flight_call *call, const char *key, const char *value, size_t len,
                                mlr_error *err) {
  pthread_mutex_lock(&call->mu);
  mlr_code rc = call->initial_md_sent
                    ? mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                                    "response header '%s' added after the first message", key)
                    : md_add(&call->headers, key, value, len, err);
  pthread_mutex_unlock(&call->mu);
  return rc;
}

mlr_code flight_call_add_trailer(flight_call *call, const char *key, const char *value, size_t len,
                                 mlr_error *err) {
  pthread_mutex_lock(&call->mu);
  mlr_code rc = md_add(&call->trailers, key, value, len, err);
  pthread_mutex_unlock(&call->mu);
  return rc;
}

void flight_call_set_idle_timeout(flight_call *call, double seconds) {
  pthread_mutex_lock(&call->mu);
  call->idle_timeout_s = seconds > 0 ? seconds : 0;
  pthread_mutex_unlock(&call->mu);
}

void flight_call_set_user_data(flight_call *call, void *data) {
  call->user_data = data;
}

void *flight_call_user_data(const flight_call *call) {
  return call->user_data;
}

bool flight_call_is_cancelled(const flight_call *call) {
  flight_call *c = (flight_call *)call;
  pthread_mutex_lock(&c->mu);
  bool r = c->closed && c->cancelled;
  pthread_mutex_unlock(&c->mu);
  if (!r) r = gpr_time_cmp(gpr_now(call->deadline.clock_type), call->deadline) >= 0;
  return r;
}

bool flight_call_wait_cancelled(flight_call *call, int timeout_ms) {
  if (flight_call_is_cancelled(call)) return true;
  struct timespec ts = mlr_deadline_after_ms(CLOCK_REALTIME, timeout_ms);
  pthread_mutex_lock(&call->mu);
  while (!call->closed) {
    if (pthread_cond_timedwait(&call->cv, &call->mu, &ts) == ETIMEDOUT) break;
  }
  bool r = call->closed && call->cancelled;
  pthread_mutex_unlock(&call->mu);
  return r;
}

bool flight_call_enter_commit(flight_call *call) {
  flight_server *srv = call->srv;
  pthread_mutex_lock(&srv->mu);
  pthread_mutex_lock(&call->mu);
  bool ok = !call->hooks_ran && !call->shutdown_expired && !(call->closed && call->cancelled);
  if (ok) {
    call->committing = true;
    srv->committing++;
  }
  pthread_mutex_unlock(&call->mu);
  pthread_mutex_unlock(&srv->mu);
  return ok;
}

void flight_call_on_cancel(flight_call *call, void (*fn)(void *arg), void *arg) {
  pthread_mutex_lock(&call->mu);
  if (call->hooks_ran) {
    pthread_mutex_unlock(&call->mu);
    fn(arg);
    return;
  }
  /* on_close reads the array unlocked only after hooks_ran is set, and from then on we never
   * touch it (the branch above), so growing it here cannot race with that read. */
  if (call->n_hooks == call->cap_hooks) {
    size_t cap = call->cap_hooks ? call->cap_hooks * 2 : 4;
    fs_hook *h = realloc(call->hooks, cap * sizeof *h);
    if (h == NULL) {
      pthread_mutex_unlock(&call->mu);
      return;
    }
    call->hooks = h;
    call->cap_hooks = cap;
  }
  call->hooks[call->n_hooks++] = (fs_hook){fn, arg};
  pthread_mutex_unlock(&call->mu);
}

mlr_code flight_call_read_message(flight_call *call, uint8_t **data, size_t *len, bool *eof,
                                  mlr_error *err) {
  *data = NULL;
  *len = 0;
  *eof = false;
  grpc_byte_buffer *bb;
  MLR_RETURN_NOT_OK(call_recv(call, &bb, err));
  if (bb == NULL) {
    *eof = true;
    return MALLARD_OK;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    grpc_byte_buffer_destroy(bb);
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot decompress the received message");
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  grpc_byte_buffer_destroy(bb);
  size_t n = GRPC_SLICE_LENGTH(all);
  *data = malloc(n == 0 ? 1 : n);
  if (*data == NULL) {
    grpc_slice_unref(all);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (n > 0) memcpy(*data, GRPC_SLICE_START_PTR(all), n);
  *len = n;
  grpc_slice_unref(all);
  return MALLARD_OK;
}

mlr_code flight_call_read_data(flight_call *call, flight_data *out, bool *eof, mlr_error *err) {
  memset(out, 0, sizeof *out);
  *eof = false;
  arrowc_buf *buf;
  MLR_RETURN_NOT_OK(call_recv_buf(call, &buf, err));
  if (buf == NULL) {
    *eof = true;
    return MALLARD_OK;
  }
  mlr_code rc = flight_data_decode(buf, out, err);
  arrowc_buf_unref(buf);
  if (rc != MALLARD_OK) return rc;
  if (!call->read_any) {
    call->read_any = true;
    if (out->has_descriptor) {
      rc = flight_descriptor_copy(&call->first_desc, &out->descriptor, err);
      if (rc != MALLARD_OK) {
        flight_data_release(out);
        return rc;
      }
      call->has_first_desc = true;
    }
  }
  return MALLARD_OK;
}

const flight_descriptor *flight_call_descriptor(const flight_call *call) {
  return call->has_first_desc ? &call->first_desc : NULL;
}

/* Keeps an ipc_message alive until gRPC drops the last slice that views its body. */
typedef struct fs_msg_holder {
  atomic_int refs;
  ipc_message msg;
} fs_msg_holder;

static void holder_unref(void *p) {
  fs_msg_holder *h = p;
  if (atomic_fetch_sub(&h->refs, 1) == 1) {
    ipc_message_release(&h->msg);
    free(h);
  }
}

mlr_code flight_call_write_ipc(flight_call *call, ipc_message *msg, const uint8_t *app_metadata,
                               size_t app_metadata_len, mlr_error *err) {
  ipc_message empty;
  memset(&empty, 0, sizeof empty);
  if (msg == NULL) msg = &empty;
  uint8_t *prefix = NULL;
  size_t prefix_len = 0;
  grpc_slice *slices = NULL;
  fs_msg_holder *holder = NULL;
  mlr_code rc =
      flight_data_encode_prefix(NULL, msg->metadata, (size_t)msg->metadata_size, app_metadata,
                                app_metadata_len, msg->body_size, &prefix, &prefix_len, err);
  if (rc != MALLARD_OK) goto fail;
  if ((int64_t)prefix_len + msg->body_size > call->srv->max_message_size) {
    rc = mlr_error_set(
        err, MALLARD_RESOURCE_EXHAUSTED,
        "a FlightData message of %lld bytes exceeds the server's maximum message "
        "size (%lld bytes): raise it (mallard serve --max-message-size) or send smaller batches",
        (long long)((int64_t)prefix_len + msg->body_size), (long long)call->srv->max_message_size);
    goto fail;
  }
  slices = calloc((size_t)msg->n_segments + 1, sizeof *slices);
  holder = malloc(sizeof *holder);
  if (slices == NULL || holder == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  size_t total = prefix_len + (size_t)msg->body_size;
  holder->msg = *msg;
  memset(msg, 0, sizeof *msg);
  size_t n = 0;
  slices[n++] = grpc_slice_new(prefix, prefix_len, free);
  prefix = NULL;
  int n_views = 0;
  for (int64_t i = 0; i < holder->msg.n_segments; i++)
    if (holder->msg.segments[i].size > 0) n_views++;
  atomic_init(&holder->refs, n_views + 1);
  for (int64_t i = 0; i < holder->msg.n_segments; i++) {
    const ipc_segment *seg = &holder->msg.segments[i];
    if (seg->size <= 0) continue;
    slices[n++] =
        grpc_slice_new_with_user_data((void *)seg->data, (size_t)seg->size, holder_unref, holder);
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n);
  for (size_t i = 0; i < n; i++) grpc_slice_unref(slices[i]);
  free(slices);
  holder_unref(holder); /* our own reference; the slices keep the message alive */
  return call_send(call, bb, total, err);
fail:
  free(prefix);
  free(slices);
  free(holder);
  if (msg != &empty) ipc_message_release(msg);
  return rc;
}

mlr_code flight_call_write_handshake(flight_call *call, uint64_t protocol_version,
                                     const uint8_t *payload, size_t len, mlr_error *err) {
  uint8_t *out;
  size_t n;
  MLR_RETURN_NOT_OK(flight_handshake_encode(protocol_version, payload, len, &out, &n, err));
  return call_send_owned(call, out, n, err);
}

mlr_code flight_call_write_flight_info(flight_call *call, const flight_info *info, mlr_error *err) {
  uint8_t *out;
  size_t n;
  MLR_RETURN_NOT_OK(flight_info_encode(info, &out, &n, err));
  return call_send_owned(call, out, n, err);
}

mlr_code flight_call_write_put_result(flight_call *call, const uint8_t *app_metadata, size_t len,
                                      mlr_error *err) {
  uint8_t *out;
  size_t n;
  MLR_RETURN_NOT_OK(flight_bytes_message_encode(app_metadata, len, &out, &n, err));
  return call_send_owned(call, out, n, err);
}

mlr_code flight_call_write_result(flight_call *call, const uint8_t *body, size_t len,
                                  mlr_error *err) {
  uint8_t *out;
  size_t n;
  MLR_RETURN_NOT_OK(flight_bytes_message_encode(body, len, &out, &n, err));
  return call_send_owned(call, out, n, err);
}

mlr_code flight_call_write_action_type(flight_call *call, const char *type, const char *description,
                                       mlr_error *err) {
  uint8_t *out;
  size_t n;
  MLR_RETURN_NOT_OK(flight_action_type_encode(type, description, &out, &n, err));
  return call_send_owned(call, out, n, err);
}

fs_arrow_state *flight_call_arrow_state(flight_call *call) {
  return &call->arrow;
}

mlr_code flight_call_write_raw(flight_call *call, const uint8_t *data, size_t len, mlr_error *err) {
  return call_send_copy(call, data, len, err);
}

static void buf_unref_cb(void *p) {
  arrowc_buf_unref(p);
}

mlr_code flight_call_write_data(flight_call *call, const flight_data *d, mlr_error *err) {
  uint8_t *prefix = NULL;
  size_t prefix_len = 0;
  int64_t body_len = d->body != NULL ? arrowc_buf_size(d->body) : 0;
  MLR_RETURN_NOT_OK(flight_data_encode_prefix(NULL, d->data_header, d->data_header_len,
                                              d->app_metadata, d->app_metadata_len, body_len,
                                              &prefix, &prefix_len, err));
  if ((int64_t)prefix_len + body_len > call->srv->max_message_size) {
    free(prefix);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "a FlightData message of %lld bytes exceeds the server's maximum "
                         "message size (%lld bytes)",
                         (long long)((int64_t)prefix_len + body_len),
                         (long long)call->srv->max_message_size);
  }
  grpc_slice slices[2];
  size_t n = 0;
  slices[n++] = grpc_slice_new(prefix, prefix_len, free);
  if (body_len > 0) {
    arrowc_buf_ref(d->body);
    slices[n++] = grpc_slice_new_with_user_data((void *)arrowc_buf_data(d->body), (size_t)body_len,
                                                buf_unref_cb, d->body);
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n);
  for (size_t i = 0; i < n; i++) grpc_slice_unref(slices[i]);
  return call_send(call, bb, prefix_len + (size_t)body_len, err);
}
