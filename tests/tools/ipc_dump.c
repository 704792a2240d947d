/* mallard-ipc-dump: decodes an Arrow IPC stream or file with Mallard's decoder and prints the
 * schema and every batch's values as JSON lines, for tests that compare against pyarrow.
 *   mallard-ipc-dump [--file] [--quiet] PATH|-
 * Line 1: {"schema": {...}}; then one {"batch": i, "length": n, "columns": [[...], ...]} per
 * batch. Values: ints/floats as numbers (NaN/inf as strings), decimals as unscaled integer
 * strings, binary as hex, temporal types as raw integers, intervals as arrays, nested types
 * as arrays/objects, dictionary and run-end encoded columns decoded. Exit 1 on a decode error
 * (printed to stderr as "error: ..."). */
#include "arrow/arrowc_array.h"
#include "arrow/arrowc_schema.h"
#include "ipc/ipc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_json_str(FILE *o, const char *s, int64_t n) {
  fputc('"', o);
  for (int64_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\')
      fprintf(o, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(o, "\\u%04x", ch);
    else
      fputc(ch, o);
  }
  fputc('"', o);
}

static void put_hex(FILE *o, const uint8_t *p, int64_t n) {
  fputc('"', o);
  for (int64_t i = 0; i < n; i++) fprintf(o, "%02x", p[i]);
  fputc('"', o);
}

static void put_double(FILE *o, double v) {
  if (isnan(v))
    fputs("\"NaN\"", o);
  else if (isinf(v))
    fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", o);
  else
    fprintf(o, "%.17g", v);
}

static double half_to_double(uint16_t h) {
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v;
  if (e == 0)
    v = ldexp(m, -24);
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = ldexp(m + 1024, e - 25);
  return (h & 0x8000) ? -v : v;
}

/* Two's complement little-endian integer of nwords 64-bit words -> decimal string. */
static void put_bigint(FILE *o, const uint8_t *p, int nwords) {
  uint64_t w[4];
  memcpy(w, p, (size_t)nwords * 8);
  bool neg = (w[nwords - 1] >> 63) != 0;
  if (neg) { /* negate */
    unsigned carry = 1;
    for (int i = 0; i < nwords; i++) {
      w[i] = ~w[i] + carry;
      carry = carry && w[i] == 0;
    }
  }
  char digits[100];
  int nd = 0;
  for (;;) {
    bool zero = true;
    for (int i = 0; i < nwords; i++) zero = zero && w[i] == 0;
    if (zero) break;
    unsigned __int128 rem = 0;
    for (int i = nwords - 1; i >= 0; i--) {
      unsigned __int128 cur = (rem << 64) | w[i];
      w[i] = (uint64_t)(cur / 10);
      rem = cur % 10;
    }
    digits[nd++] = (char)('0' + (int)rem);
  }
  fputc('"', o);
  if (nd == 0) fputc('0', o);
  if (neg && nd > 0) fputc('-', o);
  while (nd > 0) fputc(digits[--nd], o);
  fputc('"', o);
}

static bool valid_at(const struct ArrowArray *a, int64_t i) {
  const uint8_t *v = a->n_buffers > 0 ? a->buffers[0] : NULL;
  if (v == NULL) return true;
  int64_t j = a->offset + i;
  return (v[j >> 3] >> (j & 7)) & 1;
}

static int64_t rd_int(const void *buf, int w, int64_t i) {
  const uint8_t *p = buf;
  if (w == 2) {
    int16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
  }
  if (w == 4) {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, p + 8 * i, 8);
  return v;
}

static void put_value(FILE *o, const struct ArrowSchema *s, const struct ArrowArray *a, int64_t i);

static void put_index(FILE *o, const arrowc_format *f, const struct ArrowArray *a, int64_t j,
                      int64_t *idx) {
  const uint8_t *p = a->buffers[1];
  switch (f->type) {
  case ARROWC_TYPE_INT8:
    *idx = ((const int8_t *)p)[j];
    break;
  case ARROWC_TYPE_UINT8:
    *idx = p[j];
    break;
  case ARROWC_TYPE_INT16:
    *idx = rd_int(p, 2, j);
    break;
  case ARROWC_TYPE_UINT16:
    *idx = (uint16_t)rd_int(p, 2, j);
    break;
  case ARROWC_TYPE_INT32:
    *idx = rd_int(p, 4, j);
    break;
  case ARROWC_TYPE_UINT32:
    *idx = (uint32_t)rd_int(p, 4, j);
    break;
  default:
    *idx = rd_int(p, 8, j);
    break;
  }
  (void)o;
}

