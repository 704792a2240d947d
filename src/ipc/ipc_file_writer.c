/* The IPC file writer: "ARROW1" magic, the stream's messages, then a Footer flatbuffer indexing
 * the dictionary and record batch blocks, its length and the magic again. */
#include "ipc/ipc_encode_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct ipc_block {
  int64_t offset;
  int32_t metadata_length;
  int32_t pad;
  int64_t body_length;
} ipc_block;

struct ipc_file_writer {
  ipc_encoder *enc;
  ipc_write_fn write;
  void *ctx;
  int64_t pos;
  ipc_block *dicts, *batches;
  int64_t n_dicts, cap_dicts, n_batches, cap_batches;
  bool finished;
  bool failed;
};

static mlr_code fw_write(ipc_file_writer *w, const void *data, int64_t size, mlr_error *err) {
  mlr_code rc = w->write(w->ctx, data, size, err);
  if (rc == MALLARD_OK) w->pos += size;
  return rc;
}

static mlr_code fw_counting_write(void *ctx, const void *data, int64_t size, mlr_error *err) {
  return fw_write(ctx, data, size, err);
}

static mlr_code fw_add_block(ipc_block **arr, int64_t *n, int64_t *cap, ipc_block b,
                             mlr_error *err) {
  if (*n == *cap) {
    int64_t nc = *cap < 16 ? 16 : *cap * 2;
    ipc_block *p = realloc(*arr, (size_t)nc * sizeof *p);
    if (p == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    *arr = p;
    *cap = nc;
  }
  (*arr)[(*n)++] = b;
  return MALLARD_OK;
}

/* Writes one message and records its block (for dictionaries and record batches). */
static mlr_code fw_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  ipc_file_writer *w = ctx;
  ipc_block b = {0};
  b.offset = w->pos;
  b.metadata_length = (int32_t)(8 + ((msg->metadata_size + 7) & ~(int64_t)7));
  b.body_length = msg->body_size;
  mlr_code rc = ipc_write_message(msg, fw_counting_write, w, err);
  if (rc == MALLARD_OK) {
    if (msg->type == IPC_MESSAGE_DICTIONARY_BATCH)
      rc = fw_add_block(&w->dicts, &w->n_dicts, &w->cap_dicts, b, err);
    else if (msg->type == IPC_MESSAGE_RECORD_BATCH)
      rc = fw_add_block(&w->batches, &w->n_batches, &w->cap_batches, b, err);
  }
  ipc_message_release(msg);
  return rc;
}

mlr_code ipc_file_writer_new(const struct ArrowSchema *schema, const ipc_write_options *opts,
                             ipc_write_fn write, void *ctx, ipc_file_writer **out, mlr_error *err) {
  *out = NULL;
  ipc_message msg = {0};
  ipc_file_writer *w = calloc(1, sizeof *w);
  if (w == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  w->write = write;
  w->ctx = ctx;
  mlr_code rc = ipc_encoder_new(schema, opts, &w->enc, err);
  if (rc != MALLARD_OK) goto cleanup;
  ipc_encoder_set_file_mode(w->enc, true);
  static const uint8_t magic[8] = {'A', 'R', 'R', 'O', 'W', '1', 0, 0};
  rc = fw_write(w, magic, 8, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = ipc_encoder_schema(w->enc, &msg, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = ipc_write_message(&msg, fw_counting_write, w, err);
  if (rc != MALLARD_OK) goto cleanup;
  *out = w;
  w = NULL;
cleanup:
  ipc_message_release(&msg);
  ipc_file_writer_free(w);
  return rc;
}

mlr_code ipc_file_writer_write(ipc_file_writer *w, struct ArrowArray *batch, mlr_error *err) {
  if (w->finished || w->failed) {
    if (batch != NULL && batch->release != NULL) batch->release(batch);
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                         w->finished ? "IPC file writer already finished"
                                     : "IPC file writer failed earlier");
  }
  mlr_code rc = ipc_encoder_batch(w->enc, batch, fw_sink, w, err);
  if (rc != MALLARD_OK) w->failed = true;
  return rc;
}

mlr_code ipc_file_writer_finish(ipc_file_writer *w, mlr_error *err) {
  if (w->finished || w->failed)
    return mlr_error_set(err, MALLARD_FAILED_PRECONDITION,
                         w->finished ? "IPC file writer already finished"
                                     : "IPC file writer failed earlier");
  mlr_code rc = ipc_write_eos(fw_counting_write, w, err);
  if (rc != MALLARD_OK) return rc;
  fbb b;
  fbb_init(&b);
  fbb_ref batches = fbb_vector(&b, w->batches, sizeof(ipc_block), (size_t)w->n_batches, 8);
  fbb_ref dicts = fbb_vector(&b, w->dicts, sizeof(ipc_block), (size_t)w->n_dicts, 8);
  fbb_ref schema = ipc_encoder_build_schema_table(w->enc, &b);
  fbb_table_start(&b);
  fbb_add_i16(&b, 0, IPC_FB_VERSION_V5);
  fbb_add_ref(&b, 1, schema);
  fbb_add_ref(&b, 2, dicts);
  fbb_add_ref(&b, 3, batches);
  fbb_ref footer = fbb_table_end(&b);
  uint8_t *fb = NULL;
  int64_t fb_size = 0;
  rc = fbb_finish(&b, footer, &fb, &fb_size, err);
  if (rc != MALLARD_OK) return rc;
  rc = fw_write(w, fb, fb_size, err);
  free(fb);
  if (rc != MALLARD_OK) return rc;
  uint8_t tail[10];
  int32_t len = (int32_t)fb_size;
  memcpy(tail, &len, 4);
  memcpy(tail + 4, "ARROW1", 6);
  rc = fw_write(w, tail, 10, err);
  if (rc == MALLARD_OK) w->finished = true;
  return rc;
}

void ipc_file_writer_free(ipc_file_writer *w) {
  if (w == NULL) return;
  ipc_encoder_free(w->enc);
  free(w->dicts);
  free(w->batches);
  free(w);
}
