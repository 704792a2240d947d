/* A small cache of memory blocks shared by an owner and the buffers using them (see
 * arrowc_pool.h). */
#include "arrow/arrowc_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define ARROWC_POOL_MAX_BLOCKS 32

typedef struct pool_block {
  void *ptr;
  int64_t cap;
} pool_block;

struct arrowc_pool {
  atomic_int refs;
  pthread_mutex_t lock;
  pool_block blocks[ARROWC_POOL_MAX_BLOCKS];
  int n;
  int64_t bytes, max_bytes;
};

arrowc_pool *arrowc_pool_new(int64_t max_bytes) {
  arrowc_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->max_bytes = max_bytes;
  if (pthread_mutex_init(&p->lock, NULL) != 0) {
    free(p);
    return NULL;
  }
  atomic_init(&p->refs, 1);
  return p;
}

void arrowc_pool_ref(arrowc_pool *p) {
  atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void arrowc_pool_unref(arrowc_pool *p) {
  if (p == NULL || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
  for (int i = 0; i < p->n; i++) free(p->blocks[i].ptr);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

void *arrowc_pool_get(arrowc_pool *p, int64_t size, int64_t *cap) {
  int best = -1;
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < p->n; i++)
    if (p->blocks[i].cap >= size && p->blocks[i].cap / 2 <= size &&
        (best < 0 || p->blocks[i].cap < p->blocks[best].cap))
      best = i;
  void *ptr = NULL;
  if (best >= 0) {
    ptr = p->blocks[best].ptr;
    *cap = p->blocks[best].cap;
    p->bytes -= *cap;
    p->blocks[best] = p->blocks[--p->n];
  }
  pthread_mutex_unlock(&p->lock);
  if (ptr != NULL) return ptr;
  /* 64-byte aligned like arrowc_buf_alloc: decoded buffers are handed to Arrow consumers */
  if (size > INT64_MAX - 63) return NULL;
  int64_t rounded = size <= 0 ? 64 : (size + 63) & ~(int64_t)63;
  *cap = rounded;
  return aligned_alloc(64, (size_t)rounded);
}

void arrowc_pool_put(arrowc_pool *p, void *block, int64_t cap) {
  if (block == NULL) return;
  pthread_mutex_lock(&p->lock);
  if (p->n < ARROWC_POOL_MAX_BLOCKS && p->bytes + cap <= p->max_bytes) {
    p->blocks[p->n++] = (pool_block){block, cap};
    p->bytes += cap;
    block = NULL;
  }
  pthread_mutex_unlock(&p->lock);
  free(block);
}
