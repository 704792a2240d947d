/* One client-side gRPC call on its own completion queue, driven by the calling thread: the
 * blocking send/receive/status primitives every Flight RPC of the client is built from. */
#include "flight/client_internal.h"
#include "flight/flight_rx.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Received messages waiting for the caller beyond this many bytes stop further receives, so a
 * caller that only writes (DoExchange) cannot make the client buffer without bound. */
#define CLIENT_RX_LIMIT ((size_t)64 * 1024 * 1024)

enum { TAG_START = 1, TAG_INITMD, TAG_STATUS, TAG_SEND, TAG_CLOSE, TAG_RECV };
#define TAG(t) ((void *)(intptr_t)(t))

static void rx_push(client_call *c, grpc_byte_buffer *buf) {
  client_rx *n = malloc(sizeof *n);
  if (n == NULL) {
    /* Losing a message silently would corrupt the stream: end the call instead. */
    grpc_byte_buffer_destroy(buf);
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "client out of memory",
                                 NULL);
    return;
  }
  n->buf = buf;
  n->next = NULL;
  c->rx_bytes += grpc_byte_buffer_length(buf);
  if (c->rx_tail != NULL)
    c->rx_tail->next = n;
  else
    c->rx_head = n;
  c->rx_tail = n;
}

static grpc_byte_buffer *rx_pop(client_call *c) {
  client_rx *n = c->rx_head;
  if (n == NULL) return NULL;
  c->rx_head = n->next;
  if (c->rx_head == NULL) c->rx_tail = NULL;
  grpc_byte_buffer *buf = n->buf;
  free(n);
  size_t len = grpc_byte_buffer_length(buf);
  c->rx_bytes = c->rx_bytes >= len ? c->rx_bytes - len : 0;
  return buf;
}

static void post_recv(client_call *c) {
  if (c->recv_pending || c->recv_eof || c->rx_bytes >= CLIENT_RX_LIMIT) return;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv_buf;
  c->recv_buf = NULL;
  if (grpc_call_start_batch(c->call, &op, 1, TAG(TAG_RECV), NULL) == GRPC_CALL_OK) {
    c->recv_pending = true;
    c->pending++;
  } else {
    c->recv_eof = true;
  }
}

/* Waits for one event of this call and records what it completed; called with c->mu held.
 * If another thread is already waiting on the completion queue, waits for it to record its
 * event instead (the caller re-checks its condition either way). */
static void handle_event(client_call *c, grpc_event ev);

static void pump(client_call *c) {
  if (c->pumping) {
    pthread_cond_wait(&c->cv, &c->mu);
    return;
  }
  c->pumping = true;
  pthread_mutex_unlock(&c->mu);
  grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  pthread_mutex_lock(&c->mu);
  c->pumping = false;
  handle_event(c, ev);
  pthread_cond_broadcast(&c->cv);
}

static void handle_event(client_call *c, grpc_event ev) {
  if (ev.type != GRPC_OP_COMPLETE) return;
  c->pending--;
  switch ((intptr_t)ev.tag) {
  case TAG_START:
    c->start_done = true;
    break;
  case TAG_INITMD:
    c->initmd_done = true;
    break;
  case TAG_STATUS:
    c->status_done = true;
    break;
  case TAG_SEND:
    c->send_pending = false;
    if (!ev.success) c->send_failed = true;
    grpc_byte_buffer_destroy(c->send_buf);
    c->send_buf = NULL;
    break;
  case TAG_CLOSE:
    c->close_pending = false;
    break;
  case TAG_RECV:
    c->recv_pending = false;
    if (ev.success && c->recv_buf != NULL) {
      c->got_message = true;
      rx_push(c, c->recv_buf);
      c->recv_buf = NULL;
      post_recv(c);
    } else {
      if (c->recv_buf != NULL) grpc_byte_buffer_destroy(c->recv_buf);
      c->recv_buf = NULL;
      c->recv_eof = true;
    }
    break;
  default:
    break;
  }
}

