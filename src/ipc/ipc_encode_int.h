/* Internals shared by the encode side of the IPC codec (encoder, compression, file writer):
 * not part of the public API in ipc.h. */
#ifndef IPC_ENCODE_INT_H
#define IPC_ENCODE_INT_H

#include "ipc/fb_builder.h"
#include "arrow/arrowc_pool.h"
#include "ipc/ipc.h"

/* Flatbuffer constants of Arrow's Schema.fbs / Message.fbs / File.fbs. */
enum {
  IPC_FB_VERSION_V5 = 4,
  IPC_FB_HEADER_SCHEMA = 1,
  IPC_FB_HEADER_DICTIONARY_BATCH = 2,
  IPC_FB_HEADER_RECORD_BATCH = 3
};

/* Per-buffer compressor state (contexts reused across buffers). */
typedef struct ipc_compressor {
  ipc_compression codec;
  int level;
  void *zstd_cctx;
  void *lz4_cctx;
} ipc_compressor;

mlr_code ipc_compressor_init(ipc_compressor *c, ipc_compression codec, int level, mlr_error *err);
void ipc_compressor_release(ipc_compressor *c);
/* Upper bound of the compressed size of `size` bytes. */
int64_t ipc_compress_bound(const ipc_compressor *c, int64_t size);
/* Compresses src into dst (dst_cap >= ipc_compress_bound); *out_size is the compressed size. */
mlr_code ipc_compress_into(ipc_compressor *c, const uint8_t *src, int64_t size, uint8_t *dst,
                           int64_t dst_cap, int64_t *out_size, mlr_error *err);

/* Builds this encoder's Schema table into b (for the file footer). */
fbb_ref ipc_encoder_build_schema_table(const ipc_encoder *enc, fbb *b);

/* In file mode a dictionary that changes other than by growing is refused (IPC files allow
 * only one dictionary per field plus deltas). */
void ipc_encoder_set_file_mode(ipc_encoder *enc, bool file_mode);

#endif /* IPC_ENCODE_INT_H */
