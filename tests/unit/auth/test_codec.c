/* Unit tests for auth's byte-level pieces: base64, `authorization` header parsing (including
 * hostile values), old-style Handshake protobufs, tokens, durations and address checks. */
#include "auth/auth.h"
#include "mtest.h"

#include <stdlib.h>
#include <string.h>

static int decode(const char *in, char *out, size_t cap, size_t *n) {
  return auth_base64_decode(in, strlen(in), (uint8_t *)out, cap, n);
}

static void test_base64_variants(void) {
  char out[64];
  size_t n = 0;
  /* padded, unpadded, both padding lengths */
  CHECK_EQ_INT(decode("YWRtaW46cGFzc3dvcmQxMjM=", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 17);
  CHECK(memcmp(out, "admin:password123", 17) == 0);
  CHECK_EQ_INT(decode("YQ==", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 1);
  CHECK(out[0] == 'a');
  CHECK_EQ_INT(decode("YQ", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(decode("YWI=", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 2);
  CHECK(memcmp(out, "ab", 2) == 0);
  CHECK_EQ_INT(decode("YWI", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(decode("YWJj", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 3);
  CHECK(memcmp(out, "abc", 3) == 0);
  CHECK_EQ_INT(decode("", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 0);
  /* '+' and '/' of the standard alphabet */
  CHECK_EQ_INT(decode("+/+/", out, sizeof out, &n), MALLARD_OK);
  CHECK_EQ_INT(n, 3);
  CHECK((unsigned char)out[0] == 0xfb && (unsigned char)out[1] == 0xff &&
        (unsigned char)out[2] == 0xbf);
  /* bad: one char left over, bad padding, padding in the middle, URL alphabet, whitespace */
  CHECK(decode("Y", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("YWJjZ", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("YQ=", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("YQ===", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("YWJj=", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("Y=Jj", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("YW=j", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("-_-_", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("YW Jj", out, sizeof out, &n) != MALLARD_OK);
  CHECK(decode("YWJj\n", out, sizeof out, &n) != MALLARD_OK);
  /* buffer too small */
  CHECK(decode("YWJjZGVm", out, 5, &n) != MALLARD_OK);
  CHECK_EQ_INT(decode("YWJjZGVm", out, 6, &n), MALLARD_OK);
  /* NUL byte inside the input */
  CHECK(auth_base64_decode("YW\0j", 4, (uint8_t *)out, sizeof out, &n) != MALLARD_OK);
}

static void test_base64url_roundtrip(void) {
  uint8_t raw[32];
  for (int i = 0; i < 32; i++) raw[i] = (uint8_t)(i * 37 + 250);
  char enc[64];
  auth_base64url_encode(raw, sizeof raw, enc);
  CHECK_EQ_INT(strlen(enc), 43);
  CHECK(strchr(enc, '+') == NULL && strchr(enc, '/') == NULL && strchr(enc, '=') == NULL);
  auth_base64url_encode((const uint8_t *)"a", 1, enc);
  CHECK_EQ_STR(enc, "YQ");
}

static int parse(const char *v, auth_credential *c) {
  mlr_error err;
  mlr_error_reset(&err);
  int rc = auth_parse_authorization(v, strlen(v), c, &err);
  if (rc != MALLARD_OK) {
    /* every failure is UNAUTHENTICATED with the one fixed message */
    CHECK_EQ_INT(rc, MALLARD_UNAUTHENTICATED);
    CHECK_EQ_STR(err.message, AUTH_UNAUTHENTICATED_MESSAGE);
  }
  return rc;
}

static void test_parse_basic(void) {
  auth_credential c;
  CHECK_EQ_INT(parse("Basic YWRtaW46cGFzc3dvcmQxMjM=", &c), MALLARD_OK);
  CHECK_EQ_INT(c.kind, AUTH_CRED_BASIC);
  CHECK_EQ_STR(c.user, "admin");
  CHECK_EQ_STR(c.password, "password123");
  /* case-insensitive prefix, unpadded base64, extra blanks */
  CHECK_EQ_INT(parse("basic YWRtaW46cGFzc3dvcmQxMjM", &c), MALLARD_OK);
  CHECK_EQ_STR(c.user, "admin");
  CHECK_EQ_INT(parse("BASIC   YWRtaW46cGFzc3dvcmQxMjM=  ", &c), MALLARD_OK);
  CHECK_EQ_INT(parse("bAsIc YWRtaW46cGFzc3dvcmQxMjM=", &c), MALLARD_OK);
  /* password with colons keeps them: "u:a:b" */
  CHECK_EQ_INT(parse("Basic dTphOmI=", &c), MALLARD_OK);
  CHECK_EQ_STR(c.user, "u");
  CHECK_EQ_STR(c.password, "a:b");
  /* empty password parses (and then fails verification) */
  CHECK_EQ_INT(parse("Basic dTo=", &c), MALLARD_OK);
  CHECK_EQ_STR(c.password, "");
  auth_credential_clear(&c);
  CHECK(c.password[0] == '\0' && c.kind == AUTH_CRED_NONE);
}

static void test_parse_bearer(void) {
  auth_credential c;
  CHECK_EQ_INT(parse("Bearer abc-_DEF123", &c), MALLARD_OK);
  CHECK_EQ_INT(c.kind, AUTH_CRED_BEARER);
  CHECK_EQ_STR(c.token, "abc-_DEF123");
  CHECK_EQ_INT(parse("bearer xyz", &c), MALLARD_OK);
  CHECK_EQ_INT(parse("BEARER xyz", &c), MALLARD_OK);
  CHECK_EQ_STR(c.token, "xyz");
}

static void test_parse_hostile(void) {
  auth_credential c;
  mlr_error err;
  CHECK(parse("", &c) != MALLARD_OK);
  CHECK(parse("Basic", &c) != MALLARD_OK);
  CHECK(parse("Basic ", &c) != MALLARD_OK);
  CHECK(parse("Bearer", &c) != MALLARD_OK);
  CHECK(parse("Bearer ", &c) != MALLARD_OK);
  CHECK(parse("Bearer a b", &c) != MALLARD_OK);
  CHECK(parse("Token abc", &c) != MALLARD_OK);
  CHECK(parse("Basicabc", &c) != MALLARD_OK);
  CHECK(parse("YWRtaW46cGFzc3dvcmQxMjM=", &c) != MALLARD_OK);
  /* not base64 */
  CHECK(parse("Basic !!!!", &c) != MALLARD_OK);
  CHECK(parse("Basic YWRtaW46cGFzc3dvcmQxMjM=x", &c) != MALLARD_OK);
  /* missing colon: "adminpassword" */
  CHECK(parse("Basic YWRtaW5wYXNzd29yZA==", &c) != MALLARD_OK);
  /* empty user: ":pw" */
  CHECK(parse("Basic OnB3", &c) != MALLARD_OK);
  /* NUL in the decoded user ("a\0b:pw") and in the password ("ab:p\0w") */
  CHECK(parse("Basic YQBiOnB3", &c) != MALLARD_OK);
  CHECK(parse("Basic YWI6cAB3", &c) != MALLARD_OK);
  /* user with a space or control character */
  CHECK(parse("Basic YSBiOnB3", &c) != MALLARD_OK);
  /* NUL in the raw header value */
  CHECK(auth_parse_authorization("Bearer ab\0cd", 12, &c, &err) == MALLARD_UNAUTHENTICATED);
  CHECK(auth_parse_authorization("Basic YWRt\0aW46cA==", 19, &c, &err) == MALLARD_UNAUTHENTICATED);
  /* non-ASCII token bytes */
  CHECK(parse("Bearer \xc3\xa9t\xc3\xa9", &c) != MALLARD_OK);
  /* huge values: a 1 MiB header, a user name longer than the limit, a giant token */
  size_t big = 1 << 20;
  char *v = malloc(big + 16);
  REQUIRE(v != NULL);
  memcpy(v, "Basic ", 6);
  memset(v + 6, 'Q', big);
  v[6 + big] = '\0';
  CHECK(parse(v, &c) != MALLARD_OK);
  memcpy(v, "Bearer ", 7);
  memset(v + 7, 'a', 300);
  v[307] = '\0';
  CHECK(parse(v, &c) != MALLARD_OK);
  /* 200 x 'a' then ":p", base64-encoded is valid base64 but the user is too long */
  char raw[210];
  memset(raw, 'a', 200);
  memcpy(raw + 200, ":p", 2);
  char enc[400];
  auth_base64url_encode((const uint8_t *)raw, 202, enc); /* URL alphabet == std here ('a's) */
  snprintf(v, big, "Basic %s", enc);
  CHECK(parse(v, &c) != MALLARD_OK);
  free(v);
  /* NULL / zero length */
  CHECK(auth_parse_authorization(NULL, 0, &c, &err) == MALLARD_UNAUTHENTICATED);
}

/* Builds a protobuf: BasicAuth {username = 2, password = 3}. */
static size_t basic_auth_pb(uint8_t *out, const char *user, const char *pw) {
  size_t n = 0, ul = strlen(user), pl = strlen(pw);
  out[n++] = 0x12;
  out[n++] = (uint8_t)ul;
  memcpy(out + n, user, ul);
  n += ul;
  out[n++] = 0x1a;
  out[n++] = (uint8_t)pl;
  memcpy(out + n, pw, pl);
  n += pl;
  return n;
}

static void test_handshake_protos(void) {
  uint8_t ba[64], req[96];
  size_t ba_len = basic_auth_pb(ba, "alice", "s3cret");
  size_t n = 0;
  req[n++] = 0x08; /* protocol_version = 1 */
  req[n++] = 0x01;
  req[n++] = 0x12;
  req[n++] = (uint8_t)ba_len;
  memcpy(req + n, ba, ba_len);
  n += ba_len;
  req[n++] = 0x28; /* unknown varint field 5: skipped */
  req[n++] = 0x7f;
  uint64_t version = 0;
  const uint8_t *payload = NULL;
  size_t plen = 0;
  CHECK_EQ_INT(auth_parse_handshake_request(req, n, &version, &payload, &plen), MALLARD_OK);
  CHECK_EQ_INT(version, 1);
  CHECK_EQ_INT(plen, ba_len);
  auth_credential c;
  mlr_error err;
  CHECK_EQ_INT(auth_parse_basic_auth_proto(payload, plen, &c, &err), MALLARD_OK);
  CHECK_EQ_STR(c.user, "alice");
  CHECK_EQ_STR(c.password, "s3cret");
  /* truncated length, bad wire type, empty, no username, empty username */
  CHECK(auth_parse_handshake_request(req, 5, &version, &payload, &plen) != MALLARD_OK);
  uint8_t badwire[] = {0x0f, 0x00};
  CHECK(auth_parse_handshake_request(badwire, 2, &version, &payload, &plen) != MALLARD_OK);
  uint8_t overlong[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f};
  CHECK(auth_parse_handshake_request(overlong, sizeof overlong, &version, &payload, &plen) !=
        MALLARD_OK);
  CHECK(auth_parse_basic_auth_proto(NULL, 0, &c, &err) == MALLARD_UNAUTHENTICATED);
  uint8_t pw_only[] = {0x1a, 0x02, 'p', 'w'};
  CHECK(auth_parse_basic_auth_proto(pw_only, sizeof pw_only, &c, &err) == MALLARD_UNAUTHENTICATED);
  size_t l = basic_auth_pb(ba, "", "pw");
  CHECK(auth_parse_basic_auth_proto(ba, l, &c, &err) == MALLARD_UNAUTHENTICATED);
  uint8_t garbage[] = {'h', 'e', 'l', 'l', 'o'};
  CHECK(auth_parse_basic_auth_proto(garbage, sizeof garbage, &c, &err) == MALLARD_UNAUTHENTICATED);
}

static void test_tokens(void) {
  char a[AUTH_TOKEN_CHARS + 1], b[AUTH_TOKEN_CHARS + 1];
  auth_new_token(a);
  auth_new_token(b);
  CHECK_EQ_INT(strlen(a), AUTH_TOKEN_CHARS);
  CHECK(strcmp(a, b) != 0);
  char ha[AUTH_TOKEN_HASH_HEX + 1], ha2[AUTH_TOKEN_HASH_HEX + 1], hb[AUTH_TOKEN_HASH_HEX + 1];
  auth_token_hash_hex(a, strlen(a), ha);
  auth_token_hash_hex(a, strlen(a), ha2);
  auth_token_hash_hex(b, strlen(b), hb);
  CHECK_EQ_INT(strlen(ha), 64);
  CHECK_EQ_STR(ha, ha2);
  CHECK(strcmp(ha, hb) != 0);
  /* BLAKE2b-256 of "abc" (RFC 7693 test vector family, computed with libsodium) */
  auth_token_hash_hex("abc", 3, ha);
  CHECK_EQ_STR(ha, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

static void test_utc_times(void) {
  char out[AUTH_UTC_CHARS + 1];
  int64_t t = -1;
  CHECK(auth_parse_utc("1970-01-01T00:00:00Z", 20, &t));
  CHECK_EQ_INT(t, 0);
  /* `date -u -d 2027-02-25T08:00:00Z +%s` */
  CHECK(auth_parse_utc("2027-02-25T08:00:00Z", 20, &t));
  CHECK_EQ_INT(t, 1803542400);
  CHECK(auth_parse_utc("2024-02-29T23:59:59Z", 20, &t)); /* leap day */
  CHECK_EQ_INT(t, 1709251199);
  CHECK(auth_parse_utc("2000-03-01T00:00:00Z", 20, &t)); /* after a 400-year leap day */
  CHECK_EQ_INT(t, 951868800);
  /* every second of a span of days formats and parses back to itself */
  for (int64_t v = 1709164800 - 3 * 86400; v < 1709164800 + 3 * 86400; v += 3599) {
    auth_format_utc(v, out);
    CHECK_EQ_INT(strlen(out), AUTH_UTC_CHARS);
    CHECK(auth_parse_utc(out, strlen(out), &t));
    CHECK_EQ_INT(t, v);
  }
  auth_format_utc(1803542400, out);
  CHECK_EQ_STR(out, "2027-02-25T08:00:00Z");
  const char *bad[] = {"2023-02-29T00:00:00Z", "2027-13-01T00:00:00Z",
                       "2027-04-31T00:00:00Z", "2027-02-25T24:00:00Z",
                       "2027-02-25T08:60:00Z", "2027-02-25T08:00:60Z",
                       "1969-12-31T23:59:59Z", "2027-02-25 08:00:00Z",
                       "2027-02-25T08:00:00",  "2027-02-25T08:00:00+01:00",
                       "2027-2-25T08:00:00Z",  "2027-02-25",
                       "+027-02-25T08:00:00Z", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = 42;
    CHECK(!auth_parse_utc(bad[i], strlen(bad[i]), &t));
    CHECK_EQ_INT(t, 42);
  }
}

static void test_duration(void) {
  int64_t ms = 0;
  mlr_error err;
  CHECK_EQ_INT(auth_parse_duration_ms("--session-idle", "90", &ms, &err), MALLARD_OK);
  CHECK_EQ_INT(ms, 90000);
  CHECK_EQ_INT(auth_parse_duration_ms("--x", "500ms", &ms, &err), MALLARD_OK);
  CHECK_EQ_INT(ms, 500);
  CHECK_EQ_INT(auth_parse_duration_ms("--x", "1.5s", &ms, &err), MALLARD_OK);
  CHECK_EQ_INT(ms, 1500);
  CHECK_EQ_INT(auth_parse_duration_ms("--x", "15m", &ms, &err), MALLARD_OK);
  CHECK_EQ_INT(ms, 900000);
  CHECK_EQ_INT(auth_parse_duration_ms("--x", "1h", &ms, &err), MALLARD_OK);
  CHECK_EQ_INT(ms, 3600000);
  CHECK_EQ_INT(auth_parse_duration_ms("--x", "2d", &ms, &err), MALLARD_OK);
  CHECK_EQ_INT(ms, 172800000);
  CHECK(auth_parse_duration_ms("--session-idle", "0", &ms, &err) == MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "--session-idle") != NULL);
  CHECK(auth_parse_duration_ms("--x", "-5", &ms, &err) != MALLARD_OK);
  CHECK(auth_parse_duration_ms("--x", "abc", &ms, &err) != MALLARD_OK);
  CHECK(auth_parse_duration_ms("--x", "5 s", &ms, &err) != MALLARD_OK);
  CHECK(auth_parse_duration_ms("--x", "5y", &ms, &err) != MALLARD_OK);
  CHECK(auth_parse_duration_ms("--x", "", &ms, &err) != MALLARD_OK);
  CHECK(auth_parse_duration_ms("--x", "inf", &ms, &err) != MALLARD_OK);
  CHECK(auth_parse_duration_ms("--x", "nan", &ms, &err) != MALLARD_OK);
  CHECK(auth_parse_duration_ms("--x", "1e30", &ms, &err) != MALLARD_OK);
}

static void test_loopback(void) {
  CHECK(auth_listen_is_loopback("127.0.0.1:0"));
  CHECK(auth_listen_is_loopback("localhost:8815"));
  CHECK(auth_listen_is_loopback("[::1]:8815"));
  CHECK(auth_listen_is_loopback("127.1.2.3:1"));
  CHECK(auth_listen_is_loopback("unix:/tmp/x.sock"));
  CHECK(!auth_listen_is_loopback("0.0.0.0:8815"));
  CHECK(!auth_listen_is_loopback(":8815"));
  CHECK(!auth_listen_is_loopback("[::]:8815"));
  CHECK(!auth_listen_is_loopback("10.0.0.1:8815"));
  CHECK(!auth_listen_is_loopback("127.evil.com:8815"));
  CHECK(!auth_listen_is_loopback("example.com:8815"));
  CHECK(!auth_listen_is_loopback(NULL));
}

static void test_roles_and_actions(void) {
  CHECK_EQ_STR(auth_role_name(AUTH_ROLE_ADMIN), "admin");
  CHECK_EQ_STR(auth_role_name(AUTH_ROLE_READER), "reader");
  CHECK(auth_action_is_read_only("ping"));
  CHECK(auth_action_is_read_only("list_tables"));
  CHECK(auth_action_is_read_only("list_exchangers"));
  CHECK(auth_action_is_read_only("logout"));
  CHECK(!auth_action_is_read_only("execute"));
  CHECK(!auth_action_is_read_only("drop_table"));
  CHECK(!auth_action_is_read_only("register_exchanger"));
  CHECK(!auth_action_is_read_only("unregister_exchanger"));
  CHECK(!auth_action_is_read_only("some_future_action"));
  CHECK(!auth_action_is_read_only(NULL));
  CHECK(auth_valid_user_name("alice", 5));
  CHECK(!auth_valid_user_name("a:b", 3));
  CHECK(!auth_valid_user_name("", 0));
  CHECK(!auth_valid_user_name("a b", 3));
}

MTEST_MAIN(MTEST(test_base64_variants), MTEST(test_base64url_roundtrip), MTEST(test_parse_basic),
           MTEST(test_parse_bearer), MTEST(test_parse_hostile), MTEST(test_handshake_protos),
           MTEST(test_tokens), MTEST(test_utc_times), MTEST(test_duration), MTEST(test_loopback),
           MTEST(test_roles_and_actions))
