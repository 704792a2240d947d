/* The Flight server transport on gRPC core's C API: it accepts calls for every Flight RPC,
 * runs the service's handlers, and moves FlightData and protobuf messages on and off the wire.
 * It knows nothing of DuckDB or users: a service plugs in through flight_service, and auth is
 * the `middleware` hook that runs before every handler.
 *
 * Threading: completion-queue threads only move events and never run handler code; each call's
 * handler runs on a worker thread and uses the blocking call API below (which waits on the
 * call's own events), so a slow handler never blocks the completion queue. At most
 * `max_concurrent_calls` handlers run at once; more calls are answered RESOURCE_EXHAUSTED.
 * Backpressure: flight_call_write* blocks while `max_bytes_in_flight` bytes of this call are not
 * yet handed to the transport, so a slow reader slows the producer.
 * Cancellation and deadlines: a cancelled call or passed deadline makes every blocking call
 * return CANCELLED / DEADLINE_EXCEEDED, and flight_call_on_cancel hooks run once (from a CQ
 * thread: they must be quick, e.g. duckdb_interrupt). */
#ifndef FLIGHT_SERVER_H
#define FLIGHT_SERVER_H

#include "flight/flight_types.h"

typedef struct flight_server flight_server;
typedef struct flight_call flight_call;

typedef enum flight_method {
  FLIGHT_HANDSHAKE = 0,
  FLIGHT_LIST_FLIGHTS,
  FLIGHT_GET_FLIGHT_INFO,
  FLIGHT_POLL_FLIGHT_INFO,
  FLIGHT_GET_SCHEMA,
  FLIGHT_DO_GET,
  FLIGHT_DO_PUT,
  FLIGHT_DO_EXCHANGE,
  FLIGHT_DO_ACTION,
  FLIGHT_LIST_ACTIONS,
  FLIGHT_METHOD_COUNT
} flight_method;

/* "DoGet", "Handshake", ... */
const char *flight_method_name(flight_method m);

/* The service: handler table. Every handler returns MALLARD_OK or an error code with a message
 * in err; the transport sends it as the call's gRPC status (the message unchanged). A NULL
 * handler answers UNIMPLEMENTED. Handlers may be called concurrently from several threads. */
typedef struct flight_service {
  void *ctx;
  /* Runs before every handler (including Handshake). Reads request headers, may add response
   * headers/trailers, may stash per-call state with flight_call_set_user_data. A non-OK return
   * ends the call with that status without running the handler. */
  mlr_code (*middleware)(void *ctx, flight_call *call, mlr_error *err);
  /* Runs after the handler (whatever it returned), e.g. for the per-call log line and to drop
   * what middleware stashed. `status` is what the call ends with. Optional. */
  void (*call_done)(void *ctx, flight_call *call, const mlr_error *status);

  /* Bidirectional: read HandshakeRequests with flight_call_read_message, write
   * HandshakeResponses with flight_call_write_handshake. */
  mlr_code (*handshake)(void *ctx, flight_call *call, mlr_error *err);
  /* Write zero or more FlightInfo with flight_call_write_flight_info. */
  mlr_code (*list_flights)(void *ctx, flight_call *call, const flight_bytes *criteria,
                           mlr_error *err);
  /* Fill *info (the transport releases it with flight_info_release). */
  mlr_code (*get_flight_info)(void *ctx, flight_call *call, const flight_descriptor *desc,
                              flight_info *info, mlr_error *err);
  mlr_code (*poll_flight_info)(void *ctx, flight_call *call, const flight_descriptor *desc,
                               flight_poll_info *info, mlr_error *err);
  /* Fill *schema (released by the transport). */
  mlr_code (*get_schema)(void *ctx, flight_call *call, const flight_descriptor *desc,
                         struct ArrowSchema *schema, mlr_error *err);
  /* Write the stream with flight_call_write_schema / flight_call_write_batch (or raw data). */
  mlr_code (*do_get)(void *ctx, flight_call *call, const flight_bytes *ticket, mlr_error *err);
  /* Read the stream with flight_call_read_*; write PutResults with flight_call_write_put_result.
   * The first message's descriptor is available through flight_call_descriptor. */
  mlr_code (*do_put)(void *ctx, flight_call *call, mlr_error *err);
  mlr_code (*do_exchange)(void *ctx, flight_call *call, mlr_error *err);
  /* Write zero or more Results with flight_call_write_result. */
  mlr_code (*do_action)(void *ctx, flight_call *call, const flight_action *action, mlr_error *err);
  /* Write ActionTypes with flight_call_write_action_type. */
  mlr_code (*list_actions)(void *ctx, flight_call *call, mlr_error *err);
} flight_service;

