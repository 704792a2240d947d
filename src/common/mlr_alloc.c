/* See mlr_alloc.h. */
#include "common/mlr_alloc.h"

#include <stdlib.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void mlr_tune_allocator(void) {
#if defined(__GLIBC__)
  if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL) mallopt(M_MMAP_THRESHOLD, 32 << 20);
  if (getenv("MALLOC_TRIM_THRESHOLD_") == NULL) mallopt(M_TRIM_THRESHOLD, 256 << 20);
  if (getenv("MALLOC_ARENA_MAX") == NULL) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, cpus < 2 ? 2 : cpus > 64 ? 64 : (int)cpus);
  }
#endif
}
