/* Local files for the client commands, through an embedded DuckDB: a Flight stream written to
 * CSV/JSON/Parquet/a terminal table (DuckDB scans the stream while it arrives), Arrow IPC written
 * by Mallard's own encoder, and local Parquet/CSV/JSON/Arrow files read as Arrow streams. */
#include "cli/cli_client.h"

#include "cli/cli.h"
#include "common/mlr_json.h"
#include "db/db.h"
#include "ipc/ipc.h"

#include <duckdb.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

cli_format cli_format_parse(const char *s) {
  static const struct {
    const char *name;
    cli_format f;
  } names[] = {{"table", CLI_FORMAT_TABLE},    {"csv", CLI_FORMAT_CSV},
               {"json", CLI_FORMAT_JSON},      {"ndjson", CLI_FORMAT_JSON},
               {"arrow", CLI_FORMAT_ARROW},    {"ipc", CLI_FORMAT_ARROW},
               {"parquet", CLI_FORMAT_PARQUET}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(s, names[i].name) == 0) return names[i].f;
  }
  return CLI_FORMAT_NONE;
}

cli_format cli_format_from_path(const char *path) {
  const char *dot = strrchr(path, '.');
  if (dot == NULL) return CLI_FORMAT_NONE;
  const char *ext = dot + 1;
  if (strcasecmp(ext, "gz") == 0 || strcasecmp(ext, "zst") == 0) {
    /* x.csv.gz, x.json.zst: DuckDB reads and writes them compressed by their extension. */
    const char *prev = dot;
    while (prev > path && prev[-1] != '.' && prev[-1] != '/') prev--;
    if (prev == path || prev[-1] != '.') return CLI_FORMAT_NONE;
    size_t n = (size_t)(dot - prev);
    if ((n == 3 && strncasecmp(prev, "csv", 3) == 0) ||
        (n == 3 && strncasecmp(prev, "tsv", 3) == 0))
      return CLI_FORMAT_CSV;
    if ((n == 4 && strncasecmp(prev, "json", 4) == 0) ||
        (n == 6 && strncasecmp(prev, "ndjson", 6) == 0) ||
        (n == 5 && strncasecmp(prev, "jsonl", 5) == 0))
      return CLI_FORMAT_JSON;
    return CLI_FORMAT_NONE;
  }
  if (strcasecmp(ext, "parquet") == 0 || strcasecmp(ext, "pq") == 0) return CLI_FORMAT_PARQUET;
  if (strcasecmp(ext, "csv") == 0 || strcasecmp(ext, "tsv") == 0) return CLI_FORMAT_CSV;
  if (strcasecmp(ext, "json") == 0 || strcasecmp(ext, "ndjson") == 0 ||
      strcasecmp(ext, "jsonl") == 0)
    return CLI_FORMAT_JSON;
  if (strcasecmp(ext, "arrow") == 0 || strcasecmp(ext, "arrows") == 0 ||
      strcasecmp(ext, "ipc") == 0 || strcasecmp(ext, "feather") == 0)
    return CLI_FORMAT_ARROW;
  return CLI_FORMAT_NONE;
}

/* ---------------------------------------------------------------- a stream that counts */

/* Wraps a stream to feed the progress line and count rows as DuckDB pulls batches. */
typedef struct counted_stream {
  struct ArrowArrayStream *inner; /* borrowed */
  cli_progress *progress;
  struct ArrowSchema schema; /* own copy, for exact byte counts */
} counted_stream;

static void counted_schema_release(struct ArrowSchema *s) {
  s->release = NULL;
}

/* DuckDB's duckdb_arrow_scan asks for the schema several times and does not release every copy
 * (LeakSanitizer shows them), so the wrapper keeps the one real schema and lends DuckDB views of
 * it whose release does nothing; it is freed with the wrapper, after DuckDB is closed. */
static int counted_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  counted_stream *c = s->private_data;
  if (c->schema.release == NULL) {
    int rc = c->inner->get_schema(c->inner, &c->schema);
    if (rc != 0) return rc;
    c->progress->schema = &c->schema;
  }
  *out = c->schema;
  out->release = counted_schema_release;
  return 0;
}

static int counted_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  counted_stream *c = s->private_data;
  int rc = c->inner->get_next(c->inner, out);
  if (rc == 0 && out->release != NULL) cli_progress_add(c->progress, out);
  return rc;
}

static const char *counted_last_error(struct ArrowArrayStream *s) {
  counted_stream *c = s->private_data;
  return c->inner->get_last_error(c->inner);
}

static void counted_release(struct ArrowArrayStream *s) {
  counted_stream *c = s->private_data;
  if (c->progress->schema == &c->schema) c->progress->schema = NULL;
  if (c->schema.release != NULL) c->schema.release(&c->schema);
  free(c);
  s->release = NULL;
}

static int counted_wrap(struct ArrowArrayStream *inner, cli_progress *p,
                        struct ArrowArrayStream *out) {
  counted_stream *c = calloc(1, sizeof *c);
  if (c == NULL) return -1;
  c->inner = inner;
  c->progress = p;
  out->get_schema = counted_get_schema;
  out->get_next = counted_get_next;
  out->get_last_error = counted_last_error;
  out->release = counted_release;
  out->private_data = c;
  return 0;
}

/* ---------------------------------------------------------------- writing */

static mlr_code write_fd(void *ctx, const void *data, int64_t size, mlr_error *err) {
  FILE *f = ctx;
  if (size > 0 && fwrite(data, 1, (size_t)size, f) != (size_t)size)
    return mlr_error_set(err, MALLARD_INTERNAL, "write failed");
  return MALLARD_OK;
}

typedef struct sink_ctx {
  FILE *f;
} sink_ctx;

static mlr_code stream_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  sink_ctx *s = ctx;
  mlr_code rc = ipc_write_message(msg, write_fd, s->f, err);
  ipc_message_release(msg);
  return rc;
}

