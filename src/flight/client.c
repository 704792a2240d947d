/* The Flight client's connection and control-plane RPCs (Handshake and Basic auth, ListFlights,
 * GetFlightInfo, PollFlightInfo, GetSchema, DoAction, ListActions): include/mallard/client.h. */
#include "flight/client_internal.h"

#include "Flight.pb-c.h"
#include "common/mlr_io.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METHOD(name) "/arrow.flight.protocol.FlightService/" name

/* ------------------------------------------------------------------------------------------
 * Connecting
 * ---------------------------------------------------------------------------------------- */

static mlr_code read_pem(const char *path, const char *what, char **out, mlr_error *err) {
  *out = NULL;
  if (path == NULL) return MALLARD_OK;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot read %s '%s': %s", what, path,
                         strerror(errno));
  }
  char *buf = NULL;
  int e = mlr_read_all(f, (size_t)16 << 20, &buf, NULL);
  fclose(f);
  if (e == ENOMEM)
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory reading %s", path);
  if (e == EFBIG)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s' is larger than 16 MiB", what,
                         path);
  if (e != 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot read %s '%s'", what, path);
  /* gRPC would take anything and fail at the first call with a log of its own: say it here. */
  if (strstr(buf, "-----BEGIN ") == NULL) {
    free(buf);
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "%s '%s' is not PEM (no -----BEGIN ...----- block)", what, path);
  }
  *out = buf;
  return MALLARD_OK;
}

mallard_code mallard_client_connect(const char *uri, const mallard_client_options *opts,
                                    mallard_client **out, mallard_error *err) {
  mallard_client_options defaults;
  if (opts == NULL) {
    mallard_client_options_init(&defaults);
    opts = &defaults;
  }
  *out = NULL;
  mlr_code rc = MALLARD_OK;
  char *root = NULL, *cert = NULL, *key = NULL;
  grpc_channel_credentials *creds = NULL;
  mallard_client *c = calloc(1, sizeof *c);
  if (c == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&c->lock, NULL);
  grpc_init();
  rc = client_uri_parse(uri, &c->parsed, err);
  if (rc != MALLARD_OK) goto fail;
  c->uri = strdup(uri);
  if (c->uri == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  c->default_timeout_ms = opts->default_timeout_ms;
  c->write_compression = opts->write_compression;
  if ((opts->tls_cert_chain_file == NULL) != (opts->tls_private_key_file == NULL)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "mutual TLS needs both a client certificate and its private key");
    goto fail;
  }
  if (!c->parsed.tls && (opts->tls_root_certs_file != NULL || opts->tls_cert_chain_file != NULL ||
                         opts->tls_override_hostname != NULL)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "TLS options given for '%s', which is not a grpc+tls:// URI", uri);
    goto fail;
  }
  if (c->parsed.tls) {
    rc = read_pem(opts->tls_root_certs_file, "CA certificates file", &root, err);
    if (rc == MALLARD_OK)
      rc = read_pem(opts->tls_cert_chain_file, "client certificate", &cert, err);
    if (rc == MALLARD_OK)
      rc = read_pem(opts->tls_private_key_file, "client private key", &key, err);
    if (rc != MALLARD_OK) goto fail;
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_credentials_create(root, cert != NULL ? &pair : NULL, NULL, NULL);
  } else {
    creds = grpc_insecure_credentials_create();
  }
  if (creds == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot create credentials for '%s'", uri);
    goto fail;
  }
  grpc_arg args[4];
  size_t n_args = 0;
  args[n_args].type = GRPC_ARG_INTEGER;
  args[n_args].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[n_args++].value.integer = client_effective_max_receive(opts->max_receive_message_size);
  args[n_args].type = GRPC_ARG_INTEGER;
  args[n_args].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[n_args++].value.integer = client_effective_max_send(opts->max_send_message_size);
  if (opts->tls_override_hostname != NULL) {
    args[n_args].type = GRPC_ARG_STRING;
    args[n_args].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
    args[n_args++].value.string = (char *)(uintptr_t)opts->tls_override_hostname;
  }
  grpc_channel_args chargs = {n_args, args};
  c->channel = grpc_channel_create(c->parsed.target, creds, &chargs);
  grpc_channel_credentials_release(creds);
  if (c->channel == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot create a channel to '%s'", uri);
    goto fail;
  }
  *out = c;
  goto cleanup;
