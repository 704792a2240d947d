/* Received gRPC messages as one arrowc_buf (see flight_rx.h): a view of a single slice, or one
 * copy, optionally into a recycled, already faulted-in block, placed so that a FlightData body
 * is aligned. */
#include "flight/flight_rx.h"
#include "flight/flight_types.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include <stdlib.h>
#include <string.h>

/* A received message's copy: a block of the pool (or a plain allocation without one). */
typedef struct rx_block {
  arrowc_pool *pool; /* holds a reference while the block is out; NULL: plain allocation */
  uint8_t *data;     /* 64-byte aligned, cap bytes */
  int64_t cap;
} rx_block;

/* A block of at least n bytes, NULL when out of memory. */
static rx_block *block_get(arrowc_pool *pool, size_t n) {
  if (n > (size_t)INT64_MAX - 64) return NULL;
  rx_block *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  if (pool != NULL) {
    b->data = arrowc_pool_get(pool, (int64_t)n, &b->cap);
    if (b->data != NULL) {
      arrowc_pool_ref(pool);
      b->pool = pool;
    }
  } else {
    b->cap = (int64_t)((n + 63) & ~(size_t)63);
    b->data = aligned_alloc(64, b->cap > 0 ? (size_t)b->cap : 64);
  }
  if (b->data == NULL) {
    free(b);
    return NULL;
  }
  return b;
}

/* arrowc_buf free callback: the block goes back to its pool (or is freed). */
static void block_done(void *ctx) {
  rx_block *b = ctx;
  if (b->pool != NULL) {
    arrowc_pool_put(b->pool, b->data, b->cap);
    arrowc_pool_unref(b->pool);
  } else {
    free(b->data);
  }
  free(b);
}

static void slice_holder_free(void *p) {
  grpc_slice *s = p;
  grpc_slice_unref(*s);
  free(s);
}

/* Wraps one slice (a reference is taken) without copying. */
static arrowc_buf *wrap_slice(grpc_slice s) {
  grpc_slice *holder = malloc(sizeof *holder);
  if (holder == NULL) return NULL;
  *holder = grpc_slice_ref(s);
  return arrowc_buf_wrap(GRPC_SLICE_START_PTR(*holder), (int64_t)GRPC_SLICE_LENGTH(*holder),
                         slice_holder_free, holder);
}

mlr_code flight_rx_take(arrowc_pool *pool, grpc_byte_buffer *bb, arrowc_buf **out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  grpc_slice all = grpc_empty_slice();
  *out = NULL;
  if (bb->type != GRPC_BB_RAW || bb->data.raw.compression != GRPC_COMPRESS_NONE) {
    /* Compressed by gRPC: its reader decompresses into one slice, which we view. */
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot decompress the received message");
      goto cleanup;
    }
    all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    *out = wrap_slice(all);
    if (*out == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
  if (sb->count <= 1) {
    *out = wrap_slice(sb->count == 1 ? sb->slices[0] : grpc_empty_slice());
    if (*out == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  size_t total = sb->length;
  int64_t off = flight_data_body_offset(GRPC_SLICE_START_PTR(sb->slices[0]),
                                        GRPC_SLICE_LENGTH(sb->slices[0]));
  size_t shift = off < 0 ? 0 : (size_t)((64 - off % 64) % 64);
  rx_block *b = total <= SIZE_MAX - shift ? block_get(pool, total + shift) : NULL;
  if (b == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                       "out of memory for a received message of %zu bytes", total);
    goto cleanup;
  }
  uint8_t *dst = b->data + shift;
  for (size_t i = 0; i < sb->count; i++) {
    size_t n = GRPC_SLICE_LENGTH(sb->slices[i]);
    memcpy(dst, GRPC_SLICE_START_PTR(sb->slices[i]), n);
    dst += n;
  }
  *out = arrowc_buf_wrap(b->data + shift, (int64_t)total, block_done, b);
  if (*out == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
cleanup:
  grpc_slice_unref(all);
  grpc_byte_buffer_destroy(bb);
  return rc;
}
