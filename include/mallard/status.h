/* Status codes shared by every Mallard module and the public client API. The numbering is
 * gRPC's (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) on purpose: a status
 * travels from the IPC codec up to the wire and back without a translation table. */
#ifndef MALLARD_STATUS_H
#define MALLARD_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mallard_code {
  MALLARD_OK = 0,
  MALLARD_CANCELLED = 1,
  MALLARD_UNKNOWN = 2,
  MALLARD_INVALID_ARGUMENT = 3,
  MALLARD_DEADLINE_EXCEEDED = 4,
  MALLARD_NOT_FOUND = 5,
  MALLARD_ALREADY_EXISTS = 6,
  MALLARD_PERMISSION_DENIED = 7,
  MALLARD_RESOURCE_EXHAUSTED = 8,
  MALLARD_FAILED_PRECONDITION = 9,
  MALLARD_ABORTED = 10,
  MALLARD_OUT_OF_RANGE = 11,
  MALLARD_UNIMPLEMENTED = 12,
  MALLARD_INTERNAL = 13,
  MALLARD_UNAVAILABLE = 14,
  MALLARD_DATA_LOSS = 15,
  MALLARD_UNAUTHENTICATED = 16
} mallard_code;

#define MALLARD_ERROR_MESSAGE_SIZE 1024

/* A status code plus a human-readable message. Every fallible call takes an optional
 * `mallard_error *` (may be NULL) and returns the code it stored. Plain data: no release. */
typedef struct mallard_error {
  mallard_code code;
  char message[MALLARD_ERROR_MESSAGE_SIZE];
} mallard_error;

/* Name of a code as gRPC spells it ("INVALID_ARGUMENT"); never NULL. */
const char *mallard_code_name(mallard_code code);

#ifdef __cplusplus
}
#endif

#endif /* MALLARD_STATUS_H */
