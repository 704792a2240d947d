/* The IPC encoder and writers: metadata of every type, framing, body layout (alignment, zero
 * copy, sliced arrays, computed null counts), compression, dictionaries, files, errors. Output
 * is checked with an independent flatbuffer verifier (test_write_fbv.h). */
#include "ipc/ipc.h"
#include "ipc/test_write_cases.h"
#include "ipc/test_write_fbv.h"
#include "mtest.h"

#include <stdlib.h>
#include <zstd.h>

/* REQUIRE evaluates its condition twice: these evaluate expressions with effects once. */
#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    mlr_code req_rc_ = (expr);                                                                     \
    REQUIRE(req_rc_ == MALLARD_OK);                                                                \
  } while (0)
#define REQUIRE_T(expr)                                                                            \
  do {                                                                                             \
    bool req_ok_ = (expr);                                                                         \
    REQUIRE(req_ok_);                                                                              \
  } while (0)

typedef struct membuf {
  uint8_t *data;
  int64_t size, cap;
} membuf;

static mlr_code mem_write(void *ctx, const void *data, int64_t size, mlr_error *err) {
  membuf *m = ctx;
  if (m->size + size > m->cap) {
    int64_t cap = m->cap ? m->cap : 1024;
    while (cap < m->size + size) cap *= 2;
    m->data = realloc(m->data, (size_t)cap);
    m->cap = cap;
  }
  memcpy(m->data + m->size, data, (size_t)size);
  m->size += size;
  return MALLARD_OK;
}

static mlr_code mem_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  mlr_code rc = ipc_write_message(msg, mem_write, ctx, err);
  ipc_message_release(msg);
  return rc;
}

static const twc_case *find_case(const char *name) {
  for (size_t i = 0; i < TWC_N_CASES; i++)
    if (strcmp(twc_cases[i].name, name) == 0) return &twc_cases[i];
  return NULL;
}

/* Encodes a case as a stream into m. */
static mlr_code encode_case(const char *name, const ipc_write_options *opts, membuf *m,
                            mlr_error *err) {
  twc_out o = {0};
  find_case(name)->build(&o);
  ipc_encoder *enc = NULL;
  ipc_message msg = {0};
  mlr_code rc = ipc_encoder_new(&o.schema, opts, &enc, err);
  if (rc == MALLARD_OK) rc = ipc_encoder_schema(enc, &msg, err);
  if (rc == MALLARD_OK) rc = ipc_write_message(&msg, mem_write, m, err);
  for (int i = 0; i < o.n_batches && rc == MALLARD_OK; i++)
    rc = ipc_encoder_batch(enc, &o.batches[i], mem_sink, m, err);
  if (rc == MALLARD_OK) rc = ipc_write_eos(mem_write, m, err);
  ipc_message_release(&msg);
  ipc_encoder_free(enc);
  twc_release(&o);
  return rc;
}

/* One parsed message of a stream. */
typedef struct pmsg {
  fbv v;
  int64_t msg;    /* Message table */
  int64_t header; /* header table */
  int htype;
  const uint8_t *body;
  int64_t body_len;
} pmsg;

/* Parses message i (0-based) of a stream; checks framing and body bounds. Returns false at EOS
 * or on error (*bad set). */
static bool parse_msg(const membuf *m, int64_t *pos, pmsg *out, bool *bad) {
  *bad = true;
  if (*pos + 8 > m->size) return false;
  uint32_t marker, len;
  memcpy(&marker, m->data + *pos, 4);
  memcpy(&len, m->data + *pos + 4, 4);
  if (marker != 0xFFFFFFFFu || len % 8 != 0) return false;
  if (len == 0) {
    *bad = *pos + 8 != m->size; /* EOS must be last */
    return false;
  }
  if (*pos + 8 + len > m->size) return false;
  out->v = (fbv){m->data + *pos + 8, len, false};
  out->msg = fbv_root(&out->v);
  if (fbv_i(&out->v, out->msg, 0, 2, -1) != 4) return false; /* V5 */
  out->htype = (int)fbv_i(&out->v, out->msg, 1, 1, 0);
  out->header = fbv_ref(&out->v, out->msg, 2);
  out->body_len = fbv_i(&out->v, out->msg, 3, 8, 0);
  if (out->v.bad || out->header < 0 || out->body_len % 8 != 0) return false;
  out->body = m->data + *pos + 8 + len;
  if (*pos + 8 + len + out->body_len > m->size) return false;
  *pos += 8 + len + out->body_len;
  *bad = false;
  return true;
}

