/* The data RPCs: DoGet (a SQL ticket streamed from DuckDB), DoPut (a stream ingested into a table
 * in one transaction) and DoExchange (a stream through an exchanger). Batches are encoded and
 * decoded here with the IPC codec so that the call log can count exact bytes. */
#include "server/srv_internal.h"

#include "ipc/ipc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SRV_CALL_OR_FAIL(sc, call, err)                                                            \
  srv_call *sc = srv_call_of(call);                                                                \
  if (sc == NULL) return mlr_error_set(err, MALLARD_INTERNAL, "call state missing")

/* How long a finished DoPut waits for a late cancellation before it commits (see
 * flight_call_wait_cancelled): cancellation news follows the end of stream within the same
 * transport event, so a few milliseconds suffice; this bounds the cost per DoPut. */
#define SRV_PUT_CANCEL_WAIT_MS 20

/* ---------------------------------------------------------------- writing a stream */

typedef struct out_stream {
  flight_call *call;
  ipc_encoder *enc;
  srv_call *sc;
  int64_t rows;
} out_stream;

static mlr_code out_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  out_stream *o = ctx;
  o->sc->bytes += msg->metadata_size + msg->body_size;
  return flight_call_write_ipc(o->call, msg, NULL, 0, err);
}

/* Creates the encoder and sends the schema message. */
static mlr_code out_begin(out_stream *o, const struct ArrowSchema *schema, mlr_error *err) {
  ipc_message msg = {0};
  ipc_write_options opts = {.max_body_size = IPC_FLIGHT_MAX_BODY_SIZE};
  MLR_RETURN_NOT_OK(ipc_encoder_new(schema, &opts, &o->enc, err));
  MLR_RETURN_NOT_OK(ipc_encoder_schema(o->enc, &msg, err));
  return out_sink(o, &msg, err);
}

/* Sends one batch (moved in). */
static mlr_code out_batch(out_stream *o, struct ArrowArray *batch, mlr_error *err) {
  o->rows += batch->length;
  return ipc_encoder_batch(o->enc, batch, out_sink, o, err);
}

static void out_release(out_stream *o) {
  ipc_encoder_free(o->enc);
  o->enc = NULL;
}

/* ---------------------------------------------------------------- DoGet */

