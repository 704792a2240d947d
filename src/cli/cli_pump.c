/* Streams an Arrow stream into a DoPut with the reading and the sending overlapped: a reader
 * thread pulls batches (from a local file or another server's DoGet) into a small bounded queue
 * while the calling thread sends them, so memory stays bounded by the queue depth. */
#include "cli/cli_pump.h"

#include "arrow/arrowc_schema.h"
#include "cli/cli.h"
#include "common/mlr_json.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PUMP_DEPTH 4

typedef struct pump {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct ArrowArray q[PUMP_DEPTH];
  int head, count;
  bool done;     /* producer finished (eof or error) */
  bool stop;     /* consumer gave up: producer must stop */
  int src_error; /* errno-style code from get_next */
  char src_msg[512];
  struct ArrowArrayStream *src;
} pump;

static void *producer(void *arg) {
  pump *p = arg;
  for (;;) {
    struct ArrowArray b;
    memset(&b, 0, sizeof b);
    int rc = p->src->get_next(p->src, &b);
    pthread_mutex_lock(&p->mu);
    if (rc != 0 || b.release == NULL) {
      if (rc != 0) {
        p->src_error = rc;
        const char *e = p->src->get_last_error(p->src);
        snprintf(p->src_msg, sizeof p->src_msg, "%s", e != NULL ? e : "reading the source failed");
      }
      p->done = true;
      pthread_cond_broadcast(&p->cv);
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
    while (p->count == PUMP_DEPTH && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    if (p->stop) {
      pthread_mutex_unlock(&p->mu);
      b.release(&b);
      return NULL;
    }
    p->q[(p->head + p->count) % PUMP_DEPTH] = b;
    p->count++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
}

int cli_pump_put(const char *cmd, mallard_client *client, const mallard_call_options *call,
                 const mallard_descriptor *desc, struct ArrowArrayStream *src,
                 const char *progress_label, bool quiet, int64_t *rows_out, int64_t *bytes_out) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  if (src->get_schema(src, &schema) != 0) {
    const char *e = src->get_last_error(src);
    cli_print_error(cmd, NULL, e != NULL && *e ? e : "cannot read the source's schema");
    return CLI_EXIT_ERROR;
  }
  mallard_writer *w = NULL;
  mallard_code rc = mallard_client_do_put(client, call, desc, &w, &err);
  if (rc == MALLARD_OK) rc = mallard_writer_begin(w, &schema, &err);
  if (rc != MALLARD_OK) {
    schema.release(&schema);
    mallard_writer_close(&w, NULL);
    return cli_fail(cmd, &err);
  }

  pump p;
  memset(&p, 0, sizeof p);
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  p.src = src;
  pthread_t th;
  pthread_create(&th, NULL, producer, &p);
  cli_progress prog;
  cli_progress_start(&prog, progress_label, quiet);
  prog.schema = &schema;
  int exit_code = CLI_EXIT_OK;
  for (;;) {
    pthread_mutex_lock(&p.mu);
    while (p.count == 0 && !p.done) pthread_cond_wait(&p.cv, &p.mu);
    if (p.count == 0) {
      pthread_mutex_unlock(&p.mu);
      break;
    }
    struct ArrowArray b = p.q[p.head];
    p.head = (p.head + 1) % PUMP_DEPTH;
    p.count--;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    cli_progress_add(&prog, &b);
    rc = mallard_writer_write(w, &b, NULL, 0, &err);
    if (rc != MALLARD_OK) break;
  }
  /* Stop the producer (on a send error it may be blocked on a full queue), drain leftovers. */
  pthread_mutex_lock(&p.mu);
  p.stop = true;
  pthread_cond_broadcast(&p.cv);
  pthread_mutex_unlock(&p.mu);
  pthread_join(th, NULL);
  for (int i = 0; i < p.count; i++) {
    struct ArrowArray *b = &p.q[(p.head + i) % PUMP_DEPTH];
    if (b->release != NULL) b->release(b);
  }
  cli_progress_done(&prog);

  if (rc != MALLARD_OK) {
    /* The server's status says why (schema mismatch, ...); closing collects it. */
    mallard_error cerr;
    memset(&cerr, 0, sizeof cerr);
    if (mallard_writer_close(&w, &cerr) != MALLARD_OK && cerr.code != MALLARD_OK) err = cerr;
    exit_code = cli_fail(cmd, &err);
  } else if (p.src_error != 0) {
    /* The source failed: cancel so that the server rolls the whole upload back. */
    mallard_writer_cancel(w);
    mallard_writer_close(&w, NULL);
    fprintf(stderr, "mallard %s: %s (nothing was written)\n", cmd, cli_one_line(p.src_msg));
    exit_code = CLI_EXIT_ERROR;
  } else {
    int64_t rows = -1;
    rc = mallard_writer_done_writing(w, &err);
    while (rc == MALLARD_OK) {
      mallard_bytes md = {0};
      bool eof = false;
      rc = mallard_writer_read_result(w, &md, &eof, &err);
      if (rc != MALLARD_OK || eof) {
        mallard_bytes_release(&md);
        break;
      }
      mlr_json_doc *doc = NULL;
      if (md.len > 0 && mlr_json_parse((const char *)md.data, md.len, &doc, NULL) == MALLARD_OK) {
        const mlr_json *n = mlr_json_get(mlr_json_root(doc), "rows");
        if (n != NULL && n->type == MLR_JSON_NUMBER) rows = n->integer;
      }
      mlr_json_free(doc);
      mallard_bytes_release(&md);
    }
    mallard_error cerr;
    memset(&cerr, 0, sizeof cerr);
    mallard_code crc = mallard_writer_close(&w, &cerr);
    if (rc == MALLARD_OK && crc != MALLARD_OK) {
      rc = crc;
      err = cerr;
    }
    if (rc != MALLARD_OK) {
      exit_code = cli_fail(cmd, &err);
    } else if (rows_out != NULL) {
      *rows_out = rows >= 0 ? rows : prog.rows;
    }
  }
  if (bytes_out != NULL) *bytes_out = prog.bytes;
  schema.release(&schema);
  pthread_mutex_destroy(&p.mu);
  pthread_cond_destroy(&p.cv);
  return exit_code;
}

char *cli_put_command(const char *schema, const char *table, const char *mode) {
  mlr_strbuf b = {0};
  mlr_strbuf_append(&b, "{\"table\": ", 10);
  mlr_strbuf_append_json_string(&b, table, strlen(table));
  if (schema != NULL) {
    mlr_strbuf_append(&b, ", \"schema\": ", 12);
    mlr_strbuf_append_json_string(&b, schema, strlen(schema));
  }
  mlr_strbuf_append(&b, ", \"mode\": ", 10);
  mlr_strbuf_append_json_string(&b, mode, strlen(mode));
  mlr_strbuf_append(&b, "}", 1);
  return mlr_strbuf_take(&b, NULL);
}

mallard_code cli_drain_get(mallard_client *client, const mallard_call_options *call,
                           const char *sql, int64_t *rows_out, int64_t *bytes_out,
                           cli_batches *keep, mallard_error *err) {
  mallard_reader *r = NULL;
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  int64_t rows = 0, bytes = 0;
  mallard_code rc = mallard_client_do_get(client, call, sql, strlen(sql), &r, err);
  if (rc == MALLARD_OK) rc = mallard_reader_schema(r, &schema, err);
  while (rc == MALLARD_OK) {
    struct ArrowArray b;
    memset(&b, 0, sizeof b);
    bool eof = false;
    rc = mallard_reader_next(r, &b, NULL, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    if (b.release == NULL) continue;
    rows += b.length;
    bytes += cli_array_bytes_schema(&schema, &b);
    if (keep != NULL && cli_batches_push(keep, &b) != 0) {
      rc = mlr_error_set((mlr_error *)err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      break;
    }
    if (b.release != NULL) b.release(&b);
  }
  mallard_code crc = mallard_reader_close(&r, rc == MALLARD_OK ? err : NULL);
  if (rc == MALLARD_OK) rc = crc;
  if (keep != NULL && rc == MALLARD_OK && keep->schema.release == NULL) {
    keep->schema = schema;
    memset(&schema, 0, sizeof schema);
  }
  if (schema.release != NULL) schema.release(&schema);
  if (rows_out != NULL) *rows_out = rows;
  if (bytes_out != NULL) *bytes_out = bytes;
  return rc;
}

int cli_batches_push(cli_batches *l, struct ArrowArray *b) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    struct ArrowArray *a = realloc(l->a, cap * sizeof *a);
    if (a == NULL) return -1;
    l->a = a;
    l->cap = cap;
  }
  l->a[l->n++] = *b;
  b->release = NULL;
  return 0;
}

void cli_batches_free(cli_batches *l) {
  for (size_t i = 0; i < l->n; i++)
    if (l->a[i].release != NULL) l->a[i].release(&l->a[i]);
  free(l->a);
  if (l->schema.release != NULL) l->schema.release(&l->schema);
  memset(l, 0, sizeof *l);
}

/* A cli_batches as a stream that lends its batches: each get_next gives a shallow copy whose
 * release does nothing, so the list can be sent again (bench repeats). */
static void noop_release(struct ArrowArray *a) {
  a->release = NULL;
}
static int lent_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  cli_batches *l = s->private_data;
  return arrowc_schema_deep_copy(&l->schema, out, NULL) == MALLARD_OK ? 0 : EIO;
}
static int lent_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  cli_batches *l = s->private_data;
  memset(out, 0, sizeof *out);
  if (l->pos >= l->n) return 0;
  *out = l->a[l->pos++];
  out->release = noop_release;
  return 0;
}
static const char *lent_error(struct ArrowArrayStream *s) {
  (void)s;
  return "";
}
static void lent_release(struct ArrowArrayStream *s) {
  s->release = NULL;
}

