/* The direct exporter (db_export.c) against the path it replaces: the same DuckDB chunks go
 * through duckdb_data_chunk_to_arrow + db_coalesce and through db_export, and the batches must
 * be equal (lengths, null counts, validity, values, offsets, bytes) for every flat type, with
 * NULLs, empty, inlined and long strings, all-NULL and constant columns, odd chunk sizes, batches
 * spanning many chunks and a last partial batch, in both Arrow modes (default and lossless).
 * Also db_query end to end, and which results fall back to the old path. */
#include "db/db_internal.h"
#include "db/db_coalesce.h"
#include "db/db_export.h"
#include "db_test_util.h"

#include <string.h>

static db_database *open_mode(bool lossless) {
  return tu_open_with(lossless, false);
}

/* Bytes per value of a fixed-width format; 0 for bit-packed booleans; -4/-8 for 32/64-bit
 * offsets (strings and binaries). */
static int64_t fmt_width(const char *f) {
  if (!strcmp(f, "b")) return 0;
  if (!strcmp(f, "c") || !strcmp(f, "C")) return 1;
  if (!strcmp(f, "s") || !strcmp(f, "S")) return 2;
  if (!strcmp(f, "i") || !strcmp(f, "I") || !strcmp(f, "f") || !strcmp(f, "tdD")) return 4;
  if (!strcmp(f, "l") || !strcmp(f, "L") || !strcmp(f, "g") || !strcmp(f, "ttu") ||
      !strncmp(f, "ts", 2))
    return 8;
  if (!strncmp(f, "d:", 2) || !strcmp(f, "w:16") || !strcmp(f, "tin")) return 16;
  if (!strcmp(f, "u") || !strcmp(f, "z")) return -4;
  if (!strcmp(f, "U") || !strcmp(f, "Z")) return -8;
  return -1000;
}

static bool bit(const void *b, int64_t i) {
  return (((const uint8_t *)b)[i >> 3] >> (i & 7)) & 1;
}

static bool row_valid(const struct ArrowArray *a, int64_t r) {
  return a->buffers[0] == NULL || bit(a->buffers[0], a->offset + r);
}

static int64_t str_off(const struct ArrowArray *a, int64_t w, int64_t r) {
  return w == -4 ? ((const int32_t *)a->buffers[1])[a->offset + r]
                 : ((const int64_t *)a->buffers[1])[a->offset + r];
}

/* Compares column `name` (format f, as sent: booleans bit-packed) of two batches. Returns the
 * number of differing rows (reported once per column). */
static int64_t compare_column(const char *name, const char *f, const struct ArrowArray *want,
                              const struct ArrowArray *got) {
  int64_t w = fmt_width(f), bad = 0, first = -1;
  CHECK(w != -1000);
  if (w == -1000) return 1;
  CHECK_EQ_INT(got->length, want->length);
  CHECK_EQ_INT(got->null_count, want->null_count);
  CHECK_EQ_INT(got->offset, 0);
  CHECK_EQ_INT(got->n_buffers, w < 0 ? 3 : 2);
  CHECK_EQ_INT(got->n_children, 0);
  /* A validity bitmap only when the batch has a NULL in the column. */
  CHECK((got->buffers[0] != NULL) == (got->null_count > 0));
  if (got->length != want->length) return 1;
  for (int64_t r = 0; r < want->length; r++) {
    bool v = row_valid(want, r), ok = v == row_valid(got, r);
    if (ok && w < 0) {
      /* Offsets are compared for every row (a NULL string is empty in both). */
      int64_t wb = str_off(want, w, r), we = str_off(want, w, r + 1);
      int64_t gb = str_off(got, w, r), ge = str_off(got, w, r + 1);
      ok = we - wb == ge - gb && gb - str_off(got, w, 0) == wb - str_off(want, w, 0) &&
           memcmp((const char *)want->buffers[2] + wb, (const char *)got->buffers[2] + gb,
                  (size_t)(we - wb)) == 0;
    } else if (ok && v && w == 0) {
      ok = bit(want->buffers[1], want->offset + r) == bit(got->buffers[1], got->offset + r);
    } else if (ok && v) {
      ok = memcmp((const uint8_t *)want->buffers[1] + (want->offset + r) * w,
                  (const uint8_t *)got->buffers[1] + (got->offset + r) * w, (size_t)w) == 0;
    }
    if (!ok) {
      if (first < 0) first = r;
      bad++;
    }
  }
  if (bad)
    fprintf(stderr, "column %s (%s): %lld rows differ, first at row %lld\n", name, f,
            (long long)bad, (long long)first);
  return bad;
}

