/* mallard-flight-integration: Arrow's cross-language Flight integration server scenarios
 * (cpp/src/arrow/flight/integration_tests/test_integration.cc) on Mallard's transport, so that
 * Arrow's own clients (arrow-go's arrow-flight-integration-client) can check it. */
#include "arrow/arrowc_array.h"
#include "arrow/arrowc_schema.h"
#include "flight/flight_server.h"
#include "flight/flight_server_int.h"
#include "flight/flight_types_pb.h"

#include "Flight.pb-c.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUTH_USER "arrow"
#define AUTH_PASS "flight"

/* One uploaded dataset of the default scenario: the raw FlightData as received. */
typedef struct dataset {
  char *key;
  flight_data *msgs;
  size_t n_msgs;
  struct ArrowSchema schema;
  int64_t rows;
  struct dataset *next;
} dataset;

typedef struct exp_status {
  bool has_expiration;
  double expiration; /* unix seconds */
  int gets;
  bool cancelled;
} exp_status;

typedef struct scenario {
  const char *name;
  int port;
  pthread_mutex_t mu;
  dataset *data;
  exp_status statuses[3];
  int n_statuses;
} scenario;

static bool is(const scenario *s, const char *name) {
  return strcmp(s->name, name) == 0;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static mlr_code oom(mlr_error *err) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
}

/* "+s" schema with one non-null... nullable field `number` of `format` (NULL: no fields). */
static mlr_code make_schema(const char *format, struct ArrowSchema *out, mlr_error *err) {
  MLR_RETURN_NOT_OK(arrowc_schema_init(out, "+s", "", err));
  out->flags = 0;
  if (format == NULL) return MALLARD_OK;
  mlr_code rc = arrowc_schema_alloc_children(out, 1, err);
  if (rc == MALLARD_OK) rc = arrowc_schema_init(out->children[0], format, "number", err);
  if (rc != MALLARD_OK) arrowc_schema_release(out);
  return rc;
}

/* A one-column batch of 32-bit values. */
static mlr_code make_batch(const uint32_t *values, int64_t n, struct ArrowArray *out,
                           mlr_error *err) {
  MLR_RETURN_NOT_OK(arrowc_array_init(out, 1, 1, err));
  out->length = n;
  mlr_code rc = arrowc_array_init(out->children[0], 2, 0, err);
  if (rc != MALLARD_OK) {
    arrowc_array_release(out);
    return rc;
  }
  arrowc_buf *buf = arrowc_buf_alloc(n * 4);
  if (buf == NULL) {
    arrowc_array_release(out);
    return oom(err);
  }
  memcpy(arrowc_buf_mutable_data(buf), values, (size_t)n * 4);
  out->children[0]->length = n;
  arrowc_array_set_buffer(out->children[0], 1, arrowc_buf_data(buf), buf);
  return MALLARD_OK;
}

static mlr_code write_values(flight_call *call, const char *format, const uint32_t *values,
                             int64_t n, mlr_error *err) {
  struct ArrowSchema schema;
  struct ArrowArray batch;
  MLR_RETURN_NOT_OK(make_schema(format, &schema, err));
  mlr_code rc = flight_call_write_schema(call, &schema, NULL, err);
  arrowc_schema_release(&schema);
  if (rc == MALLARD_OK) rc = make_batch(values, n, &batch, err);
  if (rc == MALLARD_OK) rc = flight_call_write_batch(call, &batch, NULL, 0, err);
  return rc;
}

static mlr_code set_cmd_descriptor(flight_descriptor *dst, const flight_descriptor *src,
                                   mlr_error *err) {
  return flight_descriptor_copy(dst, src, err);
}

/* One endpoint with a ticket and optional location. */
static mlr_code add_endpoint(flight_info *info, const char *ticket, const char *location,
                             mlr_error *err) {
  flight_endpoint *eps = realloc(info->endpoints, (info->n_endpoints + 1) * sizeof *eps);
  if (eps == NULL) return oom(err);
  info->endpoints = eps;
  flight_endpoint *e = &eps[info->n_endpoints++];
  memset(e, 0, sizeof *e);
  MLR_RETURN_NOT_OK(flight_bytes_copy(&e->ticket, ticket, strlen(ticket), err));
  if (location != NULL) {
    e->locations = malloc(sizeof *e->locations);
    if (e->locations == NULL) return oom(err);
    e->locations[0] = strdup(location);
    if (e->locations[0] == NULL) return oom(err);
    e->n_locations = 1;
  }
  return MALLARD_OK;
}

