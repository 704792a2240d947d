/* Type fidelity: every DuckDB type of issue 5 item 4 goes out through the Arrow export
 * (db_query, coalesced) and back in through the Arrow import (db_ingest CREATE): the new
 * table must have the same column type and the same values, or the type is refused. */
#include "db_test_util.h"

#include <string.h>

typedef struct type_case {
  const char *expr; /* over i = 0..n-1 from range() */
  const char *sql_type;
} type_case;

static const type_case k_cases[] = {
    {"(i % 100)::TINYINT", "TINYINT"},
    {"i::SMALLINT", "SMALLINT"},
    {"i::INTEGER", "INTEGER"},
    {"i::BIGINT * 1000000007", "BIGINT"},
    {"(i % 200)::UTINYINT", "UTINYINT"},
    {"i::USMALLINT", "USMALLINT"},
    {"i::UINTEGER", "UINTEGER"},
    {"(i::UBIGINT * 1000000007)", "UBIGINT"},
    {"(i::HUGEINT * 17014118346046923173168730371588410)", "HUGEINT"},
    {"(i::UHUGEINT * 34028236692093846346337460743176821)", "UHUGEINT"},
    {"(i / 7)::DECIMAL(4,1)", "DECIMAL(4,1)"},
    {"(i / 7)::DECIMAL(9,3)", "DECIMAL(9,3)"},
    {"(i / 7)::DECIMAL(18,6)", "DECIMAL(18,6)"},
    {"(i / 7)::DECIMAL(38,10)", "DECIMAL(38,10)"},
    {"CASE i % 4 WHEN 0 THEN 'nan'::FLOAT WHEN 1 THEN 'inf'::FLOAT WHEN 2 THEN '-inf'::FLOAT "
     "ELSE i / 3 END::FLOAT",
     "FLOAT"},
    {"CASE i % 4 WHEN 0 THEN 'nan'::DOUBLE WHEN 1 THEN 'inf'::DOUBLE WHEN 2 THEN "
     "'-inf'::DOUBLE ELSE i / 3 END",
     "DOUBLE"},
    {"CASE i % 3 WHEN 0 THEN '' WHEN 1 THEN repeat('long', 100) ELSE 'héllo ☃ ' || i END",
     "VARCHAR"},
    {"('\\x00\\xff'::BLOB || i::VARCHAR::BLOB)", "BLOB"},
    {"i % 3 = 0", "BOOLEAN"},
    {"DATE '1970-01-01' + i::INTEGER", "DATE"},
    {"TIME '00:00:00' + INTERVAL (i) SECOND", "TIME"},
    {"TIMESTAMP '2000-01-01' + INTERVAL (i) MINUTE", "TIMESTAMP"},
    {"(TIMESTAMP '2000-01-01' + INTERVAL (i) MINUTE)::TIMESTAMP_S", "TIMESTAMP_S"},
    {"(TIMESTAMP '2000-01-01' + INTERVAL (i) MINUTE)::TIMESTAMP_MS", "TIMESTAMP_MS"},
    {"(TIMESTAMP '2000-01-01' + INTERVAL (i) MINUTE)::TIMESTAMP_NS", "TIMESTAMP_NS"},
    {"TIMESTAMPTZ '2000-01-01 00:00:00+00' + INTERVAL (i) MINUTE", "TIMESTAMP WITH TIME ZONE"},
    {"INTERVAL (i) DAY + INTERVAL (i) MICROSECOND + INTERVAL (i % 13) MONTH", "INTERVAL"},
    {"md5(i::VARCHAR)::UUID", "UUID"},
    {"(['sad', 'ok', 'happy'])[i % 3 + 1]::mood", "ENUM('sad', 'ok', 'happy')"},
    {"CASE WHEN i % 5 = 0 THEN NULL ELSE [i, NULL, i + 1] END", "BIGINT[]"},
    {"[[i], [], NULL]", "BIGINT[][]"},
    {"array_value(i::INTEGER, NULL, 2)", "INTEGER[3]"},
    {"{'a': i, 'b': CASE WHEN i % 2 = 0 THEN NULL ELSE 'x' || i END, 'c': [i]}",
     "STRUCT(\"a\" BIGINT, \"b\" VARCHAR, \"c\" BIGINT[])"},
    {"MAP {'k' || i: i, 'z': NULL}", "MAP(VARCHAR, BIGINT)"},
    {"CASE WHEN i % 2 = 0 THEN union_value(n := i::INTEGER)::UNION(n INTEGER, s VARCHAR) "
     "ELSE union_value(s := 'x' || i)::UNION(n INTEGER, s VARCHAR) END",
     "UNION(\"n\" INTEGER, \"s\" VARCHAR)"},
    {"CASE WHEN i % 3 = 0 THEN NULL ELSE {'l': [{'x': NULL}, NULL]} END",
     "STRUCT(\"l\" STRUCT(\"x\" \"NULL\")[])"},
    {"'01:02:03+05'::TIMETZ", "TIME WITH TIME ZONE"},
    {"bitstring('1011', (i % 20 + 4)::INTEGER)", "BIT"},
    {"(i::BIGNUM * 100000000000000000000000000000000000000000000)", "BIGNUM"},
    {"json_object('k', i)", "JSON"},
};

