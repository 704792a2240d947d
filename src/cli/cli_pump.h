/* Streaming an Arrow stream into a DoPut, reading and sending overlapped (cli_pump.c). */
#ifndef CLI_PUMP_H
#define CLI_PUMP_H

#include "cli/cli_client.h"

/* Sends every batch of src (borrowed; the caller releases it) to a DoPut with desc, reads the
 * final PutResult ({"rows": N}) into *rows_out. A failing source cancels the upload, so the
 * server keeps nothing of it. Prints errors itself; returns the exit code. */
int cli_pump_put(const char *cmd, mallard_client *client, const mallard_call_options *call,
                 const mallard_descriptor *desc, struct ArrowArrayStream *src,
                 const char *progress_label, bool quiet, int64_t *rows_out);

/* The DoPut CMD JSON {"table": .., "schema": .., "mode": ..}; caller frees. */
char *cli_put_command(const char *schema, const char *table, const char *mode);

#endif /* CLI_PUMP_H */
