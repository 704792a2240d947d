/* Plain C values for Flight's protocol messages (https://arrow.apache.org/docs/format/Flight.html),
 * shared by the server and the client. The protobuf-c generated structs stay inside src/flight;
 * services and clients only see these. Strings are NUL-terminated and owned by the struct;
 * every *_release frees what the struct owns and zeroes it (safe on a zeroed struct). */
#ifndef FLIGHT_TYPES_H
#define FLIGHT_TYPES_H

#include "arrow/arrowc_buf.h"
#include "common/mlr_error.h"
#include "ipc/ipc.h"
#include "mallard/arrow_c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A byte string. Owned where the containing struct says so. */
typedef struct flight_bytes {
  uint8_t *data;
  size_t len;
} flight_bytes;

typedef enum flight_descriptor_type {
  FLIGHT_DESCRIPTOR_UNKNOWN = 0,
  FLIGHT_DESCRIPTOR_PATH = 1,
  FLIGHT_DESCRIPTOR_CMD = 2
} flight_descriptor_type;

typedef struct flight_descriptor {
  flight_descriptor_type type;
  flight_bytes cmd;
  char **path;
  size_t n_path;
} flight_descriptor;

/* Timestamp (google.protobuf.Timestamp); set = false means absent. */
typedef struct flight_timestamp {
  bool set;
  int64_t seconds;
  int32_t nanos;
} flight_timestamp;

typedef struct flight_endpoint {
  flight_bytes ticket;
  char **locations; /* URIs */
  size_t n_locations;
  flight_timestamp expiration_time;
  flight_bytes app_metadata;
} flight_endpoint;

typedef struct flight_info {
  struct ArrowSchema schema; /* release == NULL: no schema (empty bytes on the wire) */
  flight_descriptor descriptor;
  flight_endpoint *endpoints;
  size_t n_endpoints;
  int64_t total_records; /* -1 unknown */
  int64_t total_bytes;   /* -1 unknown */
  bool ordered;
  flight_bytes app_metadata;
} flight_info;

typedef struct flight_poll_info {
  bool has_info;
  flight_info info;
  bool has_descriptor;
  flight_descriptor descriptor;
  bool has_progress;
  double progress;
  flight_timestamp expiration_time;
} flight_poll_info;

typedef struct flight_action {
  char *type;
  flight_bytes body;
} flight_action;

/* One received FlightData message: views into the received bytes, which `backing` keeps alive.
 * Ownership: flight_data_release drops the reference. */
typedef struct flight_data {
  bool has_descriptor;
  flight_descriptor descriptor; /* owned copy */
  const uint8_t *data_header;   /* IPC Message flatbuffer, may be NULL/0 */
  size_t data_header_len;
  const uint8_t *app_metadata;
  size_t app_metadata_len;
  arrowc_buf *body;    /* NULL when empty; one reference owned by this struct */
  arrowc_buf *backing; /* the received message bytes the views point into */
} flight_data;

void flight_bytes_release(flight_bytes *b);
mlr_code flight_bytes_copy(flight_bytes *dst, const void *data, size_t len, mlr_error *err);
/* True when a top-level length-delimited field number `field` of the protobuf message holds a
 * NUL byte (a string field that a C string would silently cut short). Malformed bytes: false
 * (the decoder refuses them). */
bool flight_pb_string_has_nul(const uint8_t *msg, size_t n, unsigned field);
#define FLIGHT_PATH_NUL_MESSAGE                                                                    \
  "a PATH descriptor element contains a NUL byte: name a table with UTF-8 text"
void flight_descriptor_release(flight_descriptor *d);
mlr_code flight_descriptor_copy(flight_descriptor *dst, const flight_descriptor *src,
                                mlr_error *err);
void flight_endpoint_release(flight_endpoint *e);
void flight_info_release(flight_info *info);
void flight_poll_info_release(flight_poll_info *p);
void flight_action_release(flight_action *a);
void flight_data_release(flight_data *d);

/* FlightData codec, by hand (not protobuf-c) so that bodies are never copied:
 * descriptor = 1, data_header = 2, app_metadata = 3, data_body = 1000.
 * Encode: returns the protobuf bytes of fields 1-3 plus the tag and length prefix of field 1000;
 * the body bytes follow on the wire as separate slices. The caller frees *prefix with free(). */
mlr_code flight_data_encode_prefix(const flight_descriptor *desc, const uint8_t *data_header,
                                   size_t data_header_len, const uint8_t *app_metadata,
                                   size_t app_metadata_len, int64_t body_len, uint8_t **prefix,
                                   size_t *prefix_len, mlr_error *err);
/* Decode: msg holds one whole FlightData protobuf message; *out views into it and takes a
 * reference on msg. Unknown fields are skipped; malformed bytes give INVALID_ARGUMENT. */
mlr_code flight_data_decode(arrowc_buf *msg, flight_data *out, mlr_error *err);

/* Where the bytes of data_body (field 1000) start in a FlightData message of which msg holds
 * the first n bytes (not necessarily all); -1 when a field before it is not length-delimited
 * or does not fit in those n bytes. A hint for placing a copy so that the body is aligned. */
int64_t flight_data_body_offset(const uint8_t *msg, size_t n);

#endif /* FLIGHT_TYPES_H */
