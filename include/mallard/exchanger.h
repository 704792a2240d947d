/* Mallard's native exchanger ABI: the plain-C interface a shared object in --exchanger-dir
 * implements to run as a DoExchange transform. Data crosses it only as Arrow C Data Interface
 * structs (mallard/arrow_c.h), so an exchanger needs no Mallard library to build.
 *
 * A library exports two symbols (with C linkage and default visibility):
 *
 *   uint32_t mallard_exchanger_abi_version(void);       returns MALLARD_EXCHANGER_ABI_VERSION
 *   const mallard_exchanger *mallard_exchanger_entry(void);   returns a static descriptor
 *
 * The server dlopens every *.so of the directory at start, calls mallard_exchanger_abi_version
 * and refuses (with a log line) a library whose version differs from its own, then registers the
 * descriptor under its `name`. A change that breaks compatibility bumps the version.
 *
 * Calls: for each exchange the server calls init once, then on_batch once per input batch, then
 * on_end once when the input ends cleanly, then release (always, also after an error or a
 * cancellation; on_end is then skipped). Calls on one state come from one thread at a time, but
 * different exchanges run concurrently on other threads: keep all mutable data in the state.
 *
 * Return codes: 0 = OK; otherwise a gRPC status number, usually MALLARD_EXCHANGER_INVALID_ARGUMENT
 * (bad params or input: the client's fault) or MALLARD_EXCHANGER_INTERNAL, with a NUL-terminated
 * message written into error[0 .. error_size). The stream then ends with that status. */
#ifndef MALLARD_EXCHANGER_H
#define MALLARD_EXCHANGER_H

#include "mallard/arrow_c.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MALLARD_EXCHANGER_ABI_VERSION 1u

#define MALLARD_EXCHANGER_OK 0
#define MALLARD_EXCHANGER_CANCELLED 1
#define MALLARD_EXCHANGER_INVALID_ARGUMENT 3
#define MALLARD_EXCHANGER_RESOURCE_EXHAUSTED 8
#define MALLARD_EXCHANGER_INTERNAL 13

/* Hands one output batch to the server: a "+s" array matching the output schema, moved (the
 * server releases it; the caller must not touch it afterwards, also when this fails). Blocks while
 * the client is slow. Returns 0, or non-zero when the exchange is cancelled or failed: then the
 * exchanger should stop and return that value. */
typedef int (*mallard_exchanger_emit_fn)(void *emit_ctx, struct ArrowArray *batch);

typedef struct mallard_exchanger {
  /* MALLARD_EXCHANGER_ABI_VERSION the library was built with. */
  uint32_t abi_version;
  /* Name clients use in the DoExchange command ([A-Za-z0-9_.-], at most 128 bytes). */
  const char *name;
  /* One line for list_exchangers; may be NULL. */
  const char *description;

  /* Starts one exchange. params_json: the command's "params" object as JSON text, or NULL when
   * the client sent none. input_schema: a "+s" schema, borrowed for the call only. On success sets
   * *state (opaque to the server) and fills *output_schema (a "+s" schema that the server
   * releases). On failure sets neither, and writes error. */
  int (*init)(const char *params_json, const struct ArrowSchema *input_schema, void **state,
              struct ArrowSchema *output_schema, char *error, size_t error_size);

  /* One input batch ("+s", matching input_schema), moved in: the exchanger releases it (or moves
   * it, or its children, into an emitted batch). May call emit zero or more times. */
  int (*on_batch)(void *state, struct ArrowArray *batch, mallard_exchanger_emit_fn emit,
                  void *emit_ctx, char *error, size_t error_size);

  /* End of the input: may emit the last batches. */
  int (*on_end)(void *state, mallard_exchanger_emit_fn emit, void *emit_ctx, char *error,
                size_t error_size);

  /* Frees the state. Always called once for each successful init. */
  void (*release)(void *state);
} mallard_exchanger;

/* The two exported entry points (declared here so that an exchanger's definitions are checked
 * against them). */
uint32_t mallard_exchanger_abi_version(void);
const mallard_exchanger *mallard_exchanger_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* MALLARD_EXCHANGER_H */
