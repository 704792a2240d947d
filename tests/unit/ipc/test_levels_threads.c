/* Tests of the decoder's validation levels (FULL rejects corrupt offsets, dictionary indices,
 * ...; STRUCTURAL accepts them but still rejects buffers outside the body or past their data)
 * and of compression threads (threaded encoder output identical byte for byte to the
 * single-threaded one; threaded decoding gives the same values and the same errors). Run under
 * ASan+UBSan too. */
#include "arrow/arrowc_buf.h"
#include "ipc/ipc.h"
#include "mtest.h"
#include "test_write_cases.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    mlr_code rq_ = (expr);                                                                         \
    REQUIRE(rq_ == MALLARD_OK);                                                                    \
  } while (0)

/* The messages of one encoded stream, each with its body as one buffer. */
typedef struct stream {
  uint8_t *meta[16];
  int64_t meta_size[16];
  arrowc_buf *body[16];
  int n;
} stream;

static mlr_code collect(void *ctx, ipc_message *msg, mlr_error *err) {
  stream *s = ctx;
  if (s->n >= 16) return mlr_error_set(err, MALLARD_INTERNAL, "too many messages");
  s->meta[s->n] = malloc((size_t)msg->metadata_size);
  memcpy(s->meta[s->n], msg->metadata, (size_t)msg->metadata_size);
  s->meta_size[s->n] = msg->metadata_size;
  s->body[s->n] = arrowc_buf_alloc(msg->body_size);
  uint8_t *d = arrowc_buf_mutable_data(s->body[s->n]);
  int64_t pos = 0;
  for (int64_t i = 0; i < msg->n_segments; i++) {
    memcpy(d + pos, msg->segments[i].data, (size_t)msg->segments[i].size);
    pos += msg->segments[i].size;
  }
  s->n++;
  ipc_message_release(msg);
  return MALLARD_OK;
}

static void stream_free(stream *s) {
  for (int i = 0; i < s->n; i++) {
    free(s->meta[i]);
    arrowc_buf_unref(s->body[i]);
  }
  memset(s, 0, sizeof *s);
}

/* Encodes schema + batches (moved) into s. */
static mlr_code encode(const struct ArrowSchema *schema, struct ArrowArray *batches, int n,
                       const ipc_write_options *opts, stream *s, mlr_error *err) {
  ipc_encoder *enc = NULL;
  ipc_message msg = {0};
  mlr_code rc = ipc_encoder_new(schema, opts, &enc, err);
  if (rc == MALLARD_OK) rc = ipc_encoder_schema(enc, &msg, err);
  if (rc == MALLARD_OK) rc = collect(s, &msg, err);
  for (int i = 0; i < n; i++) {
    if (rc == MALLARD_OK)
      rc = ipc_encoder_batch(enc, &batches[i], collect, s, err);
    else if (batches[i].release != NULL)
      batches[i].release(&batches[i]);
  }
  ipc_encoder_free(enc);
  return rc;
}

/* Decodes every message of s (message `swap` with body `swap_body` instead, when not NULL);
 * *last receives the last record batch (caller releases it) when last != NULL. */
static mlr_code decode(const stream *s, ipc_validation level, int threads, int swap,
                       arrowc_buf *swap_body, const uint8_t *swap_meta, struct ArrowArray *last,
                       mlr_error *err) {
  ipc_read_options opts = {.validation = level, .compression_threads = threads};
  ipc_decoder *dec = NULL;
  mlr_code rc = ipc_decoder_new(&opts, &dec, err);
  if (last != NULL) memset(last, 0, sizeof *last);
  for (int i = 0; i < s->n && rc == MALLARD_OK; i++) {
    ipc_message_type t;
    struct ArrowArray b = {0};
    arrowc_buf *body = i == swap && swap_body != NULL ? swap_body : s->body[i];
    const uint8_t *meta = i == swap && swap_meta != NULL ? swap_meta : s->meta[i];
    rc = ipc_decoder_decode(dec, meta, s->meta_size[i], body, &t, &b, err);
    if (rc != MALLARD_OK || t != IPC_MESSAGE_RECORD_BATCH) continue;
    if (last != NULL) {
      if (last->release != NULL) last->release(last);
      *last = b;
    } else {
      b.release(&b);
    }
  }
  ipc_decoder_free(dec);
  return rc;
}

