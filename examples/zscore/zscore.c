/* mallard_zscore: a native exchanger (see include/mallard/exchanger.h) that appends the running
 * z-score of a numeric column, computed with Welford's streaming mean and variance, so that each
 * row is scored against every row seen so far in the stream (itself included).
 *
 * Params: {"column": "delay", "output": "delay_zscore"}; "output" defaults to "<column>_zscore".
 * The new column is DOUBLE, NULL where the value is NULL or fewer than two distinct values were
 * seen (population standard deviation 0). The input columns are passed through without a copy. */
#include "mallard/exchanger.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef struct zstate {
  int64_t column; /* index of the scored column in the input */
  char format[4]; /* its Arrow format */
  int64_t n;      /* non-null values seen */
  double mean;
  double m2; /* sum of squared deviations from the mean */
} zstate;

static int fail(char *error, size_t size, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *error, size_t size, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, size, fmt, ap);
  va_end(ap);
  return code;
}

/* ---------------------------------------------------------------- params (tiny JSON reader) */

/* Finds "key": "value" in a flat JSON object and copies the value (no escapes supported beyond
 * \" and \\, which is enough for column names). Returns 1 found, 0 absent, -1 malformed. */
static int json_string_member(const char *json, const char *key, char *out, size_t out_size) {
  if (json == NULL) return 0;
  size_t klen = strlen(key);
  for (const char *p = json; (p = strchr(p, '"')) != NULL;) {
    const char *k = p + 1;
    const char *kend = k;
    while (*kend != '\0' && *kend != '"') kend += (*kend == '\\' && kend[1] != '\0') ? 2 : 1;
    if (*kend != '"') return -1;
    const char *q = kend + 1;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    if (*q != ':') {
      p = kend + 1; /* a string value, not a key */
      continue;
    }
    q++;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    if ((size_t)(kend - k) == klen && strncmp(k, key, klen) == 0) {
      if (*q != '"') return -1;
      size_t n = 0;
      for (q++; *q != '\0' && *q != '"'; q++) {
        if (*q == '\\' && q[1] != '\0') q++;
        if (n + 1 >= out_size) return -1;
        out[n++] = *q;
      }
      if (*q != '"') return -1;
      out[n] = '\0';
      return 1;
    }
    p = q;
  }
  return 0;
}

/* ---------------------------------------------------------------- output schema */

static void schema_release(struct ArrowSchema *s) {
  if (s == NULL || s->release == NULL) return;
  for (int64_t i = 0; i < s->n_children; i++) {
    if (s->children[i]->release != NULL) s->children[i]->release(s->children[i]);
    free(s->children[i]);
  }
  free(s->children);
  free((void *)s->format);
  free((void *)s->name);
  free((void *)s->metadata);
  s->release = NULL;
}

static size_t metadata_len(const char *md) {
  if (md == NULL) return 0;
  int32_t n, len;
  memcpy(&n, md, 4);
  size_t pos = 4;
  for (int32_t i = 0; i < 2 * n; i++) {
    memcpy(&len, md + pos, 4);
    pos += 4 + (size_t)len;
  }
  return pos;
}

/* Copies one flat field (name, format, flags, metadata); nested types are copied only at the top
 * level of the input, so nested columns are refused by init. */
static int copy_field(const struct ArrowSchema *src, const char *name, const char *format,
                      int64_t flags, struct ArrowSchema *dst) {
  memset(dst, 0, sizeof *dst);
  dst->release = schema_release;
  dst->format = strdup(format);
  dst->name = name != NULL ? strdup(name) : NULL;
  dst->flags = flags;
  if (src != NULL && src->metadata != NULL) {
    size_t n = metadata_len(src->metadata);
    char *md = malloc(n);
    if (md != NULL) memcpy(md, src->metadata, n);
    dst->metadata = md;
    if (md == NULL) return -1;
  }
  return dst->format == NULL || (name != NULL && dst->name == NULL) ? -1 : 0;
}

static bool is_flat(const struct ArrowSchema *f) {
  return f->n_children == 0 && f->dictionary == NULL && f->format[0] != '+';
}

/* ---------------------------------------------------------------- ABI */