/* ---------------------------------------------------------------- removal on a signal */

/* Files a write under way must not leave behind when SIGINT (Ctrl-C), SIGTERM or SIGHUP ends the
 * process: a half-written output, under its own name or a hidden one. The one process-wide
 * mutable table of the CLI, since a signal handler can reach nothing else: the handler removes
 * the files listed and ends the process by the same signal (the status a shell expects). The
 * handler may run on any thread (gRPC's too) while the main thread changes the table, so a slot
 * is marked in use (atomically) only once its path is written, and its storage is never freed.
 * A signal whose disposition is not the default (ignored under nohup; blocked and read by
 * `mallard shell`) keeps it. */
#define CLEANUP_SLOTS 4
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
static char cleanup_paths[CLEANUP_SLOTS][PATH_MAX];
static atomic_int cleanup_used[CLEANUP_SLOTS];

static void cleanup_on_signal(int sig) {
  for (int i = 0; i < CLEANUP_SLOTS; i++)
    if (atomic_load(&cleanup_used[i])) (void)unlink(cleanup_paths[i]);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Lists path for removal on a signal (from the main thread); returns its slot, -1 when none is
 * free or the path is too long (the file is then left on a signal, as before). */
static int cleanup_add(const char *path) {
  size_t n = strlen(path);
  int slot = -1;
  for (int i = 0; i < CLEANUP_SLOTS && slot < 0; i++)
    if (!atomic_load(&cleanup_used[i])) slot = i;
  if (slot < 0 || n >= PATH_MAX) return -1;
  memcpy(cleanup_paths[slot], path, n + 1);
  atomic_store(&cleanup_used[slot], 1);
  for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++) {
    struct sigaction cur;
    if (sigaction(cleanup_signals[i], NULL, &cur) != 0 || cur.sa_handler != SIG_DFL) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cleanup_on_signal;
    sigfillset(&sa.sa_mask); /* one handler at a time */
    sigaction(cleanup_signals[i], &sa, NULL);
  }
  return slot;
}

/* Takes a path off the list (the write ended: it is kept, renamed or removed by the caller). */
static void cleanup_drop(int slot) {
  if (slot >= 0) atomic_store(&cleanup_used[slot], 0);
}

/* Arrow IPC: our own encoder, streaming, batch by batch. A path ending in .arrow/.feather gets
 * the IPC file format, anything else (and stdout) the stream format. */
/* Opens a new file beside path (same directory, so that a rename replaces path atomically) for
 * writing; its name goes to *tmp (caller frees). NULL (errno set) if none can be made. */
static FILE *open_beside(const char *path, char **tmp) {
  const char *slash = strrchr(path, '/');
  size_t dir = slash != NULL ? (size_t)(slash - path) + 1 : 0;
  size_t n = strlen(path) + 48;
  char *name = malloc(n);
  if (name == NULL) return NULL;
  for (int attempt = 0; attempt < 100; attempt++) {
    snprintf(name, n, "%.*s.%s.mallard-%ld-%d", (int)dir, path, path + dir, (long)getpid(),
             attempt);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      FILE *f = fdopen(fd, "wb");
      if (f == NULL) {
        close(fd);
        (void)remove(name);
        break;
      }
      *tmp = name;
      return f;
    }
    if (errno != EEXIST) break;
  }
  free(name);
  return NULL;
}

/* Arrow output to a regular file goes to a new file beside it, renamed over it once complete:
 * a failed write leaves a file that was there as it was (and none that was not). Other paths
 * (a FIFO, /dev/stdout) are written directly. */
