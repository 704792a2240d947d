/* Concatenates Arrow arrays of one schema into one array with buffers sized for the whole
 * batch: validity bitmaps, fixed-width values, rebased offsets, string data, nested children
 * and dictionary indices. Used to turn DuckDB's 2048-row chunks into ~64K-row batches. */
#include "db/db_coalesce.h"

#include <stdlib.h>
#include <string.h>

typedef enum kind {
  K_NULL,
  K_BOOL,
  K_BOOL8, /* one byte per value in, bit-packed out */
  K_FIXED,
  K_BIN32,
  K_BIN64,
  K_LIST32,
  K_LIST64,
  K_FSL,
  K_STRUCT,
  K_SPARSE_UNION,
  K_UNSUPPORTED
} kind;

/* A range of an input array: start is absolute (already includes the array's offset). */
typedef struct slice {
  const struct ArrowArray *a;
  int64_t start;
  int64_t len;
} slice;

typedef struct node_priv {
  void *bufs[3];
  const void *bufptrs[3];
  struct ArrowArray **children;
  int64_t n_children;
  struct ArrowArray *dictionary;
} node_priv;

bool db_arrow_metadata_get(const char *md, const char *key, char *out, size_t out_size) {
  if (!md || out_size == 0) return false;
  int32_t n, kl, vl;
  const char *p = md;
  memcpy(&n, p, 4);
  p += 4;
  for (int32_t i = 0; i < n; i++) {
    memcpy(&kl, p, 4);
    p += 4;
    const char *k = p;
    p += kl;
    memcpy(&vl, p, 4);
    p += 4;
    const char *v = p;
    p += vl;
    if (kl >= 0 && vl >= 0 && (size_t)kl == strlen(key) && memcmp(k, key, (size_t)kl) == 0) {
      size_t m = (size_t)vl < out_size - 1 ? (size_t)vl : out_size - 1;
      memcpy(out, v, m);
      out[m] = '\0';
      return true;
    }
  }
  return false;
}

bool db_arrow_is_bool8(const struct ArrowSchema *s) {
  char ext[32];
  return s && s->format && !strcmp(s->format, "c") &&
         db_arrow_metadata_get(s->metadata, "ARROW:extension:name", ext, sizeof ext) &&
         !strcmp(ext, "arrow.bool8");
}

void db_arrow_schema_unbool8(struct ArrowSchema *s) {
  if (!s) return;
  /* DuckDB's schema release frees its own holder, not these pointers: static strings are safe. */
  if (db_arrow_is_bool8(s)) {
    s->format = "b";
    s->metadata = NULL;
  }
  for (int64_t i = 0; i < s->n_children; i++) db_arrow_schema_unbool8(s->children[i]);
  db_arrow_schema_unbool8(s->dictionary);
}

static kind classify_schema(const struct ArrowSchema *s, int depth, int64_t *width);

