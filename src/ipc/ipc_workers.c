/* Worker threads of one encoder or decoder (see ipc_workers.h): tasks are handed out one at a
 * time under a mutex (a task compresses or decompresses a whole buffer, so the lock is cheap
 * by comparison) and the caller works alongside the threads. */
#include "ipc/ipc_workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define IPC_WORKERS_MAX 64

struct ipc_workers {
  int slots;   /* threads + the caller */
  int started; /* worker threads running */
  bool tried;  /* threads were started (or that failed) */
  pthread_t threads[IPC_WORKERS_MAX];
  pthread_mutex_t lock;
  pthread_cond_t work; /* a job has tasks left, or stop */
  pthread_cond_t done; /* the job's last task finished */
  bool stop;
  /* the current job, all guarded by lock */
  ipc_task_fn fn;
  void *ctx;
  int64_t n, next, finished;
};

typedef struct worker_arg {
  ipc_workers *w;
  int slot;
} worker_arg;

/* Claims and runs tasks of the current job until none is left; called with the lock held,
 * returns with it held. */
static void run_tasks(ipc_workers *w, int slot) {
  while (w->next < w->n) {
    int64_t i = w->next++;
    ipc_task_fn fn = w->fn;
    void *ctx = w->ctx;
    pthread_mutex_unlock(&w->lock);
    fn(ctx, i, slot);
    pthread_mutex_lock(&w->lock);
    if (++w->finished == w->n) pthread_cond_signal(&w->done);
  }
}

static void *worker_main(void *p) {
  worker_arg a = *(worker_arg *)p;
  free(p);
  ipc_workers *w = a.w;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (!w->stop && w->next >= w->n) pthread_cond_wait(&w->work, &w->lock);
    if (w->stop) break;
    run_tasks(w, a.slot);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

ipc_workers *ipc_workers_new(int n_threads) {
  ipc_workers *w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  w->slots = n_threads < 1 ? 1 : n_threads > IPC_WORKERS_MAX ? IPC_WORKERS_MAX : n_threads;
  if (pthread_mutex_init(&w->lock, NULL) != 0) {
    free(w);
    return NULL;
  }
  if (pthread_cond_init(&w->work, NULL) != 0) {
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
  }
  if (pthread_cond_init(&w->done, NULL) != 0) {
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
  }
  return w;
}

int ipc_workers_slots(const ipc_workers *w) {
  return w->slots;
}

/* Starts the worker threads; called with the lock not held. */
static void start_threads(ipc_workers *w) {
  w->tried = true;
  for (int s = 1; s < w->slots; s++) {
    worker_arg *a = malloc(sizeof *a);
    if (a == NULL) break;
    *a = (worker_arg){w, s};
    if (pthread_create(&w->threads[w->started], NULL, worker_main, a) != 0) {
      free(a);
      break;
    }
    w->started++;
  }
}

void ipc_workers_run(ipc_workers *w, int64_t n, ipc_task_fn fn, void *ctx) {
  if (n <= 0) return;
  if (!w->tried) start_threads(w);
  pthread_mutex_lock(&w->lock);
  w->fn = fn;
  w->ctx = ctx;
  w->n = n;
  w->next = 0;
  w->finished = 0;
  if (w->started > 0) pthread_cond_broadcast(&w->work);
  run_tasks(w, 0);
  while (w->finished < w->n) pthread_cond_wait(&w->done, &w->lock);
  /* next == n: a worker waking up late finds nothing to claim */
  w->fn = NULL;
  w->ctx = NULL;
  pthread_mutex_unlock(&w->lock);
}

void ipc_workers_free(ipc_workers *w) {
  if (w == NULL) return;
  pthread_mutex_lock(&w->lock);
  w->stop = true;
  pthread_cond_broadcast(&w->work);
  pthread_mutex_unlock(&w->lock);
  for (int i = 0; i < w->started; i++) pthread_join(w->threads[i], NULL);
  pthread_cond_destroy(&w->done);
  pthread_cond_destroy(&w->work);
  pthread_mutex_destroy(&w->lock);
  free(w);
}
