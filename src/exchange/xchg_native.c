/* Native exchangers: the loader (dlopen every *.so of the operator's directory, check the ABI
 * version, refuse the rest with a log line) and the adapter from the plain-C ABI of
 * include/mallard/exchanger.h to instances. */
#include "exchange/xchg_internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint32_t (*abi_version_fn)(void);
typedef const mallard_exchanger *(*entry_fn)(void);

static void logf_to(void (*log)(void *, xchg_log_level, const char *), void *ctx,
                    xchg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void logf_to(void (*log)(void *, xchg_log_level, const char *), void *ctx,
                    xchg_log_level level, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  log(ctx, level, line);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with_so(const char *name) {
  size_t n = strlen(name);
  return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* Loads one library; returns an entry (holding the dl handle) or NULL after logging why not. */
static xchg_entry *load_one(const char *path, void (*log)(void *, xchg_log_level, const char *),
                            void *log_ctx) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *why = dlerror();
    logf_to(log, log_ctx, XCHG_LOG_ERROR, "refused native exchanger %s: dlopen failed: %s", path,
            why ? why : "unknown error");
    return NULL;
  }
  /* dlsym returns void*; converting through a union keeps -Wpedantic quiet about object/function
   * pointer casts. */
  union {
    void *obj;
    abi_version_fn fn;
  } ver = {dlsym(h, "mallard_exchanger_abi_version")};
  union {
    void *obj;
    entry_fn fn;
  } ent = {dlsym(h, "mallard_exchanger_entry")};
  if (ver.obj == NULL || ent.obj == NULL) {
    logf_to(log, log_ctx, XCHG_LOG_ERROR,
            "refused native exchanger %s: it does not export mallard_exchanger_abi_version and "
            "mallard_exchanger_entry (see include/mallard/exchanger.h)",
            path);
    dlclose(h);
    return NULL;
  }
  uint32_t v = ver.fn();
  if (v != MALLARD_EXCHANGER_ABI_VERSION) {
    logf_to(log, log_ctx, XCHG_LOG_ERROR,
            "refused native exchanger %s: built for exchanger ABI version %u, this server speaks "
            "version %u; rebuild it against this server's mallard/exchanger.h",
            path, v, MALLARD_EXCHANGER_ABI_VERSION);
    dlclose(h);
    return NULL;
  }
  const mallard_exchanger *d = ent.fn();
  const char *bad = NULL;
  if (d == NULL) {
    bad = "mallard_exchanger_entry returned NULL";
  } else if (d->abi_version != MALLARD_EXCHANGER_ABI_VERSION) {
    bad = "its descriptor's abi_version differs from mallard_exchanger_abi_version()";
  } else if (d->name == NULL || xchg_check_name(d->name, strlen(d->name), NULL) != MALLARD_OK) {
    bad = "its name is missing or not made of [A-Za-z0-9_.-] (at most 128 bytes)";
  } else if (d->init == NULL || d->on_batch == NULL || d->release == NULL) {
    bad = "init, on_batch and release are required";
  }
  if (bad != NULL) {
    logf_to(log, log_ctx, XCHG_LOG_ERROR, "refused native exchanger %s: %s", path, bad);
    dlclose(h);
    return NULL;
  }
  xchg_entry *e = calloc(1, sizeof *e);
  if (e == NULL) {
    dlclose(h);
    return NULL;
  }
  atomic_init(&e->refs, 1);
  e->kind = XCHG_KIND_NATIVE;
  e->dl_handle = h;
  e->native = d;
  e->name = strdup(d->name);
  e->path = strdup(path);
  e->description = d->description != NULL ? strdup(d->description) : NULL;
  if (e->name == NULL || e->path == NULL || (d->description != NULL && e->description == NULL)) {
    xchg_entry_unref(e);
    return NULL;
  }
  return e;
}

void xchg_native_load_dir(const char *dir, void (*add)(void *ctx, xchg_entry *e), void *add_ctx,
                          void (*log)(void *ctx, xchg_log_level level, const char *line),
                          void *log_ctx) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    logf_to(log, log_ctx, XCHG_LOG_ERROR, "cannot read the exchanger directory %s: %m", dir);
    return;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!ends_with_so(de->d_name)) continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      char **nn = realloc(names, nc * sizeof *nn);
      if (nn == NULL) break;
      names = nn;
      cap = nc;
    }
    names[n] = strdup(de->d_name);
    if (names[n] != NULL) n++;
  }
  closedir(d);
  /* Sorted, so that which library wins a name clash does not depend on the file system. */
  if (n > 0) qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (len > 0 && (size_t)len < sizeof path) {
      xchg_entry *e = load_one(path, log, log_ctx);
      if (e != NULL) add(add_ctx, e);
    }
    free(names[i]);
  }
  free(names);
  if (n == 0) logf_to(log, log_ctx, XCHG_LOG_INFO, "no native exchangers (*.so) in %s", dir);
}

