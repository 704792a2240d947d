/* Filling and naming mlr_error / mallard_error values. */
#include "common/mlr_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mallard_code_name(mallard_code code) {
  static const char *const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  if ((int)code < 0 || (size_t)code >= sizeof names / sizeof names[0]) return "UNKNOWN";
  return names[code];
}

mlr_code mlr_error_set(mlr_error *err, mlr_code code, const char *fmt, ...) {
  if (err != NULL) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

void mlr_error_prefix(mlr_error *err, const char *fmt, ...) {
  if (err == NULL) return;
  char prefix[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  size_t plen = strlen(prefix);
  size_t mlen = strnlen(err->message, sizeof err->message - 1);
  if (plen >= sizeof err->message - 1) return;
  if (plen + mlen >= sizeof err->message) mlen = sizeof err->message - 1 - plen;
  memmove(err->message + plen, err->message, mlen);
  memcpy(err->message, prefix, plen);
  err->message[plen + mlen] = '\0';
}

void mlr_error_reset(mlr_error *err) {
  if (err == NULL) return;
  err->code = MALLARD_OK;
  err->message[0] = '\0';
}
