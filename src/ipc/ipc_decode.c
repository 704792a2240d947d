/* The IPC decoder: Message flatbuffers plus bodies -> ArrowSchema / ArrowArray record
 * batches, with dictionaries (deltas, replacements), body decompression, zero-copy views of
 * aligned body buffers and full validation of everything read from the input. */
#include "arrow/arrowc_array.h"
#include "arrow/arrowc_schema.h"
#include "ipc/ipc_read_int.h"
#include "ipc/ipc_workers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MSG_VERSION = 0, MSG_HEADER_TYPE = 1, MSG_HEADER = 2, MSG_BODY_LENGTH = 3 };
enum { RB_LENGTH = 0, RB_NODES = 1, RB_BUFFERS = 2, RB_COMPRESSION = 3, RB_VARIADIC = 4 };
enum { DB_ID = 0, DB_DATA = 1, DB_IS_DELTA = 2 };

typedef struct dict_state {
  int64_t id;
  const struct ArrowSchema *value_schema;
  arrowc_shared_array *current; /* NULL until the first DictionaryBatch */
} dict_state;

struct ipc_decoder {
  ipc_read_options opts;
  bool has_schema;
  struct ArrowSchema schema;
  ipc_dict_field *fields;
  int64_t n_fields;
  dict_state *dicts;
  int64_t n_dicts;
  ipc_workers *workers; /* decompression threads; NULL until first needed */
  arrowc_pool *pool;    /* blocks of decompressed buffers; NULL until the first one */
};

/* The decoder's cache of decompressed blocks (its arrays give them back when released). */
#define IPC_DECODE_POOL_BYTES ((int64_t)32 << 20)

/* The parallel pre-pass decompresses at most this many announced bytes per message; buffers
 * past it are decompressed one by one as they are reached (as with one thread). */
#define IPC_PARALLEL_MAX_BYTES ((int64_t)1 << 30)

/* Backing for empty buffers: consumers may read offsets[0] of an empty array. */
static const int64_t ipc_zeros[4] = {0, 0, 0, 0};

mlr_code ipc_decoder_new(const ipc_read_options *opts, ipc_decoder **out, mlr_error *err) {
  *out = NULL;
  ipc_decoder *d = calloc(1, sizeof *d);
  if (d == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  if (opts != NULL) d->opts = *opts;
  if (d->opts.max_nesting_depth <= 0) d->opts.max_nesting_depth = 64;
  if (d->opts.max_nesting_depth > 512) d->opts.max_nesting_depth = 512; /* bounds recursion */
  if (d->opts.max_decompressed <= 0) d->opts.max_decompressed = (int64_t)2 << 30;
  if (d->opts.validation != IPC_VALIDATE_STRUCTURAL) d->opts.validation = IPC_VALIDATE_FULL;
  if (d->opts.compression_threads < 1) d->opts.compression_threads = 1;
  if (d->opts.compression_threads > 64) d->opts.compression_threads = 64;
  *out = d;
  return MALLARD_OK;
}

void ipc_decoder_free(ipc_decoder *dec) {
  if (dec == NULL) return;
  for (int64_t i = 0; i < dec->n_dicts; i++) arrowc_shared_array_unref(dec->dicts[i].current);
  free(dec->dicts);
  free(dec->fields);
  arrowc_schema_release(&dec->schema);
  ipc_workers_free(dec->workers);
  arrowc_pool_unref(dec->pool); /* arrays still out keep it alive */
  free(dec);
}

bool ipc_decoder_has_schema(const ipc_decoder *dec) {
  return dec != NULL && dec->has_schema;
}

mlr_code ipc_decoder_schema(const ipc_decoder *dec, struct ArrowSchema *out, mlr_error *err) {
  if (!ipc_decoder_has_schema(dec)) {
    memset(out, 0, sizeof *out);
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION, "no schema message decoded yet");
  }
  return arrowc_schema_deep_copy(&dec->schema, out, err);
}

mlr_code ipc_decoder_load_schema(ipc_decoder *dec, const fbr_table *schema, mlr_error *err) {
  if (dec->has_schema)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "schema message after the stream's schema");
  MLR_RETURN_NOT_OK(ipc_read_schema_table(schema, dec->opts.max_nesting_depth, &dec->schema,
                                          &dec->fields, &dec->n_fields, err));
  if (dec->n_fields > 0) {
    dec->dicts = calloc((size_t)dec->n_fields, sizeof *dec->dicts);
    if (dec->dicts == NULL) {
      arrowc_schema_release(&dec->schema);
      free(dec->fields);
      dec->fields = NULL;
      dec->n_fields = 0;
      return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    }
  }
  for (int64_t i = 0; i < dec->n_fields; i++) {
    bool seen = false;
    for (int64_t j = 0; j < dec->n_dicts && !seen; j++)
      seen = dec->dicts[j].id == dec->fields[i].id;
    if (seen) continue;
    dec->dicts[dec->n_dicts].id = dec->fields[i].id;
    dec->dicts[dec->n_dicts].value_schema = dec->fields[i].node->dictionary;
    dec->n_dicts++;
  }
  dec->has_schema = true;
  return MALLARD_OK;
}

static dict_state *find_dict(ipc_decoder *dec, int64_t id) {
  for (int64_t i = 0; i < dec->n_dicts; i++)
    if (dec->dicts[i].id == id) return &dec->dicts[i];
  return NULL;
}

static int64_t field_dict_id(const ipc_decoder *dec, const struct ArrowSchema *node) {
  for (int64_t i = 0; i < dec->n_fields; i++)
    if (dec->fields[i].node == node) return dec->fields[i].id;
  return -1;
}

/* ------------------------------------------------------------------------------------------
 * Record batch bodies
 * ---------------------------------------------------------------------------------------- */

/* A body buffer decompressed ahead by the parallel pre-pass, taken by next_buffer. */
enum { PRE_NONE = 0, PRE_PENDING = 1, PRE_DONE = 2, PRE_FAILED = 3 };
typedef struct predecoded {
  int state;
  ipc_compression c_codec;
  arrowc_pool *pool;
  const uint8_t *src; /* compressed bytes (after the length prefix) */
  int64_t src_size, ulen;
  arrowc_buf *buf; /* PRE_DONE: the decompressed buffer, until next_buffer takes it */
  mlr_code rc;     /* PRE_FAILED: the error */
  mlr_error err;
} predecoded;