typedef struct flight_server_options {
  /* Listen addresses "host:port" (port 0 = pick one). */
  const char *const *listen;
  int n_listen;
  int64_t max_message_size;    /* receive and send limit; default 128 MiB when 0 */
  int64_t max_metadata_size;   /* request headers; default 1 MiB when 0 */
  int max_concurrent_calls;    /* default 256 when 0 */
  int64_t max_bytes_in_flight; /* per call, default 32 MiB when 0 */
  int cq_threads;              /* completion-queue threads, default 2 when 0 */
  /* A call waiting on its client (a message to arrive, or room to send because the client
   * reads nothing) for longer than this is cancelled with DEADLINE_EXCEEDED, so that a client
   * that stalls gives back its thread, call slot and buffers. 0 = wait forever. */
  double idle_timeout_s;
  /* Bytes of free receive blocks kept for reuse by the copies of messages gRPC delivered in
   * several slices (every message above 64 KiB); 0 = none, each copy is a fresh allocation.
   * Reused blocks are already faulted in, but holding them keeps glibc from raising its dynamic
   * mmap/trim thresholds, so gRPC's own read buffers may fault more: it pays off when the
   * process keeps freed memory (e.g. GLIBC_TUNABLES=glibc.malloc.trim_threshold=...), see
   * bench/RESULTS.md "Flight transport". */
  int64_t rx_pool_bytes;
  /* TLS (all NULL = plaintext). PEM contents, not paths. With tls_client_ca, clients must
   * present a certificate signed by it. */
  const char *tls_cert_pem;
  const char *tls_key_pem;
  const char *tls_client_ca_pem;
} flight_server_options;

/* Creates, binds and starts a server. On success *out is running; flight_server_port tells the
 * bound port of each listen address. The service struct is copied; service->ctx must outlive
 * the server. Ownership: caller calls flight_server_shutdown then flight_server_free. */
mlr_code flight_server_start(const flight_server_options *opts, const flight_service *service,
                             flight_server **out, mlr_error *err);
int flight_server_port(const flight_server *srv, int listen_index);

/* Stops accepting calls, waits up to grace_seconds for running calls, then cancels the rest
 * and waits for their handlers to return. When it returns no handler runs and none will start;
 * gRPC may still be closing cancelled calls (a connection whose client stopped reading can take
 * seconds): flight_server_free waits for that. Idempotent. */
void flight_server_shutdown(flight_server *srv, double grace_seconds);
/* Waits for gRPC to finish every call, stops the completion queue threads and frees. */
void flight_server_free(flight_server *srv);

/* ------------------------------------------------------------------------------------------
 * The call API, for handlers and middleware (valid only while the handler runs).
 * ---------------------------------------------------------------------------------------- */

flight_method flight_call_method(const flight_call *call);
/* Peer as gRPC reports it, e.g. "ipv4:127.0.0.1:50312". */
const char *flight_call_peer(const flight_call *call);

/* Request headers (lowercase names). Returns the number of headers named `name` and points
 * *value and *len at the first one (NULL/0 when none). Binary ("-bin") headers are already
 * base64-decoded by gRPC. */
int flight_call_header(const flight_call *call, const char *name, const char **value, size_t *len);
/* Iterates over all request headers: i in [0, flight_call_header_count). */
size_t flight_call_header_count(const flight_call *call);
void flight_call_header_at(const flight_call *call, size_t i, const char **name, size_t *name_len,
                           const char **value, size_t *value_len);

/* This call's idle timeout (see flight_server_options.idle_timeout_s), e.g. shorter for a
 * Handshake that has not authenticated yet; 0 = wait forever. */
void flight_call_set_idle_timeout(flight_call *call, double seconds);

/* Adds a response header (sent with the first response message or with the status) or trailer.
 * Copies key and value. Header must be added before the first write. */
mlr_code flight_call_add_header(flight_call *call, const char *key, const char *value, size_t len,
                                mlr_error *err);
mlr_code flight_call_add_trailer(flight_call *call, const char *key, const char *value, size_t len,
                                 mlr_error *err);

