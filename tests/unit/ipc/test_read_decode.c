/* Tests of the IPC decoder: Apache Arrow gold files (streams and files), the fuzz regression
 * inputs, pyarrow-written streams per type (tests/fuzz/corpus/ipc_stream), error messages the
 * Flight layer relies on, zero copy, nesting limits, and hostile (truncated / bit-flipped)
 * inputs, which must fail cleanly or decode into valid arrays (run under ASan). */
#include "arrow/arrowc_array.h"
#include "arrow/arrowc_schema.h"
#include "ipc/ipc.h"
#include "mtest.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

/* mtest's REQUIRE evaluates its argument twice: call once, then check. */
#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    mlr_code rq_ = (expr);                                                                         \
    REQUIRE(rq_ == MALLARD_OK);                                                                    \
  } while (0)

static const char *src_dir(void) {
  const char *d = getenv("MALLARD_SOURCE_DIR");
  return d != NULL ? d : ".";
}

static void free_ctx(void *p) {
  free(p);
}

/* Reads a whole file into a 16-byte aligned buffer (NULL if missing). */
static arrowc_buf *load(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc((size_t)n + 1);
  size_t got = fread(data, 1, (size_t)n, f);
  fclose(f);
  return arrowc_buf_wrap(data, (int64_t)got, free_ctx, data);
}

typedef struct mem_reader {
  const uint8_t *data;
  int64_t size, pos;
} mem_reader;

static mlr_code mem_read(void *ctx, void *dst, int64_t size, int64_t *got, mlr_error *err) {
  mem_reader *m = ctx;
  int64_t n = m->size - m->pos < size ? m->size - m->pos : size;
  if (n > 0) memcpy(dst, m->data + m->pos, (size_t)n);
  m->pos += n;
  *got = n;
  return MALLARD_OK;
}

/* Decodes a whole stream, validating every batch; returns the code, counts batches/rows. */
static mlr_code decode_stream(const uint8_t *data, int64_t size, int64_t *batches, int64_t *rows,
                              mlr_error *err) {
  mem_reader m = {data, size, 0};
  ipc_read_options opts = {.max_decompressed = 64 << 20};
  ipc_stream_reader *r = NULL;
  struct ArrowSchema schema = {0};
  *batches = *rows = 0;
  mlr_code rc = ipc_stream_reader_new(mem_read, &m, &opts, &r, err);
  if (rc == MALLARD_OK) rc = ipc_stream_reader_schema(r, &schema, err);
  while (rc == MALLARD_OK) {
    struct ArrowArray b;
    bool eof;
    rc = ipc_stream_reader_next(r, &b, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    rc = arrowc_array_validate(&schema, &b, err);
    (*batches)++;
    *rows += b.length;
    b.release(&b);
  }
  arrowc_schema_release(&schema);
  ipc_stream_reader_free(r);
  return rc;
}

static mlr_code decode_file(arrowc_buf *image, int64_t *batches, mlr_error *err) {
  ipc_file_reader *r = NULL;
  struct ArrowSchema schema = {0};
  *batches = 0;
  mlr_code rc = ipc_file_reader_new(image, NULL, &r, err);
  if (rc == MALLARD_OK) rc = ipc_file_reader_schema(r, &schema, err);
  for (int64_t i = 0; rc == MALLARD_OK && i < ipc_file_reader_num_batches(r); i++) {
    struct ArrowArray b;
    rc = ipc_file_reader_batch(r, i, &b, err);
    if (rc != MALLARD_OK) break;
    rc = arrowc_array_validate(&schema, &b, err);
    b.release(&b);
    (*batches)++;
  }
  arrowc_schema_release(&schema);
  ipc_file_reader_free(r);
  return rc;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_gold_integration(void) {
  static const char *dirs[] = {"cpp-21.0.0", "1.0.0-littleendian", "2.0.0-compression",
                               "4.0.0-shareddict"};
  int n_stream = 0, n_file = 0;
  for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
    char rel[512];
    snprintf(rel, sizeof rel, "%s/tests/data/arrow-ipc-gold/integration/%s", src_dir(), dirs[d]);
    DIR *dir = opendir(rel);
    REQUIRE(dir != NULL);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
      bool stream = ends_with(e->d_name, ".stream"), file = ends_with(e->d_name, ".arrow_file");
      if (!stream && !file) continue;
      char path[1024];
      snprintf(path, sizeof path, "tests/data/arrow-ipc-gold/integration/%s/%s", dirs[d],
               e->d_name);
      arrowc_buf *b = load(path);
      CHECK(b != NULL);
      if (b == NULL) continue;
      mlr_error err = {0};
      int64_t batches, rows;
      mlr_code rc =
          stream ? decode_stream(arrowc_buf_data(b), arrowc_buf_size(b), &batches, &rows, &err)
                 : decode_file(b, &batches, &err);
      if (rc != MALLARD_OK) fprintf(stderr, "%s: %s\n", path, err.message);
      CHECK_EQ_INT(rc, MALLARD_OK);
      if (stream)
        n_stream++;
      else
        n_file++;
      arrowc_buf_unref(b);
    }
    closedir(dir);
  }
  CHECK(n_stream >= 59);
  CHECK(n_file >= 5);
}