typedef struct rctx {
  ipc_decoder *dec;
  const uint8_t *body;
  int64_t body_size;
  arrowc_buf *body_buf;
  fbr_vector nodes, buffers, variadic;
  int64_t node_i, buf_i, var_i;
  ipc_compression codec;
  bool legacy_union; /* metadata V4: unions carry a validity buffer */
  predecoded *pre;   /* per buffer index, from the parallel pre-pass; NULL without one */
  const char *what;  /* "column" or "dictionary N column" */
  char path[512];
  mlr_error *err;
} rctx;

__attribute__((format(printf, 2, 3))) static mlr_code rfail(rctx *c, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return mlr_error_set(c->err, MALLARD_INVALID_ARGUMENT, "%s '%s': %s", c->what, c->path, msg);
}

static mlr_code next_node(rctx *c, int64_t *length, int64_t *null_count) {
  if (c->node_i >= c->nodes.count)
    return rfail(c, "the record batch has only %lld field nodes", (long long)c->nodes.count);
  const uint8_t *p = fbr_vector_elem(&c->nodes, c->node_i++, 16);
  *length = fbr_read_i64(p);
  *null_count = fbr_read_i64(p + 8);
  if (*length < 0) return rfail(c, "negative length %lld", (long long)*length);
  if (*null_count < 0 || *null_count > *length)
    return rfail(c, "null count %lld is not within [0, %lld]", (long long)*null_count,
                 (long long)*length);
  return MALLARD_OK;
}

/* Takes the next body buffer: bounds-checked, decompressed, viewed (zero copy when 8-byte
 * aligned) or copied. *owner receives a reference the array will hold (NULL for static). */
static mlr_code next_buffer(rctx *c, const char *what, const uint8_t **data, int64_t *size,
                            arrowc_buf **owner) {
  *data = NULL;
  *size = 0;
  *owner = NULL;
  if (c->buf_i >= c->buffers.count)
    return rfail(c, "the record batch has only %lld buffers, the %s buffer is missing",
                 (long long)c->buffers.count, what);
  const uint8_t *p = fbr_vector_elem(&c->buffers, c->buf_i++, 16);
  int64_t off = fbr_read_i64(p), len = fbr_read_i64(p + 8);
  if (off < 0 || len < 0 || off > c->body_size || len > c->body_size - off)
    return rfail(c, "%s buffer [%lld, +%lld) ends at %lld, past the %lld-byte body", what,
                 (long long)off, (long long)len,
                 (long long)((off >= 0 && len >= 0 && len <= INT64_MAX - off) ? off + len : -1),
                 (long long)c->body_size);
  const uint8_t *src = c->body + off;
  if (c->pre != NULL && c->pre[c->buf_i - 1].state >= PRE_DONE) {
    predecoded *pd = &c->pre[c->buf_i - 1];
    if (pd->state == PRE_FAILED) {
      mlr_error_set(c->err, pd->rc, "%s", pd->err.message);
      mlr_error_prefix(c->err, "%s '%s': %s buffer: ", c->what, c->path, what);
      return pd->rc;
    }
    *owner = pd->buf; /* moved to the array */
    pd->buf = NULL;
    pd->state = PRE_NONE;
    *data = arrowc_buf_data(*owner);
    *size = arrowc_buf_size(*owner);
    return MALLARD_OK;
  }
  if (c->codec != IPC_COMPRESSION_NONE && len > 0) {
    if (len < 8)
      return rfail(c, "compressed %s buffer is %lld bytes, shorter than its length prefix", what,
                   (long long)len);
    int64_t ulen = fbr_read_i64(src);
    src += 8;
    len -= 8;
    if (ulen != -1) {
      if (ulen < 0 || ulen > c->dec->opts.max_decompressed)
        return rfail(c, "%s buffer announces %lld uncompressed bytes (limit %lld)", what,
                     (long long)ulen, (long long)c->dec->opts.max_decompressed);
      mlr_code rc = ipc_decompress(c->codec, src, len, ulen, c->dec->pool, owner, c->err);
      if (rc != MALLARD_OK) {
        mlr_error_prefix(c->err, "%s '%s': %s buffer: ", c->what, c->path, what);
        return rc;
      }
      *data = arrowc_buf_data(*owner);
      *size = ulen;
      return MALLARD_OK;
    }
  }
  if (len == 0) {
    *data = (const uint8_t *)ipc_zeros;
    return MALLARD_OK;
  }
  if (((uintptr_t)src & 7u) == 0 && c->body_buf != NULL) {
    arrowc_buf_ref(c->body_buf);
    *owner = c->body_buf;
    *data = src;
  } else {
    arrowc_buf *copy = arrowc_buf_alloc(len);
    if (copy == NULL)
      return mlr_error_set(c->err, MALLARD_RESOURCE_EXHAUSTED, "out of memory copying a buffer");
    memcpy(arrowc_buf_mutable_data(copy), src, (size_t)len);
    *owner = copy;
    *data = arrowc_buf_data(copy);
  }
  *size = len;
  return MALLARD_OK;
}

/* Reads the next buffer into slot i of `out`, requiring at least `need` bytes. */
static mlr_code take_buffer(rctx *c, struct ArrowArray *out, int64_t i, const char *what,
                            int64_t need, int64_t *size_out) {
  const uint8_t *data;
  int64_t size;
  arrowc_buf *owner;
  MLR_RETURN_NOT_OK(next_buffer(c, what, &data, &size, &owner));
  arrowc_array_set_buffer(out, i, data, owner);
  if (size < need)
    return rfail(c, "%s buffer has %lld bytes, %lld rows need %lld", what, (long long)size,
                 (long long)out->length, (long long)need);
  if (size_out != NULL) *size_out = size;
  return MALLARD_OK;
}

/* Bytes of a bitmap of n bits, without overflowing for huge n. */
static int64_t bitmap_bytes(int64_t n) {
  return n / 8 + (n % 8 != 0);
}

