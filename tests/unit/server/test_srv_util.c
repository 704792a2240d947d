/* Unit tests of the service's pure helpers: DoPut descriptors, the read-only SQL check, the
 * query hash, UTF-8 checks and the call log line. */
#include "server/srv.h"
#include "mtest.h"

#include <stdlib.h>

static mlr_code put_cmd(const char *json, srv_put_target *t, mlr_error *err) {
  return srv_parse_put_command((const uint8_t *)json, strlen(json), t, err);
}

static void test_put_command_modes(void) {
  srv_put_target t;
  mlr_error err;
  mlr_code rc;
  static const struct {
    const char *json;
    srv_put_mode mode;
  } ok[] = {{"{\"table\": \"t\", \"mode\": \"append\"}", SRV_PUT_APPEND},
            {"{\"table\": \"t\", \"mode\": \"create\"}", SRV_PUT_CREATE},
            {"{\"table\": \"t\", \"mode\": \"replace\"}", SRV_PUT_REPLACE},
            {"{\"table\": \"t\", \"mode\": \"create_or_append\"}", SRV_PUT_CREATE_OR_APPEND},
            {"{\"table\": \"t\"}", SRV_PUT_CREATE_OR_APPEND}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    rc = put_cmd(ok[i].json, &t, &err);
    CHECK_EQ_INT(rc, MALLARD_OK);
    if (rc != MALLARD_OK) continue;
    CHECK_EQ_INT(t.mode, ok[i].mode);
    CHECK_EQ_STR(t.table, "t");
    CHECK(t.schema == NULL);
    srv_put_target_release(&t);
  }
  rc = put_cmd("{\"table\": \"we\\\"ird t\", \"schema\": \"s\", \"mode\": \"append\"}", &t, &err);
  REQUIRE(rc == MALLARD_OK);
  CHECK_EQ_STR(t.table, "we\"ird t");
  CHECK_EQ_STR(t.schema, "s");
  srv_put_target_release(&t);
  CHECK(t.table == NULL && t.schema == NULL);
}

static void test_put_command_errors(void) {
  static const char *const bad[] = {"",
                                    "not json",
                                    "[\"t\"]",
                                    "\"t\"",
                                    "{}",
                                    "{\"table\": \"\"}",
                                    "{\"table\": 1}",
                                    "{\"table\": \"t\", \"mode\": \"upsert\"}",
                                    "{\"table\": \"t\", \"mode\": true}",
                                    "{\"table\": \"t\", \"extra\": 1}",
                                    "{\"table\": \"t\\u0000x\"}",
                                    "{\"table\": \"t\", \"schema\": \"\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    srv_put_target t;
    mlr_error err;
    mlr_error_reset(&err);
    mlr_code rc = put_cmd(bad[i], &t, &err);
    CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
    CHECK(err.message[0] != '\0');
    CHECK(t.table == NULL && t.schema == NULL);
    if (rc == MALLARD_OK) srv_put_target_release(&t);
  }
  srv_put_target t;
  mlr_error err;
  CHECK_EQ_INT(put_cmd("{\"table\": \"t\", \"mode\": \"upsert\"}", &t, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "upsert") != NULL);
}

