/* Array validation (arrowc_array_validate_ex): full, or STRUCTURAL (only the O(1)-per-buffer
 * checks). The O(rows) checks are branch-free loops the compiler vectorises: a violation flag is
 * accumulated over the whole buffer and the bad element is only located, by a second scalar
 * pass, when the flag is set. */
#include "arrow/arrowc_array.h"
#include "arrow/arrowc_schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct vctx {
  char path[512];
  int flags;
  bool full;
  mlr_error *err;
} vctx;

__attribute__((format(printf, 2, 3))) static mlr_code vfail(vctx *c, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return mlr_error_set(c->err, MALLARD_INVALID_ARGUMENT, "column '%s': %s", c->path, msg);
}

/* ---- kernels: loops without calls or early exits, so that they vectorise ----------------- */

static bool bit_get(const uint8_t *bits, int64_t i) {
  return (bits[i >> 3] >> (i & 7)) & 1;
}

/* Set bits in n 64-bit words: SWAR popcount, summed per byte (a byte holds at most 8 per word,
 * so 31 words fit before a fold), which vectorises without a popcount instruction. */
static int64_t popcount_words(const uint8_t *p, int64_t nwords) {
  const uint64_t m1 = 0x5555555555555555u, m2 = 0x3333333333333333u, m4 = 0x0f0f0f0f0f0f0f0fu;
  int64_t total = 0;
  for (int64_t base = 0; base < nwords; base += 31) {
    int64_t end = nwords - base < 31 ? nwords : base + 31;
    uint64_t acc = 0;
    for (int64_t i = base; i < end; i++) {
      uint64_t x;
      memcpy(&x, p + 8 * i, 8);
      x = x - ((x >> 1) & m1);
      x = (x & m2) + ((x >> 2) & m2);
      acc += (x + (x >> 4)) & m4;
    }
    acc = (acc & 0x00ff00ff00ff00ffu) + ((acc >> 8) & 0x00ff00ff00ff00ffu);
    acc = (acc & 0x0000ffff0000ffffu) + ((acc >> 16) & 0x0000ffff0000ffffu);
    total += (int64_t)((acc & 0xffffffffu) + (acc >> 32));
  }
  return total;
}

static int64_t count_nulls(const uint8_t *bits, int64_t offset, int64_t length) {
  int64_t set = 0, i = offset, end = offset + length;
  while (i < end && (i & 7) != 0) set += bit_get(bits, i++);
  int64_t words = (end - i) / 64;
  set += popcount_words(bits + (i >> 3), words);
  i += 64 * words;
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

/* True when p[0..n] (n+1 offsets, p[0] >= 0 checked by the caller) is not non-decreasing.
 * With every offset >= 0 the difference y - x cannot overflow, so its sign says y < x; a
 * negative offset after a non-negative first one implies a decrease, and sets the flag through
 * its own sign bit. */
static bool offsets_decrease_32(const uint8_t *p, int64_t n) {
  uint32_t acc = 0;
  for (int64_t i = 0; i < n; i++) {
    uint32_t x, y;
    memcpy(&x, p + 4 * i, 4);
    memcpy(&y, p + 4 * i + 4, 4);
    acc |= (y - x) | y;
  }
  return (acc >> 31) != 0;
}

static bool offsets_decrease_64(const uint8_t *p, int64_t n) {
  uint64_t acc = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t x, y;
    memcpy(&x, p + 8 * i, 8);
    memcpy(&y, p + 8 * i + 8, 8);
    acc |= (y - x) | y;
  }
  return (acc >> 63) != 0;
}