/* The RecordBatch table of a record or dictionary batch message. */
static int64_t record_batch(pmsg *p) {
  return p->htype == 2 ? fbv_ref(&p->v, p->header, 1) : p->header;
}

/* Checks every buffer of a batch lies 8-aligned inside the body, in order, without overlap. */
static bool buffers_ok(pmsg *p) {
  int64_t rb = record_batch(p);
  int64_t bufs = fbv_ref(&p->v, rb, 2);
  int64_t n = fbv_vec_len(&p->v, bufs), end = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t off = (int64_t)fbv_uint(&p->v, bufs + 4 + 16 * i, 8);
    int64_t len = (int64_t)fbv_uint(&p->v, bufs + 12 + 16 * i, 8);
    if (off % 8 != 0 || off < end || len < 0 || off + len > p->body_len) return false;
    end = off + len;
  }
  return !p->v.bad;
}

static void buffer_at(pmsg *p, int64_t i, int64_t *off, int64_t *len) {
  int64_t bufs = fbv_ref(&p->v, record_batch(p), 2);
  *off = (int64_t)fbv_uint(&p->v, bufs + 4 + 16 * i, 8);
  *len = (int64_t)fbv_uint(&p->v, bufs + 12 + 16 * i, 8);
}

static void node_at(pmsg *p, int64_t i, int64_t *length, int64_t *nulls) {
  int64_t nodes = fbv_ref(&p->v, record_batch(p), 1);
  *length = (int64_t)fbv_uint(&p->v, nodes + 4 + 16 * i, 8);
  *nulls = (int64_t)fbv_uint(&p->v, nodes + 12 + 16 * i, 8);
}

static void test_every_case_is_well_framed(void) {
  static const ipc_write_options opts[3] = {
      {.compression = IPC_COMPRESSION_NONE},
      {.compression = IPC_COMPRESSION_LZ4_FRAME},
      {.compression = IPC_COMPRESSION_ZSTD, .compression_min_size = 64, .zstd_level = 3}};
  for (size_t c = 0; c < TWC_N_CASES; c++) {
    for (int k = 0; k < 3; k++) {
      membuf m = {0};
      mlr_error err = {0};
      mlr_code rc = encode_case(twc_cases[c].name, &opts[k], &m, &err);
      if (rc != MALLARD_OK) fprintf(stderr, "%s: %s\n", twc_cases[c].name, err.message);
      CHECK_EQ_INT(rc, MALLARD_OK);
      twc_out o = {0};
      twc_cases[c].build(&o);
      int n_batches = o.n_batches;
      twc_release(&o);
      int64_t pos = 0, n_rb = 0, n_msgs = 0;
      pmsg p;
      bool bad = false;
      while (parse_msg(&m, &pos, &p, &bad)) {
        if (n_msgs++ == 0)
          CHECK_EQ_INT(p.htype, 1);
        else {
          CHECK(p.htype == 2 || p.htype == 3);
          CHECK(buffers_ok(&p));
          n_rb += p.htype == 3;
        }
      }
      CHECK(!bad);
      CHECK_EQ_INT(n_rb, n_batches);
      free(m.data);
    }
  }
}

/* The Field table of column i of the stream's schema message. */
static int64_t schema_field(const membuf *m, pmsg *p, int64_t i) {
  int64_t pos = 0;
  bool bad;
  if (!parse_msg(m, &pos, p, &bad) || p->htype != 1) return -1;
  int64_t fields = fbv_ref(&p->v, p->header, 1);
  if (i >= fbv_vec_len(&p->v, fields)) return -1;
  return fbv_vec_ref(&p->v, fields, i);
}

typedef struct type_expect {
  const char *name;
  int type;
  int64_t a, b, c; /* first three scalar fields of the type table (slot 0..2); -99 = skip */
} type_expect;

