/* Arrow C Data Interface helpers for exchangers: deep schema copies, the `processed` batch that
 * reuses the input's columns without copying them. */
#include "exchange/xchg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xchg_schema_release(struct ArrowSchema *s) {
  if (s != NULL && s->release != NULL) s->release(s);
}

void xchg_array_release(struct ArrowArray *a) {
  if (a != NULL && a->release != NULL) a->release(a);
}

/* ---------------------------------------------------------------- schema copy */

/* Everything a copied schema node owns lives in private_data-free fields: the strings, the
 * children array and the dictionary are malloc'ed and freed by this release. */
static void copied_schema_release(struct ArrowSchema *s) {
  if (s == NULL || s->release == NULL) return;
  free((void *)s->format);
  free((void *)s->name);
  free((void *)s->metadata);
  if (s->children != NULL) {
    for (int64_t i = 0; i < s->n_children; i++) {
      struct ArrowSchema *c = s->children[i];
      if (c != NULL) {
        if (c->release != NULL) c->release(c);
        free(c);
      }
    }
    free(s->children);
  }
  if (s->dictionary != NULL) {
    if (s->dictionary->release != NULL) s->dictionary->release(s->dictionary);
    free(s->dictionary);
  }
  s->release = NULL;
}

/* Length of Arrow's binary metadata encoding (int32 count, then int32-length-prefixed key and
 * value bytes); -1 if malformed. */
static int64_t metadata_size(const char *md) {
  if (md == NULL) return 0;
  int32_t n;
  memcpy(&n, md, 4);
  if (n < 0) return -1;
  int64_t pos = 4;
  for (int32_t i = 0; i < n * 2; i++) {
    int32_t len;
    memcpy(&len, md + pos, 4);
    if (len < 0) return -1;
    pos += 4 + (int64_t)len;
    if (pos > INT32_MAX) return -1;
  }
  return pos;
}

static char *dup_or_null(const char *s, bool *oom) {
  if (s == NULL) return NULL;
  char *d = strdup(s);
  if (d == NULL) *oom = true;
  return d;
}

static mlr_code copy_node(const struct ArrowSchema *src, struct ArrowSchema *dst,
                          int64_t extra_children, mlr_error *err) {
  memset(dst, 0, sizeof *dst);
  if (src == NULL || src->release == NULL || src->format == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "schema is released or has no format");
  }
  if (src->n_children < 0 || (src->n_children > 0 && src->children == NULL)) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "schema has a bad child count");
  }
  bool oom = false;
  dst->release = copied_schema_release;
  dst->flags = src->flags;
  dst->format = dup_or_null(src->format, &oom);
  dst->name = dup_or_null(src->name, &oom);
  if (src->metadata != NULL) {
    int64_t n = metadata_size(src->metadata);
    if (n < 0) {
      copied_schema_release(dst);
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "schema metadata is malformed");
    }
    char *md = malloc((size_t)n);
    if (md == NULL) {
      oom = true;
    } else {
      memcpy(md, src->metadata, (size_t)n);
      dst->metadata = md;
    }
  }
  int64_t total = src->n_children + extra_children;
  if (!oom && total > 0) {
    dst->children = calloc((size_t)total, sizeof *dst->children);
    if (dst->children == NULL) oom = true;
  }
  if (oom) {
    copied_schema_release(dst);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory copying a schema");
  }
  mlr_code rc = MALLARD_OK;
  for (int64_t i = 0; i < src->n_children; i++) {
    struct ArrowSchema *c = calloc(1, sizeof *c);
    if (c == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory copying a schema");
      break;
    }
    dst->children[i] = c;
    dst->n_children = i + 1;
    rc = copy_node(src->children[i], c, 0, err);
    if (rc != MALLARD_OK) break;
  }
  if (rc == MALLARD_OK && src->dictionary != NULL) {
    dst->dictionary = calloc(1, sizeof *dst->dictionary);
    if (dst->dictionary == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory copying a schema");
    } else {
      rc = copy_node(src->dictionary, dst->dictionary, 0, err);
    }
  }
  if (rc != MALLARD_OK) copied_schema_release(dst);
  return rc;
}

mlr_code xchg_schema_copy(const struct ArrowSchema *src, struct ArrowSchema *dst, mlr_error *err) {
  return copy_node(src, dst, 0, err);
}