fail:
  mallard_client_close(&c);
cleanup:
  free(root);
  free(cert);
  if (key != NULL) {
    /* Private key material should not linger in freed memory. */
    volatile char *p = key;
    while (*p) *p++ = 0;
  }
  free(key);
  return rc;
}

void mallard_client_close(mallard_client **client) {
  if (client == NULL || *client == NULL) return;
  mallard_client *c = *client;
  if (c->channel != NULL) grpc_channel_destroy(c->channel);
  client_uri_release(&c->parsed);
  free(c->uri);
  free(c->bearer);
  pthread_mutex_destroy(&c->lock);
  free(c);
  grpc_shutdown();
  *client = NULL;
}

const char *mallard_client_uri(const mallard_client *client) {
  return client != NULL ? client->uri : NULL;
}

mallard_code mallard_client_set_bearer_token(mallard_client *client, const char *token,
                                             mallard_error *err) {
  char *copy = NULL;
  if (token != NULL) {
    copy = strdup(token);
    if (copy == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  pthread_mutex_lock(&client->lock);
  free(client->bearer);
  client->bearer = copy;
  pthread_mutex_unlock(&client->lock);
  mlr_error_reset(err);
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Protobuf <-> plain values
 * ---------------------------------------------------------------------------------------- */

static mlr_code pack(const ProtobufCMessage *m, grpc_slice *out, mlr_error *err) {
  size_t n = protobuf_c_message_get_packed_size(m);
  *out = grpc_slice_malloc(n);
  protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(*out));
  (void)err;
  return MALLARD_OK;
}

static mlr_code bytes_copy(mallard_bytes *dst, const void *data, size_t len, mlr_error *err) {
  dst->data = malloc(len + 1);
  dst->len = 0;
  if (dst->data == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  if (len > 0) memcpy(dst->data, data, len);
  dst->data[len] = 0;
  dst->len = len;
  return MALLARD_OK;
}

/* Fills a protobuf descriptor whose fields point into `d` (no copies; d must outlive it). */
static void descriptor_to_pb(const mallard_descriptor *d,
                             Arrow__Flight__Protocol__FlightDescriptor *pb) {
  arrow__flight__protocol__flight_descriptor__init(pb);
  pb->type = (Arrow__Flight__Protocol__FlightDescriptor__DescriptorType)d->type;
  pb->cmd.data = d->cmd.data;
  pb->cmd.len = d->cmd.len;
  pb->path = d->path;
  pb->n_path = d->n_path;
}

static mlr_code descriptor_from_pb(const Arrow__Flight__Protocol__FlightDescriptor *pb,
                                   mallard_descriptor *d, mlr_error *err) {
  memset(d, 0, sizeof *d);
  if (pb == NULL) return MALLARD_OK;
  d->type = pb->type == 1 ? MALLARD_DESCRIPTOR_PATH
                          : (pb->type == 2 ? MALLARD_DESCRIPTOR_CMD : MALLARD_DESCRIPTOR_UNKNOWN);
  MLR_RETURN_NOT_OK(bytes_copy(&d->cmd, pb->cmd.data, pb->cmd.len, err));
  if (pb->n_path > 0) {
    d->path = calloc(pb->n_path, sizeof *d->path);
    if (d->path == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < pb->n_path; i++) {
      d->path[i] = strdup(pb->path[i] != NULL ? pb->path[i] : "");
      if (d->path[i] == NULL)
        return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      d->n_path = i + 1;
    }
  }
  return MALLARD_OK;
}

static void timestamp_from_pb(const Google__Protobuf__Timestamp *pb, mallard_timestamp *t) {
  memset(t, 0, sizeof *t);
  if (pb == NULL) return;
  t->set = true;
  t->seconds = pb->seconds;
  t->nanos = pb->nanos;
}

static mlr_code info_from_pb(const Arrow__Flight__Protocol__FlightInfo *pb,
                             mallard_flight_info *info, mlr_error *err) {
  memset(info, 0, sizeof *info);
  mlr_code rc = MALLARD_OK;
  info->total_records = pb->total_records;
  info->total_bytes = pb->total_bytes;
  info->ordered = pb->ordered;
  if (pb->schema.len > 0) {
    rc = ipc_schema_from_flight_bytes(pb->schema.data, (int64_t)pb->schema.len, &info->schema, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "FlightInfo.schema: ");
      goto fail;
    }
  }
  rc = descriptor_from_pb(pb->flight_descriptor, &info->descriptor, err);
  if (rc != MALLARD_OK) goto fail;
  rc = bytes_copy(&info->app_metadata, pb->app_metadata.data, pb->app_metadata.len, err);
  if (rc != MALLARD_OK) goto fail;
  if (pb->n_endpoint > 0) {
    info->endpoints = calloc(pb->n_endpoint, sizeof *info->endpoints);
    if (info->endpoints == NULL) goto oom;
  }
  for (size_t i = 0; i < pb->n_endpoint; i++) {
    const Arrow__Flight__Protocol__FlightEndpoint *pe = pb->endpoint[i];
    mallard_endpoint *e = &info->endpoints[i];
    info->n_endpoints = i + 1;
    const ProtobufCBinaryData *t = pe->ticket != NULL ? &pe->ticket->ticket : NULL;
    rc = bytes_copy(&e->ticket, t != NULL ? t->data : NULL, t != NULL ? t->len : 0, err);
    if (rc != MALLARD_OK) goto fail;
    rc = bytes_copy(&e->app_metadata, pe->app_metadata.data, pe->app_metadata.len, err);
    if (rc != MALLARD_OK) goto fail;
    timestamp_from_pb(pe->expiration_time, &e->expiration_time);
    if (pe->n_location > 0) {
      e->locations = calloc(pe->n_location, sizeof *e->locations);
      if (e->locations == NULL) goto oom;
      for (size_t j = 0; j < pe->n_location; j++) {
        const char *u =
            pe->location[j] != NULL && pe->location[j]->uri != NULL ? pe->location[j]->uri : "";
        e->locations[j] = strdup(u);
        if (e->locations[j] == NULL) goto oom;
        e->n_locations = j + 1;
      }
    }
  }
  return MALLARD_OK;
oom:
  rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
fail:
  mallard_flight_info_release(info);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * Calls with a request message and a stream of response messages
 * ---------------------------------------------------------------------------------------- */

typedef mlr_code (*response_fn)(void *ctx, const uint8_t *data, size_t len, mlr_error *err);

/* Runs a call: sends `request` (if non-NULL; then half-closes), feeds each response message to
 * on_response, and returns the final status. A local failure cancels the call. */
static mlr_code run_call(mallard_client *client, const mallard_call_options *opts,
                         const char *method, const ProtobufCMessage *request,
                         response_fn on_response, void *ctx, mlr_error *err) {
  if (client == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "client is NULL");
  client_call call;
  MLR_RETURN_NOT_OK(client_call_start(client, opts, method, &call, err));
  mlr_code rc = MALLARD_OK;
  grpc_slice s;
  pack(request, &s, err);
  rc = client_call_send(&call, &s, 1, err);
  if (rc == MALLARD_OK) rc = client_call_close_send(&call, err);
  while (rc == MALLARD_OK) {
    arrowc_buf *msg = NULL;
    rc = client_call_recv(&call, &msg, err);
    if (rc != MALLARD_OK || msg == NULL) break;
    rc = on_response(ctx, arrowc_buf_data(msg), (size_t)arrowc_buf_size(msg), err);
    arrowc_buf_unref(msg);
  }
  if (rc != MALLARD_OK) {
    client_call_cancel(&call);
    mlr_error local;
    mlr_error_reset(&local);
    client_call_finish(&call, &local);
    return rc;
  }
  return client_call_finish(&call, err);
}

/* Grows an array of `size`-byte elements by one zeroed element; returns it or NULL. */
static void *grow(void **arr, size_t *n, size_t size) {
  void *p = realloc(*arr, (*n + 1) * size);
  if (p == NULL) return NULL;
  *arr = p;
  void *e = (uint8_t *)p + *n * size;
  memset(e, 0, size);
  (*n)++;
  return e;
}

static mlr_code bad_message(mlr_error *err, const char *what) {
  return mlr_error_set(err, MALLARD_INTERNAL, "the server sent a malformed %s message", what);
}

/* ------------------------------------------------------------------------------------------
 * Handshake and Basic auth
 * ---------------------------------------------------------------------------------------- */

typedef struct handshake_ctx {
  mallard_bytes *response;
  bool got;
} handshake_ctx;

static mlr_code on_handshake(void *vctx, const uint8_t *data, size_t len, mlr_error *err) {
  handshake_ctx *ctx = vctx;
  Arrow__Flight__Protocol__HandshakeResponse *m =
      arrow__flight__protocol__handshake_response__unpack(NULL, len, data);
  if (m == NULL) return bad_message(err, "HandshakeResponse");
  mlr_code rc = MALLARD_OK;
  if (!ctx->got && ctx->response != NULL) {
    rc = bytes_copy(ctx->response, m->payload.data, m->payload.len, err);
  }
  ctx->got = true;
  arrow__flight__protocol__handshake_response__free_unpacked(m, NULL);
  return rc;
}

mallard_code mallard_client_handshake(mallard_client *client, const mallard_call_options *opts,
                                      const void *payload, size_t payload_len,
                                      mallard_bytes *response, mallard_error *err) {
  if (response != NULL) memset(response, 0, sizeof *response);
  Arrow__Flight__Protocol__HandshakeRequest req;
  arrow__flight__protocol__handshake_request__init(&req);
  req.payload.data = (uint8_t *)(uintptr_t)payload;
  req.payload.len = payload != NULL ? payload_len : 0;
  handshake_ctx ctx = {response, false};
  mlr_code rc = run_call(client, opts, METHOD("Handshake"), &req.base, on_handshake, &ctx, err);
  if (rc == MALLARD_OK && response != NULL && response->data == NULL) {
    rc = bytes_copy(response, NULL, 0, err);
  }
  if (rc != MALLARD_OK && response != NULL) mallard_bytes_release(response);
  return rc;
}

static const char *find_bearer(const mallard_metadata *md, size_t *len) {
  for (size_t i = 0; md != NULL && i < md->n_entries; i++) {
    if (strcasecmp(md->entries[i].name, "authorization") != 0) continue;
    const char *tok =
        client_auth_scheme_value(md->entries[i].value, md->entries[i].value_len, "Bearer ", len);
    if (tok != NULL && *len > 0) return tok;
  }
  return NULL;
}

mallard_code mallard_client_authenticate_basic(mallard_client *client,
                                               const mallard_call_options *opts, const char *user,
                                               const char *password, mallard_bytes *token_out,
                                               mallard_error *err) {
  if (token_out != NULL) memset(token_out, 0, sizeof *token_out);
  if (client == NULL || user == NULL || password == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "authenticate_basic needs a client, a user and a password");
  }
  mlr_code rc = MALLARD_OK;
  size_t ulen = strlen(user), plen = strlen(password);
  size_t raw_len = ulen + 1 + plen;
  uint8_t *raw = malloc(raw_len + 1);
  char *hdr = malloc(client_base64_len(raw_len) + 8);
  mallard_header *headers = NULL;
  mallard_metadata md_headers = {0}, md_trailers = {0};
  if (raw == NULL || hdr == NULL) goto oom;
  memcpy(raw, user, ulen);
  raw[ulen] = ':';
  memcpy(raw + ulen + 1, password, plen);
  memcpy(hdr, "Basic ", 6);
  client_base64_encode(raw, raw_len, hdr + 6);

  /* The caller's headers, minus any authorization header, plus ours. */
  size_t n_user = opts != NULL ? opts->n_headers : 0;
  headers = calloc(n_user + 1, sizeof *headers);
  if (headers == NULL) goto oom;
  size_t n = 0;
  for (size_t i = 0; i < n_user; i++) {
    if (opts->headers[i].name != NULL && strcasecmp(opts->headers[i].name, "authorization") == 0)
      continue;
    headers[n++] = opts->headers[i];
  }
  headers[n].name = "authorization";
  headers[n].value = hdr;
  headers[n].value_len = 0;
  n++;
  mallard_call_options o;
  memset(&o, 0, sizeof o);
  if (opts != NULL) o = *opts;
  o.headers = headers;
  o.n_headers = n;
  o.response_headers = &md_headers;
  o.response_trailers = &md_trailers;
  rc = mallard_client_handshake(client, &o, NULL, 0, NULL, err);
  if (rc != MALLARD_OK) goto cleanup;
  /* Trailers first, as Arrow C++ does; either place is accepted. */
  size_t tlen = 0;
  const char *tok = find_bearer(&md_trailers, &tlen);
  if (tok == NULL) tok = find_bearer(&md_headers, &tlen);
  if (tok == NULL) {
    rc = mlr_error_set(err, MALLARD_UNAUTHENTICATED,
                       "the server accepted the handshake but sent no 'authorization: Bearer' "
                       "header");
    goto cleanup;
  }
  char *token = malloc(tlen + 1);
  if (token == NULL) goto oom;
  memcpy(token, tok, tlen);
  token[tlen] = 0;
  rc = mallard_client_set_bearer_token(client, token, err);
  if (rc == MALLARD_OK && token_out != NULL) rc = bytes_copy(token_out, token, tlen, err);
  free(token);
  goto cleanup;
oom:
  rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
cleanup:
  if (opts != NULL) {
    /* Hand the response metadata to the caller too if they asked for it. */
    if (opts->response_headers != NULL) {
      mallard_metadata_release(opts->response_headers);
      *opts->response_headers = md_headers;
      memset(&md_headers, 0, sizeof md_headers);
    }
    if (opts->response_trailers != NULL) {
      mallard_metadata_release(opts->response_trailers);
      *opts->response_trailers = md_trailers;
      memset(&md_trailers, 0, sizeof md_trailers);
    }
  }
  mallard_metadata_release(&md_headers);
  mallard_metadata_release(&md_trailers);
  free(headers);
  if (raw != NULL) memset(raw, 0, raw_len);
  free(raw);
  free(hdr);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * ListFlights, GetFlightInfo, PollFlightInfo, GetSchema
 * ---------------------------------------------------------------------------------------- */

static mlr_code on_flight_info(void *ctx, const uint8_t *data, size_t len, mlr_error *err) {
  mallard_flight_list *list = ctx;
  Arrow__Flight__Protocol__FlightInfo *m =
      arrow__flight__protocol__flight_info__unpack(NULL, len, data);
  if (m == NULL) return bad_message(err, "FlightInfo");
  mlr_code rc = MALLARD_OK;
  mallard_flight_info *info = grow((void **)&list->infos, &list->n_infos, sizeof *info);
  if (info == NULL)
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  else
    rc = info_from_pb(m, info, err);
  arrow__flight__protocol__flight_info__free_unpacked(m, NULL);
  return rc;
}

mallard_code mallard_client_list_flights(mallard_client *client, const mallard_call_options *opts,
                                         const void *criteria, size_t criteria_len,
                                         mallard_flight_list *out, mallard_error *err) {
  memset(out, 0, sizeof *out);
  Arrow__Flight__Protocol__Criteria req;
  arrow__flight__protocol__criteria__init(&req);
  req.expression.data = (uint8_t *)(uintptr_t)criteria;
  req.expression.len = criteria != NULL ? criteria_len : 0;
  mlr_code rc = run_call(client, opts, METHOD("ListFlights"), &req.base, on_flight_info, out, err);
  if (rc != MALLARD_OK) mallard_flight_list_release(out);
  return rc;
}

static mlr_code check_descriptor(const mallard_descriptor *d, mlr_error *err) {
  if (d == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "descriptor is NULL");
  for (size_t i = 0; i < d->n_path; i++) {
    if (d->path[i] == NULL) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "descriptor path element %zu is NULL", i);
    }
  }
  return MALLARD_OK;
}

typedef struct single_ctx {
  void *out;
  bool got;
} single_ctx;

static mlr_code on_single_info(void *vctx, const uint8_t *data, size_t len, mlr_error *err) {
  single_ctx *ctx = vctx;
  if (ctx->got) return mlr_error_set(err, MALLARD_INTERNAL, "the server sent two FlightInfos");
  Arrow__Flight__Protocol__FlightInfo *m =
      arrow__flight__protocol__flight_info__unpack(NULL, len, data);
  if (m == NULL) return bad_message(err, "FlightInfo");
  mlr_code rc = info_from_pb(m, ctx->out, err);
  arrow__flight__protocol__flight_info__free_unpacked(m, NULL);
  ctx->got = rc == MALLARD_OK;
  return rc;
}

mallard_code mallard_client_get_flight_info(mallard_client *client,
                                            const mallard_call_options *opts,
                                            const mallard_descriptor *descriptor,
                                            mallard_flight_info *out, mallard_error *err) {
  memset(out, 0, sizeof *out);
  MLR_RETURN_NOT_OK(check_descriptor(descriptor, err));
  Arrow__Flight__Protocol__FlightDescriptor req;
  descriptor_to_pb(descriptor, &req);
  single_ctx ctx = {out, false};
  mlr_code rc =
      run_call(client, opts, METHOD("GetFlightInfo"), &req.base, on_single_info, &ctx, err);
  if (rc == MALLARD_OK && !ctx.got) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "the server answered GetFlightInfo with no message");
  }
  if (rc != MALLARD_OK) mallard_flight_info_release(out);
  return rc;
}