static int write_arrow(const char *cmd, struct ArrowArrayStream *src, const char *path,
                       const cli_conn_opts *o, int64_t *rows_out) {
  mlr_error err;
  memset(&err, 0, sizeof err);
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  int exit_code = CLI_EXIT_OK;
  FILE *f = NULL;
  ipc_encoder *enc = NULL;
  ipc_file_writer *fw = NULL;
  mlr_code rc = MALLARD_OK;
  bool to_stdout = path == NULL || strcmp(path, "-") == 0;
  const char *dot = to_stdout ? NULL : strrchr(path, '.');
  bool file_format =
      dot != NULL && (strcasecmp(dot, ".arrow") == 0 || strcasecmp(dot, ".feather") == 0);
  cli_progress prog;
  /* Data written to the terminal itself would be mixed with the progress line. */
  cli_progress_start(&prog, cmd, o->quiet || (to_stdout && isatty(STDOUT_FILENO)));

  char *tmp = NULL;
  int tmp_slot = -1;
  struct stat st;
  /* Written in place: anything but a regular file or a new path (a device, a FIFO, a symlink
   * such as /dev/stdout, which a rename would replace), and a file with other hard links. */
  bool exists = !to_stdout && lstat(path, &st) == 0;
  bool special = exists && (!S_ISREG(st.st_mode) || st.st_nlink > 1);
  if (src->get_schema(src, &schema) != 0) goto src_fail;
  prog.schema = &schema;
  f = to_stdout ? stdout : special ? NULL : open_beside(path, &tmp);
  if (tmp != NULL) tmp_slot = cleanup_add(tmp);
  /* The new file takes the old one's permissions (a private file stays private). */
  if (f != NULL && tmp != NULL && exists) (void)fchmod(fileno(f), st.st_mode & 07777);
  /* No file can be made beside it (a directory we may not write to): write it in place. */
  if (f == NULL && !to_stdout) f = fopen(path, "wb");
  if (f == NULL) {
    fprintf(stderr, "mallard %s: cannot write %s: %m\n", cmd, path);
    exit_code = CLI_EXIT_ERROR;
    goto cleanup;
  }
  if (file_format) {
    rc = ipc_file_writer_new(&schema, NULL, write_fd, f, &fw, &err);
  } else {
    rc = ipc_encoder_new(&schema, NULL, &enc, &err);
    if (rc == MALLARD_OK) {
      ipc_message m;
      memset(&m, 0, sizeof m);
      rc = ipc_encoder_schema(enc, &m, &err);
      if (rc == MALLARD_OK) rc = ipc_write_message(&m, write_fd, f, &err);
      ipc_message_release(&m);
    }
  }
  if (rc != MALLARD_OK) goto fail;
  for (;;) {
    struct ArrowArray batch;
    memset(&batch, 0, sizeof batch);
    if (src->get_next(src, &batch) != 0) goto src_fail;
    if (batch.release == NULL) break;
    cli_progress_add(&prog, &batch);
    sink_ctx sc = {f};
    rc = fw != NULL ? ipc_file_writer_write(fw, &batch, &err)
                    : ipc_encoder_batch(enc, &batch, stream_sink, &sc, &err);
    if (rc != MALLARD_OK) goto fail;
  }
  rc = fw != NULL ? ipc_file_writer_finish(fw, &err) : ipc_write_eos(write_fd, f, &err);
  if (rc != MALLARD_OK) goto fail;
  if (rows_out != NULL) *rows_out = prog.rows;
  goto cleanup;
src_fail : {
  const char *e = src->get_last_error(src);
  cli_print_error(cmd, NULL, e != NULL && *e ? e : "reading the stream failed");
  exit_code = CLI_EXIT_ERROR;
  goto cleanup;
}
fail:
  exit_code = cli_fail(cmd, &err);
cleanup:
  cli_progress_done(&prog);
  ipc_encoder_free(enc);
  ipc_file_writer_free(fw);
  if (schema.release != NULL) schema.release(&schema);
  if (f != NULL && !to_stdout && fclose(f) != 0 && exit_code == CLI_EXIT_OK) {
    fprintf(stderr, "mallard %s: cannot write %s: %m\n", cmd, path);
    exit_code = CLI_EXIT_ERROR;
  }
  if (tmp != NULL && exit_code == CLI_EXIT_OK && rename(tmp, path) != 0) {
    fprintf(stderr, "mallard %s: cannot write %s: %m\n", cmd, path);
    exit_code = CLI_EXIT_ERROR;
  }
  if (tmp != NULL && exit_code != CLI_EXIT_OK) (void)remove(tmp);
  cleanup_drop(tmp_slot);
  free(tmp);
  if (f != NULL && to_stdout) fflush(stdout);
  return exit_code;
}

static int duck_fail(const char *cmd, duckdb_result *res, const char *what) {
  const char *msg = res != NULL ? duckdb_result_error(res) : NULL;
  /* An error of the stream DuckDB scans comes wrapped ("Invalid Input Error: arrow_scan:
   * get_next failed(): ..."): the stream's own message (the server's status) says the cause. */
  static const char k_wrap[] = "get_next failed(): ";
  const char *inner = msg != NULL ? strstr(msg, k_wrap) : NULL;
  if (inner != NULL && inner[sizeof k_wrap - 1] != '\0') msg = inner + sizeof k_wrap - 1;
  cli_print_error(cmd, what, msg != NULL ? msg : "unknown DuckDB error");
  return CLI_EXIT_ERROR;
}

/* s as one table cell (owned by the caller): control characters become spaces and text wider
 * than max columns is cut with an ellipsis. NULL when out of memory. */
static char *cell_text(const char *s, size_t len, size_t max) {
  char *v = malloc(len + 4);
  if (v == NULL) return NULL;
  /* Whitespace becomes a space; other control characters a '?' (C1 ones too, U+0080-U+009F,
   * which terminals read as ESC sequences), so that data can never drive the terminal or break
   * the box; so do bidi overrides and isolates (U+202E would show the rest of the row, borders
   * included, reversed on a terminal that applies bidi). */
  size_t j = 0;
  for (size_t i = 0, k; i < len;) {
    char ch = s[i];
    if (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\0') {
      v[j++] = ' ';
      i++;
    } else if ((k = cli_unsafe_char_len(s + i, len - i)) > 0) {
      v[j++] = '?';
      i += k;
    } else {
      v[j++] = s[i++];
    }
  }
  v[j] = '\0';
  if (cli_display_width(v) <= max) return v;
  size_t i = 0, w = 0;
  while (v[i] != '\0') {
    size_t cols = 0;
    size_t n = cli_utf8_next(v + i, &cols);
    if (w + cols > max - 1) break;
    w += cols;
    i += n;
  }
  memcpy(v + i, "\xE2\x80\xA6", 4); /* fits: len + 4 bytes, i <= len */
  return v;
}

static bool is_numeric_type(duckdb_type t) {
  switch (t) {
  case DUCKDB_TYPE_TINYINT:
  case DUCKDB_TYPE_SMALLINT:
  case DUCKDB_TYPE_INTEGER:
  case DUCKDB_TYPE_BIGINT:
  case DUCKDB_TYPE_UTINYINT:
  case DUCKDB_TYPE_USMALLINT:
  case DUCKDB_TYPE_UINTEGER:
  case DUCKDB_TYPE_UBIGINT:
  case DUCKDB_TYPE_HUGEINT:
  case DUCKDB_TYPE_UHUGEINT:
  case DUCKDB_TYPE_FLOAT:
  case DUCKDB_TYPE_DOUBLE:
  case DUCKDB_TYPE_DECIMAL:
    return true;
  default:
    return false;
  }
}

#define CELL_MAX 48