static int64_t compare_batches(const struct ArrowSchema *sent, const struct ArrowArray *want,
                               const struct ArrowArray *got) {
  int64_t bad = 0;
  CHECK_EQ_INT(got->length, want->length);
  CHECK_EQ_INT(got->n_children, want->n_children);
  CHECK_EQ_INT(got->null_count, 0);
  CHECK_EQ_INT(got->n_buffers, 1);
  if (got->n_children != sent->n_children || want->n_children != sent->n_children) return 1;
  for (int64_t i = 0; i < sent->n_children; i++)
    bad += compare_column(sent->children[i]->name, sent->children[i]->format, want->children[i],
                          got->children[i]);
  return bad;
}

typedef struct run_stats {
  int64_t rows, batches, chunks, odd_chunks, bad;
} run_stats;

/* Streams sql on conn; every chunk goes through both paths; each batch (batch_rows, the same
 * boundaries as db_query_next) is compared. */
static void compare_paths(db_conn *conn, const char *sql, int64_t batch_rows, run_stats *st) {
  memset(st, 0, sizeof *st);
  duckdb_prepared_statement stmt = NULL;
  duckdb_pending_result pending = NULL;
  duckdb_result res;
  bool have_res = false;
  idx_t n = 0;
  duckdb_logical_type *types = NULL;
  char **names = NULL;
  struct ArrowSchema raw = {0}, sent = {0};
  db_export *x = NULL;
  struct ArrowArray *pend[64];
  int64_t npend = 0, pend_rows = 0;
  mlr_error e = {0};

  if (duckdb_prepare(conn->con, sql, &stmt) != DuckDBSuccess) {
    fprintf(stderr, "prepare '%s': %s\n", sql, duckdb_prepare_error(stmt));
    CHECK(false);
    goto done;
  }
  CHECK(duckdb_pending_prepared_streaming(stmt, &pending) == DuckDBSuccess);
  have_res = true;
  if (duckdb_execute_pending(pending, &res) != DuckDBSuccess) {
    fprintf(stderr, "execute '%s': %s\n", sql, duckdb_result_error(&res));
    CHECK(false);
    goto done;
  }
  duckdb_destroy_pending(&pending); /* as db_query does: the result lives on its own */
  n = duckdb_column_count(&res);
  types = calloc(n, sizeof *types);
  names = calloc(n, sizeof *names);
  for (idx_t i = 0; i < n; i++) {
    types[i] = duckdb_column_logical_type(&res, i);
    names[i] = (char *)duckdb_column_name(&res, i); /* owned by res */
  }
  duckdb_error_data ed =
      duckdb_to_arrow_schema(conn->arrow_opts, types, (const char **)names, n, &raw);
  CHECK(!ed || !duckdb_error_data_has_error(ed));
  if (ed) duckdb_destroy_error_data(&ed);
  ed = duckdb_to_arrow_schema(conn->arrow_opts, types, (const char **)names, n, &sent);
  if (ed) duckdb_destroy_error_data(&ed);
  db_arrow_schema_unbool8(&sent); /* what db_query_schema announces */
  CHECK(db_export_plan(types, &raw, batch_rows, &x, &e) == MALLARD_OK);
  CHECK(x != NULL);
  if (!x) goto done;
  for (;;) {
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    bool end = ch == NULL;
    if (ch && duckdb_data_chunk_get_size(ch) == 0) {
      duckdb_destroy_data_chunk(&ch);
      continue;
    }
    if (ch) {
      struct ArrowArray *a = calloc(1, sizeof *a);
      ed = duckdb_data_chunk_to_arrow(conn->arrow_opts, ch, a);
      CHECK(!ed || !duckdb_error_data_has_error(ed));
      if (ed) duckdb_destroy_error_data(&ed);
      pend[npend++] = a;
      pend_rows += a->length;
      st->chunks++;
      if (a->length % 8) st->odd_chunks++;
      CHECK(db_export_append(x, ch, &e) == MALLARD_OK);
      duckdb_destroy_data_chunk(&ch);
      CHECK_EQ_INT(db_export_rows(x), pend_rows);
    }
    if ((end || pend_rows >= batch_rows || npend == 64) && npend > 0) {
      struct ArrowArray want, got;
      REQUIRE_ONCE(db_coalesce(&raw, pend, npend, &want, &e) == MALLARD_OK);
      REQUIRE_ONCE(db_export_finish(x, &got, &e) == MALLARD_OK);
      CHECK_EQ_INT(db_export_rows(x), 0);
      st->bad += compare_batches(&sent, &want, &got);
      st->rows += got.length;
      st->batches++;
      want.release(&want);
      /* A column may be released on its own before the batch. */
      if (got.n_children > 0) got.children[0]->release(got.children[0]);
      got.release(&got);
      for (int64_t j = 0; j < npend; j++) {
        pend[j]->release(pend[j]);
        free(pend[j]);
      }
      npend = 0;
      pend_rows = 0;
    }
    if (end) break;
  }
  CHECK(duckdb_result_error(&res) == NULL || duckdb_result_error(&res)[0] == '\0');
done:
  for (int64_t j = 0; j < npend; j++) {
    pend[j]->release(pend[j]);
    free(pend[j]);
  }
  db_export_free(x);
  if (raw.release) raw.release(&raw);
  if (sent.release) sent.release(&sent);
  for (idx_t i = 0; i < n; i++) {
    duckdb_destroy_logical_type(&types[i]);
  }
  free(types);
  free(names);
  if (have_res) duckdb_destroy_result(&res);
  if (pending) duckdb_destroy_pending(&pending);
  if (stmt) duckdb_destroy_prepare(&stmt);
}

