/* Process-wide allocator settings for Mallard's data path: called once at the start of main()
 * by every program that moves Arrow data (the `mallard` binary, the Flight test server). */
#ifndef MLR_ALLOC_H
#define MLR_ALLOC_H

/* glibc's defaults cost the data path dearly: each received gRPC message (megabytes, over many
 * 64 KiB slices) is coalesced into a fresh allocation that glibc mmaps or trims back to the
 * kernel when freed, so every message page-faults its memory in again; and each of the many
 * gRPC/DuckDB threads gets an arena keeping its own free memory. Measured on 2 cores, 24M rows:
 * the `processed` exchange's server CPU -43% (peak RSS 163 vs 170 MiB), DoPut's -14% (peak
 * +5-10%). Sets: blocks over 32 MiB get their own mapping, up to 256 MiB of free heap is kept,
 * one arena per core. An operator's MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ /
 * MALLOC_ARENA_MAX variables win. Not thread-safe: call before starting threads. No-op off glibc.
 */
void mlr_tune_allocator(void);

#endif /* MLR_ALLOC_H */