static mlr_code on_poll_info(void *vctx, const uint8_t *data, size_t len, mlr_error *err) {
  single_ctx *ctx = vctx;
  mallard_poll_info *p = ctx->out;
  if (ctx->got) return mlr_error_set(err, MALLARD_INTERNAL, "the server sent two PollInfos");
  Arrow__Flight__Protocol__PollInfo *m =
      arrow__flight__protocol__poll_info__unpack(NULL, len, data);
  if (m == NULL) return bad_message(err, "PollInfo");
  mlr_code rc = MALLARD_OK;
  if (m->info != NULL) {
    p->has_info = true;
    rc = info_from_pb(m->info, &p->info, err);
  }
  if (rc == MALLARD_OK && m->flight_descriptor != NULL) {
    p->has_descriptor = true;
    rc = descriptor_from_pb(m->flight_descriptor, &p->descriptor, err);
  }
  if (m->progress_present_case == ARROW__FLIGHT__PROTOCOL__POLL_INFO__PROGRESS_PRESENT_PROGRESS) {
    p->has_progress = true;
    p->progress = m->progress;
  }
  timestamp_from_pb(m->expiration_time, &p->expiration_time);
  arrow__flight__protocol__poll_info__free_unpacked(m, NULL);
  ctx->got = rc == MALLARD_OK;
  return rc;
}