static const char *type_label(duckdb_result *res, idx_t c) {
  duckdb_logical_type lt = duckdb_column_logical_type(res, c);
  duckdb_type t = duckdb_get_type_id(lt);
  duckdb_destroy_logical_type(&lt);
  switch (t) {
  case DUCKDB_TYPE_BOOLEAN:
    return "boolean";
  case DUCKDB_TYPE_TINYINT:
    return "int8";
  case DUCKDB_TYPE_SMALLINT:
    return "int16";
  case DUCKDB_TYPE_INTEGER:
    return "int32";
  case DUCKDB_TYPE_BIGINT:
    return "int64";
  case DUCKDB_TYPE_HUGEINT:
    return "int128";
  case DUCKDB_TYPE_UTINYINT:
    return "uint8";
  case DUCKDB_TYPE_USMALLINT:
    return "uint16";
  case DUCKDB_TYPE_UINTEGER:
    return "uint32";
  case DUCKDB_TYPE_UBIGINT:
    return "uint64";
  case DUCKDB_TYPE_UHUGEINT:
    return "uint128";
  case DUCKDB_TYPE_FLOAT:
    return "float";
  case DUCKDB_TYPE_DOUBLE:
    return "double";
  case DUCKDB_TYPE_DECIMAL:
    return "decimal";
  case DUCKDB_TYPE_VARCHAR:
    return "varchar";
  case DUCKDB_TYPE_BLOB:
    return "blob";
  case DUCKDB_TYPE_DATE:
    return "date";
  case DUCKDB_TYPE_TIME:
    return "time";
  case DUCKDB_TYPE_TIMESTAMP:
    return "timestamp";
  case DUCKDB_TYPE_TIMESTAMP_TZ:
    return "timestamptz";
  case DUCKDB_TYPE_TIMESTAMP_S:
    return "timestamp_s";
  case DUCKDB_TYPE_TIMESTAMP_MS:
    return "timestamp_ms";
  case DUCKDB_TYPE_TIMESTAMP_NS:
    return "timestamp_ns";
  case DUCKDB_TYPE_INTERVAL:
    return "interval";
  case DUCKDB_TYPE_UUID:
    return "uuid";
  case DUCKDB_TYPE_LIST:
    return "list";
  case DUCKDB_TYPE_ARRAY:
    return "array";
  case DUCKDB_TYPE_STRUCT:
    return "struct";
  case DUCKDB_TYPE_MAP:
    return "map";
  case DUCKDB_TYPE_UNION:
    return "union";
  case DUCKDB_TYPE_ENUM:
    return "enum";
  default:
    return "";
  }
}

/* EXPLAIN's answer (explain_key, explain_value): the plan text as DuckDB draws it, line by line,
 * rather than squeezed into one table cell. Control characters other than newlines become '?'
 * (the text names the server's tables, which must not drive the terminal). */
static int print_plan(const char *cmd, duckdb_connection con, FILE *out) {
  duckdb_result res;
  if (duckdb_query(con, "SELECT explain_value FROM mallard_result", &res) == DuckDBError) {
    int rc = duck_fail(cmd, &res, "reading the plan");
    duckdb_destroy_result(&res);
    return rc;
  }
  for (idx_t r = 0; r < duckdb_row_count(&res); r++) {
    char *v = duckdb_value_varchar(&res, 0, r);
    if (v == NULL) continue;
    for (char *q = v; *q != '\0'; q++)
      if ((unsigned char)*q < 0x20 && *q != '\n') *q = '?';
    fputs(v, out);
    if (*v != '\0' && v[strlen(v) - 1] != '\n') fputc('\n', out);
    duckdb_free(v);
  }
  duckdb_destroy_result(&res);
  return CLI_EXIT_OK;
}

/* A readable table of the first max_rows rows (the whole result is loaded into the embedded
 * DuckDB to count it; this format is for people, not for data movement). */