static mlr_code take_validity(rctx *c, struct ArrowArray *out) {
  const uint8_t *data;
  int64_t size;
  arrowc_buf *owner;
  MLR_RETURN_NOT_OK(next_buffer(c, "validity", &data, &size, &owner));
  if (out->null_count == 0) { /* an all-valid array needs no bitmap */
    arrowc_buf_unref(owner);
    return MALLARD_OK;
  }
  arrowc_array_set_buffer(out, 0, data, owner);
  int64_t need = bitmap_bytes(out->length);
  if (size < need)
    return rfail(c, "validity buffer has %lld bytes, %lld rows need %lld", (long long)size,
                 (long long)out->length, (long long)need);
  return MALLARD_OK;
}

static mlr_code mul_need(rctx *c, int64_t n, int64_t w, int64_t *out) {
  if (mlr_mul_overflow_i64(n, w, out)) return rfail(c, "length %lld overflows", (long long)n);
  return MALLARD_OK;
}

/* Offsets buffer of width w for out->length values (an empty array may omit it). */
static mlr_code take_offsets(rctx *c, struct ArrowArray *out, int64_t i, int w) {
  int64_t need, size;
  if (out->length == INT64_MAX) return rfail(c, "length %lld overflows", (long long)out->length);
  MLR_RETURN_NOT_OK(mul_need(c, out->length + 1, w, &need));
  const uint8_t *data;
  arrowc_buf *owner;
  MLR_RETURN_NOT_OK(next_buffer(c, "offsets", &data, &size, &owner));
  arrowc_array_set_buffer(out, i, data, owner);
  if (out->length == 0 && size < need) return MALLARD_OK; /* empty: ipc_zeros backs it */
  if (size < need)
    return rfail(c, "offsets buffer has %lld bytes, %lld rows need %lld", (long long)size,
                 (long long)out->length, (long long)need);
  return MALLARD_OK;
}

static int64_t read_offset(const uint8_t *p, int w, int64_t i) {
  if (w == 4) return fbr_read_i32(p + 4 * i);
  return fbr_read_i64(p + 8 * i);
}

static mlr_code decode_node(rctx *c, const struct ArrowSchema *schema, struct ArrowArray *out,
                            int depth);

static mlr_code decode_children(rctx *c, const struct ArrowSchema *schema, struct ArrowArray *out,
                                int depth) {
  for (int64_t i = 0; i < schema->n_children; i++) {
    size_t len = strlen(c->path);
    const char *name = schema->children[i]->name;
    snprintf(c->path + len, sizeof c->path - len, "%s%s", len ? "." : "",
             name && *name ? name : "item");
    mlr_code rc = decode_node(c, schema->children[i], out->children[i], depth + 1);
    c->path[len] = '\0';
    if (rc != MALLARD_OK) return rc;
  }
  return MALLARD_OK;
}

