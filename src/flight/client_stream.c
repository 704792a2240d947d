/* The Flight client's data streams: DoGet readers, DoPut writers and DoExchange (both), moving
 * Arrow C Data Interface batches through the IPC codec and FlightData framing. Batch bodies go
 * out as gRPC slices that reference the moved-in arrays (no copy) and come in as views. */
#include "flight/client_internal.h"

#include "Flight.pb-c.h"

#include <grpc/slice.h>
#include <stdlib.h>
#include <string.h>

#define METHOD(name) "/arrow.flight.protocol.FlightService/" name

/* Segments below this size are copied into one slice with their neighbours: a slice per tiny
 * buffer (validity bitmaps, padding) costs more than the copy. */
#define SMALL_SEGMENT 1024

typedef struct pending_md {
  mallard_bytes md;
  struct pending_md *next;
} pending_md;

typedef enum stream_kind { STREAM_GET, STREAM_PUT, STREAM_EXCHANGE } stream_kind;

typedef struct mstream {
  client_call call;
  stream_kind kind;
  /* sending side */
  flight_descriptor descriptor; /* owned copy, sent with the first message */
  bool descriptor_sent;
  ipc_encoder *enc;
  ipc_write_options wopts;
  bool done_writing;
  /* receiving side */
  ipc_decoder *dec;
  pending_md *pend_head, *pend_tail; /* metadata-only messages read ahead of the schema */
  bool eof;
  bool failed; /* a local error ended the stream: `failure` is reported from now on */
  mlr_error failure;
} mstream;

struct mallard_reader {
  mstream *s;
  bool owned; /* false: the reader of a DoExchange writer */
};

struct mallard_writer {
  mstream *s;
  struct mallard_reader reader;
};

/* ------------------------------------------------------------------------------------------
 * Common
 * ---------------------------------------------------------------------------------------- */

static mlr_code copy_error(mlr_error *dst, const mlr_error *src) {
  if (dst != NULL && dst != src) *dst = *src;
  return src->code;
}

/* Ends the stream because of a local error (bad bytes from the server, out of memory): cancels
 * the call so the server stops, and makes every later call report this error. */
static mlr_code stream_fail(mstream *s, mlr_code rc, mlr_error *err) {
  if (rc == MALLARD_OK) return rc;
  if (!s->failed) {
    s->failed = true;
    if (err != NULL)
      s->failure = *err;
    else
      mlr_error_set(&s->failure, rc, "%s", mallard_code_name(rc));
    s->failure.code = rc;
    client_call_cancel(&s->call);
  }
  return copy_error(err, &s->failure);
}

static mstream *stream_new(mallard_client *client, const mallard_call_options *opts,
                           stream_kind kind, const char *method, mlr_error *err) {
  if (client == NULL) {
    mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "client is NULL");
    return NULL;
  }
  mstream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  s->kind = kind;
  s->wopts.compression = (ipc_compression)client->write_compression;
  s->wopts.max_body_size = IPC_FLIGHT_MAX_BODY_SIZE;
  ipc_read_options ropts;
  memset(&ropts, 0, sizeof ropts);
  if (ipc_decoder_new(&ropts, &s->dec, err) != MALLARD_OK) {
    free(s);
    return NULL;
  }
  if (client_call_start(client, opts, method, &s->call, err) != MALLARD_OK) {
    ipc_decoder_free(s->dec);
    free(s);
    return NULL;
  }
  return s;
}

static mlr_code stream_free(mstream *s, mlr_error *err) {
  mlr_error local;
  mlr_error_reset(&local);
  mlr_code rc = client_call_finish(&s->call, &local);
  if (s->failed)
    rc = copy_error(err, &s->failure);
  else if (rc != MALLARD_OK)
    copy_error(err, &local);
  else
    mlr_error_reset(err);
  ipc_encoder_free(s->enc);
  ipc_decoder_free(s->dec);
  flight_descriptor_release(&s->descriptor);
  while (s->pend_head != NULL) {
    pending_md *p = s->pend_head;
    s->pend_head = p->next;
    mallard_bytes_release(&p->md);
    free(p);
  }
  free(s);
  return rc;
}

