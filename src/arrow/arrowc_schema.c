/* Owned ArrowSchema construction, deep copy, format-string parsing and custom-metadata
 * encoding (see arrowc_schema.h). */
#include "arrow/arrowc_schema.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Owned schemas
 * ---------------------------------------------------------------------------------------- */

static void schema_release_owned(struct ArrowSchema *schema) {
  if (schema == NULL || schema->release == NULL) return;
  free((void *)schema->format);
  free((void *)schema->name);
  free((void *)schema->metadata);
  if (schema->children != NULL) {
    for (int64_t i = 0; i < schema->n_children; i++) {
      struct ArrowSchema *c = schema->children[i];
      if (c == NULL) continue;
      if (c->release != NULL) c->release(c);
      free(c);
    }
    free(schema->children);
  }
  if (schema->dictionary != NULL) {
    if (schema->dictionary->release != NULL) schema->dictionary->release(schema->dictionary);
    free(schema->dictionary);
  }
  schema->release = NULL;
}

static char *dup_str(const char *s) {
  if (s == NULL) return NULL;
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d != NULL) memcpy(d, s, n + 1);
  return d;
}

static mlr_code oom(mlr_error *err, const char *what) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory allocating %s", what);
}

static mlr_code check_owned(const struct ArrowSchema *schema, mlr_error *err) {
  if (schema == NULL || schema->release != schema_release_owned)
    return mlr_error_set(err, MALLARD_INTERNAL,
                         "schema is not an owned (arrowc_schema_init) schema");
  return MALLARD_OK;
}

mlr_code arrowc_schema_init(struct ArrowSchema *out, const char *format, const char *name,
                            mlr_error *err) {
  memset(out, 0, sizeof *out);
  if (format == NULL) return mlr_error_set(err, MALLARD_INTERNAL, "schema format is NULL");
  out->release = schema_release_owned;
  out->flags = ARROW_FLAG_NULLABLE;
  out->format = dup_str(format);
  if (name != NULL) out->name = dup_str(name);
  if (out->format == NULL || (name != NULL && out->name == NULL)) {
    schema_release_owned(out);
    return oom(err, "a schema");
  }
  return MALLARD_OK;
}

mlr_code arrowc_schema_set_format(struct ArrowSchema *schema, const char *format, mlr_error *err) {
  MLR_RETURN_NOT_OK(check_owned(schema, err));
  if (format == NULL) return mlr_error_set(err, MALLARD_INTERNAL, "schema format is NULL");
  char *f = dup_str(format);
  if (f == NULL) return oom(err, "a schema format");
  free((void *)schema->format);
  schema->format = f;
  return MALLARD_OK;
}

mlr_code arrowc_schema_set_name(struct ArrowSchema *schema, const char *name, mlr_error *err) {
  MLR_RETURN_NOT_OK(check_owned(schema, err));
  char *n = NULL;
  if (name != NULL && (n = dup_str(name)) == NULL) return oom(err, "a field name");
  free((void *)schema->name);
  schema->name = n;
  return MALLARD_OK;
}

mlr_code arrowc_schema_set_metadata(struct ArrowSchema *schema, const char *metadata,
                                    mlr_error *err) {
  MLR_RETURN_NOT_OK(check_owned(schema, err));
  char *m = NULL;
  if (metadata != NULL) {
    int64_t size = arrowc_metadata_size(metadata);
    m = malloc((size_t)size);
    if (m == NULL) return oom(err, "schema metadata");
    memcpy(m, metadata, (size_t)size);
  }
  free((void *)schema->metadata);
  schema->metadata = m;
  return MALLARD_OK;
}

mlr_code arrowc_schema_alloc_children(struct ArrowSchema *schema, int64_t n_children,
                                      mlr_error *err) {
  MLR_RETURN_NOT_OK(check_owned(schema, err));
  if (schema->children != NULL || schema->n_children != 0)
    return mlr_error_set(err, MALLARD_INTERNAL, "schema children already allocated");
  if (n_children < 0 || (uint64_t)n_children > SIZE_MAX / sizeof(void *))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid child count %lld",
                         (long long)n_children);
  if (n_children == 0) return MALLARD_OK;
  schema->children = calloc((size_t)n_children, sizeof *schema->children);
  if (schema->children == NULL) return oom(err, "schema children");
  schema->n_children = n_children;
  for (int64_t i = 0; i < n_children; i++) {
    schema->children[i] = calloc(1, sizeof(struct ArrowSchema));
    if (schema->children[i] == NULL) return oom(err, "a child schema");
  }
  return MALLARD_OK;
}