void cli_batches_stream(cli_batches *l, struct ArrowArrayStream *out) {
  l->pos = 0;
  out->get_schema = lent_schema;
  out->get_next = lent_next;
  out->get_last_error = lent_error;
  out->release = lent_release;
  out->private_data = l;
}

static void *feeder_run(void *arg) {
  cli_feeder *f = arg;
  for (;;) {
    struct ArrowArray b;
    memset(&b, 0, sizeof b);
    if (f->src->get_next(f->src, &b) != 0) {
      const char *e = f->src->get_last_error(f->src);
      snprintf(f->src_msg, sizeof f->src_msg, "%s",
               e != NULL && *e ? e : "reading the input failed");
      atomic_store(&f->src_failed, true); /* before the cancel the reader will see */
      mallard_writer_cancel(f->w);
      f->rc = MALLARD_CANCELLED;
      return NULL;
    }
    if (b.release == NULL) break;
    f->rc = mallard_writer_write(f->w, &b, NULL, 0, &f->err);
    if (f->rc != MALLARD_OK) return NULL;
  }
  f->rc = mallard_writer_done_writing(f->w, &f->err);
  return NULL;
}

int cli_feeder_start(cli_feeder *f, mallard_writer *w, struct ArrowArrayStream *src) {
  memset(f, 0, sizeof *f);
  f->w = w;
  f->src = src;
  return pthread_create(&f->thread, NULL, feeder_run, f);
}

