/* `mallard ipc`: check or convert Arrow IPC streams and files with Mallard's own codec
 * (`check FILE`, `convert IN OUT [--format stream|file] [--compression none|lz4|zstd]`). */
#include "arrow/arrowc_buf.h"
#include "cli/cli.h"
#include "cli/cli_client.h"
#include "common/mlr_io.h"
#include "ipc/ipc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ipc_usage(FILE *out) {
  fprintf(out,
          "usage: mallard ipc check FILE\n"
          "       mallard ipc convert IN OUT [--format stream|file] [--compression none|lz4|zstd]\n"
          "\n"
          "check    decodes every message of an Arrow IPC stream or file and prints its schema,\n"
          "         batch and row counts, or the first error (exit status 1)\n"
          "convert  decodes IN and re-encodes it to OUT; --format defaults to IN's format,\n"
          "         --compression to none. '-' is standard input or output. Stream or file\n"
          "         input is recognised by the ARROW1 magic.\n");
}

/* ---- input: the whole input in memory, as a refcounted buffer ---------------------------- */

static void free_ctx(void *p) {
  free(p);
}

static mlr_code read_all(const char *path, arrowc_buf **out, mlr_error *err) {
  *out = NULL;
  if (strcmp(path, "-") != 0) { /* a regular file is mapped, not copied */
    int e = cli_map_file(path, out);
    if (e == 0) return MALLARD_OK;
    if (e != ENODEV) return mlr_error_set(err, MALLARD_NOT_FOUND, "cannot open: %s", strerror(e));
  }
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) return mlr_error_set(err, MALLARD_NOT_FOUND, "cannot open: %s", strerror(errno));
  char *data = NULL;
  size_t size = 0;
  int e = mlr_read_all(f, 0, &data, &size);
  int read_errno = errno;
  if (f != stdin) fclose(f);
  if (e == ENOMEM)
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory reading input");
  if (e != 0) return mlr_error_set(err, MALLARD_DATA_LOSS, "read failed: %s", strerror(read_errno));
  *out = arrowc_buf_wrap(data, (int64_t)size, free_ctx, data);
  if (*out == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  return MALLARD_OK;
}

typedef struct mem_reader {
  const uint8_t *data;
  int64_t size, pos;
} mem_reader;

static mlr_code mem_read(void *ctx, void *data, int64_t size, int64_t *got, mlr_error *err) {
  mem_reader *m = ctx;
  int64_t n = m->size - m->pos < size ? m->size - m->pos : size;
  if (n > 0) memcpy(data, m->data + m->pos, (size_t)n);
  m->pos += n;
  *got = n;
  return MALLARD_OK;
}

/* A decoded input: stream or file, one interface. */
typedef struct ipc_input {
  bool is_file;
  arrowc_buf *image;
  mem_reader mem;
  ipc_stream_reader *stream;
  ipc_file_reader *file;
  int64_t next; /* file: next batch index */
} ipc_input;

static mlr_code input_open(ipc_input *in, const char *path, struct ArrowSchema *schema,
                           mlr_error *err) {
  memset(in, 0, sizeof *in);
  MLR_RETURN_NOT_OK(read_all(path, &in->image, err));
  const uint8_t *d = arrowc_buf_data(in->image);
  int64_t n = arrowc_buf_size(in->image);
  if (n == 0) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "empty input");
  in->is_file = n >= 6 && memcmp(d, "ARROW1", 6) == 0;
  if (in->is_file) {
    MLR_RETURN_NOT_OK(ipc_file_reader_new(in->image, NULL, &in->file, err));
    return ipc_file_reader_schema(in->file, schema, err);
  }
  in->mem = (mem_reader){d, n, 0};
  MLR_RETURN_NOT_OK(ipc_stream_reader_new(mem_read, &in->mem, NULL, &in->stream, err));
  return ipc_stream_reader_schema(in->stream, schema, err);
}

static mlr_code input_next(ipc_input *in, struct ArrowArray *batch, bool *eof, mlr_error *err) {
  if (in->is_file) {
    *eof = in->next >= ipc_file_reader_num_batches(in->file);
    if (*eof) return MALLARD_OK;
    mlr_code rc = ipc_file_reader_batch(in->file, in->next, batch, err);
    if (rc != MALLARD_OK) mlr_error_prefix(err, "batch %" PRId64 ": ", in->next);
    in->next++;
    return rc;
  }
  return ipc_stream_reader_next(in->stream, batch, eof, err);
}

