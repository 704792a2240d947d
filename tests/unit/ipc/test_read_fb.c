/* Tests of the bounds-checked flatbuffer reader on hand-built and hostile buffers. */
#include "ipc/fb_reader.h"
#include "mtest.h"

#include <stdlib.h>

/* mtest's REQUIRE evaluates its argument twice: call once, then check. */
#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    mlr_code rq_ = (expr);                                                                         \
    REQUIRE(rq_ == MALLARD_OK);                                                                    \
  } while (0)

/* A hand-built flatbuffer: root table with slots 0 (int32 = 42), 1 (string "hi"),
 * 2 (vector of 2 int64), 3 (sub-table with slot 0 int16 = -7). Layout (byte offsets):
 *   0: uoffset root -> 16
 *   4: vtable root: vt_len=12, tbl_len=20, offs {4, 8, 12, 16}
 *  16: root table: soffset (16-4=12), int32 42, uoffset str, uoffset vec, uoffset sub
 *  36: string: len 2, "hi\0" + pad
 *  44: vector: count 2 (+4 pad at 48? no: elements start at 48), int64 5, int64 6
 *  64: vtable sub: vt_len 6, tbl_len 8, off {4}
 *  72: sub table: soffset (72-64=8), int16 -7, pad */
static uint8_t buf[80];

static void put32(int64_t at, uint32_t v) {
  memcpy(buf + at, &v, 4);
}
static void put16(int64_t at, uint16_t v) {
  memcpy(buf + at, &v, 2);
}

static void build(void) {
  memset(buf, 0, sizeof buf);
  put32(0, 16);
  put16(4, 12);
  put16(6, 20);
  put16(8, 4);
  put16(10, 8);
  put16(12, 12);
  put16(14, 16);
  put32(16, 12); /* soffset: vtable at 16 - 12 = 4 */
  put32(20, 42);
  put32(24, 36 - 24);
  put32(28, 44 - 28);
  put32(32, 72 - 32);
  put32(36, 2);
  memcpy(buf + 40, "hi", 3);
  put32(44, 2);
  int64_t a = 5, b = 6;
  memcpy(buf + 48, &a, 8);
  memcpy(buf + 56, &b, 8);
  put16(64, 6);
  put16(66, 8);
  put16(68, 4);
  put32(72, 8);
  put16(76, (uint16_t)-7);
}

static void test_read_valid(void) {
  build();
  fbr_table t, sub;
  mlr_error err;
  REQUIRE_OK(fbr_root(buf, sizeof buf, &t, &err));
  int32_t i32;
  CHECK_EQ_INT(fbr_i32(&t, 0, -1, &i32, &err), MALLARD_OK);
  CHECK_EQ_INT(i32, 42);
  CHECK_EQ_INT(fbr_i32(&t, 9, -1, &i32, &err), MALLARD_OK); /* absent: default */
  CHECK_EQ_INT(i32, -1);
  const char *s;
  int64_t len;
  bool present;
  CHECK_EQ_INT(fbr_string(&t, 1, &s, &len, &present, &err), MALLARD_OK);
  CHECK(present);
  CHECK_EQ_INT(len, 2);
  CHECK(memcmp(s, "hi", 2) == 0);
  fbr_vector v;
  CHECK_EQ_INT(fbr_vector_field(&t, 2, 8, &v, &err), MALLARD_OK);
  CHECK_EQ_INT(v.count, 2);
  CHECK_EQ_INT(fbr_read_i64(fbr_vector_elem(&v, 1, 8)), 6);
  CHECK_EQ_INT(fbr_table_field(&t, 3, &sub, &present, &err), MALLARD_OK);
  CHECK(present);
  int16_t i16;
  CHECK_EQ_INT(fbr_i16(&sub, 0, 0, &i16, &err), MALLARD_OK);
  CHECK_EQ_INT(i16, -7);
  CHECK(fbr_has(&t, 3));
  CHECK(!fbr_has(&t, 4));
  CHECK(!fbr_has(&sub, 1));
}