static bool desc_is_cmd(const flight_descriptor *d, const char *cmd) {
  return d->type == FLIGHT_DESCRIPTOR_CMD && d->cmd.len == strlen(cmd) &&
         memcmp(d->cmd.data, cmd, d->cmd.len) == 0;
}

static void set_timestamp(flight_timestamp *t, double when) {
  t->set = true;
  t->seconds = (int64_t)when;
  t->nanos = (int32_t)((when - (double)(int64_t)when) * 1e9);
}

/* ------------------------------------------------------------------------------------------ */

static mlr_code mw(void *ctx, flight_call *call, mlr_error *err) {
  scenario *s = ctx;
  const char *v;
  size_t len;
  if (is(s, "middleware")) {
    if (flight_call_header(call, "x-middleware", &v, &len) == 0) {
      v = "";
      len = 0;
    }
    return flight_call_add_header(call, "x-middleware", v, len, err);
  }
  if (is(s, "auth:basic_proto") && flight_call_method(call) != FLIGHT_HANDSHAKE) {
    if (flight_call_header(call, "auth-token-bin", &v, &len) == 0 || len != strlen(AUTH_USER) ||
        memcmp(v, AUTH_USER, len) != 0)
      return mlr_error_set(err, MALLARD_UNAUTHENTICATED, "invalid token");
  }
  return MALLARD_OK;
}

static mlr_code h_handshake(void *ctx, flight_call *call, mlr_error *err) {
  scenario *s = ctx;
  if (!is(s, "auth:basic_proto"))
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "Handshake is not part of this scenario");
  uint8_t *data;
  size_t len;
  bool eof;
  MLR_RETURN_NOT_OK(flight_call_read_message(call, &data, &len, &eof, err));
  if (eof) return mlr_error_set(err, MALLARD_UNAUTHENTICATED, "no handshake request");
  uint64_t version;
  flight_bytes payload;
  mlr_code rc = flight_handshake_decode(data, len, &version, &payload, err);
  free(data);
  MLR_RETURN_NOT_OK(rc);
  Arrow__Flight__Protocol__BasicAuth *auth =
      arrow__flight__protocol__basic_auth__unpack(NULL, payload.len, payload.data);
  flight_bytes_release(&payload);
  if (auth == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "malformed BasicAuth");
  bool ok = auth->username != NULL && auth->password != NULL &&
            strcmp(auth->username, AUTH_USER) == 0 && strcmp(auth->password, AUTH_PASS) == 0;
  arrow__flight__protocol__basic_auth__free_unpacked(auth, NULL);
  if (!ok) return mlr_error_set(err, MALLARD_UNAUTHENTICATED, "invalid token");
  return flight_call_write_handshake(call, 0, (const uint8_t *)AUTH_USER, strlen(AUTH_USER), err);
}

