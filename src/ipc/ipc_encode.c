/* The IPC encoder: Arrow C Data Interface schemas and record batches -> Arrow IPC Schema,
 * DictionaryBatch and RecordBatch messages whose bodies view the source buffers (zero copy).
 * Copies are made only where the format needs them: validity/boolean bitmaps of slices that do
 * not start on a byte boundary, offsets of slices that do not start at 0, and dense union
 * offsets of slices. Dictionaries are sent when first seen, as a delta when a later batch's
 * dictionary extends the one sent, and as a replacement otherwise (refused in IPC files).
 * Beyond issue 3's list, run-end encoded arrays and list views are encoded too. Extension types
 * travel as their storage type with their ARROW:extension:* field metadata. Refused with
 * INVALID_ARGUMENT naming the column: unknown formats and non-integer dictionary indices. */
#include "ipc/ipc_encode_int.h"
#include "ipc/ipc_workers.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* How a field's array is laid out in the IPC body (buffers and children). */
typedef enum enc_layout {
  L_NULL,
  L_BOOL,
  L_FIXED,
  L_BIN32,
  L_BIN64,
  L_VIEW,
  L_LIST32,
  L_LIST64,
  L_FSL,
  L_STRUCT,
  L_SUNION,
  L_DUNION,
  L_REE,
  L_LISTVIEW32,
  L_LISTVIEW64
} enc_layout;

/* Type tags of the flatbuffer `Type` union. */
enum {
  T_NULL = 1,
  T_INT = 2,
  T_FLOAT = 3,
  T_BINARY = 4,
  T_UTF8 = 5,
  T_BOOL = 6,
  T_DECIMAL = 7,
  T_DATE = 8,
  T_TIME = 9,
  T_TIMESTAMP = 10,
  T_INTERVAL = 11,
  T_LIST = 12,
  T_STRUCT = 13,
  T_UNION = 14,
  T_FSB = 15,
  T_FSL = 16,
  T_MAP = 17,
  T_DURATION = 18,
  T_LARGE_BINARY = 19,
  T_LARGE_UTF8 = 20,
  T_LARGE_LIST = 21,
  T_REE = 22,
  T_BINARY_VIEW = 23,
  T_UTF8_VIEW = 24,
  T_LIST_VIEW = 25,
  T_LARGE_LIST_VIEW = 26
};

typedef struct enc_field {
  char *name;
  bool nullable;
  uint8_t *md; /* C Data Interface metadata blob (copied), NULL when none */
  /* type: for a dictionary field these describe the index type; `dict` has the values' */
  uint8_t fb_type;
  int32_t p1, p2, p3; /* type parameters (see build_type_table) */
  char *tz;
  int32_t *type_ids;
  int64_t n_type_ids;
  int8_t child_of_type[128]; /* union type id -> child index, -1 when unused */
  enc_layout layout;
  int64_t width; /* bytes per value (L_FIXED) or list size (L_FSL) */
  int64_t n_children;
  struct enc_field *children;
  /* dictionary encoding */
  bool is_dict;
  bool dict_ordered;
  int64_t dict_id;
  struct enc_field *dict;
} enc_field;

typedef struct enc_dict_state {
  bool seen;
  int64_t length;
  uint8_t *fp; /* canonical bytes of the last dictionary sent */
  int64_t fp_size;
} enc_dict_state;

struct ipc_encoder {
  enc_field root;
  ipc_write_options opts;
  ipc_compressor comp;
  arrowc_pool *pool;
  ipc_workers *workers;       /* compression threads; NULL until first needed */
  ipc_compressor *slot_comps; /* one per worker slot (slot 0: comp), set up on first use */
  bool file_mode;
  int64_t n_dicts;
  enc_dict_state *dicts;
};

/* The moved-in source batch, shared by every message that views it. */
typedef struct enc_shared {
  atomic_int refs;
  struct ArrowArray arr;
} enc_shared;

typedef struct msg_priv {
  enc_shared *src;
  void **scratch;
  int64_t n_scratch;
  arrowc_pool *pool; /* compressed buffers, given back to the pool on release */
  void **pooled;
  int64_t *pooled_cap;
  int64_t n_pooled;
} msg_priv;

typedef struct enc_buf {
  const uint8_t *data;
  int64_t size;
  int64_t bits; /* > 0 for bitmaps: the number of meaningful bits */
} enc_buf;

/* Growing arrays filled while walking one batch. */
typedef struct enc_batch {
  int64_t *nodes; /* (length, null_count) pairs */
  int64_t n_nodes, cap_nodes;
  enc_buf *bufs;
  int64_t n_bufs, cap_bufs;
  int64_t *variadic;
  int64_t n_variadic, cap_variadic;
  void **scratch;
  int64_t n_scratch, cap_scratch;
} enc_batch;

static const uint8_t ipc_zeros[64];

/* ------------------------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------------------- */

static bool grow(void **arr, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return true;
  int64_t nc = *cap < 16 ? 16 : *cap * 2;
  while (nc < need) nc *= 2;
  void *p = realloc(*arr, (size_t)nc * elem);
  if (p == NULL) return false;
  *arr = p;
  *cap = nc;
  return true;
}

static mlr_code oom(mlr_error *err) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory encoding an IPC message");
}

static char *dup_str(const char *s) {
  if (s == NULL) s = "";
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d != NULL) memcpy(d, s, n + 1);
  return d;
}

/* Size of a C Data Interface metadata blob, or -1 when it is malformed. */
static int64_t md_size(const char *md) {
  if (md == NULL) return 0;
  int32_t n;
  memcpy(&n, md, 4);
  if (n < 0) return -1;
  int64_t pos = 4;
  for (int32_t i = 0; i < n; i++) {
    for (int k = 0; k < 2; k++) {
      int32_t len;
      memcpy(&len, md + pos, 4);
      if (len < 0) return -1;
      pos += 4 + len;
    }
  }
  return pos;
}

