/* Ingest of Arrow data built by hand, as a client like pyarrow sends it (types DuckDB does not
 * produce itself): large strings and lists, dictionary-encoded strings, timestamps with a zone,
 * bit-packed booleans with NULLs; and a dense union refused. */
#include "db_test_util.h"

#include <string.h>

static void noop_array_release(struct ArrowArray *a) {
  a->release = NULL;
}

static void noop_schema_release(struct ArrowSchema *s) {
  s->release = NULL;
}

static void test_client_types(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  mlr_error e = {0};

  /* a: large_string "x", "", "abc" */
  static const int64_t a_off[] = {0, 1, 1, 4};
  static const char a_data[] = "xabc";
  /* b: large_list<int32> [1, 2], NULL, [3] */
  static const int64_t b_off[] = {0, 2, 2, 3};
  static const uint8_t b_valid[] = {0x5};
  static const int32_t b_vals[] = {1, 2, 3};
  /* c: dictionary<int32, string> red, blue, red */
  static const int32_t c_idx[] = {0, 1, 0};
  static const int32_t c_doff[] = {0, 3, 7};
  static const char c_ddata[] = "redblue";
  /* d: timestamp[us, UTC] */
  static const int64_t d_vals[] = {0, 1000000, 2000000};
  /* e: bool NULL, true, false */
  static const uint8_t e_valid[] = {0x6};
  static const uint8_t e_bits[] = {0x3};

  struct ArrowSchema s_a = {.format = "U", .name = "a", .release = noop_schema_release};
  struct ArrowSchema s_bi = {.format = "i", .name = "item", .release = noop_schema_release};
  struct ArrowSchema *s_bk[] = {&s_bi};
  struct ArrowSchema s_b = {.format = "+L",
                            .name = "b",
                            .n_children = 1,
                            .children = s_bk,
                            .release = noop_schema_release};
  struct ArrowSchema s_cd = {.format = "u", .name = "", .release = noop_schema_release};
  struct ArrowSchema s_c = {
      .format = "i", .name = "c", .dictionary = &s_cd, .release = noop_schema_release};
  struct ArrowSchema s_d = {.format = "tsu:UTC", .name = "d", .release = noop_schema_release};
  struct ArrowSchema s_e = {.format = "b", .name = "e", .release = noop_schema_release};
  struct ArrowSchema *s_k[] = {&s_a, &s_b, &s_c, &s_d, &s_e};
  struct ArrowSchema s_root = {
      .format = "+s", .name = "", .n_children = 5, .children = s_k, .release = noop_schema_release};

  const void *a_bufs[] = {NULL, a_off, a_data};
  struct ArrowArray a_a = {
      .length = 3, .n_buffers = 3, .buffers = a_bufs, .release = noop_array_release};
  const void *bi_bufs[] = {NULL, b_vals};
  struct ArrowArray a_bi = {
      .length = 3, .n_buffers = 2, .buffers = bi_bufs, .release = noop_array_release};
  struct ArrowArray *a_bk[] = {&a_bi};
  const void *b_bufs[] = {b_valid, b_off};
  struct ArrowArray a_b = {.length = 3,
                           .null_count = 1,
                           .n_buffers = 2,
                           .buffers = b_bufs,
                           .n_children = 1,
                           .children = a_bk,
                           .release = noop_array_release};
  const void *cd_bufs[] = {NULL, c_doff, c_ddata};
  struct ArrowArray a_cd = {
      .length = 2, .n_buffers = 3, .buffers = cd_bufs, .release = noop_array_release};
  const void *c_bufs[] = {NULL, c_idx};
  struct ArrowArray a_c = {.length = 3,
                           .n_buffers = 2,
                           .buffers = c_bufs,
                           .dictionary = &a_cd,
                           .release = noop_array_release};
  const void *d_bufs[] = {NULL, d_vals};
  struct ArrowArray a_d = {
      .length = 3, .n_buffers = 2, .buffers = d_bufs, .release = noop_array_release};
  const void *e_bufs[] = {e_valid, e_bits};
  struct ArrowArray a_e = {.length = 3,
                           .null_count = 1,
                           .n_buffers = 2,
                           .buffers = e_bufs,
                           .release = noop_array_release};
  struct ArrowArray *a_k[] = {&a_a, &a_b, &a_c, &a_d, &a_e};
  const void *root_bufs[] = {NULL};
  struct ArrowArray batch = {.length = 3,
                             .n_buffers = 1,
                             .buffers = root_bufs,
                             .n_children = 5,
                             .children = a_k,
                             .release = noop_array_release};

  db_ingest *ing = NULL;
  int64_t rows = 0;
  REQUIRE_ONCE(db_ingest_begin(c, NULL, "t", DB_PUT_CREATE, &s_root, &ing, &e) == MALLARD_OK);
  CHECK_EQ_INT(db_ingest_append(ing, &batch, &e), MALLARD_OK);
  CHECK(batch.release == NULL); /* moved in and released */
  CHECK_EQ_INT(db_ingest_commit(ing, &rows, &e), MALLARD_OK);
  CHECK_EQ_INT(rows, 3);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM t"), 3);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                            "'t' AND ((column_name = 'a' AND data_type = 'VARCHAR') OR "
                            "(column_name = 'b' AND data_type = 'INTEGER[]') OR "
                            "(column_name = 'c' AND data_type LIKE 'ENUM%') OR "
                            "(column_name = 'd' AND data_type = 'TIMESTAMP WITH TIME ZONE') OR "
                            "(column_name = 'e' AND data_type = 'BOOLEAN'))"),
               5);
  CHECK_EQ_INT(tu_scalar(c, "SELECT count(*) FROM t WHERE "
                            "("
                            "(a = 'x' AND b = [1, 2] AND c = 'red' AND e IS NULL AND "
                            " d = TIMESTAMPTZ '1970-01-01 00:00:00+00') OR "
                            "(a = '' AND b IS NULL AND c = 'blue' AND e AND "
                            " d = TIMESTAMPTZ '1970-01-01 00:00:01+00') OR "
                            "(a = 'abc' AND b = [3] AND c = 'red' AND NOT e AND "
                            " d = TIMESTAMPTZ '1970-01-01 00:00:02+00'))"),
               3);
  CHECK_EQ_INT(tu_scalar(c, "SELECT len(enum_range(c))::BIGINT FROM t LIMIT 1"), 2);

  /* A dense union is refused naming the column, nothing is created. */
  struct ArrowSchema s_ui = {.format = "i", .name = "n", .release = noop_schema_release};
  struct ArrowSchema *s_uk[] = {&s_ui};
  struct ArrowSchema s_u = {.format = "+ud:0",
                            .name = "du",
                            .n_children = 1,
                            .children = s_uk,
                            .release = noop_schema_release};
  struct ArrowSchema *s_k2[] = {&s_u};
  struct ArrowSchema s_root2 = {.format = "+s",
                                .name = "",
                                .n_children = 1,
                                .children = s_k2,
                                .release = noop_schema_release};
  CHECK_EQ_INT(db_ingest_begin(c, NULL, "u", DB_PUT_CREATE, &s_root2, &ing, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "'du'") != NULL);
  db_disconnect(c);
  db_close(db);
}

MTEST_MAIN(MTEST(test_client_types))