/* Every flat type, each with its own NULL pattern; a filter makes chunks of odd sizes. */
static const char *k_types_sql =
    "SELECT "
    "CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 = 0 END AS b, "
    "CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 200 - 100)::TINYINT END AS i8, "
    "(i % 60000 - 30000)::SMALLINT AS i16, "
    "CASE WHEN i % 13 = 1 THEN NULL ELSE (i * 7919 % 2000000 - 1000000)::INTEGER END AS i32, "
    "((i - 15000) * 1234567891)::BIGINT AS i64, "
    "(i % 256)::UTINYINT AS u8, (i % 65536)::USMALLINT AS u16, "
    "CASE WHEN i % 3 = 2 THEN NULL ELSE (i * 65537)::UINTEGER END AS u32, "
    "(i * 1000003)::UBIGINT AS u64, "
    "(i / 7.0)::FLOAT AS f32, CASE WHEN i % 17 = 0 THEN NULL ELSE i / 3.0 END::DOUBLE AS f64, "
    "CASE WHEN i % 19 = 0 THEN NULL ELSE DATE '1969-12-01' + (i % 10000)::INTEGER END AS d, "
    "TIME '00:00:00' + INTERVAL (i) SECOND AS t, "
    "TIMESTAMP '1960-01-01' + INTERVAL (i * 1013) SECOND AS ts, "
    "(TIMESTAMP '2000-01-01' + INTERVAL (i) SECOND)::TIMESTAMP_S AS ts_s, "
    "(TIMESTAMP '2000-01-01' + INTERVAL (i) MILLISECOND)::TIMESTAMP_MS AS ts_ms, "
    "CASE WHEN i % 23 = 0 THEN NULL ELSE (TIMESTAMP '2000-01-01' + INTERVAL (i) MICROSECOND)"
    "::TIMESTAMP_NS END AS ts_ns, "
    "(TIMESTAMP '2000-01-01' + INTERVAL (i) MINUTE)::TIMESTAMPTZ AS tstz, "
    "CASE WHEN i % 29 = 0 THEN NULL ELSE (i - 15000)::HUGEINT * "
    "1000000000000000000000::HUGEINT END AS hi, "
    "i::UHUGEINT * 1000000000000000000000::UHUGEINT AS uhi, "
    "CASE WHEN i % 31 = 0 THEN NULL ELSE ((i % 2000 - 1000) / 10)::DECIMAL(4,1) END AS dec4, "
    "((i - 15000) / 100)::DECIMAL(9,2) AS dec9, "
    "((i - 15000) * 1000003 / 1000)::DECIMAL(18,3) AS dec18, "
    "((i - 15000) * 100000000007 / 100000)::DECIMAL(38,5) AS dec38, "
    "CASE WHEN i % 37 = 0 THEN NULL ELSE INTERVAL (i % 13) MONTH + INTERVAL (i % 40) DAY + "
    "INTERVAL ((i - 15000) * 37) MICROSECOND END AS iv, "
    "CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'short' || i "
    "WHEN 3 THEN repeat('a long string ', 1 + i % 4) || i WHEN 4 THEN 'exactly12chr' "
    "ELSE 'thirteen char' END AS s, "
    "CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN ''::BLOB WHEN 2 THEN '\\x00\\x01ab'::BLOB "
    "ELSE ('blob of more than twelve bytes ' || i)::BLOB END AS bl, "
    "NULL::INTEGER AS null_i, NULL::VARCHAR AS null_s, NULL::BOOLEAN AS null_b, "
    "42::BIGINT AS const_i, 'a constant string, not inlined' AS const_s, true AS const_b, "
    "'€uro ünïcödé ' || i AS utf8 "
    "FROM range(30000) t(i) WHERE i % 13 <> 5";

