/* mallard-ipc-gen: writes one Arrow IPC stream (CASE.arrows) and, where valid, one IPC file
 * (CASE.arrow) per hand-built case of tests/unit/ipc/test_write_cases.h, for pyarrow to check.
 * usage: mallard-ipc-gen OUTDIR [none|lz4|zstd|split] [CASE...] (split: max_body_size 1) */
#include "ipc/ipc.h"
#include "ipc/test_write_cases.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static mlr_code file_write(void *ctx, const void *data, int64_t size, mlr_error *err) {
  if (size > 0 && fwrite(data, 1, (size_t)size, ctx) != (size_t)size)
    return mlr_error_set(err, MALLARD_UNAVAILABLE, "write failed: %s", strerror(errno));
  return MALLARD_OK;
}

static mlr_code stream_sink(void *ctx, ipc_message *msg, mlr_error *err) {
  mlr_code rc = ipc_write_message(msg, file_write, ctx, err);
  ipc_message_release(msg);
  return rc;
}

static mlr_code write_stream(const twc_case *c, const ipc_write_options *opts, FILE *f,
                             mlr_error *err) {
  twc_out o = {0};
  c->build(&o);
  ipc_encoder *enc = NULL;
  ipc_message msg = {0};
  mlr_code rc = ipc_encoder_new(&o.schema, opts, &enc, err);
  if (rc == MALLARD_OK) rc = ipc_encoder_schema(enc, &msg, err);
  if (rc == MALLARD_OK) rc = ipc_write_message(&msg, file_write, f, err);
  for (int i = 0; i < o.n_batches && rc == MALLARD_OK; i++)
    rc = ipc_encoder_batch(enc, &o.batches[i], stream_sink, f, err);
  if (rc == MALLARD_OK) rc = ipc_write_eos(file_write, f, err);
  ipc_message_release(&msg);
  ipc_encoder_free(enc);
  twc_release(&o);
  return rc;
}

static mlr_code write_file(const twc_case *c, const ipc_write_options *opts, FILE *f, bool *skipped,
                           mlr_error *err) {
  twc_out o = {0};
  c->build(&o);
  *skipped = o.stream_only;
  ipc_file_writer *w = NULL;
  mlr_code rc = MALLARD_OK;
  if (!o.stream_only) {
    rc = ipc_file_writer_new(&o.schema, opts, file_write, f, &w, err);
    for (int i = 0; i < o.n_batches && rc == MALLARD_OK; i++)
      rc = ipc_file_writer_write(w, &o.batches[i], err);
    if (rc == MALLARD_OK) rc = ipc_file_writer_finish(w, err);
    ipc_file_writer_free(w);
  }
  twc_release(&o);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: mallard-ipc-gen OUTDIR [none|lz4|zstd|split] [CASE...]\n");
    return 2;
  }
  ipc_write_options opts = {0};
  if (argc >= 3) {
    if (strcmp(argv[2], "lz4") == 0)
      opts.compression = IPC_COMPRESSION_LZ4_FRAME;
    else if (strcmp(argv[2], "zstd") == 0)
      opts.compression = IPC_COMPRESSION_ZSTD;
    else if (strcmp(argv[2], "split") == 0)
      opts.max_body_size = 1; /* every batch of two rows or more as one message per row */
    else if (strcmp(argv[2], "none") != 0) {
      fprintf(stderr, "mallard-ipc-gen: unknown compression '%s'\n", argv[2]);
      return 2;
    }
  }
  mkdir(argv[1], 0755);
  int failures = 0;
  for (size_t i = 0; i < TWC_N_CASES; i++) {
    const twc_case *c = &twc_cases[i];
    if (argc > 3) {
      bool wanted = false;
      for (int k = 3; k < argc; k++) wanted = wanted || strcmp(argv[k], c->name) == 0;
      if (!wanted) continue;
    }
    char path[4096];
    for (int kind = 0; kind < 2; kind++) {
      snprintf(path, sizeof path, "%s/%s.%s", argv[1], c->name, kind == 0 ? "arrows" : "arrow");
      FILE *f = fopen(path, "wb");
      if (f == NULL) {
        fprintf(stderr, "mallard-ipc-gen: %s: %s\n", path, strerror(errno));
        return 1;
      }
      mlr_error err = {0};
      bool skipped = false;
      mlr_code rc =
          kind == 0 ? write_stream(c, &opts, f, &err) : write_file(c, &opts, f, &skipped, &err);
      fclose(f);
      if (skipped) remove(path);
      if (rc != MALLARD_OK) {
        fprintf(stderr, "mallard-ipc-gen: %s: %s\n", path, err.message);
        failures++;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