static int print_table(const char *cmd, duckdb_connection con, FILE *out, int64_t max_rows,
                       int64_t *rows_out) {
  duckdb_result res;
  int exit_code = CLI_EXIT_OK;
  if (duckdb_query(con, "CREATE TEMP TABLE mallard_result AS SELECT * FROM mallard_src", &res) ==
      DuckDBError) {
    exit_code = duck_fail(cmd, &res, "reading the result");
    duckdb_destroy_result(&res);
    return exit_code;
  }
  duckdb_destroy_result(&res);
  duckdb_result cnt;
  if (duckdb_query(con, "SELECT count(*) FROM mallard_result", &cnt) == DuckDBError) {
    exit_code = duck_fail(cmd, &cnt, "counting the result");
    duckdb_destroy_result(&cnt);
    return exit_code;
  }
  int64_t total = duckdb_value_int64(&cnt, 0, 0);
  duckdb_destroy_result(&cnt);
  if (rows_out != NULL) *rows_out = total;

  /* The column types (for the header) from the table, the cells as DuckDB's own text for
   * every type, nested ones included. */
  if (duckdb_query(con, "SELECT * FROM mallard_result LIMIT 0", &res) == DuckDBError) {
    exit_code = duck_fail(cmd, &res, "reading the result");
    duckdb_destroy_result(&res);
    return exit_code;
  }
  if (duckdb_column_count(&res) == 2 && strcmp(duckdb_column_name(&res, 0), "explain_key") == 0 &&
      strcmp(duckdb_column_name(&res, 1), "explain_value") == 0) {
    duckdb_destroy_result(&res);
    return print_plan(cmd, con, out);
  }
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM mallard_result LIMIT %lld",
           (long long)max_rows);
  duckdb_result text;
  if (duckdb_query(con, sql, &text) == DuckDBError) {
    exit_code = duck_fail(cmd, &text, "reading the result");
    duckdb_destroy_result(&text);
    duckdb_destroy_result(&res);
    return exit_code;
  }
  idx_t ncol = duckdb_column_count(&res);
  idx_t nrow = duckdb_row_count(&text);
  size_t *w = calloc(ncol + 1, sizeof *w);
  char **cells = calloc((nrow + 1) * (ncol + 1), sizeof *cells);
  char **names = calloc(ncol + 1, sizeof *names);
  if (w == NULL || cells == NULL || names == NULL) goto oom;
  for (idx_t c = 0; c < ncol; c++) {
    const char *name = duckdb_column_name(&res, c);
    if ((names[c] = cell_text(name, strlen(name), (size_t)1 << 20)) == NULL) goto oom;
    w[c] = cli_display_width(names[c]);
    if (strlen(type_label(&res, c)) > w[c]) w[c] = strlen(type_label(&res, c));
  }
  idx_t got = 0;
  for (duckdb_data_chunk chunk; (chunk = duckdb_fetch_chunk(text)) != NULL;) {
    idx_t n = duckdb_data_chunk_get_size(chunk);
    for (idx_t c = 0; c < ncol && got + n <= nrow; c++) {
      duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, c);
      duckdb_string_t *str = duckdb_vector_get_data(vec);
      uint64_t *valid = duckdb_vector_get_validity(vec);
      for (idx_t k = 0; k < n; k++) {
        char **cell = &cells[(got + k) * ncol + c];
        if (valid != NULL && !duckdb_validity_row_is_valid(valid, k))
          *cell = strdup("NULL");
        else
          *cell =
              cell_text(duckdb_string_t_data(&str[k]), duckdb_string_t_length(str[k]), CELL_MAX);
        if (*cell == NULL) {
          duckdb_destroy_data_chunk(&chunk);
          goto oom;
        }
        if (cli_display_width(*cell) > w[c]) w[c] = cli_display_width(*cell);
      }
    }
    got += n;
    duckdb_destroy_data_chunk(&chunk);
  }
  if (got < nrow) nrow = got;
  /* ┌─┬─┐ style, as DuckDB's own shell. */
  fputs("\xE2\x94\x8C", out);
  for (idx_t c = 0; c < ncol; c++) {
    for (size_t i = 0; i < w[c] + 2; i++) fputs("\xE2\x94\x80", out);
    fputs(c + 1 < ncol ? "\xE2\x94\xAC" : "\xE2\x94\x90", out);
  }
  fputs("\n", out);
  fputs("\xE2\x94\x82", out);
  for (idx_t c = 0; c < ncol; c++) {
    fputc(' ', out);
    cli_print_padded(out, names[c], w[c], false);
    fputs(" \xE2\x94\x82", out);
  }
  fputs("\n\xE2\x94\x82", out);
  for (idx_t c = 0; c < ncol; c++) {
    fputc(' ', out);
    const char *tname = type_label(&res, c);
    cli_print_padded(out, tname, w[c], false);
    fputs(" \xE2\x94\x82", out);
  }
  fputs("\n\xE2\x94\x9C", out);
  for (idx_t c = 0; c < ncol; c++) {
    for (size_t i = 0; i < w[c] + 2; i++) fputs("\xE2\x94\x80", out);
    fputs(c + 1 < ncol ? "\xE2\x94\xBC" : "\xE2\x94\xA4", out);
  }
  fputs("\n", out);
  for (idx_t r = 0; r < nrow; r++) {
    fputs("\xE2\x94\x82", out);
    for (idx_t c = 0; c < ncol; c++) {
      duckdb_logical_type lt = duckdb_column_logical_type(&res, c);
      bool right = is_numeric_type(duckdb_get_type_id(lt));
      duckdb_destroy_logical_type(&lt);
      fputc(' ', out);
      cli_print_padded(out, cells[r * ncol + c] ? cells[r * ncol + c] : "", w[c], right);
      fputs(" \xE2\x94\x82", out);
    }
    fputs("\n", out);
  }
  fputs("\xE2\x94\x94", out);
  for (idx_t c = 0; c < ncol; c++) {
    for (size_t i = 0; i < w[c] + 2; i++) fputs("\xE2\x94\x80", out);
    fputs(c + 1 < ncol ? "\xE2\x94\xB4" : "\xE2\x94\x98", out);
  }
  fputs("\n", out);
  if ((int64_t)nrow < total)
    fprintf(out, "%lld rows (%lld shown)\n", (long long)total, (long long)nrow);
  else
    fprintf(out, "%lld row%s\n", (long long)total, total == 1 ? "" : "s");
  goto done;
oom:
  fprintf(stderr, "mallard %s: out of memory\n", cmd);
  exit_code = CLI_EXIT_ERROR;
done:
  if (cells != NULL)
    for (idx_t i = 0; i < nrow * ncol; i++) free(cells[i]);
  if (names != NULL)
    for (idx_t c = 0; c < ncol; c++) free(names[c]);
  free(names);
  free(cells);
  free(w);
  duckdb_destroy_result(&text);
  duckdb_destroy_result(&res);
  return exit_code;
}

/* Copies the pipe DuckDB writes into to stdout until DuckDB closes it. */
typedef struct stdout_copy {
  int fd;
  char last; /* the last byte copied (0: none) */
} stdout_copy;

static void *copy_to_stdout(void *arg) {
  stdout_copy *c = arg;
  char buf[65536];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    c->last = buf[n - 1];
    if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) break;
  }
  fflush(stdout);
  return NULL;
}

int cli_write_stream(const char *cmd, mallard_reader **reader, cli_format format, const char *path,
                     int64_t max_rows, const cli_conn_opts *o, int64_t *rows_out) {
  /* Wait for the schema first so that a server error (bad SQL) is reported as such. */
  mallard_error err;
  memset(&err, 0, sizeof err);
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  struct ArrowArrayStream src;
  memset(&src, 0, sizeof src);
  mallard_code rc = mallard_reader_schema(*reader, &schema, &err);
  if (rc == MALLARD_OK) {
    schema.release(&schema);
    rc = mallard_reader_export(reader, &src, &err);
  }
  if (rc != MALLARD_OK) {
    mallard_reader_close(reader, NULL);
    return cli_fail(cmd, &err);
  }
  int exit_code = cli_write_arrow_stream(cmd, &src, format, path, max_rows, o, rows_out);
  src.release(&src);
  return exit_code;
}

