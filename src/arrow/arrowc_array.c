/* Owned and shared ArrowArrays over arrowc_buf buffers (see arrowc_array.h); validation is in
 * arrowc_validate.c. */
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
