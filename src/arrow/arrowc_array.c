/* Owned and shared ArrowArrays over arrowc_buf buffers, and full array validation
 * (see arrowc_array.h). */
#include "arrow/arrowc_array.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Owned arrays
 * ---------------------------------------------------------------------------------------- */

typedef struct owned_priv {
  arrowc_buf **owners;
  const void **buffers;
  struct ArrowArray **children;
} owned_priv;

static void owned_release(struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return;
  owned_priv *p = a->private_data;
  if (p != NULL) {
    for (int64_t i = 0; i < a->n_buffers; i++) arrowc_buf_unref(p->owners[i]);
    for (int64_t i = 0; p->children != NULL && i < a->n_children; i++) {
      struct ArrowArray *c = p->children[i];
      if (c == NULL) continue;
      if (c->release != NULL) c->release(c);
      free(c);
    }
    free(p->owners);
    free(p->buffers);
    free(p->children);
    free(p);
  }
  if (a->dictionary != NULL) {
    if (a->dictionary->release != NULL) a->dictionary->release(a->dictionary);
    free(a->dictionary);
  }
  a->release = NULL;
}

mlr_code arrowc_array_init(struct ArrowArray *out, int64_t n_buffers, int64_t n_children,
                           mlr_error *err) {
  memset(out, 0, sizeof *out);
  if (n_buffers < 0 || n_children < 0 || n_buffers > (1 << 24) || n_children > (1 << 24))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "array with %lld buffers, %lld children",
                         (long long)n_buffers, (long long)n_children);
  owned_priv *p = calloc(1, sizeof *p);
  if (p == NULL) goto oom;
  out->private_data = p;
  out->release = owned_release;
  p->owners = calloc((size_t)n_buffers + 1, sizeof *p->owners);
  p->buffers = calloc((size_t)n_buffers + 1, sizeof *p->buffers);
  if (p->owners == NULL || p->buffers == NULL) goto oom;
  out->n_buffers = n_buffers;
  out->buffers = p->buffers;
  if (n_children > 0) {
    p->children = calloc((size_t)n_children, sizeof *p->children);
    if (p->children == NULL) goto oom;
    out->n_children = n_children;
    out->children = p->children;
    for (int64_t i = 0; i < n_children; i++) {
      p->children[i] = calloc(1, sizeof(struct ArrowArray));
      if (p->children[i] == NULL) goto oom;
    }
  }
  return MALLARD_OK;
oom:
  if (out->release != NULL)
    owned_release(out);
  else
    free(p);
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory allocating an array");
}

void arrowc_array_set_buffer(struct ArrowArray *array, int64_t i, const void *data,
                             arrowc_buf *owner) {
  owned_priv *p = array->private_data;
  arrowc_buf_unref(p->owners[i]);
  p->owners[i] = owner;
  p->buffers[i] = data;
}

mlr_code arrowc_array_alloc_dictionary(struct ArrowArray *array, mlr_error *err) {
  if (array->dictionary != NULL)
    return mlr_error_set(err, MALLARD_INTERNAL, "array dictionary already allocated");
  array->dictionary = calloc(1, sizeof(struct ArrowArray));
  if (array->dictionary == NULL)
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory allocating an array");
  return MALLARD_OK;
}

void arrowc_array_release(struct ArrowArray *array) {
  if (array != NULL && array->release != NULL) array->release(array);
}

/* ------------------------------------------------------------------------------------------
 * Shared arrays
 * ---------------------------------------------------------------------------------------- */

struct arrowc_shared_array {
  atomic_int refs;
  struct ArrowArray array;
};