mlr_code arrowc_schema_alloc_dictionary(struct ArrowSchema *schema, mlr_error *err) {
  MLR_RETURN_NOT_OK(check_owned(schema, err));
  if (schema->dictionary != NULL)
    return mlr_error_set(err, MALLARD_INTERNAL, "schema dictionary already allocated");
  schema->dictionary = calloc(1, sizeof(struct ArrowSchema));
  if (schema->dictionary == NULL) return oom(err, "a dictionary schema");
  return MALLARD_OK;
}

static mlr_code deep_copy_rec(const struct ArrowSchema *src, struct ArrowSchema *dst, int depth,
                              mlr_error *err) {
  if (depth > 1024)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "schema nested more than 1024 levels");
  if (src == NULL || src->release == NULL || src->format == NULL) {
    memset(dst, 0, sizeof *dst);
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "cannot copy a released schema");
  }
  MLR_RETURN_NOT_OK(arrowc_schema_init(dst, src->format, src->name, err));
  dst->flags = src->flags;
  mlr_code rc = arrowc_schema_set_metadata(dst, src->metadata, err);
  if (rc == MALLARD_OK && src->n_children > 0) {
    if (src->children == NULL)
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "schema has children but no array");
    else
      rc = arrowc_schema_alloc_children(dst, src->n_children, err);
    for (int64_t i = 0; rc == MALLARD_OK && i < src->n_children; i++)
      rc = deep_copy_rec(src->children[i], dst->children[i], depth + 1, err);
  }
  if (rc == MALLARD_OK && src->dictionary != NULL) {
    rc = arrowc_schema_alloc_dictionary(dst, err);
    if (rc == MALLARD_OK) rc = deep_copy_rec(src->dictionary, dst->dictionary, depth + 1, err);
  }
  if (rc != MALLARD_OK) schema_release_owned(dst);
  return rc;
}

mlr_code arrowc_schema_deep_copy(const struct ArrowSchema *src, struct ArrowSchema *dst,
                                 mlr_error *err) {
  return deep_copy_rec(src, dst, 0, err);
}

void arrowc_schema_move(struct ArrowSchema *src, struct ArrowSchema *dst) {
  memcpy(dst, src, sizeof *dst);
  src->release = NULL;
}

void arrowc_schema_release(struct ArrowSchema *schema) {
  if (schema != NULL && schema->release != NULL) schema->release(schema);
}

/* ------------------------------------------------------------------------------------------
 * Format strings
 * ---------------------------------------------------------------------------------------- */

static mlr_code bad_format(const char *format, mlr_error *err) {
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid or unsupported format string '%s'",
                       format);
}

/* Parses a decimal int32 at *p, advancing it. */
static bool parse_i32(const char **p, int32_t *out) {
  const char *s = *p;
  bool neg = false;
  if (*s == '-') {
    neg = true;
    s++;
  }
  if (*s < '0' || *s > '9') return false;
  int64_t v = 0;
  while (*s >= '0' && *s <= '9') {
    v = v * 10 + (*s - '0');
    if (v > INT32_MAX) return false;
    s++;
  }
  *out = (int32_t)(neg ? -v : v);
  *p = s;
  return true;
}

static bool parse_unit(char c, arrowc_time_unit *u) {
  switch (c) {
  case 's':
    *u = ARROWC_SECOND;
    return true;
  case 'm':
    *u = ARROWC_MILLI;
    return true;
  case 'u':
    *u = ARROWC_MICRO;
    return true;
  case 'n':
    *u = ARROWC_NANO;
    return true;
  default:
    return false;
  }
}

static mlr_code parse_simple(const char *format, arrowc_format *o, mlr_error *err) {
  static const struct {
    const char *fmt;
    arrowc_type type;
    int bits;
  } simple[] = {
      {"n", ARROWC_TYPE_NA, 0},
      {"b", ARROWC_TYPE_BOOL, 1},
      {"c", ARROWC_TYPE_INT8, 8},
      {"C", ARROWC_TYPE_UINT8, 8},
      {"s", ARROWC_TYPE_INT16, 16},
      {"S", ARROWC_TYPE_UINT16, 16},
      {"i", ARROWC_TYPE_INT32, 32},
      {"I", ARROWC_TYPE_UINT32, 32},
      {"l", ARROWC_TYPE_INT64, 64},
      {"L", ARROWC_TYPE_UINT64, 64},
      {"e", ARROWC_TYPE_HALF_FLOAT, 16},
      {"f", ARROWC_TYPE_FLOAT, 32},
      {"g", ARROWC_TYPE_DOUBLE, 64},
      {"z", ARROWC_TYPE_BINARY, 0},
      {"Z", ARROWC_TYPE_LARGE_BINARY, 0},
      {"vz", ARROWC_TYPE_BINARY_VIEW, 0},
      {"u", ARROWC_TYPE_STRING, 0},
      {"U", ARROWC_TYPE_LARGE_STRING, 0},
      {"vu", ARROWC_TYPE_STRING_VIEW, 0},
      {"tdD", ARROWC_TYPE_DATE32, 32},
      {"tdm", ARROWC_TYPE_DATE64, 64},
      {"tiM", ARROWC_TYPE_INTERVAL_MONTHS, 32},
      {"tiD", ARROWC_TYPE_INTERVAL_DAY_TIME, 64},
      {"tin", ARROWC_TYPE_INTERVAL_MONTH_DAY_NANO, 128},
      {"+l", ARROWC_TYPE_LIST, 0},
      {"+L", ARROWC_TYPE_LARGE_LIST, 0},
      {"+vl", ARROWC_TYPE_LIST_VIEW, 0},
      {"+vL", ARROWC_TYPE_LARGE_LIST_VIEW, 0},
      {"+s", ARROWC_TYPE_STRUCT, 0},
      {"+m", ARROWC_TYPE_MAP, 0},
      {"+r", ARROWC_TYPE_RUN_END_ENCODED, 0},
  };
  for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
    if (strcmp(format, simple[i].fmt) == 0) {
      o->type = simple[i].type;
      o->bit_width = simple[i].bits;
      return MALLARD_OK;
    }
  }
  return bad_format(format, err);
}