static mlr_code h_get_flight_info(void *ctx, flight_call *call, const flight_descriptor *desc,
                                  flight_info *info, mlr_error *err) {
  scenario *s = ctx;
  MLR_RETURN_NOT_OK(set_cmd_descriptor(&info->descriptor, desc, err));
  info->total_records = info->total_bytes = -1;
  if (is(s, "middleware")) {
    if (!desc_is_cmd(desc, "success")) return mlr_error_set(err, MALLARD_UNKNOWN, "unknown");
    MLR_RETURN_NOT_OK(make_schema(NULL, &info->schema, err));
    return add_endpoint(info, "foo", "grpc+tcp://localhost:10010", err);
  }
  if (is(s, "ordered")) {
    MLR_RETURN_NOT_OK(make_schema("i", &info->schema, err));
    info->ordered = desc_is_cmd(desc, "ordered");
    MLR_RETURN_NOT_OK(add_endpoint(info, "1", NULL, err));
    MLR_RETURN_NOT_OK(add_endpoint(info, "2", NULL, err));
    return add_endpoint(info, "3", NULL, err);
  }
  if (strncmp(s->name, "expiration_time:", 16) == 0) {
    MLR_RETURN_NOT_OK(make_schema("I", &info->schema, err));
    static const char *const names[3] = {"No expiration time", "5 seconds", "6 seconds"};
    double t = now_seconds();
    pthread_mutex_lock(&s->mu);
    s->n_statuses = 3;
    for (int i = 0; i < 3; i++) {
      s->statuses[i] = (exp_status){.has_expiration = i > 0, .expiration = t + 4 + i};
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < 3; i++) {
      char ticket[64];
      snprintf(ticket, sizeof ticket, "%d: %s", i, names[i]);
      MLR_RETURN_NOT_OK(add_endpoint(info, ticket, NULL, err));
      if (i > 0) set_timestamp(&info->endpoints[i].expiration_time, t + 4 + i);
    }
    return MALLARD_OK;
  }
  if (is(s, "location:reuse_connection")) {
    MLR_RETURN_NOT_OK(make_schema(NULL, &info->schema, err));
    return add_endpoint(info, "reuse", "arrow-flight-reuse-connection://?", err);
  }
  if (is(s, "app_metadata_flight_info_endpoint")) {
    if (desc->type != FLIGHT_DESCRIPTOR_CMD)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "should have received CMD descriptor");
    MLR_RETURN_NOT_OK(make_schema("I", &info->schema, err));
    info->endpoints = calloc(1, sizeof *info->endpoints);
    if (info->endpoints == NULL) return oom(err);
    info->n_endpoints = 1;
    MLR_RETURN_NOT_OK(
        flight_bytes_copy(&info->endpoints[0].app_metadata, desc->cmd.data, desc->cmd.len, err));
    return flight_bytes_copy(&info->app_metadata, desc->cmd.data, desc->cmd.len, err);
  }
  /* default scenario */
  if (desc->type != FLIGHT_DESCRIPTOR_PATH || desc->n_path == 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid path");
  pthread_mutex_lock(&s->mu);
  dataset *d = s->data;
  while (d != NULL && strcmp(d->key, desc->path[0]) != 0) d = d->next;
  mlr_code rc = MALLARD_OK;
  if (d == NULL) {
    rc = mlr_error_set(err, MALLARD_NOT_FOUND, "could not find flight: %s", desc->path[0]);
  } else {
    info->total_records = d->rows;
    if (d->schema.release != NULL) rc = arrowc_schema_deep_copy(&d->schema, &info->schema, err);
  }
  pthread_mutex_unlock(&s->mu);
  MLR_RETURN_NOT_OK(rc);
  char loc[64];
  snprintf(loc, sizeof loc, "grpc+tcp://127.0.0.1:%d", s->port);
  return add_endpoint(info, desc->path[0], loc, err);
}

static mlr_code h_poll(void *ctx, flight_call *call, const flight_descriptor *desc,
                       flight_poll_info *p, mlr_error *err) {
  scenario *s = ctx;
  if (!is(s, "poll_flight_info"))
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "PollFlightInfo is not in this scenario");
  p->has_info = true;
  flight_info *info = &p->info;
  info->total_records = info->total_bytes = -1;
  MLR_RETURN_NOT_OK(make_schema("I", &info->schema, err));
  MLR_RETURN_NOT_OK(flight_descriptor_copy(&info->descriptor, desc, err));
  MLR_RETURN_NOT_OK(add_endpoint(info, "long-running query", NULL, err));
  p->has_progress = true;
  if (desc_is_cmd(desc, "poll")) {
    p->progress = 1.0;
    return MALLARD_OK;
  }
  p->progress = 0.1;
  p->has_descriptor = true;
  p->descriptor.type = FLIGHT_DESCRIPTOR_CMD;
  MLR_RETURN_NOT_OK(flight_bytes_copy(&p->descriptor.cmd, "poll", 4, err));
  set_timestamp(&p->expiration_time, now_seconds() + 10);
  return MALLARD_OK;
}

static int ticket_index(const scenario *s, const flight_bytes *t) {
  if (t->len == 0 || t->data[0] < '0' || t->data[0] > '9') return -1;
  int idx = atoi((const char *)t->data);
  return idx < s->n_statuses ? idx : -1;
}

