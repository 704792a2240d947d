/* Received gRPC messages as one contiguous arrowc_buf, shared by the server and the client.
 * gRPC 1.51 reads the socket into 64 KiB slices whatever the read-chunk channel args say, so
 * every message above that arrives in several slices and needs one coalescing copy (the IPC
 * decoder views a contiguous body), placed so that a FlightData body lands 64-byte aligned.
 * The copy goes into a fresh allocation or, with a pool, into a recycled block that is already
 * faulted in. A message in one slice is viewed in place. Internal to src/flight. */
#ifndef FLIGHT_RX_H
#define FLIGHT_RX_H

#include "arrow/arrowc_buf.h"
#include "arrow/arrowc_pool.h"
#include "common/mlr_error.h"

#include <grpc/byte_buffer.h>
#include <stddef.h>
#include <stdint.h>

/* The message in bb as one buffer in *out (the caller owns one reference). bb is taken: it is
 * destroyed, also on error. pool (arrowc_pool.h; may be NULL: plain allocations) recycles the
 * copies' blocks. RESOURCE_EXHAUSTED when out of memory, INVALID_ARGUMENT when a compressed message
 * cannot be decompressed. */
mlr_code flight_rx_take(arrowc_pool *pool, grpc_byte_buffer *bb, arrowc_buf **out, mlr_error *err);

#endif /* FLIGHT_RX_H */