static void field_release(enc_field *f) {
  if (f == NULL) return;
  free(f->name);
  free(f->md);
  free(f->tz);
  free(f->type_ids);
  for (int64_t i = 0; i < f->n_children; i++) field_release(&f->children[i]);
  free(f->children);
  if (f->dict != NULL) {
    field_release(f->dict);
    free(f->dict);
  }
  memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------------------------------
 * Schema -> enc_field tree
 * ---------------------------------------------------------------------------------------- */

static int time_unit(char c) {
  switch (c) {
  case 's':
    return 0;
  case 'm':
    return 1;
  case 'u':
    return 2;
  case 'n':
    return 3;
  default:
    return -1;
  }
}

static bool parse_i32(const char **p, int32_t *out) {
  char *end;
  long v = strtol(*p, &end, 10);
  if (end == *p || v < INT32_MIN || v > INT32_MAX) return false;
  *out = (int32_t)v;
  *p = end;
  return true;
}

static mlr_code parse_format(enc_field *f, const char *fmt, int64_t n_children, mlr_error *err) {
  f->layout = L_FIXED;
#define BAD() mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unsupported Arrow format '%s'", fmt)
  if (fmt == NULL || fmt[0] == '\0')
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "empty Arrow format");
  if (fmt[1] == '\0') {
    switch (fmt[0]) {
    case 'n':
      f->fb_type = T_NULL;
      f->layout = L_NULL;
      return MALLARD_OK;
    case 'b':
      f->fb_type = T_BOOL;
      f->layout = L_BOOL;
      return MALLARD_OK;
    case 'c':
    case 'C':
    case 's':
    case 'S':
    case 'i':
    case 'I':
    case 'l':
    case 'L': {
      static const char *codes = "cCsSiIlL";
      int k = (int)(strchr(codes, fmt[0]) - codes);
      f->fb_type = T_INT;
      f->p1 = 8 << (k / 2);
      f->p2 = (k % 2) == 0;
      f->width = f->p1 / 8;
      return MALLARD_OK;
    }
    case 'e':
      f->fb_type = T_FLOAT;
      f->p1 = 0;
      f->width = 2;
      return MALLARD_OK;
    case 'f':
      f->fb_type = T_FLOAT;
      f->p1 = 1;
      f->width = 4;
      return MALLARD_OK;
    case 'g':
      f->fb_type = T_FLOAT;
      f->p1 = 2;
      f->width = 8;
      return MALLARD_OK;
    case 'z':
      f->fb_type = T_BINARY;
      f->layout = L_BIN32;
      return MALLARD_OK;
    case 'Z':
      f->fb_type = T_LARGE_BINARY;
      f->layout = L_BIN64;
      return MALLARD_OK;
    case 'u':
      f->fb_type = T_UTF8;
      f->layout = L_BIN32;
      return MALLARD_OK;
    case 'U':
      f->fb_type = T_LARGE_UTF8;
      f->layout = L_BIN64;
      return MALLARD_OK;
    default:
      return BAD();
    }
  }
  const char *p;
  switch (fmt[0]) {
  case 'v':
    if (strcmp(fmt, "vz") == 0)
      f->fb_type = T_BINARY_VIEW;
    else if (strcmp(fmt, "vu") == 0)
      f->fb_type = T_UTF8_VIEW;
    else
      return BAD();
    f->layout = L_VIEW;
    return MALLARD_OK;
  case 'd': {
    if (fmt[1] != ':') return BAD();
    p = fmt + 2;
    f->fb_type = T_DECIMAL;
    f->p3 = 128;
    if (!parse_i32(&p, &f->p1) || *p++ != ',' || !parse_i32(&p, &f->p2)) return BAD();
    if (*p == ',') {
      p++;
      if (!parse_i32(&p, &f->p3)) return BAD();
    }
    if (*p != '\0' || (f->p3 != 32 && f->p3 != 64 && f->p3 != 128 && f->p3 != 256)) return BAD();
    f->width = f->p3 / 8;
    return MALLARD_OK;
  }
  case 'w': {
    int32_t w;
    p = fmt + 2;
    if (fmt[1] != ':' || !parse_i32(&p, &w) || *p != '\0' || w < 0) return BAD();
    f->fb_type = T_FSB;
    f->p1 = w;
    f->width = w;
    return MALLARD_OK;
  }
  case 't': {
    if (strlen(fmt) < 3) return BAD();
    int tu = time_unit(fmt[2]);
    switch (fmt[1]) {
    case 'd':
      if (fmt[3] != '\0' || (fmt[2] != 'D' && fmt[2] != 'm')) return BAD();
      f->fb_type = T_DATE;
      f->p1 = fmt[2] == 'D' ? 0 : 1;
      f->width = fmt[2] == 'D' ? 4 : 8;
      return MALLARD_OK;
    case 't':
      if (fmt[3] != '\0' || tu < 0) return BAD();
      f->fb_type = T_TIME;
      f->p1 = tu;
      f->p2 = tu <= 1 ? 32 : 64;
      f->width = f->p2 / 8;
      return MALLARD_OK;
    case 's':
      if (tu < 0 || fmt[3] != ':') return BAD();
      f->fb_type = T_TIMESTAMP;
      f->p1 = tu;
      f->width = 8;
      if (fmt[4] != '\0') {
        f->tz = dup_str(fmt + 4);
        if (f->tz == NULL) return oom(err);
      }
      return MALLARD_OK;
    case 'D':
      if (fmt[3] != '\0' || tu < 0) return BAD();
      f->fb_type = T_DURATION;
      f->p1 = tu;
      f->width = 8;
      return MALLARD_OK;
    case 'i':
      if (fmt[3] != '\0') return BAD();
      f->fb_type = T_INTERVAL;
      if (fmt[2] == 'M')
        f->p1 = 0, f->width = 4;
      else if (fmt[2] == 'D')
        f->p1 = 1, f->width = 8;
      else if (fmt[2] == 'n')
        f->p1 = 2, f->width = 16;
      else
        return BAD();
      return MALLARD_OK;
    default:
      return BAD();
    }
  }
  case '+': {
    bool one_child = false;
    if (strcmp(fmt, "+l") == 0)
      f->fb_type = T_LIST, f->layout = L_LIST32, one_child = true;
    else if (strcmp(fmt, "+L") == 0)
      f->fb_type = T_LARGE_LIST, f->layout = L_LIST64, one_child = true;
    else if (strcmp(fmt, "+m") == 0)
      f->fb_type = T_MAP, f->layout = L_LIST32, one_child = true;
    else if (strcmp(fmt, "+vl") == 0)
      f->fb_type = T_LIST_VIEW, f->layout = L_LISTVIEW32, one_child = true;
    else if (strcmp(fmt, "+vL") == 0)
      f->fb_type = T_LARGE_LIST_VIEW, f->layout = L_LISTVIEW64, one_child = true;
    else if (strcmp(fmt, "+r") == 0) {
      f->fb_type = T_REE;
      f->layout = L_REE;
      if (n_children != 2)
        return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                             "run-end encoded format '+r' needs two children, not %" PRId64,
                             n_children);
    } else if (strcmp(fmt, "+s") == 0)
      f->fb_type = T_STRUCT, f->layout = L_STRUCT;
    else if (strncmp(fmt, "+w:", 3) == 0) {
      p = fmt + 3;
      if (!parse_i32(&p, &f->p1) || *p != '\0' || f->p1 < 0) return BAD();
      f->fb_type = T_FSL;
      f->layout = L_FSL;
      f->width = f->p1;
      one_child = true;
    } else if (strncmp(fmt, "+ud:", 4) == 0 || strncmp(fmt, "+us:", 4) == 0) {
      f->fb_type = T_UNION;
      f->layout = fmt[2] == 'd' ? L_DUNION : L_SUNION;
      f->p1 = fmt[2] == 'd' ? 1 : 0;
      memset(f->child_of_type, -1, sizeof f->child_of_type);
      f->type_ids = calloc((size_t)(n_children > 0 ? n_children : 1), sizeof(int32_t));
      if (f->type_ids == NULL) return oom(err);
      p = fmt + 4;
      while (*p != '\0') {
        int32_t id;
        if (!parse_i32(&p, &id) || id < 0 || id > 127 || f->n_type_ids >= n_children ||
            f->child_of_type[id] >= 0)
          return BAD();
        f->child_of_type[id] = (int8_t)f->n_type_ids;
        f->type_ids[f->n_type_ids++] = id;
        if (*p == ',')
          p++;
        else if (*p != '\0')
          return BAD();
      }
      if (f->n_type_ids != n_children)
        return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                             "union format '%s' lists %" PRId64 " type ids for %" PRId64
                             " children",
                             fmt, f->n_type_ids, n_children);
    } else {
      return BAD();
    }
    if (one_child && n_children != 1)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "format '%s' needs exactly one child, not %" PRId64, fmt, n_children);
    if (f->fb_type == T_MAP) f->p1 = 0; /* keysSorted from the flags, set by the caller */
    return MALLARD_OK;
  }
  default:
    return BAD();
  }
#undef BAD
}

static bool is_int_format(const char *fmt) {
  return fmt != NULL && fmt[0] != '\0' && fmt[1] == '\0' && strchr("cCsSiIlL", fmt[0]) != NULL;
}

static mlr_code field_from_schema(enc_field *f, const struct ArrowSchema *s, int64_t *next_dict_id,
                                  int depth, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  if (depth > 200)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "schema nested deeper than 200 levels");
  if (s == NULL || s->release == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "released or missing ArrowSchema");
  f->name = dup_str(s->name);
  if (f->name == NULL) return oom(err);
  f->nullable = (s->flags & ARROW_FLAG_NULLABLE) != 0;
  if (s->metadata != NULL) {
    int64_t n = md_size(s->metadata);
    if (n < 0) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "malformed custom metadata");
    f->md = malloc((size_t)n);
    if (f->md == NULL) return oom(err);
    memcpy(f->md, s->metadata, (size_t)n);
  }
  if (s->n_children < 0 || (s->n_children > 0 && s->children == NULL))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "bad child count");
  if (s->dictionary != NULL) {
    if (!is_int_format(s->format))
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "dictionary index type '%s' is not an integer type",
                           s->format ? s->format : "");
    rc = parse_format(f, s->format, 0, err);
    if (rc != MALLARD_OK) return rc;
    f->is_dict = true;
    f->dict_ordered = (s->flags & ARROW_FLAG_DICTIONARY_ORDERED) != 0;
    f->dict_id = (*next_dict_id)++;
    f->dict = calloc(1, sizeof *f->dict);
    if (f->dict == NULL) return oom(err);
    return field_from_schema(f->dict, s->dictionary, next_dict_id, depth + 1, err);
  }
  rc = parse_format(f, s->format, s->n_children, err);
  if (rc != MALLARD_OK) return rc;
  if (f->fb_type == T_MAP) f->p1 = (s->flags & ARROW_FLAG_MAP_KEYS_SORTED) != 0;
  bool nested = f->layout >= L_LIST32;
  if (!nested && s->n_children != 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "format '%s' cannot have children",
                         s->format);
  if (s->n_children > 0) {
    f->children = calloc((size_t)s->n_children, sizeof *f->children);
    if (f->children == NULL) return oom(err);
  }
  f->n_children = s->n_children;
  for (int64_t i = 0; i < s->n_children; i++) {
    rc = field_from_schema(&f->children[i], s->children[i], next_dict_id, depth + 1, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "child '%s': ", f->children[i].name ? f->children[i].name : "");
      return rc;
    }
  }
  if (f->fb_type == T_REE) {
    const enc_field *re = &f->children[0];
    if (re->fb_type != T_INT || re->is_dict || !re->p2 || re->p1 < 16)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "run ends must be int16, int32 or int64");
  }
  if (f->fb_type == T_MAP) {
    const enc_field *e = &f->children[0];
    if (e->fb_type != T_STRUCT || e->is_dict || e->n_children != 2)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "map entries must be a struct of two fields (key, value)");
  }
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Metadata (flatbuffers)
 * ---------------------------------------------------------------------------------------- */

