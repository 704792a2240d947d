/* mallard-flight-test-server: a Flight server over Mallard's transport with an in-memory store
 * (DoPut by PATH stores the stream's FlightData, DoGet replays it) and an echo DoExchange; the
 * target of the transport's pyarrow integration tests and benchmark. */
#include "arrow/arrowc_schema.h"
#include "common/mlr_alloc.h"
#include "flight/flight_server.h"
#include "flight/flight_server_int.h"
#include "flight/flight_types_pb.h"

#include <grpc/support/time.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct entry {
  int refs; /* guarded by store.mu */
  char *path;
  flight_data *msgs;
  size_t n_msgs;
  struct ArrowSchema schema;
  int64_t total_records;
  int64_t total_bytes;
  struct entry *next;
} entry;

typedef struct store {
  pthread_mutex_t mu;
  entry *head;
} store;

static void entry_unref_locked(entry *e) {
  if (--e->refs > 0) return;
  for (size_t i = 0; i < e->n_msgs; i++) flight_data_release(&e->msgs[i]);
  free(e->msgs);
  if (e->schema.release != NULL) e->schema.release(&e->schema);
  free(e->path);
  free(e);
}

static void entry_unref(store *s, entry *e) {
  pthread_mutex_lock(&s->mu);
  entry_unref_locked(e);
  pthread_mutex_unlock(&s->mu);
}

static entry *store_get(store *s, const char *path, size_t len) {
  pthread_mutex_lock(&s->mu);
  entry *e = s->head;
  for (; e != NULL; e = e->next)
    if (strlen(e->path) == len && memcmp(e->path, path, len) == 0) break;
  if (e != NULL) e->refs++;
  pthread_mutex_unlock(&s->mu);
  return e;
}

/* Inserts e (replacing an entry of the same path); takes e's reference. */
static void store_put(store *s, entry *e) {
  pthread_mutex_lock(&s->mu);
  for (entry **pp = &s->head; *pp != NULL; pp = &(*pp)->next) {
    if (strcmp((*pp)->path, e->path) == 0) {
      entry *old = *pp;
      *pp = old->next;
      entry_unref_locked(old);
      break;
    }
  }
  e->next = s->head;
  s->head = e;
  pthread_mutex_unlock(&s->mu);
}