/* Decodes every file of a folder; returns how many there were and how many were rejected. */
static void decode_folder(const char *folder, int *n, int *rejected) {
  char rel[512];
  snprintf(rel, sizeof rel, "%s/%s", src_dir(), folder);
  DIR *dir = opendir(rel);
  *n = *rejected = 0;
  if (dir == NULL) return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
    arrowc_buf *b = load(path);
    if (b == NULL) continue;
    mlr_error err = {0};
    int64_t batches, rows;
    if (decode_stream(arrowc_buf_data(b), arrowc_buf_size(b), &batches, &rows, &err) !=
        MALLARD_OK) {
      (*rejected)++;
      CHECK(err.message[0] != '\0'); /* every rejection says why */
    }
    (*n)++;
    arrowc_buf_unref(b);
  }
  closedir(dir);
}

/* The whole committed fuzz seed corpus, fuzzer regressions (regress-*) included. */
static void test_fuzz_corpus(void) {
  int n, rejected;
  decode_folder("tests/fuzz/corpus/ipc_stream", &n, &rejected);
  CHECK(n >= 70);
  CHECK(rejected > 0);
}

static void test_gold_fuzz_inputs(void) {
  char rel[512];
  snprintf(rel, sizeof rel, "%s/tests/data/arrow-ipc-gold/fuzz-ipc-stream", src_dir());
  DIR *dir = opendir(rel);
  REQUIRE(dir != NULL);
  struct dirent *e;
  int n = 0, rejected = 0;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
    char path[1024];
    snprintf(path, sizeof path, "tests/data/arrow-ipc-gold/fuzz-ipc-stream/%s", e->d_name);
    arrowc_buf *b = load(path);
    if (b == NULL) continue;
    mlr_error err = {0};
    int64_t batches, rows;
    if (decode_stream(arrowc_buf_data(b), arrowc_buf_size(b), &batches, &rows, &err) !=
        MALLARD_OK) {
      rejected++;
      CHECK(err.message[0] != '\0'); /* every rejection says why */
    }
    n++;
    arrowc_buf_unref(b);
  }
  closedir(dir);
  CHECK(n >= 50);
  CHECK(rejected > 0);
}

/* Splits a stream into its framed messages: returns the count, fills offsets/sizes of each
 * metadata and body. */
typedef struct frame {
  const uint8_t *meta;
  int64_t meta_size;
  int64_t body_off, body_size;
} frame;

static int split(const uint8_t *d, int64_t size, frame *out, int max) {
  int64_t pos = 0;
  int n = 0;
  while (pos < size && n < max) {
    int32_t len;
    memcpy(&len, d + pos + 4, 4);
    if (len == 0) break;
    out[n].meta = d + pos + 8;
    out[n].meta_size = len;
    ipc_message_type t;
    int64_t body;
    if (ipc_message_peek(out[n].meta, len, &t, &body, NULL) != MALLARD_OK) break;
    out[n].body_off = pos + 8 + len;
    out[n].body_size = body;
    pos += 8 + len + body;
    n++;
  }
  return n;
}

static mlr_code feed(ipc_decoder *dec, arrowc_buf *file, const frame *f, ipc_message_type *t,
                     mlr_error *err) {
  struct ArrowArray b = {0};
  arrowc_buf *body = arrowc_buf_slice(file, f->body_off, f->body_size);
  mlr_code rc = ipc_decoder_decode(dec, f->meta, f->meta_size, body, t, &b, err);
  arrowc_buf_unref(body);
  if (rc == MALLARD_OK && *t == IPC_MESSAGE_RECORD_BATCH) b.release(&b);
  return rc;
}