static mlr_code bytes_copy(mallard_bytes *dst, const void *data, size_t len, mlr_error *err) {
  dst->data = malloc(len + 1);
  dst->len = 0;
  if (dst->data == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  if (len > 0) memcpy(dst->data, data, len);
  dst->data[len] = 0;
  dst->len = len;
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Receiving
 * ---------------------------------------------------------------------------------------- */

typedef enum item_kind { ITEM_EOF, ITEM_SCHEMA, ITEM_BATCH, ITEM_METADATA } item_kind;

/* Reads FlightData messages until one yields something for the caller. On ITEM_BATCH *batch is
 * filled; on ITEM_BATCH / ITEM_METADATA *md is filled (caller releases). ITEM_EOF returns the
 * call's final status. */
static mlr_code read_item(mstream *s, struct ArrowArray *batch, mallard_bytes *md, item_kind *kind,
                          mlr_error *err) {
  *kind = ITEM_EOF;
  if (s->failed) return copy_error(err, &s->failure);
  if (s->eof) return client_call_status(&s->call, err);
  for (;;) {
    arrowc_buf *msg = NULL;
    mlr_code rc = client_call_recv(&s->call, &msg, err);
    if (rc != MALLARD_OK) {
      s->eof = true;
      return rc; /* the server's status, unchanged */
    }
    if (msg == NULL) {
      s->eof = true;
      return MALLARD_OK;
    }
    flight_data fd;
    memset(&fd, 0, sizeof fd);
    rc = flight_data_decode(msg, &fd, err);
    arrowc_buf_unref(msg);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "FlightData from the server: ");
      return stream_fail(s, rc, err);
    }
    bool has_md = fd.app_metadata_len > 0;
    if (fd.data_header_len > 0) {
      ipc_message_type type = IPC_MESSAGE_NONE;
      struct ArrowArray arr;
      memset(&arr, 0, sizeof arr);
      rc = ipc_decoder_decode(s->dec, fd.data_header, (int64_t)fd.data_header_len, fd.body, &type,
                              &arr, err);
      if (rc != MALLARD_OK) {
        flight_data_release(&fd);
        return stream_fail(s, rc, err);
      }
      if (type == IPC_MESSAGE_RECORD_BATCH) {
        rc = bytes_copy(md, fd.app_metadata, fd.app_metadata_len, err);
        flight_data_release(&fd);
        if (rc != MALLARD_OK) {
          arr.release(&arr);
          return stream_fail(s, rc, err);
        }
        *batch = arr;
        *kind = ITEM_BATCH;
        return MALLARD_OK;
      }
      if (type == IPC_MESSAGE_SCHEMA) {
        flight_data_release(&fd);
        *kind = ITEM_SCHEMA;
        return MALLARD_OK;
      }
      /* Dictionary batches are absorbed by the decoder. */
      flight_data_release(&fd);
      continue;
    }
    if (has_md) {
      rc = bytes_copy(md, fd.app_metadata, fd.app_metadata_len, err);
      flight_data_release(&fd);
      if (rc != MALLARD_OK) return stream_fail(s, rc, err);
      *kind = ITEM_METADATA;
      return MALLARD_OK;
    }
    flight_data_release(&fd); /* e.g. a descriptor-only message: nothing for the caller */
  }
}

