/* mallard-client-driver: drives Mallard's C Flight client (include/mallard/client.h) from the
 * command line so that pytest can check it against a pyarrow Flight server. Events are JSON
 * lines on stdout; streams received are written as an Arrow IPC stream to --out. */
#include "mallard/client.h"

#include "ipc/ipc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEADERS 32

typedef struct driver {
  mallard_client_options copts;
  mallard_header headers[MAX_HEADERS];
  size_t n_headers;
  int64_t timeout_ms;
  const char *basic;
  const char *token;
  const char *out_path;
  FILE *out;
  ipc_encoder *out_enc;
  bool show_headers;
  bool export_stream;        /* get: read through the ArrowArrayStream export */
  bool no_input;             /* put/exchange: send no schema and no batches from stdin */
  bool with_metadata;        /* put/exchange: app_metadata "0", "1", ... on each batch */
  bool results_each;         /* put: read a PutResult after each batch */
  bool interleave;           /* exchange: read one answer after each batch */
  long cancel_after;         /* stop the stream with a cancel after N batches (-1 = never) */
  long cancel_after_ms;      /* get: another thread cancels after N ms (-1 = never) */
  long close_after;          /* put: close the writer early after N batches */
  const char *metadata_only; /* put/exchange: a metadata-only message sent first */
  mallard_metadata resp_headers, resp_trailers;
} driver;

/* ------------------------------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------------------------- */

static void json_str(FILE *f, const void *data, size_t len) {
  const unsigned char *p = data;
  fputc('"', f);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = p[i];
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch == '\n')
      fputs("\\n", f);
    else if (ch < 0x20 || ch >= 0x7f)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static void json_cstr(FILE *f, const char *s) {
  json_str(f, s, s != NULL ? strlen(s) : 0);
}

static void print_metadata(const char *what, const mallard_metadata *md) {
  printf("{\"%s\": {", what);
  for (size_t i = 0; i < md->n_entries; i++) {
    if (i > 0) printf(", ");
    json_cstr(stdout, md->entries[i].name);
    printf(": ");
    json_str(stdout, md->entries[i].value, md->entries[i].value_len);
  }
  printf("}}\n");
}

static int finish(driver *d, mallard_code rc, const mallard_error *err) {
  if (d->show_headers) {
    print_metadata("headers", &d->resp_headers);
    print_metadata("trailers", &d->resp_trailers);
  }
  mallard_metadata_release(&d->resp_headers);
  mallard_metadata_release(&d->resp_trailers);
  printf("{\"status\": \"%s\", \"code\": %d, \"message\": ", mallard_code_name(rc), (int)rc);
  json_cstr(stdout, rc == MALLARD_OK ? "" : err->message);
  printf("}\n");
  fflush(stdout);
  return rc == MALLARD_OK ? 0 : 1;
}

static void print_schema_fields(const struct ArrowSchema *schema) {
  printf("[");
  for (int64_t i = 0; schema->release != NULL && i < schema->n_children; i++) {
    const struct ArrowSchema *c = schema->children[i];
    if (i > 0) printf(", ");
    printf("{\"name\": ");
    json_cstr(stdout, c->name);
    printf(", \"format\": ");
    json_cstr(stdout, c->format);
    printf(", \"nullable\": %s}", (c->flags & ARROW_FLAG_NULLABLE) ? "true" : "false");
  }
  printf("]");
}

static void print_descriptor(const mallard_descriptor *desc) {
  printf("{\"type\": \"%s\", \"cmd\": ",
         desc->type == MALLARD_DESCRIPTOR_PATH
             ? "path"
             : (desc->type == MALLARD_DESCRIPTOR_CMD ? "cmd" : "unknown"));
  json_str(stdout, desc->cmd.data, desc->cmd.len);
  printf(", \"path\": [");
  for (size_t i = 0; i < desc->n_path; i++) {
    if (i > 0) printf(", ");
    json_cstr(stdout, desc->path[i]);
  }
  printf("]}");
}

