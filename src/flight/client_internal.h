/* Internals of the Flight client (include/mallard/client.h) shared by its source files and its
 * unit tests: URI parsing, gRPC status mapping, base64, and the per-call gRPC machinery. */
#ifndef FLIGHT_CLIENT_INTERNAL_H
#define FLIGHT_CLIENT_INTERNAL_H

#include "common/mlr_error.h"
#include "flight/flight_types.h"
#include "mallard/client.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------
 * URI parsing and option handling (pure functions, unit tested)
 * ---------------------------------------------------------------------------------------- */

typedef struct client_uri {
  bool tls;
  char *target; /* what grpc_channel_create gets: "host:port", "[v6]:port" or "unix:/path" */
  char *host;   /* host without brackets ("" for unix sockets) */
  int port;     /* 0 for unix sockets */
} client_uri;

/* Parses grpc://, grpc+tcp://, grpc+tls://, grpc+unix:// URIs. INVALID_ARGUMENT with a message
 * naming the URI and what is wrong. The caller releases *out with client_uri_release. */
mlr_code client_uri_parse(const char *uri, client_uri *out, mlr_error *err);
void client_uri_release(client_uri *u);

/* Effective receive limit for channel args: 0 -> 128 MiB, -1 (or less) -> -1 (unlimited);
 * values above INT32_MAX are clamped (gRPC takes an int). */
int client_effective_max_receive(int64_t configured);
int client_effective_max_send(int64_t configured);

/* Standard base64 (with padding). out must hold client_base64_len(n) + 1 bytes (NUL-terminated). */
size_t client_base64_len(size_t n);
void client_base64_encode(const uint8_t *in, size_t n, char *out);

/* Maps a gRPC status as received into err: same code, the server's message unchanged (or the
 * code's name when the server sent none). `connected` false and UNAVAILABLE means the channel
 * never reached the server: the message then names `uri`. Returns the code. */
mlr_code client_status_to_error(grpc_status_code status, const char *details, size_t details_len,
                                bool connected, const char *uri, mlr_error *err);

/* Case-insensitive prefix match of an auth scheme ("Bearer ") on a header value; returns the
 * rest (the credential) with leading spaces skipped, or NULL. */
const char *client_auth_scheme_value(const char *value, size_t len, const char *scheme,
                                     size_t *rest_len);

/* ------------------------------------------------------------------------------------------
 * The client and one call
 * ---------------------------------------------------------------------------------------- */

struct mallard_client {
  char *uri;
  client_uri parsed;
  grpc_channel *channel;
  int64_t default_timeout_ms;
  mallard_compression write_compression;
  pthread_mutex_t lock; /* guards bearer */
  char *bearer;         /* token sent as "authorization: Bearer <token>", or NULL */
};

/* One gRPC call on its own completion queue, driven by the threads that use it. At most one send
 * and one receive are outstanding; received messages queue up (bounded) while the caller sends, so
 * DoExchange/DoPut never deadlock on flow control. One thread may read while another writes
 * (DoExchange): whichever thread waits drives the completion queue ("pumping") and the others
 * wait on `cv` for the state it records; `mu` guards all the state below. */
typedef struct client_rx {
  grpc_byte_buffer *buf;
  struct client_rx *next;
} client_rx;

typedef struct client_call {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool pumping; /* a thread is blocked in grpc_completion_queue_next for this call */
  mallard_client *client;
  grpc_call *call;
  grpc_completion_queue *cq;
  grpc_metadata *send_md;
  size_t n_send_md;
  mallard_metadata *out_headers;  /* caller's, filled at the end */
  mallard_metadata *out_trailers; /* caller's, filled at the end */

  int pending; /* outstanding batches */
  bool start_done, initmd_done, status_done;
  bool send_pending, send_failed, close_sent, close_pending;
  bool recv_pending, recv_eof, got_message;
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code status;
  grpc_slice status_details;
  grpc_byte_buffer *send_buf;
  grpc_byte_buffer *recv_buf;
  client_rx *rx_head, *rx_tail;
  size_t rx_bytes;
  bool cancelled_by_us;
  bool finished;
} client_call;

/* Starts a call of `method` ("/arrow.flight.protocol.FlightService/DoGet"): sends the headers
 * (options' headers plus the bearer token), posts the status receive and the first message
 * receive. On error, nothing to clean. */
mlr_code client_call_start(mallard_client *client, const mallard_call_options *opts,
                           const char *method, client_call *c, mlr_error *err);
/* Sends one message made of `n` slices (references are taken over: the slices are unref'd by
 * the call, also on error). Waits for the previous send first. If the call has ended, returns
 * the call's final status. */
mlr_code client_call_send(client_call *c, grpc_slice *slices, size_t n, mlr_error *err);
/* Sends one message from a contiguous buffer (copied). */
mlr_code client_call_send_copy(client_call *c, const void *data, size_t len, mlr_error *err);
/* Half-closes the sending side. */
mlr_code client_call_close_send(client_call *c, mlr_error *err);
/* Next received message as one contiguous refcounted buffer (*msg NULL at end of stream; the
 * call's final status is returned then). */
mlr_code client_call_recv(client_call *c, arrowc_buf **msg, mlr_error *err);
/* Waits for the final status and returns it (mapped into err). */
mlr_code client_call_status(client_call *c, mlr_error *err);
/* Cancels the call (thread-safe). */
void client_call_cancel(client_call *c);
/* Cancels if unfinished, waits for every outstanding operation, copies response metadata into
 * the caller's out-params and frees everything. Returns the final status. */
mlr_code client_call_finish(client_call *c, mlr_error *err);

#endif /* FLIGHT_CLIENT_INTERNAL_H */
