/* Streaming an Arrow stream into a DoPut, reading and sending overlapped (cli_pump.c). */
#ifndef CLI_PUMP_H
#define CLI_PUMP_H

#include "cli/cli_client.h"

#include <pthread.h>
#include <stdatomic.h>

/* Sends every batch of src (borrowed; the caller releases it) to a DoPut with desc, reads the
 * final PutResult ({"rows": N}) into *rows_out. A failing source cancels the upload, so the
 * server keeps nothing of it. *bytes_out (may be NULL) gets the bytes sent (Arrow buffers).
 * Prints errors itself; returns the exit code. */
int cli_pump_put(const char *cmd, mallard_client *client, const mallard_call_options *call,
                 const mallard_descriptor *desc, struct ArrowArrayStream *src,
                 const char *progress_label, bool quiet, int64_t *rows_out, int64_t *bytes_out);

/* Batches held in memory (bench: the prototype's GET materializes its result). */
typedef struct cli_batches {
  struct ArrowSchema schema;
  struct ArrowArray *a;
  size_t n, cap, pos;
} cli_batches;
/* Moves *b into the list (b->release becomes NULL); -1 when out of memory. */
int cli_batches_push(cli_batches *l, struct ArrowArray *b);
void cli_batches_free(cli_batches *l);
/* A stream lending the list's batches (borrowed: the list stays valid and can be streamed
 * again); out->release does not free the list. */
void cli_batches_stream(cli_batches *l, struct ArrowArrayStream *out);

/* DoGet sql and read it to the end, counting rows and bytes (Arrow buffers); if keep is
 * non-NULL the batches and schema are moved into it. */
mallard_code cli_drain_get(mallard_client *client, const mallard_call_options *call,
                           const char *sql, int64_t *rows_out, int64_t *bytes_out,
                           cli_batches *keep, mallard_error *err);

/* Sends every batch of src (borrowed) into w on its own thread, then half-closes, while the
 * caller reads the exchange's answer: a DoExchange needs both directions at once. A failing
 * source cancels the call (src_msg says why); rc/err hold the writer's status. */
typedef struct cli_feeder {
  mallard_writer *w;
  struct ArrowArrayStream *src;
  mallard_error err;
  mallard_code rc;
  char src_msg[512];
  atomic_bool src_failed; /* set once src_msg holds why reading the source failed */
  pthread_t thread;
} cli_feeder;
/* Starts the thread (0 ok, else an errno); cli_feeder_join waits for it. */
int cli_feeder_start(cli_feeder *f, mallard_writer *w, struct ArrowArrayStream *src);
void cli_feeder_join(cli_feeder *f);

/* DoExchange with descriptor CMD desc (an exchanger name or JSON): sends src (borrowed,
 * consumed) from a thread while reading the answer, counting its rows and bytes; with keep the
 * answer's batches are moved into it; schema_out (may be NULL) gets the answer's schema. */
mallard_code cli_exchange_stream(mallard_client *client, const mallard_call_options *call,
                                 const char *desc, struct ArrowArrayStream *src, int64_t *rows_out,
                                 int64_t *bytes_out, cli_batches *keep,
                                 struct ArrowSchema *schema_out, mallard_error *err);

/* The DoPut CMD JSON {"table": .., "schema": .., "mode": ..}; caller frees. */
char *cli_put_command(const char *schema, const char *table, const char *mode);

#endif /* CLI_PUMP_H */
