/* Mallard's public Arrow Flight client: connect to any Flight server (Mallard, pyarrow, Arrow
 * C++/Java/Go) over grpc:// or grpc+tls://, call every Flight RPC, and read/write streams as
 * Arrow C Data Interface arrays. Used by the `mallard` CLI, the demo, the benchmark and
 * server-to-server transfer. No gRPC or protobuf type appears here.
 *
 * Conventions (as DuckDB's C API):
 *  - every fallible call returns a mallard_code (MALLARD_OK = 0, else the gRPC status number)
 *    and fills the optional `mallard_error *err` (may be NULL) with a message. A status sent by
 *    the server arrives with the server's code and message unchanged; a server that cannot be
 *    reached gives MALLARD_UNAVAILABLE with a message naming the address.
 *  - out-params come last; `mallard_x_close(&x)` releases a handle and sets it to NULL.
 *  - structs the library fills (mallard_flight_info, mallard_bytes, ...) are owned by the
 *    caller, who releases them with the matching *_release (safe on a zeroed struct, and it
 *    zeroes the struct). Structs the caller passes in are only read during the call.
 *  - Arrow arrays handed to the library are moved in (their release is set to NULL), also on
 *    error; arrays and schemas handed out are owned by the caller (call their release).
 *
 * Threads: a mallard_client may be used from several threads at once. A reader or writer
 * belongs to one thread, except mallard_reader_cancel / mallard_writer_cancel, which may be
 * called from any thread (e.g. a signal watcher) while another thread is blocked in it, up to
 * the handle's close. */
#ifndef MALLARD_CLIENT_H
#define MALLARD_CLIENT_H

#include "mallard/arrow_c.h"
#include "mallard/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Plain values
 * ---------------------------------------------------------------------------------------- */

/* A byte string. When the library fills one, the caller owns `data` (mallard_bytes_release);
 * data is then also NUL-terminated (not counted in len) so text can be printed directly. */
typedef struct mallard_bytes {
  uint8_t *data;
  size_t len;
} mallard_bytes;
void mallard_bytes_release(mallard_bytes *b);

/* One header (gRPC metadata entry). Names are lowercase ASCII; names ending in "-bin" carry
 * binary values (gRPC base64-encodes them on the wire). */
typedef struct mallard_header {
  const char *name;
  const char *value;
  size_t value_len; /* 0 = strlen(value) */
} mallard_header;

/* Headers or trailers received from the server: owned by the caller (mallard_metadata_release).
 * Names and values are NUL-terminated copies. */
typedef struct mallard_metadata_entry {
  char *name;
  char *value;
  size_t value_len;
} mallard_metadata_entry;
typedef struct mallard_metadata {
  mallard_metadata_entry *entries;
  size_t n_entries;
} mallard_metadata;
void mallard_metadata_release(mallard_metadata *md);
/* First value of `name` (case-insensitive), or NULL. The pointer stays owned by md. */
const char *mallard_metadata_get(const mallard_metadata *md, const char *name);

typedef enum mallard_descriptor_type {
  MALLARD_DESCRIPTOR_UNKNOWN = 0,
  MALLARD_DESCRIPTOR_PATH = 1,
  MALLARD_DESCRIPTOR_CMD = 2
} mallard_descriptor_type;

/* A FlightDescriptor: CMD (opaque bytes; for Mallard a SQL query or JSON) or PATH (strings).
 * As input it is only read during the call, so it may point at the caller's memory (see the
 * two helpers below); when the library fills one, the caller releases it. */
typedef struct mallard_descriptor {
  mallard_descriptor_type type;
  mallard_bytes cmd;
  char **path;
  size_t n_path;
} mallard_descriptor;
void mallard_descriptor_release(mallard_descriptor *d);
/* Views over the caller's memory (no allocation, nothing to release): len 0 = strlen(cmd). */
mallard_descriptor mallard_descriptor_command(const char *cmd, size_t len);
mallard_descriptor mallard_descriptor_path(const char *const *path, size_t n_path);

/* google.protobuf.Timestamp; set = false means absent. */
typedef struct mallard_timestamp {
  bool set;
  int64_t seconds;
  int32_t nanos;
} mallard_timestamp;

typedef struct mallard_endpoint {
  mallard_bytes ticket;
  char **locations; /* URIs; none = "the server you asked" */
  size_t n_locations;
  mallard_timestamp expiration_time;
  mallard_bytes app_metadata;
} mallard_endpoint;

