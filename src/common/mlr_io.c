/* See mlr_io.h. */
#include "common/mlr_io.h"

#include <errno.h>
#include <stdlib.h>

int mlr_read_all(FILE *f, size_t limit, char **out, size_t *len) {
  *out = NULL;
  if (len != NULL) *len = 0;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return ENOMEM;
  for (;;) {
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (limit > 0 && n > limit) {
      free(buf);
      return EFBIG;
    }
    if (got == 0) break;
    if (n + 1 == cap) {
      char *nb = cap <= (size_t)-1 / 2 ? realloc(buf, cap * 2) : NULL;
      if (nb == NULL) {
        free(buf);
        return ENOMEM;
      }
      buf = nb;
      cap *= 2;
    }
  }
  if (ferror(f)) {
    free(buf);
    return EIO;
  }
  buf[n] = '\0';
  *out = buf;
  if (len != NULL) *len = n;
  return 0;
}