static kind classify(const char *f, int64_t *width) {
  *width = 0;
  if (!f || !f[0]) return K_UNSUPPORTED;
  if (f[1] == '\0') {
    switch (f[0]) {
    case 'n':
      return K_NULL;
    case 'b':
      return K_BOOL;
    case 'c':
    case 'C':
      *width = 1;
      return K_FIXED;
    case 's':
    case 'S':
    case 'e':
      *width = 2;
      return K_FIXED;
    case 'i':
    case 'I':
    case 'f':
      *width = 4;
      return K_FIXED;
    case 'l':
    case 'L':
    case 'g':
      *width = 8;
      return K_FIXED;
    case 'u':
    case 'z':
      return K_BIN32;
    case 'U':
    case 'Z':
      return K_BIN64;
    default:
      return K_UNSUPPORTED;
    }
  }
  if (f[0] == 'd' && f[1] == ':') {
    const char *c1 = strchr(f + 2, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    long bits = c2 ? strtol(c2 + 1, NULL, 10) : 128;
    if (bits != 32 && bits != 64 && bits != 128 && bits != 256) return K_UNSUPPORTED;
    *width = bits / 8;
    return K_FIXED;
  }
  if (f[0] == 'w' && f[1] == ':') {
    long n = strtol(f + 2, NULL, 10);
    if (n <= 0) return K_UNSUPPORTED;
    *width = n;
    return K_FIXED;
  }
  if (f[0] == 't') {
    if (!strcmp(f, "tdD") || !strcmp(f, "tts") || !strcmp(f, "ttm") || !strcmp(f, "tiM")) {
      *width = 4;
      return K_FIXED;
    }
    if (!strcmp(f, "tdm") || !strcmp(f, "ttu") || !strcmp(f, "ttn") || !strcmp(f, "tiD") ||
        (f[1] == 's' && f[2] && f[3] == ':') || (f[1] == 'D' && f[2] && !f[3])) {
      *width = 8;
      return K_FIXED;
    }
    if (!strcmp(f, "tin")) {
      *width = 16;
      return K_FIXED;
    }
    return K_UNSUPPORTED;
  }
  if (!strcmp(f, "+l") || !strcmp(f, "+m")) return K_LIST32;
  if (!strcmp(f, "+L")) return K_LIST64;
  if (!strcmp(f, "+s")) return K_STRUCT;
  if (!strncmp(f, "+us:", 4)) return K_SPARSE_UNION;
  if (!strncmp(f, "+w:", 3)) {
    long n = strtol(f + 3, NULL, 10);
    if (n <= 0) return K_UNSUPPORTED;
    *width = n;
    return K_FSL;
  }
  return K_UNSUPPORTED;
}

/* depth: 0 for the record batch, 1 for its columns. DuckDB 1.4.4 labels every BOOLEAN as
 * arrow.bool8 under arrow_lossless_conversion but writes bytes only for top-level columns:
 * nested booleans are bit-packed already. */
static kind classify_schema(const struct ArrowSchema *s, int depth, int64_t *width) {
  if (db_arrow_is_bool8(s)) {
    *width = depth == 1 ? 1 : 0;
    return depth == 1 ? K_BOOL8 : K_BOOL;
  }
  return classify(s->format, width);
}

bool db_coalesce_supported(const struct ArrowSchema *s) {
  int64_t w;
  if (!s) return false;
  kind k = classify_schema(s, 1, &w);
  if (k == K_UNSUPPORTED) return false;
  if (s->dictionary && (k != K_FIXED || !db_coalesce_supported(s->dictionary))) return false;
  for (int64_t i = 0; i < s->n_children; i++)
    if (!db_coalesce_supported(s->children[i])) return false;
  return true;
}

static void node_release(struct ArrowArray *a) {
  node_priv *p = a->private_data;
  if (p) {
    for (int i = 0; i < 3; i++) free(p->bufs[i]);
    for (int64_t i = 0; i < p->n_children; i++) {
      struct ArrowArray *c = p->children ? p->children[i] : NULL;
      if (c && c->release) c->release(c);
      free(c);
    }
    free(p->children);
    if (p->dictionary) {
      if (p->dictionary->release) p->dictionary->release(p->dictionary);
      free(p->dictionary);
    }
    free(p);
  }
  a->release = NULL;
  a->private_data = NULL;
}

static inline bool get_bit(const uint8_t *b, int64_t i) {
  return (b[i >> 3] >> (i & 7)) & 1;
}

/* Copies len bits from src at bit sp to dst at bit dp; whole bytes by memcpy when aligned. */
static void copy_bits(uint8_t *dst, int64_t dp, const uint8_t *src, int64_t sp, int64_t len) {
  if (len <= 0) return;
  if ((dp & 7) == 0 && (sp & 7) == 0) {
    int64_t whole = len >> 3;
    memcpy(dst + (dp >> 3), src + (sp >> 3), (size_t)whole);
    for (int64_t i = whole << 3; i < len; i++) db_bit_put(dst, dp + i, get_bit(src, sp + i));
    return;
  }
  for (int64_t i = 0; i < len; i++) db_bit_put(dst, dp + i, get_bit(src, sp + i));
}

static void set_bits(uint8_t *dst, int64_t dp, int64_t len) {
  for (int64_t i = 0; i < len && ((dp + i) & 7); i++) db_bit_put(dst, dp + i, true);
  int64_t first = (dp + 7) & ~(int64_t)7;
  if (first >= dp + len) return;
  int64_t rest = dp + len - first;
  memset(dst + (first >> 3), 0xff, (size_t)(rest >> 3));
  for (int64_t i = first + ((rest >> 3) << 3); i < dp + len; i++) db_bit_put(dst, i, true);
}

static int64_t count_set(const uint8_t *b, int64_t len) {
  int64_t n = 0, whole = len >> 3;
  for (int64_t i = 0; i < whole; i++) n += __builtin_popcount(b[i]);
  for (int64_t i = whole << 3; i < len; i++) n += get_bit(b, i);
  return n;
}

static mlr_code oom(mlr_error *err) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory coalescing a batch");
}