static mlr_code decode_views(rctx *c, struct ArrowArray *out, int64_t length, int64_t nc) {
  if (c->var_i >= c->variadic.count)
    return rfail(c, "the record batch has no variadic buffer count for this view column");
  int64_t n_var = fbr_read_i64(fbr_vector_elem(&c->variadic, c->var_i++, 8));
  if (n_var < 0 || n_var > c->buffers.count - c->buf_i)
    return rfail(c, "variadic buffer count %lld, but only %lld buffers remain", (long long)n_var,
                 (long long)(c->buffers.count - c->buf_i));
  MLR_RETURN_NOT_OK(arrowc_array_init(out, 3 + n_var, 0, c->err));
  out->length = length;
  out->null_count = nc;
  MLR_RETURN_NOT_OK(take_validity(c, out));
  int64_t need;
  MLR_RETURN_NOT_OK(mul_need(c, length, 16, &need));
  MLR_RETURN_NOT_OK(take_buffer(c, out, 1, "views", need, NULL));
  arrowc_buf *sizes = arrowc_buf_alloc(8 * n_var);
  if (sizes == NULL) return mlr_error_set(c->err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  int64_t *sz = (int64_t *)(void *)arrowc_buf_mutable_data(sizes);
  arrowc_array_set_buffer(out, 2 + n_var, sz, sizes);
  for (int64_t v = 0; v < n_var; v++)
    MLR_RETURN_NOT_OK(take_buffer(c, out, 2 + v, "variadic data", 0, &sz[v]));
  return MALLARD_OK;
}

static mlr_code decode_node(rctx *c, const struct ArrowSchema *schema, struct ArrowArray *out,
                            int depth) {
  memset(out, 0, sizeof *out);
  if (depth > c->dec->opts.max_nesting_depth)
    return rfail(c, "nested deeper than %d levels", c->dec->opts.max_nesting_depth);
  arrowc_format f;
  MLR_RETURN_NOT_OK(arrowc_format_parse(schema->format, &f, c->err));
  int64_t length = 0, nc = 0;
  MLR_RETURN_NOT_OK(next_node(c, &length, &nc));
  int64_t need;
  mlr_code rc = MALLARD_OK;

  switch (f.type) {
  case ARROWC_TYPE_NA:
    MLR_RETURN_NOT_OK(arrowc_array_init(out, 0, 0, c->err));
    out->length = length;
    out->null_count = length;
    break;
  case ARROWC_TYPE_STRING:
  case ARROWC_TYPE_BINARY:
  case ARROWC_TYPE_LARGE_STRING:
  case ARROWC_TYPE_LARGE_BINARY: {
    int w = (f.type == ARROWC_TYPE_STRING || f.type == ARROWC_TYPE_BINARY) ? 4 : 8;
    MLR_RETURN_NOT_OK(arrowc_array_init(out, 3, 0, c->err));
    out->length = length;
    out->null_count = nc;
    MLR_RETURN_NOT_OK(take_validity(c, out));
    MLR_RETURN_NOT_OK(take_offsets(c, out, 1, w));
    int64_t data_size;
    MLR_RETURN_NOT_OK(take_buffer(c, out, 2, "data", 0, &data_size));
    if (length > 0) {
      int64_t first = read_offset(out->buffers[1], w, 0);
      int64_t last = read_offset(out->buffers[1], w, length);
      if (first < 0 || last > data_size || first > last)
        return rfail(c, "offsets [%lld .. %lld] are outside the %lld-byte data buffer",
                     (long long)first, (long long)last, (long long)data_size);
    }
    break;
  }
  case ARROWC_TYPE_STRING_VIEW:
  case ARROWC_TYPE_BINARY_VIEW:
    MLR_RETURN_NOT_OK(decode_views(c, out, length, nc));
    break;
  case ARROWC_TYPE_LIST:
  case ARROWC_TYPE_LARGE_LIST:
  case ARROWC_TYPE_MAP:
    MLR_RETURN_NOT_OK(arrowc_array_init(out, 2, 1, c->err));
    out->length = length;
    out->null_count = nc;
    MLR_RETURN_NOT_OK(take_validity(c, out));
    MLR_RETURN_NOT_OK(take_offsets(c, out, 1, f.type == ARROWC_TYPE_LARGE_LIST ? 8 : 4));
    MLR_RETURN_NOT_OK(decode_children(c, schema, out, depth));
    break;
  case ARROWC_TYPE_LIST_VIEW:
  case ARROWC_TYPE_LARGE_LIST_VIEW: {
    int w = f.type == ARROWC_TYPE_LIST_VIEW ? 4 : 8;
    MLR_RETURN_NOT_OK(arrowc_array_init(out, 3, 1, c->err));
    out->length = length;
    out->null_count = nc;
    MLR_RETURN_NOT_OK(take_validity(c, out));
    MLR_RETURN_NOT_OK(mul_need(c, length, w, &need));
    MLR_RETURN_NOT_OK(take_buffer(c, out, 1, "offsets", need, NULL));
    MLR_RETURN_NOT_OK(take_buffer(c, out, 2, "sizes", need, NULL));
    MLR_RETURN_NOT_OK(decode_children(c, schema, out, depth));
    break;
  }
  case ARROWC_TYPE_FIXED_SIZE_LIST:
  case ARROWC_TYPE_STRUCT:
    MLR_RETURN_NOT_OK(arrowc_array_init(out, 1, schema->n_children, c->err));
    out->length = length;
    out->null_count = nc;
    MLR_RETURN_NOT_OK(take_validity(c, out));
    MLR_RETURN_NOT_OK(decode_children(c, schema, out, depth));
    break;
  case ARROWC_TYPE_SPARSE_UNION:
  case ARROWC_TYPE_DENSE_UNION: {
    bool dense = f.type == ARROWC_TYPE_DENSE_UNION;
    MLR_RETURN_NOT_OK(arrowc_array_init(out, dense ? 2 : 1, schema->n_children, c->err));
    out->length = length;
    if (c->legacy_union) {
      const uint8_t *d;
      int64_t s;
      arrowc_buf *o;
      MLR_RETURN_NOT_OK(next_buffer(c, "validity", &d, &s, &o));
      arrowc_buf_unref(o);
    }
    MLR_RETURN_NOT_OK(take_buffer(c, out, 0, "type ids", length, NULL));
    if (dense) {
      MLR_RETURN_NOT_OK(mul_need(c, length, 4, &need));
      MLR_RETURN_NOT_OK(take_buffer(c, out, 1, "offsets", need, NULL));
    }
    MLR_RETURN_NOT_OK(decode_children(c, schema, out, depth));
    break;
  }
  case ARROWC_TYPE_RUN_END_ENCODED:
    MLR_RETURN_NOT_OK(arrowc_array_init(out, 0, 2, c->err));
    out->length = length;
    MLR_RETURN_NOT_OK(decode_children(c, schema, out, depth));
    break;
  default: { /* fixed width, including dictionary indices */
    MLR_RETURN_NOT_OK(arrowc_array_init(out, 2, 0, c->err));
    out->length = length;
    out->null_count = nc;
    MLR_RETURN_NOT_OK(take_validity(c, out));
    if (f.type == ARROWC_TYPE_BOOL) {
      need = bitmap_bytes(length);
    } else {
      int64_t width = f.type == ARROWC_TYPE_FIXED_SIZE_BINARY ? f.fixed_size : f.bit_width / 8;
      MLR_RETURN_NOT_OK(mul_need(c, length, width, &need));
    }
    MLR_RETURN_NOT_OK(take_buffer(c, out, 1, "data", need, NULL));
    break;
  }
  }

  if (schema->dictionary != NULL) {
    int64_t id = field_dict_id(c->dec, schema);
    dict_state *ds = find_dict(c->dec, id);
    if (ds == NULL || ds->current == NULL)
      return rfail(c, "no dictionary received for dictionary id %lld", (long long)id);
    MLR_RETURN_NOT_OK(arrowc_array_alloc_dictionary(out, c->err));
    rc = arrowc_shared_array_view(ds->current, out->dictionary, c->err);
  }
  return rc;
}

/* Sets up the context for a RecordBatch table. */
static mlr_code rctx_init(rctx *c, ipc_decoder *dec, const fbr_table *rb, int16_t version,
                          const uint8_t *body, int64_t body_size, arrowc_buf *body_buf,
                          int64_t *length, mlr_error *err) {
  memset(c, 0, sizeof *c);
  c->dec = dec;
  c->body = body != NULL ? body : (const uint8_t *)ipc_zeros; /* NULL + 0 is undefined */
  c->body_size = body != NULL ? body_size : 0;
  c->body_buf = body_buf;
  c->legacy_union = version < IPC_RD_V5;
  c->what = "column";
  c->err = err;
  MLR_RETURN_NOT_OK(fbr_i64(rb, RB_LENGTH, 0, length, err));
  if (*length < 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "record batch length %lld is negative",
                         (long long)*length);
  MLR_RETURN_NOT_OK(fbr_vector_field(rb, RB_NODES, 16, &c->nodes, err));
  MLR_RETURN_NOT_OK(fbr_vector_field(rb, RB_BUFFERS, 16, &c->buffers, err));
  MLR_RETURN_NOT_OK(fbr_vector_field(rb, RB_VARIADIC, 8, &c->variadic, err));
  fbr_table comp;
  bool has_comp;
  MLR_RETURN_NOT_OK(fbr_table_field(rb, RB_COMPRESSION, &comp, &has_comp, err));
  if (has_comp) {
    int8_t codec, method;
    MLR_RETURN_NOT_OK(fbr_i8(&comp, 0, 0, &codec, err));
    MLR_RETURN_NOT_OK(fbr_i8(&comp, 1, 0, &method, err));
    if (method != 0)
      return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "body compression method %d", method);
    if (codec == 0)
      c->codec = IPC_COMPRESSION_LZ4_FRAME;
    else if (codec == 1)
      c->codec = IPC_COMPRESSION_ZSTD;
    else
      return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "body compression codec %d", codec);
    if (dec->pool == NULL) {
      dec->pool = arrowc_pool_new(IPC_DECODE_POOL_BYTES);
      if (dec->pool == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    }
  }
  return MALLARD_OK;
}

