/* Unit tests for the strict JSON parser and the strbuf writer (src/common/mlr_json.c). */
#include "common/mlr_json.h"
#include "mtest.h"

#include <stdlib.h>

static mlr_code parse_str(const char *s, mlr_json_doc **doc, mlr_error *err) {
  return mlr_json_parse(s, strlen(s), doc, err);
}

static void test_object_members(void) {
  mlr_code rc;
  mlr_json_doc *doc = NULL;
  mlr_error err;
  const char *in = " {\"table\": \"flights\", \"mode\":\"append\", \"n\": -42, \"x\": 1.5e3,"
                   " \"ok\": true, \"no\": false, \"nil\": null, \"a\": [1, [2], {}]} ";
  rc = parse_str(in, &doc, &err);
  REQUIRE(rc == MALLARD_OK);
  const mlr_json *root = mlr_json_root(doc);
  REQUIRE(root != NULL);
  CHECK_EQ_INT(root->type, MLR_JSON_OBJECT);
  CHECK_EQ_INT(root->n_children, 8);
  CHECK_EQ_STR(mlr_json_get_string(root, "table"), "flights");
  CHECK_EQ_STR(mlr_json_get_string(root, "mode"), "append");
  CHECK(mlr_json_get_string(root, "n") == NULL);
  CHECK(mlr_json_get(root, "missing") == NULL);
  const mlr_json *n = mlr_json_get(root, "n");
  REQUIRE(n != NULL);
  CHECK(n->is_integer);
  CHECK_EQ_INT(n->integer, -42);
  CHECK(n->number == -42.0);
  const mlr_json *x = mlr_json_get(root, "x");
  REQUIRE(x != NULL);
  CHECK(!x->is_integer);
  CHECK(x->number == 1500.0);
  CHECK(mlr_json_get(root, "ok")->boolean);
  CHECK(!mlr_json_get(root, "no")->boolean);
  CHECK_EQ_INT(mlr_json_get(root, "nil")->type, MLR_JSON_NULL);
  const mlr_json *a = mlr_json_get(root, "a");
  REQUIRE(a != NULL && a->type == MLR_JSON_ARRAY);
  CHECK_EQ_INT(a->n_children, 3);
  CHECK_EQ_INT(a->child->integer, 1);
  CHECK_EQ_INT(a->child->next->type, MLR_JSON_ARRAY);
  CHECK_EQ_INT(a->child->next->child->integer, 2);
  CHECK_EQ_INT(a->child->next->next->type, MLR_JSON_OBJECT);
  CHECK_EQ_INT(a->child->next->next->n_children, 0);
  CHECK(mlr_json_get(a, "x") == NULL); /* not an object */
  mlr_json_free(doc);
}