static fbb_ref build_kv_vector(fbb *b, const uint8_t *md) {
  if (md == NULL) return 0;
  int32_t n;
  memcpy(&n, md, 4);
  if (n <= 0) return 0;
  fbb_ref *refs = malloc((size_t)n * sizeof *refs);
  if (refs == NULL) {
    b->failed = true;
    return 0;
  }
  int64_t pos = 4;
  for (int32_t i = 0; i < n; i++) {
    int32_t kl, vl;
    memcpy(&kl, md + pos, 4);
    const char *k = (const char *)md + pos + 4;
    pos += 4 + kl;
    memcpy(&vl, md + pos, 4);
    const char *v = (const char *)md + pos + 4;
    pos += 4 + vl;
    fbb_ref ks = fbb_string(b, k, (size_t)kl);
    fbb_ref vs = fbb_string(b, v, (size_t)vl);
    fbb_table_start(b);
    fbb_add_ref(b, 0, ks);
    fbb_add_ref(b, 1, vs);
    refs[i] = fbb_table_end(b);
  }
  fbb_ref vec = fbb_vector_refs(b, refs, (size_t)n);
  free(refs);
  return vec;
}

static fbb_ref build_type_table(fbb *b, const enc_field *f) {
  fbb_ref extra = 0;
  if (f->fb_type == T_TIMESTAMP && f->tz != NULL) extra = fbb_string(b, f->tz, strlen(f->tz));
  if (f->fb_type == T_UNION)
    extra = fbb_vector(b, f->type_ids, sizeof(int32_t), (size_t)f->n_type_ids, 4);
  fbb_table_start(b);
  switch (f->fb_type) {
  case T_INT:
    fbb_add_i32(b, 0, f->p1);
    fbb_add_u8(b, 1, (uint8_t)f->p2);
    break;
  case T_FLOAT:
    fbb_add_i16(b, 0, (int16_t)f->p1);
    break;
  case T_DECIMAL:
    fbb_add_i32(b, 0, f->p1);
    fbb_add_i32(b, 1, f->p2);
    fbb_add_i32(b, 2, f->p3);
    break;
  case T_DATE:
  case T_INTERVAL:
  case T_DURATION:
    fbb_add_i16(b, 0, (int16_t)f->p1);
    break;
  case T_TIME:
    fbb_add_i16(b, 0, (int16_t)f->p1);
    fbb_add_i32(b, 1, f->p2);
    break;
  case T_TIMESTAMP:
    fbb_add_i16(b, 0, (int16_t)f->p1);
    if (extra) fbb_add_ref(b, 1, extra);
    break;
  case T_UNION:
    fbb_add_i16(b, 0, (int16_t)f->p1);
    fbb_add_ref(b, 1, extra);
    break;
  case T_FSB:
  case T_FSL:
    fbb_add_i32(b, 0, f->p1);
    break;
  case T_MAP:
    fbb_add_u8(b, 0, (uint8_t)f->p1);
    break;
  default:
    break;
  }
  return fbb_table_end(b);
}

static fbb_ref build_field(fbb *b, const enc_field *f);

/* The vector of Field tables for f's children (the schema's fields for the root). */
static fbb_ref build_children(fbb *b, const enc_field *f) {
  fbb_ref *refs = NULL;
  if (f->n_children > 0) {
    refs = malloc((size_t)f->n_children * sizeof *refs);
    if (refs == NULL) {
      b->failed = true;
      return 0;
    }
    for (int64_t i = 0; i < f->n_children; i++) refs[i] = build_field(b, &f->children[i]);
  }
  fbb_ref v = fbb_vector_refs(b, refs, (size_t)f->n_children);
  free(refs);
  return v;
}

static fbb_ref build_field(fbb *b, const enc_field *f) {
  const enc_field *tf = f->is_dict ? f->dict : f;
  fbb_ref children = build_children(b, tf);
  if (b->failed) return 0;
  fbb_ref type = build_type_table(b, tf);
  fbb_ref name = fbb_string(b, f->name, strlen(f->name));
  fbb_ref md = build_kv_vector(b, f->md);
  fbb_ref dict = 0;
  if (f->is_dict) {
    fbb_table_start(b);
    fbb_add_i32(b, 0, f->p1);
    fbb_add_u8(b, 1, (uint8_t)f->p2);
    fbb_ref index_type = fbb_table_end(b);
    fbb_table_start(b);
    fbb_add_i64(b, 0, f->dict_id);
    fbb_add_ref(b, 1, index_type);
    fbb_add_u8(b, 2, f->dict_ordered);
    dict = fbb_table_end(b);
  }
  fbb_table_start(b);
  fbb_add_ref(b, 0, name);
  fbb_add_u8(b, 1, f->nullable);
  fbb_add_u8(b, 2, tf->fb_type);
  fbb_add_ref(b, 3, type);
  if (dict) fbb_add_ref(b, 4, dict);
  fbb_add_ref(b, 5, children);
  if (md) fbb_add_ref(b, 6, md);
  return fbb_table_end(b);
}

fbb_ref ipc_encoder_build_schema_table(const ipc_encoder *enc, fbb *b) {
  const enc_field *r = &enc->root;
  fbb_ref fields = build_children(b, r);
  if (b->failed) return 0;
  fbb_ref md = build_kv_vector(b, r->md);
  fbb_table_start(b);
  fbb_add_i16(b, 0, 0); /* little endian */
  fbb_add_ref(b, 1, fields);
  if (md) fbb_add_ref(b, 2, md);
  return fbb_table_end(b);
}

static fbb_ref build_message_table(fbb *b, uint8_t header_type, fbb_ref header,
                                   int64_t body_length) {
  fbb_table_start(b);
  fbb_add_i64(b, 3, body_length);
  fbb_add_ref(b, 2, header);
  fbb_add_i16(b, 0, IPC_FB_VERSION_V5);
  fbb_add_u8(b, 1, header_type);
  return fbb_table_end(b);
}

/* ------------------------------------------------------------------------------------------
 * Encoder lifecycle
 * ---------------------------------------------------------------------------------------- */

static void count_dicts(const enc_field *f, int64_t *n) {
  if (f->is_dict && f->dict_id + 1 > *n) *n = f->dict_id + 1;
  for (int64_t i = 0; i < f->n_children; i++) count_dicts(&f->children[i], n);
  if (f->dict != NULL) count_dicts(f->dict, n);
}