static arrowc_buf *copy_buf(const arrowc_buf *b) {
  arrowc_buf *c = arrowc_buf_alloc(arrowc_buf_size(b));
  memcpy(arrowc_buf_mutable_data(c), arrowc_buf_data(b), (size_t)arrowc_buf_size(b));
  return c;
}

/* N strings of varying lengths as a "+s" batch of a utf8 column "s" and a large_utf8 "L". */
#define N_STR 40
static void string_batch(struct ArrowSchema *schema, struct ArrowArray *batch) {
  static char text[N_STR][16];
  const char *v[N_STR];
  for (int i = 0; i < N_STR; i++) {
    snprintf(text[i], sizeof text[i], "%.*s", 1 + i % 7, "abcdefgh");
    v[i] = text[i];
  }
  tw_move_s(tw_s("+s", "", 0, 2, TW_F("u", "s"), TW_F("U", "L")), schema);
  tw_move_a(tw_a(N_STR, 0, 0, 1, 2, NULL, tw_str_array("u", N_STR, v, NULL, 0),
                 tw_str_array("U", N_STR, v, NULL, 0)),
            batch);
}

static void put_offset(uint8_t *p, int w, int64_t i, int64_t v) {
  if (w == 4) {
    int32_t x = (int32_t)v;
    memcpy(p + 4 * i, &x, 4);
  } else {
    memcpy(p + 8 * i, &v, 8);
  }
}

static int64_t get_offset(const uint8_t *p, int w, int64_t i) {
  if (w == 4) {
    int32_t x;
    memcpy(&x, p + 4 * i, 4);
    return x;
  }
  int64_t x;
  memcpy(&x, p + 8 * i, 8);
  return x;
}

