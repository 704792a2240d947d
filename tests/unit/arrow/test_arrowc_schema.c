/* Tests of owned ArrowSchema building, deep copy, format parsing and custom metadata. */
#include "arrow/arrowc_schema.h"
#include "mtest.h"

#include <stdlib.h>

/* mtest's REQUIRE evaluates its argument twice: call once, then check. */
#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    mlr_code rq_ = (expr);                                                                         \
    REQUIRE(rq_ == MALLARD_OK);                                                                    \
  } while (0)

static void test_format_parse(void) {
  arrowc_format f;
  CHECK_EQ_INT(arrowc_format_parse("i", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_INT32);
  CHECK_EQ_INT(f.bit_width, 32);
  CHECK_EQ_INT(arrowc_format_parse("d:38,10", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_DECIMAL);
  CHECK_EQ_INT(f.precision, 38);
  CHECK_EQ_INT(f.scale, 10);
  CHECK_EQ_INT(f.bit_width, 128);
  CHECK_EQ_INT(arrowc_format_parse("d:5,-2,32", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.scale, -2);
  CHECK_EQ_INT(f.bit_width, 32);
  CHECK_EQ_INT(arrowc_format_parse("tsu:Europe/Paris", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_TIMESTAMP);
  CHECK_EQ_INT(f.unit, ARROWC_MICRO);
  CHECK_EQ_INT(f.tz_len, 12);
  CHECK_EQ_INT(arrowc_format_parse("tss:", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.tz_len, 0);
  CHECK_EQ_INT(arrowc_format_parse("ttn", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_TIME64);
  CHECK_EQ_INT(arrowc_format_parse("tts", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_TIME32);
  CHECK_EQ_INT(arrowc_format_parse("tDm", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_DURATION);
  CHECK_EQ_INT(arrowc_format_parse("w:16", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.fixed_size, 16);
  CHECK_EQ_INT(arrowc_format_parse("+w:3", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_FIXED_SIZE_LIST);
  CHECK_EQ_INT(arrowc_format_parse("+ud:5,7", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_DENSE_UNION);
  CHECK_EQ_INT(f.n_union_types, 2);
  CHECK_EQ_INT(f.union_type_ids[1], 7);
  CHECK_EQ_INT(arrowc_format_parse("+us:", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.n_union_types, 0);
  CHECK_EQ_INT(arrowc_format_parse("vu", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.type, ARROWC_TYPE_STRING_VIEW);
  CHECK_EQ_INT(arrowc_format_parse("tin", &f, NULL), MALLARD_OK);
  CHECK_EQ_INT(f.bit_width, 128);
  const char *bad[] = {"",       "x",       "d:",   "d:1", "d:1,2,48", "w:",   "w:-1",
                       "+ud:1,", "+us:200", "tsx:", "tt",  "ii",       "+w:a", "d:0,0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mlr_error err;
    CHECK_EQ_INT(arrowc_format_parse(bad[i], &f, &err), MALLARD_INVALID_ARGUMENT);
  }
}

static void test_build_and_copy(void) {
  struct ArrowSchema s;
  mlr_error err;
  REQUIRE_OK(arrowc_schema_init(&s, "+s", "", &err));
  REQUIRE_OK(arrowc_schema_alloc_children(&s, 2, &err));
  REQUIRE_OK(arrowc_schema_init(s.children[0], "l", "a", &err));
  REQUIRE_OK(arrowc_schema_init(s.children[1], "i", "d", &err));
  REQUIRE_OK(arrowc_schema_alloc_dictionary(s.children[1], &err));
  REQUIRE_OK(arrowc_schema_init(s.children[1]->dictionary, "u", NULL, &err));
  arrowc_metadata_builder b = {0};
  CHECK_EQ_INT(arrowc_metadata_builder_append(&b, "k", 1, "value", 5, &err), MALLARD_OK);
  CHECK_EQ_INT(arrowc_metadata_builder_append(&b, "empty", 5, "", 0, &err), MALLARD_OK);
  char *md = arrowc_metadata_builder_finish(&b);
  REQUIRE(md != NULL);
  CHECK_EQ_INT(arrowc_schema_set_metadata(&s, md, &err), MALLARD_OK);
  free(md);
  CHECK_EQ_INT(arrowc_schema_set_name(s.children[0], "renamed", &err), MALLARD_OK);

  struct ArrowSchema copy;
  REQUIRE_OK(arrowc_schema_deep_copy(&s, &copy, &err));
  s.release(&s);
  CHECK(s.release == NULL);
  CHECK_EQ_STR(copy.format, "+s");
  CHECK_EQ_INT(copy.n_children, 2);
  CHECK_EQ_STR(copy.children[0]->name, "renamed");
  CHECK_EQ_STR(copy.children[1]->dictionary->format, "u");
  CHECK_EQ_INT(arrowc_metadata_count(copy.metadata), 2);
  arrowc_metadata_item it;
  CHECK(arrowc_metadata_get(copy.metadata, "k", &it));
  CHECK_EQ_INT(it.value_len, 5);
  CHECK(memcmp(it.value, "value", 5) == 0);
  CHECK(arrowc_metadata_get(copy.metadata, "empty", &it));
  CHECK_EQ_INT(it.value_len, 0);
  CHECK(!arrowc_metadata_get(copy.metadata, "nope", &it));
  CHECK_EQ_INT(arrowc_metadata_size(copy.metadata), 4 + (4 + 1 + 4 + 5) + (4 + 5 + 4 + 0));
  struct ArrowSchema moved = {0};
  arrowc_schema_move(&copy, &moved);
  CHECK(copy.release == NULL);
  arrowc_schema_release(&moved);
  arrowc_schema_release(&moved); /* released twice is a no-op */
  CHECK(moved.release == NULL);
}

static void test_copy_released_fails(void) {
  struct ArrowSchema s = {0}, d;
  mlr_error err;
  CHECK_EQ_INT(arrowc_schema_deep_copy(&s, &d, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(d.release == NULL);
  /* Setters refuse schemas they do not own. */
  CHECK_EQ_INT(arrowc_schema_set_name(&s, "x", &err), MALLARD_INTERNAL);
}

static void test_empty_metadata_builder(void) {
  arrowc_metadata_builder b = {0};
  CHECK(arrowc_metadata_builder_finish(&b) == NULL);
  CHECK_EQ_INT(arrowc_metadata_count(NULL), 0);
  CHECK_EQ_INT(arrowc_metadata_size(NULL), 0);
}

MTEST_MAIN(MTEST(test_format_parse), MTEST(test_build_and_copy), MTEST(test_copy_released_fails),
           MTEST(test_empty_metadata_builder))
