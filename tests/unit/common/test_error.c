/* Unit tests for the shared error struct. */
#include "common/mlr_error.h"
#include "mtest.h"

static void test_set_and_prefix(void) {
  mlr_error err;
  mlr_error_reset(&err);
  CHECK_EQ_INT(err.code, MALLARD_OK);
  CHECK_EQ_INT(mlr_error_set(&err, MALLARD_NOT_FOUND, "table '%s' not found", "foo"),
               MALLARD_NOT_FOUND);
  CHECK_EQ_STR(err.message, "table 'foo' not found");
  mlr_error_prefix(&err, "DoPut %d: ", 3);
  CHECK_EQ_STR(err.message, "DoPut 3: table 'foo' not found");
  CHECK_EQ_INT(mlr_error_set(NULL, MALLARD_INTERNAL, "ignored"), MALLARD_INTERNAL);
}

static void test_code_names(void) {
  CHECK_EQ_STR(mallard_code_name(MALLARD_INVALID_ARGUMENT), "INVALID_ARGUMENT");
  CHECK_EQ_STR(mallard_code_name(MALLARD_UNAUTHENTICATED), "UNAUTHENTICATED");
  CHECK_EQ_STR(mallard_code_name((mallard_code)99), "UNKNOWN");
}

static void test_overflow_helpers(void) {
  int64_t out = 0;
  CHECK(mlr_add_overflow_i64(INT64_MAX, 1, &out));
  CHECK(!mlr_add_overflow_i64(40, 2, &out));
  CHECK_EQ_INT(out, 42);
  CHECK(mlr_mul_overflow_i64(INT64_MAX / 2, 3, &out));
}

MTEST_MAIN(MTEST(test_set_and_prefix), MTEST(test_code_names), MTEST(test_overflow_helpers))
