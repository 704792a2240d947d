/* Helpers for the exchange unit tests: build small Arrow schemas and batches (x BIGINT,
 * y DOUBLE, s VARCHAR) and collect emitted batches. */
#ifndef XCHG_TESTUTIL_H
#define XCHG_TESTUTIL_H

#include "mallard/arrow_c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- schemas: every node owns its strings; one release frees the tree */
static inline void tu_schema_release(struct ArrowSchema *s) {
  if (s == NULL || s->release == NULL) return;
  for (int64_t i = 0; i < s->n_children; i++) {
    tu_schema_release(s->children[i]);
    free(s->children[i]);
  }
  free(s->children);
  free((void *)s->format);
  free((void *)s->name);
  s->release = NULL;
}

static inline void tu_field(struct ArrowSchema *f, const char *name, const char *format) {
  memset(f, 0, sizeof *f);
  f->format = strdup(format);
  f->name = strdup(name);
  f->flags = ARROW_FLAG_NULLABLE;
  f->release = tu_schema_release;
}

/* "+s" with x: int64 (l), y: double (g), s: utf8 (u). */
static inline void tu_schema_xys(struct ArrowSchema *s) {
  tu_field(s, "", "+s");
  s->n_children = 3;
  s->children = calloc(3, sizeof *s->children);
  const char *names[] = {"x", "y", "s"}, *fmts[] = {"l", "g", "u"};
  for (int i = 0; i < 3; i++) {
    s->children[i] = calloc(1, sizeof **s->children);
    tu_field(s->children[i], names[i], fmts[i]);
  }
}

/* ---- arrays: each node's private_data is a block list freed by its release */
typedef struct tu_node {
  void *blocks[4];
  const void *buffers[4];
  struct ArrowArray *kids[3];
} tu_node;

static int tu_released_arrays = 0; /* counts releases, to check every array is freed once */

static inline void tu_array_release(struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return;
  tu_node *n = a->private_data;
  for (int64_t i = 0; i < a->n_children; i++) {
    if (a->children[i]->release != NULL) a->children[i]->release(a->children[i]);
    free(a->children[i]);
  }
  for (int i = 0; i < 4; i++) free(n->blocks[i]);
  free(n);
  a->release = NULL;
  tu_released_arrays++;
}

static struct ArrowArray *tu_child(int64_t n, int64_t nbuf) {
  struct ArrowArray *a = calloc(1, sizeof *a);
  tu_node *node = calloc(1, sizeof *node);
  a->length = n;
  a->n_buffers = nbuf;
  a->buffers = node->buffers;
  a->private_data = node;
  a->release = tu_array_release;
  return a;
}

/* n rows: x = start+i, y = (start+i)*0.5, s = "r<start+i>"; every 7th y is NULL when with_nulls. */
static inline void tu_batch_xys(struct ArrowArray *out, int64_t n, int64_t start, int with_nulls) {
  memset(out, 0, sizeof *out);
  tu_node *root = calloc(1, sizeof *root);
  out->length = n;
  out->n_buffers = 1;
  out->buffers = root->buffers;
  out->n_children = 3;
  out->children = root->kids;
  out->private_data = root;
  out->release = tu_array_release;
  struct ArrowArray *x = tu_child(n, 2), *y = tu_child(n, 2), *s = tu_child(n, 3);
  tu_node *xn = x->private_data, *yn = y->private_data, *sn = s->private_data;
  int64_t *xv = malloc((size_t)(n ? n : 1) * 8);
  double *yv = malloc((size_t)(n ? n : 1) * 8);
  uint8_t *yvalid = calloc((size_t)n / 8 + 1, 1);
  int32_t *off = malloc((size_t)(n + 1) * 4);
  char *chars = malloc((size_t)(n ? n : 1) * 24);
  off[0] = 0;
  for (int64_t i = 0; i < n; i++) {
    xv[i] = start + i;
    yv[i] = (double)(start + i) * 0.5;
    if (!(with_nulls && (start + i) % 7 == 0)) {
      yvalid[i / 8] |= (uint8_t)(1u << (i % 8));
    } else {
      y->null_count++;
    }
    int w = snprintf(chars + off[i], 24, "r%lld", (long long)(start + i));
    off[i + 1] = off[i] + w;
  }
  xn->blocks[0] = xv;
  x->buffers[1] = xv;
  yn->blocks[0] = yv;
  yn->blocks[1] = yvalid;
  y->buffers[0] = yvalid;
  y->buffers[1] = yv;
  sn->blocks[0] = off;
  sn->blocks[1] = chars;
  s->buffers[1] = off;
  s->buffers[2] = chars;
  root->kids[0] = x;
  root->kids[1] = y;
  root->kids[2] = s;
}

/* ---- collecting emitted batches */
typedef struct tu_sink {
  struct ArrowArray batches[64];
  int n;
  int64_t rows;
  int fail_after; /* >0: the n-th emit fails with CANCELLED */
} tu_sink;

static inline mlr_code tu_emit(void *ctx, struct ArrowArray *batch, mlr_error *err) {
  tu_sink *s = ctx;
  if (s->fail_after > 0 && s->n + 1 >= s->fail_after) {
    batch->release(batch);
    return mlr_error_set(err, MALLARD_CANCELLED, "client went away");
  }
  s->rows += batch->length;
  if (s->n < 64) {
    s->batches[s->n++] = *batch;
  } else {
    batch->release(batch);
  }
  batch->release = NULL;
  return MALLARD_OK;
}

static inline void tu_sink_release(tu_sink *s) {
  for (int i = 0; i < s->n; i++) {
    if (s->batches[i].release) s->batches[i].release(&s->batches[i]);
  }
  memset(s, 0, sizeof *s);
}

/* Value helpers on emitted batches (flat columns, honouring offsets). */
static inline int64_t tu_i64(const struct ArrowArray *b, int col, int64_t row) {
  const struct ArrowArray *c = b->children[col];
  return ((const int64_t *)c->buffers[1])[c->offset + b->offset + row];
}
static inline double tu_f64(const struct ArrowArray *b, int col, int64_t row) {
  const struct ArrowArray *c = b->children[col];
  return ((const double *)c->buffers[1])[c->offset + b->offset + row];
}
static inline int tu_valid(const struct ArrowArray *b, int col, int64_t row) {
  const struct ArrowArray *c = b->children[col];
  const uint8_t *v = c->buffers[0];
  int64_t i = c->offset + b->offset + row;
  return v == NULL || ((v[i / 8] >> (i % 8)) & 1);
}
static inline int tu_bool(const struct ArrowArray *b, int col, int64_t row) {
  const struct ArrowArray *c = b->children[col];
  const uint8_t *v = c->buffers[1];
  int64_t i = c->offset + b->offset + row;
  return (v[i / 8] >> (i % 8)) & 1;
}

/* REQUIRE evaluates its condition twice: this evaluates a call once, checks it is OK, and stops
 * the test otherwise. */
#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    mlr_code tu_rc_ = (expr);                                                                      \
    CHECK_EQ_INT(tu_rc_, MALLARD_OK);                                                              \
    if (tu_rc_ != MALLARD_OK) return;                                                              \
  } while (0)

#endif /* XCHG_TESTUTIL_H */
