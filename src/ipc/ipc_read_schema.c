/* Arrow IPC Schema / Field / Type flatbuffer tables -> owned ArrowSchema (decode side). */
#include "arrow/arrowc_schema.h"
#include "ipc/ipc_read_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slots of Schema.fbs tables. */
enum { SCHEMA_ENDIANNESS = 0, SCHEMA_FIELDS = 1, SCHEMA_METADATA = 2 };
enum {
  FIELD_NAME = 0,
  FIELD_NULLABLE = 1,
  FIELD_TYPE_TYPE = 2,
  FIELD_TYPE = 3,
  FIELD_DICTIONARY = 4,
  FIELD_CHILDREN = 5,
  FIELD_METADATA = 6
};
enum { DICT_ID = 0, DICT_INDEX_TYPE = 1, DICT_ORDERED = 2 };

/* The Type union of Schema.fbs. */
enum {
  T_NULL = 1,
  T_INT,
  T_FLOAT,
  T_BINARY,
  T_UTF8,
  T_BOOL,
  T_DECIMAL,
  T_DATE,
  T_TIME,
  T_TIMESTAMP,
  T_INTERVAL,
  T_LIST,
  T_STRUCT,
  T_UNION,
  T_FIXED_SIZE_BINARY,
  T_FIXED_SIZE_LIST,
  T_MAP,
  T_DURATION,
  T_LARGE_BINARY,
  T_LARGE_UTF8,
  T_LARGE_LIST,
  T_RUN_END_ENCODED,
  T_BINARY_VIEW,
  T_UTF8_VIEW,
  T_LIST_VIEW,
  T_LARGE_LIST_VIEW
};

typedef struct sctx {
  int max_depth;
  ipc_dict_field *dicts;
  int64_t n_dicts, cap_dicts;
  char path[512];
  mlr_error *err;
} sctx;

__attribute__((format(printf, 3, 4))) static mlr_code sfail(sctx *c, mlr_code code, const char *fmt,
                                                            ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->path[0] != '\0') return mlr_error_set(c->err, code, "schema field '%s': %s", c->path, msg);
  return mlr_error_set(c->err, code, "schema: %s", msg);
}

static mlr_code read_metadata(const fbr_table *t, int slot, char **out, mlr_error *err) {
  fbr_vector v;
  *out = NULL;
  MLR_RETURN_NOT_OK(fbr_vector_field(t, slot, 4, &v, err));
  arrowc_metadata_builder b = {0};
  for (int64_t i = 0; i < v.count; i++) {
    fbr_table kv;
    const char *k, *val;
    int64_t kl, vl;
    bool hk, hv;
    mlr_code rc = fbr_vector_table(&v, i, &kv, err);
    if (rc == MALLARD_OK) rc = fbr_string(&kv, 0, &k, &kl, &hk, err);
    if (rc == MALLARD_OK) rc = fbr_string(&kv, 1, &val, &vl, &hv, err);
    if (rc == MALLARD_OK) rc = arrowc_metadata_builder_append(&b, k, kl, val, vl, err);
    if (rc != MALLARD_OK) {
      arrowc_metadata_builder_reset(&b);
      return rc;
    }
  }
  *out = arrowc_metadata_builder_finish(&b);
  return MALLARD_OK;
}

static char unit_char(int16_t unit) {
  static const char u[] = "smun";
  return unit >= 0 && unit <= 3 ? u[unit] : '?';
}

/* Writes the format string of a Type table into buf. n_children is the Field's child count
 * (unions list their type ids). */