/* True when some of the n integers of width w (signed or not) is outside [0, limit). */
static bool any_outside(const uint8_t *p, int w, bool is_signed, int64_t n, int64_t limit) {
  uint64_t lim = (uint64_t)limit, bad = 0;
  switch (w) {
  case 1:
    for (int64_t i = 0; i < n; i++) {
      uint64_t v = is_signed ? (uint64_t)(int64_t)(int8_t)p[i] : (uint64_t)p[i];
      bad |= v >= lim;
    }
    break;
  case 2:
    for (int64_t i = 0; i < n; i++) {
      uint16_t u;
      memcpy(&u, p + 2 * i, 2);
      uint64_t v = is_signed ? (uint64_t)(int64_t)(int16_t)u : (uint64_t)u;
      bad |= v >= lim;
    }
    break;
  case 4:
    for (int64_t i = 0; i < n; i++) {
      uint32_t u;
      memcpy(&u, p + 4 * i, 4);
      uint64_t v = is_signed ? (uint64_t)(int64_t)(int32_t)u : (uint64_t)u;
      bad |= v >= lim;
    }
    break;
  default:
    /* unsigned 64-bit values above INT64_MAX read as -1 (outside) in the exact pass, and are
     * >= lim here too since lim <= INT64_MAX */
    for (int64_t i = 0; i < n; i++) {
      uint64_t v;
      memcpy(&v, p + 8 * i, 8);
      bad |= v >= lim;
    }
    break;
  }
  return bad != 0;
}

/* ---- checks --------------------------------------------------------------------------------- */