mlr_code arrowc_format_parse(const char *format, arrowc_format *o, mlr_error *err) {
  memset(o, 0, sizeof *o);
  if (format == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "NULL format string");
  const char *p = format;
  if (p[0] == 'd' && p[1] == ':') { /* d:precision,scale[,bitwidth] */
    p += 2;
    int32_t bits = 128;
    if (!parse_i32(&p, &o->precision) || *p++ != ',' || !parse_i32(&p, &o->scale))
      return bad_format(format, err);
    if (*p == ',') {
      p++;
      if (!parse_i32(&p, &bits)) return bad_format(format, err);
    }
    if (*p != '\0' || (bits != 32 && bits != 64 && bits != 128 && bits != 256) || o->precision <= 0)
      return bad_format(format, err);
    o->type = ARROWC_TYPE_DECIMAL;
    o->bit_width = bits;
    return MALLARD_OK;
  }
  if (p[0] == 'w' && p[1] == ':') {
    p += 2;
    if (!parse_i32(&p, &o->fixed_size) || *p != '\0' || o->fixed_size < 0)
      return bad_format(format, err);
    o->type = ARROWC_TYPE_FIXED_SIZE_BINARY;
    o->bit_width = 0;
    if (o->fixed_size <= INT32_MAX / 8) o->bit_width = o->fixed_size * 8;
    return MALLARD_OK;
  }
  if (p[0] == '+' && p[1] == 'w' && p[2] == ':') {
    p += 3;
    if (!parse_i32(&p, &o->fixed_size) || *p != '\0' || o->fixed_size < 0)
      return bad_format(format, err);
    o->type = ARROWC_TYPE_FIXED_SIZE_LIST;
    return MALLARD_OK;
  }
  if (p[0] == '+' && p[1] == 'u' && (p[2] == 'd' || p[2] == 's') && p[3] == ':') {
    o->type = p[2] == 'd' ? ARROWC_TYPE_DENSE_UNION : ARROWC_TYPE_SPARSE_UNION;
    p += 4;
    if (*p == '\0') return MALLARD_OK; /* a union without children */
    for (;;) {
      int32_t id;
      if (!parse_i32(&p, &id) || id < 0 || id > 127 || o->n_union_types >= ARROWC_MAX_UNION_TYPES)
        return bad_format(format, err);
      o->union_type_ids[o->n_union_types++] = (int8_t)id;
      if (*p == '\0') break;
      if (*p++ != ',') return bad_format(format, err);
    }
    return MALLARD_OK;
  }
  if (p[0] == 't') {
    if ((p[1] == 't' || p[1] == 'D') && p[2] != '\0' && p[3] == '\0') {
      if (!parse_unit(p[2], &o->unit)) return bad_format(format, err);
      if (p[1] == 'D') {
        o->type = ARROWC_TYPE_DURATION;
        o->bit_width = 64;
      } else {
        bool is32 = o->unit == ARROWC_SECOND || o->unit == ARROWC_MILLI;
        o->type = is32 ? ARROWC_TYPE_TIME32 : ARROWC_TYPE_TIME64;
        o->bit_width = is32 ? 32 : 64;
      }
      return MALLARD_OK;
    }
    if (p[1] == 's' && p[2] != '\0' && p[3] == ':') {
      if (!parse_unit(p[2], &o->unit)) return bad_format(format, err);
      o->type = ARROWC_TYPE_TIMESTAMP;
      o->bit_width = 64;
      o->timezone = p + 4;
      o->tz_len = (int64_t)strlen(p + 4);
      return MALLARD_OK;
    }
  }
  return parse_simple(format, o, err);
}