static mlr_code type_format(sctx *c, uint8_t type_type, const fbr_table *ty, int64_t n_children,
                            char *buf, size_t cap, int64_t *want_children) {
  mlr_error *err = c->err;
  *want_children = 0;
  if (type_type != 0 && ty->buf == NULL && type_type != T_NULL)
    return sfail(c, MALLARD_INVALID_ARGUMENT, "type table is missing");
  switch (type_type) {
  case T_NULL:
    snprintf(buf, cap, "n");
    return MALLARD_OK;
  case T_INT: {
    int32_t bw;
    bool sign;
    MLR_RETURN_NOT_OK(fbr_i32(ty, 0, 0, &bw, err));
    MLR_RETURN_NOT_OK(fbr_bool(ty, 1, false, &sign, err));
    const char *f = NULL;
    switch (bw) {
    case 8:
      f = sign ? "c" : "C";
      break;
    case 16:
      f = sign ? "s" : "S";
      break;
    case 32:
      f = sign ? "i" : "I";
      break;
    case 64:
      f = sign ? "l" : "L";
      break;
    default:
      return sfail(c, MALLARD_INVALID_ARGUMENT, "integer bit width %d", bw);
    }
    snprintf(buf, cap, "%s", f);
    return MALLARD_OK;
  }
  case T_FLOAT: {
    int16_t p;
    MLR_RETURN_NOT_OK(fbr_i16(ty, 0, 0, &p, err));
    if (p < 0 || p > 2) return sfail(c, MALLARD_INVALID_ARGUMENT, "float precision %d", p);
    snprintf(buf, cap, "%s", p == 0 ? "e" : p == 1 ? "f" : "g");
    return MALLARD_OK;
  }
  case T_BINARY:
    snprintf(buf, cap, "z");
    return MALLARD_OK;
  case T_UTF8:
    snprintf(buf, cap, "u");
    return MALLARD_OK;
  case T_BOOL:
    snprintf(buf, cap, "b");
    return MALLARD_OK;
  case T_LARGE_BINARY:
    snprintf(buf, cap, "Z");
    return MALLARD_OK;
  case T_LARGE_UTF8:
    snprintf(buf, cap, "U");
    return MALLARD_OK;
  case T_BINARY_VIEW:
    snprintf(buf, cap, "vz");
    return MALLARD_OK;
  case T_UTF8_VIEW:
    snprintf(buf, cap, "vu");
    return MALLARD_OK;
  case T_DECIMAL: {
    int32_t p, s, bw;
    MLR_RETURN_NOT_OK(fbr_i32(ty, 0, 0, &p, err));
    MLR_RETURN_NOT_OK(fbr_i32(ty, 1, 0, &s, err));
    MLR_RETURN_NOT_OK(fbr_i32(ty, 2, 128, &bw, err));
    if (bw != 32 && bw != 64 && bw != 128 && bw != 256)
      return sfail(c, MALLARD_INVALID_ARGUMENT, "decimal bit width %d", bw);
    if (p <= 0) return sfail(c, MALLARD_INVALID_ARGUMENT, "decimal precision %d", p);
    if (bw == 128)
      snprintf(buf, cap, "d:%d,%d", p, s);
    else
      snprintf(buf, cap, "d:%d,%d,%d", p, s, bw);
    return MALLARD_OK;
  }
  case T_DATE: {
    int16_t u;
    MLR_RETURN_NOT_OK(fbr_i16(ty, 0, 1, &u, err));
    if (u != 0 && u != 1) return sfail(c, MALLARD_INVALID_ARGUMENT, "date unit %d", u);
    snprintf(buf, cap, "%s", u == 0 ? "tdD" : "tdm");
    return MALLARD_OK;
  }
  case T_TIME: {
    int16_t u;
    int32_t bw;
    MLR_RETURN_NOT_OK(fbr_i16(ty, 0, 1, &u, err));
    MLR_RETURN_NOT_OK(fbr_i32(ty, 1, 32, &bw, err));
    if (u < 0 || u > 3 || bw != (u <= 1 ? 32 : 64))
      return sfail(c, MALLARD_INVALID_ARGUMENT, "time unit %d with bit width %d", u, bw);
    snprintf(buf, cap, "tt%c", unit_char(u));
    return MALLARD_OK;
  }
  case T_TIMESTAMP: {
    int16_t u;
    const char *tz;
    int64_t tzl;
    bool has;
    MLR_RETURN_NOT_OK(fbr_i16(ty, 0, 0, &u, err));
    MLR_RETURN_NOT_OK(fbr_string(ty, 1, &tz, &tzl, &has, err));
    if (u < 0 || u > 3) return sfail(c, MALLARD_INVALID_ARGUMENT, "timestamp unit %d", u);
    if (tzl > 200 || memchr(tz ? tz : "", '\0', (size_t)tzl) != NULL)
      return sfail(c, MALLARD_INVALID_ARGUMENT, "invalid time zone");
    snprintf(buf, cap, "ts%c:%.*s", unit_char(u), (int)tzl, tz ? tz : "");
    return MALLARD_OK;
  }
  case T_INTERVAL: {
    int16_t u;
    MLR_RETURN_NOT_OK(fbr_i16(ty, 0, 0, &u, err));
    if (u < 0 || u > 2) return sfail(c, MALLARD_INVALID_ARGUMENT, "interval unit %d", u);
    snprintf(buf, cap, "%s", u == 0 ? "tiM" : u == 1 ? "tiD" : "tin");
    return MALLARD_OK;
  }
  case T_DURATION: {
    int16_t u;
    MLR_RETURN_NOT_OK(fbr_i16(ty, 0, 1, &u, err));
    if (u < 0 || u > 3) return sfail(c, MALLARD_INVALID_ARGUMENT, "duration unit %d", u);
    snprintf(buf, cap, "tD%c", unit_char(u));
    return MALLARD_OK;
  }
  case T_FIXED_SIZE_BINARY: {
    int32_t w;
    MLR_RETURN_NOT_OK(fbr_i32(ty, 0, 0, &w, err));
    if (w < 0) return sfail(c, MALLARD_INVALID_ARGUMENT, "fixed-size binary width %d", w);
    snprintf(buf, cap, "w:%d", w);
    return MALLARD_OK;
  }
  case T_LIST:
    *want_children = 1;
    snprintf(buf, cap, "+l");
    return MALLARD_OK;
  case T_LARGE_LIST:
    *want_children = 1;
    snprintf(buf, cap, "+L");
    return MALLARD_OK;
  case T_LIST_VIEW:
    *want_children = 1;
    snprintf(buf, cap, "+vl");
    return MALLARD_OK;
  case T_LARGE_LIST_VIEW:
    *want_children = 1;
    snprintf(buf, cap, "+vL");
    return MALLARD_OK;
  case T_MAP:
    *want_children = 1;
    snprintf(buf, cap, "+m");
    return MALLARD_OK;
  case T_RUN_END_ENCODED:
    *want_children = 2;
    snprintf(buf, cap, "+r");
    return MALLARD_OK;
  case T_FIXED_SIZE_LIST: {
    int32_t n;
    MLR_RETURN_NOT_OK(fbr_i32(ty, 0, 0, &n, err));
    if (n < 0) return sfail(c, MALLARD_INVALID_ARGUMENT, "fixed-size list size %d", n);
    *want_children = 1;
    snprintf(buf, cap, "+w:%d", n);
    return MALLARD_OK;
  }
  case T_STRUCT:
    *want_children = n_children;
    snprintf(buf, cap, "+s");
    return MALLARD_OK;
  case T_UNION: {
    int16_t mode;
    fbr_vector ids;
    MLR_RETURN_NOT_OK(fbr_i16(ty, 0, 0, &mode, err));
    MLR_RETURN_NOT_OK(fbr_vector_field(ty, 1, 4, &ids, err));
    if (mode != 0 && mode != 1) return sfail(c, MALLARD_INVALID_ARGUMENT, "union mode %d", mode);
    if (n_children > 127)
      return sfail(c, MALLARD_INVALID_ARGUMENT, "union with %lld children", (long long)n_children);
    if (ids.count != 0 && ids.count != n_children)
      return sfail(c, MALLARD_INVALID_ARGUMENT, "union lists %lld type ids for %lld children",
                   (long long)ids.count, (long long)n_children);
    size_t len = (size_t)snprintf(buf, cap, "+u%c:", mode == 0 ? 's' : 'd');
    bool seen[128] = {false};
    for (int64_t i = 0; i < n_children; i++) {
      int32_t id = (int32_t)i;
      if (ids.count > 0) id = fbr_read_i32(fbr_vector_elem(&ids, i, 4));
      if (id < 0 || id > 127 || seen[id])
        return sfail(c, MALLARD_INVALID_ARGUMENT, "invalid or repeated union type id %d", id);
      seen[id] = true;
      len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", id);
    }
    *want_children = n_children;
    return MALLARD_OK;
  }
  case 0:
    return sfail(c, MALLARD_INVALID_ARGUMENT, "field has no type");
  default:
    return sfail(c, MALLARD_UNIMPLEMENTED, "unsupported type (flatbuffer Type union member %d)",
                 type_type);
  }
}