static void input_close(ipc_input *in) {
  ipc_stream_reader_free(in->stream);
  ipc_file_reader_free(in->file);
  arrowc_buf_unref(in->image);
  memset(in, 0, sizeof *in);
}

/* ---- check ------------------------------------------------------------------------------ */

typedef struct strbuf {
  char data[4096];
  size_t len;
} strbuf;

static void sb_add(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(strbuf *sb, const char *fmt, ...) {
  if (sb->len >= sizeof sb->data - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(sb->data + sb->len, sizeof sb->data - sb->len, fmt, ap);
  va_end(ap);
  if (n > 0) sb->len += (size_t)n;
  if (sb->len >= sizeof sb->data) sb->len = sizeof sb->data - 1;
}

static const char *unit_name(char c) {
  switch (c) {
  case 's':
    return "s";
  case 'm':
    return "ms";
  case 'u':
    return "us";
  case 'n':
    return "ns";
  default:
    return "?";
  }
}

/* A readable type ("list<item: int32>", "timestamp[us, UTC]") for a schema node. */
static void describe(strbuf *sb, const struct ArrowSchema *s, int depth) {
  static const struct {
    const char *fmt, *name;
  } simple[] = {{"n", "null"},
                {"b", "bool"},
                {"c", "int8"},
                {"C", "uint8"},
                {"s", "int16"},
                {"S", "uint16"},
                {"i", "int32"},
                {"I", "uint32"},
                {"l", "int64"},
                {"L", "uint64"},
                {"e", "float16"},
                {"f", "float32"},
                {"g", "float64"},
                {"z", "binary"},
                {"Z", "large_binary"},
                {"vz", "binary_view"},
                {"u", "utf8"},
                {"U", "large_utf8"},
                {"vu", "utf8_view"},
                {"tdD", "date32"},
                {"tdm", "date64"},
                {"tiM", "interval[months]"},
                {"tiD", "interval[day_time]"},
                {"tin", "interval[month_day_nano]"}};
  if (depth > 32) {
    sb_add(sb, "...");
    return;
  }
  const char *f = s->format ? s->format : "";
  if (s->dictionary != NULL) {
    sb_add(sb, "dictionary<values=");
    describe(sb, s->dictionary, depth + 1);
    sb_add(sb, ", indices=");
  }
  bool done = false;
  for (size_t i = 0; i < sizeof simple / sizeof simple[0] && !done; i++) {
    if (strcmp(f, simple[i].fmt) == 0) {
      sb_add(sb, "%s", simple[i].name);
      done = true;
    }
  }
  if (done) {
  } else if (f[0] == 'd' && f[1] == ':') {
    int p = 0, sc = 0, w = 128;
    sscanf(f + 2, "%d,%d,%d", &p, &sc, &w);
    sb_add(sb, "decimal%d(%d, %d)", w, p, sc);
  } else if (f[0] == 'w' && f[1] == ':') {
    sb_add(sb, "fixed_size_binary[%s]", f + 2);
  } else if (f[0] == 't' && f[1] == 't' && f[2]) {
    sb_add(sb, "time%s[%s]", f[2] == 's' || f[2] == 'm' ? "32" : "64", unit_name(f[2]));
  } else if (f[0] == 't' && f[1] == 's' && f[2]) {
    sb_add(sb, "timestamp[%s%s%s]", unit_name(f[2]), f[3] == ':' && f[4] ? ", " : "",
           f[3] == ':' ? f + 4 : "");
  } else if (f[0] == 't' && f[1] == 'D' && f[2]) {
    sb_add(sb, "duration[%s]", unit_name(f[2]));
  } else if (f[0] == '+') {
    const char *name = "struct";
    if (strcmp(f, "+l") == 0)
      name = "list";
    else if (strcmp(f, "+L") == 0)
      name = "large_list";
    else if (strncmp(f, "+w:", 3) == 0)
      name = "fixed_size_list";
    else if (strcmp(f, "+vl") == 0)
      name = "list_view";
    else if (strcmp(f, "+vL") == 0)
      name = "large_list_view";
    else if (strcmp(f, "+r") == 0)
      name = "run_end_encoded";
    else if (strcmp(f, "+m") == 0)
      name = "map";
    else if (strncmp(f, "+ud:", 4) == 0)
      name = "dense_union";
    else if (strncmp(f, "+us:", 4) == 0)
      name = "sparse_union";
    else if (strcmp(f, "+s") != 0)
      name = f;
    sb_add(sb, "%s<", name);
    for (int64_t i = 0; i < s->n_children; i++) {
      sb_add(sb, "%s%s: ", i ? ", " : "", s->children[i]->name ? s->children[i]->name : "");
      describe(sb, s->children[i], depth + 1);
    }
    sb_add(sb, ">");
    if (strncmp(f, "+w:", 3) == 0) sb_add(sb, "[%s]", f + 3);
  } else {
    sb_add(sb, "%s", f);
  }
  if (s->dictionary != NULL)
    sb_add(sb, "%s>", (s->flags & ARROW_FLAG_DICTIONARY_ORDERED) ? ", ordered" : "");
}

static void print_metadata(const char *md, const char *indent) {
  if (md == NULL) return;
  int32_t n;
  memcpy(&n, md, 4);
  const char *p = md + 4;
  for (int32_t i = 0; i < n; i++) {
    int32_t kl, vl;
    memcpy(&kl, p, 4);
    const char *k = p + 4;
    p += 4 + kl;
    memcpy(&vl, p, 4);
    const char *v = p + 4;
    p += 4 + vl;
    printf("%smetadata %.*s = %.*s\n", indent, (int)kl, k, vl > 200 ? 200 : (int)vl, v);
  }
}

static int cmd_check(const char *path) {
  mlr_error err = {0};
  ipc_input in;
  struct ArrowSchema schema = {0};
  int64_t n_batches = 0, n_rows = 0;
  mlr_code rc = input_open(&in, path, &schema, &err);
  if (rc == MALLARD_OK) {
    printf("format: %s\n", in.is_file ? "file" : "stream");
    printf("schema: %" PRId64 " field%s\n", schema.n_children, schema.n_children == 1 ? "" : "s");
    print_metadata(schema.metadata, "  ");
    for (int64_t i = 0; i < schema.n_children; i++) {
      strbuf sb = {.len = 0};
      describe(&sb, schema.children[i], 0);
      const struct ArrowSchema *c = schema.children[i];
      printf("  %s: %s%s\n", c->name ? c->name : "", sb.data,
             (c->flags & ARROW_FLAG_NULLABLE) ? "" : " not null");
      print_metadata(c->metadata, "    ");
    }
    fflush(stdout);
  }
  while (rc == MALLARD_OK) {
    struct ArrowArray batch = {0};
    bool eof = false;
    rc = input_next(&in, &batch, &eof, &err);
    if (rc != MALLARD_OK || eof) break;
    n_batches++;
    n_rows += batch.length;
    batch.release(&batch);
  }
  if (rc == MALLARD_OK) printf("batches: %" PRId64 "\nrows: %" PRId64 "\n", n_batches, n_rows);
  if (schema.release) schema.release(&schema);
  input_close(&in);
  if (rc != MALLARD_OK) {
    fprintf(stderr, "mallard ipc check: %s: %s\n", path, err.message);
    return CLI_EXIT_ERROR;
  }
  return CLI_EXIT_OK;
}

/* ---- convert ---------------------------------------------------------------------------- */

static mlr_code out_write(void *ctx, const void *data, int64_t size, mlr_error *err) {
  if (size > 0 && fwrite(data, 1, (size_t)size, ctx) != (size_t)size)
    return mlr_error_set(err, MALLARD_UNAVAILABLE, "write failed: %s", strerror(errno));
  return MALLARD_OK;
}

static mlr_code out_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  mlr_code rc = ipc_write_message(msg, out_write, ctx, err);
  ipc_message_release(msg);
  return rc;
}

static int cmd_convert(const char *in_path, const char *out_path, int format,
                       const ipc_write_options *opts) {
  mlr_error err = {0};
  ipc_input in;
  struct ArrowSchema schema = {0};
  ipc_encoder *enc = NULL;
  ipc_file_writer *fw = NULL;
  ipc_message msg = {0};
  FILE *out = NULL;
  bool to_file;
  int64_t n_batches = 0;
  mlr_code rc = input_open(&in, in_path, &schema, &err);
  if (rc != MALLARD_OK) goto cleanup;
  to_file = format < 0 ? in.is_file : format == 1;
  out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "wb");
  if (out == NULL) {
    rc = mlr_error_set(&err, MALLARD_NOT_FOUND, "cannot create %s: %s", out_path, strerror(errno));
    goto cleanup;
  }
  if (to_file) {
    rc = ipc_file_writer_new(&schema, opts, out_write, out, &fw, &err);
  } else {
    rc = ipc_encoder_new(&schema, opts, &enc, &err);
    if (rc == MALLARD_OK) rc = ipc_encoder_schema(enc, &msg, &err);
    if (rc == MALLARD_OK) rc = ipc_write_message(&msg, out_write, out, &err);
  }
  while (rc == MALLARD_OK) {
    struct ArrowArray batch = {0};
    bool eof = false;
    rc = input_next(&in, &batch, &eof, &err);
    if (rc != MALLARD_OK || eof) break;
    rc = to_file ? ipc_file_writer_write(fw, &batch, &err)
                 : ipc_encoder_batch(enc, &batch, out_sink, out, &err);
    if (rc != MALLARD_OK) mlr_error_prefix(&err, "writing batch %" PRId64 ": ", n_batches);
    n_batches++;
  }
  if (rc == MALLARD_OK)
    rc = to_file ? ipc_file_writer_finish(fw, &err) : ipc_write_eos(out_write, out, &err);
  if (rc == MALLARD_OK && fflush(out) != 0)
    rc = mlr_error_set(&err, MALLARD_UNAVAILABLE, "write failed: %s", strerror(errno));
cleanup:
  ipc_message_release(&msg);
  ipc_encoder_free(enc);
  ipc_file_writer_free(fw);
  if (schema.release) schema.release(&schema);
  input_close(&in);
  if (out != NULL && out != stdout && fclose(out) != 0 && rc == MALLARD_OK)
    rc = mlr_error_set(&err, MALLARD_UNAVAILABLE, "write failed: %s", strerror(errno));
  if (rc != MALLARD_OK) {
    fprintf(stderr, "mallard ipc convert: %s: %s\n", in_path, err.message);
    return CLI_EXIT_ERROR;
  }
  return CLI_EXIT_OK;
}