static void run_case(db_conn *c, db_conn *c2, const type_case *tc) {
  char sql[1024];
  mlr_error e = {0};
  int64_t rows = 0;
  tu_exec(c, "DROP TABLE IF EXISTS src; DROP TABLE IF EXISTS dst");
  /* 5000 rows: two full 2048-row chunks and a partial one; every 7th row NULL. */
  snprintf(sql, sizeof sql, "CREATE TABLE src AS SELECT i AS id, (%s) AS v FROM range(5000) t(i)",
           tc->expr);
  if (tu_exec(c, sql) || tu_exec(c, "UPDATE src SET v = NULL WHERE id % 7 = 3")) {
    CHECK(0);
    return;
  }
  mlr_code rc =
      tu_copy(c, "SELECT * FROM src", 4096, c2, "dst", DB_PUT_CREATE, &rows, NULL, NULL, &e);
  if (rc) fprintf(stderr, "  %s: %s\n", tc->sql_type, e.message);
  CHECK_EQ_INT(rc, MALLARD_OK);
  if (rc) return;
  CHECK_EQ_INT(rows, 5000);
  /* The column type survived. */
  struct ArrowSchema s = {0};
  db_prepared *p = NULL;
  CHECK_EQ_INT(db_prepare(c, "SELECT typeof(v) FROM dst LIMIT 1", &p, &e), MALLARD_OK);
  db_prepared_free(p);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM (SELECT data_type FROM information_schema.columns WHERE "
           "table_name = 'src' AND column_name = 'v' EXCEPT SELECT data_type FROM "
           "information_schema.columns WHERE table_name = 'dst' AND column_name = 'v')");
  int64_t type_diff = tu_scalar(c, sql);
  if (type_diff != 0) fprintf(stderr, "  %s: type changed\n", tc->sql_type);
  CHECK_EQ_INT(type_diff, 0);
  /* The values survived (both directions, with multiplicity). */
  int64_t d1 = tu_scalar(c, "SELECT count(*) FROM (SELECT * FROM src EXCEPT ALL SELECT * FROM "
                            "dst)");
  int64_t d2 = tu_scalar(c, "SELECT count(*) FROM (SELECT * FROM dst EXCEPT ALL SELECT * FROM "
                            "src)");
  if (d1 || d2)
    fprintf(stderr, "  %s: %lld/%lld rows differ\n", tc->sql_type, (long long)d1, (long long)d2);
  CHECK_EQ_INT(d1, 0);
  CHECK_EQ_INT(d2, 0);
  if (s.release) s.release(&s);
}

