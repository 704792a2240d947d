/* Arrow-level stream I/O for handlers: FlightData <-> schemas and record batches through the
 * IPC codec, with one decoder and one encoder per call. */
#include "flight/flight_server_int.h"

#include <stdlib.h>
#include <string.h>

void fs_arrow_state_release(fs_arrow_state *st) {
  ipc_decoder_free(st->dec);
  ipc_encoder_free(st->enc);
  st->dec = NULL;
  st->enc = NULL;
}

static mlr_code ensure_decoder(fs_arrow_state *st, mlr_error *err) {
  if (st->dec != NULL) return MALLARD_OK;
  return ipc_decoder_new(NULL, &st->dec, err);
}

/* Decodes one FlightData's IPC message; a message without data_header is NONE. */
static mlr_code decode_one(fs_arrow_state *st, const flight_data *d, ipc_message_type *type,
                           struct ArrowArray *batch, mlr_error *err) {
  *type = IPC_MESSAGE_NONE;
  if (d->data_header == NULL || d->data_header_len == 0) return MALLARD_OK;
  MLR_RETURN_NOT_OK(ensure_decoder(st, err));
  mlr_code rc = ipc_decoder_decode(st->dec, d->data_header, (int64_t)d->data_header_len, d->body,
                                   type, batch, err);
  if (rc != MALLARD_OK && err != NULL && strstr(err->message, "FlightData") == NULL)
    mlr_error_prefix(err, "invalid FlightData: ");
  return rc;
}

mlr_code flight_call_read_schema(flight_call *call, struct ArrowSchema *schema, mlr_error *err) {
  memset(schema, 0, sizeof *schema);
  fs_arrow_state *st = flight_call_arrow_state(call);
  if (st->dec != NULL && ipc_decoder_has_schema(st->dec))
    return ipc_decoder_schema(st->dec, schema, err);
  for (;;) {
    flight_data d;
    bool eof = false;
    MLR_RETURN_NOT_OK(flight_call_read_data(call, &d, &eof, err));
    if (eof)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "the stream ended before its schema message");
    if (d.data_header == NULL) {
      /* A descriptor-only first message (DoPut/DoExchange) may precede the schema. */
      bool only_desc = d.app_metadata == NULL && d.body == NULL;
      flight_data_release(&d);
      if (only_desc) continue;
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "expected a schema message first, got app_metadata or a body "
                           "without an IPC header");
    }
    ipc_message_type type = IPC_MESSAGE_NONE;
    ipc_message_type peek_type = IPC_MESSAGE_NONE;
    int64_t body_len = 0;
    mlr_code rc =
        ipc_message_peek(d.data_header, (int64_t)d.data_header_len, &peek_type, &body_len, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "invalid FlightData: data_header is not an IPC message: ");
      flight_data_release(&d);
      return rc;
    }
    if (peek_type != IPC_MESSAGE_SCHEMA) {
      flight_data_release(&d);
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "expected a schema message first, got a %s message",
                           peek_type == IPC_MESSAGE_RECORD_BATCH       ? "record batch"
                           : peek_type == IPC_MESSAGE_DICTIONARY_BATCH ? "dictionary batch"
                                                                       : "non-schema");
    }
    struct ArrowArray none;
    memset(&none, 0, sizeof none);
    rc = decode_one(st, &d, &type, &none, err);
    flight_data_release(&d);
    if (rc != MALLARD_OK) return rc;
    if (none.release != NULL) none.release(&none);
    return ipc_decoder_schema(st->dec, schema, err);
  }
}

mlr_code flight_call_read_batch(flight_call *call, struct ArrowArray *batch, uint8_t **app_metadata,
                                size_t *app_metadata_len, bool *eof, mlr_error *err) {
  memset(batch, 0, sizeof *batch);
  if (app_metadata != NULL) *app_metadata = NULL;
  if (app_metadata_len != NULL) *app_metadata_len = 0;
  *eof = false;
  fs_arrow_state *st = flight_call_arrow_state(call);
  for (;;) {
    flight_data d;
    bool end = false;
    MLR_RETURN_NOT_OK(flight_call_read_data(call, &d, &end, err));
    if (end) {
      *eof = true;
      return MALLARD_OK;
    }
    ipc_message_type type = IPC_MESSAGE_NONE;
    if (d.data_header == NULL && d.body != NULL) {
      flight_data_release(&d);
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "invalid FlightData: a body without a data_header");
    }
    mlr_code rc = decode_one(st, &d, &type, batch, err);
    if (rc != MALLARD_OK) {
      flight_data_release(&d);
      return rc;
    }
    bool deliver =
        type == IPC_MESSAGE_RECORD_BATCH || (type == IPC_MESSAGE_NONE && d.app_metadata_len > 0);
    if (deliver && d.app_metadata_len > 0 && app_metadata != NULL) {
      *app_metadata = malloc(d.app_metadata_len);
      if (*app_metadata == NULL) {
        if (batch->release != NULL) batch->release(batch);
        flight_data_release(&d);
        return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      }
      memcpy(*app_metadata, d.app_metadata, d.app_metadata_len);
      if (app_metadata_len != NULL) *app_metadata_len = d.app_metadata_len;
    }
    flight_data_release(&d);
    if (deliver) return MALLARD_OK;
  }
}

typedef struct write_ctx {
  flight_call *call;
  const uint8_t *app_metadata;
  size_t app_metadata_len;
} write_ctx;

static mlr_code sink_to_call(void *ctx, ipc_message *msg, mlr_error *err) {
  write_ctx *w = ctx;
  bool is_batch = msg->type == IPC_MESSAGE_RECORD_BATCH;
  return flight_call_write_ipc(w->call, msg, is_batch ? w->app_metadata : NULL,
                               is_batch ? w->app_metadata_len : 0, err);
}

mlr_code flight_call_write_schema(flight_call *call, const struct ArrowSchema *schema,
                                  const ipc_write_options *opts, mlr_error *err) {
  fs_arrow_state *st = flight_call_arrow_state(call);
  if (st->enc != NULL)
    return mlr_error_set(err, MALLARD_INTERNAL, "the response stream already has a schema");
  MLR_RETURN_NOT_OK(ipc_encoder_new(schema, opts, &st->enc, err));
  ipc_message msg;
  memset(&msg, 0, sizeof msg);
  MLR_RETURN_NOT_OK(ipc_encoder_schema(st->enc, &msg, err));
  return flight_call_write_ipc(call, &msg, NULL, 0, err);
}

mlr_code flight_call_write_batch(flight_call *call, struct ArrowArray *batch,
                                 const uint8_t *app_metadata, size_t app_metadata_len,
                                 mlr_error *err) {
  fs_arrow_state *st = flight_call_arrow_state(call);
  if (st->enc == NULL) {
    if (batch != NULL && batch->release != NULL) batch->release(batch);
    return mlr_error_set(err, MALLARD_INTERNAL,
                         "flight_call_write_batch before flight_call_write_schema");
  }
  if (batch == NULL || batch->release == NULL)
    return flight_call_write_ipc(call, NULL, app_metadata, app_metadata_len, err);
  write_ctx w = {call, app_metadata, app_metadata_len};
  return ipc_encoder_batch(st->enc, batch, sink_to_call, &w, err);
}
