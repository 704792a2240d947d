/* DuckDB chunks -> Arrow batch buffers in one pass: fixed-width values are copied (or widened)
 * from each vector into buffers sized for the whole batch, strings are gathered from their
 * duckdb_string_t into offsets + data, booleans are bit-packed, and a validity bitmap exists
 * only for a column with a NULL in the batch. It reproduces what DuckDB's ArrowAppender
 * (duckdb_data_chunk_to_arrow) followed by db_coalesce produces, without the per-chunk arrays.
 *
 * The vectors are read as flat vectors: duckdb_fetch_chunk hands out QueryResult::Fetch()'s
 * chunks, which DuckDB flattens (constant and dictionary vectors become flat) before returning
 * them. Only chunks from duckdb_fetch_chunk may be appended. */
#include "db/db_export.h"
#include "db/db_coalesce.h"

#include <stdlib.h>
#include <string.h>

/* DuckDB keeps strings of up to 12 bytes inside duckdb_string_t (duckdb_string_is_inlined). */
#define X_INLINE_LEN 12
/* Initial batch capacity when batch_rows is large: grows geometrically past it. */
#define X_MAX_INITIAL_ROWS (256 * 1024)
#define X_INITIAL_DATA_BYTES (64 * 1024)

typedef enum xkind {
  X_BOOL,     /* bytes 0/1 in, bit-packed out */
  X_COPY,     /* same fixed-width layout in DuckDB and Arrow */
  X_WIDEN128, /* DECIMAL stored as int16/32/64 -> decimal128 */
  X_INTERVAL, /* months, days, micros -> months, days, nanos */
  X_STR       /* duckdb_string_t -> offsets + data */
} xkind;

typedef struct xcol {
  xkind kind;
  int64_t in_width;  /* bytes per value in the DuckDB vector (X_COPY, X_WIDEN128) */
  int64_t out_width; /* bytes per value in the Arrow values buffer; offsets for X_STR */
  char *name;        /* for messages */
  /* The batch under construction. */
  uint8_t *validity; /* NULL while the column has no NULL in the batch; unset = NULL row */
  uint8_t *values;   /* values, bit-packed booleans or offsets */
  uint8_t *data;     /* string bytes */
  int64_t data_len, data_cap;
  int64_t null_count;
  int64_t data_hint; /* bytes of string data in the previous batch */
} xcol;

struct db_export {
  int64_t ncols;
  xcol *cols;
  int64_t rows;      /* in the batch under construction */
  int64_t cap;       /* rows the buffers hold; 0 = no buffers yet */
  int64_t first_cap; /* capacity a batch starts with */
};

/* What a finished column owns. */
typedef struct xchild_priv {
  void *bufs[3];
  const void *ptrs[3];
} xchild_priv;

/* What a finished batch owns besides its children's buffers. */
typedef struct xbatch_priv {
  struct ArrowArray *children; /* [n] */
  struct ArrowArray **child_ptrs;
  int64_t n;
  const void *buffers[1]; /* a struct array has no validity */
} xbatch_priv;

static mlr_code oom(mlr_error *err) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory exporting a batch");
}

/* Replaces *p (old_size bytes in use) by a buffer of new_size bytes with the same contents. */
static bool grow_buf(uint8_t **p, int64_t old_size, int64_t new_size) {
  uint8_t *q = db_buffer_alloc(new_size);
  if (!q) return false;
  if (*p && old_size > 0) memcpy(q, *p, (size_t)old_size);
  free(*p);
  *p = q;
  return true;
}

static inline bool valid_at(const uint64_t *v, int64_t i) {
  return (v[i >> 6] >> (i & 63)) & 1;
}

/* ---------------------------------------------------------------- plan */

static bool fmt_is(const char *f, const char *want) {
  return f && strcmp(f, want) == 0;
}