static void predecode_task(void *ctx, int64_t i, int slot) {
  predecoded *pd = (predecoded *)ctx + i;
  (void)slot;
  if (pd->state != PRE_PENDING) return;
  mlr_error_reset(&pd->err);
  pd->rc =
      ipc_decompress(pd->c_codec, pd->src, pd->src_size, pd->ulen, pd->pool, &pd->buf, &pd->err);
  pd->state = pd->rc == MALLARD_OK ? PRE_DONE : PRE_FAILED;
}

/* With compression threads and at least IPC_PARALLEL_MIN_BYTES to decompress, decompresses
 * the message's well-formed compressed buffers in parallel before the walk; next_buffer then
 * takes them in order (anything the pre-pass skipped is checked and decompressed there as
 * usual, with the same messages). Buffers the walk does not reach are decompressed for nothing
 * (at most IPC_PARALLEL_MAX_BYTES a message), which a single thread would not do. */
static mlr_code predecode(rctx *c) {
  ipc_decoder *dec = c->dec;
  if (c->codec == IPC_COMPRESSION_NONE || dec->opts.compression_threads < 2) return MALLARD_OK;
  int64_t n = c->buffers.count, announced = 0, tasks = 0;
  c->pre = calloc((size_t)(n > 0 ? n : 1), sizeof *c->pre);
  if (c->pre == NULL) return mlr_error_set(c->err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  for (int64_t i = 0; i < n; i++) {
    const uint8_t *p = fbr_vector_elem(&c->buffers, i, 16);
    int64_t off = fbr_read_i64(p), len = fbr_read_i64(p + 8);
    if (off < 0 || len < 8 || off > c->body_size || len > c->body_size - off) continue;
    int64_t ulen = fbr_read_i64(c->body + off);
    if (ulen < 0 || ulen > dec->opts.max_decompressed) continue; /* -1 (raw) or refused later */
    if (ulen > IPC_PARALLEL_MAX_BYTES - announced) break;
    announced += ulen;
    c->pre[i] = (predecoded){.state = PRE_PENDING,
                             .src = c->body + off + 8,
                             .src_size = len - 8,
                             .ulen = ulen,
                             .c_codec = c->codec,
                             .pool = dec->pool};
    tasks++;
  }
  /* the work is about proportional to the decompressed bytes */
  if (tasks < 2 || announced < IPC_PARALLEL_MIN_BYTES) {
    free(c->pre);
    c->pre = NULL;
    return MALLARD_OK;
  }
  if (dec->workers == NULL) {
    dec->workers = ipc_workers_new(dec->opts.compression_threads);
    if (dec->workers == NULL)
      return mlr_error_set(c->err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  ipc_workers_run(dec->workers, n, predecode_task, c->pre);
  return MALLARD_OK;
}

/* Frees what the walk did not take from the pre-pass. */
static void rctx_release(rctx *c) {
  if (c->pre == NULL) return;
  for (int64_t i = 0; i < c->buffers.count; i++) arrowc_buf_unref(c->pre[i].buf);
  free(c->pre);
  c->pre = NULL;
}

static mlr_code decode_record_batch(ipc_decoder *dec, const fbr_table *rb, int16_t version,
                                    const uint8_t *body, int64_t body_size, arrowc_buf *body_buf,
                                    struct ArrowArray *out, mlr_error *err) {
  rctx c;
  int64_t length;
  memset(out, 0, sizeof *out);
  MLR_RETURN_NOT_OK(rctx_init(&c, dec, rb, version, body, body_size, body_buf, &length, err));
  mlr_code rc = arrowc_array_init(out, 1, dec->schema.n_children, err);
  if (rc != MALLARD_OK) goto cleanup;
  out->length = length;
  rc = predecode(&c);
  if (rc == MALLARD_OK) rc = decode_children(&c, &dec->schema, out, 0);
  /* Dictionaries were validated when their batches were decoded. */
  if (rc == MALLARD_OK)
    rc = arrowc_array_validate_ex(
        &dec->schema, out,
        ARROWC_VALIDATE_SKIP_DICTIONARY_VALUES |
            (dec->opts.validation == IPC_VALIDATE_STRUCTURAL ? ARROWC_VALIDATE_STRUCTURAL : 0),
        err);
cleanup:
  rctx_release(&c);
  if (rc != MALLARD_OK) arrowc_array_release(out);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * Dictionary deltas: concatenation of two decoded dictionaries (flat types only)
 * ---------------------------------------------------------------------------------------- */

static bool bit_get(const uint8_t *b, int64_t i) {
  return b == NULL || ((b[i >> 3] >> (i & 7)) & 1);
}
static void bit_set(uint8_t *b, int64_t i, bool v) {
  if (v)
    b[i >> 3] |= (uint8_t)(1u << (i & 7));
  else
    b[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/* A logical range [start, start+len) of an array (start excludes array->offset). */
typedef struct crange {
  const struct ArrowArray *a;
  int64_t start, len;
} crange;

static mlr_code oom_err(mlr_error *err) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory concatenating a dictionary");
}

/* Allocates an owned buffer of `size` bytes into slot i of out; NULL on OOM. */
static uint8_t *alloc_buffer(struct ArrowArray *out, int64_t i, int64_t size) {
  arrowc_buf *b = arrowc_buf_alloc(size);
  if (b == NULL) return NULL;
  uint8_t *p = arrowc_buf_mutable_data(b);
  memset(p, 0, (size_t)size);
  arrowc_array_set_buffer(out, i, p, b);
  return p;
}

static void put_offset(uint8_t *offs, int w, int64_t k, int64_t v) {
  if (w == 4) {
    int32_t x = (int32_t)v;
    memcpy(offs + 4 * k, &x, 4);
  } else {
    memcpy(offs + 8 * k, &v, 8);
  }
}

/* Concatenates two ranges of arrays of one type into a new owned array (offset 0), copying
 * the data: used to apply delta dictionaries. Unions, run-end encoded, list views and nested
 * dictionaries are refused with UNIMPLEMENTED. */
static mlr_code concat_ranges(const struct ArrowSchema *schema, const crange *parts,
                              struct ArrowArray *out, int depth, mlr_error *err) {
  arrowc_format f;
  memset(out, 0, sizeof *out); /* released state on every early return */
  MLR_RETURN_NOT_OK(arrowc_format_parse(schema->format, &f, err));
  int64_t n;
  if (mlr_add_overflow_i64(parts[0].len, parts[1].len, &n) || n == INT64_MAX)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "delta dictionary too long");
  bool binary = f.type == ARROWC_TYPE_STRING || f.type == ARROWC_TYPE_BINARY ||
                f.type == ARROWC_TYPE_LARGE_STRING || f.type == ARROWC_TYPE_LARGE_BINARY;
  bool view = f.type == ARROWC_TYPE_STRING_VIEW || f.type == ARROWC_TYPE_BINARY_VIEW;
  bool list =
      f.type == ARROWC_TYPE_LIST || f.type == ARROWC_TYPE_LARGE_LIST || f.type == ARROWC_TYPE_MAP;
  bool nested = list || f.type == ARROWC_TYPE_FIXED_SIZE_LIST || f.type == ARROWC_TYPE_STRUCT;
  bool fixed = !binary && !view && !nested && f.type != ARROWC_TYPE_NA && f.type < ARROWC_TYPE_LIST;
  if (depth > 512 || schema->dictionary != NULL ||
      (!binary && !view && !nested && !fixed && f.type != ARROWC_TYPE_NA))
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED,
                         "delta dictionary batches of type '%s' are not supported", schema->format);
  int64_t n_buffers = arrowc_format_n_buffers(&f) + (view ? 2 : 0);
  MLR_RETURN_NOT_OK(arrowc_array_init(out, n_buffers, schema->n_children, err));
  out->length = n;
  if (f.type == ARROWC_TYPE_NA) {
    out->null_count = n;
    return MALLARD_OK;
  }
  bool any_nulls = false;
  for (int p = 0; p < 2; p++) any_nulls = any_nulls || parts[p].a->null_count != 0;
  if (any_nulls) {
    uint8_t *bits = alloc_buffer(out, 0, bitmap_bytes(n));
    if (bits == NULL) return oom_err(err);
    int64_t k = 0, nulls = 0;
    for (int p = 0; p < 2; p++)
      for (int64_t i = 0; i < parts[p].len; i++, k++) {
        bool valid = bit_get(parts[p].a->buffers[0], parts[p].a->offset + parts[p].start + i);
        bit_set(bits, k, valid);
        nulls += !valid;
      }
    out->null_count = nulls;
  }
  if (f.type == ARROWC_TYPE_BOOL) {
    uint8_t *bits = alloc_buffer(out, 1, bitmap_bytes(n));
    if (bits == NULL) return oom_err(err);
    int64_t k = 0;
    for (int p = 0; p < 2; p++)
      for (int64_t i = 0; i < parts[p].len; i++, k++)
        bit_set(bits, k, bit_get(parts[p].a->buffers[1], parts[p].a->offset + parts[p].start + i));
    return MALLARD_OK;
  }
  if (fixed) {
    int64_t w = f.type == ARROWC_TYPE_FIXED_SIZE_BINARY ? f.fixed_size : f.bit_width / 8, total;
    if (mlr_mul_overflow_i64(n, w, &total))
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "dictionary too large");
    uint8_t *dst = alloc_buffer(out, 1, total);
    if (dst == NULL) return oom_err(err);
    for (int p = 0; p < 2; p++) {
      if (parts[p].len == 0) continue;
      const uint8_t *src = parts[p].a->buffers[1];
      memcpy(dst, src + (parts[p].a->offset + parts[p].start) * w, (size_t)(parts[p].len * w));
      dst += parts[p].len * w;
    }
    return MALLARD_OK;
  }
  if (binary || list) {
    int w = (f.type == ARROWC_TYPE_LARGE_STRING || f.type == ARROWC_TYPE_LARGE_BINARY ||
             f.type == ARROWC_TYPE_LARGE_LIST)
                ? 8
                : 4;
    int64_t total = 0;
    int64_t first[2];
    for (int p = 0; p < 2; p++) {
      const struct ArrowArray *x = parts[p].a;
      int64_t s0 = x->offset + parts[p].start;
      first[p] = parts[p].len > 0 ? read_offset(x->buffers[1], w, s0) : 0;
      if (parts[p].len > 0) total += read_offset(x->buffers[1], w, s0 + parts[p].len) - first[p];
    }
    if (w == 4 && total > INT32_MAX)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "delta dictionary makes the dictionary larger than 2 GiB");
    uint8_t *offs = alloc_buffer(out, 1, (n + 1) * w);
    if (offs == NULL) return oom_err(err);
    int64_t pos = 0, k = 0;
    for (int p = 0; p < 2; p++) {
      const struct ArrowArray *x = parts[p].a;
      int64_t s0 = x->offset + parts[p].start;
      for (int64_t i = 0; i < parts[p].len; i++, k++)
        put_offset(offs, w, k, pos + read_offset(x->buffers[1], w, s0 + i) - first[p]);
      if (parts[p].len > 0) pos += read_offset(x->buffers[1], w, s0 + parts[p].len) - first[p];
    }
    put_offset(offs, w, k, pos);
    if (binary) {
      uint8_t *data = alloc_buffer(out, 2, total);
      if (data == NULL) return oom_err(err);
      for (int p = 0; p < 2; p++) {
        if (parts[p].len == 0) continue;
        const struct ArrowArray *x = parts[p].a;
        int64_t bytes =
            read_offset(x->buffers[1], w, x->offset + parts[p].start + parts[p].len) - first[p];
        if (bytes > 0) memcpy(data, (const uint8_t *)x->buffers[2] + first[p], (size_t)bytes);
        data += bytes;
      }
      return MALLARD_OK;
    }
    crange sub[2];
    for (int p = 0; p < 2; p++) {
      const struct ArrowArray *x = parts[p].a;
      int64_t end = parts[p].len > 0
                        ? read_offset(x->buffers[1], w, x->offset + parts[p].start + parts[p].len)
                        : first[p];
      sub[p] = (crange){x->children[0], first[p], end - first[p]};
    }
    return concat_ranges(schema->children[0], sub, out->children[0], depth + 1, err);
  }
  if (f.type == ARROWC_TYPE_FIXED_SIZE_LIST) {
    crange sub[2];
    for (int p = 0; p < 2; p++)
      sub[p] =
          (crange){parts[p].a->children[0], (parts[p].a->offset + parts[p].start) * f.fixed_size,
                   parts[p].len * f.fixed_size};
    return concat_ranges(schema->children[0], sub, out->children[0], depth + 1, err);
  }
  if (f.type == ARROWC_TYPE_STRUCT) {
    for (int64_t c = 0; c < schema->n_children; c++) {
      crange sub[2];
      for (int p = 0; p < 2; p++)
        sub[p] =
            (crange){parts[p].a->children[c], parts[p].a->offset + parts[p].start, parts[p].len};
      MLR_RETURN_NOT_OK(concat_ranges(schema->children[c], sub, out->children[c], depth + 1, err));
    }
    return MALLARD_OK;
  }
  /* Views: long values are compacted into one new data buffer. */
  int64_t total = 0;
  for (int p = 0; p < 2; p++)
    for (int64_t i = 0; i < parts[p].len; i++) {
      int32_t len;
      memcpy(&len,
             (const uint8_t *)parts[p].a->buffers[1] +
                 16 * (parts[p].a->offset + parts[p].start + i),
             4);
      if (len > 12) total += len;
    }
  if (total > INT32_MAX)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "delta dictionary makes a view data buffer larger than 2 GiB");
  uint8_t *views = alloc_buffer(out, 1, 16 * n), *data = alloc_buffer(out, 2, total);
  uint8_t *sizes = alloc_buffer(out, 3, 8);
  if (views == NULL || data == NULL || sizes == NULL) return oom_err(err);
  memcpy(sizes, &total, 8);
  int64_t k = 0, pos = 0;
  for (int p = 0; p < 2; p++) {
    const struct ArrowArray *x = parts[p].a;
    for (int64_t i = 0; i < parts[p].len; i++, k++) {
      const uint8_t *v = (const uint8_t *)x->buffers[1] + 16 * (x->offset + parts[p].start + i);
      memcpy(views + 16 * k, v, 16);
      int32_t len, idx, off;
      memcpy(&len, v, 4);
      if (len <= 12) continue;
      memcpy(&idx, v + 8, 4);
      memcpy(&off, v + 12, 4);
      memcpy(data + pos, (const uint8_t *)x->buffers[2 + idx] + off, (size_t)len);
      int32_t zero = 0, npos = (int32_t)pos;
      memcpy(views + 16 * k + 8, &zero, 4);
      memcpy(views + 16 * k + 12, &npos, 4);
      pos += len;
    }
  }
  return MALLARD_OK;
}