void *db_buffer_alloc(int64_t size) {
  size_t n = (size_t)(size > 0 ? size : 1);
  n = (n + 63) & ~(size_t)63;
  return aligned_alloc(64, n);
}

static mlr_code concat(const struct ArrowSchema *s, int depth, const slice *in, int64_t n,
                       struct ArrowArray *out, mlr_error *err);

/* Builds the child slices of a nested node and concatenates child i. */
static mlr_code concat_child(const struct ArrowSchema *cs, int depth, const slice *in, int64_t n,
                             int64_t ci, kind k, int64_t width, struct ArrowArray *out,
                             mlr_error *err) {
  slice *cin = malloc(sizeof *cin * (size_t)n);
  if (!cin) return oom(err);
  for (int64_t j = 0; j < n; j++) {
    const struct ArrowArray *a = in[j].a, *c = a->children[ci];
    cin[j].a = c;
    if (k == K_LIST32 || k == K_LIST64) {
      int64_t b, e;
      if (k == K_LIST32) {
        const int32_t *o = a->buffers[1];
        b = in[j].len ? o[in[j].start] : 0;
        e = in[j].len ? o[in[j].start + in[j].len] : 0;
      } else {
        const int64_t *o = a->buffers[1];
        b = in[j].len ? o[in[j].start] : 0;
        e = in[j].len ? o[in[j].start + in[j].len] : 0;
      }
      cin[j].start = c->offset + b;
      cin[j].len = e - b;
    } else if (k == K_FSL) {
      cin[j].start = c->offset + in[j].start * width;
      cin[j].len = in[j].len * width;
    } else { /* struct, sparse union: children are parallel to the parent */
      cin[j].start = c->offset + in[j].start;
      cin[j].len = in[j].len;
    }
  }
  mlr_code rc = concat(cs, depth, cin, n, out, err);
  free(cin);
  return rc;
}