static mlr_code reader_schema(mstream *s, struct ArrowSchema *out, mlr_error *err) {
  while (!ipc_decoder_has_schema(s->dec)) {
    struct ArrowArray batch;
    mallard_bytes md = {0};
    item_kind kind;
    memset(&batch, 0, sizeof batch);
    mlr_code rc = read_item(s, &batch, &md, &kind, err);
    if (rc != MALLARD_OK) return rc;
    if (kind == ITEM_EOF) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "stream ended without a schema");
    }
    if (kind == ITEM_METADATA) {
      pending_md *p = malloc(sizeof *p);
      if (p == NULL) {
        mallard_bytes_release(&md);
        return stream_fail(s, mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory"), err);
      }
      p->md = md;
      p->next = NULL;
      if (s->pend_tail != NULL)
        s->pend_tail->next = p;
      else
        s->pend_head = p;
      s->pend_tail = p;
    }
    if (kind == ITEM_BATCH) { /* the decoder refuses batches before a schema; defensive */
      batch.release(&batch);
      mallard_bytes_release(&md);
      return stream_fail(
          s, mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "record batch before the schema"), err);
    }
  }
  return ipc_decoder_schema(s->dec, out, err);
}

static mlr_code reader_next(mstream *s, struct ArrowArray *batch, mallard_bytes *app_metadata,
                            bool *eof, mlr_error *err) {
  memset(batch, 0, sizeof *batch);
  *eof = false;
  mallard_bytes md = {0};
  mlr_code rc = MALLARD_OK;
  if (s->pend_head != NULL) {
    pending_md *p = s->pend_head;
    s->pend_head = p->next;
    if (s->pend_head == NULL) s->pend_tail = NULL;
    md = p->md;
    free(p);
  } else {
    item_kind kind = ITEM_SCHEMA;
    while (rc == MALLARD_OK && kind == ITEM_SCHEMA) rc = read_item(s, batch, &md, &kind, err);
    if (rc != MALLARD_OK) return rc;
    if (kind == ITEM_EOF) {
      *eof = true;
      return client_call_status(&s->call, err);
    }
  }
  if (app_metadata != NULL)
    *app_metadata = md;
  else
    mallard_bytes_release(&md);
  mlr_error_reset(err);
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Sending
 * ---------------------------------------------------------------------------------------- */

/* Keeps an encoded message (and the array it views) alive while gRPC holds slices of it. */
typedef struct msg_holder {
  ipc_message msg;
  int refs;
} msg_holder;

static void holder_unref(void *p) {
  msg_holder *h = p;
  if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    ipc_message_release(&h->msg);
    free(h);
  }
}

static mlr_code send_descriptor(mstream *s, mlr_error *err) {
  uint8_t *prefix = NULL;
  size_t prefix_len = 0;
  mlr_code rc =
      flight_data_encode_prefix(&s->descriptor, NULL, 0, NULL, 0, 0, &prefix, &prefix_len, err);
  if (rc != MALLARD_OK) return rc;
  grpc_slice sl = grpc_slice_new(prefix, prefix_len, free);
  rc = client_call_send(&s->call, &sl, 1, err);
  if (rc == MALLARD_OK) s->descriptor_sent = true;
  return rc;
}

/* Sends one FlightData: the IPC message `msg` (moved in; may be NULL for metadata only), with
 * app_metadata, and the stream's descriptor if it is the first message. */
