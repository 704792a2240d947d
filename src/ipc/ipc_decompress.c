/* Decompression of IPC body buffers (LZ4 frame, ZSTD): the output must have exactly the
 * announced uncompressed length. */
#include "ipc/ipc_read_int.h"

#include <lz4frame.h>
#include <stdlib.h>
#include <zstd.h>

static mlr_code lz4_decompress(const uint8_t *src, int64_t src_size, uint8_t *dst, int64_t dst_size,
                               mlr_error *err) {
  LZ4F_dctx *ctx = NULL;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION)))
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot create an LZ4 context");
  mlr_code rc = MALLARD_OK;
  int64_t in = 0, out = 0;
  for (;;) {
    size_t in_n = (size_t)(src_size - in), out_n = (size_t)(dst_size - out);
    size_t r = LZ4F_decompress(ctx, dst + out, &out_n, src + in, &in_n, NULL);
    if (LZ4F_isError(r)) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "LZ4 frame: %s", LZ4F_getErrorName(r));
      break;
    }
    in += (int64_t)in_n;
    out += (int64_t)out_n;
    if (r == 0) break; /* frame complete */
    if (in_n == 0 && out_n == 0) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         out >= dst_size ? "LZ4 frame decompresses to more than %lld bytes"
                                         : "LZ4 frame is truncated (%lld bytes expected)",
                         (long long)dst_size);
      break;
    }
  }
  LZ4F_freeDecompressionContext(ctx);
  if (rc == MALLARD_OK && out != dst_size)
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "LZ4 frame decompressed to %lld bytes, %lld announced", (long long)out,
                       (long long)dst_size);
  return rc;
}

static mlr_code zstd_decompress(const uint8_t *src, int64_t src_size, uint8_t *dst,
                                int64_t dst_size, mlr_error *err) {
  size_t r = ZSTD_decompress(dst, (size_t)dst_size, src, (size_t)src_size);
  if (ZSTD_isError(r))
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "ZSTD: %s", ZSTD_getErrorName(r));
  if ((int64_t)r != dst_size)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "ZSTD frame decompressed to %lld bytes, %lld announced", (long long)r,
                         (long long)dst_size);
  return MALLARD_OK;
}

/* A decompressed buffer's block, given back to its decoder's pool when the last array viewing
 * it is released. */
typedef struct pooled_block {
  arrowc_pool *pool;
  void *ptr;
  int64_t cap;
} pooled_block;

static void pooled_block_free(void *ctx) {
  pooled_block *b = ctx;
  arrowc_pool_put(b->pool, b->ptr, b->cap);
  arrowc_pool_unref(b->pool);
  free(b);
}

/* An output buffer of `size` bytes: a pooled block when there is a pool. */
static arrowc_buf *out_buffer(arrowc_pool *pool, int64_t size, uint8_t **data) {
  if (pool == NULL) {
    arrowc_buf *buf = arrowc_buf_alloc(size);
    *data = buf != NULL ? arrowc_buf_mutable_data(buf) : NULL;
    return buf;
  }
  pooled_block *b = malloc(sizeof *b);
  if (b == NULL) return NULL;
  b->ptr = arrowc_pool_get(pool, size, &b->cap);
  if (b->ptr == NULL) {
    free(b);
    return NULL;
  }
  arrowc_pool_ref(pool);
  b->pool = pool;
  *data = b->ptr;
  return arrowc_buf_wrap(b->ptr, size, pooled_block_free, b); /* frees b when out of memory */
}

mlr_code ipc_decompress(ipc_compression codec, const uint8_t *src, int64_t src_size,
                        int64_t uncompressed, arrowc_pool *pool, arrowc_buf **out, mlr_error *err) {
  *out = NULL;
  if (codec == IPC_COMPRESSION_ZSTD) {
    /* Refuse before allocating when the frame says otherwise. */
    unsigned long long fs = ZSTD_getFrameContentSize(src, (size_t)src_size);
    if (fs == ZSTD_CONTENTSIZE_ERROR)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "ZSTD: not a valid frame");
    if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != (unsigned long long)uncompressed)
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "ZSTD frame holds %llu bytes, %lld announced", fs,
                           (long long)uncompressed);
  }
  uint8_t *data = NULL;
  arrowc_buf *buf = out_buffer(pool, uncompressed, &data);
  if (buf == NULL)
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "out of memory decompressing a %lld-byte buffer", (long long)uncompressed);
  mlr_code rc;
  if (uncompressed == 0)
    rc = MALLARD_OK;
  else if (codec == IPC_COMPRESSION_LZ4_FRAME)
    rc = lz4_decompress(src, src_size, data, uncompressed, err);
  else if (codec == IPC_COMPRESSION_ZSTD)
    rc = zstd_decompress(src, src_size, data, uncompressed, err);
  else
    rc = mlr_error_set(err, MALLARD_UNIMPLEMENTED, "unknown compression codec %d", (int)codec);
  if (rc != MALLARD_OK) {
    arrowc_buf_unref(buf);
    return rc;
  }
  *out = buf;
  return MALLARD_OK;
}