static mlr_code decode_dictionary_batch(ipc_decoder *dec, const fbr_table *db, int16_t version,
                                        const uint8_t *body, int64_t body_size,
                                        arrowc_buf *body_buf, mlr_error *err) {
  int64_t id;
  bool delta, has_data;
  fbr_table rb;
  MLR_RETURN_NOT_OK(fbr_i64(db, DB_ID, 0, &id, err));
  MLR_RETURN_NOT_OK(fbr_bool(db, DB_IS_DELTA, false, &delta, err));
  MLR_RETURN_NOT_OK(fbr_table_field(db, DB_DATA, &rb, &has_data, err));
  dict_state *ds = find_dict(dec, id);
  if (ds == NULL)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "dictionary batch for unknown dictionary id %lld", (long long)id);
  if (!has_data)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "dictionary batch %lld has no data",
                         (long long)id);
  rctx c;
  int64_t length;
  MLR_RETURN_NOT_OK(rctx_init(&c, dec, &rb, version, body, body_size, body_buf, &length, err));
  char what[64];
  snprintf(what, sizeof what, "dictionary %lld", (long long)id);
  c.what = what;
  snprintf(c.path, sizeof c.path, "values");
  struct ArrowArray arr;
  memset(&arr, 0, sizeof arr);
  mlr_code rc = predecode(&c);
  if (rc == MALLARD_OK) rc = decode_node(&c, ds->value_schema, &arr, 1);
  rctx_release(&c);
  /* Dictionaries are always validated FULL, whatever the decoder's level: they are small, and
   * deltas are concatenated by reading every value. */
  if (rc == MALLARD_OK) {
    rc = arrowc_array_validate_ex(ds->value_schema, &arr, ARROWC_VALIDATE_SKIP_DICTIONARY_VALUES,
                                  err);
    if (rc != MALLARD_OK) mlr_error_prefix(err, "dictionary %lld: ", (long long)id);
  }
  if (rc == MALLARD_OK && arr.length != length)
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "dictionary %lld: batch length %lld but values length %lld", (long long)id,
                       (long long)length, (long long)arr.length);
  if (rc == MALLARD_OK && delta && ds->current != NULL) {
    struct ArrowArray merged;
    const struct ArrowArray *cur = arrowc_shared_array_get(ds->current);
    crange parts[2] = {{cur, 0, cur->length}, {&arr, 0, arr.length}};
    rc = concat_ranges(ds->value_schema, parts, &merged, 0, err);
    if (rc == MALLARD_OK)
      rc = arrowc_array_validate_ex(ds->value_schema, &merged,
                                    ARROWC_VALIDATE_SKIP_DICTIONARY_VALUES, err);
    arrowc_array_release(&arr);
    if (rc == MALLARD_OK)
      arr = merged;
    else
      arrowc_array_release(&merged);
  }
  if (rc != MALLARD_OK) {
    arrowc_array_release(&arr);
    return rc;
  }
  arrowc_shared_array *s = arrowc_shared_array_new(&arr);
  if (s == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  arrowc_shared_array_unref(ds->current);
  ds->current = s;
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------------------------- */

typedef struct msg_view {
  int16_t version;
  uint8_t header_type;
  fbr_table header;
  int64_t body_length;
} msg_view;

static mlr_code parse_message(const uint8_t *metadata, int64_t metadata_size, msg_view *m,
                              mlr_error *err) {
  fbr_table msg;
  bool has_header;
  memset(m, 0, sizeof *m);
  MLR_RETURN_NOT_OK(fbr_root(metadata, metadata_size, &msg, err));
  MLR_RETURN_NOT_OK(fbr_i16(&msg, MSG_VERSION, 0, &m->version, err));
  MLR_RETURN_NOT_OK(fbr_u8(&msg, MSG_HEADER_TYPE, 0, &m->header_type, err));
  MLR_RETURN_NOT_OK(fbr_table_field(&msg, MSG_HEADER, &m->header, &has_header, err));
  MLR_RETURN_NOT_OK(fbr_i64(&msg, MSG_BODY_LENGTH, 0, &m->body_length, err));
  if (m->version < IPC_RD_V4 || m->version > IPC_RD_V5)
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED,
                         "IPC metadata version V%d is not supported (V4 and V5 are)",
                         m->version + 1);
  if (m->body_length < 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "message body length %lld is negative",
                         (long long)m->body_length);
  switch (m->header_type) {
  case IPC_RD_HEADER_SCHEMA:
  case IPC_RD_HEADER_DICTIONARY_BATCH:
  case IPC_RD_HEADER_RECORD_BATCH:
    break;
  case IPC_RD_HEADER_TENSOR:
  case IPC_RD_HEADER_SPARSE_TENSOR:
    return mlr_error_set(err, MALLARD_UNIMPLEMENTED, "tensor messages are not supported");
  default:
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unknown message header type %d",
                         m->header_type);
  }
  if (!has_header)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "message has no header table");
  return MALLARD_OK;
}