static mlr_code check_offsets(vctx *c, const struct ArrowArray *a, const void *buf, int width,
                              int64_t limit, const char *what) {
  if (a->length == 0 && buf == NULL) return MALLARD_OK;
  if (buf == NULL) return vfail(c, "offsets buffer is missing");
  int64_t prev = read_int(buf, width, true, a->offset);
  if (prev < 0) return vfail(c, "offset %lld at slot %lld is negative", (long long)prev, 0LL);
  const uint8_t *p = (const uint8_t *)buf + (int64_t)width * a->offset;
  if (!c->full) { /* the first and the last offset only */
    int64_t last = read_int(p, width, true, a->length);
    if (last < prev)
      return vfail(c, "offsets decrease at slot %lld (%lld after %lld)", (long long)a->length,
                   (long long)last, (long long)prev);
    if (limit >= 0 && last > limit)
      return vfail(c, "last offset %lld is past the %lld-element %s", (long long)last,
                   (long long)limit, what);
    return MALLARD_OK;
  }
  bool decreasing =
      width == 4 ? offsets_decrease_32(p, a->length) : offsets_decrease_64(p, a->length);
  if (!decreasing) {
    prev = read_int(buf, width, true, a->offset + a->length);
    if (limit >= 0 && prev > limit)
      return vfail(c, "last offset %lld is past the %lld-element %s", (long long)prev,
                   (long long)limit, what);
    return MALLARD_OK;
  }
  for (int64_t i = 1; i <= a->length; i++) {
    int64_t o = read_int(buf, width, true, a->offset + i);
    if (o < prev)
      return vfail(c, "offsets decrease at slot %lld (%lld after %lld)", (long long)i, (long long)o,
                   (long long)prev);
    prev = o;
  }
  if (limit >= 0 && prev > limit)
    return vfail(c, "last offset %lld is past the %lld-element %s", (long long)prev,
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

/* The exact pass over views, used when the fast pass found a violation. */
static mlr_code locate_bad_view(vctx *c, const struct ArrowArray *a, int64_t n_var,
                                const uint8_t *sizes_p) {
  const uint8_t *views = a->buffers[1];
  for (int64_t i = 0; i < a->length; i++) {
    const uint8_t *view = views + 16 * (a->offset + i);
    int32_t len, idx, off;
    memcpy(&len, view, 4);
    if (len < 0) return vfail(c, "view %lld has negative length %d", (long long)i, len);
    if (len <= 12) continue;
    memcpy(&idx, view + 8, 4);
    memcpy(&off, view + 12, 4);
    if (idx < 0 || idx >= n_var)
      return vfail(c, "view %lld refers to data buffer %d of %lld", (long long)i, idx,
                   (long long)n_var);
    int64_t sz;
    memcpy(&sz, sizes_p + 8 * idx, 8);
    if (off < 0 || (int64_t)off + len > sz)
      return vfail(c, "view %lld [%d, +%d) is past the %lld-byte data buffer %d", (long long)i, off,
                   len, (long long)sz, idx);
  }
  return MALLARD_OK;
}

static mlr_code validate_views(vctx *c, const struct ArrowArray *a) {
  if (a->n_buffers < 3)
    return vfail(c, "view array has %lld buffers, needs at least 3", (long long)a->n_buffers);
  int64_t n_var = a->n_buffers - 3;
  const uint8_t *views = a->buffers[1];
  const uint8_t *sizes_p = a->buffers[a->n_buffers - 1];
  if (a->length > 0 && views == NULL) return vfail(c, "views buffer is missing");
  if (n_var > 0 && sizes_p == NULL) return vfail(c, "variadic sizes buffer is missing");
  for (int64_t v = 0; v < n_var; v++) {
    int64_t sz;
    memcpy(&sz, sizes_p + 8 * v, 8);
    if (sz < 0) return vfail(c, "variadic buffer %lld has negative size", (long long)v);
    if (sz > 0 && a->buffers[2 + v] == NULL)
      return vfail(c, "variadic buffer %lld is missing", (long long)v);
  }
  if (!c->full || a->length == 0) return MALLARD_OK;
  /* Fast pass: branch-free; an index outside [0, n_var) reads size 0 (and is flagged). */
  const uint8_t *p = views + 16 * a->offset;
  uint64_t bad = 0;
  for (int64_t i = 0; i < a->length; i++) {
    int32_t len, idx, off;
    memcpy(&len, p + 16 * i, 4);
    memcpy(&idx, p + 16 * i + 8, 4);
    memcpy(&off, p + 16 * i + 12, 4);
    uint64_t is_long = len > 12;
    uint64_t idx_ok = (uint64_t)(uint32_t)idx < (uint64_t)n_var;
    int64_t sz = 0;
    int64_t k = idx_ok && is_long ? idx : -1;
    if (k >= 0) memcpy(&sz, sizes_p + 8 * k, 8);
    bad |= (uint64_t)(len < 0) |
           (is_long & ((idx_ok ^ 1u) | (uint64_t)(off < 0) | (uint64_t)((int64_t)off + len > sz)));
  }
  return bad ? locate_bad_view(c, a, n_var, sizes_p) : MALLARD_OK;
}

/* Dictionary indices of slots [a->offset, end) within [0, dict_len); null slots may hold
 * anything. */
static mlr_code check_dictionary_indices(vctx *c, const struct ArrowArray *a, int w, bool is_signed,
                                         int64_t dict_len) {
  int64_t end = a->offset + a->length;
  const uint8_t *validity = a->buffers[0];
  if (a->length == 0) return MALLARD_OK;
  /* Fast pass over every slot, null or not: usually all are within range. */
  if (!any_outside((const uint8_t *)a->buffers[1] + (int64_t)w * a->offset, w, is_signed, a->length,
                   dict_len))
    return MALLARD_OK;
  for (int64_t i = a->offset; i < end; i++) {
    if (validity != NULL && !bit_get(validity, i)) continue;
    int64_t idx = read_int(a->buffers[1], w, is_signed, i);
    if (idx < 0 || idx >= dict_len)
      return vfail(c, "dictionary index %lld at slot %lld is outside the %lld-entry dictionary",
                   (long long)idx, (long long)(i - a->offset), (long long)dict_len);
  }
  return MALLARD_OK;
}

static mlr_code check_list_views(vctx *c, const struct ArrowArray *a, int w, int64_t child_len) {
  int64_t end = a->offset + a->length;
  const uint8_t *ob = a->buffers[1], *zb = a->buffers[2];
  /* Fast pass: o and z in [0, child_len] and z <= child_len - o, all without overflow. */
  uint64_t bad = 0, lim = (uint64_t)child_len;
  if (w == 4) {
    for (int64_t i = a->offset; i < end; i++) {
      int32_t o, z;
      memcpy(&o, ob + 4 * i, 4);
      memcpy(&z, zb + 4 * i, 4);
      uint64_t uo = (uint64_t)(int64_t)o, uz = (uint64_t)(int64_t)z;
      bad |= (uint64_t)(uo > lim) | (uint64_t)(uz > lim) | (uint64_t)(uz > lim - uo);
    }
  } else {
    for (int64_t i = a->offset; i < end; i++) {
      uint64_t uo, uz;
      memcpy(&uo, ob + 8 * i, 8);
      memcpy(&uz, zb + 8 * i, 8);
      bad |= (uint64_t)(uo > lim) | (uint64_t)(uz > lim) | (uint64_t)(uz > lim - uo);
    }
  }
  if (!bad) return MALLARD_OK;
  for (int64_t i = a->offset; i < end; i++) {
    int64_t o = read_int(ob, w, true, i), z = read_int(zb, w, true, i);
    if (o < 0 || z < 0 || o > child_len || z > child_len - o)
      return vfail(c, "list view %lld [%lld, +%lld) is outside the %lld-element child",
                   (long long)(i - a->offset), (long long)o, (long long)z, (long long)child_len);
  }
  return MALLARD_OK;
}

static mlr_code check_union(vctx *c, const arrowc_format *f, const struct ArrowArray *a) {
  int64_t end = a->offset + a->length;
  bool dense = f->type == ARROWC_TYPE_DENSE_UNION;
  int8_t child_of[128];
  memset(child_of, -1, sizeof child_of);
  for (int k = 0; k < f->n_union_types; k++) child_of[f->union_type_ids[k]] = (int8_t)k;
  const int8_t *ids = a->buffers[0];
  /* Per type id (as a byte, so negative ids land in 128..255): the child's length for dense
   * offsets (0 for an id that is not the union's: every offset is then out of range), or for
   * sparse unions 0 when the child is long enough and 1 when not (so that an offset of 0 is in
   * range exactly when the child is). */
  int64_t lim[256];
  for (int id = 0; id < 256; id++) {
    int k = id < 128 ? child_of[id] : -1;
    if (k < 0)
      lim[id] = 0;
    else if (dense)
      lim[id] = a->children[k]->length;
    else
      lim[id] = a->children[k]->length < end ? 0 : 1;
  }
  uint64_t bad = 0;
  for (int64_t i = a->offset; i < end; i++) {
    uint8_t id = (uint8_t)ids[i];
    int32_t o = 0;
    if (dense) memcpy(&o, (const uint8_t *)a->buffers[1] + 4 * i, 4);
    bad |= (uint64_t)(int64_t)o >= (uint64_t)lim[id];
  }
  if (!bad) return MALLARD_OK;
  for (int64_t i = a->offset; i < end; i++) {
    int8_t id = ids[i];
    if (id < 0 || child_of[id] < 0)
      return vfail(c, "type id %d at slot %lld is not one of the union's", id,
                   (long long)(i - a->offset));
    const struct ArrowArray *ch = a->children[child_of[id]];
    if (dense) {
      int32_t o;
      memcpy(&o, (const uint8_t *)a->buffers[1] + 4 * i, 4);
      if (o < 0 || o >= ch->length)
        return vfail(c, "dense union offset %d at slot %lld is outside the %lld-element child", o,
                     (long long)(i - a->offset), (long long)ch->length);
    } else if (ch->length < end) {
      return vfail(c, "sparse union child %d has %lld values, needs %lld", child_of[id],
                   (long long)ch->length, (long long)end);
    }
  }
  return MALLARD_OK;
}

/* True unless the n run ends from `off` increase strictly from a first value > 0. */
static bool run_ends_bad(const uint8_t *p, int w, int64_t off, int64_t n) {
  /* v_i - v_{i-1} - 1 < 0 or v_i < 0 (no overflow while every value is >= 0) */
  uint64_t acc = 0, prev = 0;
  if (w == 2) {
    for (int64_t i = 0; i < n; i++) {
      int16_t v;
      memcpy(&v, p + 2 * (off + i), 2);
      acc |= ((uint64_t)(int64_t)v - prev - 1) | (uint64_t)(int64_t)v;
      prev = (uint64_t)(int64_t)v;
    }
  } else if (w == 4) {
    for (int64_t i = 0; i < n; i++) {
      int32_t v;
      memcpy(&v, p + 4 * (off + i), 4);
      acc |= ((uint64_t)(int64_t)v - prev - 1) | (uint64_t)(int64_t)v;
      prev = (uint64_t)(int64_t)v;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      uint64_t v;
      memcpy(&v, p + 8 * (off + i), 8);
      acc |= (v - prev - 1) | v;
      prev = v;
    }
  }
  return (acc >> 63) != 0;
}

static mlr_code check_run_ends(vctx *c, const struct ArrowArray *a, int w) {
  const struct ArrowArray *re = a->children[0];
  int64_t end = a->offset + a->length;
  int64_t prev = 0;
  if (re->length > 0) prev = read_int(re->buffers[1], w, true, re->offset + re->length - 1);
  if (c->full && run_ends_bad(re->buffers[1], w, re->offset, re->length)) {
    prev = 0;
    for (int64_t i = 0; i < re->length; i++) {
      int64_t v = read_int(re->buffers[1], w, true, re->offset + i);
      if (v <= prev)
        return vfail(c, "run ends are not strictly increasing at run %lld", (long long)i);
      prev = v;
    }
  }
  if (a->length > 0 && prev < end)
    return vfail(c, "runs end at %lld, the array needs %lld", (long long)prev, (long long)end);
  return MALLARD_OK;
}

static mlr_code validate_dictionary(vctx *c, const struct ArrowSchema *s,
                                    const struct ArrowArray *a, const arrowc_format *f, int depth) {
  if (a->dictionary == NULL) return vfail(c, "dictionary is missing");
  bool is_signed;
  int w;
  switch (f->type) {
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
    return vfail(c, "dictionary index type '%s' is not an integer", s->format);
  }
  size_t len = strlen(c->path);
  snprintf(c->path + len, sizeof c->path - len, "%s", "<dictionary>");
  if (a->dictionary->release == NULL || a->dictionary->length < 0)
    return vfail(c, "invalid dictionary array");
  mlr_code rc = MALLARD_OK;
  if (!(c->flags & ARROWC_VALIDATE_SKIP_DICTIONARY_VALUES))
    rc = validate_rec(c, s->dictionary, a->dictionary, depth + 1);
  c->path[len] = '\0';
  if (rc != MALLARD_OK || !c->full) return rc;
  return check_dictionary_indices(c, a, w, is_signed, a->dictionary->length);
}

static mlr_code validate_rec(vctx *c, const struct ArrowSchema *s, const struct ArrowArray *a,
                             int depth) {
  if (depth > 1024) return vfail(c, "nested more than 1024 levels");
  if (s == NULL || s->release == NULL) return vfail(c, "released schema");
  if (a == NULL || a->release == NULL) return vfail(c, "released array");
  arrowc_format f;
  const char *format = s->format;
  mlr_code rc = arrowc_format_parse(format, &f, c->err);
  if (rc != MALLARD_OK) return vfail(c, "invalid format '%s'", format ? format : "(null)");
  if (a->length < 0 || a->offset < 0 || a->length > INT64_MAX - a->offset - 1)
    return vfail(c, "invalid length %lld / offset %lld", (long long)a->length,
                 (long long)a->offset);
  if (a->null_count < -1 || a->null_count > a->length)
    return vfail(c, "null count %lld is not within [0, %lld]", (long long)a->null_count,
                 (long long)a->length);
  if (a->n_children != s->n_children)
    return vfail(c, "array has %lld children, schema has %lld", (long long)a->n_children,
                 (long long)s->n_children);
  if (a->n_children > 0 && a->children == NULL) return vfail(c, "children array is missing");
  for (int64_t i = 0; i < a->n_children; i++)
    if (a->children[i] == NULL || s->children == NULL || s->children[i] == NULL)
      return vfail(c, "child %lld is missing", (long long)i);
  int expected_buffers = arrowc_format_n_buffers(&f);
  bool is_view = f.type == ARROWC_TYPE_STRING_VIEW || f.type == ARROWC_TYPE_BINARY_VIEW;
  if (!is_view && a->n_buffers != expected_buffers)
    return vfail(c, "array has %lld buffers, type '%s' needs %d", (long long)a->n_buffers, format,
                 expected_buffers);
  if (a->n_buffers > 0 && a->buffers == NULL) return vfail(c, "buffers array is missing");
  int64_t end = a->offset + a->length;
  bool has_validity = f.type != ARROWC_TYPE_NA && f.type != ARROWC_TYPE_SPARSE_UNION &&
                      f.type != ARROWC_TYPE_DENSE_UNION && f.type != ARROWC_TYPE_RUN_END_ENCODED;
  if (has_validity) {
    const uint8_t *validity = a->buffers[0];
    if (validity == NULL && a->null_count > 0)
      return vfail(c, "null count is %lld but there is no validity buffer",
                   (long long)a->null_count);
    if (c->full && validity != NULL && a->null_count >= 0) {
      int64_t nulls = count_nulls(validity, a->offset, a->length);
      if (nulls != a->null_count)
        return vfail(c, "null count is %lld but the validity bitmap has %lld nulls",
                     (long long)a->null_count, (long long)nulls);
    }
  } else if (f.type == ARROWC_TYPE_RUN_END_ENCODED && a->null_count > 0) {
    return vfail(c, "run-end encoded array has a null count");
  }
  /* Fixed-width data buffers must exist whenever there are values. */
  if (a->length > 0 && expected_buffers >= 2 && a->buffers[1] == NULL && !is_view)
    return vfail(c, "data buffer is missing");
  if (s->dictionary != NULL) return validate_dictionary(c, s, a, &f, depth);
  if (a->dictionary != NULL) return vfail(c, "array has a dictionary, schema has none");

  switch (f.type) {
  case ARROWC_TYPE_STRING:
  case ARROWC_TYPE_BINARY:
    return check_offsets(c, a, a->buffers[1], 4, -1, "");
  case ARROWC_TYPE_LARGE_STRING:
  case ARROWC_TYPE_LARGE_BINARY:
    return check_offsets(c, a, a->buffers[1], 8, -1, "");
  case ARROWC_TYPE_STRING_VIEW:
  case ARROWC_TYPE_BINARY_VIEW:
    return validate_views(c, a);
  case ARROWC_TYPE_LIST:
  case ARROWC_TYPE_LARGE_LIST:
  case ARROWC_TYPE_MAP: {
    if (a->n_children != 1) return vfail(c, "list array needs exactly 1 child");
    if (f.type == ARROWC_TYPE_MAP) {
      const struct ArrowSchema *e = s->children[0];
      if (strcmp(e->format, "+s") != 0 || e->n_children != 2)
        return vfail(c, "map entries must be a struct of 2 fields");
      if (a->children[0]->null_count > 0) return vfail(c, "map entries contain nulls");
    }
    rc = check_offsets(c, a, a->buffers[1], f.type == ARROWC_TYPE_LARGE_LIST ? 8 : 4,
                       a->children[0]->length, "child array");
    if (rc != MALLARD_OK) return rc;
    return validate_child(c, s, a, 0, depth);
  }
  case ARROWC_TYPE_LIST_VIEW:
  case ARROWC_TYPE_LARGE_LIST_VIEW: {
    if (a->n_children != 1) return vfail(c, "list view array needs exactly 1 child");
    int w = f.type == ARROWC_TYPE_LARGE_LIST_VIEW ? 8 : 4;
    if (a->length > 0 && (a->buffers[1] == NULL || a->buffers[2] == NULL))
      return vfail(c, "offsets or sizes buffer is missing");
    if (c->full) MLR_RETURN_NOT_OK(check_list_views(c, a, w, a->children[0]->length));
    return validate_child(c, s, a, 0, depth);
  }
  case ARROWC_TYPE_FIXED_SIZE_LIST: {
    if (a->n_children != 1) return vfail(c, "fixed-size list array needs exactly 1 child");
    int64_t need;
    if (mlr_mul_overflow_i64(end, f.fixed_size, &need) || a->children[0]->length < need)
      return vfail(c, "child has %lld values, %lld lists of %d need %lld",
                   (long long)a->children[0]->length, (long long)end, f.fixed_size,
                   (long long)need);
    return validate_child(c, s, a, 0, depth);
  }
  case ARROWC_TYPE_STRUCT:
    for (int64_t i = 0; i < a->n_children; i++) {
      if (a->children[i]->length < end)
        return vfail(c, "child %lld has %lld values, the struct needs %lld", (long long)i,
                     (long long)a->children[i]->length, (long long)end);
      MLR_RETURN_NOT_OK(validate_child(c, s, a, i, depth));
    }
    return MALLARD_OK;
  case ARROWC_TYPE_SPARSE_UNION:
  case ARROWC_TYPE_DENSE_UNION: {
    if (f.n_union_types != a->n_children)
      return vfail(c, "union lists %d type ids but has %lld children", f.n_union_types,
                   (long long)a->n_children);
    if (a->length > 0 && a->buffers[0] == NULL) return vfail(c, "type ids buffer is missing");
    if (f.type == ARROWC_TYPE_DENSE_UNION && a->length > 0 && a->buffers[1] == NULL)
      return vfail(c, "offsets buffer is missing");
    if (c->full) MLR_RETURN_NOT_OK(check_union(c, &f, a));
    for (int64_t i = 0; i < a->n_children; i++)
      MLR_RETURN_NOT_OK(validate_child(c, s, a, i, depth));
    return MALLARD_OK;
  }
  case ARROWC_TYPE_RUN_END_ENCODED: {
    if (a->n_children != 2) return vfail(c, "run-end encoded array needs 2 children");
    arrowc_format rf;
    rc = arrowc_format_parse(s->children[0]->format, &rf, c->err);
    if (rc != MALLARD_OK) return vfail(c, "bad run ends format");
    int w = rf.type == ARROWC_TYPE_INT16   ? 2
            : rf.type == ARROWC_TYPE_INT32 ? 4
            : rf.type == ARROWC_TYPE_INT64 ? 8
                                           : 0;
    if (w == 0) return vfail(c, "run ends must be int16, int32 or int64");
    MLR_RETURN_NOT_OK(validate_child(c, s, a, 0, depth));
    MLR_RETURN_NOT_OK(validate_child(c, s, a, 1, depth));
    if (a->children[0]->null_count > 0) return vfail(c, "run ends contain nulls");
    if (a->children[1]->length < a->children[0]->length) return vfail(c, "fewer values than runs");
    return check_run_ends(c, a, w);
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
  c.full = (flags & ARROWC_VALIDATE_STRUCTURAL) == 0;
  snprintf(c.path, sizeof c.path, "%s", schema != NULL && schema->name ? schema->name : "");
  c.err = err;
  return validate_rec(&c, schema, array, 0);
}

/* ---------------------------------------------------------------- decimal digits */

__extension__ typedef unsigned __int128 vu128;

int64_t arrowc_decimal_first_overflow(const struct ArrowSchema *schema,
                                      const struct ArrowArray *a) {
  arrowc_format f;
  if (arrowc_format_parse(schema->format, &f, NULL) != MALLARD_OK ||
      f.type != ARROWC_TYPE_DECIMAL || f.bit_width > 128 || f.precision < 1 || f.precision > 38)
    return -1;
  vu128 limit = 1;
  for (int i = 0; i < f.precision; i++) limit *= 10;
  const uint8_t *data = a->buffers[1];
  int bytes = f.bit_width / 8;
  for (int64_t i = 0; i < a->length; i++) {
    int64_t j = a->offset + i;
    if (!arrowc_slot_valid(a, j)) continue;
    const uint8_t *p = data + j * bytes;
    vu128 mag;
    if (bytes == 4) {
      int32_t v;
      memcpy(&v, p, 4);
      mag = v < 0 ? (vu128)(-(int64_t)v) : (vu128)v;
    } else if (bytes == 8) {
      int64_t v;
      memcpy(&v, p, 8);
      mag = v < 0 ? (vu128)(~(uint64_t)v) + 1 : (vu128)(uint64_t)v;
    } else {
      uint64_t lo, hi;
      memcpy(&lo, p, 8);
      memcpy(&hi, p + 8, 8);
      vu128 v = ((vu128)hi << 64) | lo;
      mag = (hi >> 63) != 0 ? ~v + 1 : v;
    }
    if (mag >= limit) return i;
  }
  return -1;
}