void flight_call_set_user_data(flight_call *call, void *data);
void *flight_call_user_data(const flight_call *call);

bool flight_call_is_cancelled(const flight_call *call);
/* For a handler about to make a client's upload permanent: gRPC may report a cancelled call
 * (client gone, RST_STREAM) to a pending receive as an ordinary end of stream, and learns of the
 * cancellation a moment later. Waits up to timeout_ms for that news; true if the call was
 * cancelled or its deadline passed. A call whose client half-closed normally waits the full
 * timeout (its close event comes only after the status is sent). */
bool flight_call_wait_cancelled(flight_call *call, int timeout_ms);
/* Registers fn(arg) to run once if the call is cancelled or its deadline passes. */
void flight_call_on_cancel(flight_call *call, void (*fn)(void *arg), void *arg);
/* A handler about to make its call's effect permanent (a DoPut's commit) calls this first.
 * false: the call was already cancelled or cut by a shutdown; do not commit. true: from here
 * on neither the client's cancel nor a shutdown's grace period runs the cancel hooks or cuts
 * the call, so that the commit is not interrupted halfway and its result (and status) reach
 * the client. A shutdown waits for every commit under way to return before gRPC's cancel-all
 * (a handler blocked sending to a client that does not read holds it: `mallard serve` bounds
 * that wait and exits). */
bool flight_call_enter_commit(flight_call *call);

/* Raw message I/O. read_message: the next request message's bytes (protobuf), *eof at the end.
 * The caller frees *data with free(). */
mlr_code flight_call_read_message(flight_call *call, uint8_t **data, size_t *len, bool *eof,
                                  mlr_error *err);

/* Raw FlightData I/O (DoPut/DoExchange requests, DoGet/DoExchange responses). */
mlr_code flight_call_read_data(flight_call *call, flight_data *out, bool *eof, mlr_error *err);
/* Sends one FlightData made of an IPC message (moved in; body sent zero-copy) and optional
 * app_metadata (copied). msg may be NULL to send app_metadata alone. */
mlr_code flight_call_write_ipc(flight_call *call, ipc_message *msg, const uint8_t *app_metadata,
                               size_t app_metadata_len, mlr_error *err);

/* Arrow-level stream I/O built on the above and the IPC codec. */
/* Reads until the schema message; *schema filled (caller releases). Errors if the first data
 * message is not a schema. */
mlr_code flight_call_read_schema(flight_call *call, struct ArrowSchema *schema, mlr_error *err);
/* Next record batch (dictionary batches are absorbed); *eof at end of stream. app_metadata of
 * the message (may be empty; a message with only app_metadata and no IPC data is returned with
 * batch->release == NULL) is returned in *app_metadata (caller frees with free()). */
mlr_code flight_call_read_batch(flight_call *call, struct ArrowArray *batch, uint8_t **app_metadata,
                                size_t *app_metadata_len, bool *eof, mlr_error *err);
/* The FlightDescriptor of the first DoPut/DoExchange message (NULL before any read or if none). */
const flight_descriptor *flight_call_descriptor(const flight_call *call);

/* Starts the response stream with this schema (encoder created with opts, may be NULL). */
mlr_code flight_call_write_schema(flight_call *call, const struct ArrowSchema *schema,
                                  const ipc_write_options *opts, mlr_error *err);
/* Sends one batch (moved in; zero copy) with optional app_metadata. */
mlr_code flight_call_write_batch(flight_call *call, struct ArrowArray *batch,
                                 const uint8_t *app_metadata, size_t app_metadata_len,
                                 mlr_error *err);

/* Typed writers for the streaming RPCs. */
mlr_code flight_call_write_handshake(flight_call *call, uint64_t protocol_version,
                                     const uint8_t *payload, size_t len, mlr_error *err);
mlr_code flight_call_write_flight_info(flight_call *call, const flight_info *info, mlr_error *err);
mlr_code flight_call_write_put_result(flight_call *call, const uint8_t *app_metadata, size_t len,
                                      mlr_error *err);
mlr_code flight_call_write_result(flight_call *call, const uint8_t *body, size_t len,
                                  mlr_error *err);
mlr_code flight_call_write_action_type(flight_call *call, const char *type, const char *description,
                                       mlr_error *err);

#endif /* FLIGHT_SERVER_H */