/* "d:P,S" or "d:P,S,128": a decimal128 (DuckDB exports every DECIMAL so). */
static bool fmt_is_decimal128(const char *f) {
  if (!f || strncmp(f, "d:", 2) != 0) return false;
  const char *c1 = strchr(f + 2, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
  return c1 && (!c2 || strcmp(c2 + 1, "128") == 0);
}

/* The column's kind from its DuckDB type and the Arrow format DuckDB chose for it; false when
 * the pair is not one this exporter reproduces. */
static bool plan_column(duckdb_logical_type t, const struct ArrowSchema *s, xcol *c) {
  const char *f = s->format;
  duckdb_type id = duckdb_get_type_id(t);
  c->kind = X_COPY;
  c->in_width = c->out_width = 0;
  if (s->n_children != 0 || s->dictionary) return false;
  switch (id) {
  case DUCKDB_TYPE_BOOLEAN:
    c->kind = X_BOOL;
    return fmt_is(f, "b") || fmt_is(f, "c"); /* "c" = arrow.bool8, sent bit-packed */
  case DUCKDB_TYPE_TINYINT:
    c->in_width = 1;
    return fmt_is(f, "c");
  case DUCKDB_TYPE_UTINYINT:
    c->in_width = 1;
    return fmt_is(f, "C");
  case DUCKDB_TYPE_SMALLINT:
    c->in_width = 2;
    return fmt_is(f, "s");
  case DUCKDB_TYPE_USMALLINT:
    c->in_width = 2;
    return fmt_is(f, "S");
  case DUCKDB_TYPE_INTEGER:
    c->in_width = 4;
    return fmt_is(f, "i");
  case DUCKDB_TYPE_UINTEGER:
    c->in_width = 4;
    return fmt_is(f, "I");
  case DUCKDB_TYPE_BIGINT:
    c->in_width = 8;
    return fmt_is(f, "l");
  case DUCKDB_TYPE_UBIGINT:
    c->in_width = 8;
    return fmt_is(f, "L");
  case DUCKDB_TYPE_FLOAT:
    c->in_width = 4;
    return fmt_is(f, "f");
  case DUCKDB_TYPE_DOUBLE:
    c->in_width = 8;
    return fmt_is(f, "g");
  case DUCKDB_TYPE_DATE:
    c->in_width = 4;
    return fmt_is(f, "tdD");
  case DUCKDB_TYPE_TIME:
    c->in_width = 8;
    return fmt_is(f, "ttu");
  case DUCKDB_TYPE_TIMESTAMP:
  case DUCKDB_TYPE_TIMESTAMP_TZ:
    c->in_width = 8;
    return f && strncmp(f, "tsu:", 4) == 0;
  case DUCKDB_TYPE_TIMESTAMP_S:
    c->in_width = 8;
    return f && strncmp(f, "tss:", 4) == 0;
  case DUCKDB_TYPE_TIMESTAMP_MS:
    c->in_width = 8;
    return f && strncmp(f, "tsm:", 4) == 0;
  case DUCKDB_TYPE_TIMESTAMP_NS:
    c->in_width = 8;
    return f && strncmp(f, "tsn:", 4) == 0;
  case DUCKDB_TYPE_HUGEINT:
    /* decimal128(38,0), or arrow.opaque bytes in lossless mode: the same 16 little-endian bytes */
    c->in_width = 16;
    return fmt_is(f, "d:38,0") || fmt_is(f, "w:16");
  case DUCKDB_TYPE_UHUGEINT:
    c->in_width = 16;
    return fmt_is(f, "w:16");
  case DUCKDB_TYPE_INTERVAL:
    c->kind = X_INTERVAL;
    c->in_width = c->out_width = 16;
    return fmt_is(f, "tin");
  case DUCKDB_TYPE_DECIMAL: {
    if (!fmt_is_decimal128(f)) return false;
    switch (duckdb_decimal_internal_type(t)) {
    case DUCKDB_TYPE_SMALLINT:
      c->in_width = 2;
      break;
    case DUCKDB_TYPE_INTEGER:
      c->in_width = 4;
      break;
    case DUCKDB_TYPE_BIGINT:
      c->in_width = 8;
      break;
    case DUCKDB_TYPE_HUGEINT:
      c->in_width = 16;
      break;
    default:
      return false;
    }
    c->kind = c->in_width == 16 ? X_COPY : X_WIDEN128;
    c->out_width = 16;
    return true;
  }
  case DUCKDB_TYPE_VARCHAR:
  case DUCKDB_TYPE_BLOB:
    /* Binary-like layouts only (not string views); the offset width follows the format. */
    c->kind = X_STR;
    if (fmt_is(f, "u") || fmt_is(f, "z")) {
      c->out_width = 4;
      return true;
    }
    if (fmt_is(f, "U") || fmt_is(f, "Z")) {
      c->out_width = 8;
      return true;
    }
    return false;
  default:
    return false;
  }
}

mlr_code db_export_plan(const duckdb_logical_type *types, const struct ArrowSchema *schema,
                        int64_t batch_rows, db_export **out, mlr_error *err) {
  *out = NULL;
  if (!schema || !fmt_is(schema->format, "+s")) return MALLARD_OK;
  for (int64_t i = 0; i < schema->n_children; i++) {
    xcol probe;
    if (!plan_column(types[i], schema->children[i], &probe)) return MALLARD_OK;
  }
  db_export *x = calloc(1, sizeof *x);
  if (!x) return oom(err);
  x->ncols = schema->n_children;
  x->cols = calloc((size_t)(x->ncols ? x->ncols : 1), sizeof *x->cols);
  if (!x->cols) goto fail;
  for (int64_t i = 0; i < x->ncols; i++) {
    xcol *c = &x->cols[i];
    plan_column(types[i], schema->children[i], c);
    if (c->kind == X_COPY) c->out_width = c->in_width;
    if (c->kind == X_BOOL) c->out_width = 0;
    const char *nm = schema->children[i]->name;
    c->name = strdup(nm ? nm : "");
    if (!c->name) goto fail;
  }
  /* A batch ends at the chunk that reaches batch_rows: room for one more vector's rows. */
  int64_t vec = (int64_t)duckdb_vector_size();
  int64_t rows = batch_rows > 0 ? batch_rows : 1;
  if (rows > X_MAX_INITIAL_ROWS) rows = X_MAX_INITIAL_ROWS;
  x->first_cap = rows + vec;
  *out = x;
  return MALLARD_OK;
fail:
  db_export_free(x);
  return oom(err);
}

/* ---------------------------------------------------------------- the batch under construction */

static void discard_batch(db_export *x) {
  for (int64_t i = 0; i < x->ncols; i++) {
    xcol *c = &x->cols[i];
    free(c->validity);
    free(c->values);
    free(c->data);
    c->validity = c->values = c->data = NULL;
    c->data_len = c->data_cap = c->null_count = 0;
  }
  x->rows = 0;
  x->cap = 0;
}

static int64_t values_size(const xcol *c, int64_t cap) {
  switch (c->kind) {
  case X_BOOL:
    return (cap + 7) / 8;
  case X_STR:
    return (cap + 1) * c->out_width;
  default:
    return cap * c->out_width;
  }
}

/* Makes room for need rows (allocating the batch's buffers when it has none). */
static mlr_code reserve_rows(db_export *x, int64_t need, mlr_error *err) {
  if (need <= x->cap) return MALLARD_OK;
  int64_t cap = x->cap ? x->cap * 2 : x->first_cap;
  if (cap < need) cap = need;
  if (cap > INT64_MAX / 32) return oom(err); /* values_size() cannot overflow */
  for (int64_t i = 0; i < x->ncols; i++) {
    xcol *c = &x->cols[i];
    if (!grow_buf(&c->values, x->cap ? values_size(c, x->rows) : 0, values_size(c, cap)))
      return oom(err);
    if (c->validity) {
      int64_t old = (x->rows + 7) / 8, now = (cap + 7) / 8;
      if (!grow_buf(&c->validity, old, now)) return oom(err);
      memset(c->validity + old, 0xff, (size_t)(now - old));
    }
    if (c->kind == X_STR && !x->cap) {
      if (c->out_width == 4)
        ((int32_t *)c->values)[0] = 0;
      else
        ((int64_t *)c->values)[0] = 0;
      /* Sized ahead from the previous batch, with room to grow before the first copy. */
      int64_t want = c->data_hint > 0 ? c->data_hint + c->data_hint / 8 : X_INITIAL_DATA_BYTES;
      c->data = db_buffer_alloc(want);
      if (!c->data) return oom(err);
      c->data_cap = want;
      c->data_len = 0;
    }
  }
  x->cap = cap;
  return MALLARD_OK;
}

/* Number of NULL rows among the first n of a DuckDB validity mask. */
static int64_t count_nulls(const uint64_t *v, int64_t n) {
  int64_t set = 0, words = n >> 6;
  for (int64_t w = 0; w < words; w++) set += __builtin_popcountll(v[w]);
  if (n & 63) set += __builtin_popcountll(v[words] & ((UINT64_C(1) << (n & 63)) - 1));
  return n - set;
}

/* Copies n bits of a DuckDB validity mask (LSB first, as Arrow's) to dst at bit pos. */
static void copy_validity(uint8_t *dst, int64_t pos, const uint64_t *src, int64_t n) {
  const uint8_t *s = (const uint8_t *)src; /* little-endian words: the bytes in bit order */
  int64_t i = 0;
  if ((pos & 7) == 0) {
    int64_t whole = n >> 3;
    memcpy(dst + (pos >> 3), s, (size_t)whole);
    i = whole << 3;
  }
  for (; i < n; i++) db_bit_put(dst, pos + i, valid_at(src, i));
}

/* Bit-packs n DuckDB booleans (one byte each) into dst at bit pos. */
static void pack_bools(uint8_t *dst, int64_t pos, const uint8_t *src, int64_t n) {
  int64_t i = 0;
  for (; i < n && ((pos + i) & 7); i++) db_bit_put(dst, pos + i, src[i] != 0);
  for (; i + 8 <= n; i += 8) {
    unsigned b = 0;
    for (int k = 0; k < 8; k++) b |= (unsigned)(src[i + k] != 0) << k;
    dst[(pos + i) >> 3] = (uint8_t)b;
  }
  for (; i < n; i++) db_bit_put(dst, pos + i, src[i] != 0);
}

static void widen128(uint8_t *dst, const void *src, int64_t in_width, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    int64_t v;
    if (in_width == 2)
      v = ((const int16_t *)src)[i];
    else if (in_width == 4)
      v = ((const int32_t *)src)[i];
    else
      v = ((const int64_t *)src)[i];
    uint64_t lo = (uint64_t)v, hi = v < 0 ? UINT64_MAX : 0;
    memcpy(dst + i * 16, &lo, 8);
    memcpy(dst + i * 16 + 8, &hi, 8);
  }
}