mlr_code ipc_message_peek(const uint8_t *metadata, int64_t metadata_size, ipc_message_type *type,
                          int64_t *body_length, mlr_error *err) {
  msg_view m;
  *type = IPC_MESSAGE_NONE;
  *body_length = 0;
  MLR_RETURN_NOT_OK(parse_message(metadata, metadata_size, &m, err));
  *type = (ipc_message_type)m.header_type;
  *body_length = m.body_length;
  return MALLARD_OK;
}

mlr_code ipc_decoder_decode(ipc_decoder *dec, const uint8_t *metadata, int64_t metadata_size,
                            arrowc_buf *body, ipc_message_type *type_out,
                            struct ArrowArray *batch_out, mlr_error *err) {
  msg_view m;
  *type_out = IPC_MESSAGE_NONE;
  MLR_RETURN_NOT_OK(parse_message(metadata, metadata_size, &m, err));
  int64_t body_size = body != NULL ? arrowc_buf_size(body) : 0;
  if (m.body_length > body_size)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "message announces a %lld-byte body, only %lld bytes were given",
                         (long long)m.body_length, (long long)body_size);
  const uint8_t *body_data = body != NULL ? arrowc_buf_data(body) : NULL;
  switch (m.header_type) {
  case IPC_RD_HEADER_SCHEMA:
    MLR_RETURN_NOT_OK(ipc_decoder_load_schema(dec, &m.header, err));
    *type_out = IPC_MESSAGE_SCHEMA;
    return MALLARD_OK;
  case IPC_RD_HEADER_DICTIONARY_BATCH:
    if (!dec->has_schema)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "dictionary batch before schema");
    MLR_RETURN_NOT_OK(
        decode_dictionary_batch(dec, &m.header, m.version, body_data, m.body_length, body, err));
    *type_out = IPC_MESSAGE_DICTIONARY_BATCH;
    return MALLARD_OK;
  default:
    if (!dec->has_schema)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "record batch before schema");
    MLR_RETURN_NOT_OK(decode_record_batch(dec, &m.header, m.version, body_data, m.body_length, body,
                                          batch_out, err));
    *type_out = IPC_MESSAGE_RECORD_BATCH;
    return MALLARD_OK;
  }
}