static int z_init(const char *params_json, const struct ArrowSchema *in, void **state,
                  struct ArrowSchema *out, char *error, size_t error_size) {
  char column[256], output[300];
  int r = json_string_member(params_json, "column", column, sizeof column);
  if (r <= 0) {
    return fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT,
                "params need \"column\": the numeric column to score, e.g. "
                "{\"exchanger\": \"zscore\", \"params\": {\"column\": \"delay\"}}");
  }
  r = json_string_member(params_json, "output", output, sizeof output);
  if (r < 0) return fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT, "bad \"output\"");
  if (r == 0) snprintf(output, sizeof output, "%s_zscore", column);
  if (strcmp(in->format, "+s") != 0) {
    return fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT, "input is not a struct");
  }
  int64_t idx = -1;
  for (int64_t i = 0; i < in->n_children; i++) {
    if (in->children[i]->name != NULL && strcmp(in->children[i]->name, column) == 0) idx = i;
  }
  if (idx < 0) {
    return fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT,
                "the input has no column '%s'", column);
  }
  static const char *const numeric = "cCsSiIlLfg";
  const char *fmt = in->children[idx]->format;
  if (strlen(fmt) != 1 || strchr(numeric, fmt[0]) == NULL) {
    return fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT,
                "column '%s' has Arrow type '%s'; zscore needs an integer or floating-point column",
                column, fmt);
  }
  for (int64_t i = 0; i < in->n_children; i++) {
    if (!is_flat(in->children[i])) {
      return fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT,
                  "column '%s' is nested; this example passes through flat columns only",
                  in->children[i]->name ? in->children[i]->name : "");
    }
  }
  zstate *st = calloc(1, sizeof *st);
  if (st == NULL) return fail(error, error_size, MALLARD_EXCHANGER_RESOURCE_EXHAUSTED, "no memory");
  st->column = idx;
  snprintf(st->format, sizeof st->format, "%s", fmt);

  memset(out, 0, sizeof *out);
  int bad = copy_field(in, in->name, "+s", in->flags, out);
  out->children = calloc((size_t)in->n_children + 1, sizeof *out->children);
  bad |= out->children == NULL;
  for (int64_t i = 0; !bad && i <= in->n_children; i++) {
    struct ArrowSchema *c = calloc(1, sizeof *c);
    if (c == NULL) {
      bad = 1;
      break;
    }
    out->children[i] = c;
    out->n_children = i + 1;
    bad |= i < in->n_children ? copy_field(in->children[i], in->children[i]->name,
                                           in->children[i]->format, in->children[i]->flags, c)
                              : copy_field(NULL, output, "g", ARROW_FLAG_NULLABLE, c);
  }
  if (bad) {
    schema_release(out);
    free(st);
    return fail(error, error_size, MALLARD_EXCHANGER_RESOURCE_EXHAUSTED, "no memory");
  }
  *state = st;
  return MALLARD_EXCHANGER_OK;
}

/* The output batch: the input's children (not copied: released by the input's own release) and
 * the z-score column, which can be released on its own if a consumer moves it out. */
typedef struct zcol {
  const void *buffers[2];
  uint8_t *validity;
  double *values;
} zcol;

typedef struct zbatch {
  struct ArrowArray input;
  struct ArrowArray z;
  const void *buffers[1];
  struct ArrowArray *children[];
} zbatch;

static void zcol_release(struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return;
  zcol *c = a->private_data;
  free(c->validity);
  free(c->values);
  free(c);
  a->release = NULL;
}

static void zbatch_release(struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return;
  zbatch *b = a->private_data;
  if (b->z.release != NULL) b->z.release(&b->z);
  if (b->input.release != NULL) b->input.release(&b->input);
  free(b);
  a->release = NULL;
}

static bool valid(const struct ArrowArray *a, int64_t i) {
  const uint8_t *v = a->n_buffers > 0 && a->buffers != NULL ? a->buffers[0] : NULL;
  return v == NULL || (v[i >> 3] >> (i & 7)) & 1;
}

static double value_at(const struct ArrowArray *a, char f, int64_t i) {
  const void *d = a->buffers[1];
  switch (f) {
  case 'c':
    return ((const int8_t *)d)[i];
  case 'C':
    return ((const uint8_t *)d)[i];
  case 's':
    return ((const int16_t *)d)[i];
  case 'S':
    return ((const uint16_t *)d)[i];
  case 'i':
    return ((const int32_t *)d)[i];
  case 'I':
    return ((const uint32_t *)d)[i];
  case 'l':
    return (double)((const int64_t *)d)[i];
  case 'L':
    return (double)((const uint64_t *)d)[i];
  case 'f':
    return ((const float *)d)[i];
  default:
    return ((const double *)d)[i];
  }
}

