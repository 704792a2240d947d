/* The built-in exchangers: `echo` answers batches unchanged, `processed` appends a BOOLEAN column
 * of trues without copying the input columns, and its release chain frees everything exactly
 * once (run under ASan), also when a consumer moves a column out. Also the command parser. */
#include "exchange/xchg.h"
#include "mtest.h"
#include "xchg_testutil.h"

#include <stdlib.h>

static xchg_registry *new_registry(void) {
  xchg_registry *reg = NULL;
  mlr_error err = {0};
  xchg_registry_options o = {0};
  CHECK_EQ_INT(xchg_registry_new(&o, &reg, &err), MALLARD_OK);
  return reg;
}

static void test_echo(void) {
  xchg_registry *reg = new_registry();
  REQUIRE(reg != NULL);
  struct ArrowSchema in = {0}, out = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  mlr_error err = {0};
  REQUIRE_OK(xchg_open(reg, "echo", NULL, &in, NULL, &inst, &err));
  REQUIRE_OK(xchg_instance_output_schema(inst, &out, &err));
  CHECK_EQ_INT(out.n_children, 3);
  CHECK_EQ_STR(out.children[2]->name, "s");
  CHECK_EQ_STR(out.children[2]->format, "u");
  tu_sink sink = {0};
  for (int i = 0; i < 3; i++) {
    struct ArrowArray b;
    tu_batch_xys(&b, 10 + i, 100 * i, 1);
    const void *xbuf = b.children[0]->buffers[1];
    CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_OK);
    CHECK(b.release == NULL);
    CHECK(sink.batches[i].children[0]->buffers[1] == xbuf); /* the very same batch */
  }
  struct ArrowArray empty;
  tu_batch_xys(&empty, 0, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &empty, tu_emit, &sink, &err), MALLARD_OK);
  CHECK_EQ_INT(xchg_finish(inst, tu_emit, &sink, &err), MALLARD_OK);
  CHECK_EQ_INT(sink.n, 4);
  CHECK_EQ_INT(sink.rows, 33);
  CHECK_EQ_INT(tu_i64(&sink.batches[2], 0, 5), 205);
  tu_sink_release(&sink);
  xchg_close(inst);
  tu_schema_release(&in);
  out.release(&out);
  xchg_registry_free(reg);
}

static void test_processed_values(void) {
  xchg_registry *reg = new_registry();
  REQUIRE(reg != NULL);
  struct ArrowSchema in = {0}, out = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  mlr_error err = {0};
  REQUIRE_OK(xchg_open(reg, "processed", NULL, &in, NULL, &inst, &err));
  REQUIRE_OK(xchg_instance_output_schema(inst, &out, &err));
  CHECK_EQ_INT(out.n_children, 4);
  CHECK_EQ_STR(out.children[3]->name, "processed");
  CHECK_EQ_STR(out.children[3]->format, "b");
  CHECK_EQ_STR(out.children[0]->name, "x");
  tu_sink sink = {0};
  int before = tu_released_arrays;
  struct ArrowArray b;
  tu_batch_xys(&b, 1000, 0, 1);
  const void *ybuf = b.children[1]->buffers[1];
  REQUIRE_OK(xchg_push(inst, &b, tu_emit, &sink, &err));
  REQUIRE(sink.n == 1);
  struct ArrowArray *o = &sink.batches[0];
  CHECK_EQ_INT(o->n_children, 4);
  CHECK_EQ_INT(o->length, 1000);
  CHECK(o->children[1]->buffers[1] == ybuf); /* not copied */
  CHECK_EQ_INT(o->children[3]->length, 1000);
  CHECK_EQ_INT(o->children[3]->null_count, 0);
  int all = 1;
  for (int64_t r = 0; r < 1000; r++) all &= tu_bool(o, 3, r) && tu_i64(o, 0, r) == r;
  CHECK(all);
  CHECK(!tu_valid(o, 1, 7) && tu_valid(o, 1, 8));
  /* Releasing the output releases the input exactly once (root + 3 columns). */
  tu_sink_release(&sink);
  CHECK_EQ_INT(tu_released_arrays - before, 4);
  xchg_close(inst);
  tu_schema_release(&in);
  out.release(&out);
  xchg_registry_free(reg);
}

/* A sliced input (struct offset) keeps its offset; the flag column covers offset + length. */
static void test_processed_offset_and_move(void) {
  xchg_registry *reg = new_registry();
  REQUIRE(reg != NULL);
  struct ArrowSchema in = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  mlr_error err = {0};
  REQUIRE_OK(xchg_open(reg, "processed", NULL, &in, NULL, &inst, &err));
  tu_sink sink = {0};
  struct ArrowArray b;
  tu_batch_xys(&b, 20, 0, 0);
  b.offset = 5;
  b.length = 10;
  REQUIRE_OK(xchg_push(inst, &b, tu_emit, &sink, &err));
  struct ArrowArray *o = &sink.batches[0];
  CHECK_EQ_INT(o->offset, 5);
  CHECK_EQ_INT(o->length, 10);
  CHECK_EQ_INT(o->children[3]->length, 15);
  CHECK_EQ_INT(tu_i64(o, 0, 0), 5);
  CHECK(tu_bool(o, 3, 9));
  /* A consumer moves two columns out (the flag and an input column) and releases them after
   * the parent: each must still be valid and freed exactly once. */
  struct ArrowArray flag = *o->children[3], xcol = *o->children[0];
  o->children[3]->release = NULL;
  o->children[0]->release = NULL;
  int before = tu_released_arrays;
  o->release(o);
  CHECK(tu_bool(&(struct ArrowArray){.offset = 0, .children = (struct ArrowArray *[]){&flag}}, 0,
                14));
  CHECK_EQ_INT(((const int64_t *)xcol.buffers[1])[19], 19);
  flag.release(&flag);
  xcol.release(&xcol);
  CHECK_EQ_INT(tu_released_arrays - before, 4); /* root, y, s by the parent; then x */
  CHECK(flag.release == NULL && xcol.release == NULL);
  sink.n = 0;
  xchg_close(inst);
  tu_schema_release(&in);
  xchg_registry_free(reg);
}