static mlr_code h_do_get(void *ctx, flight_call *call, const flight_bytes *ticket, mlr_error *err) {
  scenario *s = ctx;
  if (is(s, "ordered")) {
    uint32_t v[3] = {1, 2, 3};
    uint32_t m = ticket->len == 1 && ticket->data[0] == '2'   ? 10
                 : ticket->len == 1 && ticket->data[0] == '3' ? 100
                                                              : 1;
    for (int i = 0; i < 3; i++) v[i] *= m;
    return write_values(call, "i", v, 3, err);
  }
  if (strncmp(s->name, "expiration_time:", 16) == 0) {
    pthread_mutex_lock(&s->mu);
    int idx = ticket_index(s, ticket);
    mlr_code rc = MALLARD_OK;
    if (idx < 0) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid flight: %.*s", (int)ticket->len,
                         (const char *)ticket->data);
    } else {
      exp_status *st = &s->statuses[idx];
      if (st->cancelled)
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "Invalid flight: cancelled: %.*s",
                           (int)ticket->len, (const char *)ticket->data);
      else if (!st->has_expiration && st->gets > 0)
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "Invalid flight: can't read multiple times: %.*s", (int)ticket->len,
                           (const char *)ticket->data);
      else if (st->has_expiration && st->expiration < now_seconds())
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "Invalid flight: expired: %.*s",
                           (int)ticket->len, (const char *)ticket->data);
      else
        st->gets++;
    }
    pthread_mutex_unlock(&s->mu);
    MLR_RETURN_NOT_OK(rc);
    uint32_t v = (uint32_t)idx;
    return write_values(call, "I", &v, 1, err);
  }
  /* default scenario: replay the uploaded messages */
  pthread_mutex_lock(&s->mu);
  dataset *d = s->data;
  while (d != NULL && (strlen(d->key) != ticket->len || memcmp(d->key, ticket->data, ticket->len)))
    d = d->next;
  pthread_mutex_unlock(&s->mu);
  if (d == NULL)
    return mlr_error_set(err, MALLARD_NOT_FOUND, "could not find flight: %.*s", (int)ticket->len,
                         (const char *)ticket->data);
  /* Datasets are never removed while the server runs, so d stays valid without the lock. */
  for (size_t i = 0; i < d->n_msgs; i++)
    MLR_RETURN_NOT_OK(flight_call_write_data(call, &d->msgs[i], err));
  return MALLARD_OK;
}

static mlr_code h_do_put(void *ctx, flight_call *call, mlr_error *err) {
  scenario *s = ctx;
  dataset *d = calloc(1, sizeof *d);
  ipc_decoder *dec = NULL;
  size_t cap = 0;
  if (d == NULL) return oom(err);
  mlr_code rc = ipc_decoder_new(NULL, &dec, err);
  while (rc == MALLARD_OK) {
    flight_data fd;
    bool eof = false;
    rc = flight_call_read_data(call, &fd, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    if (d->key == NULL) {
      const flight_descriptor *desc = flight_call_descriptor(call);
      if (desc == NULL || desc->type != FLIGHT_DESCRIPTOR_PATH || desc->n_path < 1) {
        flight_data_release(&fd);
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "must specify a path");
        break;
      }
      d->key = strdup(desc->path[0]);
      if (d->key == NULL) rc = oom(err);
    }
    ipc_message_type type = IPC_MESSAGE_NONE;
    if (rc == MALLARD_OK && fd.data_header != NULL) {
      struct ArrowArray batch;
      memset(&batch, 0, sizeof batch);
      rc = ipc_decoder_decode(dec, fd.data_header, (int64_t)fd.data_header_len, fd.body, &type,
                              &batch, err);
      if (rc == MALLARD_OK && type == IPC_MESSAGE_RECORD_BATCH) d->rows += batch.length;
      if (batch.release != NULL) batch.release(&batch);
    }
    /* Like Arrow's servers: one PutResult per record batch (or metadata-only message), not
     * for the schema message a writer may also tag. */
    if (rc == MALLARD_OK && fd.app_metadata_len > 0 &&
        (type == IPC_MESSAGE_RECORD_BATCH || fd.data_header == NULL))
      rc = flight_call_write_put_result(call, fd.app_metadata, fd.app_metadata_len, err);
    if (rc == MALLARD_OK && (fd.data_header != NULL || fd.app_metadata != NULL)) {
      if (d->n_msgs == cap) {
        cap = cap ? cap * 2 : 16;
        flight_data *m = realloc(d->msgs, cap * sizeof *m);
        if (m == NULL) rc = oom(err);
        if (m != NULL) d->msgs = m;
      }
      if (rc == MALLARD_OK) {
        flight_descriptor_release(&fd.descriptor);
        fd.has_descriptor = false;
        d->msgs[d->n_msgs++] = fd;
        continue;
      }
    }
    flight_data_release(&fd);
  }
  if (rc == MALLARD_OK && ipc_decoder_has_schema(dec))
    rc = ipc_decoder_schema(dec, &d->schema, err);
  ipc_decoder_free(dec);
  if (rc == MALLARD_OK && d->key != NULL) {
    pthread_mutex_lock(&s->mu);
    d->next = s->data;
    s->data = d;
    pthread_mutex_unlock(&s->mu);
    return MALLARD_OK;
  }
  for (size_t i = 0; i < d->n_msgs; i++) flight_data_release(&d->msgs[i]);
  free(d->msgs);
  arrowc_schema_release(&d->schema);
  free(d->key);
  free(d);
  return rc;
}