static void test_levels_offsets(void) {
  struct ArrowSchema schema;
  struct ArrowArray batch;
  stream s = {0};
  mlr_error err;
  string_batch(&schema, &batch);
  REQUIRE_OK(encode(&schema, &batch, 1, NULL, &s, &err));
  REQUIRE(s.n == 2);
  /* Where the offsets and data buffers lie in the body: decoded arrays view it (zero copy). */
  struct ArrowArray b;
  REQUIRE_OK(decode(&s, IPC_VALIDATE_FULL, 1, -1, NULL, NULL, &b, &err));
  const uint8_t *body = arrowc_buf_data(s.body[1]);
  int64_t offs_at[2], data_at[2], data_len[2];
  for (int c = 0; c < 2; c++) {
    int w = c == 0 ? 4 : 8;
    offs_at[c] = (const uint8_t *)b.children[c]->buffers[1] - body;
    data_at[c] = (const uint8_t *)b.children[c]->buffers[2] - body;
    data_len[c] = get_offset(b.children[c]->buffers[1], w, N_STR);
    REQUIRE(offs_at[c] >= 0 && offs_at[c] < arrowc_buf_size(s.body[1]));
  }
  b.release(&b);
  REQUIRE_OK(decode(&s, IPC_VALIDATE_STRUCTURAL, 1, -1, NULL, NULL, NULL, &err));

  for (int c = 0; c < 2; c++) {
    int w = c == 0 ? 4 : 8;
    /* A middle offset greater than the next one (at the first, a middle and the last middle
     * slot, so that vectorised loops' heads and tails are covered), or negative. */
    static const int64_t slots[4] = {1, 17, N_STR - 1, 20};
    for (int k = 0; k < 4; k++) {
      arrowc_buf *bad = copy_buf(s.body[1]);
      uint8_t *offs = arrowc_buf_mutable_data(bad) + offs_at[c];
      int64_t slot = slots[k];
      put_offset(offs, w, slot, k < 3 ? get_offset(offs, w, slot + 1) + 1 : -5);
      CHECK_EQ_INT(decode(&s, IPC_VALIDATE_FULL, 1, 1, bad, NULL, NULL, &err),
                   MALLARD_INVALID_ARGUMENT);
      CHECK(strstr(err.message, "offsets decrease at slot") != NULL);
      CHECK(strstr(err.message, c == 0 ? "column 's'" : "column 'L'") != NULL);
      CHECK_EQ_INT(decode(&s, IPC_VALIDATE_STRUCTURAL, 1, 1, bad, NULL, NULL, &err), MALLARD_OK);
      arrowc_buf_unref(bad);
    }
    /* The last offset past the data buffer, or the first negative: rejected by both. */
    for (int k = 0; k < 2; k++) {
      arrowc_buf *bad = copy_buf(s.body[1]);
      uint8_t *offs = arrowc_buf_mutable_data(bad) + offs_at[c];
      put_offset(offs, w, k == 0 ? N_STR : 0, k == 0 ? data_len[c] + 1 : -1);
      CHECK_EQ_INT(decode(&s, IPC_VALIDATE_FULL, 1, 1, bad, NULL, NULL, &err),
                   MALLARD_INVALID_ARGUMENT);
      CHECK_EQ_INT(decode(&s, IPC_VALIDATE_STRUCTURAL, 1, 1, bad, NULL, NULL, &err),
                   MALLARD_INVALID_ARGUMENT);
      CHECK(strstr(err.message, "outside the") != NULL);
      arrowc_buf_unref(bad);
    }
  }

  /* A buffer reaching past the body (the Buffer struct of L's data in the metadata): rejected
   * by both levels. */
  uint8_t *meta = malloc((size_t)s.meta_size[1]);
  memcpy(meta, s.meta[1], (size_t)s.meta_size[1]);
  int found = 0;
  for (int64_t p = 0; p + 16 <= s.meta_size[1]; p++) {
    int64_t o, l;
    memcpy(&o, meta + p, 8);
    memcpy(&l, meta + p + 8, 8);
    if (o == data_at[1] && l == data_len[1]) {
      int64_t past = arrowc_buf_size(s.body[1]) - o + 8;
      memcpy(meta + p + 8, &past, 8);
      found++;
    }
  }
  CHECK_EQ_INT(found, 1);
  CHECK_EQ_INT(decode(&s, IPC_VALIDATE_FULL, 1, 1, NULL, meta, NULL, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "past the") != NULL);
  CHECK_EQ_INT(decode(&s, IPC_VALIDATE_STRUCTURAL, 1, 1, NULL, meta, NULL, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "past the") != NULL);
  CHECK(strstr(err.message, "column 'L'") != NULL);
  free(meta);
  stream_free(&s);
  schema.release(&schema);
}

