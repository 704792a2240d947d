/* mallard-ipc-bench: times Mallard's IPC encoder and decoder on the batches of an Arrow IPC
 * file (bench/ipc/run_ipc_bench.py prepares it from flights-3m.parquet with pyarrow and times
 * pyarrow on the same data). Prints one JSON object per measurement (median of REPS runs after
 * one untimed warm-up run).
 * usage: mallard-ipc-bench [-t THREADS] [-o decode|encode] FILE.arrow REPS [STREAM CODEC]...
 *   FILE.arrow:    an uncompressed IPC file: the encode input (decoded once, zero copy), and
 *                  timed as a file decode, at both validation levels (full, structural);
 *   STREAM CODEC:  IPC streams to time decoding of (as Flight's DoPut does: one message at a
 *                  time, bodies as slices of the received bytes): uncompressed ones at both
 *                  validation levels, compressed ones (full validation) with 1 and THREADS
 *                  (de)compression threads;
 *   -t THREADS:    compression threads for the threaded runs (default 2; 1 = none);
 *   -o:            only decode, or only encode (default both). */
#include "arrow/arrowc_buf.h"
#include "ipc/ipc.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void free_ctx(void *p) {
  free(p);
}

static arrowc_buf *load(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *d = malloc((size_t)n);
  if (d == NULL || fread(d, 1, (size_t)n, f) != (size_t)n) {
    free(d);
    fclose(f);
    return NULL;
  }
  fclose(f);
  return arrowc_buf_wrap(d, n, free_ctx, d);
}

static void die(const char *what, const mlr_error *err) {
  fprintf(stderr, "mallard-ipc-bench: %s: %s\n", what, err ? err->message : "failed");
  exit(1);
}

/* A borrowed view of a batch: the encoder "releases" it without freeing anything, so the same
 * decoded batches can be encoded again in every repetition. */
static void noop_release(struct ArrowArray *a) {
  a->release = NULL;
}

typedef struct counter {
  int64_t bytes;
} counter;

static mlr_code count_write(void *ctx, const void *data, int64_t size, mlr_error *err) {
  ((counter *)ctx)->bytes += size;
  return MALLARD_OK;
}

static mlr_code count_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  mlr_code rc = ipc_write_message(msg, count_write, ctx, err);
  ipc_message_release(msg);
  return rc;
}

static const char *level_name(ipc_validation v) {
  return v == IPC_VALIDATE_STRUCTURAL ? "structural" : "full";
}

