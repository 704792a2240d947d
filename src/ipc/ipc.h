/* The Arrow IPC codec: Arrow C Data Interface schemas and record batches <-> Arrow IPC
 * messages
 * (https://arrow.apache.org/docs/format/Columnar.html#serialization-and-interprocess-communication-ipc),
 * with body compression, dictionaries and IPC stream/file framing.
 *
 * The codec does no I/O of its own: messages are byte ranges in and out. Framing helpers for
 * streams and files take read/write callbacks. Every length read from input is checked; a
 * hostile message yields MALLARD_INVALID_ARGUMENT with a message saying what and where, never a
 * crash or an out-of-bounds read.
 *
 * Conventions: a record batch is an ArrowArray of format "+s" (struct) whose children are the
 * columns, matching a "+s" ArrowSchema whose children are the fields (as in the C stream
 * interface). All functions return MALLARD_OK or an error code and fill `err` (may be NULL). */
#ifndef IPC_H
#define IPC_H

#include "arrow/arrowc_buf.h"
#include "common/mlr_error.h"
#include "mallard/arrow_c.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum ipc_compression {
  IPC_COMPRESSION_NONE = 0,
  IPC_COMPRESSION_LZ4_FRAME = 1,
  IPC_COMPRESSION_ZSTD = 2
} ipc_compression;

typedef enum ipc_message_type {
  IPC_MESSAGE_NONE = 0,
  IPC_MESSAGE_SCHEMA = 1,
  IPC_MESSAGE_DICTIONARY_BATCH = 2,
  IPC_MESSAGE_RECORD_BATCH = 3
} ipc_message_type;

/* ------------------------------------------------------------------------------------------
 * Encoded messages (encoder output)
 * ---------------------------------------------------------------------------------------- */

/* One contiguous piece of a message body. */
typedef struct ipc_segment {
  const uint8_t *data;
  int64_t size;
} ipc_segment;

/* An encoded IPC message, ready to frame or to put into a FlightData:
 *   metadata: the flatbuffer-encoded `Message` table (no continuation marker, no length prefix,
 *             no padding); this is exactly FlightData.data_header.
 *   body:     the concatenation of `segments` (body_size bytes in all, a multiple of 8); buffers
 *             are 8-byte aligned and padded, padding segments point at static zeros.
 * Segments view the source ArrowArray's buffers where no copy is needed (zero copy): the message
 * owns the source array (it was moved in) and keeps it alive until ipc_message_release.
 * Ownership: the holder of the message calls ipc_message_release exactly once. */
typedef struct ipc_message {
  ipc_message_type type;
  uint8_t *metadata;
  int64_t metadata_size;
  ipc_segment *segments;
  int64_t n_segments;
  int64_t body_size;
  void *private_data; /* owned state: the source array, compressed scratch, ... */
} ipc_message;

/* Releases everything the message owns (including the moved-in source array) and zeroes it.
 * Safe on a zeroed message. */
void ipc_message_release(ipc_message *msg);

/* ------------------------------------------------------------------------------------------
 * Encoder
 * ---------------------------------------------------------------------------------------- */

typedef struct ipc_write_options {
  ipc_compression compression; /* body compression codec, default NONE */
  /* Buffers smaller than this are sent uncompressed (length -1 prefix) even with compression,
   * as are buffers that do not shrink. 0 means "compress every buffer". */
  int64_t compression_min_size;
  int zstd_level; /* 0 = library default */
  /* Threads compressing the buffers of one message: 0 or 1 = the calling thread only (the
   * default); n > 1 = the calling thread plus up to n - 1 threads the encoder starts on its
   * first large compressed message and joins in ipc_encoder_free (no global pool). Bodies of
   * less than 1 MiB in all are compressed on the calling thread. The output bytes are the same
   * whatever the number of threads. Capped at 64. */
  int compression_threads;
  /* Record batches whose message body would be larger than this many bytes go out as several
   * messages of consecutive rows (halving until each fits; one row always goes whole), so that
   * wide rows stay under a peer's message size limit. 0 = no limit (one message per batch). */
  int64_t max_body_size;
} ipc_write_options;

/* The max_body_size Mallard's server and client use: under the 4 MiB that gRPC clients and
 * servers accept by default (grpc-go's, grpc-java's), above a 65536-row batch of typical rows. */
#define IPC_FLIGHT_MAX_BODY_SIZE ((int64_t)4 << 20)

typedef struct ipc_encoder ipc_encoder;

/* Creates an encoder for batches of `schema` (deep-copied; the caller keeps its schema).
 * Refuses, with INVALID_ARGUMENT naming the column, a type it cannot encode.
 * Ownership: the caller releases the encoder with ipc_encoder_free. */
mlr_code ipc_encoder_new(const struct ArrowSchema *schema, const ipc_write_options *opts,
                         ipc_encoder **out, mlr_error *err);
