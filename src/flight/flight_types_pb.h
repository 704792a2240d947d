/* Protobuf bytes <-> the plain Flight values of flight_types.h, through the protobuf-c code
 * generated from proto/Flight.proto. Shared by the server and the client. Every decoder treats
 * its input as hostile: malformed bytes give INVALID_ARGUMENT naming the message type.
 * Encoders return a malloc'ed buffer (*out, caller frees with free(); never NULL on success). */
#ifndef FLIGHT_TYPES_PB_H
#define FLIGHT_TYPES_PB_H

#include "flight/flight_types.h"

mlr_code flight_descriptor_encode(const flight_descriptor *d, uint8_t **out, size_t *len,
                                  mlr_error *err);
mlr_code flight_descriptor_decode(const uint8_t *data, size_t len, flight_descriptor *out,
                                  mlr_error *err);

/* Ticket / Criteria / PutResult / Result: one bytes field (number 1). */
mlr_code flight_bytes_message_encode(const uint8_t *data, size_t len, uint8_t **out,
                                     size_t *out_len, mlr_error *err);
/* type_name is used in the error message ("Ticket"). */
mlr_code flight_bytes_message_decode(const uint8_t *data, size_t len, const char *type_name,
                                     flight_bytes *out, mlr_error *err);

mlr_code flight_action_encode(const flight_action *a, uint8_t **out, size_t *len, mlr_error *err);
mlr_code flight_action_decode(const uint8_t *data, size_t len, flight_action *out, mlr_error *err);

mlr_code flight_endpoint_encode(const flight_endpoint *e, uint8_t **out, size_t *len,
                                mlr_error *err);
mlr_code flight_endpoint_decode(const uint8_t *data, size_t len, flight_endpoint *out,
                                mlr_error *err);

/* The schema travels as IPC bytes (ipc_schema_to_flight_bytes / _from_). */
mlr_code flight_info_encode(const flight_info *info, uint8_t **out, size_t *len, mlr_error *err);
mlr_code flight_info_decode(const uint8_t *data, size_t len, flight_info *out, mlr_error *err);
mlr_code flight_poll_info_encode(const flight_poll_info *p, uint8_t **out, size_t *len,
                                 mlr_error *err);
mlr_code flight_poll_info_decode(const uint8_t *data, size_t len, flight_poll_info *out,
                                 mlr_error *err);

/* SchemaResult { bytes schema = 1 } from a schema. */
mlr_code flight_schema_result_encode(const struct ArrowSchema *schema, uint8_t **out, size_t *len,
                                     mlr_error *err);

/* HandshakeRequest/Response (same shape). */
mlr_code flight_handshake_encode(uint64_t version, const uint8_t *payload, size_t payload_len,
                                 uint8_t **out, size_t *len, mlr_error *err);
mlr_code flight_handshake_decode(const uint8_t *data, size_t len, uint64_t *version,
                                 flight_bytes *payload, mlr_error *err);

/* ActionType { type = 1, description = 2 }. */
mlr_code flight_action_type_encode(const char *type, const char *description, uint8_t **out,
                                   size_t *len, mlr_error *err);

#endif /* FLIGHT_TYPES_PB_H */