static void test_read_hostile(void) {
  fbr_table t;
  fbr_vector v;
  mlr_error err;
  const char *s;
  int64_t len;
  bool present;
  /* Root offset past the end. */
  build();
  put32(0, 1000);
  CHECK_EQ_INT(fbr_root(buf, sizeof buf, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "malformed flatbuffer") != NULL);
  /* vtable before the start of the buffer. */
  build();
  put32(16, 100);
  CHECK_EQ_INT(fbr_root(buf, sizeof buf, &t, &err), MALLARD_INVALID_ARGUMENT);
  /* Table length past the end. */
  build();
  put16(6, 200);
  CHECK_EQ_INT(fbr_root(buf, sizeof buf, &t, &err), MALLARD_INVALID_ARGUMENT);
  /* Field offset past the table. */
  build();
  put16(8, 30);
  REQUIRE_OK(fbr_root(buf, sizeof buf, &t, &err));
  int32_t i32;
  CHECK_EQ_INT(fbr_i32(&t, 0, 0, &i32, &err), MALLARD_INVALID_ARGUMENT);
  /* String length past the end. */
  build();
  put32(36, 0x7fffffff);
  REQUIRE_OK(fbr_root(buf, sizeof buf, &t, &err));
  CHECK_EQ_INT(fbr_string(&t, 1, &s, &len, &present, &err), MALLARD_INVALID_ARGUMENT);
  /* Vector count overflowing. */
  build();
  put32(44, 0xffffffffu);
  REQUIRE_OK(fbr_root(buf, sizeof buf, &t, &err));
  CHECK_EQ_INT(fbr_vector_field(&t, 2, 8, &v, &err), MALLARD_INVALID_ARGUMENT);
  /* Tiny and NULL buffers. */
  CHECK_EQ_INT(fbr_root(buf, 4, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(fbr_root(NULL, 0, &t, &err), MALLARD_INVALID_ARGUMENT);
  /* Every truncation of the valid buffer either fails cleanly or reads in bounds (ASan). */
  build();
  for (int64_t n = 0; n <= (int64_t)sizeof buf; n++) {
    uint8_t *copy = malloc((size_t)n + 1);
    memcpy(copy, buf, (size_t)n);
    if (fbr_root(copy, n, &t, &err) == MALLARD_OK) {
      fbr_table sub;
      fbr_i32(&t, 0, 0, &i32, &err);
      fbr_string(&t, 1, &s, &len, &present, &err);
      if (fbr_vector_field(&t, 2, 8, &v, &err) == MALLARD_OK && v.count > 0)
        (void)fbr_read_i64(fbr_vector_elem(&v, v.count - 1, 8));
      fbr_table_field(&t, 3, &sub, &present, &err);
    }
    free(copy);
  }
  /* Random bytes. */
  uint32_t seed = 12345;
  for (int iter = 0; iter < 20000; iter++) {
    uint8_t rnd[64];
    for (size_t i = 0; i < sizeof rnd; i++) {
      seed = seed * 1103515245u + 12345u;
      rnd[i] = (uint8_t)(seed >> 16);
    }
    rnd[0] &= 0x3f;
    rnd[1] = rnd[2] = rnd[3] = 0;
    if (fbr_root(rnd, sizeof rnd, &t, &err) != MALLARD_OK) continue;
    for (int slot = 0; slot < 8; slot++) {
      fbr_table sub;
      fbr_i64(&t, slot, 0, &(int64_t){0}, &err);
      fbr_string(&t, slot, &s, &len, &present, &err);
      if (fbr_vector_field(&t, slot, 4, &v, &err) == MALLARD_OK)
        for (int64_t i = 0; i < v.count && i < 4; i++) fbr_vector_table(&v, i, &sub, &err);
      fbr_table_field(&t, slot, &sub, &present, &err);
    }
  }
}

MTEST_MAIN(MTEST(test_read_valid), MTEST(test_read_hostile))