int cli_ipc_main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    ipc_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "check") == 0) {
    if (argc != 3) {
      ipc_usage(stderr);
      return CLI_EXIT_USAGE;
    }
    return cmd_check(argv[2]);
  }
  if (strcmp(argv[1], "convert") == 0) {
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0, format = -1;
    ipc_write_options opts = {0};
    for (int i = 2; i < argc; i++) {
      const char *a = argv[i];
      const char *val = NULL;
      if (strncmp(a, "--format", 8) == 0 || strncmp(a, "--compression", 13) == 0) {
        const char *eq = strchr(a, '=');
        if (eq != NULL)
          val = eq + 1;
        else if (i + 1 < argc)
          val = argv[++i];
        else {
          fprintf(stderr, "mallard ipc convert: %s needs a value\n", a);
          return CLI_EXIT_USAGE;
        }
        if (strncmp(a, "--format", 8) == 0) {
          if (strcmp(val, "stream") == 0)
            format = 0;
          else if (strcmp(val, "file") == 0)
            format = 1;
          else {
            fprintf(stderr, "mallard ipc convert: --format must be stream or file, not '%s'\n",
                    val);
            return CLI_EXIT_USAGE;
          }
        } else {
          if (strcmp(val, "none") == 0)
            opts.compression = IPC_COMPRESSION_NONE;
          else if (strcmp(val, "lz4") == 0)
            opts.compression = IPC_COMPRESSION_LZ4_FRAME;
          else if (strcmp(val, "zstd") == 0)
            opts.compression = IPC_COMPRESSION_ZSTD;
          else {
            fprintf(stderr,
                    "mallard ipc convert: --compression must be none, lz4 or zstd, not '%s'\n",
                    val);
            return CLI_EXIT_USAGE;
          }
        }
      } else if (a[0] == '-' && a[1] != '\0') {
        fprintf(stderr, "mallard ipc convert: unknown option '%s'\n", a);
        return CLI_EXIT_USAGE;
      } else if (n_pos < 2) {
        pos[n_pos++] = a;
      } else {
        ipc_usage(stderr);
        return CLI_EXIT_USAGE;
      }
    }
    if (n_pos != 2) {
      ipc_usage(stderr);
      return CLI_EXIT_USAGE;
    }
    return cmd_convert(pos[0], pos[1], format, &opts);
  }
  fprintf(stderr, "mallard ipc: unknown subcommand '%s'\n", argv[1]);
  ipc_usage(stderr);
  return CLI_EXIT_USAGE;
}