static void print_info_body(const mallard_flight_info *info) {
  printf("{\"descriptor\": ");
  print_descriptor(&info->descriptor);
  printf(", \"schema\": ");
  if (info->schema.release != NULL)
    print_schema_fields(&info->schema);
  else
    printf("null");
  printf(", \"total_records\": %" PRId64 ", \"total_bytes\": %" PRId64 ", \"ordered\": %s",
         info->total_records, info->total_bytes, info->ordered ? "true" : "false");
  printf(", \"app_metadata\": ");
  json_str(stdout, info->app_metadata.data, info->app_metadata.len);
  printf(", \"endpoints\": [");
  for (size_t i = 0; i < info->n_endpoints; i++) {
    const mallard_endpoint *e = &info->endpoints[i];
    if (i > 0) printf(", ");
    printf("{\"ticket\": ");
    json_str(stdout, e->ticket.data, e->ticket.len);
    printf(", \"locations\": [");
    for (size_t j = 0; j < e->n_locations; j++) {
      if (j > 0) printf(", ");
      json_cstr(stdout, e->locations[j]);
    }
    printf("], \"app_metadata\": ");
    json_str(stdout, e->app_metadata.data, e->app_metadata.len);
    if (e->expiration_time.set) {
      printf(", \"expiration_time\": [%" PRId64 ", %d]", e->expiration_time.seconds,
             (int)e->expiration_time.nanos);
    }
    printf("}");
  }
  printf("]}");
}

/* --out: the received stream as an Arrow IPC stream file. */
static mallard_code out_write(void *ctx, const void *data, int64_t size, mallard_error *err) {
  FILE *f = ctx;
  if (size > 0 && fwrite(data, 1, (size_t)size, f) != (size_t)size) {
    err->code = MALLARD_INTERNAL;
    snprintf(err->message, sizeof err->message, "write failed: %s", strerror(errno));
    return MALLARD_INTERNAL;
  }
  return MALLARD_OK;
}

static mallard_code out_sink(void *ctx, ipc_message *msg, mallard_error *err) {
  mallard_code rc = ipc_write_message(msg, out_write, ctx, err);
  ipc_message_release(msg);
  return rc;
}

static mallard_code out_begin(driver *d, const struct ArrowSchema *schema, mallard_error *err) {
  if (d->out == NULL || d->out_enc != NULL) return MALLARD_OK;
  mallard_code rc = ipc_encoder_new(schema, NULL, &d->out_enc, err);
  ipc_message msg;
  memset(&msg, 0, sizeof msg);
  if (rc == MALLARD_OK) rc = ipc_encoder_schema(d->out_enc, &msg, err);
  if (rc == MALLARD_OK) rc = out_sink(d->out, &msg, err);
  return rc;
}

static mallard_code out_batch(driver *d, struct ArrowArray *batch, mallard_error *err) {
  if (d->out_enc == NULL) {
    batch->release(batch);
    return MALLARD_OK;
  }
  return ipc_encoder_batch(d->out_enc, batch, out_sink, d->out, err);
}

static void out_end(driver *d) {
  if (d->out == NULL) return;
  mallard_error err;
  if (d->out_enc != NULL) ipc_write_eos(out_write, d->out, &err);
  ipc_encoder_free(d->out_enc);
  d->out_enc = NULL;
  fclose(d->out);
  d->out = NULL;
}