/* Arrow's interval holds nanoseconds in 64 bits: a time part beyond +-2562047 hours (292 years)
 * does not fit. DuckDB's own export wraps it into a wrong value, sign and all; here the batch is
 * refused instead. Rows under NULL may hold anything. */
#define INTERVAL_MAX_MICROS (INT64_MAX / 1000)

static mlr_code intervals(uint8_t *dst, const duckdb_interval *src, const uint64_t *valid,
                          int64_t n, const char *col, mlr_error *err) {
  for (int64_t i = 0; i < n; i++) {
    int64_t us = src[i].micros;
    if ((us > INTERVAL_MAX_MICROS || us < -INTERVAL_MAX_MICROS) && (!valid || valid_at(valid, i)))
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "column '%s': an INTERVAL with %lld microseconds in its time part does "
                           "not fit Arrow's 64-bit nanoseconds (at most 2562047 hours): move "
                           "whole days into its day part, or cast it to VARCHAR",
                           col, (long long)us);
    int64_t ns = (int64_t)((uint64_t)us * UINT64_C(1000));
    memcpy(dst + i * 16, &src[i].months, 4);
    memcpy(dst + i * 16 + 4, &src[i].days, 4);
    memcpy(dst + i * 16 + 8, &ns, 8);
  }
  return MALLARD_OK;
}

