/* IPC stream framing on the encode side: continuation marker + length + padded metadata + body,
 * the end-of-stream marker, and a schema as FlightInfo.schema bytes. */
#include "ipc/ipc_encode_int.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t ipc_pad_zeros[8];

mlr_code ipc_write_message(const ipc_message *msg, ipc_write_fn write, void *ctx, mlr_error *err) {
  if (msg == NULL || msg->metadata == NULL || msg->metadata_size <= 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "empty IPC message");
  int64_t padded = (msg->metadata_size + 7) & ~(int64_t)7;
  if (padded > INT32_MAX)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "IPC metadata of %lld bytes is too large",
                         (long long)msg->metadata_size);
  uint8_t head[8];
  uint32_t marker = 0xFFFFFFFFu;
  int32_t len = (int32_t)padded;
  memcpy(head, &marker, 4);
  memcpy(head + 4, &len, 4);
  MLR_RETURN_NOT_OK(write(ctx, head, 8, err));
  MLR_RETURN_NOT_OK(write(ctx, msg->metadata, msg->metadata_size, err));
  if (padded > msg->metadata_size)
    MLR_RETURN_NOT_OK(write(ctx, ipc_pad_zeros, padded - msg->metadata_size, err));
  for (int64_t i = 0; i < msg->n_segments; i++) {
    if (msg->segments[i].size > 0)
      MLR_RETURN_NOT_OK(write(ctx, msg->segments[i].data, msg->segments[i].size, err));
  }
  return MALLARD_OK;
}

mlr_code ipc_write_eos(ipc_write_fn write, void *ctx, mlr_error *err) {
  static const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  return write(ctx, eos, 8, err);
}

typedef struct mem_sink {
  uint8_t *data;
  int64_t size, cap;
} mem_sink;

static mlr_code mem_write(void *ctx, const void *data, int64_t size, mlr_error *err) {
  mem_sink *m = ctx;
  if (m->size + size > m->cap) {
    int64_t cap = m->cap < 256 ? 256 : m->cap;
    while (cap < m->size + size) cap *= 2;
    uint8_t *p = realloc(m->data, (size_t)cap);
    if (p == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    m->data = p;
    m->cap = cap;
  }
  memcpy(m->data + m->size, data, (size_t)size);
  m->size += size;
  return MALLARD_OK;
}

mlr_code ipc_schema_to_flight_bytes(const struct ArrowSchema *schema, uint8_t **out,
                                    int64_t *out_size, mlr_error *err) {
  *out = NULL;
  *out_size = 0;
  ipc_encoder *enc = NULL;
  ipc_message msg = {0};
  mem_sink m = {0};
  mlr_code rc = ipc_encoder_new(schema, NULL, &enc, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = ipc_encoder_schema(enc, &msg, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = ipc_write_message(&msg, mem_write, &m, err);
  if (rc != MALLARD_OK) goto cleanup;
  *out = m.data;
  *out_size = m.size;
  m.data = NULL;
cleanup:
  free(m.data);
  ipc_message_release(&msg);
  ipc_encoder_free(enc);
  return rc;
}