static mlr_code send_flight_data(mstream *s, ipc_message *msg, const void *app_md,
                                 size_t app_md_len, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  msg_holder *h = NULL;
  grpc_slice *slices = NULL;
  size_t n_slices = 0;
  uint8_t *prefix = NULL, *small = NULL;
  size_t prefix_len = 0;
  if (msg == NULL && !s->descriptor_sent && s->kind != STREAM_GET) {
    /* A metadata-only first message: Arrow's servers take the first message for the descriptor
     * (and its header for the schema), so the descriptor travels alone first, as Arrow C++'s
     * client does for DoExchange. */
    rc = send_descriptor(s, err);
    if (rc != MALLARD_OK) return rc;
  }
  if (msg != NULL) {
    h = calloc(1, sizeof *h);
    if (h == NULL) {
      ipc_message_release(msg);
      return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    }
    h->msg = *msg;
    memset(msg, 0, sizeof *msg);
    h->refs = 1;
  }
  const flight_descriptor *desc =
      !s->descriptor_sent && s->kind != STREAM_GET ? &s->descriptor : NULL;
  rc = flight_data_encode_prefix(desc, h != NULL ? h->msg.metadata : NULL,
                                 h != NULL ? (size_t)h->msg.metadata_size : 0, app_md, app_md_len,
                                 h != NULL ? h->msg.body_size : 0, &prefix, &prefix_len, err);
  if (rc != MALLARD_OK) goto cleanup;
  size_t n_seg = h != NULL ? (size_t)h->msg.n_segments : 0;
  slices = calloc(n_seg + 1, sizeof *slices);
  if (slices == NULL) goto oom;
  slices[n_slices++] = grpc_slice_new(prefix, prefix_len, free);
  prefix = NULL;
  /* Body: large segments by reference, runs of small ones copied into one slice. */
  size_t small_len = 0, small_cap = 0;
  for (size_t i = 0; i <= n_seg; i++) {
    const ipc_segment *seg = i < n_seg ? &h->msg.segments[i] : NULL;
    bool is_small = seg != NULL && seg->size < SMALL_SEGMENT;
    if (is_small) {
      if (small_len + (size_t)seg->size > small_cap) {
        size_t cap = small_cap == 0 ? 4096 : small_cap * 2;
        while (cap < small_len + (size_t)seg->size) cap *= 2;
        uint8_t *nb = realloc(small, cap);
        if (nb == NULL) goto oom;
        small = nb;
        small_cap = cap;
      }
      if (seg->size > 0) memcpy(small + small_len, seg->data, (size_t)seg->size);
      small_len += (size_t)seg->size;
      continue;
    }
    if (small_len > 0) {
      slices[n_slices++] = grpc_slice_from_copied_buffer((const char *)small, small_len);
      small_len = 0;
    }
    if (seg != NULL) {
      __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
      slices[n_slices++] = grpc_slice_new_with_user_data((void *)(uintptr_t)seg->data,
                                                         (size_t)seg->size, holder_unref, h);
    }
  }
  rc = client_call_send(&s->call, slices, n_slices, err);
  n_slices = 0; /* the call took the references */
  if (rc == MALLARD_OK) s->descriptor_sent = true;
  goto cleanup;
oom:
  rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
cleanup:
  for (size_t i = 0; i < n_slices; i++) grpc_slice_unref(slices[i]);
  free(slices);
  free(prefix);
  free(small);
  if (h != NULL) holder_unref(h);
  return rc;
}

typedef struct sink_ctx {
  mstream *s;
  const void *md;
  size_t md_len;
} sink_ctx;

static mlr_code batch_sink(void *vctx, ipc_message *msg, mlr_error *err) {
  sink_ctx *ctx = vctx;
  bool is_batch = msg->type == IPC_MESSAGE_RECORD_BATCH;
  return send_flight_data(ctx->s, msg, is_batch ? ctx->md : NULL, is_batch ? ctx->md_len : 0, err);
}

/* ------------------------------------------------------------------------------------------
 * Public: readers
 * ---------------------------------------------------------------------------------------- */