static mlr_code append_strings(xcol *c, int64_t row0, const duckdb_string_t *s,
                               const uint64_t *valid, int64_t n, mlr_error *err) {
  /* First pass: the bytes this chunk adds, so the data buffer grows at most once. */
  int64_t total = 0;
  if (valid) {
    for (int64_t i = 0; i < n; i++)
      if (valid_at(valid, i)) total += s[i].value.inlined.length;
  } else {
    for (int64_t i = 0; i < n; i++) total += s[i].value.inlined.length;
  }
  int64_t end = c->data_len + total;
  if (c->out_width == 4 && end > INT32_MAX)
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "column '%s': more than 2 GiB of values in one batch; use a smaller "
                         "batch size",
                         c->name);
  /* + X_INLINE_LEN: an inlined string is copied as its whole 12-byte field. */
  if (end + X_INLINE_LEN > c->data_cap) {
    int64_t cap = c->data_cap * 2;
    if (cap < end + X_INLINE_LEN) cap = end + X_INLINE_LEN;
    if (!grow_buf(&c->data, c->data_len, cap)) return oom(err);
    c->data_cap = cap;
  }
  uint8_t *d = c->data;
  int64_t pos = c->data_len;
  /* Locals and one loop per offset width: stores into d may alias c's fields otherwise. */
  if (c->out_width == 4) {
    int32_t *o = (int32_t *)c->values + row0 + 1;
    for (int64_t i = 0; i < n; i++) {
      uint32_t len = valid && !valid_at(valid, i) ? 0 : s[i].value.inlined.length;
      if (len <= X_INLINE_LEN)
        memcpy(d + pos, s[i].value.inlined.inlined, X_INLINE_LEN);
      else
        memcpy(d + pos, s[i].value.pointer.ptr, len);
      pos += len;
      o[i] = (int32_t)pos;
    }
  } else {
    int64_t *o = (int64_t *)c->values + row0 + 1;
    for (int64_t i = 0; i < n; i++) {
      uint32_t len = valid && !valid_at(valid, i) ? 0 : s[i].value.inlined.length;
      if (len <= X_INLINE_LEN)
        memcpy(d + pos, s[i].value.inlined.inlined, X_INLINE_LEN);
      else
        memcpy(d + pos, s[i].value.pointer.ptr, len);
      pos += len;
      o[i] = pos;
    }
  }
  c->data_len = pos;
  return MALLARD_OK;
}