void ipc_encoder_free(ipc_encoder *enc); /* NULL is a no-op */

/* The Schema message for this encoder's schema (custom metadata included). */
mlr_code ipc_encoder_schema(ipc_encoder *enc, ipc_message *out, mlr_error *err);

/* Called once per encoded message, in stream order. Takes ownership of *msg (moves it).
 * A non-OK return stops encoding and is returned by ipc_encoder_batch. */
typedef mlr_code (*ipc_message_sink)(void *ctx, ipc_message *msg, mlr_error *err);

/* Encodes one record batch (as several messages with max_body_size). Takes ownership of
 * *batch (moved: batch->release is set to NULL), also on error. Emits any DictionaryBatch messages
 * the batch needs (new dictionaries, deltas or replacements) before its RecordBatch message, all
 * through sink. Arrays with non-zero offsets (slices) are encoded correctly. */
mlr_code ipc_encoder_batch(ipc_encoder *enc, struct ArrowArray *batch, ipc_message_sink sink,
                           void *sink_ctx, mlr_error *err);

/* ------------------------------------------------------------------------------------------
 * Decoder
 * ---------------------------------------------------------------------------------------- */

/* How much of a record batch the decoder checks (the levels of Arrow C++'s Validate() and
 * ValidateFull()).
 *   FULL (the default): every check there is: each buffer within the body and large enough
 *     for its length, and then every offset (non-decreasing, within the data buffer or child),
 *     every list-view offset and size, every string/binary view (length, buffer index, range),
 *     every union type id and dense union offset, every dictionary index of a valid slot,
 *     every run end (strictly increasing), and every null count against its validity bitmap.
 *     Bytes from the network, or from any source not fully trusted, must be decoded with FULL:
 *     only then can no reader of the decoded arrays read out of bounds.
 *   STRUCTURAL: O(1) work per buffer, what Arrow C++'s IPC reader checks by default: each
 *     buffer lies within the body and is large enough for its length; lengths and null counts
 *     are within range; struct and fixed-size list children are long enough; the FIRST and
 *     LAST offsets of each string/binary/list array lie within its data buffer or child (and
 *     first <= last); a run-end encoded array's last run end covers its length.
 *     It does NOT check: the offsets between the first and the last (they may decrease or
 *     point anywhere in memory), list-view offsets and sizes, the views of string/binary view
 *     arrays, union type ids, dense union offsets, the lengths of sparse union children,
 *     dictionary indices, that run ends increase, or that null counts match the bitmaps. An
 *     array that fails one of these may make its reader read out of bounds, so STRUCTURAL is
 *     only for trusted input (e.g. files this process wrote itself), never for bytes received
 *     from a peer. Dictionary batches are validated FULL at either level (they are small, and
 *     delta dictionaries are concatenated by reading every value). */
typedef enum ipc_validation { IPC_VALIDATE_FULL = 0, IPC_VALIDATE_STRUCTURAL = 1 } ipc_validation;

typedef struct ipc_read_options {
  int max_nesting_depth;     /* default 64 when 0 */
  int64_t max_decompressed;  /* upper bound for one decompressed buffer; default 2 GiB when 0 */
  ipc_validation validation; /* default (0) FULL */
  /* Threads decompressing the buffers of one compressed message: 0 or 1 = the calling thread
   * (the default); n > 1 = up to n - 1 more threads, started by the decoder on its first large
   * compressed message and joined in ipc_decoder_free (no global pool). Messages announcing
   * less than 1 MiB of decompressed buffers in all are decompressed on the calling thread.
   * Capped at 64. Either way, decompressed buffers come from a cache of blocks the decoder and
   * its arrays share (at most 32 MiB kept; freed with the last of them). */
  int compression_threads;
} ipc_read_options;

typedef struct ipc_decoder ipc_decoder;

mlr_code ipc_decoder_new(const ipc_read_options *opts, ipc_decoder **out, mlr_error *err);
void ipc_decoder_free(ipc_decoder *dec); /* NULL is a no-op; arrays already handed out stay valid */

/* Decodes one message. `metadata` is the flatbuffer Message (FlightData.data_header, or the
 * bytes after the length prefix in a stream) and is only read during the call. `body` is the
 * message body (may be NULL when the body is empty) and is borrowed: decoded arrays that view
 * it (zero copy, when alignment allows) take their own reference.
 * On success *type_out says what the message was:
 *   SCHEMA:           the decoder now has a schema (ipc_decoder_schema); a second schema is an
 *                     error ("schema message after the stream's schema").
 *   DICTIONARY_BATCH: absorbed into the decoder's dictionary state (deltas appended); an
 *                     unknown dictionary id is an error.
 *   RECORD_BATCH:     *batch_out (a "+s" array) is filled; the caller owns and releases it.
 *                     A batch before the schema is an error. */