static mlr_code h_do_exchange(void *ctx, flight_call *call, mlr_error *err) {
  for (;;) {
    flight_data d;
    bool eof = false;
    MLR_RETURN_NOT_OK(flight_call_read_data(call, &d, &eof, err));
    if (eof) return MALLARD_OK;
    mlr_code rc = MALLARD_OK;
    if (d.data_header != NULL || d.app_metadata != NULL) rc = flight_call_write_data(call, &d, err);
    flight_data_release(&d);
    MLR_RETURN_NOT_OK(rc);
  }
}

static mlr_code send_packed(flight_call *call, const ProtobufCMessage *m, mlr_error *err) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf == NULL) return oom(err);
  protobuf_c_message_pack(m, buf);
  mlr_code rc = flight_call_write_result(call, buf, n, err);
  free(buf);
  return rc;
}

static mlr_code h_do_action(void *ctx, flight_call *call, const flight_action *a, mlr_error *err) {
  scenario *s = ctx;
  if (is(s, "auth:basic_proto"))
    return flight_call_write_result(call, (const uint8_t *)AUTH_USER, strlen(AUTH_USER), err);
  if (strncmp(s->name, "expiration_time:", 16) != 0)
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "DoAction is not in this scenario");
  if (strcmp(a->type, "CancelFlightInfo") == 0) {
    Arrow__Flight__Protocol__CancelFlightInfoRequest *req =
        arrow__flight__protocol__cancel_flight_info_request__unpack(NULL, a->body.len,
                                                                    a->body.data);
    if (req == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unable to parse command");
    Arrow__Flight__Protocol__CancelStatus status =
        ARROW__FLIGHT__PROTOCOL__CANCEL_STATUS__CANCEL_STATUS_UNSPECIFIED;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; req->info != NULL && i < req->info->n_endpoint; i++) {
      const Arrow__Flight__Protocol__Ticket *t = req->info->endpoint[i]->ticket;
      flight_bytes tb = {t ? t->ticket.data : NULL, t ? t->ticket.len : 0};
      int idx = ticket_index(s, &tb);
      if (idx < 0 || s->statuses[idx].cancelled) {
        status = ARROW__FLIGHT__PROTOCOL__CANCEL_STATUS__CANCEL_STATUS_NOT_CANCELLABLE;
      } else {
        s->statuses[idx].cancelled = true;
        if (status == ARROW__FLIGHT__PROTOCOL__CANCEL_STATUS__CANCEL_STATUS_UNSPECIFIED)
          status = ARROW__FLIGHT__PROTOCOL__CANCEL_STATUS__CANCEL_STATUS_CANCELLED;
      }
    }
    pthread_mutex_unlock(&s->mu);
    arrow__flight__protocol__cancel_flight_info_request__free_unpacked(req, NULL);
    Arrow__Flight__Protocol__CancelFlightInfoResult res =
        ARROW__FLIGHT__PROTOCOL__CANCEL_FLIGHT_INFO_RESULT__INIT;
    res.status = status;
    return send_packed(call, &res.base, err);
  }
  if (strcmp(a->type, "RenewFlightEndpoint") == 0) {
    Arrow__Flight__Protocol__RenewFlightEndpointRequest *req =
        arrow__flight__protocol__renew_flight_endpoint_request__unpack(NULL, a->body.len,
                                                                       a->body.data);
    if (req == NULL || req->endpoint == NULL || req->endpoint->ticket == NULL) {
      if (req) arrow__flight__protocol__renew_flight_endpoint_request__free_unpacked(req, NULL);
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unable to parse command");
    }
    flight_bytes tb = {req->endpoint->ticket->ticket.data, req->endpoint->ticket->ticket.len};
    double renewed = now_seconds() + 10;
    pthread_mutex_lock(&s->mu);
    int idx = ticket_index(s, &tb);
    if (idx >= 0) {
      s->statuses[idx].has_expiration = true;
      s->statuses[idx].expiration = renewed;
    }
    pthread_mutex_unlock(&s->mu);
    if (idx < 0) {
      arrow__flight__protocol__renew_flight_endpoint_request__free_unpacked(req, NULL);
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid flight");
    }
    const char *suffix = ": renewed (+ 10 seconds)";
    size_t n = tb.len + strlen(suffix);
    uint8_t *nt = malloc(n);
    if (nt == NULL) {
      arrow__flight__protocol__renew_flight_endpoint_request__free_unpacked(req, NULL);
      return oom(err);
    }
    memcpy(nt, tb.data, tb.len);
    memcpy(nt + tb.len, suffix, strlen(suffix));
    Arrow__Flight__Protocol__FlightEndpoint ep = *req->endpoint;
    Arrow__Flight__Protocol__Ticket t = ARROW__FLIGHT__PROTOCOL__TICKET__INIT;
    t.ticket.data = nt;
    t.ticket.len = n;
    ep.ticket = &t;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = (int64_t)renewed;
    ts.nanos = (int32_t)((renewed - (double)(int64_t)renewed) * 1e9);
    ep.expiration_time = &ts;
    mlr_code rc = send_packed(call, &ep.base, err);
    free(nt);
    arrow__flight__protocol__renew_flight_endpoint_request__free_unpacked(req, NULL);
    return rc;
  }
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unsupported action: %s", a->type);
}