static mlr_code concat(const struct ArrowSchema *s, int depth, const slice *in, int64_t n,
                       struct ArrowArray *out, mlr_error *err) {
  int64_t width = 0, total = 0;
  mlr_code rc = MALLARD_OK;
  kind k = classify_schema(s, depth, &width);
  if (k == K_UNSUPPORTED)
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "cannot coalesce Arrow format '%s'",
                         s->format ? s->format : "?");
  for (int64_t j = 0; j < n; j++)
    if (mlr_add_overflow_i64(total, in[j].len, &total)) return oom(err);

  node_priv *p = calloc(1, sizeof *p);
  if (!p) return oom(err);
  memset(out, 0, sizeof *out);
  out->length = total;
  out->private_data = p;
  out->release = node_release;
  out->buffers = p->bufptrs;

  /* Validity bitmap (no validity for null and union arrays). */
  bool has_validity_slot = k != K_NULL && k != K_SPARSE_UNION;
  if (has_validity_slot) {
    bool any_nulls = false;
    for (int64_t j = 0; j < n && !any_nulls; j++)
      any_nulls = in[j].len > 0 && in[j].a->buffers[0] && in[j].a->null_count != 0;
    if (any_nulls) {
      uint8_t *v = db_buffer_alloc((total + 7) / 8);
      if (!v) {
        rc = oom(err);
        goto fail;
      }
      p->bufs[0] = v;
      int64_t pos = 0;
      for (int64_t j = 0; j < n; j++) {
        if (in[j].a->buffers[0])
          copy_bits(v, pos, in[j].a->buffers[0], in[j].start, in[j].len);
        else
          set_bits(v, pos, in[j].len);
        pos += in[j].len;
      }
      out->null_count = total - count_set(v, total);
    }
  } else if (k == K_NULL) {
    out->null_count = total;
  }
  p->bufptrs[0] = p->bufs[0];

  switch (k) {
  case K_NULL:
    out->n_buffers = 0;
    break;
  case K_BOOL: {
    out->n_buffers = 2;
    uint8_t *d = db_buffer_alloc((total + 7) / 8);
    if (!d) goto fail_oom;
    p->bufs[1] = d;
    int64_t pos = 0;
    for (int64_t j = 0; j < n; j++) {
      copy_bits(d, pos, in[j].a->buffers[1], in[j].start, in[j].len);
      pos += in[j].len;
    }
    break;
  }
  case K_BOOL8: {
    out->n_buffers = 2;
    uint8_t *d = db_buffer_alloc((total + 7) / 8);
    if (!d) goto fail_oom;
    memset(d, 0, (size_t)((total + 7) / 8));
    p->bufs[1] = d;
    int64_t pos = 0;
    for (int64_t j = 0; j < n; j++) {
      const uint8_t *src = (const uint8_t *)in[j].a->buffers[1] + in[j].start;
      for (int64_t i = 0; i < in[j].len; i++, pos++)
        if (src[i]) d[pos >> 3] |= (uint8_t)(1u << (pos & 7));
    }
    break;
  }
  case K_FIXED: {
    int64_t size;
    out->n_buffers = 2;
    if (mlr_mul_overflow_i64(total, width, &size)) goto fail_oom;
    uint8_t *d = db_buffer_alloc(size);
    if (!d) goto fail_oom;
    p->bufs[1] = d;
    for (int64_t j = 0; j < n; j++) {
      if (in[j].len == 0) continue;
      memcpy(d, (const uint8_t *)in[j].a->buffers[1] + in[j].start * width,
             (size_t)(in[j].len * width));
      d += in[j].len * width;
    }
    break;
  }
  case K_BIN32:
  case K_BIN64:
  case K_LIST32:
  case K_LIST64: {
    bool wide = k == K_BIN64 || k == K_LIST64;
    bool bin = k == K_BIN32 || k == K_BIN64;
    int64_t osz = wide ? 8 : 4, data_total = 0;
    out->n_buffers = bin ? 3 : 2;
    uint8_t *ob = db_buffer_alloc((total + 1) * osz);
    if (!ob) goto fail_oom;
    p->bufs[1] = ob;
    /* First pass: the size of the concatenated values. */
    for (int64_t j = 0; j < n; j++) {
      if (in[j].len == 0) continue;
      int64_t b, e;
      if (wide) {
        const int64_t *o = in[j].a->buffers[1];
        b = o[in[j].start];
        e = o[in[j].start + in[j].len];
      } else {
        const int32_t *o = in[j].a->buffers[1];
        b = o[in[j].start];
        e = o[in[j].start + in[j].len];
      }
      if (e < b || mlr_add_overflow_i64(data_total, e - b, &data_total)) goto fail_oom;
    }
    if (!wide && data_total > INT32_MAX) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "column '%s': more than 2 GiB of values in one batch; use a smaller "
                         "batch size",
                         s->name ? s->name : "");
      goto fail;
    }
    uint8_t *data = NULL;
    if (bin) {
      data = db_buffer_alloc(data_total);
      if (!data) goto fail_oom;
      p->bufs[2] = data;
    }
    int64_t pos = 0, dpos = 0;
    if (wide)
      ((int64_t *)ob)[0] = 0;
    else
      ((int32_t *)ob)[0] = 0;
    for (int64_t j = 0; j < n; j++) {
      int64_t st = in[j].start, len = in[j].len;
      if (len == 0) continue;
      int64_t base;
      if (wide) {
        const int64_t *o = in[j].a->buffers[1];
        int64_t *d = (int64_t *)ob + pos + 1;
        base = o[st];
        for (int64_t i = 0; i < len; i++) d[i] = dpos + (o[st + i + 1] - base);
        if (bin)
          memcpy(data + dpos, (const uint8_t *)in[j].a->buffers[2] + base,
                 (size_t)(o[st + len] - base));
        dpos += o[st + len] - base;
      } else {
        const int32_t *o = in[j].a->buffers[1];
        int32_t *d = (int32_t *)ob + pos + 1;
        base = o[st];
        for (int64_t i = 0; i < len; i++) d[i] = (int32_t)(dpos + (o[st + i + 1] - base));
        if (bin)
          memcpy(data + dpos, (const uint8_t *)in[j].a->buffers[2] + base,
                 (size_t)(o[st + len] - base));
        dpos += o[st + len] - base;
      }
      pos += len;
    }
    break;
  }
  case K_SPARSE_UNION: {
    out->n_buffers = 1;
    uint8_t *t = db_buffer_alloc(total);
    if (!t) goto fail_oom;
    p->bufs[0] = t;
    p->bufptrs[0] = t;
    for (int64_t j = 0; j < n; j++) {
      if (in[j].len == 0) continue;
      memcpy(t, (const uint8_t *)in[j].a->buffers[0] + in[j].start, (size_t)in[j].len);
      t += in[j].len;
    }
    break;
  }
  case K_FSL:
  case K_STRUCT:
    out->n_buffers = 1;
    break;
  default:
    break;
  }
  for (int i = 1; i < 3; i++) p->bufptrs[i] = p->bufs[i];

  if (s->n_children > 0) {
    p->children = calloc((size_t)s->n_children, sizeof *p->children);
    if (!p->children) goto fail_oom;
    p->n_children = s->n_children;
    out->n_children = s->n_children;
    out->children = p->children;
    for (int64_t ci = 0; ci < s->n_children; ci++) {
      p->children[ci] = calloc(1, sizeof(struct ArrowArray));
      if (!p->children[ci]) goto fail_oom;
      rc = concat_child(s->children[ci], depth + 1, in, n, ci, k, width, p->children[ci], err);
      if (rc) goto fail;
    }
  }

  if (s->dictionary) {
    /* DuckDB's ENUM chunks all carry the enum's full dictionary: keep the first one. */
    const struct ArrowArray *d0 = in[0].a->dictionary;
    for (int64_t j = 1; j < n; j++)
      if (!in[j].a->dictionary || in[j].a->dictionary->length != d0->length) {
        rc = mlr_error_set(err, MALLARD_UNIMPLEMENTED,
                           "column '%s': chunks carry different dictionaries",
                           s->name ? s->name : "");
        goto fail;
      }
    p->dictionary = calloc(1, sizeof(struct ArrowArray));
    if (!p->dictionary) goto fail_oom;
    slice ds = {d0, d0->offset, d0->length};
    rc = concat(s->dictionary, depth + 1, &ds, 1, p->dictionary, err);
    if (rc) goto fail;
    out->dictionary = p->dictionary;
  }
  return MALLARD_OK;