static int z_on_batch(void *state, struct ArrowArray *in, mallard_exchanger_emit_fn emit,
                      void *emit_ctx, char *error, size_t error_size) {
  zstate *st = state;
  zbatch *b = NULL;
  zcol *zc = NULL;
  int rc = MALLARD_EXCHANGER_OK;
  if (in->n_children <= st->column || in->length < 0 || in->offset < 0) {
    rc = fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT, "batch has too few columns");
    goto done;
  }
  const struct ArrowArray *col = in->children[st->column];
  int64_t rows = in->offset + in->length; /* children are indexed from the parent's offset */
  if (col->length < rows || col->n_buffers < 2) {
    rc = fail(error, error_size, MALLARD_EXCHANGER_INVALID_ARGUMENT, "column is too short");
    goto done;
  }
  b = malloc(sizeof *b + (size_t)(in->n_children + 1) * sizeof(struct ArrowArray *));
  zc = calloc(1, sizeof *zc);
  if (b == NULL || zc == NULL) goto oom;
  zc->values = malloc((size_t)(rows > 0 ? rows : 1) * sizeof(double));
  zc->validity = calloc((size_t)(rows / 8 + 1), 1);
  if (zc->values == NULL || zc->validity == NULL) goto oom;
  int64_t nulls = in->offset; /* rows before the offset are never read; count them as null */
  for (int64_t r = in->offset; r < rows; r++) {
    int64_t ci = col->offset + r;
    zc->values[r] = 0.0;
    if (!valid(in, r) || !valid(col, ci)) {
      nulls++;
      continue;
    }
    double x = value_at(col, st->format[0], ci);
    st->n++;
    double delta = x - st->mean;
    st->mean += delta / (double)st->n;
    st->m2 += delta * (x - st->mean);
    double var = st->m2 / (double)st->n;
    if (st->n < 2 || !(var > 0.0)) {
      nulls++;
      continue;
    }
    zc->values[r] = (x - st->mean) / sqrt(var);
    zc->validity[r >> 3] |= (uint8_t)(1u << (r & 7));
  }
  zc->buffers[0] = zc->validity;
  zc->buffers[1] = zc->values;
  memset(&b->z, 0, sizeof b->z);
  b->z.length = rows;
  b->z.null_count = nulls;
  b->z.n_buffers = 2;
  b->z.buffers = zc->buffers;
  b->z.private_data = zc;
  b->z.release = zcol_release;
  zc = NULL;
  b->input = *in;
  in->release = NULL;
  b->buffers[0] = b->input.buffers != NULL ? b->input.buffers[0] : NULL;
  for (int64_t i = 0; i < b->input.n_children; i++) b->children[i] = b->input.children[i];
  b->children[b->input.n_children] = &b->z;
  struct ArrowArray out = {
      .length = b->input.length,
      .null_count = b->input.null_count,
      .offset = b->input.offset,
      .n_buffers = 1,
      .n_children = b->input.n_children + 1,
      .buffers = b->buffers,
      .children = b->children,
      .dictionary = NULL,
      .release = zbatch_release,
      .private_data = b,
  };
  return emit(emit_ctx, &out);
oom:
  rc = fail(error, error_size, MALLARD_EXCHANGER_RESOURCE_EXHAUSTED, "out of memory");
done:
  if (zc != NULL) {
    free(zc->values);
    free(zc->validity);
    free(zc);
  }
  free(b);
  if (in->release != NULL) in->release(in);
  return rc;
}

static int z_on_end(void *state, mallard_exchanger_emit_fn emit, void *emit_ctx, char *error,
                    size_t error_size) {
  return MALLARD_EXCHANGER_OK; /* every row was answered as it arrived */
}

static void z_release(void *state) {
  free(state);
}

static const mallard_exchanger zscore = {
    .abi_version = MALLARD_EXCHANGER_ABI_VERSION,
    .name = "zscore",
    .description = "appends the running z-score of a numeric column (params: column, output)",
    .init = z_init,
    .on_batch = z_on_batch,
    .on_end = z_on_end,
    .release = z_release,
};

EXPORT uint32_t mallard_exchanger_abi_version(void) {
  return MALLARD_EXCHANGER_ABI_VERSION;
}
EXPORT const mallard_exchanger *mallard_exchanger_entry(void) {
  return &zscore;
}
