/* IPC stream reader: framed messages pulled through a read callback and fed to the decoder. */
#include "ipc/ipc_read_int.h"

#include <stdlib.h>
#include <string.h>

struct ipc_stream_reader {
  ipc_read_fn read;
  void *ctx;
  ipc_decoder *dec;
  bool eos;
};

/* Reads exactly size bytes; *got_all = false when the input ended first (after 0 bytes when
 * allow_eof, otherwise an error). */
static mlr_code read_exact(ipc_stream_reader *r, uint8_t *dst, int64_t size, bool allow_eof,
                           bool *eof, mlr_error *err) {
  int64_t done = 0;
  *eof = false;
  while (done < size) {
    int64_t got = 0;
    MLR_RETURN_NOT_OK(r->read(r->ctx, dst + done, size - done, &got, err));
    if (got < 0 || got > size - done)
      return mlr_error_set(err, MALLARD_INTERNAL, "read callback returned %lld bytes",
                           (long long)got);
    if (got == 0) {
      if (done == 0 && allow_eof) {
        *eof = true;
        return MALLARD_OK;
      }
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "IPC stream ends in the middle of a message (%lld of %lld bytes)",
                           (long long)done, (long long)size);
    }
    done += got;
  }
  return MALLARD_OK;
}

/* Reads size bytes into a malloc'ed buffer that grows as data arrives, so that a hostile
 * length does not allocate more than what the input actually holds (times two). */
static mlr_code read_alloc(ipc_stream_reader *r, int64_t size, uint8_t **out, mlr_error *err) {
  *out = NULL;
  int64_t cap = size < (1 << 20) ? size : (1 << 20), done = 0;
  uint8_t *buf = malloc(cap > 0 ? (size_t)cap : 1);
  if (buf == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  while (done < size) {
    if (done == cap) {
      int64_t ncap = cap > size / 2 ? size : cap * 2;
      uint8_t *nb = realloc(buf, (size_t)ncap);
      if (nb == NULL) {
        free(buf);
        return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                             "out of memory reading a %lld-byte message", (long long)size);
      }
      buf = nb;
      cap = ncap;
    }
    bool eof;
    mlr_code rc = read_exact(r, buf + done, cap - done, false, &eof, err);
    if (rc != MALLARD_OK) {
      free(buf);
      return rc;
    }
    done = cap;
  }
  *out = buf;
  return MALLARD_OK;
}

mlr_code ipc_stream_reader_new(ipc_read_fn read, void *read_ctx, const ipc_read_options *opts,
                               ipc_stream_reader **out, mlr_error *err) {
  *out = NULL;
  ipc_stream_reader *r = calloc(1, sizeof *r);
  if (r == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  r->read = read;
  r->ctx = read_ctx;
  mlr_code rc = ipc_decoder_new(opts, &r->dec, err);
  if (rc != MALLARD_OK) {
    free(r);
    return rc;
  }
  *out = r;
  return MALLARD_OK;
}

void ipc_stream_reader_free(ipc_stream_reader *r) {
  if (r == NULL) return;
  ipc_decoder_free(r->dec);
  free(r);
}

static void free_ctx(void *p) {
  free(p);
}

/* Reads and decodes one message. *type = NONE at end of stream. */
static mlr_code read_one(ipc_stream_reader *r, ipc_message_type *type, struct ArrowArray *batch,
                         mlr_error *err) {
  *type = IPC_MESSAGE_NONE;
  if (r->eos) return MALLARD_OK;
  uint8_t prefix[4];
  bool eof;
  MLR_RETURN_NOT_OK(read_exact(r, prefix, 4, true, &eof, err));
  if (eof) {
    r->eos = true; /* an input without the end-of-stream marker ends here too */
    return MALLARD_OK;
  }
  int32_t len = fbr_read_i32(prefix);
  if (len == -1) {
    MLR_RETURN_NOT_OK(read_exact(r, prefix, 4, false, &eof, err));
    len = fbr_read_i32(prefix);
  }
  if (len == 0) {
    r->eos = true;
    return MALLARD_OK;
  }
  if (len < 0)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "negative message length %d", len);
  uint8_t *meta;
  MLR_RETURN_NOT_OK(read_alloc(r, len, &meta, err));
  ipc_message_type peek_type;
  int64_t body_len;
  mlr_code rc = ipc_message_peek(meta, len, &peek_type, &body_len, err);
  arrowc_buf *body = NULL;
  if (rc == MALLARD_OK && body_len > 0) {
    uint8_t *b;
    rc = read_alloc(r, body_len, &b, err);
    if (rc == MALLARD_OK) {
      body = arrowc_buf_wrap(b, body_len, free_ctx, b);
      if (body == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    }
  }
  if (rc == MALLARD_OK) rc = ipc_decoder_decode(r->dec, meta, len, body, type, batch, err);
  arrowc_buf_unref(body);
  free(meta);
  return rc;
}

mlr_code ipc_stream_reader_schema(ipc_stream_reader *r, struct ArrowSchema *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  while (!ipc_decoder_has_schema(r->dec)) {
    ipc_message_type t;
    struct ArrowArray batch;
    memset(&batch, 0, sizeof batch);
    MLR_RETURN_NOT_OK(read_one(r, &t, &batch, err));
    if (t == IPC_MESSAGE_NONE)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "IPC stream has no schema message");
  }
  return ipc_decoder_schema(r->dec, out, err);
}

mlr_code ipc_stream_reader_next(ipc_stream_reader *r, struct ArrowArray *batch_out, bool *eof,
                                mlr_error *err) {
  *eof = false;
  if (!ipc_decoder_has_schema(r->dec)) {
    struct ArrowSchema s;
    MLR_RETURN_NOT_OK(ipc_stream_reader_schema(r, &s, err));
    s.release(&s);
  }
  for (;;) {
    ipc_message_type t;
    struct ArrowArray batch;
    memset(&batch, 0, sizeof batch);
    MLR_RETURN_NOT_OK(read_one(r, &t, &batch, err));
    if (t == IPC_MESSAGE_NONE) {
      *eof = true;
      return MALLARD_OK;
    }
    if (t == IPC_MESSAGE_RECORD_BATCH) {
      *batch_out = batch;
      return MALLARD_OK;
    }
  }
}