mlr_code srv_do_get(void *ctx, flight_call *call, const flight_bytes *ticket, mlr_error *err) {
  srv_server *s = ctx;
  SRV_CALL_OR_FAIL(sc, call, err);
  mlr_code rc = MALLARD_OK;
  char *sql = NULL;
  db_conn *conn = NULL;
  db_query *q = NULL;
  bool in_txn = false;
  struct ArrowSchema schema = {0};
  out_stream o = {.call = call, .sc = sc};

  rc = srv_sql_from_bytes(ticket->data, ticket->len, "ticket", &sql, err);
  if (rc != MALLARD_OK) goto cleanup;
  srv_call_set_query(sc, sql, ticket->len);
  rc = srv_call_connect(sc, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = srv_check_read_only_sql(s, call, conn, sql, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (srv_call_read_only(s, call)) {
    /* Whatever slips past the statement check cannot write (a read-only transaction: no
     * table, catalog or sequence change) and is rolled back. */
    rc = db_execute(conn, "BEGIN TRANSACTION READ ONLY", NULL, err);
    if (rc != MALLARD_OK) goto cleanup;
    in_txn = true;
  }
  srv_call_watch(sc);
  db_query_options qo = {.batch_rows = s->batch_rows};
  rc = db_query_start(conn, sql, &qo, &q, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_query_schema(q, &schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = out_begin(&o, &schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  sc->rows = 0;
  for (;;) {
    struct ArrowArray batch = {0};
    bool eof = false;
    /* While DuckDB produces this batch, the transport is still sending the previous one. */
    rc = db_query_next(q, &batch, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    rc = out_batch(&o, &batch, err);
    sc->rows = o.rows;
    if (rc != MALLARD_OK) break;
  }
cleanup:
  srv_call_unwatch(sc);
  if (schema.release != NULL) schema.release(&schema);
  out_release(&o);
  db_query_free(q);
  if (in_txn) db_execute(conn, "ROLLBACK", NULL, NULL);
  srv_call_disconnect(sc, conn);
  free(sql);
  return srv_call_fix_status(sc, rc, err);
}

/* ---------------------------------------------------------------- reading a stream */

typedef struct in_stream {
  flight_call *call;
  ipc_decoder *dec;
  srv_call *sc;
  bool have_descriptor;
  flight_descriptor descriptor; /* of the first message (owned) */
  int64_t rows;
} in_stream;

static mlr_code in_init(in_stream *in, flight_call *call, srv_call *sc, mlr_error *err) {
  memset(in, 0, sizeof *in);
  in->call = call;
  in->sc = sc;
  return ipc_decoder_new(NULL, &in->dec, err);
}

static void in_release(in_stream *in) {
  ipc_decoder_free(in->dec);
  in->dec = NULL;
  flight_descriptor_release(&in->descriptor);
}

/* Reads messages until one decodes to `want` (SCHEMA or RECORD_BATCH). Dictionary batches and
 * messages carrying only app_metadata are absorbed. *eof at the end of the stream. */
static mlr_code in_next(in_stream *in, ipc_message_type want, struct ArrowArray *batch, bool *eof,
                        mlr_error *err) {
  for (;;) {
    flight_data fd = {0};
    mlr_code rc = flight_call_read_data(in->call, &fd, eof, err);
    if (rc != MALLARD_OK) return rc;
    if (*eof) return MALLARD_OK;
    in->sc->bytes += (int64_t)(fd.data_header_len + fd.app_metadata_len) +
                     (fd.body ? arrowc_buf_size(fd.body) : 0);
    if (fd.has_descriptor && !in->have_descriptor) {
      rc = flight_descriptor_copy(&in->descriptor, &fd.descriptor, err);
      if (rc != MALLARD_OK) {
        flight_data_release(&fd);
        return rc;
      }
      in->have_descriptor = true;
    }
    if (fd.data_header == NULL || fd.data_header_len == 0) {
      flight_data_release(&fd);
      continue;
    }
    ipc_message_type type = IPC_MESSAGE_NONE;
    struct ArrowArray arr = {0};
    rc = ipc_decoder_decode(in->dec, fd.data_header, (int64_t)fd.data_header_len, fd.body, &type,
                            &arr, err);
    flight_data_release(&fd);
    if (rc != MALLARD_OK) return rc;
    if (type == IPC_MESSAGE_RECORD_BATCH) {
      if (want != IPC_MESSAGE_RECORD_BATCH) {
        arr.release(&arr);
        return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                             "a record batch arrived before the stream's schema");
      }
      *batch = arr;
      return MALLARD_OK;
    }
    if (type == IPC_MESSAGE_SCHEMA && want == IPC_MESSAGE_SCHEMA) return MALLARD_OK;
  }
}

/* The first message's descriptor (after the schema was read). */
static mlr_code in_descriptor(in_stream *in, const char *rpc, const flight_descriptor **out,
                              mlr_error *err) {
  if (!in->have_descriptor) {
    const flight_descriptor *d = flight_call_descriptor(in->call);
    if (d != NULL) {
      MLR_RETURN_NOT_OK(flight_descriptor_copy(&in->descriptor, d, err));
      in->have_descriptor = true;
    }
  }
  if (!in->have_descriptor || in->descriptor.type == FLIGHT_DESCRIPTOR_UNKNOWN) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "%s needs a FlightDescriptor in its first message", rpc);
  }
  *out = &in->descriptor;
  return MALLARD_OK;
}

/* ---------------------------------------------------------------- DoPut */

/* Receiving and ingesting overlap: this thread reads, decodes and converts batches to DuckDB's
 * chunks (db_ingest_prepare) into a small queue while an ingest thread appends them, so batch N+1
 * is received and converted while batch N is appended (the appender is the serial part of a load:
 * moving the conversion off it took a 24M-row DoPut from 5.5 to ~4.9 s). The queue bounds memory;
 * the reader checks for an ingest failure before each read. */
#define PUT_QUEUE 4

typedef struct put_pipe {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  db_ingest_batch *q[PUT_QUEUE];
  int head;
  int n;
  bool closed; /* no more batches will come */
  bool failed; /* the ingest thread stopped on an error */
  mlr_error err;
  db_ingest *ing;
  int64_t rows;
} put_pipe;

static void *put_ingest_main(void *arg) {
  put_pipe *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->n == 0 && !p->closed) pthread_cond_wait(&p->cv, &p->mu);
    if (p->n == 0) break;
    db_ingest_batch *batch = p->q[p->head];
    p->head = (p->head + 1) % PUT_QUEUE;
    p->n--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    int64_t len = db_ingest_batch_rows(batch);
    mlr_code rc = db_ingest_append_prepared(p->ing, batch, &p->err);
    pthread_mutex_lock(&p->mu);
    if (rc != MALLARD_OK) {
      p->failed = true;
      pthread_cond_broadcast(&p->cv);
      break;
    }
    p->rows += len;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static mlr_code put_stream(in_stream *in, db_ingest *ing, srv_call *sc, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  put_pipe p;
  memset(&p, 0, sizeof p);
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  p.ing = ing;
  pthread_t th;
  bool threaded = pthread_create(&th, NULL, put_ingest_main, &p) == 0;
  for (;;) {
    struct ArrowArray batch = {0};
    bool eof = false;
    pthread_mutex_lock(&p.mu);
    bool failed = p.failed;
    sc->rows = p.rows;
    pthread_mutex_unlock(&p.mu);
    if (failed) break;
    rc = in_next(in, IPC_MESSAGE_RECORD_BATCH, &batch, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    db_ingest_batch *prepared = NULL;
    if (threaded && (rc = db_ingest_prepare(ing, &batch, &prepared, err)) != MALLARD_OK) break;
    if (!threaded) {
      int64_t len = batch.length;
      rc = db_ingest_append(ing, &batch, err);
      if (rc != MALLARD_OK) break;
      p.rows += len;
      continue;
    }
    pthread_mutex_lock(&p.mu);
    while (p.n == PUT_QUEUE && !p.failed) pthread_cond_wait(&p.cv, &p.mu);
    if (p.failed) {
      pthread_mutex_unlock(&p.mu);
      db_ingest_batch_free(prepared);
      break;
    }
    p.q[(p.head + p.n) % PUT_QUEUE] = prepared;
    p.n++;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
  }
  if (threaded) {
    pthread_mutex_lock(&p.mu);
    p.closed = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    pthread_join(th, NULL);
  }
  /* Batches left behind by a failed ingest. */
  for (int i = 0; i < p.n; i++) db_ingest_batch_free(p.q[(p.head + i) % PUT_QUEUE]);
  if (rc == MALLARD_OK && p.failed) {
    rc = p.err.code != MALLARD_OK ? p.err.code : MALLARD_INTERNAL;
    if (err != NULL) *err = p.err;
  }
  sc->rows = p.rows;
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
  return rc;
}

static db_put_mode to_db_mode(srv_put_mode m) {
  switch (m) {
  case SRV_PUT_APPEND:
    return DB_PUT_APPEND;
  case SRV_PUT_CREATE:
    return DB_PUT_CREATE;
  case SRV_PUT_REPLACE:
    return DB_PUT_REPLACE;
  default:
    return DB_PUT_CREATE_OR_APPEND;
  }
}

mlr_code srv_do_put(void *ctx, flight_call *call, mlr_error *err) {
  srv_server *s = ctx;
  SRV_CALL_OR_FAIL(sc, call, err);
  mlr_code rc = MALLARD_OK;
  in_stream in;
  srv_put_target target = {0};
  struct ArrowSchema schema = {0};
  db_conn *conn = NULL;
  db_ingest *ing = NULL;
  const flight_descriptor *desc = NULL;
  bool eof = false;
  int64_t rows = 0;
  char *held_name = NULL;

  rc = in_init(&in, call, sc, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = srv_refuse_write(s, "DoPut", err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = in_next(&in, IPC_MESSAGE_SCHEMA, NULL, &eof, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = in_descriptor(&in, "DoPut", &desc, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (eof) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "the DoPut stream ended before its schema: send a schema first");
    goto cleanup;
  }
  if (desc->type == FLIGHT_DESCRIPTOR_PATH) {
    rc = srv_parse_path(desc->path, desc->n_path, &target, err);
  } else {
    rc = srv_parse_put_command(desc->cmd.data, desc->cmd.len, &target, err);
  }
  if (rc != MALLARD_OK) goto cleanup;
  srv_call_set_table(sc, target.schema, target.table);
  rc = ipc_decoder_schema(in.dec, &schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = srv_call_connect(sc, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  /* A DoPut that may create the table (or replaces it) holds its name until it commits, so
   * that concurrent first loads append one after the other. Appends to an existing table run
   * side by side. */
  bool exists = false;
  rc = db_table_exists(conn, target.schema, target.table, &exists, err);
  if (rc != MALLARD_OK) goto cleanup;
  if ((!exists || target.mode == SRV_PUT_REPLACE) &&
      !srv_table_name_hold(s, call, target.schema, target.table, &held_name, err)) {
    rc = err->code;
    goto cleanup;
  }
  rc = db_ingest_begin(conn, target.schema, target.table, to_db_mode(target.mode), &schema, &ing,
                       err);
  if (rc != MALLARD_OK) goto cleanup;
  sc->rows = 0;
  rc = put_stream(&in, ing, sc, err);
  if (rc != MALLARD_OK) goto cleanup;
  /* gRPC reports a cancelled or expired call to a pending receive as an end of stream too, and
   * its cancellation may arrive just after: never commit what such a call sent. */
  if (flight_call_wait_cancelled(call, SRV_PUT_CANCEL_WAIT_MS)) {
    rc = mlr_error_set(err, MALLARD_CANCELLED,
                       "the DoPut was cancelled (or its deadline passed) before it finished: "
                       "nothing was written");
    goto cleanup;
  }
  /* From here the commit runs to its end and the client is told its outcome: a shutdown's
   * grace period ending now no longer interrupts it (a DoPut told it failed had its rows
   * committed, so a client that retried wrote them twice). */
  if (!flight_call_enter_commit(call)) {
    rc = mlr_error_set(err, MALLARD_CANCELLED,
                       "the DoPut was interrupted before its commit: nothing was written");
    goto cleanup;
  }
  db_ingest *to_commit = ing;
  ing = NULL;
  rc = db_ingest_commit(to_commit, &rows, err);
  if (rc != MALLARD_OK) goto cleanup;
  sc->rows = rows;
  char result[64];
  int n = snprintf(result, sizeof result, "{\"rows\": %lld}", (long long)rows);
  rc = flight_call_write_put_result(call, (const uint8_t *)result, (size_t)n, err);
cleanup:
  if (ing != NULL) db_ingest_abort(ing);
  srv_table_name_release(s, held_name);
  if (schema.release != NULL) schema.release(&schema);
  srv_call_disconnect(sc, conn);
  srv_put_target_release(&target);
  in_release(&in);
  return rc;
}

/* ---------------------------------------------------------------- DoExchange */

static mlr_code exchange_emit(void *ctx, struct ArrowArray *batch, mlr_error *err) {
  out_stream *o = ctx;
  mlr_code rc = out_batch(o, batch, err);
  o->sc->rows = o->rows;
  return rc;
}

mlr_code srv_do_exchange(void *ctx, flight_call *call, mlr_error *err) {
  srv_server *s = ctx;
  SRV_CALL_OR_FAIL(sc, call, err);
  mlr_code rc = MALLARD_OK;
  in_stream in;
  out_stream o = {.call = call, .sc = sc};
  const flight_descriptor *desc = NULL;
  char *name = NULL;
  char *params = NULL;
  struct ArrowSchema in_schema = {0};
  struct ArrowSchema out_schema = {0};
  db_conn *conn = NULL;
  xchg_instance *inst = NULL;
  bool eof = false;

  rc = in_init(&in, call, sc, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = in_next(&in, IPC_MESSAGE_SCHEMA, NULL, &eof, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = in_descriptor(&in, "DoExchange", &desc, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (desc->type != FLIGHT_DESCRIPTOR_CMD) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "DoExchange needs a CMD descriptor naming an exchanger (e.g. \"echo\" or "
                       "{\"exchanger\": \"name\", \"params\": {...}})");
    goto cleanup;
  }
  rc = xchg_parse_command(desc->cmd.data, desc->cmd.len, &name, &params, err);
  if (rc != MALLARD_OK) goto cleanup;
  snprintf(sc->exchanger, sizeof sc->exchanger, "%s", name);
  if (eof) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "the DoExchange stream ended before its schema: send a schema first");
    goto cleanup;
  }
  rc = ipc_decoder_schema(in.dec, &in_schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = srv_call_connect(sc, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  srv_call_watch(sc);
  rc = xchg_open(s->xchg, name, params, &in_schema, conn, &inst, err);
  if (rc != MALLARD_OK) goto cleanup;
  srv_call_set_xchg(sc, inst);
  rc = xchg_instance_output_schema(inst, &out_schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = out_begin(&o, &out_schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  sc->rows = 0;
  for (;;) {
    struct ArrowArray batch = {0};
    rc = in_next(&in, IPC_MESSAGE_RECORD_BATCH, &batch, &eof, err);
    if (rc != MALLARD_OK || eof) break;
    rc = xchg_push(inst, &batch, exchange_emit, &o, err);
    if (rc != MALLARD_OK) break;
  }
  if (rc == MALLARD_OK) rc = xchg_finish(inst, exchange_emit, &o, err);
cleanup:
  srv_call_unwatch(sc);
  if (inst != NULL) {
    srv_call_set_xchg(sc, NULL);
    xchg_close(inst);
  }
  out_release(&o);
  if (in_schema.release != NULL) in_schema.release(&in_schema);
  if (out_schema.release != NULL) out_schema.release(&out_schema);
  srv_call_disconnect(sc, conn);
  free(name);
  free(params);
  in_release(&in);
  return srv_call_fix_status(sc, rc, err);
}
