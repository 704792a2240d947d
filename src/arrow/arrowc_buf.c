/* Reference-counted byte buffers (see arrowc_buf.h). */
#include "arrow/arrowc_buf.h"

#include <stdatomic.h>
#include <stdlib.h>

struct arrowc_buf {
  atomic_int refs;
  const uint8_t *data;
  int64_t size;
  void (*free_fn)(void *);
  void *free_ctx;
  arrowc_buf *parent; /* for slices */
  void *owned;        /* for arrowc_buf_alloc */
};

arrowc_buf *arrowc_buf_alloc(int64_t size) {
  if (size < 0) return NULL;
  arrowc_buf *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  size_t rounded = ((size_t)size + 63u) & ~(size_t)63u;
  b->owned = aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (b->owned == NULL) {
    free(b);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->data = b->owned;
  b->size = size;
  return b;
}

arrowc_buf *arrowc_buf_wrap(const void *data, int64_t size, void (*free_fn)(void *),
                            void *free_ctx) {
  arrowc_buf *b = calloc(1, sizeof *b);
  if (b == NULL || size < 0) {
    free(b);
    if (free_fn != NULL) free_fn(free_ctx);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->data = data;
  b->size = size;
  b->free_fn = free_fn;
  b->free_ctx = free_ctx;
  return b;
}

arrowc_buf *arrowc_buf_slice(arrowc_buf *parent, int64_t offset, int64_t size) {
  if (parent == NULL || offset < 0 || size < 0 || offset > parent->size ||
      size > parent->size - offset)
    return NULL;
  arrowc_buf *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  atomic_init(&b->refs, 1);
  b->data = parent->data + offset;
  b->size = size;
  arrowc_buf_ref(parent);
  b->parent = parent;
  return b;
}

void arrowc_buf_ref(arrowc_buf *buf) {
  if (buf != NULL) atomic_fetch_add_explicit(&buf->refs, 1, memory_order_relaxed);
}

void arrowc_buf_unref(arrowc_buf *buf) {
  if (buf == NULL) return;
  if (atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel) != 1) return;
  if (buf->free_fn != NULL) buf->free_fn(buf->free_ctx);
  free(buf->owned);
  arrowc_buf_unref(buf->parent);
  free(buf);
}

const uint8_t *arrowc_buf_data(const arrowc_buf *buf) {
  return buf->data;
}

uint8_t *arrowc_buf_mutable_data(arrowc_buf *buf) {
  return buf->owned;
}

int64_t arrowc_buf_size(const arrowc_buf *buf) {
  return buf->size;
}