static void run_types(bool lossless, int64_t batch_rows) {
  db_database *db = open_mode(lossless);
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  run_stats st;
  compare_paths(c, k_types_sql, batch_rows, &st);
  CHECK_EQ_INT(st.bad, 0);
  CHECK_EQ_INT(st.rows, 30000 - 30000 / 13 - (30000 % 13 > 5 ? 1 : 0));
  CHECK(st.odd_chunks > 0); /* bit positions not on a byte boundary were exercised */
  if (batch_rows > 2048) CHECK(st.batches < st.chunks);
  fprintf(stderr,
          "  lossless=%d batch_rows=%lld: %lld rows, %lld chunks (%lld odd), %lld batches\n",
          (int)lossless, (long long)batch_rows, (long long)st.rows, (long long)st.chunks,
          (long long)st.odd_chunks, (long long)st.batches);
  db_disconnect(c);
  db_close(db);
}

static void test_types_default_mode(void) {
  run_types(false, 10000); /* ~6 chunks a batch, last batch partial */
  run_types(false, 1);     /* every chunk its own batch */
}

static void test_types_lossless_mode(void) {
  run_types(true, 10000);
  run_types(true, 65536); /* one batch holding every chunk */
}

/* Data read back from a table: DuckDB's scans produce dictionary and constant vectors from
 * compressed storage, which duckdb_fetch_chunk flattens. */
static void test_table_scan(void) {
  db_database *db = open_mode(false);
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  REQUIRE_ONCE(tu_exec(c, "CREATE TABLE t AS SELECT "
                          "'city_' || (i % 10) AS city, "
                          "CASE WHEN i % 1000 < 500 THEN NULL ELSE i END AS runs, "
                          "7 AS same, "
                          "CASE WHEN i % 3 = 0 THEN repeat('x', 20 + i % 50) END AS longs, "
                          "TIMESTAMP '2020-01-01' + INTERVAL (i) SECOND AS ts "
                          "FROM range(200000) t(i)") == MALLARD_OK);
  REQUIRE_ONCE(tu_exec(c, "CHECKPOINT") == MALLARD_OK);
  run_stats st;
  compare_paths(c, "SELECT * FROM t", 65536, &st);
  CHECK_EQ_INT(st.bad, 0);
  CHECK_EQ_INT(st.rows, 200000);
  compare_paths(c, "SELECT city, runs FROM t WHERE runs IS NULL OR runs % 7 <> 0", 30000, &st);
  CHECK_EQ_INT(st.bad, 0);
  db_disconnect(c);
  db_close(db);
}

/* The connection's Arrow options choose the layouts: 64-bit offsets (arrow_large_buffer_size)
 * are exported directly too; layouts it does not write (string views, narrow decimals) keep the
 * old path. */