/* A dictionary index out of range: a FULL-only check. */
static void test_levels_dictionary(void) {
  twc_out o = {0};
  for (size_t i = 0; i < TWC_N_CASES; i++)
    if (strcmp(twc_cases[i].name, "dictionary_delta") == 0) twc_cases[i].build(&o);
  REQUIRE(o.n_batches == 3);
  stream s = {0};
  mlr_error err;
  REQUIRE_OK(encode(&o.schema, o.batches, o.n_batches, NULL, &s, &err));
  /* schema, dictionary, batch 0, ...: find batch 0's index buffer in its body */
  int msg = -1;
  struct ArrowArray b;
  for (int i = 1; i < s.n && msg < 0; i++) {
    stream one = s;
    one.n = i + 1;
    if (decode(&one, IPC_VALIDATE_FULL, 1, -1, NULL, NULL, &b, &err) == MALLARD_OK &&
        b.release != NULL) {
      msg = i;
      break;
    }
  }
  REQUIRE(msg > 0);
  REQUIRE(b.length == 5);
  int64_t idx_at = (const uint8_t *)b.children[0]->buffers[1] - arrowc_buf_data(s.body[msg]);
  b.release(&b);
  arrowc_buf *bad = copy_buf(s.body[msg]);
  arrowc_buf_mutable_data(bad)[idx_at + 1] = 9; /* slot 1 (valid) -> index 9 of 3 */
  stream one = s;
  one.n = msg + 1;
  CHECK_EQ_INT(decode(&one, IPC_VALIDATE_FULL, 1, msg, bad, NULL, NULL, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "dictionary index 9 at slot 1") != NULL);
  CHECK_EQ_INT(decode(&one, IPC_VALIDATE_STRUCTURAL, 1, msg, bad, NULL, NULL, &err), MALLARD_OK);
  arrowc_buf_unref(bad);
  /* the whole stream (dictionary delta included) decodes at both levels */
  CHECK_EQ_INT(decode(&s, IPC_VALIDATE_FULL, 1, -1, NULL, NULL, NULL, &err), MALLARD_OK);
  CHECK_EQ_INT(decode(&s, IPC_VALIDATE_STRUCTURAL, 1, -1, NULL, NULL, NULL, &err), MALLARD_OK);
  stream_free(&s);
  twc_release(&o);
}

/* A batch large enough for the threaded paths (> 1 MiB of buffers): int64 "l", utf8 "s". */
#define N_BIG 150000
static void big_batch(int seed, struct ArrowSchema *schema, struct ArrowArray *batch) {
  int64_t *l = malloc(sizeof *l * N_BIG);
  int32_t *offs = malloc(sizeof *offs * (N_BIG + 1));
  char *data = malloc((size_t)N_BIG * 4);
  int32_t pos = 0;
  for (int64_t i = 0; i < N_BIG; i++) {
    l[i] = (i * 7919 + seed) % 100003;
    offs[i] = pos;
    int n = 1 + (int)((i + seed) % 4);
    for (int k = 0; k < n; k++) data[pos++] = (char)('a' + (i * 31 + k) % 26);
  }
  offs[N_BIG] = pos;
  if (schema != NULL) tw_move_s(tw_s("+s", "", 0, 2, TW_F("l", "l"), TW_F("u", "s")), schema);
  tw_move_a(tw_a(N_BIG, 0, 0, 1, 2, NULL, tw_a(N_BIG, 0, 0, 2, 0, NULL, l),
                 tw_a(N_BIG, 0, 0, 3, 0, NULL, offs, data)),
            batch);
}

static bool same_stream(const stream *a, const stream *b) {
  if (a->n != b->n) return false;
  for (int i = 0; i < a->n; i++) {
    if (a->meta_size[i] != b->meta_size[i] ||
        memcmp(a->meta[i], b->meta[i], (size_t)a->meta_size[i]) != 0)
      return false;
    if (arrowc_buf_size(a->body[i]) != arrowc_buf_size(b->body[i]) ||
        memcmp(arrowc_buf_data(a->body[i]), arrowc_buf_data(b->body[i]),
               (size_t)arrowc_buf_size(a->body[i])) != 0)
      return false;
  }
  return true;
}

/* The decoded batch holds big_batch(seed)'s values. */
static bool batch_equals(const struct ArrowArray *b, int seed) {
  struct ArrowArray want;
  big_batch(seed, NULL, &want);
  bool eq = b->length == N_BIG && b->n_children == 2 &&
            memcmp(b->children[0]->buffers[1], want.children[0]->buffers[1], 8 * N_BIG) == 0 &&
            memcmp(b->children[1]->buffers[1], want.children[1]->buffers[1], 4 * (N_BIG + 1)) == 0;
  if (eq) {
    int32_t total;
    memcpy(&total, (const uint8_t *)want.children[1]->buffers[1] + 4 * N_BIG, 4);
    eq = memcmp(b->children[1]->buffers[2], want.children[1]->buffers[2], (size_t)total) == 0;
  }
  want.release(&want);
  return eq;
}