static void test_metadata_of_every_type(void) {
  static const type_expect ex[] = {
      {"null", 1, -99, -99, -99},
      {"bool", 6, -99, -99, -99},
      {"int8", 2, 8, 1, -99},
      {"uint8", 2, 8, 0, -99},
      {"int16", 2, 16, 1, -99},
      {"uint16", 2, 16, 0, -99},
      {"int32", 2, 32, 1, -99},
      {"uint32", 2, 32, 0, -99},
      {"int64", 2, 64, 1, -99},
      {"uint64", 2, 64, 0, -99},
      {"float16", 3, 0, -99, -99},
      {"float32", 3, 1, -99, -99},
      {"float64", 3, 2, -99, -99},
      {"decimal32", 7, 9, 2, 32},
      {"decimal64", 7, 18, 3, 64},
      {"decimal128", 7, 38, 10, 128},
      {"decimal256", 7, 76, 5, 256},
      {"date32", 8, 0, -99, -99},
      {"date64", 8, 1, -99, -99},
      {"time32s", 9, 0, 32, -99},
      {"time32ms", 9, 1, 32, -99},
      {"time64us", 9, 2, 64, -99},
      {"time64ns", 9, 3, 64, -99},
      {"ts_s", 10, 0, -99, -99},
      {"ts_ns", 10, 3, -99, -99},
      {"dur_s", 18, 0, -99, -99},
      {"dur_ns", 18, 3, -99, -99},
      {"interval_months", 11, 0, -99, -99},
      {"interval_day_time", 11, 1, -99, -99},
      {"interval_mdn", 11, 2, -99, -99},
      {"fixed_binary", 15, 3, -99, -99},
      {"utf8", 5, -99, -99, -99},
      {"large_utf8", 20, -99, -99, -99},
      {"binary", 4, -99, -99, -99},
      {"large_binary", 19, -99, -99, -99},
      {"utf8_view", 24, -99, -99, -99},
      {"binary_view", 23, -99, -99, -99},
      {"list", 12, -99, -99, -99},
      {"large_list", 21, -99, -99, -99},
      {"fixed_size_list", 16, 2, -99, -99},
      {"struct", 13, -99, -99, -99},
      {"map", 17, 0, -99, -99},
      {"sparse_union", 14, 0, -99, -99},
      {"dense_union", 14, 1, -99, -99},
      {"run_end_encoded", 22, -99, -99, -99},
      {"list_view", 25, -99, -99, -99},
      {"large_list_view", 26, -99, -99, -99},
  };
  for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
    membuf m = {0};
    REQUIRE_OK(encode_case(ex[i].name, NULL, &m, NULL));
    pmsg p;
    int64_t f = schema_field(&m, &p, 0);
    REQUIRE(f >= 0);
    char name[64];
    CHECK(fbv_str(&p.v, fbv_ref(&p.v, f, 0), name, sizeof name));
    CHECK_EQ_STR(name, "v");
    int type = (int)fbv_i(&p.v, f, 2, 1, 0);
    if (type != ex[i].type) fprintf(stderr, "case %s\n", ex[i].name);
    CHECK_EQ_INT(type, ex[i].type);
    int64_t t = fbv_ref(&p.v, f, 3);
    CHECK(t >= 0);
    CHECK(fbv_ref(&p.v, f, 5) >= 0); /* children vector always present */
    int sizes[3] = {type == 7 ? 4 : (type == 2 || type == 15 || type == 16 ? 4 : 2),
                    type == 2 || type == 17 ? 1 : 4, 4};
    if (type == 17) sizes[0] = 1;
    const int64_t want[3] = {ex[i].a, ex[i].b, ex[i].c};
    for (int s = 0; s < 3; s++) {
      if (want[s] == -99) continue;
      int64_t got = fbv_i(&p.v, t, s, sizes[s], -1234);
      if (got != want[s]) fprintf(stderr, "case %s slot %d\n", ex[i].name, s);
      CHECK_EQ_INT(got, want[s]);
    }
    CHECK(!p.v.bad);
    free(m.data);
  }
}