mlr_code ipc_encoder_new(const struct ArrowSchema *schema, const ipc_write_options *opts,
                         ipc_encoder **out, mlr_error *err) {
  *out = NULL;
  if (schema == NULL || schema->release == NULL || schema->format == NULL ||
      strcmp(schema->format, "+s") != 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "an IPC schema must be a struct (\"+s\") ArrowSchema");
  ipc_encoder *enc = calloc(1, sizeof *enc);
  if (enc == NULL) return oom(err);
  if (opts != NULL) enc->opts = *opts;
  if (enc->opts.compression_threads < 1) enc->opts.compression_threads = 1;
  if (enc->opts.compression_threads > 64) enc->opts.compression_threads = 64;
  mlr_code rc = ipc_compressor_init(&enc->comp, enc->opts.compression, enc->opts.zstd_level, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (enc->opts.compression != IPC_COMPRESSION_NONE) {
    enc->pool = arrowc_pool_new((int64_t)64 << 20);
    if (enc->pool == NULL) {
      rc = oom(err);
      goto cleanup;
    }
  }
  enc->root.name = dup_str("");
  if (enc->root.name == NULL) {
    rc = oom(err);
    goto cleanup;
  }
  enc->root.fb_type = T_STRUCT;
  enc->root.layout = L_STRUCT;
  if (schema->metadata != NULL) {
    int64_t n = md_size(schema->metadata);
    if (n < 0) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "malformed schema metadata");
      goto cleanup;
    }
    enc->root.md = malloc((size_t)n);
    if (enc->root.md == NULL) {
      rc = oom(err);
      goto cleanup;
    }
    memcpy(enc->root.md, schema->metadata, (size_t)n);
  }
  if (schema->n_children < 0 || (schema->n_children > 0 && schema->children == NULL)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "bad schema child count");
    goto cleanup;
  }
  if (schema->n_children > 0) {
    enc->root.children = calloc((size_t)schema->n_children, sizeof *enc->root.children);
    if (enc->root.children == NULL) {
      rc = oom(err);
      goto cleanup;
    }
  }
  enc->root.n_children = schema->n_children;
  int64_t next_id = 0;
  for (int64_t i = 0; i < schema->n_children; i++) {
    rc = field_from_schema(&enc->root.children[i], schema->children[i], &next_id, 1, err);
    if (rc != MALLARD_OK) {
      const struct ArrowSchema *c = schema->children[i];
      mlr_error_prefix(err, "column '%s': ", c != NULL && c->name != NULL ? c->name : "");
      goto cleanup;
    }
  }
  count_dicts(&enc->root, &enc->n_dicts);
  if (enc->n_dicts > 0) {
    enc->dicts = calloc((size_t)enc->n_dicts, sizeof *enc->dicts);
    if (enc->dicts == NULL) {
      rc = oom(err);
      goto cleanup;
    }
  }
  *out = enc;
  enc = NULL;
cleanup:
  ipc_encoder_free(enc);
  return rc;
}

void ipc_encoder_free(ipc_encoder *enc) {
  if (enc == NULL) return;
  field_release(&enc->root);
  for (int64_t i = 0; i < enc->n_dicts; i++) free(enc->dicts[i].fp);
  free(enc->dicts);
  ipc_compressor_release(&enc->comp);
  if (enc->workers != NULL) {
    int slots = ipc_workers_slots(enc->workers);
    ipc_workers_free(enc->workers); /* joins the threads before their contexts go */
    for (int i = 1; i < slots; i++) ipc_compressor_release(&enc->slot_comps[i]);
  }
  free(enc->slot_comps);
  arrowc_pool_unref(enc->pool);
  free(enc);
}

void ipc_encoder_set_file_mode(ipc_encoder *enc, bool file_mode) {
  enc->file_mode = file_mode;
}

mlr_code ipc_encoder_schema(ipc_encoder *enc, ipc_message *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  fbb b;
  fbb_init(&b);
  fbb_ref schema = ipc_encoder_build_schema_table(enc, &b);
  fbb_ref msg = build_message_table(&b, IPC_FB_HEADER_SCHEMA, schema, 0);
  mlr_code rc = fbb_finish(&b, msg, &out->metadata, &out->metadata_size, err);
  if (rc != MALLARD_OK) return rc;
  out->type = IPC_MESSAGE_SCHEMA;
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Batch walk: field nodes and body buffers
 * ---------------------------------------------------------------------------------------- */

static void batch_release(enc_batch *eb) {
  for (int64_t i = 0; i < eb->n_scratch; i++) free(eb->scratch[i]);
  free(eb->scratch);
  free(eb->nodes);
  free(eb->bufs);
  free(eb->variadic);
  memset(eb, 0, sizeof *eb);
}

static void *scratch_alloc(enc_batch *eb, int64_t size) {
  if (!grow((void **)&eb->scratch, &eb->cap_scratch, eb->n_scratch + 1, sizeof(void *)))
    return NULL;
  void *p = malloc(size > 0 ? (size_t)size : 1);
  if (p != NULL) eb->scratch[eb->n_scratch++] = p;
  return p;
}

static bool push_node(enc_batch *eb, int64_t length, int64_t null_count) {
  if (!grow((void **)&eb->nodes, &eb->cap_nodes, 2 * (eb->n_nodes + 1), sizeof(int64_t)))
    return false;
  eb->nodes[2 * eb->n_nodes] = length;
  eb->nodes[2 * eb->n_nodes + 1] = null_count;
  eb->n_nodes++;
  return true;
}

static bool push_buf(enc_batch *eb, const void *data, int64_t size, int64_t bits) {
  if (!grow((void **)&eb->bufs, &eb->cap_bufs, eb->n_bufs + 1, sizeof(enc_buf))) return false;
  eb->bufs[eb->n_bufs].data = size > 0 ? data : NULL;
  eb->bufs[eb->n_bufs].size = size;
  eb->bufs[eb->n_bufs].bits = bits;
  eb->n_bufs++;
  return true;
}

static int64_t count_set_bits(const uint8_t *bm, int64_t start, int64_t n) {
  int64_t count = 0, i = start, end = start + n;
  while (i < end && (i & 7) != 0) {
    count += (bm[i >> 3] >> (i & 7)) & 1;
    i++;
  }
  const uint8_t *p = bm + (i >> 3);
  while (end - i >= 64) {
    uint64_t w;
    memcpy(&w, p, 8);
    count += __builtin_popcountll(w);
    p += 8;
    i += 64;
  }
  while (end - i >= 8) {
    count += __builtin_popcount(*p++);
    i += 8;
  }
  while (i < end) {
    count += (bm[i >> 3] >> (i & 7)) & 1;
    i++;
  }
  return count;
}

/* Emits bits [start, start+n) of bm as a buffer: a view when byte aligned, else a shifted copy. */
static mlr_code emit_bits(enc_batch *eb, const uint8_t *bm, int64_t start, int64_t n,
                          mlr_error *err) {
  int64_t nbytes = (n + 7) / 8;
  if (n == 0) return push_buf(eb, NULL, 0, 0) ? MALLARD_OK : oom(err);
  if ((start & 7) == 0) return push_buf(eb, bm + start / 8, nbytes, n) ? MALLARD_OK : oom(err);
  uint8_t *out = scratch_alloc(eb, nbytes);
  if (out == NULL) return oom(err);
  int s = (int)(start & 7);
  const uint8_t *src = bm + start / 8;
  int64_t src_bytes = (start + n + 7) / 8 - start / 8;
  for (int64_t i = 0; i < nbytes; i++) {
    unsigned v = src[i] >> s;
    if (i + 1 < src_bytes) v |= (unsigned)src[i + 1] << (8 - s);
    out[i] = (uint8_t)v;
  }
  if (n & 7) out[nbytes - 1] &= (uint8_t)((1u << (n & 7)) - 1);
  return push_buf(eb, out, nbytes, n) ? MALLARD_OK : oom(err);
}

static int expected_buffers(const enc_field *f) {
  switch (f->layout) {
  case L_NULL:
    return 0;
  case L_BOOL:
  case L_FIXED:
    return 2;
  case L_BIN32:
  case L_BIN64:
    return 3;
  case L_VIEW:
    return -1;
  case L_LIST32:
  case L_LIST64:
    return 2;
  case L_FSL:
  case L_STRUCT:
    return 1;
  case L_SUNION:
    return 1;
  case L_DUNION:
    return 2;
  case L_REE:
    return 0;
  case L_LISTVIEW32:
  case L_LISTVIEW64:
    return 3;
  }
  return -1;
}

/* Offsets of a list/binary slice [P, P+N): a view when they start at zero, else rebased. */
static mlr_code emit_offsets(enc_batch *eb, const void *offs, int64_t P, int64_t N, int w,
                             int64_t *first, int64_t *last, mlr_error *err) {
  if (N == 0) {
    *first = *last = 0;
    return push_buf(eb, ipc_zeros, w, 0) ? MALLARD_OK : oom(err);
  }
  if (offs == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing offsets buffer");
  if (w == 4) {
    const int32_t *o = (const int32_t *)offs + P;
    *first = o[0];
    *last = o[N];
    if (*first == 0) return push_buf(eb, o, 4 * (N + 1), 0) ? MALLARD_OK : oom(err);
    int32_t *c = scratch_alloc(eb, 4 * (N + 1));
    if (c == NULL) return oom(err);
    int32_t base = o[0];
    for (int64_t i = 0; i <= N; i++) c[i] = o[i] - base;
    return push_buf(eb, c, 4 * (N + 1), 0) ? MALLARD_OK : oom(err);
  }
  const int64_t *o = (const int64_t *)offs + P;
  *first = o[0];
  *last = o[N];
  if (*first == 0) return push_buf(eb, o, 8 * (N + 1), 0) ? MALLARD_OK : oom(err);
  int64_t *c = scratch_alloc(eb, 8 * (N + 1));
  if (c == NULL) return oom(err);
  int64_t base = o[0];
  for (int64_t i = 0; i <= N; i++) c[i] = o[i] - base;
  return push_buf(eb, c, 8 * (N + 1), 0) ? MALLARD_OK : oom(err);
}

static mlr_code walk(enc_batch *eb, const enc_field *f, const struct ArrowArray *a, int64_t P,
                     int64_t N, int depth, mlr_error *err);

static mlr_code walk_child(enc_batch *eb, const enc_field *f, const struct ArrowArray *a, int64_t i,
                           int64_t P, int64_t N, int depth, mlr_error *err) {
  const struct ArrowArray *c = a->children[i];
  if (c == NULL || c->release == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "child %" PRId64 " is missing", i);
  mlr_code rc = walk(eb, &f->children[i], c, c->offset + P, N, depth + 1, err);
  if (rc != MALLARD_OK) mlr_error_prefix(err, "child '%s': ", f->children[i].name);
  return rc;
}

static int64_t run_end_at(const void *p, int w, int64_t i) {
  if (w == 2) return ((const int16_t *)p)[i];
  if (w == 4) return ((const int32_t *)p)[i];
  return ((const int64_t *)p)[i];
}

/* Run-end encoded logical range [P, P+N): the runs that cover it, run ends rebased to it. */
static mlr_code walk_ree(enc_batch *eb, const enc_field *f, const struct ArrowArray *a, int64_t P,
                         int64_t N, int depth, mlr_error *err) {
  const struct ArrowArray *re = a->children[0], *vals = a->children[1];
  if (re == NULL || vals == NULL || re->release == NULL || vals->release == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "run-end encoded array lacks children");
  if (P == 0 && N == a->length) { /* the whole array: children as they are */
    mlr_code rc = walk_child(eb, f, a, 0, 0, re->length, depth, err);
    if (rc == MALLARD_OK) rc = walk_child(eb, f, a, 1, 0, vals->length, depth, err);
    return rc;
  }
  int w = (int)f->children[0].width;
  const void *ends = re->n_buffers == 2 ? re->buffers[1] : NULL;
  if (re->length > 0 && ends == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing run ends buffer");
  const uint8_t *base = (const uint8_t *)ends + (int64_t)w * re->offset;
  /* first run ending after P, first run ending at or after P+N (binary searches) */
  int64_t lo = 0, hi = re->length;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (run_end_at(base, w, mid) <= P)
      lo = mid + 1;
    else
      hi = mid;
  }
  int64_t first = lo;
  hi = re->length;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (run_end_at(base, w, mid) < P + N)
      lo = mid + 1;
    else
      hi = mid;
  }
  int64_t count = N == 0 ? 0 : lo - first + 1;
  if (N > 0 && lo >= re->length)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "run ends do not cover the array");
  if (first + count > vals->length)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "fewer values than runs");
  /* run ends child: a node, no validity, the rebased ends */
  if (!push_node(eb, count, 0) || !push_buf(eb, NULL, 0, 0)) return oom(err);
  uint8_t *out = scratch_alloc(eb, (int64_t)w * (count > 0 ? count : 1));
  if (out == NULL) return oom(err);
  for (int64_t i = 0; i < count; i++) {
    int64_t e = run_end_at(base, w, first + i);
    if (e > P + N) e = P + N;
    e -= P;
    if (w == 2)
      ((int16_t *)out)[i] = (int16_t)e;
    else if (w == 4)
      ((int32_t *)out)[i] = (int32_t)e;
    else
      ((int64_t *)out)[i] = e;
  }
  if (!push_buf(eb, out, (int64_t)w * count, 0)) return oom(err);
  return walk_child(eb, f, a, 1, first, count, depth, err);
}

