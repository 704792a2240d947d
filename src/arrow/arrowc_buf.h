/* arrowc_buf: a reference-counted, immutable byte buffer. It is how bytes received from the
 * network (a gRPC slice) or produced by a codec stay alive exactly as long as some Arrow array
 * that views them: each such array holds one reference and drops it in its release callback. */
#ifndef ARROWC_BUF_H
#define ARROWC_BUF_H

#include <stdint.h>

typedef struct arrowc_buf arrowc_buf;

/* Allocates a buffer of `size` bytes, 64-byte aligned, contents uninitialised, refcount 1.
 * Returns NULL when out of memory. The caller may write into arrowc_buf_mutable_data() until
 * it shares the buffer. */
arrowc_buf *arrowc_buf_alloc(int64_t size);

/* Wraps bytes owned elsewhere, refcount 1. When the count drops to 0, free_fn(free_ctx) runs
 * (free_fn may be NULL for static data). Returns NULL when out of memory, after calling
 * free_fn(free_ctx) itself so that the caller never leaks. */
arrowc_buf *arrowc_buf_wrap(const void *data, int64_t size, void (*free_fn)(void *free_ctx),
                            void *free_ctx);

/* A new buffer viewing [offset, offset+size) of parent; holds a reference on parent.
 * The range must lie inside the parent (checked: returns NULL otherwise or when out of memory). */
arrowc_buf *arrowc_buf_slice(arrowc_buf *parent, int64_t offset, int64_t size);

void arrowc_buf_ref(arrowc_buf *buf);   /* thread-safe */
void arrowc_buf_unref(arrowc_buf *buf); /* thread-safe; NULL is a no-op */

const uint8_t *arrowc_buf_data(const arrowc_buf *buf);
uint8_t *arrowc_buf_mutable_data(arrowc_buf *buf); /* only for arrowc_buf_alloc buffers */
int64_t arrowc_buf_size(const arrowc_buf *buf);

#endif /* ARROWC_BUF_H */
