/* Internal to src/ipc: a cache of memory blocks for (de)compressed body buffers. */
#ifndef IPC_BUFPOOL_H
#define IPC_BUFPOOL_H

#include <stdint.h>

/* A small, thread-safe, reference-counted cache of memory blocks (64-byte aligned). An encoder
 * and every message holding its compressed buffers share one, as do a decoder and every array
 * viewing its decompressed buffers: a released block is reused by a later message instead of
 * being returned to the system and faulted in again (which costs as much system time as the
 * (de)compression itself with glibc's default malloc). */
typedef struct ipc_bufpool ipc_bufpool;
/* refcount 1; keeps at most 32 blocks and max_bytes in all; NULL when out of memory */
ipc_bufpool *ipc_bufpool_new(int64_t max_bytes);
void ipc_bufpool_ref(ipc_bufpool *p);
void ipc_bufpool_unref(ipc_bufpool *p); /* NULL is a no-op */
/* A block of at least `size` bytes (*cap says how many); NULL when out of memory. */
void *ipc_bufpool_get(ipc_bufpool *p, int64_t size, int64_t *cap);
/* Gives a block back (kept for reuse or freed). */
void ipc_bufpool_put(ipc_bufpool *p, void *block, int64_t cap);

#endif /* IPC_BUFPOOL_H */