/* Prints one received item; batches go to --out. */
static mallard_code emit_item(driver *d, long index, struct ArrowArray *batch,
                              const mallard_bytes *md, mallard_error *err) {
  if (batch->release != NULL) {
    printf("{\"batch\": %ld, \"rows\": %" PRId64 ", \"app_metadata\": ", index, batch->length);
    json_str(stdout, md->data, md->len);
    printf("}\n");
    return out_batch(d, batch, err);
  }
  printf("{\"metadata\": ");
  json_str(stdout, md->data, md->len);
  printf("}\n");
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Input (stdin as an Arrow IPC stream)
 * ---------------------------------------------------------------------------------------- */

static mallard_code stdin_read(void *ctx, void *data, int64_t size, int64_t *got,
                               mallard_error *err) {
  (void)ctx;
  (void)err;
  size_t n = fread(data, 1, (size_t)size, stdin);
  *got = (int64_t)n;
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Commands
 * ---------------------------------------------------------------------------------------- */

static mallard_code parse_descriptor(int argc, char **argv, mallard_descriptor *desc,
                                     mallard_error *err) {
  if (argc >= 2 && strcmp(argv[0], "cmd") == 0) {
    *desc = mallard_descriptor_command(argv[1], 0);
    return MALLARD_OK;
  }
  if (argc >= 2 && strcmp(argv[0], "path") == 0) {
    *desc = mallard_descriptor_path((const char *const *)&argv[1], (size_t)(argc - 1));
    return MALLARD_OK;
  }
  err->code = MALLARD_INVALID_ARGUMENT;
  snprintf(err->message, sizeof err->message, "expected a descriptor: cmd TEXT | path P...");
  return err->code;
}

/* get --export: the same stream consumed as an ArrowArrayStream (as DuckDB would). */
static mallard_code get_exported(driver *d, mallard_reader **r, mallard_error *err) {
  struct ArrowArrayStream st;
  mallard_code rc = mallard_reader_export(r, &st, err);
  if (rc != MALLARD_OK) return rc;
  struct ArrowSchema schema;
  int e = st.get_schema(&st, &schema);
  if (e == 0) {
    printf("{\"schema\": ");
    print_schema_fields(&schema);
    printf("}\n");
    rc = out_begin(d, &schema, err);
    schema.release(&schema);
  }
  for (long n = 0; e == 0 && rc == MALLARD_OK; n++) {
    struct ArrowArray batch;
    e = st.get_next(&st, &batch);
    if (e != 0 || batch.release == NULL) break;
    mallard_bytes none = {0};
    rc = emit_item(d, n, &batch, &none, err);
    if (batch.release != NULL) batch.release(&batch);
  }
  if (e != 0) {
    /* The stream interface carries only errno and a message; the code is in the message's
     * source, so report UNKNOWN with the message. */
    err->code = MALLARD_UNKNOWN;
    snprintf(err->message, sizeof err->message, "%s",
             st.get_last_error(&st) ? st.get_last_error(&st) : "stream error");
    rc = MALLARD_UNKNOWN;
  }
  st.release(&st);
  return rc;
}

/* --cancel-after-ms: what a CLI's signal watcher does while the main thread is blocked. */
typedef struct canceller {
  mallard_reader *reader;
  long ms;
} canceller;

static void *cancel_later(void *arg) {
  canceller *k = arg;
  usleep((useconds_t)k->ms * 1000);
  mallard_reader_cancel(k->reader);
  return NULL;
}

static mallard_code cmd_get(driver *d, mallard_client *c, const mallard_call_options *o,
                            const char *ticket, mallard_error *err) {
  mallard_reader *r = NULL;
  mallard_code rc = mallard_client_do_get(c, o, ticket, strlen(ticket), &r, err);
  if (rc != MALLARD_OK) return rc;
  canceller k = {r, d->cancel_after_ms};
  pthread_t tid;
  bool have_thread = d->cancel_after_ms >= 0 && !d->export_stream &&
                     pthread_create(&tid, NULL, cancel_later, &k) == 0;
  if (d->export_stream) {
    rc = get_exported(d, &r, err);
    if (r == NULL) return rc;
  }
  struct ArrowSchema schema;
  rc = mallard_reader_schema(r, &schema, err);
  if (rc == MALLARD_OK) {
    printf("{\"schema\": ");
    print_schema_fields(&schema);
    printf("}\n");
    rc = out_begin(d, &schema, err);
    schema.release(&schema);
  }
  long n = 0;
  while (rc == MALLARD_OK) {
    if (d->cancel_after >= 0 && n >= d->cancel_after) {
      mallard_reader_cancel(r);
    }
    struct ArrowArray batch;
    mallard_bytes md = {0};
    bool eof = false;
    rc = mallard_reader_next(r, &batch, &md, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    rc = emit_item(d, n, &batch, &md, err);
    if (batch.release != NULL) batch.release(&batch);
    mallard_bytes_release(&md);
    n++;
  }
  /* The reader must outlive the canceller thread. */
  if (have_thread) pthread_join(tid, NULL);
  mallard_error cerr;
  mallard_code crc = mallard_reader_close(&r, &cerr);
  if (rc == MALLARD_OK && crc != MALLARD_OK) {
    *err = cerr;
    rc = crc;
  }
  return rc;
}

static mallard_code read_one_answer(driver *d, mallard_reader *r, long *n, bool *eof,
                                    mallard_error *err) {
  struct ArrowArray batch;
  mallard_bytes md = {0};
  mallard_code rc = mallard_reader_next(r, &batch, &md, eof, err);
  if (rc == MALLARD_OK && !*eof) {
    if (batch.release != NULL && d->out != NULL && d->out_enc == NULL) {
      struct ArrowSchema schema;
      rc = mallard_reader_schema(r, &schema, err);
      if (rc == MALLARD_OK) {
        rc = out_begin(d, &schema, err);
        schema.release(&schema);
      }
    }
    if (rc == MALLARD_OK) rc = emit_item(d, *n, &batch, &md, err);
    (*n)++;
  }
  if (batch.release != NULL) batch.release(&batch);
  mallard_bytes_release(&md);
  return rc;
}

static mallard_code cmd_put_or_exchange(driver *d, mallard_client *c, const mallard_call_options *o,
                                        bool exchange, int argc, char **argv, mallard_error *err) {
  mallard_descriptor desc;
  mallard_code rc = parse_descriptor(argc, argv, &desc, err);
  if (rc != MALLARD_OK) return rc;
  ipc_stream_reader *in = NULL;
  mallard_writer *w = NULL;
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  bool has_input = !d->no_input;
  if (has_input) {
    rc = ipc_stream_reader_new(stdin_read, NULL, NULL, &in, err);
    if (rc == MALLARD_OK) rc = ipc_stream_reader_schema(in, &schema, err);
    if (rc != MALLARD_OK) goto done;
  }
  rc = exchange ? mallard_client_do_exchange(c, o, &desc, &w, err)
                : mallard_client_do_put(c, o, &desc, &w, err);
  if (rc != MALLARD_OK) goto done;
  mallard_reader *r = exchange ? mallard_writer_reader(w) : NULL;
  if (d->metadata_only != NULL) {
    rc = mallard_writer_write(w, NULL, d->metadata_only, strlen(d->metadata_only), err);
    if (rc != MALLARD_OK) goto done;
  }
  if (schema.release != NULL) {
    rc = mallard_writer_begin(w, &schema, err);
    if (rc != MALLARD_OK) goto done;
  }
  long sent = 0, answers = 0;
  bool eof_in = !has_input, eof_answers = false;
  while (rc == MALLARD_OK && !eof_in) {
    struct ArrowArray batch;
    rc = ipc_stream_reader_next(in, &batch, &eof_in, err);
    if (rc != MALLARD_OK || eof_in) break;
    if (d->cancel_after >= 0 && sent >= d->cancel_after) mallard_writer_cancel(w);
    if (d->close_after >= 0 && sent >= d->close_after) {
      batch.release(&batch);
      break;
    }
    char mdbuf[32];
    int mdlen = snprintf(mdbuf, sizeof mdbuf, "%ld", sent);
    rc = mallard_writer_write(w, &batch, d->with_metadata ? mdbuf : NULL,
                              d->with_metadata ? (size_t)mdlen : 0, err);
    sent++;
    if (rc == MALLARD_OK && d->results_each && !exchange) {
      mallard_bytes res = {0};
      bool eof = false;
      rc = mallard_writer_read_result(w, &res, &eof, err);
      if (rc == MALLARD_OK && !eof) {
        printf("{\"put_result\": ");
        json_str(stdout, res.data, res.len);
        printf("}\n");
      }
      mallard_bytes_release(&res);
    }
    if (rc == MALLARD_OK && d->interleave && exchange && !eof_answers) {
      rc = read_one_answer(d, r, &answers, &eof_answers, err);
    }
    if (batch.release != NULL) batch.release(&batch);
    if (d->close_after >= 0 && sent >= d->close_after) break;
  }
  if (rc != MALLARD_OK) goto done;
  printf("{\"sent\": %ld}\n", sent);
  if (d->close_after >= 0 && sent >= d->close_after) {
    /* Abandon the stream: cancel and report the close's status. */
    mallard_writer_cancel(w);
    rc = mallard_writer_close(&w, err);
    goto done;
  }
  rc = mallard_writer_done_writing(w, err);
  if (rc != MALLARD_OK) goto done;
  if (exchange) {
    while (rc == MALLARD_OK && !eof_answers)
      rc = read_one_answer(d, r, &answers, &eof_answers, err);
  } else {
    for (;;) {
      mallard_bytes res = {0};
      bool eof = false;
      rc = mallard_writer_read_result(w, &res, &eof, err);
      if (rc != MALLARD_OK || eof) break;
      printf("{\"put_result\": ");
      json_str(stdout, res.data, res.len);
      printf("}\n");
      mallard_bytes_release(&res);
    }
  }
done:;
  mallard_error cerr;
  mallard_code crc = mallard_writer_close(&w, &cerr);
  if (rc == MALLARD_OK && crc != MALLARD_OK) {
    *err = cerr;
    rc = crc;
  }
  if (schema.release != NULL) schema.release(&schema);
  ipc_stream_reader_free(in);
  return rc;
}

/* parallel-get: several threads share one client (it is documented thread-safe), each reading
 * the same stream; prints the rows each thread saw. */
typedef struct par_job {
  mallard_client *client;
  const mallard_call_options *opts;
  const char *ticket;
  int64_t rows;
  mallard_code rc;
  mallard_error err;
} par_job;

static void *par_run(void *arg) {
  par_job *j = arg;
  mallard_reader *r = NULL;
  j->rc = mallard_client_do_get(j->client, j->opts, j->ticket, strlen(j->ticket), &r, &j->err);
  while (j->rc == MALLARD_OK) {
    struct ArrowArray batch;
    bool eof = false;
    j->rc = mallard_reader_next(r, &batch, NULL, &eof, &j->err);
    if (j->rc != MALLARD_OK || eof) break;
    if (batch.release != NULL) {
      j->rows += batch.length;
      batch.release(&batch);
    }
  }
  mallard_error cerr;
  mallard_code crc = mallard_reader_close(&r, &cerr);
  if (j->rc == MALLARD_OK && crc != MALLARD_OK) {
    j->rc = crc;
    j->err = cerr;
  }
  return NULL;
}

static mallard_code cmd_parallel_get(mallard_client *c, const mallard_call_options *o, int threads,
                                     const char *ticket, mallard_error *err) {
  if (threads < 1 || threads > 256) threads = 1;
  /* Response metadata out-params are per call; threads must not share them. */
  mallard_call_options po = *o;
  po.response_headers = NULL;
  po.response_trailers = NULL;
  par_job *jobs = calloc((size_t)threads, sizeof *jobs);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (jobs == NULL || tids == NULL) {
    free(jobs);
    free(tids);
    err->code = MALLARD_RESOURCE_EXHAUSTED;
    snprintf(err->message, sizeof err->message, "out of memory");
    return err->code;
  }
  for (int t = 0; t < threads; t++) {
    jobs[t].client = c;
    jobs[t].opts = &po;
    jobs[t].ticket = ticket;
    pthread_create(&tids[t], NULL, par_run, &jobs[t]);
  }
  mallard_code rc = MALLARD_OK;
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    printf("{\"thread\": %d, \"rows\": %" PRId64 ", \"status\": \"%s\"}\n", t, jobs[t].rows,
           mallard_code_name(jobs[t].rc));
    if (rc == MALLARD_OK && jobs[t].rc != MALLARD_OK) {
      rc = jobs[t].rc;
      *err = jobs[t].err;
    }
  }
  free(jobs);
  free(tids);
  return rc;
}

static void usage(void) {
  fprintf(stderr,
          "usage: mallard-client-driver [options] URI COMMAND [args]\n"
          "options: --header NAME=VALUE  --timeout-ms N  --basic USER:PASS  --token T\n"
          "         --max-recv BYTES  --tls-ca FILE  --tls-cert FILE  --tls-key FILE\n"
          "         --tls-override NAME  --out FILE  --show-headers  --with-metadata\n"
          "         --results-each  --interleave  --cancel-after N  --close-after N\n"
          "         --cancel-after-ms MS\n"
          "         --metadata-only TEXT  --export  --no-input\n"
          "commands: handshake | list-flights [CRITERIA] | info DESC | poll DESC | schema DESC |\n"
          "          get TICKET | put DESC < ipc | exchange DESC < ipc | action TYPE [BODY] |\n"
          "          list-actions | parallel-get THREADS TICKET\n"
          "          (DESC = cmd TEXT | path P...)\n");
}

int main(int argc, char **argv) {
  driver d;
  memset(&d, 0, sizeof d);
  mallard_client_options_init(&d.copts);
  d.cancel_after = -1;
  d.cancel_after_ms = -1;
  d.close_after = -1;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--show-headers") == 0)
      d.show_headers = true;
    else if (strcmp(a, "--with-metadata") == 0)
      d.with_metadata = true;
    else if (strcmp(a, "--results-each") == 0)
      d.results_each = true;
    else if (strcmp(a, "--interleave") == 0)
      d.interleave = true;
    else if (strcmp(a, "--export") == 0)
      d.export_stream = true;
    else if (strcmp(a, "--no-input") == 0)
      d.no_input = true;
    else if (v == NULL) {
      usage();
      return 2;
    } else {
      i++;
      if (strcmp(a, "--header") == 0) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL || d.n_headers == MAX_HEADERS) {
          usage();
          return 2;
        }
        *eq = 0;
        d.headers[d.n_headers].name = argv[i];
        d.headers[d.n_headers].value = eq + 1;
        d.headers[d.n_headers].value_len = strlen(eq + 1);
        d.n_headers++;
      } else if (strcmp(a, "--timeout-ms") == 0)
        d.timeout_ms = strtoll(v, NULL, 10);
      else if (strcmp(a, "--basic") == 0)
        d.basic = v;
      else if (strcmp(a, "--token") == 0)
        d.token = v;
      else if (strcmp(a, "--max-recv") == 0)
        d.copts.max_receive_message_size = strtoll(v, NULL, 10);
      else if (strcmp(a, "--tls-ca") == 0)
        d.copts.tls_root_certs_file = v;
      else if (strcmp(a, "--tls-cert") == 0)
        d.copts.tls_cert_chain_file = v;
      else if (strcmp(a, "--tls-key") == 0)
        d.copts.tls_private_key_file = v;
      else if (strcmp(a, "--tls-override") == 0)
        d.copts.tls_override_hostname = v;
      else if (strcmp(a, "--out") == 0)
        d.out_path = v;
      else if (strcmp(a, "--cancel-after") == 0)
        d.cancel_after = strtol(v, NULL, 10);
      else if (strcmp(a, "--cancel-after-ms") == 0)
        d.cancel_after_ms = strtol(v, NULL, 10);
      else if (strcmp(a, "--close-after") == 0)
        d.close_after = strtol(v, NULL, 10);
      else if (strcmp(a, "--metadata-only") == 0)
        d.metadata_only = v;
      else {
        usage();
        return 2;
      }
    }
  }
  if (argc - i < 2) {
    usage();
    return 2;
  }
  const char *uri = argv[i++];
  const char *cmd = argv[i++];
  int nargs = argc - i;
  char **args = argv + i;

  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_client *c = NULL;
  mallard_code rc = mallard_client_connect(uri, &d.copts, &c, &err);
  if (rc != MALLARD_OK) return finish(&d, rc, &err);
  mallard_call_options o;
  memset(&o, 0, sizeof o);
  o.headers = d.headers;
  o.n_headers = d.n_headers;
  o.timeout_ms = d.timeout_ms;
  o.response_headers = &d.resp_headers;
  o.response_trailers = &d.resp_trailers;
  if (d.token != NULL) rc = mallard_client_set_bearer_token(c, d.token, &err);
  if (rc == MALLARD_OK && d.basic != NULL) {
    char *colon = strchr(d.basic, ':');
    if (colon == NULL) {
      usage();
      return 2;
    }
    *colon = 0;
    mallard_bytes tok = {0};
    rc = mallard_client_authenticate_basic(c, &o, d.basic, colon + 1, &tok, &err);
    if (rc == MALLARD_OK) {
      printf("{\"token\": ");
      json_str(stdout, tok.data, tok.len);
      printf("}\n");
    }
    mallard_bytes_release(&tok);
  }
  if (rc == MALLARD_OK && d.out_path != NULL) {
    d.out = fopen(d.out_path, "wb");
    if (d.out == NULL) {
      fprintf(stderr, "cannot open %s\n", d.out_path);
      return 2;
    }
  }
  if (rc != MALLARD_OK) {
    /* auth failed: report it */
  } else if (strcmp(cmd, "handshake") == 0) {
    mallard_bytes resp = {0};
    rc = mallard_client_handshake(c, &o, nargs > 0 ? args[0] : NULL,
                                  nargs > 0 ? strlen(args[0]) : 0, &resp, &err);
    if (rc == MALLARD_OK) {
      printf("{\"payload\": ");
      json_str(stdout, resp.data, resp.len);
      printf("}\n");
    }
    mallard_bytes_release(&resp);
  } else if (strcmp(cmd, "list-flights") == 0) {
    mallard_flight_list list;
    rc = mallard_client_list_flights(c, &o, nargs > 0 ? args[0] : NULL,
                                     nargs > 0 ? strlen(args[0]) : 0, &list, &err);
    for (size_t k = 0; rc == MALLARD_OK && k < list.n_infos; k++) {
      printf("{\"flight\": ");
      print_info_body(&list.infos[k]);
      printf("}\n");
    }
    mallard_flight_list_release(&list);
  } else if (strcmp(cmd, "info") == 0 || strcmp(cmd, "poll") == 0 || strcmp(cmd, "schema") == 0) {
    mallard_descriptor desc;
    rc = parse_descriptor(nargs, args, &desc, &err);
    if (rc == MALLARD_OK && strcmp(cmd, "info") == 0) {
      mallard_flight_info info;
      rc = mallard_client_get_flight_info(c, &o, &desc, &info, &err);
      if (rc == MALLARD_OK) {
        printf("{\"info\": ");
        print_info_body(&info);
        printf("}\n");
      }
      mallard_flight_info_release(&info);
    } else if (rc == MALLARD_OK && strcmp(cmd, "poll") == 0) {
      mallard_poll_info p;
      rc = mallard_client_poll_flight_info(c, &o, &desc, &p, &err);
      if (rc == MALLARD_OK) {
        printf("{\"poll\": {\"info\": ");
        if (p.has_info)
          print_info_body(&p.info);
        else
          printf("null");
        printf(", \"descriptor\": ");
        if (p.has_descriptor)
          print_descriptor(&p.descriptor);
        else
          printf("null");
        if (p.has_progress)
          printf(", \"progress\": %g", p.progress);
        else
          printf(", \"progress\": null");
        printf("}}\n");
      }
      mallard_poll_info_release(&p);
    } else if (rc == MALLARD_OK) {
      struct ArrowSchema schema;
      rc = mallard_client_get_schema(c, &o, &desc, &schema, &err);
      if (rc == MALLARD_OK) {
        printf("{\"schema\": ");
        print_schema_fields(&schema);
        printf("}\n");
        schema.release(&schema);
      }
    }
  } else if (strcmp(cmd, "get") == 0 && nargs >= 1) {
    rc = cmd_get(&d, c, &o, args[0], &err);
  } else if (strcmp(cmd, "put") == 0 || strcmp(cmd, "exchange") == 0) {
    rc = cmd_put_or_exchange(&d, c, &o, strcmp(cmd, "exchange") == 0, nargs, args, &err);
  } else if (strcmp(cmd, "parallel-get") == 0 && nargs >= 2) {
    rc = cmd_parallel_get(c, &o, atoi(args[0]), args[1], &err);
  } else if (strcmp(cmd, "action") == 0 && nargs >= 1) {
    mallard_result_list results;
    rc = mallard_client_do_action(c, &o, args[0], nargs > 1 ? args[1] : NULL,
                                  nargs > 1 ? strlen(args[1]) : 0, &results, &err);
    for (size_t k = 0; rc == MALLARD_OK && k < results.n_results; k++) {
      printf("{\"result\": ");
      json_str(stdout, results.results[k].data, results.results[k].len);
      printf("}\n");
    }
    mallard_result_list_release(&results);
  } else if (strcmp(cmd, "list-actions") == 0) {
    mallard_action_type_list types;
    rc = mallard_client_list_actions(c, &o, &types, &err);
    for (size_t k = 0; rc == MALLARD_OK && k < types.n_types; k++) {
      printf("{\"action\": ");
      json_cstr(stdout, types.types[k].type);
      printf(", \"description\": ");
      json_cstr(stdout, types.types[k].description);
      printf("}\n");
    }
    mallard_action_type_list_release(&types);
  } else {
    usage();
    mallard_client_close(&c);
    return 2;
  }
  out_end(&d);
  mallard_client_close(&c);
  return finish(&d, rc, &err);
}