mlr_code ipc_decoder_decode(ipc_decoder *dec, const uint8_t *metadata, int64_t metadata_size,
                            arrowc_buf *body, ipc_message_type *type_out,
                            struct ArrowArray *batch_out, mlr_error *err);

/* True once a schema message was decoded (or set with ipc_decoder_set_schema). */
bool ipc_decoder_has_schema(const ipc_decoder *dec);

/* A deep copy of the stream's schema ("+s", custom metadata included); the caller releases it. */
mlr_code ipc_decoder_schema(const ipc_decoder *dec, struct ArrowSchema *out, mlr_error *err);

/* Reads the body length a metadata buffer announces (Message.bodyLength), validating the
 * flatbuffer. Used by framing code before it reads the body. */
mlr_code ipc_message_peek(const uint8_t *metadata, int64_t metadata_size, ipc_message_type *type,
                          int64_t *body_length, mlr_error *err);

/* Schema <-> bytes without a stream: encodes a schema as a bare Schema message (the bytes of
 * FlightInfo.schema / SchemaResult.schema are a framed IPC Schema message: continuation marker,
 * length, metadata, padding), and decodes such bytes. The caller frees *out with free(). */
mlr_code ipc_schema_to_flight_bytes(const struct ArrowSchema *schema, uint8_t **out,
                                    int64_t *out_size, mlr_error *err);
mlr_code ipc_schema_from_flight_bytes(const uint8_t *data, int64_t size, struct ArrowSchema *out,
                                      mlr_error *err);

/* ------------------------------------------------------------------------------------------
 * Streams and files (framing)
 * ---------------------------------------------------------------------------------------- */

/* Write callback: writes all `size` bytes or fails. */
typedef mlr_code (*ipc_write_fn)(void *ctx, const void *data, int64_t size, mlr_error *err);
/* Read callback: reads up to `size` bytes into data; *got = 0 means end of input. */
typedef mlr_code (*ipc_read_fn)(void *ctx, void *data, int64_t size, int64_t *got, mlr_error *err);

/* Writes one framed message: 0xFFFFFFFF, int32 metadata length (padded to 8), metadata,
 * padding, body. */
mlr_code ipc_write_message(const ipc_message *msg, ipc_write_fn write, void *ctx, mlr_error *err);
/* Writes the end-of-stream marker (0xFFFFFFFF 0x00000000). */
mlr_code ipc_write_eos(ipc_write_fn write, void *ctx, mlr_error *err);

/* IPC stream reader over a read callback: yields the schema then batches. */
typedef struct ipc_stream_reader ipc_stream_reader;
mlr_code ipc_stream_reader_new(ipc_read_fn read, void *read_ctx, const ipc_read_options *opts,
                               ipc_stream_reader **out, mlr_error *err);
/* Reads up to and including the schema message. */
mlr_code ipc_stream_reader_schema(ipc_stream_reader *r, struct ArrowSchema *out, mlr_error *err);
/* Next record batch; *eof = true (and batch_out untouched) at end of stream. */
mlr_code ipc_stream_reader_next(ipc_stream_reader *r, struct ArrowArray *batch_out, bool *eof,
                                mlr_error *err);
void ipc_stream_reader_free(ipc_stream_reader *r);

/* IPC file writer ("ARROW1" magic, stream messages, footer with block index). */
typedef struct ipc_file_writer ipc_file_writer;
mlr_code ipc_file_writer_new(const struct ArrowSchema *schema, const ipc_write_options *opts,
                             ipc_write_fn write, void *ctx, ipc_file_writer **out, mlr_error *err);
mlr_code ipc_file_writer_write(ipc_file_writer *w, struct ArrowArray *batch /* moved */,
                               mlr_error *err);
mlr_code ipc_file_writer_finish(ipc_file_writer *w, mlr_error *err);
void ipc_file_writer_free(ipc_file_writer *w);

/* IPC file reader over an in-memory file image (e.g. mmap'ed), which must outlive the reader
 * and every batch read from it unless `image` is an arrowc_buf (it is: batches keep it alive). */
typedef struct ipc_file_reader ipc_file_reader;
mlr_code ipc_file_reader_new(arrowc_buf *image /* borrowed, ref taken */,
                             const ipc_read_options *opts, ipc_file_reader **out, mlr_error *err);
mlr_code ipc_file_reader_schema(ipc_file_reader *r, struct ArrowSchema *out, mlr_error *err);
int64_t ipc_file_reader_num_batches(const ipc_file_reader *r);
mlr_code ipc_file_reader_batch(ipc_file_reader *r, int64_t i, struct ArrowArray *out,
                               mlr_error *err);
void ipc_file_reader_free(ipc_file_reader *r);

#endif /* IPC_H */