static void test_connection_arrow_options(void) {
  db_database *db = open_mode(false);
  REQUIRE(db);
  db_conn *c0 = tu_connect(db);
  REQUIRE(c0);
  REQUIRE_ONCE(tu_exec(c0, "SET GLOBAL arrow_large_buffer_size = true") == MALLARD_OK);
  db_conn *c = tu_connect(db); /* options are taken when connecting */
  REQUIRE(c);
  run_stats st;
  compare_paths(
      c,
      "SELECT CASE WHEN i % 4 = 0 THEN NULL ELSE repeat('z', (i % 30)::INTEGER) END AS s, "
      "('bytes ' || i)::BLOB AS b, ('{\"k\": ' || i || '}')::JSON AS j "
      "FROM range(20000) t(i)",
      5000, &st);
  CHECK_EQ_INT(st.bad, 0);
  CHECK_EQ_INT(st.rows, 20000);
  struct ArrowSchema s;
  mlr_error e = {0};
  REQUIRE_ONCE(db_query_schema_only(c, "SELECT 'a' AS s, 'b'::BLOB AS b", &s, &e) == MALLARD_OK);
  CHECK_EQ_STR(s.children[0]->format, "U");
  CHECK_EQ_STR(s.children[1]->format, "Z");
  s.release(&s);
  db_disconnect(c);
  /* Layouts the exporter does not write (string views, narrow decimals) are refused: DuckDB's
   * schema release frees its own holder, not the format strings, so they can be swapped. */
  duckdb_logical_type t[2] = {duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR),
                              duckdb_create_decimal_type(9, 2)};
  const char *names[2] = {"s", "d"};
  const char *bad[][2] = {{"vu", "d:9,2"}, {"u", "d:9,2,64"}, {"u", "i"}};
  for (size_t k = 0; k < 3; k++) {
    memset(&s, 0, sizeof s);
    duckdb_error_data ed = duckdb_to_arrow_schema(c0->arrow_opts, t, names, 2, &s);
    if (ed) duckdb_destroy_error_data(&ed);
    REQUIRE(s.release && s.n_children == 2);
    db_export *x = NULL;
    CHECK_EQ_INT(db_export_plan(t, &s, 100, &x, &e), MALLARD_OK); /* as DuckDB made it */
    CHECK(x != NULL);
    db_export_free(x);
    s.children[0]->format = bad[k][0];
    s.children[1]->format = bad[k][1];
    x = (db_export *)1;
    CHECK_EQ_INT(db_export_plan(t, &s, 100, &x, &e), MALLARD_OK);
    CHECK(x == NULL);
    s.release(&s);
  }
  duckdb_destroy_logical_type(&t[0]);
  duckdb_destroy_logical_type(&t[1]);
  db_disconnect(c0);
  db_close(db);
}

/* DuckDB's own rule for inlined strings is the one db_export.c applies (length <= 12). */
static void test_inline_rule(void) {
  db_database *db = open_mode(false);
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  duckdb_result r;
  REQUIRE(duckdb_query(c->con, "SELECT repeat('y', i::INTEGER) FROM range(40) t(i)", &r) ==
          DuckDBSuccess);
  duckdb_data_chunk ch = duckdb_fetch_chunk(r);
  REQUIRE(ch != NULL);
  duckdb_string_t *s = duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0));
  for (idx_t i = 0; i < duckdb_data_chunk_get_size(ch); i++) {
    CHECK_EQ_INT(duckdb_string_t_length(s[i]), i);
    CHECK_EQ_INT(duckdb_string_is_inlined(s[i]), duckdb_string_t_length(s[i]) <= 12);
  }
  duckdb_destroy_data_chunk(&ch);
  duckdb_destroy_result(&r);
  db_disconnect(c);
  db_close(db);
}

