/* The one error type used from the IPC codec up to the server (see include/mallard/status.h):
 * helpers to fill it and to propagate failures. */
#ifndef MLR_ERROR_H
#define MLR_ERROR_H

#include "mallard/status.h"

#include <stddef.h>
#include <stdint.h>

typedef mallard_code mlr_code;
typedef mallard_error mlr_error;

/* Stores code and a printf-formatted message into err (if non-NULL); returns code. */
mlr_code mlr_error_set(mlr_error *err, mlr_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with a printf-formatted context ("column 'x': ..."). */
void mlr_error_prefix(mlr_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets err to OK with an empty message. */
void mlr_error_reset(mlr_error *err);

#define MLR_RETURN_NOT_OK(expr)                                                                    \
  do {                                                                                             \
    mlr_code mlr_rc_ = (expr);                                                                     \
    if (mlr_rc_ != MALLARD_OK) return mlr_rc_;                                                     \
  } while (0)

/* Overflow-checked size arithmetic: return nonzero on overflow. */
static inline int mlr_add_overflow_i64(int64_t a, int64_t b, int64_t *out) {
  return __builtin_add_overflow(a, b, out);
}
static inline int mlr_mul_overflow_i64(int64_t a, int64_t b, int64_t *out) {
  return __builtin_mul_overflow(a, b, out);
}

#endif /* MLR_ERROR_H */
