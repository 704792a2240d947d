/* Streams an Arrow stream into a DoPut with the reading and the sending overlapped: a reader
 * thread pulls batches (from a local file or another server's DoGet) into a small bounded queue
 * while the calling thread sends them, so memory stays bounded by the queue depth. */
#include "cli/cli_pump.h"

#include "cli/cli.h"
#include "common/mlr_json.h"

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
                 const char *progress_label, bool quiet, int64_t *rows_out) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  if (src->get_schema(src, &schema) != 0) {
    const char *e = src->get_last_error(src);
    fprintf(stderr, "mallard %s: %s\n", cmd,
            e != NULL && *e ? e : "cannot read the source's schema");
    return CLI_EXIT_ERROR;
  }
  mallard_writer *w = NULL;
  mallard_code rc = mallard_client_do_put(client, call, desc, &w, &err);
  if (rc == MALLARD_OK) rc = mallard_writer_begin(w, &schema, &err);
  schema.release(&schema);
  if (rc != MALLARD_OK) {
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
    fprintf(stderr, "mallard %s: %s (nothing was written)\n", cmd, p.src_msg);
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