mallard_code mallard_client_do_get(mallard_client *client, const mallard_call_options *opts,
                                   const void *ticket, size_t ticket_len, mallard_reader **out,
                                   mallard_error *err) {
  *out = NULL;
  mstream *s = stream_new(client, opts, STREAM_GET, METHOD("DoGet"), err);
  if (s == NULL) return err != NULL ? err->code : MALLARD_INTERNAL;
  mallard_reader *r = calloc(1, sizeof *r);
  if (r == NULL) {
    stream_free(s, NULL);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  r->s = s;
  r->owned = true;
  Arrow__Flight__Protocol__Ticket t;
  arrow__flight__protocol__ticket__init(&t);
  t.ticket.data = (uint8_t *)(uintptr_t)ticket;
  t.ticket.len = ticket != NULL ? ticket_len : 0;
  size_t n = protobuf_c_message_get_packed_size(&t.base);
  grpc_slice sl = grpc_slice_malloc(n);
  protobuf_c_message_pack(&t.base, GRPC_SLICE_START_PTR(sl));
  mlr_code rc = client_call_send(&s->call, &sl, 1, err);
  if (rc == MALLARD_OK) rc = client_call_close_send(&s->call, err);
  if (rc != MALLARD_OK) {
    mlr_error local;
    mallard_reader_close(&r, &local);
    return rc;
  }
  *out = r;
  return MALLARD_OK;
}

mallard_code mallard_reader_schema(mallard_reader *reader, struct ArrowSchema *out,
                                   mallard_error *err) {
  memset(out, 0, sizeof *out);
  if (reader == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "reader is NULL");
  return reader_schema(reader->s, out, err);
}

mallard_code mallard_reader_next(mallard_reader *reader, struct ArrowArray *batch,
                                 mallard_bytes *app_metadata, bool *eof, mallard_error *err) {
  if (app_metadata != NULL) memset(app_metadata, 0, sizeof *app_metadata);
  if (reader == NULL || batch == NULL || eof == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "reader, batch and eof must not be NULL");
  }
  return reader_next(reader->s, batch, app_metadata, eof, err);
}

void mallard_reader_cancel(mallard_reader *reader) {
  if (reader != NULL) client_call_cancel(&reader->s->call);
}

mallard_code mallard_reader_close(mallard_reader **reader, mallard_error *err) {
  if (reader == NULL || *reader == NULL) {
    mlr_error_reset(err);
    return MALLARD_OK;
  }
  mallard_reader *r = *reader;
  *reader = NULL;
  if (!r->owned) {
    mlr_error_reset(err);
    return MALLARD_OK; /* belongs to its writer */
  }
  mlr_code rc = stream_free(r->s, err);
  free(r);
  return rc;
}

/* ArrowArrayStream export: the reader lives in private_data. */
typedef struct export_state {
  mallard_reader *reader;
  mlr_error last;
} export_state;

static int export_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out) {
  export_state *e = st->private_data;
  mlr_code rc = mallard_reader_schema(e->reader, out, &e->last);
  return rc == MALLARD_OK ? 0 : (rc == MALLARD_RESOURCE_EXHAUSTED ? 12 /* ENOMEM */ : 5 /* EIO */);
}

static int export_get_next(struct ArrowArrayStream *st, struct ArrowArray *out) {
  export_state *e = st->private_data;
  for (;;) {
    bool eof = false;
    mlr_code rc = mallard_reader_next(e->reader, out, NULL, &eof, &e->last);
    if (rc != MALLARD_OK) return rc == MALLARD_RESOURCE_EXHAUSTED ? 12 : 5;
    if (eof || out->release != NULL) return 0; /* eof: out->release == NULL marks the end */
  }
}

static const char *export_last_error(struct ArrowArrayStream *st) {
  export_state *e = st->private_data;
  return e->last.code != MALLARD_OK ? e->last.message : NULL;
}

static void export_release(struct ArrowArrayStream *st) {
  export_state *e = st->private_data;
  mallard_reader_close(&e->reader, NULL);
  free(e);
  st->release = NULL;
}

mallard_code mallard_reader_export(mallard_reader **reader, struct ArrowArrayStream *out,
                                   mallard_error *err) {
  memset(out, 0, sizeof *out);
  if (reader == NULL || *reader == NULL || !(*reader)->owned) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "only a DoGet reader can be exported as an ArrowArrayStream");
  }
  export_state *e = calloc(1, sizeof *e);
  if (e == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  e->reader = *reader;
  *reader = NULL;
  out->get_schema = export_get_schema;
  out->get_next = export_get_next;
  out->get_last_error = export_last_error;
  out->release = export_release;
  out->private_data = e;
  return MALLARD_OK;
}