static void test_metadata_details(void) {
  membuf m = {0};
  pmsg p;
  char s[64];
  /* timestamp time zone */
  REQUIRE_OK(encode_case("ts_ns_tz", NULL, &m, NULL));
  int64_t f = schema_field(&m, &p, 0);
  CHECK(fbv_str(&p.v, fbv_ref(&p.v, fbv_ref(&p.v, f, 3), 1), s, sizeof s));
  CHECK_EQ_STR(s, "America/New_York");
  free(m.data);
  /* union type ids */
  m = (membuf){0};
  REQUIRE_OK(encode_case("dense_union", NULL, &m, NULL));
  f = schema_field(&m, &p, 0);
  int64_t ids = fbv_ref(&p.v, fbv_ref(&p.v, f, 3), 1);
  REQUIRE(fbv_vec_len(&p.v, ids) == 2);
  CHECK_EQ_INT(fbv_uint(&p.v, ids + 4, 4), 5);
  CHECK_EQ_INT(fbv_uint(&p.v, ids + 8, 4), 7);
  CHECK_EQ_INT(fbv_vec_len(&p.v, fbv_ref(&p.v, f, 5)), 2);
  free(m.data);
  /* dictionary encoding: the field has the value type, the encoding the index type */
  m = (membuf){0};
  REQUIRE_OK(encode_case("dictionary", NULL, &m, NULL));
  f = schema_field(&m, &p, 0);
  CHECK_EQ_INT(fbv_i(&p.v, f, 2, 1, 0), 5);
  int64_t de = fbv_ref(&p.v, f, 4);
  REQUIRE(de >= 0);
  CHECK_EQ_INT(fbv_i(&p.v, de, 0, 8, -1), 0);
  int64_t it = fbv_ref(&p.v, de, 1);
  CHECK_EQ_INT(fbv_i(&p.v, it, 0, 4, 0), 8);
  CHECK_EQ_INT(fbv_i(&p.v, it, 1, 1, 0), 1);
  free(m.data);
  /* custom metadata of schema and field */
  m = (membuf){0};
  REQUIRE_OK(encode_case("metadata", NULL, &m, NULL));
  f = schema_field(&m, &p, 0);
  int64_t kv = fbv_ref(&p.v, f, 6);
  REQUIRE(fbv_vec_len(&p.v, kv) == 1);
  CHECK(fbv_str(&p.v, fbv_ref(&p.v, fbv_vec_ref(&p.v, kv, 0), 1), s, sizeof s));
  CHECK_EQ_STR(s, "metres");
  kv = fbv_ref(&p.v, p.header, 2);
  REQUIRE(fbv_vec_len(&p.v, kv) == 2);
  CHECK(fbv_str(&p.v, fbv_ref(&p.v, fbv_vec_ref(&p.v, kv, 1), 0), s, sizeof s));
  CHECK_EQ_STR(s, "empty");
  CHECK(!p.v.bad);
  free(m.data);
}

static void test_unsupported_type_names_column(void) {
  const char *bad[] = {"+z", "+vq", "vx", "d:1", "w:x", "tsx:", "+ud:1,1", "+w:-2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct ArrowSchema s;
    struct ArrowSchema *child = tw_s(bad[i], "weird", ARROW_FLAG_NULLABLE, 0);
    if (bad[i][0] == '+') {
      child->children = realloc(child->children, 2 * sizeof *child->children);
      child->children[0] = TW_F("i", "x");
      child->children[1] = TW_F("i", "y");
      child->n_children = 2;
    }
    tw_move_s(tw_s("+s", "", 0, 2, TW_F("i", "ok"), child), &s);
    ipc_encoder *enc = NULL;
    mlr_error err = {0};
    CHECK_EQ_INT(ipc_encoder_new(&s, NULL, &enc, &err), MALLARD_INVALID_ARGUMENT);
    CHECK(enc == NULL);
    CHECK(strstr(err.message, "column 'weird'") != NULL);
    s.release(&s);
  }
  /* not a struct at the top */
  struct ArrowSchema s;
  tw_move_s(TW_F("i", "x"), &s);
  ipc_encoder *enc = NULL;
  CHECK_EQ_INT(ipc_encoder_new(&s, NULL, &enc, NULL), MALLARD_INVALID_ARGUMENT);
  s.release(&s);
}

static ipc_message captured;
static mlr_code capture_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  ipc_message_release(&captured);
  captured = *msg;
  memset(msg, 0, sizeof *msg);
  return MALLARD_OK;
}

/* Encodes batch 0 of a case; leaves the record batch message in `captured`. */
static mlr_code capture_case(const char *name, const ipc_write_options *opts,
                             const void **col0_data) {
  twc_out o = {0};
  find_case(name)->build(&o);
  ipc_encoder *enc = NULL;
  mlr_code rc = ipc_encoder_new(&o.schema, opts, &enc, NULL);
  if (col0_data != NULL) *col0_data = o.batches[0].children[0]->buffers[1];
  if (rc == MALLARD_OK) rc = ipc_encoder_batch(enc, &o.batches[0], capture_sink, NULL, NULL);
  ipc_encoder_free(enc); /* messages outlive the encoder */
  twc_release(&o);
  return rc;
}