static mlr_code walk(enc_batch *eb, const enc_field *f, const struct ArrowArray *a, int64_t P,
                     int64_t N, int depth, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  if (depth > 200) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "nested too deeply");
  int nb = expected_buffers(f);
  if ((nb >= 0 && a->n_buffers != nb) || (nb < 0 && a->n_buffers < 3) ||
      a->n_children != (f->is_dict ? 0 : f->n_children) ||
      (a->n_buffers > 0 && a->buffers == NULL) || (a->n_children > 0 && a->children == NULL))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "array has %" PRId64 " buffers and %" PRId64
                         " children, which does not match its type",
                         a->n_buffers, a->n_children);
  if (f->is_dict && a->dictionary == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "dictionary-encoded array has no dictionary");
  if (N < 0 || P < a->offset || P - a->offset > a->length || N > a->length - (P - a->offset))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "array of length %" PRId64 " is shorter than its parent needs", a->length);
  /* null count: the producer's when this is the whole array, else counted */
  int64_t nc = 0;
  bool has_validity =
      f->layout != L_NULL && f->layout != L_SUNION && f->layout != L_DUNION && f->layout != L_REE;
  if (f->layout == L_NULL) {
    nc = N;
  } else if (has_validity) {
    const uint8_t *bm = a->buffers[0];
    if (bm == NULL)
      nc = 0;
    else if (P == a->offset && N == a->length && a->null_count >= 0)
      nc = a->null_count;
    else
      nc = N - count_set_bits(bm, P, N);
  }
  if (!push_node(eb, N, nc)) return oom(err);
  if (has_validity) {
    if (nc == 0) {
      if (!push_buf(eb, NULL, 0, 0)) return oom(err);
    } else {
      rc = emit_bits(eb, a->buffers[0], P, N, err);
      if (rc != MALLARD_OK) return rc;
    }
  }
  switch (f->layout) {
  case L_NULL:
    return MALLARD_OK;
  case L_BOOL:
    if (N > 0 && a->buffers[1] == NULL)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing data buffer");
    return emit_bits(eb, a->buffers[1], P, N, err);
  case L_FIXED: {
    int64_t start, size;
    if (mlr_mul_overflow_i64(P, f->width, &start) || mlr_mul_overflow_i64(N, f->width, &size))
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "array size overflows");
    if (size > 0 && a->buffers[1] == NULL)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing data buffer");
    return push_buf(eb, size > 0 ? (const uint8_t *)a->buffers[1] + start : NULL, size, 0)
               ? MALLARD_OK
               : oom(err);
  }
  case L_BIN32:
  case L_BIN64: {
    int64_t first, last;
    rc = emit_offsets(eb, a->buffers[1], P, N, f->layout == L_BIN32 ? 4 : 8, &first, &last, err);
    if (rc != MALLARD_OK) return rc;
    if (last < first || (last > first && a->buffers[2] == NULL))
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "offsets are not increasing");
    if (last == first) return push_buf(eb, NULL, 0, 0) ? MALLARD_OK : oom(err);
    return push_buf(eb, (const uint8_t *)a->buffers[2] + first, last - first, 0) ? MALLARD_OK
                                                                                 : oom(err);
  }
  case L_VIEW: {
    if (N > 0 && a->buffers[1] == NULL)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing views buffer");
    if (!push_buf(eb, N > 0 ? (const uint8_t *)a->buffers[1] + 16 * P : NULL, 16 * N, 0))
      return oom(err);
    int64_t nvar = a->n_buffers - 3;
    const int64_t *sizes = a->buffers[a->n_buffers - 1];
    if (nvar > 0 && sizes == NULL)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing variadic buffer sizes");
    for (int64_t i = 0; i < nvar; i++)
      if (!push_buf(eb, a->buffers[2 + i], sizes[i], 0)) return oom(err);
    if (!grow((void **)&eb->variadic, &eb->cap_variadic, eb->n_variadic + 1, sizeof(int64_t)))
      return oom(err);
    eb->variadic[eb->n_variadic++] = nvar;
    return MALLARD_OK;
  }
  case L_LIST32:
  case L_LIST64: {
    int64_t first, last;
    rc = emit_offsets(eb, a->buffers[1], P, N, f->layout == L_LIST32 ? 4 : 8, &first, &last, err);
    if (rc != MALLARD_OK) return rc;
    if (last < first)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "offsets are not increasing");
    return walk_child(eb, f, a, 0, first, last - first, depth, err);
  }
  case L_FSL: {
    int64_t cp, cn;
    if (mlr_mul_overflow_i64(P, f->width, &cp) || mlr_mul_overflow_i64(N, f->width, &cn))
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "array size overflows");
    return walk_child(eb, f, a, 0, cp, cn, depth, err);
  }
  case L_STRUCT:
    for (int64_t i = 0; i < f->n_children; i++) {
      rc = walk_child(eb, f, a, i, P, N, depth, err);
      if (rc != MALLARD_OK) return rc;
    }
    return MALLARD_OK;
  case L_LISTVIEW32:
  case L_LISTVIEW64: {
    /* offsets and sizes index the whole child, which is sent whole: no rebasing needed */
    int64_t w = f->layout == L_LISTVIEW32 ? 4 : 8;
    for (int k = 1; k <= 2; k++) {
      if (N > 0 && a->buffers[k] == NULL)
        return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing list view buffer");
      if (!push_buf(eb, N > 0 ? (const uint8_t *)a->buffers[k] + w * P : NULL, w * N, 0))
        return oom(err);
    }
    return walk_child(eb, f, a, 0, 0, a->children[0] ? a->children[0]->length : 0, depth, err);
  }
  case L_REE:
    return walk_ree(eb, f, a, P, N, depth, err);
  case L_SUNION:
  case L_DUNION: {
    const int8_t *types = a->buffers[0];
    if (N > 0 && types == NULL)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing type ids buffer");
    if (!push_buf(eb, N > 0 ? types + P : NULL, N, 0)) return oom(err);
    for (int64_t i = 0; i < N; i++)
      if (types[P + i] < 0 || f->child_of_type[types[P + i]] < 0)
        return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unknown union type id %d",
                             types[P + i]);
    if (f->layout == L_SUNION) {
      for (int64_t i = 0; i < f->n_children; i++) {
        rc = walk_child(eb, f, a, i, P, N, depth, err);
        if (rc != MALLARD_OK) return rc;
      }
      return MALLARD_OK;
    }
    const int32_t *offs = a->buffers[1];
    if (N > 0 && offs == NULL)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing union offsets buffer");
    int64_t nc_ = f->n_children;
    int64_t *lo = scratch_alloc(eb, 2 * 8 * (nc_ > 0 ? nc_ : 1));
    if (lo == NULL) return oom(err);
    int64_t *hi = lo + nc_;
    for (int64_t c = 0; c < nc_; c++) lo[c] = INT64_MAX, hi[c] = 0;
    bool rebase = false;
    for (int64_t i = 0; i < N; i++) {
      int c = f->child_of_type[types[P + i]];
      int64_t o = offs[P + i];
      if (o < 0) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "negative union offset");
      if (o < lo[c]) lo[c] = o;
      if (o + 1 > hi[c]) hi[c] = o + 1;
    }
    for (int64_t c = 0; c < nc_; c++) {
      if (lo[c] == INT64_MAX) lo[c] = 0;
      if (lo[c] != 0) rebase = true;
    }
    if (!rebase) {
      if (!push_buf(eb, N > 0 ? offs + P : NULL, 4 * N, 0)) return oom(err);
    } else {
      int32_t *o2 = scratch_alloc(eb, 4 * N);
      if (o2 == NULL) return oom(err);
      for (int64_t i = 0; i < N; i++)
        o2[i] = (int32_t)(offs[P + i] - lo[f->child_of_type[types[P + i]]]);
      if (!push_buf(eb, o2, 4 * N, 0)) return oom(err);
    }
    for (int64_t c = 0; c < nc_; c++) {
      rc = walk_child(eb, f, a, c, lo[c], hi[c] > lo[c] ? hi[c] - lo[c] : 0, depth, err);
      if (rc != MALLARD_OK) return rc;
    }
    return MALLARD_OK;
  }
  }
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------------------------- */