static void test_flight_errors(void) {
  arrowc_buf *dict =
      load("tests/data/arrow-ipc-gold/integration/cpp-21.0.0/generated_dictionary.stream");
  arrowc_buf *prim =
      load("tests/data/arrow-ipc-gold/integration/cpp-21.0.0/generated_primitive.stream");
  REQUIRE(dict != NULL && prim != NULL);
  frame fd[16], fp[16];
  int nd = split(arrowc_buf_data(dict), arrowc_buf_size(dict), fd, 16);
  int np = split(arrowc_buf_data(prim), arrowc_buf_size(prim), fp, 16);
  REQUIRE(nd >= 3 && np >= 2);
  ipc_decoder *dec;
  ipc_message_type t;
  mlr_error err;

  /* Record batch before the schema. */
  REQUIRE_OK(ipc_decoder_new(NULL, &dec, &err));
  CHECK_EQ_INT(feed(dec, prim, &fp[1], &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "record batch before schema") != NULL);
  CHECK(!ipc_decoder_has_schema(dec));
  /* Schema, then a second schema. */
  CHECK_EQ_INT(feed(dec, prim, &fp[0], &t, &err), MALLARD_OK);
  CHECK_EQ_INT(t, IPC_MESSAGE_SCHEMA);
  CHECK(ipc_decoder_has_schema(dec));
  CHECK_EQ_INT(feed(dec, prim, &fp[0], &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "schema message after the stream's schema") != NULL);
  /* A dictionary batch this schema has no dictionary for. */
  CHECK_EQ_INT(feed(dec, dict, &fd[1], &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "dictionary batch for unknown dictionary id") != NULL);
  /* The batches still decode. */
  CHECK_EQ_INT(feed(dec, prim, &fp[1], &t, &err), MALLARD_OK);
  CHECK_EQ_INT(t, IPC_MESSAGE_RECORD_BATCH);
  ipc_decoder_free(dec);

  /* A record batch whose dictionary has not arrived. */
  REQUIRE_OK(ipc_decoder_new(NULL, &dec, &err));
  CHECK_EQ_INT(feed(dec, dict, &fd[0], &t, &err), MALLARD_OK);
  int rb = 1;
  while (rb < nd) {
    ipc_message_type pt;
    int64_t bl;
    ipc_message_peek(fd[rb].meta, fd[rb].meta_size, &pt, &bl, NULL);
    if (pt == IPC_MESSAGE_RECORD_BATCH) break;
    rb++;
  }
  REQUIRE(rb < nd);
  CHECK_EQ_INT(feed(dec, dict, &fd[rb], &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "no dictionary received") != NULL);
  ipc_decoder_free(dec);

  /* Schema bytes as FlightInfo.schema carries them: the framed first message. */
  struct ArrowSchema s;
  int64_t framed = 8 + fp[0].meta_size;
  CHECK_EQ_INT(ipc_schema_from_flight_bytes(arrowc_buf_data(prim), framed, &s, &err), MALLARD_OK);
  CHECK_EQ_STR(s.format, "+s");
  CHECK(s.n_children > 0);
  arrowc_schema_release(&s);
  CHECK_EQ_INT(ipc_schema_from_flight_bytes(arrowc_buf_data(prim), framed - 9, &s, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(
      ipc_schema_from_flight_bytes(arrowc_buf_data(prim) + fp[1].body_off - 8 - fp[1].meta_size,
                                   8 + fp[1].meta_size, &s, &err),
      MALLARD_INVALID_ARGUMENT);
  arrowc_buf_unref(dict);
  arrowc_buf_unref(prim);
}

static void test_values_and_zero_copy(void) {
  arrowc_buf *b = load("tests/fuzz/corpus/ipc_stream/ints.stream");
  REQUIRE(b != NULL);
  frame f[8];
  int n = split(arrowc_buf_data(b), arrowc_buf_size(b), f, 8);
  REQUIRE(n >= 2);
  ipc_decoder *dec;
  mlr_error err;
  ipc_message_type t;
  REQUIRE_OK(ipc_decoder_new(NULL, &dec, &err));
  CHECK_EQ_INT(feed(dec, b, &f[0], &t, &err), MALLARD_OK);
  struct ArrowSchema s;
  REQUIRE_OK(ipc_decoder_schema(dec, &s, &err));
  CHECK_EQ_INT(s.n_children, 8);
  CHECK_EQ_STR(s.children[0]->name, "int8");
  CHECK_EQ_STR(s.children[0]->format, "c");
  CHECK_EQ_STR(s.children[7]->format, "L");

  /* Aligned body: the int64 column views the body. */
  int64_t bsize = f[1].body_size;
  arrowc_buf *aligned = arrowc_buf_alloc(bsize);
  memcpy(arrowc_buf_mutable_data(aligned), arrowc_buf_data(b) + f[1].body_off, (size_t)bsize);
  struct ArrowArray batch;
  REQUIRE_OK(ipc_decoder_decode(dec, f[1].meta, f[1].meta_size, aligned, &t, &batch, &err));
  CHECK_EQ_INT(t, IPC_MESSAGE_RECORD_BATCH);
  CHECK_EQ_INT(batch.length, 2);
  const struct ArrowArray *c3 = batch.children[3]; /* int64: [None, 1] */
  const uint8_t *base = arrowc_buf_data(aligned);
  CHECK((const uint8_t *)c3->buffers[1] >= base && (const uint8_t *)c3->buffers[1] < base + bsize);
  CHECK_EQ_INT(c3->null_count, 1);
  CHECK_EQ_INT(((const int64_t *)c3->buffers[1])[1], 1);
  arrowc_buf_unref(aligned); /* the batch keeps the body alive */
  CHECK_EQ_INT(((const int64_t *)c3->buffers[1])[1], 1);
  batch.release(&batch);

  /* Misaligned body: buffers are copied, values identical. */
  arrowc_buf *raw = arrowc_buf_alloc(bsize + 1);
  memcpy(arrowc_buf_mutable_data(raw) + 1, arrowc_buf_data(b) + f[1].body_off, (size_t)bsize);
  arrowc_buf *mis = arrowc_buf_slice(raw, 1, bsize);
  arrowc_buf_unref(raw);
  REQUIRE_OK(ipc_decoder_decode(dec, f[1].meta, f[1].meta_size, mis, &t, &batch, &err));
  base = arrowc_buf_data(mis);
  c3 = batch.children[3];
  CHECK(
      !((const uint8_t *)c3->buffers[1] >= base && (const uint8_t *)c3->buffers[1] < base + bsize));
  CHECK_EQ_INT(((uintptr_t)c3->buffers[1]) % 8, 0);
  CHECK_EQ_INT(((const int64_t *)c3->buffers[1])[1], 1);
  arrowc_buf_unref(mis);
  batch.release(&batch);

  /* A body shorter than announced. */
  arrowc_buf *short_body = arrowc_buf_slice(b, f[1].body_off, bsize - 8);
  CHECK_EQ_INT(ipc_decoder_decode(dec, f[1].meta, f[1].meta_size, short_body, &t, &batch, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "body") != NULL);
  arrowc_buf_unref(short_body);
  arrowc_schema_release(&s);
  ipc_decoder_free(dec);
  arrowc_buf_unref(b);
}

static void test_corpus_types(void) {
  static const char *files[] = {
      "null",        "ints",     "floats",    "decimals",    "temporal",     "strings",
      "nested",      "unions",   "ree",       "dict",        "dict_delta",   "empty",
      "nocols",      "ints_lz4", "ints_zstd", "strings_lz4", "strings_zstd", "nested_lz4",
      "nested_zstd", "dict_lz4", "dict_zstd"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[256];
    snprintf(path, sizeof path, "tests/fuzz/corpus/ipc_stream/%s.stream", files[i]);
    arrowc_buf *b = load(path);
    CHECK(b != NULL);
    if (b == NULL) continue;
    mlr_error err = {0};
    int64_t batches, rows;
    mlr_code rc = decode_stream(arrowc_buf_data(b), arrowc_buf_size(b), &batches, &rows, &err);
    if (rc != MALLARD_OK) fprintf(stderr, "%s: %s\n", path, err.message);
    CHECK_EQ_INT(rc, MALLARD_OK);
    arrowc_buf_unref(b);
  }
}

static void test_zero_columns_and_nesting_limit(void) {
  arrowc_buf *b = load("tests/fuzz/corpus/ipc_stream/nocols.stream");
  REQUIRE(b != NULL);
  mem_reader m = {arrowc_buf_data(b), arrowc_buf_size(b), 0};
  ipc_stream_reader *r;
  mlr_error err;
  struct ArrowSchema s;
  REQUIRE_OK(ipc_stream_reader_new(mem_read, &m, NULL, &r, &err));
  CHECK_EQ_INT(ipc_stream_reader_schema(r, &s, &err), MALLARD_OK);
  CHECK_EQ_INT(s.n_children, 0);
  arrowc_schema_release(&s);
  ipc_stream_reader_free(r);
  arrowc_buf_unref(b);

  b = load("tests/data/arrow-ipc-gold/integration/cpp-21.0.0/generated_recursive_nested.stream");
  REQUIRE(b != NULL);
  m = (mem_reader){arrowc_buf_data(b), arrowc_buf_size(b), 0};
  ipc_read_options opts = {.max_nesting_depth = 1};
  REQUIRE_OK(ipc_stream_reader_new(mem_read, &m, &opts, &r, &err));
  CHECK_EQ_INT(ipc_stream_reader_schema(r, &s, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "nested deeper than 1") != NULL);
  ipc_stream_reader_free(r);
  arrowc_buf_unref(b);
}

/* Truncates and flips bytes of valid streams: every outcome must be an error or valid arrays. */
static void test_hostile_mutations(void) {
  static const char *files[] = {
      "tests/fuzz/corpus/ipc_stream/nested.stream",
      "tests/fuzz/corpus/ipc_stream/strings_lz4.stream",
      "tests/fuzz/corpus/ipc_stream/strings_zstd.stream",
      "tests/fuzz/corpus/ipc_stream/unions.stream",
      "tests/fuzz/corpus/ipc_stream/dict_delta.stream",
      "tests/fuzz/corpus/ipc_stream/ree.stream",
      "tests/fuzz/corpus/ipc_stream/decimals.stream",
      "tests/data/arrow-ipc-gold/integration/cpp-21.0.0/generated_binary_view.stream",
      "tests/data/arrow-ipc-gold/integration/cpp-21.0.0/generated_list_view.stream",
      "tests/data/arrow-ipc-gold/integration/cpp-21.0.0/generated_nested_dictionary.stream",
  };
  uint32_t seed = 7;
  int64_t ok = 0, failed = 0;
  for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
    arrowc_buf *b = load(files[fi]);
    CHECK(b != NULL);
    if (b == NULL) continue;
    int64_t size = arrowc_buf_size(b);
    uint8_t *copy = malloc((size_t)size);
    mlr_error err;
    int64_t batches, rows;
    for (int64_t cut = 0; cut < size; cut += 5) {
      memcpy(copy, arrowc_buf_data(b), (size_t)cut);
      if (decode_stream(copy, cut, &batches, &rows, &err) == MALLARD_OK)
        ok++;
      else
        failed++;
    }
    for (int iter = 0; iter < 400; iter++) {
      memcpy(copy, arrowc_buf_data(b), (size_t)size);
      for (int k = 0; k < 1 + iter % 4; k++) {
        seed = seed * 1103515245u + 12345u;
        int64_t at = (int64_t)((seed >> 8) % (uint32_t)size);
        seed = seed * 1103515245u + 12345u;
        copy[at] ^= (uint8_t)(1u << ((seed >> 16) & 7));
      }
      if (decode_stream(copy, size, &batches, &rows, &err) == MALLARD_OK)
        ok++;
      else
        failed++;
    }
    free(copy);
    arrowc_buf_unref(b);
  }
  /* IPC files: the footer and block index are attacker-controlled too. */
  static const char *ipc_files[] = {
      "tests/data/arrow-ipc-gold/integration/2.0.0-compression/generated_lz4.arrow_file",
      "tests/data/arrow-ipc-gold/integration/4.0.0-shareddict/generated_shared_dict.arrow_file"};
  for (size_t fi = 0; fi < sizeof ipc_files / sizeof ipc_files[0]; fi++) {
    arrowc_buf *b = load(ipc_files[fi]);
    CHECK(b != NULL);
    if (b == NULL) continue;
    int64_t size = arrowc_buf_size(b);
    mlr_error err;
    int64_t batches;
    for (int iter = 0; iter < 600; iter++) {
      arrowc_buf *m = arrowc_buf_alloc(size);
      uint8_t *copy = arrowc_buf_mutable_data(m);
      memcpy(copy, arrowc_buf_data(b), (size_t)size);
      for (int k = 0; k < 1 + iter % 3; k++) {
        seed = seed * 1103515245u + 12345u;
        /* Half of the flips hit the footer region at the end. */
        int64_t span = (iter & 1) ? size : (size < 512 ? size : 512);
        int64_t at = (iter & 1) ? (int64_t)((seed >> 8) % (uint32_t)span)
                                : size - 1 - (int64_t)((seed >> 8) % (uint32_t)span);
        seed = seed * 1103515245u + 12345u;
        copy[at] ^= (uint8_t)(1u << ((seed >> 16) & 7));
      }
      if (decode_file(m, &batches, &err) == MALLARD_OK)
        ok++;
      else
        failed++;
      arrowc_buf_unref(m);
    }
    for (int64_t cut = 0; cut < size; cut += 97) {
      arrowc_buf *m = arrowc_buf_slice(b, 0, cut);
      if (decode_file(m, &batches, &err) == MALLARD_OK)
        ok++;
      else
        failed++;
      arrowc_buf_unref(m);
    }
    arrowc_buf_unref(b);
  }
  fprintf(stderr, "hostile mutations: %lld decoded, %lld rejected\n", (long long)ok,
          (long long)failed);
  CHECK(failed > 0);
}

/* A hand-built Message{version, header_type, header: Schema{endianness}} flatbuffer. */
static void build_message(uint8_t *m, int16_t version, uint8_t header_type, int16_t endianness) {
  static const uint8_t tmpl[44] = {16, 0, 0,  0,                         /* root -> 16 */
                                   10, 0, 12, 0, 4, 0, 6, 0, 8, 0, 0, 0, /* Message vtable */
                                   12, 0, 0,  0,                         /* soffset -> 4 */
                                   0,  0, 0,  0,                         /* version, type */
                                   12, 0, 0,  0,                         /* header -> 36 */
                                   6,  0, 8,  0, 4, 0, 0, 0,             /* Schema vtable */
                                   8,  0, 0,  0,                         /* soffset -> 28 */
                                   0,  0, 0,  0};                        /* endianness */
  memcpy(m, tmpl, sizeof tmpl);
  memcpy(m + 20, &version, 2);
  m[22] = header_type;
  memcpy(m + 40, &endianness, 2);
}

static void test_unsupported(void) {
  uint8_t m[44];
  ipc_decoder *dec;
  mlr_error err;
  ipc_message_type t;
  struct ArrowArray b = {0};
  REQUIRE_OK(ipc_decoder_new(NULL, &dec, &err));
  build_message(m, 4, 1, 0); /* V5 little-endian schema with no fields: fine */
  CHECK_EQ_INT(ipc_decoder_decode(dec, m, sizeof m, NULL, &t, &b, &err), MALLARD_OK);
  CHECK_EQ_INT(t, IPC_MESSAGE_SCHEMA);
  ipc_decoder_free(dec);
  REQUIRE_OK(ipc_decoder_new(NULL, &dec, &err));
  build_message(m, 4, 1, 1); /* big-endian */
  CHECK_EQ_INT(ipc_decoder_decode(dec, m, sizeof m, NULL, &t, &b, &err), MALLARD_UNIMPLEMENTED);
  CHECK(strstr(err.message, "big-endian") != NULL);
  build_message(m, 4, 4, 0); /* tensor */
  CHECK_EQ_INT(ipc_decoder_decode(dec, m, sizeof m, NULL, &t, &b, &err), MALLARD_UNIMPLEMENTED);
  CHECK(strstr(err.message, "tensor") != NULL);
  build_message(m, 2, 1, 0); /* metadata V3 */
  CHECK_EQ_INT(ipc_decoder_decode(dec, m, sizeof m, NULL, &t, &b, &err), MALLARD_UNIMPLEMENTED);
  CHECK(strstr(err.message, "version") != NULL);
  build_message(m, 4, 9, 0); /* unknown header */
  CHECK_EQ_INT(ipc_decoder_decode(dec, m, sizeof m, NULL, &t, &b, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(!ipc_decoder_has_schema(dec));
  ipc_decoder_free(dec);
}

MTEST_MAIN(MTEST(test_gold_integration), MTEST(test_gold_fuzz_inputs), MTEST(test_fuzz_corpus),
           MTEST(test_flight_errors), MTEST(test_values_and_zero_copy), MTEST(test_corpus_types),
           MTEST(test_zero_columns_and_nesting_limit), MTEST(test_hostile_mutations),
           MTEST(test_unsupported))
