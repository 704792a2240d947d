/* IPC file reader over an in-memory image: magic, footer (schema, dictionary and record batch
 * blocks), random access to batches. */
#include "ipc/ipc_read_int.h"

#include <stdlib.h>
#include <string.h>

enum { FOOTER_SCHEMA = 1, FOOTER_DICTIONARIES = 2, FOOTER_RECORD_BATCHES = 3 };

struct ipc_file_reader {
  arrowc_buf *image;
  ipc_decoder *dec;
  fbr_vector batches; /* Block structs inside the footer (which lives in image) */
};

static const uint8_t magic[6] = {'A', 'R', 'R', 'O', 'W', '1'};

/* Decodes the message of one Block (24 bytes: offset, metaDataLength, pad, bodyLength). */
static mlr_code decode_block(ipc_file_reader *r, const uint8_t *blk, ipc_message_type *type,
                             struct ArrowArray *batch, mlr_error *err) {
  int64_t off = fbr_read_i64(blk), body_len = fbr_read_i64(blk + 16);
  int32_t meta_len = fbr_read_i32(blk + 8);
  int64_t size = arrowc_buf_size(r->image);
  if (off < 0 || meta_len <= 0 || body_len < 0 || off > size || meta_len > size - off ||
      body_len > size - off - meta_len)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "IPC file block [%lld, +%d+%lld) lies outside the %lld-byte file",
                         (long long)off, meta_len, (long long)body_len, (long long)size);
  const uint8_t *meta;
  int64_t meta_size, consumed;
  bool eos;
  MLR_RETURN_NOT_OK(ipc_read_frame(arrowc_buf_data(r->image) + off, meta_len, &meta, &meta_size,
                                   &consumed, &eos, err));
  if (eos)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "IPC file block at %lld is empty",
                         (long long)off);
  arrowc_buf *body = arrowc_buf_slice(r->image, off + meta_len, body_len);
  if (body == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  mlr_code rc = ipc_decoder_decode(r->dec, meta, meta_size, body, type, batch, err);
  arrowc_buf_unref(body);
  return rc;
}

mlr_code ipc_file_reader_new(arrowc_buf *image, const ipc_read_options *opts, ipc_file_reader **out,
                             mlr_error *err) {
  *out = NULL;
  const uint8_t *d = arrowc_buf_data(image);
  int64_t size = arrowc_buf_size(image);
  if (size < 6 + 2 + 4 + 6 || memcmp(d, magic, 6) != 0 || memcmp(d + size - 6, magic, 6) != 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "not an Arrow IPC file (no ARROW1 magic at both ends)");
  int32_t footer_len = fbr_read_i32(d + size - 10);
  if (footer_len <= 0 || footer_len > size - 18)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "IPC file footer length %d does not fit the %lld-byte file", footer_len,
                         (long long)size);
  ipc_file_reader *r = calloc(1, sizeof *r);
  if (r == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  arrowc_buf_ref(image);
  r->image = image;
  fbr_table footer, schema;
  fbr_vector dicts;
  bool has_schema;
  mlr_code rc = ipc_decoder_new(opts, &r->dec, err);
  if (rc == MALLARD_OK) rc = fbr_root(d + size - 10 - footer_len, footer_len, &footer, err);
  if (rc == MALLARD_OK) rc = fbr_table_field(&footer, FOOTER_SCHEMA, &schema, &has_schema, err);
  if (rc == MALLARD_OK && !has_schema)
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "IPC file footer has no schema");
  if (rc == MALLARD_OK) rc = fbr_vector_field(&footer, FOOTER_DICTIONARIES, 24, &dicts, err);
  if (rc == MALLARD_OK) rc = fbr_vector_field(&footer, FOOTER_RECORD_BATCHES, 24, &r->batches, err);
  if (rc == MALLARD_OK) rc = ipc_decoder_load_schema(r->dec, &schema, err);
  for (int64_t i = 0; rc == MALLARD_OK && i < dicts.count; i++) {
    ipc_message_type t;
    struct ArrowArray unused;
    memset(&unused, 0, sizeof unused);
    rc = decode_block(r, fbr_vector_elem(&dicts, i, 24), &t, &unused, err);
    if (rc == MALLARD_OK && t != IPC_MESSAGE_DICTIONARY_BATCH) {
      if (unused.release != NULL) unused.release(&unused);
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "IPC file dictionary block %lld is not a dictionary batch", (long long)i);
    }
  }
  if (rc != MALLARD_OK) {
    ipc_file_reader_free(r);
    return rc;
  }
  *out = r;
  return MALLARD_OK;
}

mlr_code ipc_file_reader_schema(ipc_file_reader *r, struct ArrowSchema *out, mlr_error *err) {
  return ipc_decoder_schema(r->dec, out, err);
}

int64_t ipc_file_reader_num_batches(const ipc_file_reader *r) {
  return r->batches.count;
}

mlr_code ipc_file_reader_batch(ipc_file_reader *r, int64_t i, struct ArrowArray *out,
                               mlr_error *err) {
  memset(out, 0, sizeof *out);
  if (i < 0 || i >= r->batches.count)
    return mlr_error_set(err, MALLARD_OUT_OF_RANGE, "batch %lld of %lld", (long long)i,
                         (long long)r->batches.count);
  ipc_message_type t;
  MLR_RETURN_NOT_OK(decode_block(r, fbr_vector_elem(&r->batches, i, 24), &t, out, err));
  if (t != IPC_MESSAGE_RECORD_BATCH)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "IPC file record batch block %lld holds another message type",
                         (long long)i);
  return MALLARD_OK;
}

void ipc_file_reader_free(ipc_file_reader *r) {
  if (r == NULL) return;
  ipc_decoder_free(r->dec);
  arrowc_buf_unref(r->image);
  free(r);
}