static void put_value(FILE *o, const struct ArrowSchema *s, const struct ArrowArray *a, int64_t i) {
  arrowc_format f;
  if (arrowc_format_parse(s->format, &f, NULL) != MALLARD_OK) {
    fputs("\"?\"", o);
    return;
  }
  bool has_validity = f.type != ARROWC_TYPE_NA && f.type != ARROWC_TYPE_SPARSE_UNION &&
                      f.type != ARROWC_TYPE_DENSE_UNION && f.type != ARROWC_TYPE_RUN_END_ENCODED;
  if (f.type == ARROWC_TYPE_NA || (has_validity && !valid_at(a, i))) {
    fputs("null", o);
    return;
  }
  int64_t j = a->offset + i;
  const uint8_t *d = a->n_buffers > 1 ? a->buffers[1] : NULL;
  if (s->dictionary != NULL) {
    int64_t idx;
    put_index(o, &f, a, j, &idx);
    put_value(o, s->dictionary, a->dictionary, idx);
    return;
  }
  switch (f.type) {
  case ARROWC_TYPE_BOOL:
    fputs(((d[j >> 3] >> (j & 7)) & 1) ? "true" : "false", o);
    break;
  case ARROWC_TYPE_INT8:
    fprintf(o, "%d", ((const int8_t *)d)[j]);
    break;
  case ARROWC_TYPE_UINT8:
    fprintf(o, "%u", d[j]);
    break;
  case ARROWC_TYPE_INT16:
    fprintf(o, "%lld", (long long)rd_int(d, 2, j));
    break;
  case ARROWC_TYPE_UINT16:
    fprintf(o, "%u", (unsigned)(uint16_t)rd_int(d, 2, j));
    break;
  case ARROWC_TYPE_INT32:
  case ARROWC_TYPE_DATE32:
  case ARROWC_TYPE_TIME32:
  case ARROWC_TYPE_INTERVAL_MONTHS:
    fprintf(o, "%lld", (long long)rd_int(d, 4, j));
    break;
  case ARROWC_TYPE_UINT32:
    fprintf(o, "%u", (unsigned)(uint32_t)rd_int(d, 4, j));
    break;
  case ARROWC_TYPE_INT64:
  case ARROWC_TYPE_DATE64:
  case ARROWC_TYPE_TIME64:
  case ARROWC_TYPE_TIMESTAMP:
  case ARROWC_TYPE_DURATION:
    fprintf(o, "%lld", (long long)rd_int(d, 8, j));
    break;
  case ARROWC_TYPE_UINT64:
    fprintf(o, "%llu", (unsigned long long)(uint64_t)rd_int(d, 8, j));
    break;
  case ARROWC_TYPE_HALF_FLOAT: {
    uint16_t h;
    memcpy(&h, d + 2 * j, 2);
    put_double(o, half_to_double(h));
    break;
  }
  case ARROWC_TYPE_FLOAT: {
    float v;
    memcpy(&v, d + 4 * j, 4);
    put_double(o, v);
    break;
  }
  case ARROWC_TYPE_DOUBLE: {
    double v;
    memcpy(&v, d + 8 * j, 8);
    put_double(o, v);
    break;
  }
  case ARROWC_TYPE_DECIMAL: {
    int bytes = f.bit_width / 8;
    if (bytes == 4)
      fprintf(o, "\"%lld\"", (long long)rd_int(d, 4, j));
    else
      put_bigint(o, d + (int64_t)bytes * j, bytes / 8);
    break;
  }
  case ARROWC_TYPE_INTERVAL_DAY_TIME:
    fprintf(o, "[%lld, %lld]", (long long)rd_int(d, 4, 2 * j), (long long)rd_int(d, 4, 2 * j + 1));
    break;
  case ARROWC_TYPE_INTERVAL_MONTH_DAY_NANO:
    fprintf(o, "[%lld, %lld, %lld]", (long long)rd_int(d + 16 * j, 4, 0),
            (long long)rd_int(d + 16 * j, 4, 1), (long long)rd_int(d + 16 * j + 8, 8, 0));
    break;
  case ARROWC_TYPE_FIXED_SIZE_BINARY:
    put_hex(o, d + (int64_t)f.fixed_size * j, f.fixed_size);
    break;
  case ARROWC_TYPE_STRING:
  case ARROWC_TYPE_BINARY:
  case ARROWC_TYPE_LARGE_STRING:
  case ARROWC_TYPE_LARGE_BINARY: {
    int w = (f.type == ARROWC_TYPE_STRING || f.type == ARROWC_TYPE_BINARY) ? 4 : 8;
    int64_t b = rd_int(d, w, j), e = rd_int(d, w, j + 1);
    const uint8_t *data = (const uint8_t *)a->buffers[2] + b;
    if (f.type == ARROWC_TYPE_STRING || f.type == ARROWC_TYPE_LARGE_STRING)
      put_json_str(o, (const char *)data, e - b);
    else
      put_hex(o, data, e - b);
    break;
  }
  case ARROWC_TYPE_STRING_VIEW:
  case ARROWC_TYPE_BINARY_VIEW: {
    const uint8_t *v = d + 16 * j;
    int32_t len, idx, off;
    memcpy(&len, v, 4);
    const uint8_t *data = v + 4;
    if (len > 12) {
      memcpy(&idx, v + 8, 4);
      memcpy(&off, v + 12, 4);
      data = (const uint8_t *)a->buffers[2 + idx] + off;
    }
    if (f.type == ARROWC_TYPE_STRING_VIEW)
      put_json_str(o, (const char *)data, len);
    else
      put_hex(o, data, len);
    break;
  }
  case ARROWC_TYPE_LIST:
  case ARROWC_TYPE_LARGE_LIST:
  case ARROWC_TYPE_LIST_VIEW:
  case ARROWC_TYPE_LARGE_LIST_VIEW:
  case ARROWC_TYPE_MAP:
  case ARROWC_TYPE_FIXED_SIZE_LIST: {
    int64_t b, e;
    if (f.type == ARROWC_TYPE_FIXED_SIZE_LIST) {
      b = j * f.fixed_size;
      e = b + f.fixed_size;
    } else if (f.type == ARROWC_TYPE_LIST_VIEW || f.type == ARROWC_TYPE_LARGE_LIST_VIEW) {
      int w = f.type == ARROWC_TYPE_LIST_VIEW ? 4 : 8;
      b = rd_int(d, w, j);
      e = b + rd_int(a->buffers[2], w, j);
    } else {
      int w = f.type == ARROWC_TYPE_LARGE_LIST ? 8 : 4;
      b = rd_int(d, w, j);
      e = rd_int(d, w, j + 1);
    }
    fputc('[', o);
    for (int64_t k = b; k < e; k++) {
      if (k > b) fputs(", ", o);
      if (f.type == ARROWC_TYPE_MAP) {
        const struct ArrowSchema *es = s->children[0];
        const struct ArrowArray *ea = a->children[0];
        fputc('[', o);
        put_value(o, es->children[0], ea->children[0], ea->offset + k);
        fputs(", ", o);
        put_value(o, es->children[1], ea->children[1], ea->offset + k);
        fputc(']', o);
      } else {
        put_value(o, s->children[0], a->children[0], k);
      }
    }
    fputc(']', o);
    break;
  }
  case ARROWC_TYPE_STRUCT:
    fputc('{', o);
    for (int64_t c = 0; c < s->n_children; c++) {
      if (c > 0) fputs(", ", o);
      const char *n = s->children[c]->name ? s->children[c]->name : "";
      put_json_str(o, n, (int64_t)strlen(n));
      fputs(": ", o);
      put_value(o, s->children[c], a->children[c], j);
    }
    fputc('}', o);
    break;
  case ARROWC_TYPE_SPARSE_UNION:
  case ARROWC_TYPE_DENSE_UNION: {
    int8_t id = ((const int8_t *)a->buffers[0])[j];
    int c = 0;
    while (c < f.n_union_types && f.union_type_ids[c] != id) c++;
    int64_t k = j;
    if (f.type == ARROWC_TYPE_DENSE_UNION) k = rd_int(a->buffers[1], 4, j);
    put_value(o, s->children[c], a->children[c], k);
    break;
  }
  case ARROWC_TYPE_RUN_END_ENCODED: {
    const struct ArrowArray *re = a->children[0];
    arrowc_format rf;
    arrowc_format_parse(s->children[0]->format, &rf, NULL);
    int w = rf.bit_width / 8;
    int64_t lo = 0, hi = re->length - 1;
    while (lo < hi) { /* first run whose end > j */
      int64_t mid = (lo + hi) / 2;
      if (rd_int(re->buffers[1], w, re->offset + mid) > j)
        hi = mid;
      else
        lo = mid + 1;
    }
    put_value(o, s->children[1], a->children[1], lo);
    break;
  }
  default:
    fputs("\"?\"", o);
    break;
  }
}