static void shared_unref(enc_shared *s) {
  if (s == NULL) return;
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  if (s->arr.release != NULL) s->arr.release(&s->arr);
  free(s);
}

void ipc_message_release(ipc_message *msg) {
  if (msg == NULL) return;
  msg_priv *p = msg->private_data;
  if (p != NULL) {
    for (int64_t i = 0; i < p->n_scratch; i++) free(p->scratch[i]);
    free(p->scratch);
    for (int64_t i = 0; i < p->n_pooled; i++)
      arrowc_pool_put(p->pool, p->pooled[i], p->pooled_cap[i]);
    free(p->pooled);
    free(p->pooled_cap);
    arrowc_pool_unref(p->pool);
    shared_unref(p->src);
    free(p);
  }
  free(msg->metadata);
  free(msg->segments);
  memset(msg, 0, sizeof *msg);
}

/* One buffer to compress into a pooled block (the block stays with the task until laid out). */
typedef struct ctask {
  const uint8_t *src;
  int64_t len;
  uint8_t *dst; /* NULL: not compressed (empty or below compression_min_size) */
  int64_t cap, clen;
  mlr_code rc;
  mlr_error err;
} ctask;

typedef struct cjob {
  ipc_encoder *enc;
  ctask *tasks;
} cjob;

static void compress_task(void *ctx, int64_t i, int slot) {
  cjob *j = ctx;
  ctask *t = &j->tasks[i];
  if (t->dst == NULL) return;
  ipc_compressor *comp = slot == 0 ? &j->enc->comp : &j->enc->slot_comps[slot];
  mlr_error_reset(&t->err);
  t->rc = MALLARD_OK;
  if (comp->codec == IPC_COMPRESSION_NONE) /* a worker slot's context, made on first use */
    t->rc = ipc_compressor_init(comp, j->enc->opts.compression, j->enc->opts.zstd_level, &t->err);
  if (t->rc == MALLARD_OK)
    t->rc = ipc_compress_into(comp, t->src, t->len, t->dst, t->cap, &t->clen, &t->err);
}

/* Compresses the tasks' buffers: on the encoder's threads when it has some and the body is
 * large enough, else on the calling thread. Each buffer is its own frame, compressed the same
 * way by any context, so the bytes do not depend on the threads. */
static mlr_code compress_all(ipc_encoder *enc, ctask *tasks, int64_t n, mlr_error *err) {
  int64_t bytes = 0, count = 0;
  for (int64_t i = 0; i < n; i++) {
    if (tasks[i].dst == NULL) continue;
    bytes += tasks[i].len;
    count++;
  }
  cjob job = {enc, tasks};
  if (enc->opts.compression_threads > 1 && count > 1 && bytes >= IPC_PARALLEL_MIN_BYTES) {
    if (enc->workers == NULL) {
      enc->slot_comps = calloc((size_t)enc->opts.compression_threads, sizeof *enc->slot_comps);
      enc->workers =
          enc->slot_comps != NULL ? ipc_workers_new(enc->opts.compression_threads) : NULL;
      if (enc->workers == NULL) {
        free(enc->slot_comps);
        enc->slot_comps = NULL;
        return oom(err);
      }
    }
    ipc_workers_run(enc->workers, n, compress_task, &job);
  } else {
    for (int64_t i = 0; i < n; i++) compress_task(&job, i, 0);
  }
  for (int64_t i = 0; i < n; i++) /* the first failure in buffer order */
    if (tasks[i].dst != NULL && tasks[i].rc != MALLARD_OK)
      return mlr_error_set(err, tasks[i].rc, "%s", tasks[i].err.message);
  return MALLARD_OK;
}

/* Lays out the body (compressing buffers if asked) and builds the message around eb's buffers.
 * Moves eb's scratch into the message. */