/* Results with a column of another type keep duckdb_data_chunk_to_arrow + db_coalesce. */
static void test_fallback(void) {
  db_database *db = open_mode(false);
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  REQUIRE_ONCE(tu_exec(c, "CREATE TYPE mood AS ENUM ('sad', 'ok')") == MALLARD_OK);
  const char *fallback[] = {
      "SELECT 1 AS a, [1, 2] AS l",
      "SELECT {'x': 1} AS st",
      "SELECT 'ok'::mood AS m",
      "SELECT gen_random_uuid() AS u",
      "SELECT TIMETZ '01:02:03+05' AS tz",
      "SELECT '101'::BIT AS bits",
      "SELECT MAP {'k': 1} AS mp",
  };
  for (size_t k = 0; k < sizeof fallback / sizeof fallback[0]; k++) {
    duckdb_result r;
    REQUIRE(duckdb_query(c->con, fallback[k], &r) == DuckDBSuccess);
    idx_t n = duckdb_column_count(&r);
    duckdb_logical_type types[2];
    const char *names[2];
    for (idx_t i = 0; i < n; i++) {
      types[i] = duckdb_column_logical_type(&r, i);
      names[i] = duckdb_column_name(&r, i);
    }
    struct ArrowSchema s = {0};
    duckdb_error_data ed = duckdb_to_arrow_schema(c->arrow_opts, types, names, n, &s);
    if (ed) duckdb_destroy_error_data(&ed);
    db_export *x = (db_export *)1;
    mlr_error e = {0};
    CHECK_EQ_INT(db_export_plan(types, &s, 65536, &x, &e), MALLARD_OK);
    if (x) fprintf(stderr, "not a fallback: %s\n", fallback[k]);
    CHECK(x == NULL);
    db_export_free(x);
    if (s.release) s.release(&s);
    for (idx_t i = 0; i < n; i++) duckdb_destroy_logical_type(&types[i]);
    duckdb_destroy_result(&r);
  }
  /* And db_query still serves them (through db_coalesce). */
  db_query *q = NULL;
  mlr_error e = {0};
  REQUIRE_ONCE(db_query_start(c, "SELECT i, [i, i + 1] AS l FROM range(5000) t(i)", NULL, &q, &e) ==
               MALLARD_OK);
  struct ArrowArray b;
  bool eof = false;
  REQUIRE_ONCE(db_query_next(q, &b, &eof, &e) == MALLARD_OK);
  REQUIRE(!eof);
  CHECK_EQ_INT(b.length, 5000);
  CHECK_EQ_STR(b.n_children == 2 ? "ok" : "no", "ok");
  b.release(&b);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

/* db_query_next on the direct path: batch sizes as before, values as the reference path. */
static void test_query_end_to_end(void) {
  db_database *db = open_mode(true);
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  mlr_error e = {0};
  db_query_options o = {.batch_rows = 7000};
  REQUIRE_ONCE(db_query_start(c,
                              "SELECT i, i % 2 = 0 AS even, CASE WHEN i % 3 = 0 THEN NULL ELSE "
                              "'value number ' || i END AS s FROM range(100000) t(i) ORDER BY i",
                              &o, &q, &e) == MALLARD_OK);
  REQUIRE(db_query_is_direct(q));
  struct ArrowSchema s;
  REQUIRE_ONCE(db_query_schema(q, &s, &e) == MALLARD_OK);
  CHECK_EQ_STR(s.children[1]->format, "b");
  int64_t next = 0, bad = 0, batches = 0;
  for (;;) {
    struct ArrowArray b;
    bool eof;
    mlr_code rc = db_query_next(q, &b, &eof, &e);
    CHECK_EQ_INT(rc, MALLARD_OK);
    if (rc || eof) break;
    batches++;
    if (next + b.length < 100000) CHECK(b.length >= 7000 && b.length < 7000 + 2048);
    const int64_t *iv = b.children[0]->buffers[1];
    const struct ArrowArray *ev = b.children[1], *sv = b.children[2];
    const int32_t *off = sv->buffers[1];
    CHECK(ev->buffers[0] == NULL && ev->null_count == 0);
    for (int64_t r = 0; r < b.length; r++, next++) {
      char want[64];
      snprintf(want, sizeof want, "value number %lld", (long long)next);
      bool null = next % 3 == 0;
      if (iv[r] != next || bit(ev->buffers[1], r) != (next % 2 == 0) || row_valid(sv, r) == null ||
          (!null && ((size_t)(off[r + 1] - off[r]) != strlen(want) ||
                     memcmp((const char *)sv->buffers[2] + off[r], want, strlen(want)) != 0)))
        bad++;
    }
    b.release(&b);
  }
  CHECK_EQ_INT(next, 100000);
  CHECK_EQ_INT(bad, 0);
  CHECK(batches >= 10);
  s.release(&s);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

/* Zero rows: no batch at all, as before. */
static void test_zero_rows(void) {
  db_database *db = open_mode(false);
  REQUIRE(db);
  db_conn *c = tu_connect(db);
  REQUIRE(c);
  db_query *q = NULL;
  mlr_error e = {0};
  REQUIRE_ONCE(db_query_start(c, "SELECT i, i::VARCHAR AS s FROM range(10) t(i) WHERE i > 100",
                              NULL, &q, &e) == MALLARD_OK);
  CHECK(db_query_is_direct(q));
  struct ArrowArray b;
  bool eof = false;
  CHECK_EQ_INT(db_query_next(q, &b, &eof, &e), MALLARD_OK);
  CHECK(eof);
  db_query_free(q);
  db_disconnect(c);
  db_close(db);
}

MTEST_MAIN(MTEST(test_types_default_mode), MTEST(test_types_lossless_mode), MTEST(test_table_scan),
           MTEST(test_connection_arrow_options), MTEST(test_inline_rule), MTEST(test_fallback),
           MTEST(test_query_end_to_end), MTEST(test_zero_rows))