static void test_scalars_at_top(void) {
  mlr_code rc;
  mlr_json_doc *doc = NULL;
  rc = parse_str("\"just a name\"", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK_EQ_STR(mlr_json_root(doc)->string, "just a name");
  mlr_json_free(doc);
  rc = parse_str("0", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK(mlr_json_root(doc)->is_integer);
  CHECK_EQ_INT(mlr_json_root(doc)->integer, 0);
  mlr_json_free(doc);
  rc = parse_str("-0.5", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK(mlr_json_root(doc)->number == -0.5);
  mlr_json_free(doc);
}

static void test_integer_limits(void) {
  mlr_code rc;
  mlr_json_doc *doc = NULL;
  rc = parse_str("9223372036854775807", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK(mlr_json_root(doc)->is_integer);
  CHECK(mlr_json_root(doc)->integer == INT64_MAX);
  mlr_json_free(doc);
  rc = parse_str("-9223372036854775808", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK(mlr_json_root(doc)->is_integer);
  CHECK(mlr_json_root(doc)->integer == INT64_MIN);
  mlr_json_free(doc);
  rc = parse_str("9223372036854775808", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK(!mlr_json_root(doc)->is_integer);
  CHECK(mlr_json_root(doc)->integral); /* written as an integer, too large for int64 */
  CHECK(mlr_json_root(doc)->number > 9.2e18);
  /* Written back, it still reads as an integer (not as 9.2233720368547758e+18). */
  mlr_strbuf b = {0};
  mlr_json_write(&b, mlr_json_root(doc));
  char *text = mlr_strbuf_take(&b, NULL);
  REQUIRE(text != NULL);
  CHECK(strchr(text, 'e') == NULL && strchr(text, '.') == NULL);
  free(text);
  mlr_json_free(doc);
  rc = parse_str("12.0", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK(!mlr_json_root(doc)->is_integer);
  CHECK(!mlr_json_root(doc)->integral);
  mlr_json_free(doc);
}

static void test_string_escapes(void) {
  mlr_code rc;
  mlr_json_doc *doc = NULL;
  const char *in = "\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u20ac\\ud83e\\udd86\\u0000z\"";
  rc = parse_str(in, &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  const mlr_json *s = mlr_json_root(doc);
  const char expect[] = "a\"b\\c/d\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\xa6\x86\0z";
  CHECK_EQ_INT(s->string_len, sizeof expect - 1);
  CHECK(memcmp(s->string, expect, sizeof expect) == 0);
  mlr_json_free(doc);
  /* Raw UTF-8 passes through. */
  rc = parse_str("\"caf\xc3\xa9 \xe2\x82\xac\"", &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK_EQ_STR(mlr_json_root(doc)->string, "caf\xc3\xa9 \xe2\x82\xac");
  mlr_json_free(doc);
}

static void check_bad(const char *in, size_t len) {
  mlr_json_doc *doc = (mlr_json_doc *)1;
  mlr_error err;
  mlr_error_reset(&err);
  mlr_code rc = mlr_json_parse(in, len, &doc, &err);
  CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
  CHECK(doc == NULL);
  CHECK(strncmp(err.message, "invalid JSON", 12) == 0);
  if (rc == MALLARD_OK) {
    fprintf(stderr, "  accepted bad input: %.*s\n", (int)len, in);
    mlr_json_free(doc);
  }
}

static void test_rejects(void) {
  const char *bad[] = {"",
                       "   ",
                       "{",
                       "}",
                       "[1,]",
                       "{\"a\":1,}",
                       "{\"a\" 1}",
                       "{a:1}",
                       "[1 2]",
                       "01",
                       "-",
                       "1.",
                       ".5",
                       "1e",
                       "+1",
                       "NaN",
                       "Infinity",
                       "1e400",
                       "tru",
                       "nul",
                       "truex",
                       "\"abc",
                       "\"a\\x\"",
                       "\"\\u12\"",
                       "\"\\ud800\"",
                       "\"\\udc00\"",
                       "\"\\ud800\\u0041\"",
                       "\"tab\there\"",
                       "\"\xff\"",
                       "\"\xc0\xaf\"",
                       "\"\xed\xa0\x80\"",
                       "\"\xe2\x82\"",
                       "{} {}",
                       "[1] x",
                       "'single'",
                       "[\"a\" , ]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) check_bad(bad[i], strlen(bad[i]));
  /* A NUL inside the buffer is not whitespace. */
  check_bad("{}\0", 3);
  /* Length is honoured: no read past len even without a terminator. */
  check_bad("[1, 2]", 5);
}

static void test_error_position(void) {
  mlr_json_doc *doc = NULL;
  mlr_error err;
  CHECK_EQ_INT(parse_str("{\"a\": tru}", &doc, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "byte 6") != NULL);
}

static void test_depth_limit(void) {
  char buf[200];
  mlr_json_doc *doc = NULL;
  /* 64 nested arrays are fine, 65 are not. */
  for (int depth = 63; depth <= 66; depth++) {
    int n = 0;
    for (int i = 0; i < depth; i++) buf[n++] = '[';
    for (int i = 0; i < depth; i++) buf[n++] = ']';
    mlr_error err;
    mlr_code rc = mlr_json_parse(buf, (size_t)n, &doc, &err);
    if (depth <= 64) {
      CHECK_EQ_INT(rc, MALLARD_OK);
      mlr_json_free(doc);
    } else {
      CHECK_EQ_INT(rc, MALLARD_INVALID_ARGUMENT);
      CHECK(strstr(err.message, "deeper") != NULL);
    }
  }
  /* A hostile, very deep input fails fast without recursion trouble. */
  size_t big = 1000000;
  char *deep = malloc(big);
  REQUIRE(deep != NULL);
  memset(deep, '[', big);
  CHECK_EQ_INT(mlr_json_parse(deep, big, &doc, NULL), MALLARD_INVALID_ARGUMENT);
  memset(deep, '{', big);
  CHECK_EQ_INT(mlr_json_parse(deep, big, &doc, NULL), MALLARD_INVALID_ARGUMENT);
  free(deep);
}

static void test_large_document(void) {
  mlr_code rc;
  /* Many members force several arena blocks. */
  mlr_strbuf b = {0};
  mlr_strbuf_append(&b, "[", 1);
  for (int i = 0; i < 20000; i++) {
    mlr_strbuf_appendf(&b, "%s{\"k%d\": \"value number %d\"}", i ? "," : "", i, i);
  }
  mlr_strbuf_append(&b, "]", 1);
  size_t len = 0;
  char *s = mlr_strbuf_take(&b, &len);
  REQUIRE(s != NULL);
  mlr_json_doc *doc = NULL;
  rc = mlr_json_parse(s, len, &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  const mlr_json *root = mlr_json_root(doc);
  CHECK_EQ_INT(root->n_children, 20000);
  const mlr_json *e = root->child;
  for (int i = 0; i < 19999; i++) e = e->next;
  CHECK_EQ_STR(mlr_json_get_string(e, "k19999"), "value number 19999");
  mlr_json_free(doc);
  free(s);
}

static void test_duplicate_keys_refused(void) {
  mlr_json_doc *doc = NULL;
  mlr_error err = {0};
  CHECK_EQ_INT(parse_str("{\"a\":1,\"a\":2}", &doc, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "duplicate key \"a\"") != NULL);
  CHECK_EQ_INT(parse_str("{\"x\":{\"b\":1,\"c\":2,\"b\":3}}", &doc, &err),
               MALLARD_INVALID_ARGUMENT);
  /* Keys differing only after a \u0000 are different; the same name in sibling objects is fine. */
  REQUIRE(parse_str("{\"a\\u0000x\":1,\"a\\u0000y\":2,\"o\":{\"a\":1},\"p\":{\"a\":1}}", &doc,
                    &err) == MALLARD_OK);
  mlr_json_free(doc);
  /* Many members: still checked (sorted, not pairwise). */
  mlr_strbuf b = {0};
  mlr_strbuf_append_str(&b, "{");
  for (int i = 0; i < 20000; i++) mlr_strbuf_appendf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
  mlr_strbuf_appendf(&b, ",\"k%d\":0}", 12345);
  size_t len = 0;
  char *text = mlr_strbuf_take(&b, &len);
  REQUIRE(text != NULL);
  CHECK_EQ_INT(mlr_json_parse(text, len, &doc, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "k12345") != NULL);
  free(text);
}

static void test_strbuf_writer(void) {
  mlr_code rc;
  mlr_strbuf b = {0};
  mlr_strbuf_append(&b, "{\"rows\": ", 9);
  mlr_strbuf_appendf(&b, "%lld", 12345LL);
  mlr_strbuf_append(&b, ", \"msg\": ", 9);
  const char raw[] = "say \"hi\"\\\n\t\x01\xc3\xa9\xff end";
  mlr_strbuf_append_json_string(&b, raw, sizeof raw - 1);
  mlr_strbuf_append(&b, "}", 1);
  size_t len = 0;
  char *s = mlr_strbuf_take(&b, &len);
  REQUIRE(s != NULL);
  CHECK_EQ_STR(
      s, "{\"rows\": 12345, \"msg\": \"say \\\"hi\\\"\\\\\\n\\t\\u0001\xc3\xa9\\ufffd end\"}");
  CHECK_EQ_INT(len, strlen(s));
  CHECK(b.data == NULL && b.len == 0);
  /* What the writer produces, the parser reads back. */
  mlr_json_doc *doc = NULL;
  rc = mlr_json_parse(s, len, &doc, NULL);
  REQUIRE(rc == MALLARD_OK);
  CHECK_EQ_INT(mlr_json_get(mlr_json_root(doc), "rows")->integer, 12345);
  CHECK_EQ_STR(mlr_json_get_string(mlr_json_root(doc), "msg"),
               "say \"hi\"\\\n\t\x01\xc3\xa9\xef\xbf\xbd end");
  mlr_json_free(doc);
  free(s);

  /* Long formatted output goes through the second vsnprintf path. */
  char big[1000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  mlr_strbuf_appendf(&b, "<%s>", big);
  CHECK_EQ_INT(b.len, 1001);
  CHECK(b.data[0] == '<' && b.data[1000] == '>' && b.data[1001] == '\0');
  mlr_strbuf_release(&b);

  /* An empty buffer yields an empty string, not NULL. */
  s = mlr_strbuf_take(&b, &len);
  REQUIRE(s != NULL);
  CHECK_EQ_STR(s, "");
  CHECK_EQ_INT(len, 0);
  free(s);
}

static void test_utf8_valid(void) {
  CHECK(mlr_utf8_valid("", 0));
  CHECK(mlr_utf8_valid("abc", 3));
  CHECK(mlr_utf8_valid("a\0b", 3));                                 /* NUL is valid UTF-8 */
  CHECK(mlr_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\xa6\x86", 9)); /* e-acute, euro, duck */
  CHECK(!mlr_utf8_valid("\xff", 1));
  CHECK(!mlr_utf8_valid("\xc3", 1));             /* cut short */
  CHECK(!mlr_utf8_valid("\xc0\xaf", 2));         /* overlong */
  CHECK(!mlr_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
  CHECK(!mlr_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
  CHECK(!mlr_utf8_valid("ok\xe2\x82", 4));       /* cut short at the end */
}

MTEST_MAIN(MTEST(test_object_members), MTEST(test_scalars_at_top), MTEST(test_integer_limits),
           MTEST(test_string_escapes), MTEST(test_rejects), MTEST(test_error_position),
           MTEST(test_depth_limit), MTEST(test_large_document), MTEST(test_duplicate_keys_refused),
           MTEST(test_strbuf_writer), MTEST(test_utf8_valid))
