/* Building, copying and inspecting Arrow C Data Interface schemas (struct ArrowSchema): owned
 * schema construction, deep copy, format-string parsing and the binary custom-metadata encoding. */
#ifndef ARROWC_SCHEMA_H
#define ARROWC_SCHEMA_H

#include "common/mlr_error.h"
#include "mallard/arrow_c.h"

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------
 * Owned schemas
 *
 * A schema built here owns malloc'ed copies of its format, name and metadata, its children
 * array and each child, and its dictionary; its release callback frees all of them (and
 * releases children/dictionary through their own release callbacks). The setters below may
 * only be used on schemas built here (arrowc_schema_init or arrowc_schema_deep_copy).
 * ---------------------------------------------------------------------------------------- */

/* Initialises *out as an owned schema with a copy of `format` (required) and `name` (NULL
 * means no name), no metadata, no children, flags = ARROW_FLAG_NULLABLE. On failure *out is
 * left released (out->release == NULL). */
mlr_code arrowc_schema_init(struct ArrowSchema *out, const char *format, const char *name,
                            mlr_error *err);

mlr_code arrowc_schema_set_format(struct ArrowSchema *schema, const char *format, mlr_error *err);
mlr_code arrowc_schema_set_name(struct ArrowSchema *schema, const char *name, mlr_error *err);
/* Copies `metadata` (binary C-interface encoding, see below; NULL clears it). */
mlr_code arrowc_schema_set_metadata(struct ArrowSchema *schema, const char *metadata,
                                    mlr_error *err);

/* Allocates n_children child schemas, each zeroed (release == NULL): the caller must then
 * initialise every child (arrowc_schema_init, or move a schema into it) before handing the
 * parent out. The parent's release callback skips children whose release is NULL, so an
 * error half-way through can just release the parent. Replaces no existing children: it is
 * an error to call it twice. */
mlr_code arrowc_schema_alloc_children(struct ArrowSchema *schema, int64_t n_children,
                                      mlr_error *err);

/* Allocates a zeroed dictionary schema (release == NULL) for the caller to initialise. */
mlr_code arrowc_schema_alloc_dictionary(struct ArrowSchema *schema, mlr_error *err);

/* Deep-copies any valid schema (whoever produced it) into an owned schema. `src` is untouched.
 * On failure *dst is left released. */
mlr_code arrowc_schema_deep_copy(const struct ArrowSchema *src, struct ArrowSchema *dst,
                                 mlr_error *err);

/* Moves *src into *dst (dst must be released / zero) and marks src released. */
void arrowc_schema_move(struct ArrowSchema *src, struct ArrowSchema *dst);

/* Calls schema->release if set. NULL-safe. */
void arrowc_schema_release(struct ArrowSchema *schema);

/* ------------------------------------------------------------------------------------------
 * Format strings
 * (https://arrow.apache.org/docs/format/CDataInterface.html#data-type-description-format-strings)
 * ---------------------------------------------------------------------------------------- */

typedef enum arrowc_type {
  ARROWC_TYPE_NA = 0,
  ARROWC_TYPE_BOOL,
  ARROWC_TYPE_INT8,
  ARROWC_TYPE_UINT8,
  ARROWC_TYPE_INT16,
  ARROWC_TYPE_UINT16,
  ARROWC_TYPE_INT32,
  ARROWC_TYPE_UINT32,
  ARROWC_TYPE_INT64,
  ARROWC_TYPE_UINT64,
  ARROWC_TYPE_HALF_FLOAT,
  ARROWC_TYPE_FLOAT,
  ARROWC_TYPE_DOUBLE,
  ARROWC_TYPE_DECIMAL, /* decimal32/64/128/256: see bit_width */
  ARROWC_TYPE_STRING,
  ARROWC_TYPE_LARGE_STRING,
  ARROWC_TYPE_STRING_VIEW,
  ARROWC_TYPE_BINARY,
  ARROWC_TYPE_LARGE_BINARY,
  ARROWC_TYPE_BINARY_VIEW,
  ARROWC_TYPE_FIXED_SIZE_BINARY,
  ARROWC_TYPE_DATE32,
  ARROWC_TYPE_DATE64,
  ARROWC_TYPE_TIME32,
  ARROWC_TYPE_TIME64,
  ARROWC_TYPE_TIMESTAMP,
  ARROWC_TYPE_DURATION,
  ARROWC_TYPE_INTERVAL_MONTHS,
  ARROWC_TYPE_INTERVAL_DAY_TIME,
  ARROWC_TYPE_INTERVAL_MONTH_DAY_NANO,
  ARROWC_TYPE_LIST,
  ARROWC_TYPE_LARGE_LIST,
  ARROWC_TYPE_LIST_VIEW,
  ARROWC_TYPE_LARGE_LIST_VIEW,
  ARROWC_TYPE_FIXED_SIZE_LIST,
  ARROWC_TYPE_STRUCT,
  ARROWC_TYPE_MAP,
  ARROWC_TYPE_SPARSE_UNION,
  ARROWC_TYPE_DENSE_UNION,
  ARROWC_TYPE_RUN_END_ENCODED
} arrowc_type;

