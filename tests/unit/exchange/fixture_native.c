/* Native exchanger fixtures for test_native.c, built three ways: FIXTURE_BAD_ABI reports an ABI
 * version this server does not speak; FIXTURE_NO_SYMBOLS exports nothing Mallard looks for;
 * otherwise a well-formed exchanger `failing` that fails on its second batch and on params
 * {"fail_init": true}. */
#include "mallard/exchanger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

#if defined(FIXTURE_NO_SYMBOLS)
EXPORT int not_an_exchanger(void);
EXPORT int not_an_exchanger(void) {
  return 42;
}
#else

typedef struct fstate {
  int batches;
} fstate;

static void sch_release(struct ArrowSchema *s) {
  for (int64_t i = 0; i < s->n_children; i++) free(s->children[i]);
  free(s->children);
  s->release = NULL;
}

static int f_init(const char *params, const struct ArrowSchema *in, void **state,
                  struct ArrowSchema *out, char *error, size_t size) {
  if (params != NULL && strstr(params, "\"fail_init\":true") != NULL) {
    snprintf(error, size, "init refused: fail_init was set");
    return MALLARD_EXCHANGER_INVALID_ARGUMENT;
  }
  /* Output: a single int64 column "seen" (rows seen so far), one row per batch. */
  memset(out, 0, sizeof *out);
  out->format = "+s";
  out->name = "";
  out->n_children = 1;
  out->children = calloc(1, sizeof *out->children);
  out->children[0] = calloc(1, sizeof **out->children);
  out->children[0]->format = "l";
  out->children[0]->name = "seen";
  out->children[0]->release = sch_release;
  out->release = sch_release;
  *state = calloc(1, sizeof(fstate));
  return MALLARD_EXCHANGER_OK;
}

static int f_on_batch(void *state, struct ArrowArray *batch, mallard_exchanger_emit_fn emit,
                      void *ctx, char *error, size_t size) {
  fstate *st = state;
  batch->release(batch);
  if (++st->batches == 2) {
    snprintf(error, size, "batch 2 is not welcome");
    return MALLARD_EXCHANGER_INTERNAL;
  }
  return MALLARD_EXCHANGER_OK;
}

static void f_release(void *state) {
  free(state);
}

static const mallard_exchanger desc = {
    .abi_version = MALLARD_EXCHANGER_ABI_VERSION,
    .name = "failing",
    .init = f_init,
    .on_batch = f_on_batch,
    .on_end = NULL,
    .release = f_release,
};

#ifdef FIXTURE_BAD_ABI
EXPORT uint32_t mallard_exchanger_abi_version(void) {
  return MALLARD_EXCHANGER_ABI_VERSION + 998;
}
#else
EXPORT uint32_t mallard_exchanger_abi_version(void) {
  return MALLARD_EXCHANGER_ABI_VERSION;
}
#endif
EXPORT const mallard_exchanger *mallard_exchanger_entry(void) {
  return &desc;
}
#endif
