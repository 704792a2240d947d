/* Owned Arrow C Data Interface arrays whose buffers are arrowc_buf references, shared
 * (reference-counted) arrays viewed by several owners (dictionaries), and full validation
 * of an array against its schema. */
#ifndef ARROWC_ARRAY_H
#define ARROWC_ARRAY_H

#include "arrow/arrowc_buf.h"
#include "arrow/arrowc_schema.h"
#include "common/mlr_error.h"
#include "mallard/arrow_c.h"

#include <stdint.h>

/* Initialises *out as an owned array with n_buffers NULL buffers and n_children zeroed
 * children (release == NULL; the caller initialises each). length/offset/null_count are 0.
 * Its release callback unreferences every buffer set with arrowc_array_set_buffer, releases
 * children whose release is set (then frees them) and the dictionary, if any.
 * On failure *out is left released. */
mlr_code arrowc_array_init(struct ArrowArray *out, int64_t n_buffers, int64_t n_children,
                           mlr_error *err);

/* Sets buffer i of an owned array to `data`, keeping `owner` alive (the array takes over the
 * caller's reference on owner; owner may be NULL for static data). */
void arrowc_array_set_buffer(struct ArrowArray *array, int64_t i, const void *data,
                             arrowc_buf *owner);

/* Allocates a zeroed dictionary array (release == NULL) for the caller to fill. */
mlr_code arrowc_array_alloc_dictionary(struct ArrowArray *array, mlr_error *err);

/* Calls array->release if set. NULL-safe. */
void arrowc_array_release(struct ArrowArray *array);

/* A reference-counted array: several ArrowArray views share one underlying array (e.g. one
 * decoded dictionary attached to many record batches). */
typedef struct arrowc_shared_array arrowc_shared_array;

/* Takes ownership of *array (moved: array->release is set to NULL). Returns NULL on OOM
 * (the array is released then). Refcount 1. */
arrowc_shared_array *arrowc_shared_array_new(struct ArrowArray *array);
void arrowc_shared_array_ref(arrowc_shared_array *s);
void arrowc_shared_array_unref(arrowc_shared_array *s); /* NULL is a no-op */
const struct ArrowArray *arrowc_shared_array_get(const arrowc_shared_array *s);
/* Fills *out with a view of the shared array (same buffers; its own struct tree) that keeps
 * the shared array alive until out is released. */
mlr_code arrowc_shared_array_view(arrowc_shared_array *s, struct ArrowArray *out, mlr_error *err);

/* Validates array against schema fully: buffer/child counts, lengths and offsets, null
 * counts, offsets buffers (monotonic, within the child or, for view types, within the
 * variadic buffer sizes), union type ids and dense offsets, dictionary indices, run ends,
 * nested to any depth (arrowc_validate.c). It cannot know the size of a utf8/binary data buffer:
 * callers that know it (the IPC decoder) check the last offset themselves. The error names the
 * column path ("column 'a.b': ..."). */
mlr_code arrowc_array_validate(const struct ArrowSchema *schema, const struct ArrowArray *array,
                               mlr_error *err);

/* Whether slot j (the array's offset included) of an array is not null. */
static inline bool arrowc_slot_valid(const struct ArrowArray *a, int64_t j) {
  const uint8_t *v = a->buffers[0];
  return v == NULL || ((v[j >> 3] >> (j & 7)) & 1);
}

/* For a decimal32/64/128 array (not nested): the index of the first non-null value with more
 * digits than the type's precision (|v| >= 10^precision), or -1 when all fit or the array is
 * of another type. Arrow readers do not check this (its integration files hold such values);
 * a store that narrows decimals to the precision's width must (DuckDB turns them into other
 * numbers). The array must be valid. */
int64_t arrowc_decimal_first_overflow(const struct ArrowSchema *schema,
                                      const struct ArrowArray *array);

/* Flags of arrowc_array_validate_ex. */
enum {
  /* Check dictionary indices against the dictionary's length but not the dictionary's own
   * contents (for a dictionary already validated when it was decoded). */
  ARROWC_VALIDATE_SKIP_DICTIONARY_VALUES = 1,
  /* Only the checks that cost O(1) per buffer, like Arrow C++'s Validate() (vs ValidateFull()):
   * buffer and child counts, lengths and null counts within range, children long enough, the
   * first and last offsets of each offsets buffer, the last run end. Skipped: the offsets in
   * between, list-view offsets and sizes, string/binary views, union type ids and dense
   * offsets, dictionary indices, increasing run ends, null counts against bitmaps. For trusted
   * input only (ipc.h's IPC_VALIDATE_STRUCTURAL): an array that passes it can still make a
   * reader index out of bounds. */
  ARROWC_VALIDATE_STRUCTURAL = 2
};
mlr_code arrowc_array_validate_ex(const struct ArrowSchema *schema, const struct ArrowArray *array,
                                  int flags, mlr_error *err);

#endif /* ARROWC_ARRAY_H */
