/* fb_builder: a minimal FlatBuffers builder (no I/O) for the Arrow IPC metadata tables. Builds
 * back to front like the reference implementation: children (strings, vectors, tables) are
 * created before the table that refers to them, then fbb_finish() writes the root offset.
 * Assumes a little-endian host (as Arrow IPC does). */
#ifndef FB_BUILDER_H
#define FB_BUILDER_H

#include "common/mlr_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A reference to an object already in the buffer: its distance from the buffer's end. */
typedef uint32_t fbb_ref;

#define FBB_MAX_SLOTS 16

typedef struct fbb {
  uint8_t *buf; /* data lives in buf[cap - size, cap) */
  size_t cap;   /* multiple of 8 */
  size_t size;  /* bytes written so far */
  size_t minalign;
  bool failed; /* out of memory or misuse: reported by fbb_finish */
  /* table under construction */
  bool in_table;
  size_t table_start;
  int n_slots;
  fbb_ref slots[FBB_MAX_SLOTS]; /* 0 = absent */
} fbb;

void fbb_init(fbb *b);
void fbb_release(fbb *b);

/* Strings and vectors (elements copied as little-endian bytes). */
fbb_ref fbb_string(fbb *b, const char *s, size_t len);
fbb_ref fbb_vector(fbb *b, const void *elems, size_t elem_size, size_t count, size_t align);
/* A vector of offsets to tables/strings, in the given order. */
fbb_ref fbb_vector_refs(fbb *b, const fbb_ref *refs, size_t count);

/* Tables: start, add fields (slot = field index in the schema, 0-based), end. Fields whose
 * objects are referenced (strings, vectors, tables) must have been built before start. */
void fbb_table_start(fbb *b);
void fbb_add_u8(fbb *b, int slot, uint8_t v);
void fbb_add_i16(fbb *b, int slot, int16_t v);
void fbb_add_i32(fbb *b, int slot, int32_t v);
void fbb_add_i64(fbb *b, int slot, int64_t v);
void fbb_add_ref(fbb *b, int slot, fbb_ref ref);
void fbb_add_struct(fbb *b, int slot, const void *data, size_t size, size_t align);
fbb_ref fbb_table_end(fbb *b);

/* Writes the root offset and hands the finished buffer to the caller (malloc'ed, 8-byte
 * aligned start, size a multiple of 8 when built with 8-byte fields). The builder is reset. */
mlr_code fbb_finish(fbb *b, fbb_ref root, uint8_t **out, int64_t *out_size, mlr_error *err);

#endif /* FB_BUILDER_H */