int main(int argc, char **argv) {
  int threads = 2;
  bool do_decode = true, do_encode = true;
  while (argc >= 3 && argv[1][0] == '-') {
    if (strcmp(argv[1], "-t") == 0) {
      threads = atoi(argv[2]);
    } else if (strcmp(argv[1], "-o") == 0) {
      do_decode = strcmp(argv[2], "encode") != 0;
      do_encode = strcmp(argv[2], "decode") != 0;
    } else {
      break;
    }
    argc -= 2;
    argv += 2;
  }
  if (threads < 1 || threads > 64) threads = 2;
  if (argc < 3 || (argc - 3) % 2 != 0) {
    fprintf(stderr, "usage: mallard-ipc-bench [-t THREADS] [-o decode|encode] FILE.arrow REPS "
                    "[STREAM.arrows CODEC]...\n");
    return 2;
  }
  int reps = atoi(argv[2]);
  if (reps < 1 || reps > 1000) reps = 5;
  double *t = calloc((size_t)reps, sizeof *t), *cpu = calloc((size_t)reps, sizeof *cpu);
  mlr_error err = {0};
  arrowc_buf *image = load(argv[1]);
  if (image == NULL) die(argv[1], NULL);

  /* time file decoding at both levels, then decode the file once for the encoder's input */
  ipc_file_reader *fr = NULL;
  struct ArrowSchema schema = {0};
  int64_t nb = 0, rows = 0;
  struct ArrowArray *batches = NULL;
  static const ipc_validation levels[2] = {IPC_VALIDATE_FULL, IPC_VALIDATE_STRUCTURAL};
  for (int lv = 0; lv < 2 && do_decode; lv++) {
    ipc_read_options ropts = {.validation = levels[lv]};
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up, not timed */
      double t0 = now(), c0 = cpu_now();
      if (ipc_file_reader_new(image, &ropts, &fr, &err) != MALLARD_OK) die("file reader", &err);
      nb = ipc_file_reader_num_batches(fr);
      rows = 0;
      for (int64_t i = 0; i < nb; i++) {
        struct ArrowArray b;
        if (ipc_file_reader_batch(fr, i, &b, &err) != MALLARD_OK) die("file batch", &err);
        rows += b.length;
        b.release(&b);
      }
      if (r >= 0) {
        t[r] = now() - t0;
        cpu[r] = cpu_now() - c0;
      }
      ipc_file_reader_free(fr);
      fr = NULL;
    }
    printf("{\"op\": \"decode\", \"input\": \"file\", \"codec\": \"none\", "
           "\"validation\": \"%s\", \"threads\": 1, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
           "\"rows\": %" PRId64 ", \"batches\": %" PRId64 ", \"bytes\": %" PRId64 "}\n",
           level_name(levels[lv]), median(t, reps), median(cpu, reps), rows, nb,
           arrowc_buf_size(image));
    fflush(stdout);
  }
  if (ipc_file_reader_new(image, NULL, &fr, &err) != MALLARD_OK) die("file reader", &err);
  nb = ipc_file_reader_num_batches(fr);
  rows = 0;
  if (ipc_file_reader_schema(fr, &schema, &err) != MALLARD_OK) die("schema", &err);
  batches = calloc((size_t)nb, sizeof *batches);
  for (int64_t i = 0; i < nb; i++) {
    if (ipc_file_reader_batch(fr, i, &batches[i], &err) != MALLARD_OK) die("batch", &err);
    rows += batches[i].length;
  }

  /* encode: schema + every batch as stream messages into a byte-counting sink */
  static const struct {
    const char *name;
    ipc_compression c;
  } codecs[] = {{"none", IPC_COMPRESSION_NONE},
                {"lz4", IPC_COMPRESSION_LZ4_FRAME},
                {"zstd", IPC_COMPRESSION_ZSTD}};
  for (size_t run = 0; run < 5 && do_encode; run++) { /* none; lz4, zstd x (1, threads) */
    size_t c = run == 0 ? 0 : 1 + (run - 1) / 2;
    int nthreads = run == 0 || (run - 1) % 2 == 0 ? 1 : threads;
    if (run > 0 && (run - 1) % 2 == 1 && threads == 1) continue;
    ipc_write_options opts = {.compression = codecs[c].c, .compression_threads = nthreads};
    counter cnt = {0};
    for (int r = -1; r < reps; r++) {
      cnt.bytes = 0;
      double t0 = now(), c0 = cpu_now();
      ipc_encoder *enc = NULL;
      ipc_message msg = {0};
      if (ipc_encoder_new(&schema, &opts, &enc, &err) != MALLARD_OK) die("encoder", &err);
      if (ipc_encoder_schema(enc, &msg, &err) != MALLARD_OK) die("schema msg", &err);
      count_sink(&cnt, &msg, &err);
      for (int64_t i = 0; i < nb; i++) {
        struct ArrowArray view = batches[i];
        view.release = noop_release;
        if (ipc_encoder_batch(enc, &view, count_sink, &cnt, &err) != MALLARD_OK)
          die("encode", &err);
      }
      ipc_write_eos(count_write, &cnt, &err);
      ipc_encoder_free(enc);
      if (r >= 0) {
        t[r] = now() - t0;
        cpu[r] = cpu_now() - c0;
      }
    }
    printf("{\"op\": \"encode\", \"input\": \"stream\", \"codec\": \"%s\", \"threads\": %d, "
           "\"seconds\": %.6f, \"cpu_seconds\": %.6f, "
           "\"rows\": %" PRId64 ", \"batches\": %" PRId64 ", \"bytes\": %" PRId64 "}\n",
           codecs[c].name, nthreads, median(t, reps), median(cpu, reps), rows, nb, cnt.bytes);
    fflush(stdout);
  }

  /* decode streams message by message, bodies as slices of the input (the DoPut path) */
  for (int s = 3; s + 1 < argc && do_decode; s += 2) {
    arrowc_buf *st = load(argv[s]);
    if (st == NULL) die(argv[s], NULL);
    const uint8_t *d = arrowc_buf_data(st);
    int64_t n = arrowc_buf_size(st), srows = 0, sbatches = 0;
    bool compressed = strcmp(argv[s + 1], "none") != 0;
    /* uncompressed: full, structural; compressed: full with 1 and `threads` threads */
    for (int variant = 0; variant < 2; variant++) {
      ipc_read_options ropts = {.validation = !compressed && variant == 1 ? IPC_VALIDATE_STRUCTURAL
                                                                          : IPC_VALIDATE_FULL,
                                .compression_threads = compressed && variant == 1 ? threads : 1};
      if (compressed && variant == 1 && threads == 1) break;
      for (int r = -1; r < reps; r++) {
        srows = sbatches = 0;
        double t0 = now(), c0 = cpu_now();
        ipc_decoder *dec = NULL;
        if (ipc_decoder_new(&ropts, &dec, &err) != MALLARD_OK) die("decoder", &err);
        int64_t pos = 0;
        while (pos + 8 <= n) {
          int32_t len;
          memcpy(&len, d + pos + 4, 4);
          if (len == 0) break;
          const uint8_t *meta = d + pos + 8;
          ipc_message_type type;
          int64_t body_len;
          if (ipc_message_peek(meta, len, &type, &body_len, &err) != MALLARD_OK) die("peek", &err);
          arrowc_buf *body = arrowc_buf_slice(st, pos + 8 + len, body_len);
          struct ArrowArray b = {0};
          if (ipc_decoder_decode(dec, meta, len, body, &type, &b, &err) != MALLARD_OK)
            die("decode", &err);
          arrowc_buf_unref(body);
          if (type == IPC_MESSAGE_RECORD_BATCH) {
            srows += b.length;
            sbatches++;
            b.release(&b);
          }
          pos += 8 + len + body_len;
        }
        ipc_decoder_free(dec);
        if (r >= 0) {
          t[r] = now() - t0;
          cpu[r] = cpu_now() - c0;
        }
      }
      printf("{\"op\": \"decode\", \"input\": \"stream\", \"codec\": \"%s\", "
             "\"validation\": \"%s\", \"threads\": %d, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
             "\"rows\": %" PRId64 ", \"batches\": %" PRId64 ", \"bytes\": %" PRId64 "}\n",
             argv[s + 1], level_name(ropts.validation), ropts.compression_threads, median(t, reps),
             median(cpu, reps), srows, sbatches, n);
      fflush(stdout);
    }
    arrowc_buf_unref(st);
  }

  for (int64_t i = 0; i < nb; i++) batches[i].release(&batches[i]);
  free(batches);
  schema.release(&schema);
  ipc_file_reader_free(fr);
  arrowc_buf_unref(image);
  free(t);
  free(cpu);
  return 0;
}