static int write_stream(const char *cmd, struct ArrowArrayStream *src, cli_format format,
                        const char *path, int64_t max_rows, const cli_conn_opts *o,
                        int64_t *rows_out) {
  if (format == CLI_FORMAT_ARROW) return write_arrow(cmd, src, path, o, rows_out);
  bool to_stdout = path == NULL || strcmp(path, "-") == 0;
  if (format == CLI_FORMAT_PARQUET && to_stdout)
    return cli_usage_error(cmd, "parquet output needs a file: add -o FILE.parquet");
  int exit_code = CLI_EXIT_OK;
  duckdb_database db = NULL;
  duckdb_connection con = NULL;
  struct ArrowArrayStream counted;
  memset(&counted, 0, sizeof counted);
  cli_progress prog;
  cli_progress_start(
      &prog, cmd, o->quiet || format == CLI_FORMAT_TABLE || (to_stdout && isatty(STDOUT_FILENO)));
  if (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &con) == DuckDBError) {
    fprintf(stderr, "mallard %s: cannot start the embedded DuckDB\n", cmd);
    exit_code = CLI_EXIT_ERROR;
    goto cleanup;
  }
  if (counted_wrap(src, &prog, &counted) != 0) {
    fprintf(stderr, "mallard %s: out of memory\n", cmd);
    exit_code = CLI_EXIT_ERROR;
    goto cleanup;
  }
  if (format == CLI_FORMAT_CSV || format == CLI_FORMAT_JSON) {
    /* With two threads DuckDB's COPY to CSV or JSON keeps what its reading thread runs ahead
     * of the writer, in memory, to keep the rows in order: 456 MB for 60M integer rows to CSV
     * and 519 MB for 30M to JSON, growing with the result. With one it stays flat (94 and
     * 106 MB), ~30% slower; Parquet (its own row groups) keeps both threads. */
    duckdb_result r1;
    if (duckdb_query(con, "SET threads = 1", &r1) == DuckDBError) {
      exit_code = duck_fail(cmd, &r1, "setting up the embedded DuckDB");
      duckdb_destroy_result(&r1);
      goto cleanup;
    }
    duckdb_destroy_result(&r1);
  }
  if (duckdb_arrow_scan(con, "mallard_src", (duckdb_arrow_stream)&counted) == DuckDBError) {
    const char *e = counted.get_last_error(&counted);
    cli_print_error(cmd, "cannot read the stream", e ? e : "DuckDB refused it");
    exit_code = CLI_EXIT_ERROR;
    goto cleanup;
  }
  if (format == CLI_FORMAT_TABLE) {
    FILE *out = to_stdout ? stdout : fopen(path, "w");
    if (out == NULL) {
      fprintf(stderr, "mallard %s: cannot write %s: %m\n", cmd, path);
      exit_code = CLI_EXIT_ERROR;
      goto cleanup;
    }
    exit_code = print_table(cmd, con, out, max_rows, rows_out);
    if (!to_stdout) fclose(out);
    goto cleanup;
  }
  /* DuckDB opens the target path itself. For stdout it gets a pipe that a thread copies to our
   * stdout: opening /dev/stdout would truncate a file that stdout appends to. */
  int pipefd[2] = {-1, -1};
  pthread_t copier;
  bool copying = false;
  stdout_copy copy = {.fd = -1, .last = 0};
  char fdpath[64];
  if (to_stdout) {
    fflush(stdout);
    if (pipe(pipefd) != 0) {
      fprintf(stderr, "mallard %s: pipe: %m\n", cmd);
      exit_code = CLI_EXIT_ERROR;
      goto cleanup;
    }
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", pipefd[1]);
    copy.fd = pipefd[0];
    copying = pthread_create(&copier, NULL, copy_to_stdout, &copy) == 0;
  }
  char *target = db_quote_literal(to_stdout ? fdpath : path);
  const char *fmt = format == CLI_FORMAT_CSV    ? "FORMAT csv, HEADER true"
                    : format == CLI_FORMAT_JSON ? "FORMAT json"
                                                : "FORMAT parquet";
  size_t n = target != NULL ? strlen(target) + 128 : 0;
  char *sql = target != NULL ? malloc(n) : NULL;
  duckdb_result res;
  memset(&res, 0, sizeof res);
  if (sql == NULL) {
    fprintf(stderr, "mallard %s: out of memory\n", cmd);
    exit_code = CLI_EXIT_ERROR;
  } else {
    snprintf(sql, n, "COPY (SELECT * FROM mallard_src) TO %s (%s)", target, fmt);
  }
  free(target);
  if (sql == NULL) {
    /* nothing ran */
  } else if (duckdb_query(con, sql, &res) == DuckDBError) {
    const char *e = counted.get_last_error(&counted);
    if (e != NULL && *e != '\0')
      cli_print_error(cmd, NULL, e);
    else
      duck_fail(cmd, &res, "writing the output");
    exit_code = CLI_EXIT_ERROR;
  } else if (rows_out != NULL) {
    *rows_out = duckdb_value_int64(&res, 0, 0);
  }
  duckdb_destroy_result(&res);
  free(sql);
  if (to_stdout) {
    close(pipefd[1]);
    if (copying) pthread_join(copier, NULL);
    close(pipefd[0]);
    /* Output cut by an error ends mid-line: end the line, so that what follows (the next
     * result of a script) does not run into it. */
    if (exit_code != CLI_EXIT_OK && copy.last != 0 && copy.last != '\n') {
      fputc('\n', stdout);
      fflush(stdout);
    }
  }
cleanup:
  cli_progress_done(&prog);
  if (con != NULL) duckdb_disconnect(&con);
  if (db != NULL) duckdb_close(&db);
  if (counted.release != NULL) counted.release(&counted);
  return exit_code;
}