static void put_schema(FILE *o, const struct ArrowSchema *s) {
  fputs("{\"name\": ", o);
  const char *n = s->name ? s->name : "";
  put_json_str(o, n, (int64_t)strlen(n));
  fputs(", \"format\": ", o);
  put_json_str(o, s->format, (int64_t)strlen(s->format));
  fprintf(o, ", \"nullable\": %s", (s->flags & ARROW_FLAG_NULLABLE) ? "true" : "false");
  if (s->metadata != NULL) {
    fputs(", \"metadata\": {", o);
    int32_t cnt = arrowc_metadata_count(s->metadata);
    for (int32_t k = 0; k < cnt; k++) {
      arrowc_metadata_item it;
      arrowc_metadata_item_at(s->metadata, k, &it);
      if (k > 0) fputs(", ", o);
      put_json_str(o, it.key, it.key_len);
      fputs(": ", o);
      put_json_str(o, it.value, it.value_len);
    }
    fputc('}', o);
  }
  if (s->dictionary != NULL) {
    fputs(", \"dictionary\": ", o);
    put_schema(o, s->dictionary);
  }
  fputs(", \"children\": [", o);
  for (int64_t c = 0; c < s->n_children; c++) {
    if (c > 0) fputs(", ", o);
    put_schema(o, s->children[c]);
  }
  fputs("]}", o);
}