mallard_code mallard_client_poll_flight_info(mallard_client *client,
                                             const mallard_call_options *opts,
                                             const mallard_descriptor *descriptor,
                                             mallard_poll_info *out, mallard_error *err) {
  memset(out, 0, sizeof *out);
  MLR_RETURN_NOT_OK(check_descriptor(descriptor, err));
  Arrow__Flight__Protocol__FlightDescriptor req;
  descriptor_to_pb(descriptor, &req);
  single_ctx ctx = {out, false};
  mlr_code rc =
      run_call(client, opts, METHOD("PollFlightInfo"), &req.base, on_poll_info, &ctx, err);
  if (rc == MALLARD_OK && !ctx.got) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "the server answered PollFlightInfo with no message");
  }
  if (rc != MALLARD_OK) mallard_poll_info_release(out);
  return rc;
}

static mlr_code on_schema(void *vctx, const uint8_t *data, size_t len, mlr_error *err) {
  single_ctx *ctx = vctx;
  if (ctx->got) return mlr_error_set(err, MALLARD_INTERNAL, "the server sent two SchemaResults");
  Arrow__Flight__Protocol__SchemaResult *m =
      arrow__flight__protocol__schema_result__unpack(NULL, len, data);
  if (m == NULL) return bad_message(err, "SchemaResult");
  mlr_code rc = ipc_schema_from_flight_bytes(m->schema.data, (int64_t)m->schema.len, ctx->out, err);
  if (rc != MALLARD_OK) mlr_error_prefix(err, "SchemaResult.schema: ");
  arrow__flight__protocol__schema_result__free_unpacked(m, NULL);
  ctx->got = rc == MALLARD_OK;
  return rc;
}