/* A file that a failed or interrupted write leaves behind (path or DuckDB's "tmp_" file beside
 * it) is removed when it was not there before: no empty or half-written output after an error
 * or Ctrl-C. A file that existed is left as the writer left it (DuckDB keeps it intact: it
 * writes tmp_ then renames). */
int cli_write_arrow_stream(const char *cmd, struct ArrowArrayStream *src, cli_format format,
                           const char *path, int64_t max_rows, const cli_conn_opts *o,
                           int64_t *rows_out) {
  bool to_file = path != NULL && strcmp(path, "-") != 0;
  char *tmp = NULL;
  bool existed = false, tmp_existed = false;
  if (to_file) {
    existed = access(path, F_OK) == 0;
    const char *slash = strrchr(path, '/');
    size_t dir = slash != NULL ? (size_t)(slash - path) + 1 : 0;
    tmp = malloc(strlen(path) + 5);
    if (tmp != NULL) {
      memcpy(tmp, path, dir);
      sprintf(tmp + dir, "tmp_%s", path + dir);
      tmp_existed = access(tmp, F_OK) == 0;
    }
  }
  /* DuckDB writes path (or tmp_ beside it, then renames): neither is left by a signal unless
   * it was there before. (Arrow output has its own file beside path: write_arrow.) */
  int path_slot = to_file && !existed && format != CLI_FORMAT_ARROW ? cleanup_add(path) : -1;
  int tmp_slot = tmp != NULL && !tmp_existed && format != CLI_FORMAT_ARROW ? cleanup_add(tmp) : -1;
  int exit_code = write_stream(cmd, src, format, path, max_rows, o, rows_out);
  cleanup_drop(path_slot);
  cleanup_drop(tmp_slot);
  if (exit_code != CLI_EXIT_OK && to_file) {
    if (!existed) (void)remove(path);
    if (tmp != NULL && !tmp_existed) (void)remove(tmp);
  }
  free(tmp);
  return exit_code;
}

/* ---------------------------------------------------------------- reading local files */

typedef struct local_db_stream {
  db_database *db;
  db_conn *conn;
  db_query *q;
  mlr_error err;
} local_db_stream;

static int ldb_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  local_db_stream *l = s->private_data;
  return db_query_schema(l->q, out, &l->err) == MALLARD_OK ? 0 : EIO;
}

static int ldb_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  local_db_stream *l = s->private_data;
  bool eof = false;
  if (db_query_next(l->q, out, &eof, &l->err) != MALLARD_OK) return EIO;
  if (eof) out->release = NULL;
  return 0;
}

static const char *ldb_last_error(struct ArrowArrayStream *s) {
  local_db_stream *l = s->private_data;
  return l->err.message;
}

static void ldb_release(struct ArrowArrayStream *s) {
  local_db_stream *l = s->private_data;
  db_query_free(l->q);
  db_disconnect(l->conn);
  db_close(l->db);
  free(l);
  s->release = NULL;
}

typedef struct local_ipc_stream {
  ipc_stream_reader *sr;
  ipc_file_reader *fr;
  arrowc_buf *image;
  FILE *f;
  int64_t next;
  mlr_error err;
} local_ipc_stream;

static mlr_code read_file(void *ctx, void *data, int64_t size, int64_t *got, mlr_error *err) {
  FILE *f = ctx;
  size_t n = fread(data, 1, (size_t)size, f);
  if (n == 0 && ferror(f)) return mlr_error_set(err, MALLARD_INTERNAL, "read failed");
  *got = (int64_t)n;
  return MALLARD_OK;
}

static int lipc_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  local_ipc_stream *l = s->private_data;
  mlr_code rc = l->fr != NULL ? ipc_file_reader_schema(l->fr, out, &l->err)
                              : ipc_stream_reader_schema(l->sr, out, &l->err);
  return rc == MALLARD_OK ? 0 : EIO;
}

static int lipc_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  local_ipc_stream *l = s->private_data;
  if (l->fr != NULL) {
    if (l->next >= ipc_file_reader_num_batches(l->fr)) {
      out->release = NULL;
      return 0;
    }
    return ipc_file_reader_batch(l->fr, l->next++, out, &l->err) == MALLARD_OK ? 0 : EIO;
  }
  bool eof = false;
  if (ipc_stream_reader_next(l->sr, out, &eof, &l->err) != MALLARD_OK) return EIO;
  if (eof) out->release = NULL;
  return 0;
}

static const char *lipc_last_error(struct ArrowArrayStream *s) {
  local_ipc_stream *l = s->private_data;
  return l->err.message;
}

static void lipc_release(struct ArrowArrayStream *s) {
  local_ipc_stream *l = s->private_data;
  ipc_stream_reader_free(l->sr);
  ipc_file_reader_free(l->fr);
  arrowc_buf_unref(l->image);
  if (l->f != NULL) fclose(l->f);
  free(l);
  s->release = NULL;
}

typedef struct mapping {
  void *addr;
  size_t len;
} mapping;

static void unmap_image(void *p) {
  mapping *m = p;
  munmap(m->addr, m->len);
  free(m);
}

int cli_map_file(const char *path, arrowc_buf **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return ENODEV;
  }
  size_t len = (size_t)st.st_size;
  void *addr = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED) return e;
  (void)madvise(addr, len, MADV_SEQUENTIAL); /* read ahead, drop pages behind: advice only */
  mapping *m = malloc(sizeof *m);
  if (m == NULL) {
    munmap(addr, len);
    return ENOMEM;
  }
  *m = (mapping){addr, len};
  *out = arrowc_buf_wrap(addr, (int64_t)len, unmap_image, m); /* unmaps itself on failure */
  return *out != NULL ? 0 : ENOMEM;
}