typedef struct mallard_flight_info {
  struct ArrowSchema schema; /* release == NULL when the server sent no schema */
  mallard_descriptor descriptor;
  mallard_endpoint *endpoints;
  size_t n_endpoints;
  int64_t total_records; /* -1 unknown */
  int64_t total_bytes;   /* -1 unknown */
  bool ordered;
  mallard_bytes app_metadata;
} mallard_flight_info;
void mallard_flight_info_release(mallard_flight_info *info);

/* A list of FlightInfo (ListFlights). */
typedef struct mallard_flight_list {
  mallard_flight_info *infos;
  size_t n_infos;
} mallard_flight_list;
void mallard_flight_list_release(mallard_flight_list *list);

typedef struct mallard_poll_info {
  bool has_info;
  mallard_flight_info info;
  bool has_descriptor; /* descriptor to poll next; absent = the query is complete */
  mallard_descriptor descriptor;
  bool has_progress;
  double progress; /* 0.0 .. 1.0 */
  mallard_timestamp expiration_time;
} mallard_poll_info;
void mallard_poll_info_release(mallard_poll_info *p);

/* ListActions entries. */
typedef struct mallard_action_type {
  char *type;
  char *description;
} mallard_action_type;
typedef struct mallard_action_type_list {
  mallard_action_type *types;
  size_t n_types;
} mallard_action_type_list;
void mallard_action_type_list_release(mallard_action_type_list *list);

/* DoAction results: the body of each Result, in order. */
typedef struct mallard_result_list {
  mallard_bytes *results;
  size_t n_results;
} mallard_result_list;
void mallard_result_list_release(mallard_result_list *list);

/* ------------------------------------------------------------------------------------------
 * Connecting
 * ---------------------------------------------------------------------------------------- */

typedef enum mallard_compression {
  MALLARD_COMPRESSION_NONE = 0,
  MALLARD_COMPRESSION_LZ4_FRAME = 1,
  MALLARD_COMPRESSION_ZSTD = 2
} mallard_compression;

/* Connection options. Initialise with mallard_client_options_init, then set what you need;
 * strings are only read during mallard_client_connect. */
typedef struct mallard_client_options {
  /* TLS (grpc+tls:// only). PEM file paths; NULL = default (system roots, no client cert). */
  const char *tls_root_certs_file;  /* CA bundle that signed the server's certificate */
  const char *tls_cert_chain_file;  /* client certificate, for mutual TLS */
  const char *tls_private_key_file; /* its private key */
  /* Name to check the server's certificate against instead of the URI's host (e.g. when
   * connecting to an IP address with a certificate for "localhost"). */
  const char *tls_override_hostname;
  /* Largest message accepted from the server; 0 = 128 MiB; -1 = no limit. */
  int64_t max_receive_message_size;
  /* Largest message sent; 0 = no limit (the server's receive limit still applies). */
  int64_t max_send_message_size;
  /* Default deadline for every call, in milliseconds; 0 = none. Per-call timeout overrides.
   * For streams it bounds the whole stream, not one read. */
  int64_t default_timeout_ms;
  /* Body compression for batches the client writes (DoPut / DoExchange). */
  mallard_compression write_compression;
} mallard_client_options;
void mallard_client_options_init(mallard_client_options *opts);

typedef struct mallard_client mallard_client;

/* Connects to `uri`: grpc://host:port, grpc+tcp://host:port (plaintext), grpc+tls://host:port
 * (TLS), or grpc+unix:///path/to/socket. IPv6 hosts go in brackets ([::1]:8815). opts may be
 * NULL for defaults. The connection itself is made lazily by the first call; a bad URI or an
 * unreadable TLS file fails here with INVALID_ARGUMENT.
 * Ownership: on success the caller closes *out with mallard_client_close. */
mallard_code mallard_client_connect(const char *uri, const mallard_client_options *opts,
                                    mallard_client **out, mallard_error *err);
/* Closes the connection and frees the client; sets *client to NULL. Every reader and writer of
 * the client must be closed first. NULL or *client == NULL is a no-op. */
void mallard_client_close(mallard_client **client);

/* The URI the client was created with (owned by the client). */
const char *mallard_client_uri(const mallard_client *client);

/* ------------------------------------------------------------------------------------------
 * Per-call options
 * ---------------------------------------------------------------------------------------- */

/* Options for one call; NULL means defaults. Everything is only read during the call that
 * takes it, except response_headers / response_trailers, which must stay valid until the call
 * ends (for a stream: until its close). */
typedef struct mallard_call_options {
  const mallard_header *headers; /* extra request headers, e.g. {"authorization", "Bearer x"} */
  size_t n_headers;
  int64_t timeout_ms; /* deadline from the start of the call; 0 = client's default */
  /* If non-NULL, filled (caller releases) with the server's initial metadata / trailers when
   * the call ends. Any previous contents are released first. */
  mallard_metadata *response_headers;
  mallard_metadata *response_trailers;
} mallard_call_options;