static void body_of(const ipc_message *msg, uint8_t **body) {
  *body = malloc((size_t)msg->body_size + 1);
  int64_t pos = 0;
  for (int64_t i = 0; i < msg->n_segments; i++) {
    memcpy(*body + pos, msg->segments[i].data, (size_t)msg->segments[i].size);
    pos += msg->segments[i].size;
  }
}

static void test_zero_copy(void) {
  const void *src = NULL;
  REQUIRE_OK(capture_case("multi_batch", NULL, &src));
  bool found = false;
  for (int64_t i = 0; i < captured.n_segments; i++)
    found = found || (captured.segments[i].data == src && captured.segments[i].size == 800);
  CHECK(found);
  CHECK_EQ_INT(captured.body_size, 800);
  CHECK_EQ_INT(captured.type, IPC_MESSAGE_RECORD_BATCH);
  ipc_message_release(&captured);
  CHECK(captured.metadata == NULL && captured.segments == NULL);
  ipc_message_release(&captured); /* twice: a zeroed message is fine */
}

static void test_sliced_bitmaps_realigned(void) {
  /* sliced_bool: validity 1111101101111111 and values 0101010110011001, slice [5, 14) */
  REQUIRE_OK(capture_case("sliced_bool", NULL, NULL));
  membuf m = {0};
  pmsg p;
  bool bad;
  int64_t pos = 0;
  REQUIRE_OK(ipc_write_message(&captured, mem_write, &m, NULL));
  REQUIRE_T(parse_msg(&m, &pos, &p, &bad));
  int64_t len, nulls, off, blen;
  node_at(&p, 0, &len, &nulls);
  CHECK_EQ_INT(len, 9);
  CHECK_EQ_INT(nulls, 2); /* computed: the producer said -1 */
  const char *vbits = "1111101101111111", *dbits = "0101010110011001";
  buffer_at(&p, 0, &off, &blen);
  CHECK_EQ_INT(blen, 2);
  for (int i = 0; i < 9; i++)
    CHECK_EQ_INT((p.body[off + i / 8] >> (i % 8)) & 1, vbits[5 + i] - '0');
  CHECK_EQ_INT(p.body[off + 1] >> 1, 0); /* bits past the end are zero */
  buffer_at(&p, 1, &off, &blen);
  for (int i = 0; i < 9; i++)
    CHECK_EQ_INT((p.body[off + i / 8] >> (i % 8)) & 1, dbits[5 + i] - '0');
  free(m.data);
  ipc_message_release(&captured);
}

static void test_sliced_offsets_rebased(void) {
  REQUIRE_OK(capture_case("sliced_utf8", NULL, NULL));
  membuf m = {0};
  pmsg p;
  bool bad;
  int64_t pos = 0, off, blen, len, nulls;
  REQUIRE_OK(ipc_write_message(&captured, mem_write, &m, NULL));
  REQUIRE_T(parse_msg(&m, &pos, &p, &bad));
  node_at(&p, 0, &len, &nulls);
  CHECK_EQ_INT(len, 4);
  CHECK_EQ_INT(nulls, 2);
  buffer_at(&p, 1, &off, &blen);
  CHECK_EQ_INT(blen, 20);
  int32_t o[5];
  memcpy(o, p.body + off, 20);
  CHECK(o[0] == 0 && o[1] == 0 && o[2] == 4 && o[3] == 4 && o[4] == 4);
  buffer_at(&p, 2, &off, &blen);
  CHECK_EQ_INT(blen, 4);
  CHECK(memcmp(p.body + off, "cccc", 4) == 0);
  free(m.data);
  ipc_message_release(&captured);
}