mallard_code mallard_client_get_schema(mallard_client *client, const mallard_call_options *opts,
                                       const mallard_descriptor *descriptor,
                                       struct ArrowSchema *out, mallard_error *err) {
  memset(out, 0, sizeof *out);
  MLR_RETURN_NOT_OK(check_descriptor(descriptor, err));
  Arrow__Flight__Protocol__FlightDescriptor req;
  descriptor_to_pb(descriptor, &req);
  single_ctx ctx = {out, false};
  mlr_code rc = run_call(client, opts, METHOD("GetSchema"), &req.base, on_schema, &ctx, err);
  if (rc == MALLARD_OK && !ctx.got) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "the server answered GetSchema with no message");
  }
  if (rc != MALLARD_OK && out->release != NULL) out->release(out);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * DoAction, ListActions
 * ---------------------------------------------------------------------------------------- */

static mlr_code on_result(void *ctx, const uint8_t *data, size_t len, mlr_error *err) {
  mallard_result_list *list = ctx;
  Arrow__Flight__Protocol__Result *m = arrow__flight__protocol__result__unpack(NULL, len, data);
  if (m == NULL) return bad_message(err, "Result");
  mlr_code rc;
  mallard_bytes *b = grow((void **)&list->results, &list->n_results, sizeof *b);
  if (b == NULL)
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  else
    rc = bytes_copy(b, m->body.data, m->body.len, err);
  arrow__flight__protocol__result__free_unpacked(m, NULL);
  return rc;
}

