/* A small bounds-checked flatbuffer reader (no I/O, no allocation): tables, scalars, strings,
 * vectors of scalars/structs/tables. Every access is checked against the buffer; a malformed
 * buffer yields MALLARD_INVALID_ARGUMENT, never an out-of-bounds read. */
#ifndef FB_READER_H
#define FB_READER_H

#include "common/mlr_error.h"

#include <stdbool.h>
#include <stdint.h>

/* A table inside a flatbuffer. Zeroed means "absent". */
typedef struct fbr_table {
  const uint8_t *buf;
  int64_t size;    /* of the whole flatbuffer */
  int64_t pos;     /* table start */
  int64_t vtable;  /* vtable start */
  uint16_t vt_len; /* vtable length in bytes */
  uint16_t tbl_len;
} fbr_table;

/* A vector inside a flatbuffer: `count` elements starting at `pos`. */
typedef struct fbr_vector {
  const uint8_t *buf;
  int64_t size;
  int64_t pos;
  int64_t count;
} fbr_vector;

/* Reads the root table of a flatbuffer. */
mlr_code fbr_root(const uint8_t *buf, int64_t size, fbr_table *out, mlr_error *err);

bool fbr_has(const fbr_table *t, int slot);

/* Scalars: `def` when the field is absent. */
mlr_code fbr_bool(const fbr_table *t, int slot, bool def, bool *out, mlr_error *err);
mlr_code fbr_i8(const fbr_table *t, int slot, int8_t def, int8_t *out, mlr_error *err);
mlr_code fbr_u8(const fbr_table *t, int slot, uint8_t def, uint8_t *out, mlr_error *err);
mlr_code fbr_i16(const fbr_table *t, int slot, int16_t def, int16_t *out, mlr_error *err);
mlr_code fbr_i32(const fbr_table *t, int slot, int32_t def, int32_t *out, mlr_error *err);
mlr_code fbr_i64(const fbr_table *t, int slot, int64_t def, int64_t *out, mlr_error *err);

/* Sub-table; *present = false (and out zeroed) when absent. */
mlr_code fbr_table_field(const fbr_table *t, int slot, fbr_table *out, bool *present,
                         mlr_error *err);
/* String (not NUL-terminated in the buffer); *present = false when absent. */
mlr_code fbr_string(const fbr_table *t, int slot, const char **data, int64_t *len, bool *present,
                    mlr_error *err);
/* Vector of elements of elem_size bytes (1/2/4/8 scalars, structs, or 4 for tables and
 * strings); absent means count 0. */
mlr_code fbr_vector_field(const fbr_table *t, int slot, int64_t elem_size, fbr_vector *out,
                          mlr_error *err);

/* Element access (index checked by the caller against count; checked again here). */
mlr_code fbr_vector_table(const fbr_vector *v, int64_t i, fbr_table *out, mlr_error *err);
mlr_code fbr_vector_string(const fbr_vector *v, int64_t i, const char **data, int64_t *len,
                           mlr_error *err);
/* Pointer to the i-th element of a vector of structs/scalars with elem_size bytes each
 * (the bytes are in bounds; read them with memcpy: no alignment is guaranteed). */
const uint8_t *fbr_vector_elem(const fbr_vector *v, int64_t i, int64_t elem_size);

/* Reads a little-endian scalar from unaligned memory. */
static inline int64_t fbr_read_i64(const uint8_t *p) {
  int64_t v;
  __builtin_memcpy(&v, p, 8);
  return v;
}
static inline int32_t fbr_read_i32(const uint8_t *p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

#endif /* FB_READER_H */