static void free_send_md(client_call *c) {
  for (size_t i = 0; i < c->n_send_md; i++) {
    grpc_slice_unref(c->send_md[i].key);
    grpc_slice_unref(c->send_md[i].value);
  }
  free(c->send_md);
  c->send_md = NULL;
  c->n_send_md = 0;
}

static bool has_authorization(const mallard_call_options *opts) {
  if (opts == NULL) return false;
  for (size_t i = 0; i < opts->n_headers; i++) {
    if (opts->headers[i].name != NULL && strcasecmp(opts->headers[i].name, "authorization") == 0)
      return true;
  }
  return false;
}

mlr_code client_call_start(mallard_client *client, const mallard_call_options *opts,
                           const char *method, client_call *c, mlr_error *err) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->client = client;
  c->status_details = grpc_empty_slice();
  grpc_metadata_array_init(&c->initial_md);
  grpc_metadata_array_init(&c->trailing_md);
  mlr_code rc = MALLARD_OK;
  size_t n_user = opts != NULL ? opts->n_headers : 0;
  if (opts != NULL) {
    c->out_headers = opts->response_headers;
    c->out_trailers = opts->response_trailers;
  }
  c->send_md = calloc(n_user + 1, sizeof *c->send_md);
  if (c->send_md == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < n_user; i++) {
    const mallard_header *h = &opts->headers[i];
    if (h->name == NULL || h->value == NULL) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "call option header %zu has no %s", i,
                         h->name == NULL ? "name" : "value");
      goto fail;
    }
    for (const char *p = h->name; *p; p++) {
      if (*p >= 'A' && *p <= 'Z') {
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "header name '%s' must be lowercase (gRPC metadata)", h->name);
        goto fail;
      }
    }
    size_t vlen = h->value_len != 0 ? h->value_len : strlen(h->value);
    /* gRPC would refuse the whole call with a log line; say which header is wrong instead. */
    grpc_slice k = grpc_slice_from_static_string(h->name);
    grpc_slice v = grpc_slice_from_static_buffer(h->value, vlen);
    if (!grpc_header_key_is_legal(k)) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "header name '%s' is not valid (use lowercase letters, digits, '-', "
                         "'_' and '.')",
                         h->name);
      goto fail;
    }
    if (!grpc_is_binary_header(k) && !grpc_header_nonbin_value_is_legal(v)) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "value of header '%s' is not printable ASCII (name binary headers "
                         "with a '-bin' suffix)",
                         h->name);
      goto fail;
    }
    c->send_md[c->n_send_md].key = grpc_slice_from_copied_string(h->name);
    c->send_md[c->n_send_md].value = grpc_slice_from_copied_buffer(h->value, vlen);
    c->n_send_md++;
  }
  if (!has_authorization(opts)) {
    pthread_mutex_lock(&client->lock);
    if (client->bearer != NULL) {
      size_t tlen = strlen(client->bearer);
      char *v = malloc(tlen + 8);
      if (v != NULL) {
        memcpy(v, "Bearer ", 7);
        memcpy(v + 7, client->bearer, tlen + 1);
        c->send_md[c->n_send_md].key = grpc_slice_from_static_string("authorization");
        c->send_md[c->n_send_md].value = grpc_slice_from_copied_buffer(v, tlen + 7);
        c->n_send_md++;
        free(v);
      }
    }
    pthread_mutex_unlock(&client->lock);
  }

  int64_t timeout_ms =
      opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms : client->default_timeout_ms;
  gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
  if (timeout_ms > 0) {
    deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  }
  c->cq = grpc_completion_queue_create_for_next(NULL);
  if (c->cq == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot create a completion queue");
    goto fail;
  }
  grpc_slice method_slice = grpc_slice_from_copied_string(method);
  c->call = grpc_channel_create_call(client->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                     method_slice, NULL, deadline, NULL);
  grpc_slice_unref(method_slice);
  if (c->call == NULL) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "cannot create a gRPC call for %s", method);
    goto fail;
  }

  grpc_op ops[1];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = c->n_send_md;
  ops[0].data.send_initial_metadata.metadata = c->send_md;
  if (grpc_call_start_batch(c->call, ops, 1, TAG(TAG_START), NULL) != GRPC_CALL_OK) goto batch_fail;
  c->pending++;

  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[0].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
  if (grpc_call_start_batch(c->call, ops, 1, TAG(TAG_INITMD), NULL) != GRPC_CALL_OK)
    goto batch_fail;
  c->pending++;

  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
  ops[0].data.recv_status_on_client.status = &c->status;
  ops[0].data.recv_status_on_client.status_details = &c->status_details;
  if (grpc_call_start_batch(c->call, ops, 1, TAG(TAG_STATUS), NULL) != GRPC_CALL_OK)
    goto batch_fail;
  c->pending++;

  post_recv(c);
  return MALLARD_OK;