static mlr_code build_batch_message(ipc_encoder *enc, enc_batch *eb, int64_t length,
                                    const enc_field *dict_field, bool is_delta, enc_shared *src,
                                    ipc_message *out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  memset(out, 0, sizeof *out);
  fbb b;
  fbb_init(&b);
  bool compress = enc->opts.compression != IPC_COMPRESSION_NONE;
  int64_t nbufs = eb->n_bufs;
  int64_t *prefix = NULL;
  int64_t *bufmeta = NULL; /* (offset, length) pairs */
  ctask *tasks = NULL;     /* compress: one per buffer */
  msg_priv *priv = calloc(1, sizeof *priv);
  out->segments = calloc((size_t)(3 * nbufs + 1), sizeof *out->segments);
  bufmeta = calloc((size_t)(2 * nbufs + 1), sizeof *bufmeta);
  if (priv == NULL || out->segments == NULL || bufmeta == NULL) {
    free(priv);
    rc = oom(err);
    goto cleanup;
  }
  out->private_data = priv;
  if (compress) {
    prefix = scratch_alloc(eb, 8 * (nbufs > 0 ? nbufs : 1));
    priv->pooled = calloc((size_t)(nbufs > 0 ? nbufs : 1), sizeof *priv->pooled);
    priv->pooled_cap = calloc((size_t)(nbufs > 0 ? nbufs : 1), sizeof *priv->pooled_cap);
    if (prefix == NULL || priv->pooled == NULL || priv->pooled_cap == NULL) {
      rc = oom(err);
      goto cleanup;
    }
    arrowc_pool_ref(enc->pool);
    priv->pool = enc->pool;
  }
  if (compress) {
    tasks = calloc((size_t)(nbufs > 0 ? nbufs : 1), sizeof *tasks);
    if (tasks == NULL) {
      rc = oom(err);
      goto cleanup;
    }
    for (int64_t i = 0; i < nbufs; i++) {
      const enc_buf *bf = &eb->bufs[i];
      if (bf->size == 0 || bf->size < enc->opts.compression_min_size) continue;
      tasks[i].src = bf->data;
      tasks[i].len = bf->size;
      tasks[i].dst =
          arrowc_pool_get(priv->pool, ipc_compress_bound(&enc->comp, bf->size), &tasks[i].cap);
      if (tasks[i].dst == NULL) {
        rc = oom(err);
        goto cleanup;
      }
    }
    rc = compress_all(enc, tasks, nbufs, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  int64_t pos = 0, nseg = 0;
  for (int64_t i = 0; i < nbufs; i++) {
    const enc_buf *bf = &eb->bufs[i];
    int64_t len = bf->size;
    bufmeta[2 * i] = pos;
    if (len == 0) {
      bufmeta[2 * i + 1] = 0;
      continue;
    }
    if (!compress) {
      out->segments[nseg++] = (ipc_segment){bf->data, len};
    } else {
      const uint8_t *payload = bf->data;
      int64_t plen = len;
      prefix[i] = -1;
      ctask *t = &tasks[i];
      if (t->dst != NULL && t->clen < len) { /* the message owns the block from here on */
        priv->pooled[priv->n_pooled] = t->dst;
        priv->pooled_cap[priv->n_pooled++] = t->cap;
        payload = t->dst;
        plen = t->clen;
        prefix[i] = len;
      } else if (t->dst != NULL) { /* did not shrink: send it raw, give the block back */
        arrowc_pool_put(priv->pool, t->dst, t->cap);
      }
      t->dst = NULL;
      out->segments[nseg++] = (ipc_segment){(const uint8_t *)&prefix[i], 8};
      out->segments[nseg++] = (ipc_segment){payload, plen};
      len = plen + 8;
    }
    bufmeta[2 * i + 1] = len;
    int64_t pad = (8 - (len & 7)) & 7;
    if (pad) out->segments[nseg++] = (ipc_segment){ipc_zeros, pad};
    pos += len + pad;
  }
  out->n_segments = nseg;
  out->body_size = pos;

  fbb_ref variadic = 0, comp = 0;
  if (eb->n_variadic > 0) variadic = fbb_vector(&b, eb->variadic, 8, (size_t)eb->n_variadic, 8);
  if (compress) {
    fbb_table_start(&b);
    fbb_add_u8(&b, 0, enc->opts.compression == IPC_COMPRESSION_ZSTD ? 1 : 0);
    fbb_add_u8(&b, 1, 0);
    comp = fbb_table_end(&b);
  }
  fbb_ref buffers = fbb_vector(&b, bufmeta, 16, (size_t)nbufs, 8);
  fbb_ref nodes = fbb_vector(&b, eb->nodes, 16, (size_t)eb->n_nodes, 8);
  fbb_table_start(&b);
  fbb_add_i64(&b, 0, length);
  fbb_add_ref(&b, 1, nodes);
  fbb_add_ref(&b, 2, buffers);
  if (comp) fbb_add_ref(&b, 3, comp);
  if (variadic) fbb_add_ref(&b, 4, variadic);
  fbb_ref rb = fbb_table_end(&b);
  fbb_ref header = rb;
  uint8_t htype = IPC_FB_HEADER_RECORD_BATCH;
  if (dict_field != NULL) {
    fbb_table_start(&b);
    fbb_add_i64(&b, 0, dict_field->dict_id);
    fbb_add_ref(&b, 1, rb);
    fbb_add_u8(&b, 2, is_delta);
    header = fbb_table_end(&b);
    htype = IPC_FB_HEADER_DICTIONARY_BATCH;
  }
  fbb_ref msg = build_message_table(&b, htype, header, out->body_size);
  rc = fbb_finish(&b, msg, &out->metadata, &out->metadata_size, err);
  if (rc != MALLARD_OK) goto cleanup;
  out->type = dict_field != NULL ? IPC_MESSAGE_DICTIONARY_BATCH : IPC_MESSAGE_RECORD_BATCH;
  /* hand the scratch memory and a reference on the source to the message */
  priv->scratch = eb->scratch;
  priv->n_scratch = eb->n_scratch;
  eb->scratch = NULL;
  eb->n_scratch = eb->cap_scratch = 0;
  if (src != NULL) {
    atomic_fetch_add_explicit(&src->refs, 1, memory_order_relaxed);
    priv->src = src;
  }
cleanup:
  fbb_release(&b);
  free(bufmeta);
  if (tasks != NULL) /* blocks not laid out (after an error) go back to the pool */
    for (int64_t i = 0; i < nbufs; i++)
      if (tasks[i].dst != NULL) arrowc_pool_put(enc->pool, tasks[i].dst, tasks[i].cap);
  free(tasks);
  if (rc != MALLARD_OK) ipc_message_release(out);
  return rc;
}

/* Canonical bytes of an encoded dictionary, to tell whether it changed since it was last sent
 * (bitmaps' unused trailing bits are masked). */
static mlr_code fingerprint(const enc_batch *eb, uint8_t **out, int64_t *out_size, mlr_error *err) {
  int64_t total = 8 + 16 * eb->n_nodes + 8 * eb->n_variadic;
  for (int64_t i = 0; i < eb->n_bufs; i++) total += 8 + eb->bufs[i].size;
  uint8_t *p = malloc((size_t)total);
  if (p == NULL) return oom(err);
  uint8_t *w = p;
  memcpy(w, &eb->n_nodes, 8);
  w += 8;
  memcpy(w, eb->nodes, (size_t)(16 * eb->n_nodes));
  w += 16 * eb->n_nodes;
  if (eb->n_variadic > 0) memcpy(w, eb->variadic, (size_t)(8 * eb->n_variadic));
  w += 8 * eb->n_variadic;
  for (int64_t i = 0; i < eb->n_bufs; i++) {
    const enc_buf *bf = &eb->bufs[i];
    memcpy(w, &bf->size, 8);
    w += 8;
    if (bf->size > 0) memcpy(w, bf->data, (size_t)bf->size);
    if (bf->bits > 0 && (bf->bits & 7) != 0)
      w[bf->size - 1] &= (uint8_t)((1u << (bf->bits & 7)) - 1);
    w += bf->size;
  }
  *out = p;
  *out_size = total;
  return MALLARD_OK;
}

/* Whether an encoded dictionary has the canonical bytes `fp` (as fingerprint() would write
 * them), compared in place: an unchanged dictionary costs no allocation. */
static bool fingerprint_equals(const enc_batch *eb, const uint8_t *fp, int64_t fp_size) {
  int64_t total = 8 + 16 * eb->n_nodes + 8 * eb->n_variadic;
  for (int64_t i = 0; i < eb->n_bufs; i++) total += 8 + eb->bufs[i].size;
  if (fp == NULL || total != fp_size) return false;
  const uint8_t *r = fp;
  if (memcmp(r, &eb->n_nodes, 8) != 0) return false;
  r += 8;
  if (eb->n_nodes > 0 && memcmp(r, eb->nodes, (size_t)(16 * eb->n_nodes)) != 0) return false;
  r += 16 * eb->n_nodes;
  if (eb->n_variadic > 0 && memcmp(r, eb->variadic, (size_t)(8 * eb->n_variadic)) != 0)
    return false;
  r += 8 * eb->n_variadic;
  for (int64_t i = 0; i < eb->n_bufs; i++) {
    const enc_buf *bf = &eb->bufs[i];
    if (memcmp(r, &bf->size, 8) != 0) return false;
    r += 8;
    int64_t whole = bf->size;
    uint8_t mask = 0xFF;
    if (bf->bits > 0 && (bf->bits & 7) != 0) {
      whole--;
      mask = (uint8_t)((1u << (bf->bits & 7)) - 1);
    }
    if (whole > 0 && memcmp(r, bf->data, (size_t)whole) != 0) return false;
    if (whole < bf->size && (bf->data[whole] & mask) != r[whole]) return false;
    r += bf->size;
  }
  return true;
}

typedef struct dict_ref {
  const enc_field *field;
  const struct ArrowArray *arr;
} dict_ref;

typedef struct dict_list {
  dict_ref *items;
  int64_t n, cap;
} dict_list;

/* Collects the dictionaries of an array tree, nested dictionaries before their parents. */
static mlr_code collect_dicts(dict_list *dl, const enc_field *f, const struct ArrowArray *a,
                              int depth, mlr_error *err) {
  if (depth > 200) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "nested too deeply");
  if (a == NULL || a->release == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "missing or released child array");
  if (f->is_dict) {
    if (a->dictionary == NULL || a->dictionary->release == NULL)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "column '%s': dictionary-encoded array has no dictionary", f->name);
    mlr_code rc = collect_dicts(dl, f->dict, a->dictionary, depth + 1, err);
    if (rc != MALLARD_OK) return rc;
    if (!grow((void **)&dl->items, &dl->cap, dl->n + 1, sizeof(dict_ref))) return oom(err);
    dl->items[dl->n++] = (dict_ref){f, a->dictionary};
    return MALLARD_OK;
  }
  if (a->n_children != f->n_children || (a->n_children > 0 && a->children == NULL))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "column '%s': array has %" PRId64 " children, its type has %" PRId64,
                         f->name, a->n_children, f->n_children);
  for (int64_t i = 0; i < f->n_children; i++) {
    mlr_code rc = collect_dicts(dl, &f->children[i], a->children[i], depth + 1, err);
    if (rc != MALLARD_OK) return rc;
  }
  return MALLARD_OK;
}