static void test_path(void) {
  srv_put_target t;
  mlr_error err;
  char *one[] = {"flights"};
  char *two[] = {"main", "flights"};
  char *three[] = {"a", "b", "c"};
  char *empty[] = {""};
  mlr_code rc = srv_parse_path(one, 1, &t, &err);
  REQUIRE(rc == MALLARD_OK);
  CHECK_EQ_STR(t.table, "flights");
  CHECK(t.schema == NULL);
  CHECK_EQ_INT(t.mode, SRV_PUT_CREATE_OR_APPEND);
  srv_put_target_release(&t);
  rc = srv_parse_path(two, 2, &t, &err);
  REQUIRE(rc == MALLARD_OK);
  CHECK_EQ_STR(t.table, "flights");
  CHECK_EQ_STR(t.schema, "main");
  srv_put_target_release(&t);
  CHECK_EQ_INT(srv_parse_path(three, 3, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "[schema, table]") != NULL);
  CHECK_EQ_INT(srv_parse_path(empty, 1, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(srv_parse_path(NULL, 0, &t, &err), MALLARD_INVALID_ARGUMENT);
}

static void test_query_hash(void) {
  char a[17], b[17], c[17];
  srv_query_hash("SELECT 1", 8, a);
  srv_query_hash("SELECT 1", 8, b);
  srv_query_hash("SELECT 2", 8, c);
  CHECK_EQ_INT(strlen(a), 16);
  CHECK_EQ_STR(a, b);
  CHECK(strcmp(a, c) != 0);
  /* FNV-1a 64 of the empty string is the offset basis. */
  srv_query_hash("", 0, a);
  CHECK_EQ_STR(a, "cbf29ce484222325");
}

static void test_utf8(void) {
  CHECK(srv_valid_utf8("SELECT 'caf\xc3\xa9'", 14));
  CHECK(srv_valid_utf8("\xf0\x9f\xa6\x86", 4));
  CHECK(!srv_valid_utf8("a\0b", 3));
  CHECK(!srv_valid_utf8("\xff", 1));
  CHECK(!srv_valid_utf8("\xc3", 1));
  CHECK(!srv_valid_utf8("\xe0\x80\xaf", 3));     /* overlong */
  CHECK(!srv_valid_utf8("\xed\xa0\x80", 3));     /* surrogate */
  CHECK(!srv_valid_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
  CHECK(srv_valid_utf8("", 0));
}

static void test_log_line(void) {
  srv_call_record r = {.server = "127.0.0.1:0",
                       .peer = "ipv4:127.0.0.1:5555",
                       .user = "admin",
                       .rpc = "DoGet",
                       .query_hash = "0123456789abcdef",
                       .rows = 42,
                       .bytes = 1000,
                       .duration_ms = 1.5,
                       .status = MALLARD_OK};
  char *line = srv_format_call_record(&r, SRV_LOG_TEXT, 0.25);
  REQUIRE(line != NULL);
  CHECK_EQ_STR(line, "ts=1970-01-01T00:00:00.250Z server=127.0.0.1:0 peer=ipv4:127.0.0.1:5555 "
                     "user=admin rpc=DoGet query=0123456789abcdef rows=42 bytes=1000 ms=1.500 "
                     "status=OK\n");
  free(line);
  r.status = MALLARD_INVALID_ARGUMENT;
  r.message = "Parser Error: syntax error at \"x\"";
  r.table = "my table";
  r.query_hash = NULL;
  r.rows = -1;
  r.user = NULL;
  line = srv_format_call_record(&r, SRV_LOG_JSON, 0);
  REQUIRE(line != NULL);
  CHECK_EQ_STR(line, "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"server\":\"127.0.0.1:0\","
                     "\"peer\":\"ipv4:127.0.0.1:5555\",\"user\":\"-\",\"rpc\":\"DoGet\","
                     "\"table\":\"my table\",\"bytes\":1000,\"ms\":1.500,"
                     "\"status\":\"INVALID_ARGUMENT\",\"error\":\"Parser Error: syntax error at "
                     "\\\"x\\\"\"}\n");
  free(line);
  line = srv_format_call_record(&r, SRV_LOG_TEXT, 0);
  REQUIRE(line != NULL);
  CHECK(strstr(line, " table=\"my table\" ") != NULL);
  CHECK(strstr(line, " error=\"Parser Error: syntax error at \\\"x\\\"\"\n") != NULL);
  free(line);
}

MTEST_MAIN(MTEST(test_put_command_modes), MTEST(test_put_command_errors), MTEST(test_path),
           MTEST(test_query_hash), MTEST(test_utf8), MTEST(test_log_line))