batch_fail:
  rc = mlr_error_set(err, MALLARD_INTERNAL, "gRPC refused to start %s (bad headers?)", method);
  grpc_call_cancel(c->call, NULL);
  pthread_mutex_lock(&c->mu);
  while (c->pending > 0) pump(c);
  pthread_mutex_unlock(&c->mu);
fail:
  if (c->call != NULL) grpc_call_unref(c->call);
  c->call = NULL;
  if (c->cq != NULL) {
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(c->cq);
    c->cq = NULL;
  }
  free_send_md(c);
  grpc_metadata_array_destroy(&c->initial_md);
  grpc_metadata_array_destroy(&c->trailing_md);
  c->finished = true;
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  return rc;
}

static mlr_code status_locked(client_call *c, mlr_error *err) {
  while (!c->status_done) pump(c);
  size_t dlen = GRPC_SLICE_LENGTH(c->status_details);
  const char *d = (const char *)GRPC_SLICE_START_PTR(c->status_details);
  bool connected =
      c->got_message || c->initial_md.count > 0 ||
      grpc_channel_check_connectivity_state(c->client->channel, 0) == GRPC_CHANNEL_READY;
  return client_status_to_error(c->status, d, dlen, connected, c->client->uri, err);
}

mlr_code client_call_status(client_call *c, mlr_error *err) {
  pthread_mutex_lock(&c->mu);
  mlr_code rc = status_locked(c, err);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

static mlr_code send_locked(client_call *c, grpc_slice *slices, size_t n, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  while (c->send_pending) pump(c);
  if (c->send_failed || c->status_done || c->close_sent) {
    for (size_t i = 0; i < n; i++) grpc_slice_unref(slices[i]);
    if (c->close_sent && !c->send_failed && !c->status_done) {
      return mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                           "cannot write after done_writing on this stream");
    }
    rc = status_locked(c, err);
    if (rc == MALLARD_OK) {
      rc = mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                         "the server ended the call; nothing more can be written");
    }
    return rc;
  }
  c->send_buf = grpc_raw_byte_buffer_create(slices, n);
  /* The byte buffer took its own references. */
  for (size_t i = 0; i < n; i++) grpc_slice_unref(slices[i]);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = c->send_buf;
  if (grpc_call_start_batch(c->call, &op, 1, TAG(TAG_SEND), NULL) != GRPC_CALL_OK) {
    grpc_byte_buffer_destroy(c->send_buf);
    c->send_buf = NULL;
    return mlr_error_set(err, MALLARD_INTERNAL, "gRPC refused to send a message");
  }
  c->send_pending = true;
  c->pending++;
  return MALLARD_OK;
}

