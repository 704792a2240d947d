/* Internals shared by the decode side of the IPC codec (schema parsing, decompression,
 * decoder, stream and file readers): not part of the public API in ipc.h. */
#ifndef IPC_READ_INT_H
#define IPC_READ_INT_H

#include "ipc/fb_reader.h"
#include "arrow/arrowc_pool.h"
#include "ipc/ipc.h"

/* Flatbuffer constants of Arrow's Schema.fbs / Message.fbs / File.fbs (read side). */
enum {
  IPC_RD_V4 = 3,
  IPC_RD_V5 = 4,
  IPC_RD_HEADER_SCHEMA = 1,
  IPC_RD_HEADER_DICTIONARY_BATCH = 2,
  IPC_RD_HEADER_RECORD_BATCH = 3,
  IPC_RD_HEADER_TENSOR = 4,
  IPC_RD_HEADER_SPARSE_TENSOR = 5
};

/* A dictionary-encoded node of a decoded schema and its dictionary id. `node` points into
 * the decoder's schema tree; node->dictionary is the value type. */
typedef struct ipc_dict_field {
  const struct ArrowSchema *node;
  int64_t id;
} ipc_dict_field;

/* Converts a flatbuffer Schema table into an owned "+s" ArrowSchema (custom metadata
 * included) and the list of its dictionary-encoded nodes (malloc'ed; caller frees).
 * Refuses big-endian schemas and nesting deeper than max_depth. */
mlr_code ipc_read_schema_table(const fbr_table *schema, int max_depth, struct ArrowSchema *out,
                               ipc_dict_field **dicts, int64_t *n_dicts, mlr_error *err);

/* Decompresses one IPC body buffer into *out (an owned buffer of exactly `uncompressed`
 * bytes, a block of `pool` when pool is not NULL). `src` excludes the 8-byte length prefix.
 * Thread-safe (the pool has its own lock). */
mlr_code ipc_decompress(ipc_compression codec, const uint8_t *src, int64_t src_size,
                        int64_t uncompressed, arrowc_pool *pool, arrowc_buf **out, mlr_error *err);

/* Loads a schema into a decoder that has none yet (file reader: the footer's schema). */
mlr_code ipc_decoder_load_schema(ipc_decoder *dec, const fbr_table *schema, mlr_error *err);

/* Splits a framed message at data[0..size): continuation marker (or legacy length), metadata
 * length, metadata. *consumed = bytes of framing + metadata (body follows). *eos = true for
 * the end-of-stream marker. */
mlr_code ipc_read_frame(const uint8_t *data, int64_t size, const uint8_t **metadata,
                        int64_t *metadata_size, int64_t *consumed, bool *eos, mlr_error *err);

#endif /* IPC_READ_INT_H */
