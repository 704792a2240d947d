/* The flatbuffer builder: tables, scalars, strings, vectors of scalars/structs/tables and nested
 * tables, read back with an independent verifier (alignment and bounds checked). */
#include "ipc/fb_builder.h"
#include "ipc/test_write_fbv.h"
#include "mtest.h"

#include <stdlib.h>

static void test_scalars_and_strings(void) {
  fbb b;
  fbb_init(&b);
  fbb_ref name = fbb_string(&b, "héllo", strlen("héllo"));
  fbb_ref empty = fbb_string(&b, "", 0);
  fbb_table_start(&b);
  fbb_add_u8(&b, 0, 7);
  fbb_add_i64(&b, 1, -1234567890123LL);
  fbb_add_i16(&b, 2, -2);
  fbb_add_ref(&b, 3, name);
  fbb_add_i32(&b, 5, 42); /* slot 4 absent */
  fbb_add_ref(&b, 6, empty);
  fbb_ref t = fbb_table_end(&b);
  uint8_t *out = NULL;
  int64_t size = 0;
  mlr_code rc = fbb_finish(&b, t, &out, &size, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK(size % 8 == 0);
  fbv v = {out, size, false};
  int64_t root = fbv_root(&v);
  CHECK_EQ_INT(fbv_i(&v, root, 0, 1, 0), 7);
  CHECK_EQ_INT(fbv_i(&v, root, 1, 8, 0), -1234567890123LL);
  CHECK_EQ_INT(fbv_i(&v, root, 2, 2, 0), -2);
  CHECK_EQ_INT(fbv_i(&v, root, 4, 4, 99), 99); /* absent: default */
  CHECK_EQ_INT(fbv_i(&v, root, 5, 4, 0), 42);
  CHECK_EQ_INT(fbv_i(&v, root, 9, 4, 5), 5); /* beyond the vtable */
  char s[64];
  CHECK(fbv_str(&v, fbv_ref(&v, root, 3), s, sizeof s));
  CHECK_EQ_STR(s, "héllo");
  CHECK(fbv_str(&v, fbv_ref(&v, root, 6), s, sizeof s));
  CHECK_EQ_STR(s, "");
  CHECK(!v.bad);
  free(out);
}

typedef struct pair {
  int64_t a, b;
} pair;

static void test_vectors_and_nesting(void) {
  fbb b;
  fbb_init(&b);
  pair pairs[3] = {{1, 2}, {3, 4}, {-5, -6}};
  fbb_ref pv = fbb_vector(&b, pairs, sizeof(pair), 3, 8);
  int32_t ints[5] = {10, 20, 30, 40, 50};
  fbb_ref iv = fbb_vector(&b, ints, 4, 5, 4);
  fbb_ref ev = fbb_vector(&b, NULL, 8, 0, 8);
  fbb_ref kids[4];
  for (int i = 0; i < 4; i++) {
    char nm[8];
    snprintf(nm, sizeof nm, "k%d", i);
    fbb_ref s = fbb_string(&b, nm, strlen(nm));
    fbb_table_start(&b);
    fbb_add_ref(&b, 0, s);
    fbb_add_i32(&b, 1, i * 100);
    kids[i] = fbb_table_end(&b);
  }
  fbb_ref kv = fbb_vector_refs(&b, kids, 4);
  fbb_table_start(&b);
  fbb_add_ref(&b, 0, pv);
  fbb_add_ref(&b, 1, iv);
  fbb_add_ref(&b, 2, kv);
  fbb_add_ref(&b, 3, ev);
  fbb_add_ref(&b, 4, kids[2]);
  fbb_ref t = fbb_table_end(&b);
  uint8_t *out = NULL;
  int64_t size = 0;
  mlr_code rc = fbb_finish(&b, t, &out, &size, NULL);
  REQUIRE(rc == MALLARD_OK);
  fbv v = {out, size, false};
  int64_t root = fbv_root(&v);
  int64_t p = fbv_ref(&v, root, 0);
  REQUIRE(fbv_vec_len(&v, p) == 3);
  CHECK((p + 4) % 8 == 0); /* struct elements 8-aligned */
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT((int64_t)fbv_uint(&v, p + 4 + 16 * i, 8), pairs[i].a);
    CHECK_EQ_INT((int64_t)fbv_uint(&v, p + 12 + 16 * i, 8), pairs[i].b);
  }
  int64_t q = fbv_ref(&v, root, 1);
  REQUIRE(fbv_vec_len(&v, q) == 5);
  for (int i = 0; i < 5; i++) CHECK_EQ_INT((int32_t)fbv_uint(&v, q + 4 + 4 * i, 4), ints[i]);
  int64_t k = fbv_ref(&v, root, 2);
  REQUIRE(fbv_vec_len(&v, k) == 4);
  for (int i = 0; i < 4; i++) {
    int64_t kt = fbv_vec_ref(&v, k, i);
    char s[16], want[8];
    snprintf(want, sizeof want, "k%d", i);
    CHECK(fbv_str(&v, fbv_ref(&v, kt, 0), s, sizeof s));
    CHECK_EQ_STR(s, want);
    CHECK_EQ_INT(fbv_i(&v, kt, 1, 4, -1), i * 100);
  }
  CHECK_EQ_INT(fbv_vec_len(&v, fbv_ref(&v, root, 3)), 0);
  int64_t shared = fbv_ref(&v, root, 4);
  CHECK_EQ_INT(fbv_i(&v, shared, 1, 4, -1), 200);
  CHECK(!v.bad);
  free(out);
}