static void test_round_trip_every_type(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_conn *c2 = tu_connect(db);
  REQUIRE(c2);
  tu_exec(c, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
    int before = mtest_failures;
    run_case(c, c2, &k_cases[i]);
    fprintf(stderr, "  [%s] %s\n", mtest_failures == before ? "ok" : "FAIL", k_cases[i].sql_type);
  }
  db_disconnect(c2);
  db_disconnect(c);
  db_close(db);
}

/* The Arrow types sent for the types whose export is not obvious. */
static void test_export_formats(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  struct ArrowSchema s;
  mlr_error e = {0};
  REQUIRE_ONCE(db_query_schema_only(c,
                                    "SELECT true AS b, 1::HUGEINT AS h, uuid() AS u, "
                                    "TIMESTAMPTZ '2000-01-01' AS tz, 1.5::DECIMAL(4,1) AS d, "
                                    "[true] AS lb",
                                    &s, &e) == MALLARD_OK);
  REQUIRE(s.n_children == 6);
  CHECK_EQ_STR(s.children[0]->format, "b"); /* arrow.bool8 unpacked to a real boolean */
  CHECK(s.children[0]->metadata == NULL);
  CHECK_EQ_STR(s.children[1]->format, "w:16");
  CHECK_EQ_STR(s.children[2]->format, "w:16");
  CHECK(strncmp(s.children[3]->format, "tsu:", 4) == 0 && strlen(s.children[3]->format) > 4);
  CHECK_EQ_STR(s.children[4]->format, "d:4,1,128");
  CHECK_EQ_STR(s.children[5]->children[0]->format, "b");
  s.release(&s);
  /* And the batches agree with the schema: booleans are bit-packed. */
  db_query *q = NULL;
  struct ArrowArray b;
  bool eof;
  REQUIRE_ONCE(db_query_start(c, "SELECT i % 3 = 0 AS b FROM range(10) t(i)", NULL, &q, &e) == 0);
  REQUIRE_ONCE(db_query_next(q, &b, &eof, &e) == 0 && !eof);
  CHECK_EQ_INT(b.length, 10);
  const uint8_t *bits = b.children[0]->buffers[1];
  CHECK_EQ_INT(bits[0], 0x49);      /* rows 0, 3, 6 */
  CHECK_EQ_INT(bits[1] & 0x3, 0x2); /* row 9 */
  b.release(&b);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

/* The default (not lossless) mode: HUGEINT as decimal128(38,0), UUID as a string, booleans plain.
 */
static void test_default_export_formats(void) {
  db_database *db = NULL;
  mlr_error e = {0};
  db_options o = {.threads = 2};
  REQUIRE_ONCE(db_open(&o, &db, &e) == MALLARD_OK);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  struct ArrowSchema s;
  REQUIRE_ONCE(db_query_schema_only(c,
                                    "SELECT sum(i) AS h, uuid() AS u, true AS b FROM range(3) t(i)",
                                    &s, &e) == MALLARD_OK);
  REQUIRE(s.n_children == 3);
  CHECK_EQ_STR(s.children[0]->format, "d:38,0");
  CHECK_EQ_STR(s.children[1]->format, "u");
  CHECK_EQ_STR(s.children[2]->format, "b");
  s.release(&s);
  db_disconnect(c);
  db_close(db);
}

/* A type without an Arrow export is refused naming the column. */
static void test_refused_types(void) {
  db_database *db = tu_open_mem();
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  mlr_error e = {0};
  CHECK_EQ_INT(db_query_start(c, "SELECT 1 AS a, '01:02:03'::TIME_NS AS tn", NULL, &q, &e),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(e.message, "'tn'") != NULL);
  CHECK(strstr(e.message, "TIME_NS") != NULL);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

MTEST_MAIN(MTEST(test_round_trip_every_type), MTEST(test_export_formats),
           MTEST(test_default_export_formats), MTEST(test_refused_types))
