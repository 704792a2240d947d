/* Received gRPC messages as one arrowc_buf (see flight_rx.h): a view of a single slice, or one
 * copy into a recycled, already faulted-in block placed so that a FlightData body is aligned. */
#include "flight/flight_rx.h"
#include "flight/flight_types.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Blocks are whole pages; a message reuses any cached block up to twice its size. */
#define RX_BLOCK_STEP ((size_t)4096)

typedef struct rx_block {
  struct rx_block *next;
  flight_rx_pool *pool;
  size_t cap;
  uint8_t *data; /* 64-byte aligned, cap bytes */
} rx_block;

struct flight_rx_pool {
  atomic_int refs;     /* the owner's plus one per block handed out */
  pthread_mutex_t mu;  /* guards the fields below */
  rx_block *free_list; /* most recently returned first: the warmest block is reused first */
  int64_t cached;      /* bytes in free_list */
  int64_t max_cached;
  bool closed; /* the owner is gone: returned blocks are freed, not cached */
};

static void block_free(rx_block *b) {
  free(b->data);
  free(b);
}

flight_rx_pool *flight_rx_pool_new(int64_t max_cached_bytes) {
  flight_rx_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  atomic_init(&p->refs, 1);
  pthread_mutex_init(&p->mu, NULL);
  p->max_cached = max_cached_bytes;
  return p;
}

static void pool_unref(flight_rx_pool *p) {
  if (atomic_fetch_sub(&p->refs, 1) != 1) return;
  for (rx_block *b = p->free_list; b != NULL;) {
    rx_block *next = b->next;
    block_free(b);
    b = next;
  }
  pthread_mutex_destroy(&p->mu);
  free(p);
}

void flight_rx_pool_release(flight_rx_pool *pool) {
  if (pool == NULL) return;
  pthread_mutex_lock(&pool->mu);
  pool->closed = true;
  pthread_mutex_unlock(&pool->mu);
  pool_unref(pool);
}

/* A block of at least n bytes: a cached one no more than twice as big (so that a small message
 * does not pin a big block), else a new one. NULL when out of memory. */
static rx_block *block_get(flight_rx_pool *p, size_t n) {
  if (p != NULL) {
    pthread_mutex_lock(&p->mu);
    for (rx_block **pp = &p->free_list; *pp != NULL; pp = &(*pp)->next) {
      rx_block *b = *pp;
      if (b->cap >= n && b->cap / 2 <= n) {
        *pp = b->next;
        p->cached -= (int64_t)b->cap;
        pthread_mutex_unlock(&p->mu);
        b->next = NULL;
        atomic_fetch_add(&p->refs, 1);
        return b;
      }
    }
    pthread_mutex_unlock(&p->mu);
  }
  if (n > SIZE_MAX - RX_BLOCK_STEP) return NULL;
  size_t cap = (n + RX_BLOCK_STEP - 1) / RX_BLOCK_STEP * RX_BLOCK_STEP;
  if (cap == 0) cap = RX_BLOCK_STEP;
  rx_block *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  b->data = aligned_alloc(64, cap);
  if (b->data == NULL) {
    free(b);
    return NULL;
  }
  b->cap = cap;
  if (p != NULL) {
    b->pool = p;
    atomic_fetch_add(&p->refs, 1);
  }
  return b;
}

/* arrowc_buf free callback: the block goes back to its pool (or is freed). */
static void block_done(void *ctx) {
  rx_block *b = ctx;
  flight_rx_pool *p = b->pool;
  if (p == NULL) {
    block_free(b);
    return;
  }
  pthread_mutex_lock(&p->mu);
  bool keep = !p->closed && p->cached + (int64_t)b->cap <= p->max_cached;
  if (keep) {
    b->next = p->free_list;
    p->free_list = b;
    p->cached += (int64_t)b->cap;
  }
  pthread_mutex_unlock(&p->mu);
  if (!keep) block_free(b);
  pool_unref(p);
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

mlr_code flight_rx_take(flight_rx_pool *pool, grpc_byte_buffer *bb, arrowc_buf **out,
                        mlr_error *err) {
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