static void put_batch(FILE *o, const struct ArrowSchema *s, const struct ArrowArray *b, int64_t n) {
  fprintf(o, "{\"batch\": %lld, \"length\": %lld, \"columns\": [", (long long)n,
          (long long)b->length);
  for (int64_t c = 0; c < s->n_children; c++) {
    if (c > 0) fputs(", ", o);
    fputc('[', o);
    for (int64_t i = 0; i < b->length; i++) {
      if (i > 0) fputs(", ", o);
      put_value(o, s->children[c], b->children[c], i);
    }
    fputc(']', o);
  }
  fputs("]}\n", o);
}

static mlr_code file_read(void *ctx, void *data, int64_t size, int64_t *got, mlr_error *err) {
  size_t n = fread(data, 1, (size_t)size, ctx);
  if (n == 0 && ferror(ctx)) return mlr_error_set(err, MALLARD_UNAVAILABLE, "read error");
  *got = (int64_t)n;
  return MALLARD_OK;
}

static void free_ctx(void *p) {
  free(p);
}

int main(int argc, char **argv) {
  bool file_mode = false, quiet = false;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--file") == 0)
      file_mode = true;
    else if (strcmp(argv[i], "--quiet") == 0)
      quiet = true;
    else
      path = argv[i];
  }
  if (path == NULL) {
    fprintf(stderr, "usage: mallard-ipc-dump [--file] [--quiet] PATH|-\n");
    return 2;
  }
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (in == NULL) {
    perror(path);
    return 2;
  }
  mlr_error err = {0};
  mlr_code rc;
  struct ArrowSchema schema = {0};
  FILE *o = stdout;
  int64_t n = 0;
  if (!file_mode) {
    ipc_stream_reader *r = NULL;
    rc = ipc_stream_reader_new(file_read, in, NULL, &r, &err);
    if (rc == MALLARD_OK) rc = ipc_stream_reader_schema(r, &schema, &err);
    if (rc == MALLARD_OK && !quiet) {
      fputs("{\"schema\": ", o);
      put_schema(o, &schema);
      fputs("}\n", o);
    }
    while (rc == MALLARD_OK) {
      struct ArrowArray b;
      bool eof;
      rc = ipc_stream_reader_next(r, &b, &eof, &err);
      if (rc != MALLARD_OK || eof) break;
      rc = arrowc_array_validate(&schema, &b, &err);
      if (rc == MALLARD_OK && !quiet) put_batch(o, &schema, &b, n);
      n++;
      b.release(&b);
    }
    ipc_stream_reader_free(r);
  } else {
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
      if (len == cap) buf = realloc(buf, cap *= 2);
      size_t got = fread(buf + len, 1, cap - len, in);
      if (got == 0) break;
      len += got;
    }
    arrowc_buf *image = arrowc_buf_wrap(buf, (int64_t)len, free_ctx, buf);
    ipc_file_reader *r = NULL;
    rc = ipc_file_reader_new(image, NULL, &r, &err);
    arrowc_buf_unref(image);
    if (rc == MALLARD_OK) rc = ipc_file_reader_schema(r, &schema, &err);
    if (rc == MALLARD_OK && !quiet) {
      fputs("{\"schema\": ", o);
      put_schema(o, &schema);
      fputs("}\n", o);
    }
    for (; rc == MALLARD_OK && n < ipc_file_reader_num_batches(r); n++) {
      struct ArrowArray b;
      rc = ipc_file_reader_batch(r, n, &b, &err);
      if (rc != MALLARD_OK) break;
      rc = arrowc_array_validate(&schema, &b, &err);
      if (rc == MALLARD_OK && !quiet) put_batch(o, &schema, &b, n);
      b.release(&b);
    }
    ipc_file_reader_free(r);
  }
  if (schema.release != NULL) schema.release(&schema);
  if (in != stdin) fclose(in);
  if (rc != MALLARD_OK) {
    fprintf(stderr, "error: %s\n", err.message);
    return 1;
  }
  if (quiet) printf("ok: %lld batches\n", (long long)n);
  return 0;
}