static bool store_drop(store *s, const char *path, size_t len) {
  pthread_mutex_lock(&s->mu);
  bool found = false;
  for (entry **pp = &s->head; *pp != NULL; pp = &(*pp)->next) {
    if (strlen((*pp)->path) == len && memcmp((*pp)->path, path, len) == 0) {
      entry *old = *pp;
      *pp = old->next;
      entry_unref_locked(old);
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return found;
}

static char *join_path(const flight_descriptor *d) {
  size_t n = 1;
  for (size_t i = 0; i < d->n_path; i++) n += strlen(d->path[i]) + 1;
  char *s = calloc(1, n);
  if (s == NULL) return NULL;
  for (size_t i = 0; i < d->n_path; i++) {
    if (i > 0) strcat(s, "/");
    strcat(s, d->path[i]);
  }
  return s;
}

static mlr_code need_path(const flight_descriptor *d, mlr_error *err) {
  if (d == NULL || d->type != FLIGHT_DESCRIPTOR_PATH || d->n_path == 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "this test server only knows PATH descriptors");
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------ */

static mlr_code mw(void *ctx, flight_call *call, mlr_error *err) {
  const char *v;
  size_t len;
  if (flight_call_header(call, "x-echo", &v, &len) > 0) {
    MLR_RETURN_NOT_OK(flight_call_add_header(call, "x-echo", v, len, err));
    MLR_RETURN_NOT_OK(flight_call_add_trailer(call, "x-echo-trailer", v, len, err));
  }
  return MALLARD_OK;
}

static mlr_code h_handshake(void *ctx, flight_call *call, mlr_error *err) {
  for (;;) {
    uint8_t *data;
    size_t len;
    bool eof;
    MLR_RETURN_NOT_OK(flight_call_read_message(call, &data, &len, &eof, err));
    if (eof) return MALLARD_OK;
    flight_bytes payload = {0};
    uint64_t version = 0;
    mlr_code rc = flight_handshake_decode(data, len, &version, &payload, err);
    free(data);
    if (rc == MALLARD_OK)
      rc = flight_call_write_handshake(call, version, payload.data, payload.len, err);
    flight_bytes_release(&payload);
    if (rc != MALLARD_OK) return rc;
  }
}

static mlr_code fill_info(entry *e, flight_info *info, mlr_error *err) {
  memset(info, 0, sizeof *info);
  info->total_records = e->total_records;
  info->total_bytes = e->total_bytes;
  if (e->schema.release != NULL) {
    MLR_RETURN_NOT_OK(arrowc_schema_deep_copy(&e->schema, &info->schema, err));
  }
  char *p = strdup(e->path);
  char **pp = malloc(sizeof *pp);
  info->endpoints = calloc(1, sizeof *info->endpoints);
  if (p == NULL || pp == NULL || info->endpoints == NULL) {
    free(p);
    free(pp);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  pp[0] = p;
  info->descriptor.type = FLIGHT_DESCRIPTOR_PATH;
  info->descriptor.path = pp;
  info->descriptor.n_path = 1;
  info->n_endpoints = 1;
  return flight_bytes_copy(&info->endpoints[0].ticket, e->path, strlen(e->path), err);
}

static mlr_code h_get_flight_info(void *ctx, flight_call *call, const flight_descriptor *desc,
                                  flight_info *info, mlr_error *err) {
  MLR_RETURN_NOT_OK(need_path(desc, err));
  char *path = join_path(desc);
  if (path == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  entry *e = store_get(ctx, path, strlen(path));
  mlr_code rc = e == NULL ? mlr_error_set(err, MALLARD_NOT_FOUND, "no flight at path '%s'", path)
                          : fill_info(e, info, err);
  if (e != NULL) entry_unref(ctx, e);
  free(path);
  return rc;
}

static mlr_code h_poll(void *ctx, flight_call *call, const flight_descriptor *desc,
                       flight_poll_info *p, mlr_error *err) {
  MLR_RETURN_NOT_OK(h_get_flight_info(ctx, call, desc, &p->info, err));
  p->has_info = true;
  p->has_progress = true;
  p->progress = 1.0;
  return MALLARD_OK;
}

static mlr_code h_get_schema(void *ctx, flight_call *call, const flight_descriptor *desc,
                             struct ArrowSchema *schema, mlr_error *err) {
  flight_info info;
  MLR_RETURN_NOT_OK(h_get_flight_info(ctx, call, desc, &info, err));
  *schema = info.schema;
  memset(&info.schema, 0, sizeof info.schema);
  flight_info_release(&info);
  if (schema->release == NULL)
    return mlr_error_set(err, MALLARD_NOT_FOUND, "the flight has no schema");
  return MALLARD_OK;
}

static mlr_code h_list_flights(void *ctx, flight_call *call, const flight_bytes *criteria,
                               mlr_error *err) {
  store *s = ctx;
  /* Snapshot the entries (referenced) so that no lock is held while writing. */
  pthread_mutex_lock(&s->mu);
  size_t n = 0;
  for (entry *e = s->head; e != NULL; e = e->next) n++;
  entry **list = calloc(n ? n : 1, sizeof *list);
  size_t k = 0;
  for (entry *e = s->head; e != NULL && list != NULL; e = e->next) {
    e->refs++;
    list[k++] = e;
  }
  pthread_mutex_unlock(&s->mu);
  if (list == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  mlr_code rc = MALLARD_OK;
  for (size_t i = 0; i < k; i++) {
    flight_info info;
    if (rc == MALLARD_OK) rc = fill_info(list[i], &info, err);
    if (rc == MALLARD_OK) rc = flight_call_write_flight_info(call, &info, err);
    if (rc == MALLARD_OK) flight_info_release(&info);
    entry_unref(s, list[i]);
  }
  free(list);
  return rc;
}

static mlr_code h_do_get(void *ctx, flight_call *call, const flight_bytes *ticket, mlr_error *err) {
  entry *e = store_get(ctx, (const char *)ticket->data, ticket->len);
  if (e == NULL)
    return mlr_error_set(err, MALLARD_NOT_FOUND, "no flight for ticket '%.*s'", (int)ticket->len,
                         (const char *)ticket->data);
  mlr_code rc = MALLARD_OK;
  for (size_t i = 0; i < e->n_msgs && rc == MALLARD_OK; i++)
    rc = flight_call_write_data(call, &e->msgs[i], err);
  entry_unref(ctx, e);
  return rc;
}

/* DoPut: validates every message with the IPC decoder (so bad input gets INVALID_ARGUMENT),
 * stores the raw FlightData for replay, and echoes app_metadata as PutResults. */
/* DoPut with a CMD descriptor "count": decodes through the transport's Arrow-level helpers
 * (flight_call_read_schema / flight_call_read_batch) and answers one PutResult "rows=N
 * batches=M metadata=K". */
static mlr_code count_put(flight_call *call, mlr_error *err) {
  struct ArrowSchema schema;
  MLR_RETURN_NOT_OK(flight_call_read_schema(call, &schema, err));
  schema.release(&schema);
  int64_t rows = 0, batches = 0, metas = 0;
  for (;;) {
    struct ArrowArray batch;
    uint8_t *meta = NULL;
    size_t meta_len = 0;
    bool eof = false;
    MLR_RETURN_NOT_OK(flight_call_read_batch(call, &batch, &meta, &meta_len, &eof, err));
    if (eof) break;
    if (meta_len > 0) metas++;
    free(meta);
    if (batch.release != NULL) {
      rows += batch.length;
      batches++;
      batch.release(&batch);
    }
  }
  char out[128];
  int n = snprintf(out, sizeof out, "rows=%lld batches=%lld metadata=%lld", (long long)rows,
                   (long long)batches, (long long)metas);
  return flight_call_write_put_result(call, (const uint8_t *)out, (size_t)n, err);
}

static mlr_code h_do_put(void *ctx, flight_call *call, mlr_error *err) {
  /* The descriptor arrives with the first message: peek it through the Arrow-level reader
   * only when asked for, so the raw path below still sees every message. */
  const char *v;
  size_t len;
  if (flight_call_header(call, "x-mode", &v, &len) > 0 && len == 5 && memcmp(v, "count", 5) == 0)
    return count_put(call, err);
  entry *e = calloc(1, sizeof *e);
  ipc_decoder *dec = NULL;
  mlr_code rc = MALLARD_OK;
  size_t cap = 0;
  if (e == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  e->refs = 1;
  rc = ipc_decoder_new(NULL, &dec, err);
  while (rc == MALLARD_OK) {
    flight_data d;
    bool eof = false;
    rc = flight_call_read_data(call, &d, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    if (e->path == NULL) {
      rc = need_path(flight_call_descriptor(call), err);
      if (rc == MALLARD_OK) {
        e->path = join_path(flight_call_descriptor(call));
        if (e->path == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      }
      if (rc != MALLARD_OK) {
        flight_data_release(&d);
        break;
      }
    }
    ipc_message_type type = IPC_MESSAGE_NONE;
    if (d.data_header != NULL) {
      struct ArrowArray batch;
      memset(&batch, 0, sizeof batch);
      rc = ipc_decoder_decode(dec, d.data_header, (int64_t)d.data_header_len, d.body, &type, &batch,
                              err);
      if (rc != MALLARD_OK) {
        mlr_error_prefix(err, "invalid FlightData at message %zu: ", e->n_msgs);
        flight_data_release(&d);
        break;
      }
      if (type == IPC_MESSAGE_RECORD_BATCH) e->total_records += batch.length;
      if (batch.release != NULL) batch.release(&batch);
      if (d.body != NULL) e->total_bytes += arrowc_buf_size(d.body);
    } else if (d.body != NULL) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "invalid FlightData: a body without a data_header");
      flight_data_release(&d);
      break;
    }
    if (rc == MALLARD_OK && d.app_metadata_len > 0 &&
        (type == IPC_MESSAGE_RECORD_BATCH || d.data_header == NULL))
      rc = flight_call_write_put_result(call, d.app_metadata, d.app_metadata_len, err);
    if (d.data_header == NULL && d.app_metadata == NULL) {
      flight_data_release(&d); /* descriptor-only message: nothing to replay */
      continue;
    }
    if (e->n_msgs == cap) {
      cap = cap ? cap * 2 : 16;
      flight_data *m = realloc(e->msgs, cap * sizeof *m);
      if (m == NULL) {
        flight_data_release(&d);
        rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
        break;
      }
      e->msgs = m;
    }
    /* Keep only what replay needs: the descriptor copy goes now. */
    flight_descriptor_release(&d.descriptor);
    d.has_descriptor = false;
    e->msgs[e->n_msgs++] = d;
  }
  if (rc == MALLARD_OK && e->path == NULL)
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "DoPut without any message");
  if (rc == MALLARD_OK && ipc_decoder_has_schema(dec))
    rc = ipc_decoder_schema(dec, &e->schema, err);
  ipc_decoder_free(dec);
  if (rc == MALLARD_OK) {
    store_put(ctx, e);
  } else {
    entry_unref(ctx, e);
  }
  return rc;
}

static mlr_code h_do_exchange(void *ctx, flight_call *call, mlr_error *err) {
  for (;;) {
    flight_data d;
    bool eof = false;
    MLR_RETURN_NOT_OK(flight_call_read_data(call, &d, &eof, err));
    if (eof) return MALLARD_OK;
    mlr_code rc = MALLARD_OK;
    if (d.data_header != NULL || d.app_metadata != NULL || d.body != NULL)
      rc = flight_call_write_data(call, &d, err);
    flight_data_release(&d);
    if (rc != MALLARD_OK) return rc;
  }
}

static mlr_code h_do_action(void *ctx, flight_call *call, const flight_action *a, mlr_error *err) {
  if (strcmp(a->type, "ping") == 0)
    return flight_call_write_result(call, (const uint8_t *)"pong", 4, err);
  if (strcmp(a->type, "drop") == 0) {
    if (!store_drop(ctx, (const char *)a->body.data, a->body.len))
      return mlr_error_set(err, MALLARD_NOT_FOUND, "no flight at path '%.*s'", (int)a->body.len,
                           (const char *)a->body.data);
    return flight_call_write_result(call, (const uint8_t *)"dropped", 7, err);
  }
  if (strcmp(a->type, "sleep") == 0) {
    /* Sleeps body milliseconds, or until the call is cancelled / its deadline passes. */
    long ms = a->body.len > 0 ? strtol((const char *)a->body.data, NULL, 10) : 1000;
    for (long t = 0; t < ms; t += 10) {
      if (flight_call_is_cancelled(call))
        return mlr_error_set(err, MALLARD_CANCELLED, "sleep interrupted");
      usleep(10000);
    }
    return flight_call_write_result(call, (const uint8_t *)"slept", 5, err);
  }
  if (strcmp(a->type, "error") == 0)
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION, "%.*s", (int)a->body.len,
                         (const char *)a->body.data);
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unknown action type '%s'", a->type);
}

static mlr_code h_list_actions(void *ctx, flight_call *call, mlr_error *err) {
  MLR_RETURN_NOT_OK(flight_call_write_action_type(call, "ping", "answers pong", err));
  MLR_RETURN_NOT_OK(
      flight_call_write_action_type(call, "drop", "drops the flight at path BODY", err));
  MLR_RETURN_NOT_OK(flight_call_write_action_type(call, "sleep", "sleeps BODY milliseconds", err));
  return flight_call_write_action_type(call, "error", "fails with BODY as the message", err);
}

int main(int argc, char **argv) {
  mlr_tune_allocator(); /* the same process settings as `mallard serve` */
  int port = 0;
  int64_t max_msg = 0;
  int max_calls = 0;
  int64_t rx_pool = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--max-message-size") == 0 && i + 1 < argc) {
      max_msg = strtoll(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--max-calls") == 0 && i + 1 < argc) {
      max_calls = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--rx-pool-bytes") == 0 && i + 1 < argc) {
      rx_pool = strtoll(argv[++i], NULL, 10);
    } else {
      fprintf(stderr,
              "usage: %s [--port N] [--max-message-size BYTES] [--max-calls N] "
              "[--rx-pool-bytes BYTES]\n",
              argv[0]);
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  store st;
  memset(&st, 0, sizeof st);
  pthread_mutex_init(&st.mu, NULL);
  flight_service svc = {.ctx = &st,
                        .middleware = mw,
                        .handshake = h_handshake,
                        .list_flights = h_list_flights,
                        .get_flight_info = h_get_flight_info,
                        .poll_flight_info = h_poll,
                        .get_schema = h_get_schema,
                        .do_get = h_do_get,
                        .do_put = h_do_put,
                        .do_exchange = h_do_exchange,
                        .do_action = h_do_action,
                        .list_actions = h_list_actions};
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  const char *listen[] = {addr};
  flight_server_options opts = {.listen = listen,
                                .n_listen = 1,
                                .max_message_size = max_msg,
                                .max_concurrent_calls = max_calls,
                                .rx_pool_bytes = rx_pool};
  flight_server *srv;
  mlr_error err;
  if (flight_server_start(&opts, &svc, &srv, &err) != MALLARD_OK) {
    fprintf(stderr, "mallard-flight-test-server: %s\n", err.message);
    return 1;
  }
  printf("listening grpc://127.0.0.1:%d\n", flight_server_port(srv, 0));
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  flight_server_shutdown(srv, 5.0);
  flight_server_free(srv);
  pthread_mutex_lock(&st.mu);
  while (st.head != NULL) {
    entry *e = st.head;
    st.head = e->next;
    entry_unref_locked(e);
  }
  pthread_mutex_unlock(&st.mu);
  pthread_mutex_destroy(&st.mu);
  return 0;
}
