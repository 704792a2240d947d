/* Server-internal additions to the call API (flight_server.h): raw sends and the per-call
 * Arrow stream state used by flight_call_arrow.c. Not for services outside src/flight and
 * the test servers. */
#ifndef FLIGHT_SERVER_INT_H
#define FLIGHT_SERVER_INT_H

#include "flight/flight_server.h"

/* Per-call IPC state, created lazily by the Arrow-level helpers. */
typedef struct fs_arrow_state {
  ipc_decoder *dec;
  ipc_encoder *enc;
} fs_arrow_state;

fs_arrow_state *flight_call_arrow_state(flight_call *call);
void fs_arrow_state_release(fs_arrow_state *st);

/* Sends already-encoded protobuf bytes as one response message (copied). */
mlr_code flight_call_write_raw(flight_call *call, const uint8_t *data, size_t len, mlr_error *err);
/* Sends a FlightData with d's data_header/app_metadata (copied) and body (zero copy: the
 * body buffer is referenced until gRPC is done with it). The descriptor is not sent. */
mlr_code flight_call_write_data(flight_call *call, const flight_data *d, mlr_error *err);

#endif /* FLIGHT_SERVER_INT_H */
