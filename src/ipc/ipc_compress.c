/* Body compression for the IPC encoder: one LZ4 frame or ZSTD frame per buffer, with the
 * compression contexts kept across buffers. */
#include "ipc/ipc_encode_int.h"

#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Level 1, as Arrow C++ (and so pyarrow) uses by default: IPC compression is about transfer
 * speed, and level 1 compresses about three times faster than zstd's own default of 3. */
#define IPC_ZSTD_DEFAULT_LEVEL 1

mlr_code ipc_compressor_init(ipc_compressor *c, ipc_compression codec, int level, mlr_error *err) {
  memset(c, 0, sizeof *c);
  c->codec = codec;
  c->level = level;
  switch (codec) {
  case IPC_COMPRESSION_NONE:
    return MALLARD_OK;
  case IPC_COMPRESSION_ZSTD:
    c->zstd_cctx = ZSTD_createCCtx();
    if (c->zstd_cctx == NULL)
      return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot create a ZSTD context");
    return MALLARD_OK;
  case IPC_COMPRESSION_LZ4_FRAME: {
    LZ4F_cctx *ctx = NULL;
    if (LZ4F_isError(LZ4F_createCompressionContext(&ctx, LZ4F_VERSION)))
      return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot create an LZ4 context");
    c->lz4_cctx = ctx;
    return MALLARD_OK;
  }
  }
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "unknown compression codec %d", (int)codec);
}

void ipc_compressor_release(ipc_compressor *c) {
  if (c->zstd_cctx != NULL) ZSTD_freeCCtx(c->zstd_cctx);
  if (c->lz4_cctx != NULL) LZ4F_freeCompressionContext(c->lz4_cctx);
  memset(c, 0, sizeof *c);
}

int64_t ipc_compress_bound(const ipc_compressor *c, int64_t size) {
  if (c->codec == IPC_COMPRESSION_ZSTD) return (int64_t)ZSTD_compressBound((size_t)size);
  LZ4F_preferences_t prefs;
  memset(&prefs, 0, sizeof prefs);
  prefs.frameInfo.contentSize = (unsigned long long)size;
  return (int64_t)LZ4F_compressFrameBound((size_t)size, &prefs);
}

mlr_code ipc_compress_into(ipc_compressor *c, const uint8_t *src, int64_t size, uint8_t *dst,
                           int64_t dst_cap, int64_t *out_size, mlr_error *err) {
  *out_size = 0;
  if (size < 0 || (uint64_t)size > (uint64_t)INT32_MAX * 2)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "buffer of %lld bytes is too large to compress", (long long)size);
  size_t bound = (size_t)dst_cap;
  if (c->codec == IPC_COMPRESSION_ZSTD) {
    size_t n = ZSTD_compressCCtx(c->zstd_cctx, dst, bound, src, (size_t)size,
                                 c->level != 0 ? c->level : IPC_ZSTD_DEFAULT_LEVEL);
    if (ZSTD_isError(n))
      return mlr_error_set(err, MALLARD_INTERNAL, "ZSTD compression failed: %s",
                           ZSTD_getErrorName(n));
    *out_size = (int64_t)n;
    return MALLARD_OK;
  }
  if (c->codec == IPC_COMPRESSION_LZ4_FRAME) {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.contentSize = (unsigned long long)size;
    size_t n = LZ4F_compressBegin(c->lz4_cctx, dst, bound, &prefs);
    size_t total = 0;
    if (!LZ4F_isError(n)) {
      total = n;
      /* stableSrc: the source outlives the call, so LZ4 need not copy it for linked blocks */
      LZ4F_compressOptions_t copts;
      memset(&copts, 0, sizeof copts);
      copts.stableSrc = 1;
      n = LZ4F_compressUpdate(c->lz4_cctx, dst + total, bound - total, src, (size_t)size, &copts);
    }
    if (!LZ4F_isError(n)) {
      total += n;
      n = LZ4F_compressEnd(c->lz4_cctx, dst + total, bound - total, NULL);
    }
    if (LZ4F_isError(n))
      return mlr_error_set(err, MALLARD_INTERNAL, "LZ4 compression failed: %s",
                           LZ4F_getErrorName(n));
    *out_size = (int64_t)(total + n);
    return MALLARD_OK;
  }
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "no compression codec configured");
}