static mlr_code h_list_actions(void *ctx, flight_call *call, mlr_error *err) {
  scenario *s = ctx;
  if (strncmp(s->name, "expiration_time:", 16) != 0)
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "ListActions is not in this scenario");
  MLR_RETURN_NOT_OK(flight_call_write_action_type(call, "CancelFlightInfo", "", err));
  return flight_call_write_action_type(call, "RenewFlightEndpoint", "", err);
}

static const char *const known[] = {"",
                                    "auth:basic_proto",
                                    "middleware",
                                    "ordered",
                                    "expiration_time:do_get",
                                    "expiration_time:list_actions",
                                    "expiration_time:cancel_flight_info",
                                    "expiration_time:renew_flight_endpoint",
                                    "location:reuse_connection",
                                    "poll_flight_info",
                                    "app_metadata_flight_info_endpoint",
                                    "do_exchange:echo"};

int main(int argc, char **argv) {
  int port = 0;
  const char *name = "";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] == '-' && a[1] == '-') a++;
    if (strcmp(a, "-port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(a, "-scenario") == 0 && i + 1 < argc) {
      name = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [-port N] [-scenario NAME]\n", argv[0]);
      return 2;
    }
  }
  bool ok = false;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(name, known[i]) == 0) ok = true;
  if (!ok) {
    fprintf(stderr, "mallard-flight-integration: unknown scenario '%s'\n", name);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  scenario sc;
  memset(&sc, 0, sizeof sc);
  sc.name = name;
  pthread_mutex_init(&sc.mu, NULL);
  flight_service svc = {.ctx = &sc,
                        .middleware = mw,
                        .handshake = h_handshake,
                        .get_flight_info = h_get_flight_info,
                        .poll_flight_info = h_poll,
                        .do_get = h_do_get,
                        .do_put = h_do_put,
                        .do_exchange = h_do_exchange,
                        .do_action = h_do_action,
                        .list_actions = h_list_actions};
  char addr[64];
  snprintf(addr, sizeof addr, "localhost:%d", port);
  const char *listen[] = {addr};
  flight_server_options opts = {.listen = listen, .n_listen = 1};
  flight_server *srv;
  mlr_error err;
  if (flight_server_start(&opts, &svc, &srv, &err) != MALLARD_OK) {
    fprintf(stderr, "mallard-flight-integration: %s\n", err.message);
    return 1;
  }
  sc.port = flight_server_port(srv, 0);
  printf("Server listening on localhost:%d\n", sc.port);
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  flight_server_shutdown(srv, 2.0);
  flight_server_free(srv);
  while (sc.data != NULL) {
    dataset *d = sc.data;
    sc.data = d->next;
    for (size_t i = 0; i < d->n_msgs; i++) flight_data_release(&d->msgs[i]);
    free(d->msgs);
    arrowc_schema_release(&d->schema);
    free(d->key);
    free(d);
  }
  pthread_mutex_destroy(&sc.mu);
  return 0;
}
