/* libFuzzer target: decodes the input as an Arrow IPC stream with Mallard's decoder and fully
 * validates every record batch; any crash, leak or sanitizer report is a bug. */
#include "arrow/arrowc_array.h"
#include "ipc/ipc.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct mem_reader {
  const uint8_t *data;
  int64_t size, pos;
} mem_reader;

static mlr_code mem_read(void *ctx, void *dst, int64_t size, int64_t *got, mlr_error *err) {
  mem_reader *m = ctx;
  int64_t n = m->size - m->pos < size ? m->size - m->pos : size;
  if (n > 0) memcpy(dst, m->data + m->pos, (size_t)n);
  m->pos += n;
  *got = n;
  return MALLARD_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mem_reader m = {data, (int64_t)size, 0};
  /* Bounded so that a hostile length cannot exhaust the fuzzer's memory limit. */
  ipc_read_options opts = {.max_nesting_depth = 64, .max_decompressed = 16 << 20};
  ipc_stream_reader *r = NULL;
  mlr_error err;
  if (ipc_stream_reader_new(mem_read, &m, &opts, &r, &err) != MALLARD_OK) return 0;
  struct ArrowSchema schema;
  if (ipc_stream_reader_schema(r, &schema, &err) == MALLARD_OK) {
    for (int i = 0; i < 1000; i++) {
      struct ArrowArray batch;
      bool eof;
      if (ipc_stream_reader_next(r, &batch, &eof, &err) != MALLARD_OK || eof) break;
      if (arrowc_array_validate(&schema, &batch, &err) != MALLARD_OK) __builtin_trap();
      batch.release(&batch);
    }
    schema.release(&schema);
  }
  ipc_stream_reader_free(r);
  return 0;
}