mlr_code db_export_append(db_export *x, duckdb_data_chunk chunk, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  int64_t n = (int64_t)duckdb_data_chunk_get_size(chunk), row0 = x->rows;
  if ((int64_t)duckdb_data_chunk_get_column_count(chunk) != x->ncols) {
    rc = mlr_error_set(err, MALLARD_INTERNAL, "chunk has %llu columns, expected %lld",
                       (unsigned long long)duckdb_data_chunk_get_column_count(chunk),
                       (long long)x->ncols);
    goto fail;
  }
  if (n == 0) return MALLARD_OK;
  if ((rc = reserve_rows(x, row0 + n, err))) goto fail;
  for (int64_t i = 0; i < x->ncols; i++) {
    xcol *c = &x->cols[i];
    duckdb_vector v = duckdb_data_chunk_get_vector(chunk, (idx_t)i);
    const void *src = duckdb_vector_get_data(v);
    const uint64_t *valid = duckdb_vector_get_validity(v);
    int64_t nulls = valid ? count_nulls(valid, n) : 0;
    if (nulls == 0) valid = NULL;
    if (nulls > 0) {
      if (!c->validity) { /* the batch's first NULL: every row so far is valid */
        int64_t bytes = (x->cap + 7) / 8;
        c->validity = db_buffer_alloc(bytes);
        if (!c->validity) {
          rc = oom(err);
          goto fail;
        }
        memset(c->validity, 0xff, (size_t)bytes);
      }
      copy_validity(c->validity, row0, valid, n);
      c->null_count += nulls;
    }
    switch (c->kind) {
    case X_BOOL:
      pack_bools(c->values, row0, src, n);
      break;
    case X_COPY:
      memcpy(c->values + row0 * c->out_width, src, (size_t)(n * c->out_width));
      break;
    case X_WIDEN128:
      widen128(c->values + row0 * 16, src, c->in_width, n);
      break;
    case X_INTERVAL:
      if ((rc = intervals(c->values + row0 * 16, src, valid, n, c->name, err))) goto fail;
      break;
    case X_STR:
      if ((rc = append_strings(c, row0, src, valid, n, err))) goto fail;
      break;
    }
  }
  x->rows = row0 + n;
  return MALLARD_OK;
fail:
  discard_batch(x);
  return rc;
}