static void test_errors(void) {
  xchg_registry *reg = new_registry();
  REQUIRE(reg != NULL);
  struct ArrowSchema in = {0};
  tu_schema_xys(&in);
  xchg_instance *inst = NULL;
  mlr_error err = {0};
  CHECK_EQ_INT(xchg_open(reg, "nope", NULL, &in, NULL, &inst, &err), MALLARD_NOT_FOUND);
  CHECK(strstr(err.message, "nope") != NULL);
  CHECK(inst == NULL);
  /* SQL exchangers need a database: registering without one is refused. */
  xchg_sql_def def = {.name = "q", .sql = "SELECT 1", .mode = XCHG_SQL_BATCH};
  CHECK_EQ_INT(xchg_register_sql(reg, &def, false, &err), MALLARD_FAILED_PRECONDITION);
  /* A batch with the wrong column count is refused and released; the instance is then done. */
  REQUIRE_OK(xchg_open(reg, "processed", NULL, &in, NULL, &inst, &err));
  struct ArrowArray b;
  tu_batch_xys(&b, 3, 0, 0);
  struct ArrowArray *third = b.children[2]; /* hidden from the release below: freed here */
  b.n_children = 2;
  tu_sink sink = {0};
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(b.release == NULL);
  third->release(third);
  free(third);
  /* Interrupt: the next push answers CANCELLED and releases its batch. */
  xchg_close(inst);
  REQUIRE_OK(xchg_open(reg, "echo", NULL, &in, NULL, &inst, &err));
  xchg_interrupt(inst);
  tu_batch_xys(&b, 3, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_CANCELLED);
  CHECK(b.release == NULL);
  xchg_close(inst);
  /* An emit failure (client gone) is returned as is. */
  REQUIRE_OK(xchg_open(reg, "processed", NULL, &in, NULL, &inst, &err));
  sink.fail_after = 1;
  tu_batch_xys(&b, 3, 0, 0);
  CHECK_EQ_INT(xchg_push(inst, &b, tu_emit, &sink, &err), MALLARD_CANCELLED);
  xchg_close(inst);
  tu_sink_release(&sink);
  tu_schema_release(&in);
  xchg_registry_free(reg);
}

static void test_parse_command(void) {
  char *name = NULL, *params = NULL;
  mlr_error err = {0};
  const char *c1 = "  processed\n";
  CHECK_EQ_INT(xchg_parse_command((const uint8_t *)c1, strlen(c1), &name, &params, &err),
               MALLARD_OK);
  CHECK_EQ_STR(name, "processed");
  CHECK(params == NULL);
  free(name);
  const char *c2 = "{\"exchanger\": \"f\", \"params\": {\"t\": 15, \"s\": \"a\\\"b\", \"d\": 1.5, "
                   "\"n\": null, \"b\": true}}";
  CHECK_EQ_INT(xchg_parse_command((const uint8_t *)c2, strlen(c2), &name, &params, &err),
               MALLARD_OK);
  CHECK_EQ_STR(name, "f");
  CHECK_EQ_STR(params, "{\"t\":15,\"s\":\"a\\\"b\",\"d\":1.5,\"n\":null,\"b\":true}");
  free(name);
  free(params);
  const char *bad[] = {"",
                       "   ",
                       "{\"params\": {}}",
                       "{\"exchanger\": 3}",
                       "{\"exchanger\": \"x\", \"params\": [1]}",
                       "{\"exchanger\": \"x\"",
                       "has space",
                       "{\"exchanger\": \"x\", \"extra\": 1}",
                       "semi;colon"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    name = params = NULL;
    CHECK_EQ_INT(xchg_parse_command((const uint8_t *)bad[i], strlen(bad[i]), &name, &params, &err),
                 MALLARD_INVALID_ARGUMENT);
    CHECK(name == NULL && params == NULL);
  }
}

static void test_list_builtins(void) {
  xchg_registry *reg = new_registry();
  REQUIRE(reg != NULL);
  char *json = NULL;
  size_t len = 0;
  mlr_error err = {0};
  REQUIRE_OK(xchg_action_list(reg, &json, &len, &err));
  CHECK(strstr(json, "{\"name\":\"echo\",\"kind\":\"builtin\"") != NULL);
  CHECK(strstr(json, "{\"name\":\"processed\",\"kind\":\"builtin\"") != NULL);
  CHECK_EQ_INT(len, strlen(json));
  free(json);
  const char *body = "echo";
  CHECK_EQ_INT(xchg_action_unregister(reg, (const uint8_t *)body, 4, &json, &len, &err),
               MALLARD_INVALID_ARGUMENT);
  body = "nothing";
  CHECK_EQ_INT(xchg_action_unregister(reg, (const uint8_t *)body, 7, &json, &len, &err),
               MALLARD_NOT_FOUND);
  xchg_registry_free(reg);
}

MTEST_MAIN(MTEST(test_echo), MTEST(test_processed_values), MTEST(test_processed_offset_and_move),
           MTEST(test_errors), MTEST(test_parse_command), MTEST(test_list_builtins))
