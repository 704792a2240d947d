/* Direct export of DuckDB data chunks into Arrow record batches: for results whose columns all
 * have a flat type, each batch's buffers are filled straight from the chunks' vectors in one
 * pass (one copy), instead of duckdb_data_chunk_to_arrow per chunk and db_coalesce per batch.
 * The batches are exactly what that path produces (formats, values, null counts, bit-packed
 * booleans); other results keep it. Private to src/db. */
#ifndef DB_EXPORT_H
#define DB_EXPORT_H

#include "mallard/arrow_c.h" /* Arrow structs before duckdb.h */

#include "common/mlr_error.h"

#include <duckdb.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct db_export db_export;

/* Plans the export of a result with ncols columns of these DuckDB types, whose Arrow schema is
 * schema (a "+s" made by duckdb_to_arrow_schema with the connection's options; the formats it
 * holds are the ones the batches get). *out = NULL with MALLARD_OK when some column's type is not
 * handled: the caller keeps duckdb_data_chunk_to_arrow + db_coalesce. batch_rows is the expected
 * number of rows per batch (buffers are sized for it ahead). Neither types nor schema is kept.
 * Ownership: db_export_free. */
mlr_code db_export_plan(const duckdb_logical_type *types, const struct ArrowSchema *schema,
                        int64_t batch_rows, db_export **out, mlr_error *err);

/* Appends the rows of chunk (a chunk of the planned result, as duckdb_fetch_chunk returns it:
 * flat vectors; not destroyed) to the batch under construction, which starts empty. On error the
 * batch is discarded. */
mlr_code db_export_append(db_export *x, duckdb_data_chunk chunk, mlr_error *err);

/* Rows in the batch under construction. */
int64_t db_export_rows(const db_export *x);

/* Hands the batch under construction over as *out (a "+s" array owning every buffer it points
 * to; out->release frees exactly those; children may be released on their own) and starts a new
 * empty one. */
mlr_code db_export_finish(db_export *x, struct ArrowArray *out, mlr_error *err);

/* Frees the exporter and any unfinished batch. NULL is a no-op. */
void db_export_free(db_export *x);

#endif /* DB_EXPORT_H */