static void test_compression_prefixes(void) {
  ipc_write_options none = {0}, z = {.compression = IPC_COMPRESSION_ZSTD},
                    zbig = {.compression = IPC_COMPRESSION_ZSTD, .compression_min_size = 1 << 30};
  uint8_t *plain, *packed, *raw;
  REQUIRE_OK(capture_case("long_strings", &none, NULL));
  ipc_message a = captured;
  memset(&captured, 0, sizeof captured);
  body_of(&a, &plain);
  REQUIRE_OK(capture_case("long_strings", &z, NULL));
  ipc_message b = captured;
  memset(&captured, 0, sizeof captured);
  body_of(&b, &packed);
  CHECK(b.body_size < a.body_size / 10);
  /* buffers: validity (empty), offsets, data; compressed = int64 length + zstd frame */
  membuf m = {0};
  pmsg p;
  bool bad;
  int64_t pos = 0, off, blen;
  REQUIRE_OK(ipc_write_message(&b, mem_write, &m, NULL));
  REQUIRE_T(parse_msg(&m, &pos, &p, &bad));
  int64_t rb = record_batch(&p);
  int64_t comp = fbv_ref(&p.v, rb, 3);
  REQUIRE(comp >= 0);
  CHECK_EQ_INT(fbv_i(&p.v, comp, 0, 1, 0), 1); /* ZSTD */
  buffer_at(&p, 0, &off, &blen);
  CHECK_EQ_INT(blen, 0);
  buffer_at(&p, 2, &off, &blen);
  int64_t ulen;
  memcpy(&ulen, p.body + off, 8);
  CHECK_EQ_INT(ulen, (1 << 20) + 1 + (1 << 16));
  raw = malloc((size_t)ulen);
  size_t got = ZSTD_decompress(raw, (size_t)ulen, p.body + off + 8, (size_t)(blen - 8));
  CHECK_EQ_INT(got, ulen);
  CHECK(raw[0] == 'a' && raw[(1 << 20)] == 'x' && raw[(1 << 20) + 1] == 'A');
  free(raw);
  free(m.data);
  /* a minimum size above every buffer: all sent raw, prefixed with -1 */
  REQUIRE_OK(capture_case("long_strings", &zbig, NULL));
  m = (membuf){0};
  pos = 0;
  REQUIRE_OK(ipc_write_message(&captured, mem_write, &m, NULL));
  REQUIRE_T(parse_msg(&m, &pos, &p, &bad));
  buffer_at(&p, 2, &off, &blen);
  memcpy(&ulen, p.body + off, 8);
  CHECK_EQ_INT(ulen, -1);
  CHECK_EQ_INT(blen, 8 + (1 << 20) + 1 + (1 << 16));
  CHECK(p.body[off + 8] == 'a');
  free(m.data);
  ipc_message_release(&captured);
  ipc_message_release(&a);
  ipc_message_release(&b);
  free(plain);
  free(packed);
}

static void test_flight_schema_bytes(void) {
  twc_out o = {0};
  find_case("struct")->build(&o);
  uint8_t *bytes = NULL;
  int64_t n = 0;
  REQUIRE_OK(ipc_schema_to_flight_bytes(&o.schema, &bytes, &n, NULL));
  twc_release(&o);
  membuf m = {bytes, n, n};
  pmsg p;
  bool bad;
  int64_t pos = 0;
  REQUIRE_T(parse_msg(&m, &pos, &p, &bad));
  CHECK_EQ_INT(p.htype, 1);
  CHECK_EQ_INT(pos, n); /* exactly one framed message, no EOS */
  CHECK_EQ_INT(n % 8, 0);
  free(bytes);
}