/* ------------------------------------------------------------------------------------------
 * Authentication
 * ---------------------------------------------------------------------------------------- */

/* HTTP Basic handshake as pyarrow's authenticate_basic_token: calls Handshake with header
 * `authorization: Basic base64(user:password)`, takes `authorization: Bearer <token>` from the
 * response headers or trailers, and from then on sends it on every call of this client (unless
 * the call's own headers carry an authorization header). UNAUTHENTICATED if no token came
 * back. If token_out is non-NULL it receives a copy of the token (caller releases). */
mallard_code mallard_client_authenticate_basic(mallard_client *client,
                                               const mallard_call_options *opts, const char *user,
                                               const char *password, mallard_bytes *token_out,
                                               mallard_error *err);
/* Sets (NULL: clears) the bearer token sent on every later call, e.g. a pre-issued token. */
mallard_code mallard_client_set_bearer_token(mallard_client *client, const char *token,
                                             mallard_error *err);

/* A raw Handshake: sends one HandshakeRequest with `payload` and returns the payload of the
 * first HandshakeResponse (empty if the server sent none) in *response (caller releases). */
mallard_code mallard_client_handshake(mallard_client *client, const mallard_call_options *opts,
                                      const void *payload, size_t payload_len,
                                      mallard_bytes *response, mallard_error *err);

/* ------------------------------------------------------------------------------------------
 * Unary and server-streaming RPCs (the whole answer is collected before returning)
 * ---------------------------------------------------------------------------------------- */

/* ListFlights: criteria may be NULL/0. *out is filled on success (caller releases). */
mallard_code mallard_client_list_flights(mallard_client *client, const mallard_call_options *opts,
                                         const void *criteria, size_t criteria_len,
                                         mallard_flight_list *out, mallard_error *err);
mallard_code mallard_client_get_flight_info(mallard_client *client,
                                            const mallard_call_options *opts,
                                            const mallard_descriptor *descriptor,
                                            mallard_flight_info *out, mallard_error *err);
mallard_code mallard_client_poll_flight_info(mallard_client *client,
                                             const mallard_call_options *opts,
                                             const mallard_descriptor *descriptor,
                                             mallard_poll_info *out, mallard_error *err);
/* GetSchema: *out is a "+s" schema (caller releases). */
mallard_code mallard_client_get_schema(mallard_client *client, const mallard_call_options *opts,
                                       const mallard_descriptor *descriptor,
                                       struct ArrowSchema *out, mallard_error *err);
/* DoAction: body may be NULL/0. All results are collected into *out (caller releases). */
mallard_code mallard_client_do_action(mallard_client *client, const mallard_call_options *opts,
                                      const char *type, const void *body, size_t body_len,
                                      mallard_result_list *out, mallard_error *err);
mallard_code mallard_client_list_actions(mallard_client *client, const mallard_call_options *opts,
                                         mallard_action_type_list *out, mallard_error *err);

/* ------------------------------------------------------------------------------------------
 * Streams
 * ---------------------------------------------------------------------------------------- */

/* Reads a FlightData stream (DoGet, or the server's side of DoExchange). */
typedef struct mallard_reader mallard_reader;
/* Writes a FlightData stream (DoPut, or the client's side of DoExchange). */
typedef struct mallard_writer mallard_writer;

/* DoGet. The call starts at once; the schema and batches are read with the functions below.
 * Ownership: on success the caller closes *out with mallard_reader_close. */
mallard_code mallard_client_do_get(mallard_client *client, const mallard_call_options *opts,
                                   const void *ticket, size_t ticket_len, mallard_reader **out,
                                   mallard_error *err);

/* Waits for the stream's schema and writes a copy to *out ("+s"; caller releases). If the call
 * failed, its status is returned; a stream that ended successfully without any schema (e.g. an
 * exchange answering nothing) gives INVALID_ARGUMENT "stream ended without a schema". */
mallard_code mallard_reader_schema(mallard_reader *reader, struct ArrowSchema *out,
                                   mallard_error *err);

/* Reads the next message of the stream:
 *  - a record batch: *batch is filled ("+s"; caller releases) and app_metadata (if non-NULL)
 *    receives the message's app_metadata (possibly empty; caller releases);
 *  - a metadata-only message: batch->release == NULL and *app_metadata is set;
 *  - the end: *eof = true, batch->release == NULL, app_metadata empty, MALLARD_OK.
 * A stream the server ends with an error returns that status (code and message unchanged, *eof
 * stays false), so an error at the end of a stream is never mistaken for its end. After the end
 * or an error, further calls return the same outcome.
 * A schema message is consumed silently (mallard_reader_schema returns it). batch and eof must
 * be non-NULL; app_metadata may be NULL to ignore metadata. */