mallard_code mallard_client_do_action(mallard_client *client, const mallard_call_options *opts,
                                      const char *type, const void *body, size_t body_len,
                                      mallard_result_list *out, mallard_error *err) {
  memset(out, 0, sizeof *out);
  if (type == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "action type is NULL");
  Arrow__Flight__Protocol__Action req;
  arrow__flight__protocol__action__init(&req);
  req.type = (char *)(uintptr_t)type;
  req.body.data = (uint8_t *)(uintptr_t)body;
  req.body.len = body != NULL ? body_len : 0;
  mlr_code rc = run_call(client, opts, METHOD("DoAction"), &req.base, on_result, out, err);
  if (rc != MALLARD_OK) mallard_result_list_release(out);
  return rc;
}

static mlr_code on_action_type(void *ctx, const uint8_t *data, size_t len, mlr_error *err) {
  mallard_action_type_list *list = ctx;
  Arrow__Flight__Protocol__ActionType *m =
      arrow__flight__protocol__action_type__unpack(NULL, len, data);
  if (m == NULL) return bad_message(err, "ActionType");
  mlr_code rc = MALLARD_OK;
  mallard_action_type *t = grow((void **)&list->types, &list->n_types, sizeof *t);
  if (t != NULL) {
    t->type = strdup(m->type != NULL ? m->type : "");
    t->description = strdup(m->description != NULL ? m->description : "");
  }
  if (t == NULL || t->type == NULL || t->description == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  arrow__flight__protocol__action_type__free_unpacked(m, NULL);
  return rc;
}

mallard_code mallard_client_list_actions(mallard_client *client, const mallard_call_options *opts,
                                         mallard_action_type_list *out, mallard_error *err) {
  memset(out, 0, sizeof *out);
  Arrow__Flight__Protocol__Empty req;
  arrow__flight__protocol__empty__init(&req);
  mlr_code rc = run_call(client, opts, METHOD("ListActions"), &req.base, on_action_type, out, err);
  if (rc != MALLARD_OK) mallard_action_type_list_release(out);
  return rc;
}
