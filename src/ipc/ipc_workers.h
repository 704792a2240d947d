/* A small set of worker threads owned by one encoder or decoder, for compressing or
 * decompressing the buffers of a message in parallel: no global pool, threads started on first
 * use and joined when the set is freed. Internal to src/ipc. */
#ifndef IPC_WORKERS_H
#define IPC_WORKERS_H

#include <stdint.h>

/* Below this many bytes to (de)compress in a message, the calling thread does it alone:
 * handing work to another thread would cost more than it saves. */
#define IPC_PARALLEL_MIN_BYTES ((int64_t)1 << 20)

typedef struct ipc_workers ipc_workers;

/* One task: `slot` is the index of the thread running it, in [0, n_threads) (0 = the calling
 * thread), for per-thread state such as compression contexts. */
typedef void (*ipc_task_fn)(void *ctx, int64_t task, int slot);

/* A set of n_threads (>= 2, the calling thread included; capped at 64); no thread is started
 * yet. NULL when out of memory. Ownership: the creator frees it with ipc_workers_free. */
ipc_workers *ipc_workers_new(int n_threads);
/* Stops and joins the threads and frees the set. NULL is a no-op. */
void ipc_workers_free(ipc_workers *w);
/* The number of slots (the n_threads given to ipc_workers_new, after the cap). */
int ipc_workers_slots(const ipc_workers *w);

/* Runs fn(ctx, i, slot) for every i in [0, n) on the calling thread and the workers, and
 * returns once all n have returned. Starts the workers on first use; if a thread cannot be
 * started, the others (or the calling thread alone) do the work. Not reentrant: one run at a
 * time per set (an encoder or decoder is used by one thread at a time). */
void ipc_workers_run(ipc_workers *w, int64_t n, ipc_task_fn fn, void *ctx);

#endif /* IPC_WORKERS_H */