static void test_threads(void) {
  static const ipc_compression codecs[2] = {IPC_COMPRESSION_LZ4_FRAME, IPC_COMPRESSION_ZSTD};
  for (int c = 0; c < 2; c++) {
    stream ref = {0};
    mlr_error err;
    struct ArrowSchema schema;
    struct ArrowArray batches[3];
    for (int i = 0; i < 3; i++) big_batch(i, i == 0 ? &schema : NULL, &batches[i]);
    ipc_write_options one = {.compression = codecs[c]};
    REQUIRE_OK(encode(&schema, batches, 3, &one, &ref, &err));
    REQUIRE(ref.n == 4);
    REQUIRE(arrowc_buf_size(ref.body[1]) > 8); /* compressed */
    for (int threads = 2; threads <= 5; threads += 3) {
      stream par = {0};
      for (int i = 0; i < 3; i++) big_batch(i, NULL, &batches[i]);
      ipc_write_options opts = {.compression = codecs[c], .compression_threads = threads};
      REQUIRE_OK(encode(&schema, batches, 3, &opts, &par, &err));
      CHECK(same_stream(&ref, &par)); /* byte for byte */
      stream_free(&par);
    }
    /* decode with 1 and 2 threads: the values of the source */
    for (int threads = 1; threads <= 3; threads++) {
      ipc_read_options ropts = {.compression_threads = threads};
      ipc_decoder *dec = NULL;
      REQUIRE_OK(ipc_decoder_new(&ropts, &dec, &err));
      for (int i = 0; i < ref.n; i++) {
        ipc_message_type t;
        struct ArrowArray b = {0};
        CHECK_EQ_INT(
            ipc_decoder_decode(dec, ref.meta[i], ref.meta_size[i], ref.body[i], &t, &b, &err),
            MALLARD_OK);
        if (t != IPC_MESSAGE_RECORD_BATCH) continue;
        CHECK(batch_equals(&b, i - 1));
        b.release(&b);
      }
      ipc_decoder_free(dec);
    }
    /* a wrong uncompressed length (the first buffer's prefix): the same error either way */
    arrowc_buf *bad = copy_buf(ref.body[2]);
    int64_t ulen;
    memcpy(&ulen, arrowc_buf_data(bad), 8);
    ulen += 8;
    memcpy(arrowc_buf_mutable_data(bad), &ulen, 8);
    mlr_error e1, e2;
    CHECK_EQ_INT(decode(&ref, IPC_VALIDATE_FULL, 1, 2, bad, NULL, NULL, &e1),
                 MALLARD_INVALID_ARGUMENT);
    CHECK_EQ_INT(decode(&ref, IPC_VALIDATE_FULL, 2, 2, bad, NULL, NULL, &e2),
                 MALLARD_INVALID_ARGUMENT);
    CHECK_EQ_STR(e1.message, e2.message);
    CHECK(strstr(e2.message, "column 'l': data buffer: ") != NULL);
    arrowc_buf_unref(bad);
    /* a truncated body: refused before any decompression, with or without threads */
    arrowc_buf *cut = arrowc_buf_slice(ref.body[3], 0, arrowc_buf_size(ref.body[3]) / 2);
    CHECK_EQ_INT(decode(&ref, IPC_VALIDATE_FULL, 2, 3, cut, NULL, NULL, &e2),
                 MALLARD_INVALID_ARGUMENT);
    arrowc_buf_unref(cut);
    stream_free(&ref);
    schema.release(&schema);
  }
}

MTEST_MAIN(MTEST(test_levels_offsets), MTEST(test_levels_dictionary), MTEST(test_threads))