mlr_code ipc_read_frame(const uint8_t *data, int64_t size, const uint8_t **metadata,
                        int64_t *metadata_size, int64_t *consumed, bool *eos, mlr_error *err) {
  *metadata = NULL;
  *metadata_size = 0;
  *consumed = 0;
  *eos = false;
  if (size < 4)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "truncated message: %lld bytes",
                         (long long)size);
  int32_t first = fbr_read_i32(data), len;
  int64_t hdr;
  if (first == -1) {
    if (size < 8)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "truncated message length prefix");
    len = fbr_read_i32(data + 4);
    hdr = 8;
  } else {
    len = first; /* pre-0.15 framing without the continuation marker */
    hdr = 4;
  }
  if (len == 0) {
    *eos = true;
    *consumed = hdr;
    return MALLARD_OK;
  }
  if (len < 0 || len > size - hdr)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "message metadata length %d exceeds the %lld bytes available", len,
                         (long long)(size - hdr));
  *metadata = data + hdr;
  *metadata_size = len;
  *consumed = hdr + len;
  return MALLARD_OK;
}

mlr_code ipc_schema_from_flight_bytes(const uint8_t *data, int64_t size, struct ArrowSchema *out,
                                      mlr_error *err) {
  const uint8_t *meta;
  int64_t meta_size, consumed;
  bool eos;
  memset(out, 0, sizeof *out);
  if (data == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "no schema bytes");
  MLR_RETURN_NOT_OK(ipc_read_frame(data, size, &meta, &meta_size, &consumed, &eos, err));
  if (eos)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "schema bytes hold an end-of-stream marker, not a schema");
  msg_view m;
  MLR_RETURN_NOT_OK(parse_message(meta, meta_size, &m, err));
  if (m.header_type != IPC_RD_HEADER_SCHEMA)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "schema bytes hold a message of type %d, not a Schema", m.header_type);
  ipc_dict_field *dicts;
  int64_t n_dicts;
  MLR_RETURN_NOT_OK(ipc_read_schema_table(&m.header, 64, out, &dicts, &n_dicts, err));
  free(dicts);
  return MALLARD_OK;
}