static mlr_code encode_dict_part(ipc_encoder *enc, const dict_ref *d, int64_t P, int64_t N,
                                 enc_batch *eb, mlr_error *err) {
  mlr_code rc = walk(eb, d->field->dict, d->arr, d->arr->offset + P, N, 1, err);
  if (rc != MALLARD_OK) mlr_error_prefix(err, "dictionary of column '%s': ", d->field->name);
  (void)enc;
  return rc;
}

static mlr_code emit_dictionary(ipc_encoder *enc, const dict_ref *d, enc_shared *src,
                                ipc_message_sink sink, void *sink_ctx, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  enc_dict_state *st = &enc->dicts[d->field->dict_id];
  enc_batch full = {0}, prefix = {0}, delta = {0};
  uint8_t *fp = NULL;
  int64_t fp_size = 0;
  ipc_message msg = {0};
  int64_t n = d->arr->length;
  rc = encode_dict_part(enc, d, 0, n, &full, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (st->seen && fingerprint_equals(&full, st->fp, st->fp_size))
    goto cleanup; /* unchanged: the reader still has it */
  rc = fingerprint(&full, &fp, &fp_size, err);
  if (rc != MALLARD_OK) goto cleanup;
  bool is_delta = false;
  if (st->seen && st->length < n) {
    rc = encode_dict_part(enc, d, 0, st->length, &prefix, err);
    if (rc != MALLARD_OK) goto cleanup;
    is_delta = fingerprint_equals(&prefix, st->fp, st->fp_size);
  }
  if (st->seen && !is_delta && enc->file_mode) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "column '%s': the dictionary changed between batches; an IPC file "
                       "allows only one dictionary per field (plus deltas): use a stream",
                       d->field->name);
    goto cleanup;
  }
  if (is_delta) {
    rc = encode_dict_part(enc, d, st->length, n - st->length, &delta, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = build_batch_message(enc, &delta, n - st->length, d->field, true, src, &msg, err);
  } else {
    rc = build_batch_message(enc, &full, n, d->field, false, src, &msg, err);
  }
  if (rc != MALLARD_OK) goto cleanup;
  free(st->fp);
  st->fp = fp;
  st->fp_size = fp_size;
  st->length = n;
  st->seen = true;
  fp = NULL;
  rc = sink(sink_ctx, &msg, err);
  memset(&msg, 0, sizeof msg);
cleanup:
  ipc_message_release(&msg);
  batch_release(&full);
  batch_release(&prefix);
  batch_release(&delta);
  free(fp);
  return rc;
}

/* Rows [start, start + len) of the shared batch as one RecordBatch message, or, when its body
 * would be larger than opts.max_body_size, as its two halves in turn (each split again as
 * needed; a single row always goes as it is). */
static mlr_code emit_rows(ipc_encoder *enc, enc_shared *src, int64_t start, int64_t len,
                          ipc_message_sink sink, void *sink_ctx, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  enc_batch eb = {0};
  ipc_message msg = {0};
  const struct ArrowArray *a = &src->arr;
  const enc_field *r = &enc->root;
  for (int64_t i = 0; i < r->n_children; i++) {
    const struct ArrowArray *c = a->children[i];
    rc = walk(&eb, &r->children[i], c, c->offset + a->offset + start, len, 1, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "column '%s': ", r->children[i].name);
      goto cleanup;
    }
  }
  rc = build_batch_message(enc, &eb, len, NULL, false, src, &msg, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (enc->opts.max_body_size > 0 && msg.body_size > enc->opts.max_body_size && len > 1) {
    ipc_message_release(&msg);
    batch_release(&eb);
    int64_t half = len / 2;
    rc = emit_rows(enc, src, start, half, sink, sink_ctx, err);
    if (rc == MALLARD_OK) rc = emit_rows(enc, src, start + half, len - half, sink, sink_ctx, err);
    return rc;
  }
  rc = sink(sink_ctx, &msg, err);
  memset(&msg, 0, sizeof msg);
cleanup:
  ipc_message_release(&msg);
  batch_release(&eb);
  return rc;
}

mlr_code ipc_encoder_batch(ipc_encoder *enc, struct ArrowArray *batch, ipc_message_sink sink,
                           void *sink_ctx, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  dict_list dl = {0};
  enc_shared *src = NULL;
  if (batch == NULL || batch->release == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "released or missing batch");
  src = malloc(sizeof *src);
  if (src == NULL) {
    batch->release(batch);
    return oom(err);
  }
  atomic_init(&src->refs, 1);
  src->arr = *batch;
  batch->release = NULL;
  const struct ArrowArray *a = &src->arr;
  const enc_field *r = &enc->root;
  if (a->n_children != r->n_children || (a->n_children > 0 && a->children == NULL) ||
      a->length < 0 || a->offset < 0) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "batch has %" PRId64 " columns, the schema has %" PRId64, a->n_children,
                       r->n_children);
    goto cleanup;
  }
  for (int64_t i = 0; i < r->n_children; i++) {
    rc = collect_dicts(&dl, &r->children[i], a->children[i], 1, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  for (int64_t i = 0; i < dl.n; i++) {
    rc = emit_dictionary(enc, &dl.items[i], src, sink, sink_ctx, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  rc = emit_rows(enc, src, 0, a->length, sink, sink_ctx, err);
cleanup:
  free(dl.items);
  shared_unref(src);
  return rc;
}