arrowc_shared_array *arrowc_shared_array_new(struct ArrowArray *array) {
  arrowc_shared_array *s = calloc(1, sizeof *s);
  if (s == NULL) {
    arrowc_array_release(array);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->array = *array;
  array->release = NULL;
  return s;
}

void arrowc_shared_array_ref(arrowc_shared_array *s) {
  if (s != NULL) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void arrowc_shared_array_unref(arrowc_shared_array *s) {
  if (s == NULL) return;
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  arrowc_array_release(&s->array);
  free(s);
}

const struct ArrowArray *arrowc_shared_array_get(const arrowc_shared_array *s) {
  return &s->array;
}

typedef struct view_priv {
  arrowc_shared_array *shared;
  struct ArrowArray **children;
} view_priv;

static void view_release(struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return;
  view_priv *p = a->private_data;
  for (int64_t i = 0; p->children != NULL && i < a->n_children; i++) {
    struct ArrowArray *c = p->children[i];
    if (c == NULL) continue;
    if (c->release != NULL) c->release(c);
    free(c);
  }
  free(p->children);
  if (a->dictionary != NULL) {
    if (a->dictionary->release != NULL) a->dictionary->release(a->dictionary);
    free(a->dictionary);
  }
  arrowc_shared_array_unref(p->shared);
  free(p);
  a->release = NULL;
}

static mlr_code make_view(arrowc_shared_array *s, const struct ArrowArray *src,
                          struct ArrowArray *out, int depth, mlr_error *err) {
  memset(out, 0, sizeof *out);
  if (depth > 1024) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "array nested too deep");
  view_priv *p = calloc(1, sizeof *p);
  if (p == NULL) goto oom;
  *out = *src;
  out->children = NULL;
  out->n_children = 0;
  out->dictionary = NULL;
  out->private_data = p;
  out->release = view_release;
  arrowc_shared_array_ref(s);
  p->shared = s;
  if (src->n_children > 0) {
    p->children = calloc((size_t)src->n_children, sizeof *p->children);
    if (p->children == NULL) goto oom;
    out->children = p->children;
    out->n_children = src->n_children;
    for (int64_t i = 0; i < src->n_children; i++) {
      p->children[i] = calloc(1, sizeof(struct ArrowArray));
      if (p->children[i] == NULL) goto oom;
      mlr_code rc = make_view(s, src->children[i], p->children[i], depth + 1, err);
      if (rc != MALLARD_OK) {
        view_release(out);
        return rc;
      }
    }
  }
  if (src->dictionary != NULL) {
    out->dictionary = calloc(1, sizeof(struct ArrowArray));
    if (out->dictionary == NULL) goto oom;
    mlr_code rc = make_view(s, src->dictionary, out->dictionary, depth + 1, err);
    if (rc != MALLARD_OK) {
      view_release(out);
      return rc;
    }
  }
  return MALLARD_OK;
oom:
  if (out->release != NULL)
    view_release(out);
  else
    free(p);
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory allocating an array view");
}

mlr_code arrowc_shared_array_view(arrowc_shared_array *s, struct ArrowArray *out, mlr_error *err) {
  return make_view(s, &s->array, out, 0, err);
}

/* ------------------------------------------------------------------------------------------
 * Validation
 * ---------------------------------------------------------------------------------------- */

typedef struct vctx {
  char path[512];
  int flags;
  mlr_error *err;
} vctx;

__attribute__((format(printf, 3, 4))) static mlr_code vfail(vctx *c, const struct ArrowSchema *s,
                                                            const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  (void)s;
  return mlr_error_set(c->err, MALLARD_INVALID_ARGUMENT, "column '%s': %s", c->path, msg);
}

static bool bit_get(const uint8_t *bits, int64_t i) {
  return (bits[i >> 3] >> (i & 7)) & 1;
}

static int64_t count_nulls(const uint8_t *bits, int64_t offset, int64_t length) {
  int64_t set = 0, i = offset, end = offset + length;
  while (i < end && (i & 7) != 0) set += bit_get(bits, i++);
  while (end - i >= 64) {
    uint64_t w;
    memcpy(&w, bits + (i >> 3), 8);
    set += __builtin_popcountll(w);
    i += 64;
  }
  while (i < end) set += bit_get(bits, i++);
  return length - set;
}

static int64_t read_int(const uint8_t *p, int width, bool is_signed, int64_t i) {
  switch (width) {
  case 1:
    return is_signed ? (int64_t)((const int8_t *)p)[i] : (int64_t)p[i];
  case 2: {
    if (is_signed) {
      int16_t v;
      memcpy(&v, p + 2 * i, 2);
      return v;
    }
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
  }
  case 4: {
    if (is_signed) {
      int32_t v;
      memcpy(&v, p + 4 * i, 4);
      return v;
    }
    uint32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  default: {
    uint64_t v;
    memcpy(&v, p + 8 * i, 8);
    if (!is_signed && v > INT64_MAX) return -1;
    return (int64_t)v;
  }
  }
}

static mlr_code check_offsets(vctx *c, const struct ArrowSchema *s, const struct ArrowArray *a,
                              const void *buf, int width, int64_t limit, const char *what) {
  if (a->length == 0 && buf == NULL) return MALLARD_OK;
  if (buf == NULL) return vfail(c, s, "offsets buffer is missing");
  int64_t prev = read_int(buf, width, true, a->offset);
  if (prev < 0) return vfail(c, s, "offset %lld at slot %lld is negative", (long long)prev, 0LL);
  /* Fast pass (vectorisable): any decrease at all? Only then locate it for the message. */
  bool decreasing = false;
  const uint8_t *p = (const uint8_t *)buf + (int64_t)width * a->offset;
  if (width == 4) {
    for (int64_t i = 0; i < a->length; i++) {
      int32_t x, y;
      memcpy(&x, p + 4 * i, 4);
      memcpy(&y, p + 4 * i + 4, 4);
      decreasing |= y < x;
    }
  } else {
    for (int64_t i = 0; i < a->length; i++) {
      int64_t x, y;
      memcpy(&x, p + 8 * i, 8);
      memcpy(&y, p + 8 * i + 8, 8);
      decreasing |= y < x;
    }
  }
  if (!decreasing) {
    prev = read_int(buf, width, true, a->offset + a->length);
    if (limit >= 0 && prev > limit)
      return vfail(c, s, "last offset %lld is past the %lld-element %s", (long long)prev,
                   (long long)limit, what);
    return MALLARD_OK;
  }
  for (int64_t i = 1; i <= a->length; i++) {
    int64_t o = read_int(buf, width, true, a->offset + i);
    if (o < prev)
      return vfail(c, s, "offsets decrease at slot %lld (%lld after %lld)", (long long)i,
                   (long long)o, (long long)prev);
    prev = o;
  }
  if (limit >= 0 && prev > limit)
    return vfail(c, s, "last offset %lld is past the %lld-element %s", (long long)prev,
                 (long long)limit, what);
  return MALLARD_OK;
}

static mlr_code validate_rec(vctx *c, const struct ArrowSchema *s, const struct ArrowArray *a,
                             int depth);

static mlr_code validate_child(vctx *c, const struct ArrowSchema *s, const struct ArrowArray *a,
                               int64_t i, int depth) {
  size_t len = strlen(c->path);
  const char *name = s->children[i]->name;
  snprintf(c->path + len, sizeof c->path - len, "%s%s", len ? "." : "",
           name && *name ? name : "item");
  mlr_code rc = validate_rec(c, s->children[i], a->children[i], depth + 1);
  c->path[len] = '\0';
  return rc;
}

static mlr_code validate_views(vctx *c, const struct ArrowSchema *s, const struct ArrowArray *a) {
  if (a->n_buffers < 3)
    return vfail(c, s, "view array has %lld buffers, needs at least 3", (long long)a->n_buffers);
  int64_t n_var = a->n_buffers - 3;
  const uint8_t *views = a->buffers[1];
  const uint8_t *sizes_p = a->buffers[a->n_buffers - 1];
  if (a->length > 0 && views == NULL) return vfail(c, s, "views buffer is missing");
  if (n_var > 0 && sizes_p == NULL) return vfail(c, s, "variadic sizes buffer is missing");
  for (int64_t v = 0; v < n_var; v++) {
    int64_t sz;
    memcpy(&sz, sizes_p + 8 * v, 8);
    if (sz < 0) return vfail(c, s, "variadic buffer %lld has negative size", (long long)v);
    if (sz > 0 && a->buffers[2 + v] == NULL)
      return vfail(c, s, "variadic buffer %lld is missing", (long long)v);
  }
  for (int64_t i = 0; i < a->length; i++) {
    const uint8_t *view = views + 16 * (a->offset + i);
    int32_t len, idx, off;
    memcpy(&len, view, 4);
    if (len < 0) return vfail(c, s, "view %lld has negative length %d", (long long)i, len);
    if (len <= 12) continue;
    memcpy(&idx, view + 8, 4);
    memcpy(&off, view + 12, 4);
    if (idx < 0 || idx >= n_var)
      return vfail(c, s, "view %lld refers to data buffer %d of %lld", (long long)i, idx,
                   (long long)n_var);
    int64_t sz;
    memcpy(&sz, sizes_p + 8 * idx, 8);
    if (off < 0 || (int64_t)off + len > sz)
      return vfail(c, s, "view %lld [%d, +%d) is past the %lld-byte data buffer %d", (long long)i,
                   off, len, (long long)sz, idx);
  }
  return MALLARD_OK;
}

static mlr_code validate_rec(vctx *c, const struct ArrowSchema *s, const struct ArrowArray *a,
                             int depth) {
  if (depth > 1024) return vfail(c, s, "nested more than 1024 levels");
  if (s == NULL || s->release == NULL) return vfail(c, s, "released schema");
  if (a == NULL || a->release == NULL) return vfail(c, s, "released array");
  arrowc_format f;
  const char *format = s->format;
  mlr_code rc = arrowc_format_parse(format, &f, c->err);
  if (rc != MALLARD_OK) return vfail(c, s, "invalid format '%s'", format ? format : "(null)");
  if (a->length < 0 || a->offset < 0 || a->length > INT64_MAX - a->offset - 1)
    return vfail(c, s, "invalid length %lld / offset %lld", (long long)a->length,
                 (long long)a->offset);
  if (a->null_count < -1 || a->null_count > a->length)
    return vfail(c, s, "null count %lld is not within [0, %lld]", (long long)a->null_count,
                 (long long)a->length);
  if (a->n_children != s->n_children)
    return vfail(c, s, "array has %lld children, schema has %lld", (long long)a->n_children,
                 (long long)s->n_children);
  if (a->n_children > 0 && a->children == NULL) return vfail(c, s, "children array is missing");
  for (int64_t i = 0; i < a->n_children; i++)
    if (a->children[i] == NULL || s->children == NULL || s->children[i] == NULL)
      return vfail(c, s, "child %lld is missing", (long long)i);
  int expected_buffers = arrowc_format_n_buffers(&f);
  bool is_view = f.type == ARROWC_TYPE_STRING_VIEW || f.type == ARROWC_TYPE_BINARY_VIEW;
  if (!is_view && a->n_buffers != expected_buffers)
    return vfail(c, s, "array has %lld buffers, type '%s' needs %d", (long long)a->n_buffers,
                 format, expected_buffers);
  if (a->n_buffers > 0 && a->buffers == NULL) return vfail(c, s, "buffers array is missing");
  int64_t end = a->offset + a->length;
  bool has_validity = f.type != ARROWC_TYPE_NA && f.type != ARROWC_TYPE_SPARSE_UNION &&
                      f.type != ARROWC_TYPE_DENSE_UNION && f.type != ARROWC_TYPE_RUN_END_ENCODED;
  if (has_validity) {
    const uint8_t *validity = a->buffers[0];
    if (validity == NULL && a->null_count > 0)
      return vfail(c, s, "null count is %lld but there is no validity buffer",
                   (long long)a->null_count);
    if (validity != NULL && a->null_count >= 0) {
      int64_t nulls = count_nulls(validity, a->offset, a->length);
      if (nulls != a->null_count)
        return vfail(c, s, "null count is %lld but the validity bitmap has %lld nulls",
                     (long long)a->null_count, (long long)nulls);
    }
  } else if (f.type == ARROWC_TYPE_RUN_END_ENCODED && a->null_count > 0) {
    return vfail(c, s, "run-end encoded array has a null count");
  }
  /* Fixed-width data buffers must exist whenever there are values. */
  if (a->length > 0 && expected_buffers >= 2 && a->buffers[1] == NULL && !is_view)
    return vfail(c, s, "data buffer is missing");
  if (s->dictionary != NULL) {
    if (a->dictionary == NULL) return vfail(c, s, "dictionary is missing");
    bool is_signed;
    int w;
    switch (f.type) {
    case ARROWC_TYPE_INT8:
      is_signed = true, w = 1;
      break;
    case ARROWC_TYPE_UINT8:
      is_signed = false, w = 1;
      break;
    case ARROWC_TYPE_INT16:
      is_signed = true, w = 2;
      break;
    case ARROWC_TYPE_UINT16:
      is_signed = false, w = 2;
      break;
    case ARROWC_TYPE_INT32:
      is_signed = true, w = 4;
      break;
    case ARROWC_TYPE_UINT32:
      is_signed = false, w = 4;
      break;
    case ARROWC_TYPE_INT64:
      is_signed = true, w = 8;
      break;
    case ARROWC_TYPE_UINT64:
      is_signed = false, w = 8;
      break;
    default:
      return vfail(c, s, "dictionary index type '%s' is not an integer", format);
    }
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof c->path - len, "%s", "<dictionary>");
    if (a->dictionary->release == NULL || a->dictionary->length < 0)
      return vfail(c, s, "invalid dictionary array");
    rc = MALLARD_OK;
    if (!(c->flags & ARROWC_VALIDATE_SKIP_DICTIONARY_VALUES))
      rc = validate_rec(c, s->dictionary, a->dictionary, depth + 1);
    c->path[len] = '\0';
    if (rc != MALLARD_OK) return rc;
    int64_t dict_len = a->dictionary->length;
    const uint8_t *validity = a->buffers[0];
    for (int64_t i = a->offset; i < end; i++) {
      if (validity != NULL && !bit_get(validity, i)) continue;
      int64_t idx = read_int(a->buffers[1], w, is_signed, i);
      if (idx < 0 || idx >= dict_len)
        return vfail(c, s,
                     "dictionary index %lld at slot %lld is outside the %lld-entry dictionary",
                     (long long)idx, (long long)(i - a->offset), (long long)dict_len);
    }
    return MALLARD_OK;
  } else if (a->dictionary != NULL) {
    return vfail(c, s, "array has a dictionary, schema has none");
  }

  switch (f.type) {
  case ARROWC_TYPE_STRING:
  case ARROWC_TYPE_BINARY:
    return check_offsets(c, s, a, a->buffers[1], 4, -1, "");
  case ARROWC_TYPE_LARGE_STRING:
  case ARROWC_TYPE_LARGE_BINARY:
    return check_offsets(c, s, a, a->buffers[1], 8, -1, "");
  case ARROWC_TYPE_STRING_VIEW:
  case ARROWC_TYPE_BINARY_VIEW:
    return validate_views(c, s, a);
  case ARROWC_TYPE_LIST:
  case ARROWC_TYPE_LARGE_LIST:
  case ARROWC_TYPE_MAP: {
    if (a->n_children != 1) return vfail(c, s, "list array needs exactly 1 child");
    if (f.type == ARROWC_TYPE_MAP) {
      const struct ArrowSchema *e = s->children[0];
      if (strcmp(e->format, "+s") != 0 || e->n_children != 2)
        return vfail(c, s, "map entries must be a struct of 2 fields");
      if (a->children[0]->null_count > 0) return vfail(c, s, "map entries contain nulls");
    }
    rc = check_offsets(c, s, a, a->buffers[1], f.type == ARROWC_TYPE_LARGE_LIST ? 8 : 4,
                       a->children[0]->length, "child array");
    if (rc != MALLARD_OK) return rc;
    return validate_child(c, s, a, 0, depth);
  }
  case ARROWC_TYPE_LIST_VIEW:
  case ARROWC_TYPE_LARGE_LIST_VIEW: {
    if (a->n_children != 1) return vfail(c, s, "list view array needs exactly 1 child");
    int w = f.type == ARROWC_TYPE_LARGE_LIST_VIEW ? 8 : 4;
    int64_t child_len = a->children[0]->length;
    if (a->length > 0 && (a->buffers[1] == NULL || a->buffers[2] == NULL))
      return vfail(c, s, "offsets or sizes buffer is missing");
    for (int64_t i = a->offset; i < end; i++) {
      int64_t o = read_int(a->buffers[1], w, true, i), z = read_int(a->buffers[2], w, true, i);
      if (o < 0 || z < 0 || o > child_len || z > child_len - o)
        return vfail(c, s, "list view %lld [%lld, +%lld) is outside the %lld-element child",
                     (long long)(i - a->offset), (long long)o, (long long)z, (long long)child_len);
    }
    return validate_child(c, s, a, 0, depth);
  }
  case ARROWC_TYPE_FIXED_SIZE_LIST: {
    if (a->n_children != 1) return vfail(c, s, "fixed-size list array needs exactly 1 child");
    int64_t need;
    if (mlr_mul_overflow_i64(end, f.fixed_size, &need) || a->children[0]->length < need)
      return vfail(c, s, "child has %lld values, %lld lists of %d need %lld",
                   (long long)a->children[0]->length, (long long)end, f.fixed_size,
                   (long long)need);
    return validate_child(c, s, a, 0, depth);
  }
  case ARROWC_TYPE_STRUCT:
    for (int64_t i = 0; i < a->n_children; i++) {
      if (a->children[i]->length < end)
        return vfail(c, s, "child %lld has %lld values, the struct needs %lld", (long long)i,
                     (long long)a->children[i]->length, (long long)end);
      MLR_RETURN_NOT_OK(validate_child(c, s, a, i, depth));
    }
    return MALLARD_OK;
  case ARROWC_TYPE_SPARSE_UNION:
  case ARROWC_TYPE_DENSE_UNION: {
    if (f.n_union_types != a->n_children)
      return vfail(c, s, "union lists %d type ids but has %lld children", f.n_union_types,
                   (long long)a->n_children);
    int8_t child_of[128];
    memset(child_of, -1, sizeof child_of);
    for (int k = 0; k < f.n_union_types; k++) child_of[f.union_type_ids[k]] = (int8_t)k;
    if (a->length > 0 && a->buffers[0] == NULL) return vfail(c, s, "type ids buffer is missing");
    bool dense = f.type == ARROWC_TYPE_DENSE_UNION;
    if (dense && a->length > 0 && a->buffers[1] == NULL)
      return vfail(c, s, "offsets buffer is missing");
    const int8_t *ids = a->buffers[0];
    for (int64_t i = a->offset; i < end; i++) {
      int8_t id = ids[i];
      if (id < 0 || child_of[id] < 0)
        return vfail(c, s, "type id %d at slot %lld is not one of the union's", id,
                     (long long)(i - a->offset));
      const struct ArrowArray *ch = a->children[child_of[id]];
      if (dense) {
        int32_t o;
        memcpy(&o, (const uint8_t *)a->buffers[1] + 4 * i, 4);
        if (o < 0 || o >= ch->length)
          return vfail(c, s, "dense union offset %d at slot %lld is outside the %lld-element child",
                       o, (long long)(i - a->offset), (long long)ch->length);
      } else if (ch->length < end) {
        return vfail(c, s, "sparse union child %d has %lld values, needs %lld", child_of[id],
                     (long long)ch->length, (long long)end);
      }
    }
    for (int64_t i = 0; i < a->n_children; i++)
      MLR_RETURN_NOT_OK(validate_child(c, s, a, i, depth));
    return MALLARD_OK;
  }
  case ARROWC_TYPE_RUN_END_ENCODED: {
    if (a->n_children != 2) return vfail(c, s, "run-end encoded array needs 2 children");
    const struct ArrowArray *re = a->children[0];
    arrowc_format rf;
    rc = arrowc_format_parse(s->children[0]->format, &rf, c->err);
    if (rc != MALLARD_OK) return vfail(c, s, "bad run ends format");
    int w = rf.type == ARROWC_TYPE_INT16   ? 2
            : rf.type == ARROWC_TYPE_INT32 ? 4
            : rf.type == ARROWC_TYPE_INT64 ? 8
                                           : 0;
    if (w == 0) return vfail(c, s, "run ends must be int16, int32 or int64");
    MLR_RETURN_NOT_OK(validate_child(c, s, a, 0, depth));
    MLR_RETURN_NOT_OK(validate_child(c, s, a, 1, depth));
    if (re->null_count > 0) return vfail(c, s, "run ends contain nulls");
    if (a->children[1]->length < re->length) return vfail(c, s, "fewer values than runs");
    int64_t prev = 0;
    for (int64_t i = 0; i < re->length; i++) {
      int64_t v = read_int(re->buffers[1], w, true, re->offset + i);
      if (v <= prev)
        return vfail(c, s, "run ends are not strictly increasing at run %lld", (long long)i);
      prev = v;
    }
    if (a->length > 0 && prev < end)
      return vfail(c, s, "runs end at %lld, the array needs %lld", (long long)prev, (long long)end);
    return MALLARD_OK;
  }
  default:
    return MALLARD_OK;
  }
}

mlr_code arrowc_array_validate(const struct ArrowSchema *schema, const struct ArrowArray *array,
                               mlr_error *err) {
  return arrowc_array_validate_ex(schema, array, 0, err);
}

mlr_code arrowc_array_validate_ex(const struct ArrowSchema *schema, const struct ArrowArray *array,
                                  int flags, mlr_error *err) {
  vctx c;
  c.flags = flags;
  snprintf(c.path, sizeof c.path, "%s", schema != NULL && schema->name ? schema->name : "");
  c.err = err;
  return validate_rec(&c, schema, array, 0);
}