static void test_file_layout(void) {
  twc_out o = {0};
  find_case("dictionary_delta")->build(&o);
  membuf m = {0};
  ipc_file_writer *w = NULL;
  REQUIRE_OK(ipc_file_writer_new(&o.schema, NULL, mem_write, &m, &w, NULL));
  for (int i = 0; i < o.n_batches; i++)
    CHECK_EQ_INT(ipc_file_writer_write(w, &o.batches[i], NULL), 0);
  CHECK_EQ_INT(ipc_file_writer_finish(w, NULL), MALLARD_OK);
  CHECK(ipc_file_writer_finish(w, NULL) != MALLARD_OK); /* only once */
  ipc_file_writer_free(w);
  twc_release(&o);
  REQUIRE(m.size > 32);
  CHECK(memcmp(m.data, "ARROW1\0\0", 8) == 0);
  CHECK(memcmp(m.data + m.size - 6, "ARROW1", 6) == 0);
  int32_t flen;
  memcpy(&flen, m.data + m.size - 10, 4);
  REQUIRE(flen > 0 && flen < m.size);
  fbv v = {m.data + m.size - 10 - flen, flen, false};
  int64_t footer = fbv_root(&v);
  CHECK_EQ_INT(fbv_i(&v, footer, 0, 2, -1), 4);
  CHECK(fbv_ref(&v, footer, 1) >= 0);
  int64_t dicts = fbv_ref(&v, footer, 2), batches = fbv_ref(&v, footer, 3);
  CHECK_EQ_INT(fbv_vec_len(&v, dicts), 2); /* initial + delta */
  CHECK_EQ_INT(fbv_vec_len(&v, batches), 3);
  for (int64_t i = 0; i < 3; i++) {
    int64_t off = (int64_t)fbv_uint(&v, batches + 4 + 24 * i, 8);
    int32_t mlen = (int32_t)fbv_uint(&v, batches + 12 + 24 * i, 4);
    int64_t blen = (int64_t)fbv_uint(&v, batches + 20 + 24 * i, 8);
    REQUIRE(off >= 8 && off + mlen + blen <= m.size);
    CHECK(off % 8 == 0);
    membuf one = {m.data + off, mlen + blen, mlen + blen};
    pmsg p;
    bool bad;
    int64_t pos = 0;
    CHECK(parse_msg(&one, &pos, &p, &bad));
    CHECK_EQ_INT(p.htype, 3);
    CHECK_EQ_INT(pos, mlen + blen);
  }
  CHECK(!v.bad);
  free(m.data);
}

static void test_file_refuses_replacement(void) {
  twc_out o = {0};
  find_case("dictionary")->build(&o);
  membuf m = {0};
  ipc_file_writer *w = NULL;
  mlr_error err = {0};
  REQUIRE_OK(ipc_file_writer_new(&o.schema, NULL, mem_write, &m, &w, NULL));
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(ipc_file_writer_write(w, &o.batches[i], NULL), 0);
  CHECK_EQ_INT(ipc_file_writer_write(w, &o.batches[3], &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "column 'v'") != NULL);
  CHECK(o.batches[3].release == NULL); /* moved, also on error */
  ipc_file_writer_free(w);
  twc_release(&o);
  free(m.data);
}

static void test_bad_batch_is_released(void) {
  twc_out o = {0};
  find_case("struct")->build(&o);
  ipc_encoder *enc = NULL;
  mlr_error err = {0};
  REQUIRE_OK(ipc_encoder_new(&o.schema, NULL, &enc, NULL));
  /* a batch of another shape: int32 column where a struct is expected */
  struct ArrowArray b;
  tw_move_a(tw_a(2, 0, 0, 1, 1, NULL, tw_a(2, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 1, 2))), &b);
  CHECK_EQ_INT(ipc_encoder_batch(enc, &b, mem_sink, NULL, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(b.release == NULL);
  CHECK(strstr(err.message, "column 'v'") != NULL);
  /* wrong number of columns */
  tw_move_a(tw_a(2, 0, 0, 1, 0, NULL), &b);
  CHECK_EQ_INT(ipc_encoder_batch(enc, &b, mem_sink, NULL, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(b.release == NULL);
  ipc_encoder_free(enc);
  twc_release(&o);
}

static mlr_code failing_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  ipc_message_release(msg);
  return mlr_error_set(err, MALLARD_CANCELLED, "sink says stop");
}

static void test_sink_error_stops(void) {
  twc_out o = {0};
  find_case("dictionary")->build(&o);
  ipc_encoder *enc = NULL;
  mlr_error err = {0};
  REQUIRE_OK(ipc_encoder_new(&o.schema, NULL, &enc, NULL));
  CHECK_EQ_INT(ipc_encoder_batch(enc, &o.batches[0], failing_sink, NULL, &err), MALLARD_CANCELLED);
  CHECK_EQ_STR(err.message, "sink says stop");
  ipc_encoder_free(enc);
  twc_release(&o);
}

MTEST_MAIN(MTEST(test_every_case_is_well_framed), MTEST(test_metadata_of_every_type),
           MTEST(test_metadata_details), MTEST(test_unsupported_type_names_column),
           MTEST(test_zero_copy), MTEST(test_sliced_bitmaps_realigned),
           MTEST(test_sliced_offsets_rebased), MTEST(test_compression_prefixes),
           MTEST(test_flight_schema_bytes), MTEST(test_file_layout),
           MTEST(test_file_refuses_replacement), MTEST(test_bad_batch_is_released),
           MTEST(test_sink_error_stops))