int64_t db_export_rows(const db_export *x) {
  return x->rows;
}

/* ---------------------------------------------------------------- finished batches */

static void child_release(struct ArrowArray *a) {
  xchild_priv *p = a->private_data;
  if (p) {
    for (int i = 0; i < 3; i++) free(p->bufs[i]);
    free(p);
  }
  a->release = NULL;
  a->private_data = NULL;
}

static void batch_release(struct ArrowArray *a) {
  xbatch_priv *p = a->private_data;
  if (p) {
    for (int64_t i = 0; i < p->n; i++)
      if (p->children[i].release) p->children[i].release(&p->children[i]);
    free(p->children);
    free(p->child_ptrs);
    free(p);
  }
  a->release = NULL;
  a->private_data = NULL;
}

mlr_code db_export_finish(db_export *x, struct ArrowArray *out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  memset(out, 0, sizeof *out);
  if ((rc = reserve_rows(x, 1, err))) goto fail; /* an empty batch still has its buffers */
  xbatch_priv *bp = calloc(1, sizeof *bp);
  if (!bp) goto fail_oom;
  out->length = x->rows;
  out->n_buffers = 1;
  out->private_data = bp;
  out->release = batch_release;
  out->buffers = bp->buffers;
  bp->children = calloc((size_t)(x->ncols ? x->ncols : 1), sizeof *bp->children);
  bp->child_ptrs = calloc((size_t)(x->ncols ? x->ncols : 1), sizeof *bp->child_ptrs);
  if (!bp->children || !bp->child_ptrs) goto fail_oom;
  bp->n = x->ncols;
  out->n_children = x->ncols;
  out->children = bp->child_ptrs;
  for (int64_t i = 0; i < x->ncols; i++) {
    xcol *c = &x->cols[i];
    struct ArrowArray *a = &bp->children[i];
    bp->child_ptrs[i] = a;
    xchild_priv *cp = calloc(1, sizeof *cp);
    if (!cp) goto fail_oom;
    a->length = x->rows;
    a->null_count = c->null_count;
    a->n_buffers = c->kind == X_STR ? 3 : 2;
    a->buffers = cp->ptrs;
    a->private_data = cp;
    a->release = child_release;
    cp->bufs[0] = c->validity;
    cp->bufs[1] = c->values;
    cp->bufs[2] = c->data;
    for (int b = 0; b < 3; b++) cp->ptrs[b] = cp->bufs[b];
    if (c->kind == X_STR) c->data_hint = c->data_len;
    c->validity = c->values = c->data = NULL;
    c->data_len = c->data_cap = c->null_count = 0;
  }
  x->rows = 0;
  x->cap = 0;
  return MALLARD_OK;
fail_oom:
  rc = oom(err);
fail:
  if (out->release) out->release(out); /* the columns moved so far */
  discard_batch(x);
  return rc;
}

void db_export_free(db_export *x) {
  if (!x) return;
  if (x->cols) {
    discard_batch(x);
    for (int64_t i = 0; i < x->ncols; i++) free(x->cols[i].name);
  }
  free(x->cols);
  free(x);
}