static int open_arrow_file(const char *cmd, const char *path, struct ArrowArrayStream *out) {
  local_ipc_stream *l = calloc(1, sizeof *l);
  if (l == NULL) return CLI_EXIT_ERROR;
  l->f = fopen(path, "rb");
  if (l->f == NULL) {
    fprintf(stderr, "mallard %s: cannot read %s: %m\n", cmd, path);
    free(l);
    return CLI_EXIT_ERROR;
  }
  char magic[6] = {0};
  size_t got = fread(magic, 1, 6, l->f);
  mlr_code rc;
  if (got == 6 && memcmp(magic, "ARROW1", 6) == 0) {
    /* The IPC file format: the footer at the end indexes the whole image, which is mapped
     * (batches view it without a copy, and what was sent can leave memory again). Only a
     * regular file can be: a pipe cannot be read from its end. */
    int e = cli_map_file(path, &l->image);
    if (e != 0) {
      fprintf(stderr, "mallard %s: cannot read %s: %s\n", cmd, path,
              e == ENODEV ? "an Arrow IPC file must be a regular file (send the stream format "
                            "through a pipe)"
                          : strerror(e));
      lipc_release(&(struct ArrowArrayStream){.private_data = l});
      return CLI_EXIT_ERROR;
    }
    rc = l->image != NULL ? ipc_file_reader_new(l->image, NULL, &l->fr, &l->err) : MALLARD_INTERNAL;
  } else {
    fseek(l->f, 0, SEEK_SET);
    rc = ipc_stream_reader_new(read_file, l->f, NULL, &l->sr, &l->err);
  }
  if (rc != MALLARD_OK) {
    cli_print_error(cmd, path, l->err.message);
    lipc_release(&(struct ArrowArrayStream){.private_data = l});
    return CLI_EXIT_ERROR;
  }
  out->get_schema = lipc_get_schema;
  out->get_next = lipc_get_next;
  out->get_last_error = lipc_last_error;
  out->release = lipc_release;
  out->private_data = l;
  return CLI_EXIT_OK;
}

char *cli_local_source_sql(const char *path, int scale, int64_t limit, const cli_csv_options *csv) {
  cli_format f = cli_format_from_path(path);
  const char *reader = f == CLI_FORMAT_PARQUET ? "read_parquet"
                       : f == CLI_FORMAT_CSV   ? "read_csv_auto"
                       : f == CLI_FORMAT_JSON  ? "read_json_auto"
                                               : NULL;
  if (reader == NULL || scale < 1 || scale > 1000) return NULL;
  char *lit = db_quote_literal(path);
  if (lit == NULL) return NULL;
  mlr_strbuf b = {0};
  mlr_strbuf_append(&b, "SELECT * FROM ", 14);
  mlr_strbuf_append_str(&b, reader);
  /* Scaling lists the file `scale` times: DuckDB reads them in order, streaming. */
  mlr_strbuf_append(&b, "([", 2);
  for (int k = 0; k < scale; k++) {
    if (k > 0) mlr_strbuf_append(&b, ", ", 2);
    mlr_strbuf_append_str(&b, lit);
  }
  mlr_strbuf_append(&b, "]", 1);
  free(lit);
  if (f == CLI_FORMAT_CSV && csv != NULL && csv->delimiter != NULL) {
    char *d = db_quote_literal(csv->delimiter);
    if (d == NULL) {
      free(mlr_strbuf_take(&b, NULL));
      return NULL;
    }
    mlr_strbuf_append_str(&b, ", delim = ");
    mlr_strbuf_append_str(&b, d);
    free(d);
  }
  if (f == CLI_FORMAT_CSV && csv != NULL && csv->header >= 0)
    mlr_strbuf_append_str(&b, csv->header ? ", header = true" : ", header = false");
  mlr_strbuf_append(&b, ")", 1);
  if (limit >= 0) {
    char lim[48];
    int n = snprintf(lim, sizeof lim, " LIMIT %lld", (long long)limit);
    mlr_strbuf_append(&b, lim, (size_t)n);
  }
  return mlr_strbuf_take(&b, NULL);
}

int cli_open_local_sql(const char *cmd, const char *sql, struct ArrowArrayStream *out) {
  local_db_stream *l = calloc(1, sizeof *l);
  if (l == NULL) return CLI_EXIT_ERROR;
  db_options dopts = {0};
  mlr_code rc = db_open(&dopts, &l->db, &l->err);
  if (rc == MALLARD_OK) rc = db_connect(l->db, &l->conn, &l->err);
  if (rc == MALLARD_OK) rc = db_query_start(l->conn, sql, NULL, &l->q, &l->err);
  if (rc != MALLARD_OK) {
    fprintf(stderr, "mallard %s: %s\n", cmd, cli_one_line(l->err.message));
    db_query_free(l->q);
    db_disconnect(l->conn);
    db_close(l->db);
    free(l);
    return CLI_EXIT_ERROR;
  }
  out->get_schema = ldb_get_schema;
  out->get_next = ldb_get_next;
  out->get_last_error = ldb_last_error;
  out->release = ldb_release;
  out->private_data = l;
  return CLI_EXIT_OK;
}

int cli_open_local_file(const char *cmd, const char *path, const cli_csv_options *csv,
                        struct ArrowArrayStream *out) {
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "mallard %s: cannot read %s: %m\n", cmd, path);
    return CLI_EXIT_ERROR;
  }
  cli_format f = cli_format_from_path(path);
  if (f == CLI_FORMAT_ARROW) return open_arrow_file(cmd, path, out);
  char *sql = cli_local_source_sql(path, 1, -1, csv);
  if (sql == NULL) {
    fprintf(stderr,
            "mallard %s: cannot tell the format of %s: use a .parquet, .csv, .json/.ndjson or "
            ".arrow/.arrows file\n",
            cmd, path);
    return CLI_EXIT_USAGE;
  }
  int rc = cli_open_local_sql(cmd, sql, out);
  free(sql);
  return rc;
}
