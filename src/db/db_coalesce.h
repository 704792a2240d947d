/* Concatenation of Arrow arrays of one schema (DuckDB's ~2048-row chunks) into one array that
 * owns its buffers: one memcpy per buffer per input where the layout allows it. */
#ifndef DB_COALESCE_H
#define DB_COALESCE_H

#include "common/mlr_error.h"
#include "mallard/arrow_c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if every node of schema has a layout db_coalesce handles (fixed-width, boolean, null,
 * binary/string with 32/64-bit offsets, list, large list, fixed-size list, struct, map, sparse
 * union, dictionary). String views, dense unions, run-end and list views are not. */
bool db_coalesce_supported(const struct ArrowSchema *schema);

/* Concatenates arrays[0..n) (each described by schema; not released) into *out, a new array
 * owning every buffer it points to; out->release frees exactly those. n >= 1. */
mlr_code db_coalesce(const struct ArrowSchema *schema, struct ArrowArray *const *arrays, int64_t n,
                     struct ArrowArray *out, mlr_error *err);

/* Copies rows [start, start+len) of array (a column of a record batch; relative to its offset)
 * into *out, a new array with offset 0 owning its buffers. */
mlr_code db_coalesce_range(const struct ArrowSchema *schema, const struct ArrowArray *array,
                           int64_t start, int64_t len, struct ArrowArray *out, mlr_error *err);

/* A buffer for an Arrow array built here (db_coalesce, db_export): 64-byte aligned, as the Arrow
 * format recommends, size rounded up to 64 and never 0 bytes. NULL when out of memory; free(). */
void *db_buffer_alloc(int64_t size);

/* Sets bit i of a bitmap to v. */
static inline void db_bit_put(uint8_t *b, int64_t i, bool v) {
  if (v)
    b[i >> 3] |= (uint8_t)(1u << (i & 7));
  else
    b[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/* Number of unset bits in [start, start+len) of a validity bitmap. */
int64_t db_count_nulls(const uint8_t *validity, int64_t start, int64_t len);

/* Looks key up in an Arrow schema's binary metadata (md may be NULL); copies the value,
 * truncated to out_size-1 bytes, into out. Metadata from DuckDB is trusted to be well formed. */
bool db_arrow_metadata_get(const char *md, const char *key, char *out, size_t out_size);

/* True for DuckDB's lossless BOOLEAN export ("c" + arrow.bool8): db_coalesce turns it into a
 * bit-packed boolean ("b"), which is what Arrow clients expect. */
bool db_arrow_is_bool8(const struct ArrowSchema *s);

/* Rewrites arrow.bool8 nodes of a schema made by DuckDB into plain booleans, in place. */
void db_arrow_schema_unbool8(struct ArrowSchema *s);

#endif /* DB_COALESCE_H */