typedef enum arrowc_time_unit {
  ARROWC_SECOND = 0,
  ARROWC_MILLI = 1,
  ARROWC_MICRO = 2,
  ARROWC_NANO = 3
} arrowc_time_unit;

#define ARROWC_MAX_UNION_TYPES 128

/* A parsed format string. Pointers (timezone) point into the format string. */
typedef struct arrowc_format {
  arrowc_type type;
  int bit_width;         /* fixed-width types: bits per value (bool: 1); decimals: 32..256 */
  int32_t fixed_size;    /* fixed_size_binary: byte width; fixed_size_list: list size */
  int32_t precision;     /* decimal */
  int32_t scale;         /* decimal */
  arrowc_time_unit unit; /* time32/64, timestamp, duration */
  const char *timezone;  /* timestamp: zone text (not NUL-terminated at tz_len), may be empty */
  int64_t tz_len;
  int n_union_types;                             /* unions: number of type ids listed */
  int8_t union_type_ids[ARROWC_MAX_UNION_TYPES]; /* unions: type id of each child */
} arrowc_format;

/* Parses a format string; INVALID_ARGUMENT for a malformed or unknown one. */
mlr_code arrowc_format_parse(const char *format, arrowc_format *out, mlr_error *err);

/* Number of buffers an array of this type has in the C interface, validity buffer included
 * (null: 0, struct: 1, unions: 1 sparse / 2 dense, run-end encoded: 0). For utf8_view and
 * binary_view this is the fixed part (2: validity, views); such arrays add their variadic data
 * buffers and a final buffer of int64 variadic sizes. */
int arrowc_format_n_buffers(const arrowc_format *f);

/* ------------------------------------------------------------------------------------------
 * Custom metadata, binary encoding of the C interface: int32 n, then n times
 * (int32 key length, key bytes, int32 value length, value bytes), native-endian, no NULs.
 * ---------------------------------------------------------------------------------------- */

typedef struct arrowc_metadata_item {
  const char *key;
  int32_t key_len;
  const char *value;
  int32_t value_len;
} arrowc_metadata_item;

/* Total encoded size of `metadata` in bytes (0 for NULL). Trusts the encoding. */
int64_t arrowc_metadata_size(const char *metadata);
/* Number of key/value pairs (0 for NULL). */
int32_t arrowc_metadata_count(const char *metadata);
/* The i-th pair (0 <= i < count). Returns false if out of range. */
bool arrowc_metadata_item_at(const char *metadata, int32_t i, arrowc_metadata_item *out);
/* Looks up a key; returns false if absent. */
bool arrowc_metadata_get(const char *metadata, const char *key, arrowc_metadata_item *out);

/* Builder for an encoded metadata blob. Zero-initialise, append pairs, then take the result
 * (malloc'ed; caller frees, or passes it to arrowc_schema_set_metadata and frees) with
 * arrowc_metadata_builder_finish. arrowc_metadata_builder_reset frees an unfinished builder. */
typedef struct arrowc_metadata_builder {
  char *data;
  int64_t size;
  int64_t capacity;
  int32_t count;
} arrowc_metadata_builder;

mlr_code arrowc_metadata_builder_append(arrowc_metadata_builder *b, const char *key,
                                        int64_t key_len, const char *value, int64_t value_len,
                                        mlr_error *err);
/* Returns the encoded blob (NULL if no pairs were appended) and resets the builder. */
char *arrowc_metadata_builder_finish(arrowc_metadata_builder *b);
void arrowc_metadata_builder_reset(arrowc_metadata_builder *b);

#endif /* ARROWC_SCHEMA_H */