mlr_code xchg_schema_copy_append(const struct ArrowSchema *src, const char *name,
                                 const char *format, int64_t flags, struct ArrowSchema *dst,
                                 mlr_error *err) {
  if (src == NULL || src->format == NULL || strcmp(src->format, "+s") != 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "the input schema is not a struct (+s)");
  }
  MLR_RETURN_NOT_OK(copy_node(src, dst, 1, err));
  struct ArrowSchema *c = calloc(1, sizeof *c);
  bool oom = c == NULL;
  if (!oom) {
    c->format = dup_or_null(format, &oom);
    c->name = dup_or_null(name, &oom);
    c->flags = flags;
    c->release = copied_schema_release;
    dst->children[dst->n_children++] = c;
  }
  if (oom) {
    copied_schema_release(dst);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory copying a schema");
  }
  return MALLARD_OK;
}

/* ---------------------------------------------------------------- the `processed` batch */

/* The BOOLEAN column: one allocation holding its buffer pointers and the all-ones bitmap, so the
 * column can be moved out of its parent and released on its own. */
typedef struct flag_column {
  const void *buffers[2];
  uint8_t bits[];
} flag_column;

static void flag_release(struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return;
  free(a->private_data);
  a->release = NULL;
}

/* The output struct: it borrows the input's child arrays (the input's own release frees them,
 * skipping any a consumer moved out) and owns the flag column. */
typedef struct processed_priv {
  struct ArrowArray input; /* moved-in input batch */
  struct ArrowArray flag;
  const void *buffers[1];
  struct ArrowArray *children[];
} processed_priv;

static void processed_release(struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return;
  processed_priv *p = a->private_data;
  if (p->flag.release != NULL) p->flag.release(&p->flag);
  if (p->input.release != NULL) p->input.release(&p->input);
  free(p);
  a->release = NULL;
}

mlr_code xchg_processed_batch(struct ArrowArray *in, struct ArrowArray *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  mlr_code rc = MALLARD_OK;
  processed_priv *p = NULL;
  flag_column *fc = NULL;
  if (in == NULL || in->release == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "input batch is released");
  }
  if (in->n_children < 0 || in->n_children > INT32_MAX - 1 ||
      (in->n_children > 0 && in->children == NULL) || in->length < 0 || in->offset < 0 ||
      in->n_buffers < 1) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "input batch is not a struct array");
    goto cleanup;
  }
  /* A struct's children are indexed from the parent's offset, so the flag column covers
   * offset + length rows. */
  int64_t rows;
  if (mlr_add_overflow_i64(in->offset, in->length, &rows) || rows > INT64_MAX - 7) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "input batch length overflows");
    goto cleanup;
  }
  size_t nbytes = (size_t)((rows + 7) / 8);
  size_t nchildren = (size_t)in->n_children + 1;
  p = malloc(sizeof *p + nchildren * sizeof(struct ArrowArray *));
  fc = malloc(sizeof *fc + (nbytes > 0 ? nbytes : 1));
  if (p == NULL || fc == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory for a %lld-row batch",
                       (long long)in->length);
    goto cleanup;
  }
  memset(fc->bits, 0xff, nbytes);
  fc->buffers[0] = NULL;
  fc->buffers[1] = fc->bits;
  memset(&p->flag, 0, sizeof p->flag);
  p->flag.length = rows;
  p->flag.null_count = 0;
  p->flag.offset = 0;
  p->flag.n_buffers = 2;
  p->flag.buffers = fc->buffers;
  p->flag.release = flag_release;
  p->flag.private_data = fc;
  fc = NULL;

  p->input = *in; /* move */
  in->release = NULL;
  p->buffers[0] = p->input.buffers != NULL ? p->input.buffers[0] : NULL;
  for (int64_t i = 0; i < p->input.n_children; i++) p->children[i] = p->input.children[i];
  p->children[nchildren - 1] = &p->flag;

  out->length = p->input.length;
  out->null_count = p->input.null_count;
  out->offset = p->input.offset;
  out->n_buffers = 1;
  out->n_children = (int64_t)nchildren;
  out->buffers = p->buffers;
  out->children = p->children;
  out->dictionary = NULL;
  out->private_data = p;
  out->release = processed_release;
  p = NULL;

cleanup:
  free(fc);
  free(p);
  xchg_array_release(in);
  return rc;
}