static mlr_code add_dict(sctx *c, const struct ArrowSchema *node, int64_t id) {
  if (c->n_dicts == c->cap_dicts) {
    int64_t cap = c->cap_dicts ? c->cap_dicts * 2 : 8;
    ipc_dict_field *d = realloc(c->dicts, (size_t)cap * sizeof *d);
    if (d == NULL) return sfail(c, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    c->dicts = d;
    c->cap_dicts = cap;
  }
  c->dicts[c->n_dicts].node = node;
  c->dicts[c->n_dicts].id = id;
  c->n_dicts++;
  return MALLARD_OK;
}

static mlr_code read_field(sctx *c, const fbr_table *f, struct ArrowSchema *out, int depth);

static mlr_code read_children(sctx *c, const fbr_vector *children, struct ArrowSchema *out,
                              int depth) {
  mlr_code rc = arrowc_schema_alloc_children(out, children->count, c->err);
  for (int64_t i = 0; rc == MALLARD_OK && i < children->count; i++) {
    fbr_table ch;
    rc = fbr_vector_table(children, i, &ch, c->err);
    if (rc == MALLARD_OK) rc = read_field(c, &ch, out->children[i], depth + 1);
  }
  return rc;
}

static mlr_code read_field(sctx *c, const fbr_table *f, struct ArrowSchema *out, int depth) {
  mlr_error *err = c->err;
  memset(out, 0, sizeof *out);
  if (depth > c->max_depth)
    return sfail(c, MALLARD_INVALID_ARGUMENT, "nested deeper than %d levels", c->max_depth);
  const char *name;
  int64_t name_len;
  bool has_name, nullable, has_dict;
  uint8_t type_type;
  fbr_table ty, dict;
  fbr_vector children;
  char *metadata = NULL;
  char *name_z = NULL;
  mlr_code rc;
  size_t path_len = strlen(c->path);
  MLR_RETURN_NOT_OK(fbr_string(f, FIELD_NAME, &name, &name_len, &has_name, err));
  if (name_len > 4096 || (name_len > 0 && memchr(name, '\0', (size_t)name_len) != NULL))
    return sfail(c, MALLARD_INVALID_ARGUMENT, "invalid field name");
  snprintf(c->path + path_len, sizeof c->path - path_len, "%s%.*s", path_len ? "." : "",
           (int)name_len, has_name ? name : "");
  MLR_RETURN_NOT_OK(fbr_bool(f, FIELD_NULLABLE, false, &nullable, err));
  MLR_RETURN_NOT_OK(fbr_u8(f, FIELD_TYPE_TYPE, 0, &type_type, err));
  bool has_ty;
  MLR_RETURN_NOT_OK(fbr_table_field(f, FIELD_TYPE, &ty, &has_ty, err));
  MLR_RETURN_NOT_OK(fbr_table_field(f, FIELD_DICTIONARY, &dict, &has_dict, err));
  MLR_RETURN_NOT_OK(fbr_vector_field(f, FIELD_CHILDREN, 4, &children, err));
  char fmt[1024];
  int64_t want;
  MLR_RETURN_NOT_OK(type_format(c, type_type, &ty, children.count, fmt, sizeof fmt, &want));
  if (children.count != want)
    return sfail(c, MALLARD_INVALID_ARGUMENT, "type '%s' needs %lld children, field has %lld", fmt,
                 (long long)want, (long long)children.count);
  MLR_RETURN_NOT_OK(read_metadata(f, FIELD_METADATA, &metadata, err));
  name_z = malloc((size_t)name_len + 1);
  if (name_z == NULL) {
    free(metadata);
    return sfail(c, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (name_len > 0) memcpy(name_z, name, (size_t)name_len);
  name_z[name_len] = '\0';

  int64_t flags = nullable ? ARROW_FLAG_NULLABLE : 0;
  struct ArrowSchema *value = out;
  if (has_dict) {
    int64_t id;
    bool ordered, has_index;
    fbr_table index;
    rc = fbr_i64(&dict, DICT_ID, 0, &id, err);
    if (rc == MALLARD_OK) rc = fbr_bool(&dict, DICT_ORDERED, false, &ordered, err);
    if (rc == MALLARD_OK) rc = fbr_table_field(&dict, DICT_INDEX_TYPE, &index, &has_index, err);
    char ifmt[16] = "i";
    if (rc == MALLARD_OK && has_index) {
      int64_t w;
      rc = type_format(c, T_INT, &index, 0, ifmt, sizeof ifmt, &w);
    }
    if (rc == MALLARD_OK) rc = arrowc_schema_init(out, ifmt, name_z, err);
    if (rc == MALLARD_OK) {
      out->flags = flags | (ordered ? ARROW_FLAG_DICTIONARY_ORDERED : 0);
      rc = arrowc_schema_set_metadata(out, metadata, err);
    }
    if (rc == MALLARD_OK) rc = arrowc_schema_alloc_dictionary(out, err);
    if (rc == MALLARD_OK) rc = arrowc_schema_init(out->dictionary, fmt, NULL, err);
    if (rc == MALLARD_OK) {
      value = out->dictionary;
      value->flags = flags;
      rc = add_dict(c, out, id);
    }
  } else {
    rc = arrowc_schema_init(out, fmt, name_z, err);
    if (rc == MALLARD_OK) {
      out->flags = flags;
      rc = arrowc_schema_set_metadata(out, metadata, err);
    }
  }
  if (rc == MALLARD_OK && type_type == T_MAP) {
    bool sorted = false;
    rc = fbr_bool(&ty, 0, false, &sorted, err);
    if (rc == MALLARD_OK && sorted) value->flags |= ARROW_FLAG_MAP_KEYS_SORTED;
  }
  if (rc == MALLARD_OK) rc = read_children(c, &children, value, depth);
  if (rc == MALLARD_OK && type_type == T_MAP &&
      (strcmp(value->children[0]->format, "+s") != 0 || value->children[0]->n_children != 2))
    rc = sfail(c, MALLARD_INVALID_ARGUMENT, "map entries must be a struct of 2 fields");
  free(metadata);
  free(name_z);
  c->path[path_len] = '\0';
  return rc;
}

/* Same physical type, recursively (formats of the node, its children and dictionaries). */
static bool same_types(const struct ArrowSchema *a, const struct ArrowSchema *b) {
  if (strcmp(a->format, b->format) != 0 || a->n_children != b->n_children) return false;
  if ((a->dictionary == NULL) != (b->dictionary == NULL)) return false;
  if (a->dictionary != NULL && !same_types(a->dictionary, b->dictionary)) return false;
  for (int64_t i = 0; i < a->n_children; i++)
    if (!same_types(a->children[i], b->children[i])) return false;
  return true;
}

mlr_code ipc_read_schema_table(const fbr_table *schema, int max_depth, struct ArrowSchema *out,
                               ipc_dict_field **dicts, int64_t *n_dicts, mlr_error *err) {
  sctx c = {.max_depth = max_depth, .err = err};
  int16_t endianness;
  fbr_vector fields;
  char *metadata = NULL;
  *dicts = NULL;
  *n_dicts = 0;
  memset(out, 0, sizeof *out);
  MLR_RETURN_NOT_OK(fbr_i16(schema, SCHEMA_ENDIANNESS, 0, &endianness, err));
  if (endianness != 0)
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED,
                         "big-endian Arrow data is not supported (schema endianness = Big)");
  MLR_RETURN_NOT_OK(fbr_vector_field(schema, SCHEMA_FIELDS, 4, &fields, err));
  MLR_RETURN_NOT_OK(read_metadata(schema, SCHEMA_METADATA, &metadata, err));
  mlr_code rc = arrowc_schema_init(out, "+s", "", err);
  if (rc == MALLARD_OK) {
    out->flags = 0;
    rc = arrowc_schema_set_metadata(out, metadata, err);
  }
  free(metadata);
  if (rc == MALLARD_OK) rc = read_children(&c, &fields, out, 0);
  /* Shared dictionaries: every field using an id must have the same value type. */
  for (int64_t i = 0; rc == MALLARD_OK && i < c.n_dicts; i++)
    for (int64_t j = 0; rc == MALLARD_OK && j < i; j++)
      if (c.dicts[i].id == c.dicts[j].id &&
          !same_types(c.dicts[i].node->dictionary, c.dicts[j].node->dictionary))
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "schema: dictionary id %lld is used with two different value types",
                           (long long)c.dicts[i].id);
  if (rc != MALLARD_OK) {
    arrowc_schema_release(out);
    free(c.dicts);
    return rc;
  }
  *dicts = c.dicts;
  *n_dicts = c.n_dicts;
  return MALLARD_OK;
}
