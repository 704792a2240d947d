/* Tests of owned/shared arrays and of arrowc_array_validate on valid and corrupt arrays. */
#include "arrow/arrowc_array.h"
#include "mtest.h"

#include <stdlib.h>

/* mtest's REQUIRE evaluates its argument twice: call once, then check. */
#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    mlr_code rq_ = (expr);                                                                         \
    REQUIRE(rq_ == MALLARD_OK);                                                                    \
  } while (0)

static struct ArrowSchema schema_of(const char *format) {
  struct ArrowSchema s;
  arrowc_schema_init(&s, format, "c", NULL);
  return s;
}

/* An int32 array over a copy of vals, with an optional validity byte. */
static void int32_array(struct ArrowArray *a, const int32_t *vals, int64_t n, int validity) {
  arrowc_array_init(a, 2, 0, NULL);
  arrowc_buf *d = arrowc_buf_alloc(n * 4);
  memcpy(arrowc_buf_mutable_data(d), vals, (size_t)n * 4);
  arrowc_array_set_buffer(a, 1, arrowc_buf_data(d), d);
  if (validity >= 0) {
    arrowc_buf *v = arrowc_buf_alloc(1);
    arrowc_buf_mutable_data(v)[0] = (uint8_t)validity;
    arrowc_array_set_buffer(a, 0, arrowc_buf_data(v), v);
  }
  a->length = n;
}

static void test_validate_primitive(void) {
  struct ArrowSchema s = schema_of("i");
  struct ArrowArray a;
  int32_t v[4] = {1, 2, 3, 4};
  int32_array(&a, v, 4, 0x0b); /* slot 2 null */
  mlr_error err;
  a.null_count = 1;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_OK);
  a.null_count = 2;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "null count") != NULL);
  a.null_count = -1; /* unknown is fine */
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_OK);
  a.null_count = 5;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_INVALID_ARGUMENT);
  a.release(&a);
  s.release(&s);
}

static void test_validate_string_offsets(void) {
  struct ArrowSchema s = schema_of("u");
  struct ArrowArray a;
  mlr_error err;
  arrowc_array_init(&a, 3, 0, NULL);
  static const int32_t offs[4] = {0, 2, 1, 3}; /* decreasing */
  static const char data[] = "abc";
  arrowc_array_set_buffer(&a, 1, offs, NULL);
  arrowc_array_set_buffer(&a, 2, data, NULL);
  a.length = 3;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "column 'c'") != NULL);
  CHECK(strstr(err.message, "offsets decrease") != NULL);
  a.length = 1; /* the first slot alone is fine */
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_OK);
  a.release(&a);
  s.release(&s);
}

static void test_validate_list_and_struct(void) {
  struct ArrowSchema s;
  mlr_error err;
  arrowc_schema_init(&s, "+s", "", NULL);
  arrowc_schema_alloc_children(&s, 1, NULL);
  arrowc_schema_init(s.children[0], "+l", "lst", NULL);
  arrowc_schema_alloc_children(s.children[0], 1, NULL);
  arrowc_schema_init(s.children[0]->children[0], "i", "item", NULL);
  struct ArrowArray a;
  arrowc_array_init(&a, 1, 1, NULL);
  a.length = 2;
  struct ArrowArray *l = a.children[0];
  arrowc_array_init(l, 2, 1, NULL);
  l->length = 2;
  static const int32_t offs[3] = {0, 2, 5};
  arrowc_array_set_buffer(l, 1, offs, NULL);
  int32_t vals[4] = {1, 2, 3, 4};
  int32_array(l->children[0], vals, 4, -1);
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "column 'lst'") != NULL); /* "+s" named "": columns by name */
  CHECK(strstr(err.message, "past the 4-element child") != NULL);
  l->length = 1;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_INVALID_ARGUMENT); /* struct len 2 */
  a.length = 1;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_OK);
  a.release(&a);
  s.release(&s);
}

static void test_validate_union_and_dictionary(void) {
  mlr_error err;
  struct ArrowSchema s;
  arrowc_schema_init(&s, "+us:3", "u", NULL);
  arrowc_schema_alloc_children(&s, 1, NULL);
  arrowc_schema_init(s.children[0], "i", "x", NULL);
  struct ArrowArray a;
  arrowc_array_init(&a, 1, 1, NULL);
  static const int8_t ids[2] = {3, 4};
  arrowc_array_set_buffer(&a, 0, ids, NULL);
  a.length = 2;
  int32_t vals[2] = {1, 2};
  int32_array(a.children[0], vals, 2, -1);
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "type id 4") != NULL);
  a.length = 1;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_OK);
  a.release(&a);
  s.release(&s);

  arrowc_schema_init(&s, "c", "d", NULL);
  arrowc_schema_alloc_dictionary(&s, NULL);
  arrowc_schema_init(s.dictionary, "i", NULL, NULL);
  arrowc_array_init(&a, 2, 0, NULL);
  static const int8_t idx[3] = {0, 1, 2};
  arrowc_array_set_buffer(&a, 1, idx, NULL);
  a.length = 3;
  arrowc_array_alloc_dictionary(&a, NULL);
  int32_array(a.dictionary, vals, 2, -1);
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "dictionary index 2") != NULL);
  /* A null slot's index is not checked. */
  arrowc_buf *v = arrowc_buf_alloc(1);
  arrowc_buf_mutable_data(v)[0] = 0x03;
  arrowc_array_set_buffer(&a, 0, arrowc_buf_data(v), v);
  a.null_count = 1;
  CHECK_EQ_INT(arrowc_array_validate(&s, &a, &err), MALLARD_OK);
  a.release(&a);
  s.release(&s);
}