/* ------------------------------------------------------------------------------------------
 * Public: writers
 * ---------------------------------------------------------------------------------------- */

static mlr_code writer_new(mallard_client *client, const mallard_call_options *opts,
                           stream_kind kind, const mallard_descriptor *descriptor,
                           mallard_writer **out, mlr_error *err) {
  *out = NULL;
  if (descriptor == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "descriptor is NULL");
  flight_descriptor view;
  memset(&view, 0, sizeof view);
  view.type = (flight_descriptor_type)descriptor->type;
  view.cmd.data = descriptor->cmd.data;
  view.cmd.len = descriptor->cmd.len;
  view.path = descriptor->path;
  view.n_path = descriptor->n_path;
  for (size_t i = 0; i < view.n_path; i++) {
    if (view.path[i] == NULL) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "descriptor path element %zu is NULL", i);
    }
  }
  mallard_writer *w = calloc(1, sizeof *w);
  if (w == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  w->s = stream_new(client, opts, kind, kind == STREAM_PUT ? METHOD("DoPut") : METHOD("DoExchange"),
                    err);
  if (w->s == NULL) {
    free(w);
    return err != NULL ? err->code : MALLARD_INTERNAL;
  }
  mlr_code rc = flight_descriptor_copy(&w->s->descriptor, &view, err);
  if (rc != MALLARD_OK) {
    stream_free(w->s, NULL);
    free(w);
    return rc;
  }
  w->reader.s = w->s;
  w->reader.owned = false;
  *out = w;
  return MALLARD_OK;
}

mallard_code mallard_client_do_put(mallard_client *client, const mallard_call_options *opts,
                                   const mallard_descriptor *descriptor, mallard_writer **out,
                                   mallard_error *err) {
  return writer_new(client, opts, STREAM_PUT, descriptor, out, err);
}

mallard_code mallard_client_do_exchange(mallard_client *client, const mallard_call_options *opts,
                                        const mallard_descriptor *descriptor, mallard_writer **out,
                                        mallard_error *err) {
  mlr_code rc = writer_new(client, opts, STREAM_EXCHANGE, descriptor, out, err);
  if (rc != MALLARD_OK) return rc;
  /* The descriptor goes first, on its own, so that the server can start answering before the
   * client sends anything (an exchange may have no client data at all). */
  rc = send_descriptor((*out)->s, err);
  if (rc != MALLARD_OK) {
    mlr_error local;
    mallard_writer_close(out, &local);
  }
  return rc;
}

mallard_code mallard_writer_begin(mallard_writer *writer, const struct ArrowSchema *schema,
                                  mallard_error *err) {
  if (writer == NULL || schema == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "writer and schema must not be NULL");
  }
  mstream *s = writer->s;
  if (s->failed) return copy_error(err, &s->failure);
  if (s->enc != NULL) {
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION, "writer_begin called twice");
  }
  mlr_code rc = ipc_encoder_new(schema, &s->wopts, &s->enc, err);
  if (rc != MALLARD_OK) return rc; /* the caller's schema is at fault; the stream is intact */
  ipc_message msg;
  memset(&msg, 0, sizeof msg);
  rc = ipc_encoder_schema(s->enc, &msg, err);
  if (rc != MALLARD_OK) return stream_fail(s, rc, err);
  return send_flight_data(s, &msg, NULL, 0, err);
}