mallard_code mallard_reader_next(mallard_reader *reader, struct ArrowArray *batch,
                                 mallard_bytes *app_metadata, bool *eof, mallard_error *err);

/* Exports the rest of the stream as an ArrowArrayStream (e.g. for DuckDB's arrow scan). The
 * reader is moved into the stream (*reader is set to NULL) and closed by its release;
 * app_metadata is dropped. Not for the reader of a DoExchange (see mallard_writer_reader). */
mallard_code mallard_reader_export(mallard_reader **reader, struct ArrowArrayStream *out,
                                   mallard_error *err);

/* Asks the server to stop (sends a gRPC cancel); a blocked or later read returns CANCELLED.
 * Thread-safe; idempotent. */
void mallard_reader_cancel(mallard_reader *reader);

/* Ends the call and frees the reader; sets *reader to NULL. A stream not read to its end is
 * cancelled. Returns the call's final status (OK if it was read to the end without error,
 * CANCELLED if this close cancelled it). NULL or *reader == NULL returns OK. */
mallard_code mallard_reader_close(mallard_reader **reader, mallard_error *err);

/* DoPut. The call starts at once; send the schema with mallard_writer_begin (its first message
 * carries `descriptor`), then batches.
 * Ownership: on success the caller closes *out with mallard_writer_close. */
mallard_code mallard_client_do_put(mallard_client *client, const mallard_call_options *opts,
                                   const mallard_descriptor *descriptor, mallard_writer **out,
                                   mallard_error *err);

/* DoExchange: *out writes the client's stream; mallard_writer_reader(*out) reads the server's.
 * The descriptor is sent at once, alone (as Arrow C++ does), so the server may answer before the
 * client writes anything. Reads and writes may be interleaved freely: while the caller writes,
 * the library keeps receiving and buffers up to 64 MiB of the server's answer; beyond that it
 * stops receiving (backpressure), so a caller that writes without ever reading an endless
 * answer eventually blocks in mallard_writer_write.
 * Ownership: on success the caller closes *out with mallard_writer_close. */
mallard_code mallard_client_do_exchange(mallard_client *client, const mallard_call_options *opts,
                                        const mallard_descriptor *descriptor, mallard_writer **out,
                                        mallard_error *err);

/* Sends the schema message (the schema is only read; the caller keeps it). For DoPut and
 * DoExchange the first message sent also carries the call's descriptor. Call once, before any
 * batch; a writer may also send only metadata and never begin. */
mallard_code mallard_writer_begin(mallard_writer *writer, const struct ArrowSchema *schema,
                                  mallard_error *err);

/* Sends one batch ("+s" matching the schema) with optional app_metadata (NULL/0 = none).
 * `batch` is moved in (batch->release is set to NULL, also on error); batch == NULL (or an
 * already released batch) sends a metadata-only message. Blocks while gRPC's flow control says
 * the server is not reading (backpressure). Buffers are sent without copying them. */
mallard_code mallard_writer_write(mallard_writer *writer, struct ArrowArray *batch,
                                  const void *app_metadata, size_t app_metadata_len,
                                  mallard_error *err);

/* Half-closes: tells the server the client sends nothing more. Further writes fail. */
mallard_code mallard_writer_done_writing(mallard_writer *writer, mallard_error *err);

/* DoPut only: reads the next PutResult's app_metadata into *app_metadata (caller releases);
 * *eof = true when the server's stream ended (the call's final status is then returned). */
mallard_code mallard_writer_read_result(mallard_writer *writer, mallard_bytes *app_metadata,
                                        bool *eof, mallard_error *err);

/* DoExchange only: the reader of the server's stream, owned by the writer (valid until
 * mallard_writer_close; do not close it yourself). NULL for a DoPut writer. */
mallard_reader *mallard_writer_reader(mallard_writer *writer);

/* Asks the server to stop (sends a gRPC cancel). Thread-safe; idempotent. */
void mallard_writer_cancel(mallard_writer *writer);

/* Half-closes if not yet done, drains what the server still sends (PutResults, or the rest of
 * an exchange's stream) and returns the call's final status; frees the writer, sets *writer to
 * NULL. NULL or *writer == NULL returns OK. */
mallard_code mallard_writer_close(mallard_writer **writer, mallard_error *err);

#ifdef __cplusplus
}
#endif

#endif /* MALLARD_CLIENT_H */
