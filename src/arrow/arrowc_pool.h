/* A cache of memory blocks for Arrow buffers that come and go at a steady size: the IPC
 * codec's (de)compressed body buffers, the Flight transport's received messages. */
#ifndef ARROWC_POOL_H
#define ARROWC_POOL_H

#include <stdint.h>

/* A small, thread-safe, reference-counted cache of memory blocks (64-byte aligned). An owner
 * (an encoder, a decoder, a server's receive path) and everything holding its blocks share one
 * (each holder takes a reference): a released block is reused by a later message instead of
 * being returned to the system and faulted in again (which costs as much system time as the
 * (de)compression itself with glibc's default malloc). */
typedef struct arrowc_pool arrowc_pool;
/* refcount 1; keeps at most 32 blocks and max_bytes in all; NULL when out of memory */
arrowc_pool *arrowc_pool_new(int64_t max_bytes);
void arrowc_pool_ref(arrowc_pool *p);
void arrowc_pool_unref(arrowc_pool *p); /* NULL is a no-op */
/* A block of at least `size` bytes (*cap says how many): the smallest cached block that fits
 * and is at most twice `size` (a small buffer does not pin a big block), else a new one. NULL
 * when out of memory. */
void *arrowc_pool_get(arrowc_pool *p, int64_t size, int64_t *cap);
/* Gives a block back (kept for reuse or freed). */
void arrowc_pool_put(arrowc_pool *p, void *block, int64_t cap);

#endif /* ARROWC_POOL_H */