fail_oom:
  rc = oom(err);
fail:
  node_release(out);
  return rc;
}

mlr_code db_coalesce(const struct ArrowSchema *schema, struct ArrowArray *const *arrays, int64_t n,
                     struct ArrowArray *out, mlr_error *err) {
  if (n < 1) return mlr_error_set(err, MALLARD_INTERNAL, "nothing to coalesce");
  slice *in = malloc(sizeof *in * (size_t)n);
  if (!in) return oom(err);
  for (int64_t j = 0; j < n; j++) {
    in[j].a = arrays[j];
    in[j].start = arrays[j]->offset;
    in[j].len = arrays[j]->length;
  }
  mlr_code rc = concat(schema, 0, in, n, out, err);
  free(in);
  return rc;
}

mlr_code db_coalesce_range(const struct ArrowSchema *schema, const struct ArrowArray *array,
                           int64_t start, int64_t len, struct ArrowArray *out, mlr_error *err) {
  slice in = {array, array->offset + start, len};
  if (start < 0 || len < 0 || start + len > array->length)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "slice out of the array's bounds");
  return concat(schema, 1, &in, 1, out, err);
}

int64_t db_count_nulls(const uint8_t *validity, int64_t start, int64_t len) {
  int64_t set = 0, i = 0;
  for (; i < len && ((start + i) & 7); i++) set += get_bit(validity, start + i);
  for (; i + 8 <= len; i += 8) set += __builtin_popcount(validity[(start + i) >> 3]);
  for (; i < len; i++) set += get_bit(validity, start + i);
  return len - set;
}