static void test_misuse_is_reported(void) {
  fbb b;
  fbb_init(&b);
  fbb_table_start(&b);
  fbb_string(&b, "x", 1); /* objects cannot be built inside a table */
  fbb_ref t = fbb_table_end(&b);
  uint8_t *out = NULL;
  int64_t size = 0;
  mlr_error err = {0};
  CHECK(fbb_finish(&b, t, &out, &size, &err) != MALLARD_OK);
  CHECK(out == NULL);
  CHECK(err.message[0] != '\0');
  fbb_init(&b);
  fbb_table_start(&b);
  fbb_add_i32(&b, FBB_MAX_SLOTS, 1); /* slot out of range */
  t = fbb_table_end(&b);
  CHECK(fbb_finish(&b, t, &out, &size, NULL) != MALLARD_OK);
}

static void test_large_buffer_growth(void) {
  fbb b;
  fbb_init(&b);
  enum { N = 5000 };
  fbb_ref *refs = malloc(N * sizeof *refs);
  for (int i = 0; i < N; i++) {
    char s[32];
    int n = snprintf(s, sizeof s, "string number %d", i);
    refs[i] = fbb_string(&b, s, (size_t)n);
  }
  fbb_ref vec = fbb_vector_refs(&b, refs, N);
  free(refs);
  fbb_table_start(&b);
  fbb_add_ref(&b, 0, vec);
  fbb_ref t = fbb_table_end(&b);
  uint8_t *out = NULL;
  int64_t size = 0;
  mlr_code rc = fbb_finish(&b, t, &out, &size, NULL);
  REQUIRE(rc == MALLARD_OK);
  fbv v = {out, size, false};
  int64_t vv = fbv_ref(&v, fbv_root(&v), 0);
  REQUIRE(fbv_vec_len(&v, vv) == N);
  char s[32];
  CHECK(fbv_str(&v, fbv_vec_ref(&v, vv, 4321), s, sizeof s));
  CHECK_EQ_STR(s, "string number 4321");
  CHECK(!v.bad);
  free(out);
}

MTEST_MAIN(MTEST(test_scalars_and_strings), MTEST(test_vectors_and_nesting),
           MTEST(test_misuse_is_reported), MTEST(test_large_buffer_growth))