mallard_code mallard_writer_write(mallard_writer *writer, struct ArrowArray *batch,
                                  const void *app_metadata, size_t app_metadata_len,
                                  mallard_error *err) {
  bool has_batch = batch != NULL && batch->release != NULL;
  mlr_code rc = MALLARD_OK;
  if (writer == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "writer is NULL");
    goto drop;
  }
  mstream *s = writer->s;
  if (s->failed) {
    rc = copy_error(err, &s->failure);
    goto drop;
  }
  if (s->done_writing) {
    rc = mlr_error_set(err, MALLARD_FAILED_PRECONDITION, "write after done_writing");
    goto drop;
  }
  if (app_metadata == NULL) app_metadata_len = 0;
  if (!has_batch) {
    if (app_metadata_len == 0) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "nothing to write: no batch and no app_metadata");
    }
    return send_flight_data(s, NULL, app_metadata, app_metadata_len, err);
  }
  if (s->enc == NULL) {
    rc = mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                       "writer_begin (the schema) must come before the first batch");
    goto drop;
  }
  sink_ctx ctx = {s, app_metadata, app_metadata_len};
  return ipc_encoder_batch(s->enc, batch, batch_sink, &ctx, err);
drop:
  if (has_batch) batch->release(batch);
  return rc;
}

mallard_code mallard_writer_done_writing(mallard_writer *writer, mallard_error *err) {
  if (writer == NULL) return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "writer is NULL");
  mstream *s = writer->s;
  if (s->failed) return copy_error(err, &s->failure);
  if (s->done_writing) return MALLARD_OK;
  s->done_writing = true;
  return client_call_close_send(&s->call, err);
}

mallard_code mallard_writer_read_result(mallard_writer *writer, mallard_bytes *app_metadata,
                                        bool *eof, mallard_error *err) {
  memset(app_metadata, 0, sizeof *app_metadata);
  *eof = false;
  if (writer == NULL || writer->s->kind != STREAM_PUT) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "read_result needs a DoPut writer");
  }
  mstream *s = writer->s;
  if (s->failed) return copy_error(err, &s->failure);
  if (s->eof) {
    *eof = true;
    return client_call_status(&s->call, err);
  }
  arrowc_buf *msg = NULL;
  mlr_code rc = client_call_recv(&s->call, &msg, err);
  if (rc != MALLARD_OK || msg == NULL) {
    s->eof = true;
    *eof = msg == NULL;
    return rc;
  }
  Arrow__Flight__Protocol__PutResult *m = arrow__flight__protocol__put_result__unpack(
      NULL, (size_t)arrowc_buf_size(msg), arrowc_buf_data(msg));
  arrowc_buf_unref(msg);
  if (m == NULL) {
    return stream_fail(
        s, mlr_error_set(err, MALLARD_INTERNAL, "the server sent a malformed PutResult"), err);
  }
  rc = bytes_copy(app_metadata, m->app_metadata.data, m->app_metadata.len, err);
  arrow__flight__protocol__put_result__free_unpacked(m, NULL);
  if (rc != MALLARD_OK) return stream_fail(s, rc, err);
  return MALLARD_OK;
}

mallard_reader *mallard_writer_reader(mallard_writer *writer) {
  if (writer == NULL || writer->s->kind != STREAM_EXCHANGE) return NULL;
  return &writer->reader;
}

void mallard_writer_cancel(mallard_writer *writer) {
  if (writer != NULL) client_call_cancel(&writer->s->call);
}

mallard_code mallard_writer_close(mallard_writer **writer, mallard_error *err) {
  if (writer == NULL || *writer == NULL) {
    mlr_error_reset(err);
    return MALLARD_OK;
  }
  mallard_writer *w = *writer;
  *writer = NULL;
  mstream *s = w->s;
  mlr_error local;
  mlr_error_reset(&local);
  if (!s->failed && !s->done_writing) {
    s->done_writing = true;
    client_call_close_send(&s->call, &local);
  }
  /* Drain what the server still sends, so its final status is the one reported. */
  while (!s->failed && !s->eof) {
    arrowc_buf *msg = NULL;
    mlr_code rc = client_call_recv(&s->call, &msg, &local);
    if (rc != MALLARD_OK || msg == NULL) {
      s->eof = true;
      break;
    }
    arrowc_buf_unref(msg);
  }
  mlr_code rc = stream_free(s, err);
  free(w);
  return rc;
}