int arrowc_format_n_buffers(const arrowc_format *f) {
  switch (f->type) {
  case ARROWC_TYPE_NA:
  case ARROWC_TYPE_RUN_END_ENCODED:
    return 0;
  case ARROWC_TYPE_STRUCT:
  case ARROWC_TYPE_FIXED_SIZE_LIST:
  case ARROWC_TYPE_SPARSE_UNION:
    return 1;
  case ARROWC_TYPE_STRING:
  case ARROWC_TYPE_LARGE_STRING:
  case ARROWC_TYPE_BINARY:
  case ARROWC_TYPE_LARGE_BINARY:
  case ARROWC_TYPE_LIST_VIEW:
  case ARROWC_TYPE_LARGE_LIST_VIEW:
    return 3;
  default:
    return 2;
  }
}

/* ------------------------------------------------------------------------------------------
 * Custom metadata
 * ---------------------------------------------------------------------------------------- */

static int32_t read_i32(const char *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

int32_t arrowc_metadata_count(const char *metadata) {
  return metadata == NULL ? 0 : read_i32(metadata);
}

int64_t arrowc_metadata_size(const char *metadata) {
  if (metadata == NULL) return 0;
  int32_t n = read_i32(metadata);
  int64_t off = 4;
  for (int32_t i = 0; i < n; i++) {
    off += 4 + read_i32(metadata + off);
    off += 4 + read_i32(metadata + off);
  }
  return off;
}

bool arrowc_metadata_item_at(const char *metadata, int32_t i, arrowc_metadata_item *out) {
  if (metadata == NULL || i < 0 || i >= read_i32(metadata)) return false;
  const char *p = metadata + 4;
  for (int32_t k = 0;; k++) {
    int32_t kl = read_i32(p);
    const char *key = p + 4;
    int32_t vl = read_i32(key + kl);
    const char *val = key + kl + 4;
    if (k == i) {
      out->key = key;
      out->key_len = kl;
      out->value = val;
      out->value_len = vl;
      return true;
    }
    p = val + vl;
  }
}

bool arrowc_metadata_get(const char *metadata, const char *key, arrowc_metadata_item *out) {
  size_t klen = strlen(key);
  int32_t n = arrowc_metadata_count(metadata);
  for (int32_t i = 0; i < n; i++) {
    arrowc_metadata_item it;
    arrowc_metadata_item_at(metadata, i, &it);
    if ((size_t)it.key_len == klen && memcmp(it.key, key, klen) == 0) {
      *out = it;
      return true;
    }
  }
  return false;
}

static mlr_code mb_reserve(arrowc_metadata_builder *b, int64_t extra, mlr_error *err) {
  int64_t need;
  if (mlr_add_overflow_i64(b->size, extra, &need) || need > INT32_MAX)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "custom metadata larger than 2 GiB");
  if (need <= b->capacity) return MALLARD_OK;
  int64_t cap = b->capacity < 64 ? 64 : b->capacity;
  while (cap < need) cap *= 2;
  char *d = realloc(b->data, (size_t)cap);
  if (d == NULL) return oom(err, "custom metadata");
  b->data = d;
  b->capacity = cap;
  return MALLARD_OK;
}

static void mb_put_i32(arrowc_metadata_builder *b, int32_t v) {
  memcpy(b->data + b->size, &v, 4);
  b->size += 4;
}

mlr_code arrowc_metadata_builder_append(arrowc_metadata_builder *b, const char *key,
                                        int64_t key_len, const char *value, int64_t value_len,
                                        mlr_error *err) {
  if (key_len < 0 || value_len < 0 || key_len > INT32_MAX || value_len > INT32_MAX)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "custom metadata entry too large");
  if (b->size == 0) {
    MLR_RETURN_NOT_OK(mb_reserve(b, 4, err));
    mb_put_i32(b, 0);
  }
  MLR_RETURN_NOT_OK(mb_reserve(b, 8 + key_len + value_len, err));
  mb_put_i32(b, (int32_t)key_len);
  if (key_len > 0) memcpy(b->data + b->size, key, (size_t)key_len);
  b->size += key_len;
  mb_put_i32(b, (int32_t)value_len);
  if (value_len > 0) memcpy(b->data + b->size, value, (size_t)value_len);
  b->size += value_len;
  b->count++;
  memcpy(b->data, &b->count, 4);
  return MALLARD_OK;
}

char *arrowc_metadata_builder_finish(arrowc_metadata_builder *b) {
  char *d = b->count > 0 ? b->data : NULL;
  if (d == NULL) free(b->data);
  memset(b, 0, sizeof *b);
  return d;
}

void arrowc_metadata_builder_reset(arrowc_metadata_builder *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}