void cli_feeder_join(cli_feeder *f) {
  pthread_join(f->thread, NULL);
}

mallard_code cli_exchange_stream(mallard_client *client, const mallard_call_options *call,
                                 const char *desc, struct ArrowArrayStream *src, int64_t *rows_out,
                                 int64_t *bytes_out, cli_batches *keep,
                                 struct ArrowSchema *schema_out, mallard_error *err) {
  struct ArrowSchema in_schema, out_schema;
  memset(&in_schema, 0, sizeof in_schema);
  memset(&out_schema, 0, sizeof out_schema);
  int64_t rows = 0, bytes = 0;
  mallard_writer *w = NULL;
  if (src->get_schema(src, &in_schema) != 0) {
    const char *e = src->get_last_error(src);
    return mlr_error_set((mlr_error *)err, MALLARD_INTERNAL, "%s",
                         e != NULL && *e ? e : "cannot read the input's schema");
  }
  mallard_descriptor d = mallard_descriptor_command(desc, 0);
  mallard_code rc = mallard_client_do_exchange(client, call, &d, &w, err);
  if (rc == MALLARD_OK) rc = mallard_writer_begin(w, &in_schema, err);
  in_schema.release(&in_schema);
  if (rc != MALLARD_OK) {
    mallard_writer_close(&w, NULL);
    return rc;
  }
  cli_feeder f;
  if (cli_feeder_start(&f, w, src) != 0) {
    mallard_writer_cancel(w);
    mallard_writer_close(&w, NULL);
    return mlr_error_set((mlr_error *)err, MALLARD_RESOURCE_EXHAUSTED, "cannot start a thread");
  }
  mallard_reader *r = mallard_writer_reader(w);
  rc = mallard_reader_schema(r, &out_schema, err);
  while (rc == MALLARD_OK) {
    struct ArrowArray b;
    memset(&b, 0, sizeof b);
    bool eof = false;
    rc = mallard_reader_next(r, &b, NULL, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    if (b.release == NULL) continue;
    rows += b.length;
    bytes += cli_array_bytes_schema(&out_schema, &b);
    if (keep != NULL && cli_batches_push(keep, &b) != 0) rc = MALLARD_RESOURCE_EXHAUSTED;
    if (b.release != NULL) b.release(&b);
  }
  if (rc != MALLARD_OK) mallard_writer_cancel(w);
  cli_feeder_join(&f);
  mallard_error cerr;
  memset(&cerr, 0, sizeof cerr);
  mallard_code crc = mallard_writer_close(&w, &cerr);
  if (rc == MALLARD_OK && f.src_msg[0] != '\0') {
    rc = mlr_error_set((mlr_error *)err, MALLARD_INTERNAL, "%s", f.src_msg);
  } else if (rc == MALLARD_OK && crc != MALLARD_OK) {
    rc = crc;
    *err = cerr;
  } else if (rc == MALLARD_OK && f.rc != MALLARD_OK) {
    rc = f.rc;
    *err = f.err;
  }
  if (keep != NULL && rc == MALLARD_OK && keep->schema.release == NULL) {
    keep->schema = out_schema;
    memset(&out_schema, 0, sizeof out_schema);
  }
  if (schema_out != NULL && rc == MALLARD_OK && out_schema.release != NULL) {
    *schema_out = out_schema;
    memset(&out_schema, 0, sizeof out_schema);
  }
  if (out_schema.release != NULL) out_schema.release(&out_schema);
  if (rows_out != NULL) *rows_out = rows;
  if (bytes_out != NULL) *bytes_out = bytes;
  return rc;
}