mlr_code client_call_send(client_call *c, grpc_slice *slices, size_t n, mlr_error *err) {
  pthread_mutex_lock(&c->mu);
  mlr_code rc = send_locked(c, slices, n, err);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

mlr_code client_call_send_copy(client_call *c, const void *data, size_t len, mlr_error *err) {
  grpc_slice s = grpc_slice_from_copied_buffer(data, len);
  return client_call_send(c, &s, 1, err);
}

static mlr_code close_send_locked(client_call *c, mlr_error *err) {
  if (c->close_sent) return MALLARD_OK;
  while (c->send_pending) pump(c);
  c->close_sent = true;
  if (c->status_done || c->send_failed) return MALLARD_OK; /* the status tells the rest */
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  if (grpc_call_start_batch(c->call, &op, 1, TAG(TAG_CLOSE), NULL) != GRPC_CALL_OK) {
    return mlr_error_set(err, MALLARD_INTERNAL, "gRPC refused to half-close the call");
  }
  c->close_pending = true;
  c->pending++;
  return MALLARD_OK;
}

mlr_code client_call_close_send(client_call *c, mlr_error *err) {
  pthread_mutex_lock(&c->mu);
  mlr_code rc = close_send_locked(c, err);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

mlr_code client_call_recv(client_call *c, arrowc_buf **msg, mlr_error *err) {
  *msg = NULL;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    grpc_byte_buffer *bb = rx_pop(c);
    if (bb != NULL) {
      post_recv(c); /* the queue shrank: maybe receive again */
      pthread_mutex_unlock(&c->mu);
      /* Coalescing may copy a large message: done outside the lock so the writer goes on. */
      return flight_rx_take(NULL, bb, msg, err);
    }
    if (c->recv_eof) {
      mlr_code rc = status_locked(c, err);
      pthread_mutex_unlock(&c->mu);
      return rc;
    }
    post_recv(c);
    pump(c);
  }
}

void client_call_cancel(client_call *c) {
  /* May run on another thread while the owner is blocked in pump(): the grpc_call stays valid
   * until client_call_finish, which the owner only calls after this returns. */
  __atomic_store_n(&c->cancelled_by_us, true, __ATOMIC_RELAXED);
  if (c->call != NULL) grpc_call_cancel(c->call, NULL);
}

static char *dup_slice(grpc_slice s, size_t *len) {
  size_t n = GRPC_SLICE_LENGTH(s);
  char *p = malloc(n + 1);
  if (p == NULL) return NULL;
  memcpy(p, GRPC_SLICE_START_PTR(s), n);
  p[n] = 0;
  if (len != NULL) *len = n;
  return p;
}

static void copy_metadata(const grpc_metadata_array *src, mallard_metadata *dst) {
  if (dst == NULL) return;
  mallard_metadata_release(dst);
  if (src->count == 0) return;
  dst->entries = calloc(src->count, sizeof *dst->entries);
  if (dst->entries == NULL) return;
  for (size_t i = 0; i < src->count; i++) {
    mallard_metadata_entry *e = &dst->entries[dst->n_entries];
    e->name = dup_slice(src->metadata[i].key, NULL);
    e->value = dup_slice(src->metadata[i].value, &e->value_len);
    if (e->name == NULL || e->value == NULL) {
      free(e->name);
      free(e->value);
      e->name = e->value = NULL;
      continue;
    }
    dst->n_entries++;
  }
}

mlr_code client_call_finish(client_call *c, mlr_error *err) {
  if (c->finished) return MALLARD_OK;
  pthread_mutex_lock(&c->mu);
  if (!c->status_done && !c->recv_eof) {
    /* Not read to the end: the caller is abandoning the call. */
    grpc_call_cancel(c->call, NULL);
  }
  while (c->pending > 0) pump(c);
  mlr_code rc = status_locked(c, err);
  pthread_mutex_unlock(&c->mu);
  copy_metadata(&c->initial_md, c->out_headers);
  copy_metadata(&c->trailing_md, c->out_trailers);
  grpc_byte_buffer *bb;
  while ((bb = rx_pop(c)) != NULL) grpc_byte_buffer_destroy(bb);
  grpc_call_unref(c->call);
  c->call = NULL;
  grpc_completion_queue_shutdown(c->cq);
  while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(c->cq);
  c->cq = NULL;
  free_send_md(c);
  grpc_metadata_array_destroy(&c->initial_md);
  grpc_metadata_array_destroy(&c->trailing_md);
  grpc_slice_unref(c->status_details);
  c->finished = true;
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  return rc;
}
