/* Native exchangers: the loader (dlopen from the build dir, ABI check, refusals logged) and the
 * zscore example's values, errors from a plugin, and cancellation. */
#include "exchange/xchg.h"
#include "mtest.h"
#include "xchg_testutil.h"

#include <math.h>
#include <stdlib.h>

typedef struct log_capture {
  char text[8192];
  size_t len;
} log_capture;

static void capture_log(void *ctx, xchg_log_level level, const char *line) {
  log_capture *c = ctx;
  int n = snprintf(c->text + c->len, sizeof c->text - c->len, "%s\n", line);
  if (n > 0 && c->len + (size_t)n < sizeof c->text) c->len += (size_t)n;
}

static xchg_registry *registry_for(const char *subdir, log_capture *logs) {
  const char *build = getenv("MALLARD_BUILD_DIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", build ? build : "build", subdir);
  xchg_registry_options o = {.native_dir = dir, .log = capture_log, .log_ctx = logs};
  xchg_registry *reg = NULL;
  mlr_error err = {0};
  if (xchg_registry_new(&o, &reg, &err) != MALLARD_OK) fprintf(stderr, "%s\n", err.message);
  return reg;
}

static void test_zscore_values(void) {
  log_capture logs = {0};
  xchg_registry *reg = registry_for("examples/zscore", &logs);
  REQUIRE(reg != NULL);
  CHECK(strstr(logs.text, "loaded native exchanger 'zscore'") != NULL);
  char *json = NULL;
  size_t len = 0;
  mlr_error err = {0};
  REQUIRE_OK(xchg_action_list(reg, &json, &len, &err));
  CHECK(strstr(json, "{\"name\":\"zscore\",\"kind\":\"native\"") != NULL);
  free(json);

  struct ArrowSchema in = {0}, out = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  REQUIRE_OK(
      xchg_open(reg, "zscore", "{\"column\":\"y\",\"output\":\"yz\"}", &in, NULL, &inst, &err));
  REQUIRE_OK(xchg_instance_output_schema(inst, &out, &err));
  CHECK_EQ_INT(out.n_children, 4);
  CHECK_EQ_STR(out.children[3]->name, "yz");
  CHECK_EQ_STR(out.children[3]->format, "g");
  tu_sink sink = {0};
  /* 5 batches of 40 rows; the third is a slice (offset 10) of a 50-row batch. */
  int64_t start = 0;
  for (int i = 0; i < 5; i++) {
    struct ArrowArray b;
    if (i == 2) {
      tu_batch_xys(&b, 50, start - 10, 1);
      b.offset = 10;
      b.length = 40;
    } else {
      tu_batch_xys(&b, 40, start, 1);
    }
    CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_OK);
    start += 40;
  }
  CHECK_EQ_INT(xchg_finish(inst, tu_emit, &sink, &err), MALLARD_OK);
  REQUIRE(sink.n == 5);
  /* Expected: naive running mean and population variance over the non-null y so far. */
  double sum = 0, sumsq = 0;
  int64_t n = 0, mismatches = 0, checked = 0;
  for (int i = 0; i < 5; i++) {
    const struct ArrowArray *b = &sink.batches[i];
    for (int64_t r = 0; r < b->length; r++) {
      int64_t x = tu_i64(b, 0, r);
      int y_null = x % 7 == 0;
      if (y_null != !tu_valid(b, 1, r)) mismatches++;
      if (y_null) {
        if (tu_valid(b, 3, r)) mismatches++;
        continue;
      }
      double y = (double)x * 0.5;
      n++;
      sum += y;
      sumsq += y * y;
      double mean = sum / (double)n, var = sumsq / (double)n - mean * mean;
      if (n < 2) {
        if (tu_valid(b, 3, r)) mismatches++;
        continue;
      }
      double z = (y - mean) / sqrt(var);
      checked++;
      if (!tu_valid(b, 3, r) || fabs(tu_f64(b, 3, r) - z) > 1e-9 * (1 + fabs(z))) mismatches++;
    }
  }
  CHECK_EQ_INT(mismatches, 0);
  CHECK(checked > 150);
  tu_sink_release(&sink);
  xchg_close(inst);
  out.release(&out);

  /* Bad params and a non-numeric column are the client's fault. */
  CHECK_EQ_INT(xchg_open(reg, "zscore", NULL, &in, NULL, &inst, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "column") != NULL);
  CHECK_EQ_INT(xchg_open(reg, "zscore", "{\"column\":\"s\"}", &in, NULL, &inst, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(xchg_open(reg, "zscore", "{\"column\":\"nope\"}", &in, NULL, &inst, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "nope") != NULL);
  /* Cancellation: the next push answers CANCELLED. */
  REQUIRE_OK(xchg_open(reg, "zscore", "{\"column\":\"x\"}", &in, NULL, &inst, &err));
  xchg_interrupt(inst);
  struct ArrowArray b;
  tu_batch_xys(&b, 5, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_CANCELLED);
  xchg_close(inst);
  /* A native exchanger cannot be replaced or removed by clients. */
  xchg_sql_def def = {.name = "zscore", .sql = "SELECT 1"};
  CHECK(xchg_register_sql(reg, &def, true, &err) != MALLARD_OK);
  CHECK_EQ_INT(xchg_unregister(reg, "zscore", &err), MALLARD_INVALID_ARGUMENT);
  tu_schema_release(&in);
  /* The library stays loaded while an instance uses it, even after the registry is gone. */
  tu_schema_xys(&in);
  REQUIRE_OK(xchg_open(reg, "zscore", "{\"column\":\"x\"}", &in, NULL, &inst, &err));
  xchg_registry_free(reg);
  tu_batch_xys(&b, 5, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_OK);
  CHECK_EQ_INT(sink.rows, 5);
  tu_sink_release(&sink);
  xchg_close(inst);
  tu_schema_release(&in);
}

static void test_loader_refusals_and_plugin_errors(void) {
  log_capture logs = {0};
  xchg_registry *reg = registry_for("tests/unit/exchange/native_fixtures", &logs);
  REQUIRE(reg != NULL);
  CHECK(strstr(logs.text, "loaded native exchanger 'failing'") != NULL);
  CHECK(strstr(logs.text, "libxchg_fixture_bad_abi.so: built for exchanger ABI version 999") !=
        NULL);
  CHECK(strstr(logs.text, "libxchg_fixture_no_symbols.so: it does not export") != NULL);
  mlr_error err = {0};
  struct ArrowSchema in = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  CHECK_EQ_INT(xchg_open(reg, "failing", "{\"fail_init\":true}", &in, NULL, &inst, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_STR(err.message, "exchanger 'failing': init refused: fail_init was set");
  REQUIRE_OK(xchg_open(reg, "failing", NULL, &in, NULL, &inst, &err));
  tu_sink sink = {0};
  struct ArrowArray b;
  tu_batch_xys(&b, 5, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_OK);
  tu_batch_xys(&b, 5, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_INTERNAL);
  CHECK(strstr(err.message, "batch 2 is not welcome") != NULL);
  tu_batch_xys(&b, 5, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_FAILED_PRECONDITION);
  xchg_close(inst);
  tu_schema_release(&in);
  xchg_registry_free(reg);
  /* A missing directory is logged, not fatal. */
  log_capture none = {0};
  reg = registry_for("no/such/dir", &none);
  CHECK(reg != NULL);
  CHECK(strstr(none.text, "cannot read the exchanger directory") != NULL);
  xchg_registry_free(reg);
}

MTEST_MAIN(MTEST(test_zscore_values), MTEST(test_loader_refusals_and_plugin_errors))