/* ---------------------------------------------------------------- instances */

static mlr_code map_code(int code) {
  switch (code) {
  case MALLARD_EXCHANGER_CANCELLED:
    return MALLARD_CANCELLED;
  case MALLARD_EXCHANGER_INVALID_ARGUMENT:
    return MALLARD_INVALID_ARGUMENT;
  case MALLARD_EXCHANGER_RESOURCE_EXHAUSTED:
    return MALLARD_RESOURCE_EXHAUSTED;
  default:
    return MALLARD_INTERNAL;
  }
}

static mlr_code plugin_error(xchg_instance *inst, int code, char *msg, size_t msg_size,
                             mlr_error *err) {
  msg[msg_size - 1] = '\0';
  return mlr_error_set(err, map_code(code), "exchanger '%s': %s", inst->entry->name,
                       msg[0] != '\0' ? msg : "failed without a message");
}

mlr_code xchg_native_open(xchg_instance *inst, const char *params_json, mlr_error *err) {
  char msg[MALLARD_ERROR_MESSAGE_SIZE] = {0};
  struct ArrowSchema out = {0};
  void *state = NULL;
  const mallard_exchanger *d = inst->entry->native;
  int code = d->init(params_json, &inst->input_schema, &state, &out, msg, sizeof msg);
  if (code != 0) return plugin_error(inst, code, msg, sizeof msg, err);
  inst->native_state = state;
  inst->native_ready = true;
  if (out.release == NULL || out.format == NULL || strcmp(out.format, "+s") != 0) {
    xchg_schema_release(&out);
    return mlr_error_set(err, MALLARD_INTERNAL,
                         "exchanger '%s': init did not produce a struct (+s) output schema",
                         inst->entry->name);
  }
  /* A copy made by Mallard, so the schema never depends on the plugin's allocator. */
  mlr_code rc = xchg_schema_copy(&out, &inst->output_schema, err);
  xchg_schema_release(&out);
  return rc;
}

typedef struct native_emit_ctx {
  xchg_instance *inst;
  xchg_emit_fn emit;
  void *ctx;
  mlr_error *err;
  mlr_code rc;
} native_emit_ctx;

static int native_emit(void *c, struct ArrowArray *batch) {
  native_emit_ctx *e = c;
  if (batch == NULL || batch->release == NULL) {
    if (e->rc == MALLARD_OK) {
      e->rc = mlr_error_set(e->err, MALLARD_INTERNAL, "exchanger '%s' emitted a released batch",
                            e->inst->entry->name);
    }
    return (int)e->rc;
  }
  if (e->rc == MALLARD_OK && atomic_load(&e->inst->interrupted)) {
    e->rc = mlr_error_set(e->err, MALLARD_CANCELLED, "exchange was cancelled");
  }
  if (e->rc == MALLARD_OK &&
      (batch->n_children != e->inst->output_schema.n_children || batch->length < 0)) {
    e->rc = mlr_error_set(e->err, MALLARD_INTERNAL,
                          "exchanger '%s' emitted a batch of %lld columns, its schema has %lld",
                          e->inst->entry->name, (long long)batch->n_children,
                          (long long)e->inst->output_schema.n_children);
  }
  if (e->rc != MALLARD_OK) {
    batch->release(batch);
    return (int)e->rc;
  }
  e->rc = e->emit(e->ctx, batch, e->err);
  return (int)e->rc;
}

mlr_code xchg_native_push(xchg_instance *inst, struct ArrowArray *batch, xchg_emit_fn emit,
                          void *ctx, mlr_error *err) {
  char msg[MALLARD_ERROR_MESSAGE_SIZE] = {0};
  native_emit_ctx ec = {inst, emit, ctx, err, MALLARD_OK};
  int code =
      inst->entry->native->on_batch(inst->native_state, batch, native_emit, &ec, msg, sizeof msg);
  if (ec.rc != MALLARD_OK) return ec.rc;
  if (code != 0) return plugin_error(inst, code, msg, sizeof msg, err);
  return MALLARD_OK;
}

mlr_code xchg_native_finish(xchg_instance *inst, xchg_emit_fn emit, void *ctx, mlr_error *err) {
  if (inst->entry->native->on_end == NULL) return MALLARD_OK;
  char msg[MALLARD_ERROR_MESSAGE_SIZE] = {0};
  native_emit_ctx ec = {inst, emit, ctx, err, MALLARD_OK};
  int code = inst->entry->native->on_end(inst->native_state, native_emit, &ec, msg, sizeof msg);
  if (ec.rc != MALLARD_OK) return ec.rc;
  if (code != 0) return plugin_error(inst, code, msg, sizeof msg, err);
  return MALLARD_OK;
}

void xchg_native_close(xchg_instance *inst) {
  if (inst->native_ready) inst->entry->native->release(inst->native_state);
  inst->native_ready = false;
  inst->native_state = NULL;
}