static void test_shared_views(void) {
  struct ArrowArray a, v1, v2;
  int32_t vals[3] = {7, 8, 9};
  int32_array(&a, vals, 3, -1);
  arrowc_shared_array *sh = arrowc_shared_array_new(&a);
  REQUIRE(sh != NULL);
  CHECK(a.release == NULL);
  REQUIRE_OK(arrowc_shared_array_view(sh, &v1, NULL));
  REQUIRE_OK(arrowc_shared_array_view(sh, &v2, NULL));
  arrowc_shared_array_unref(sh); /* views keep it alive */
  CHECK_EQ_INT(((const int32_t *)v1.buffers[1])[2], 9);
  v1.release(&v1);
  CHECK_EQ_INT(((const int32_t *)v2.buffers[1])[0], 7);
  CHECK_EQ_INT(v2.length, 3);
  v2.release(&v2); /* ASan/LSan: everything freed here */
}

/* An array of n fixed-width values of `width` bytes copied from vals (no nulls). */
static void fixed_array(struct ArrowArray *a, const void *vals, int64_t n, int width) {
  arrowc_array_init(a, 2, 0, NULL);
  arrowc_buf *d = arrowc_buf_alloc(n * width);
  memcpy(arrowc_buf_mutable_data(d), vals, (size_t)(n * width));
  arrowc_array_set_buffer(a, 1, arrowc_buf_data(d), d);
  a->length = n;
}

static void test_decimal_digits(void) {
  /* decimal32(4,1): 9999 and -9999 fit, 10000 and -10000 do not; a NULL slot is not read */
  struct ArrowSchema s = schema_of("d:4,1,32");
  struct ArrowArray a;
  int32_t v32[4] = {9999, -9999, 0, 10000};
  fixed_array(&a, v32, 4, 4);
  CHECK_EQ_INT(arrowc_decimal_first_overflow(&s, &a), 3);
  a.offset = 1;
  a.length = 2;
  CHECK_EQ_INT(arrowc_decimal_first_overflow(&s, &a), -1);
  a.release(&a);
  int32_t n32[2] = {1, -10000};
  fixed_array(&a, n32, 2, 4);
  CHECK_EQ_INT(arrowc_decimal_first_overflow(&s, &a), 1);
  a.release(&a);
  s.release(&s);
  /* decimal64(18,0): INT64_MIN has 19 digits */
  s = schema_of("d:18,0,64");
  int64_t v64[3] = {999999999999999999LL, -999999999999999999LL, INT64_MIN};
  fixed_array(&a, v64, 3, 8);
  CHECK_EQ_INT(arrowc_decimal_first_overflow(&s, &a), 2);
  a.release(&a);
  s.release(&s);
  /* decimal128(38,0): 10^38 - 1 fits, 10^38 (0x4b3b4ca85a86c47a098a224000000000) does not;
   * -1 (all bits set) fits; decimal128(4,1) holding 70000 does not (seen stored as 0.0) */
  s = schema_of("d:38,0");
  uint64_t v128[6] = {0x098a223fffffffffULL,
                      0x4b3b4ca85a86c47aULL,
                      0x098a224000000000ULL,
                      0x4b3b4ca85a86c47aULL,
                      UINT64_MAX,
                      UINT64_MAX};
  fixed_array(&a, v128, 3, 16);
  CHECK_EQ_INT(arrowc_decimal_first_overflow(&s, &a), 1);
  a.release(&a);
  s.release(&s);
  s = schema_of("d:4,1");
  uint64_t big[2] = {70000, 0};
  fixed_array(&a, big, 1, 16);
  CHECK_EQ_INT(arrowc_decimal_first_overflow(&s, &a), 0);
  a.release(&a);
  s.release(&s);
  /* other types answer -1 */
  s = schema_of("i");
  int32_t i32[1] = {1000000};
  fixed_array(&a, i32, 1, 4);
  CHECK_EQ_INT(arrowc_decimal_first_overflow(&s, &a), -1);
  a.release(&a);
  s.release(&s);
}

MTEST_MAIN(MTEST(test_validate_primitive), MTEST(test_decimal_digits),
           MTEST(test_validate_string_offsets), MTEST(test_validate_list_and_struct),
           MTEST(test_validate_union_and_dictionary), MTEST(test_shared_views))
