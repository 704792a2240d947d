/* Unit tests of the Flight client's pure parts: URI parsing, option defaults, base64, auth
 * scheme matching, gRPC status mapping and the public plain-type helpers. */
#include "flight/client_internal.h"
#include "mtest.h"

#include <stdlib.h>

static void test_uri_plain(void) {
  client_uri u;
  mlr_error err;
  CHECK_EQ_INT(client_uri_parse("grpc://localhost:8815", &u, &err), MALLARD_OK);
  CHECK(!u.tls);
  CHECK_EQ_STR(u.target, "localhost:8815");
  CHECK_EQ_STR(u.host, "localhost");
  CHECK_EQ_INT(u.port, 8815);
  client_uri_release(&u);

  CHECK_EQ_INT(client_uri_parse("grpc+tcp://127.0.0.1:1/", &u, &err), MALLARD_OK);
  CHECK_EQ_STR(u.target, "127.0.0.1:1");
  CHECK_EQ_INT(u.port, 1);
  client_uri_release(&u);

  CHECK_EQ_INT(client_uri_parse("GRPC://example.org:65535", &u, &err), MALLARD_OK);
  CHECK_EQ_STR(u.target, "example.org:65535");
  client_uri_release(&u);
}

static void test_uri_tls_v6_unix(void) {
  client_uri u;
  mlr_error err;
  CHECK_EQ_INT(client_uri_parse("grpc+tls://db.example.com:443", &u, &err), MALLARD_OK);
  CHECK(u.tls);
  CHECK_EQ_STR(u.target, "db.example.com:443");
  client_uri_release(&u);

  CHECK_EQ_INT(client_uri_parse("grpc://[::1]:8815", &u, &err), MALLARD_OK);
  CHECK_EQ_STR(u.host, "::1");
  CHECK_EQ_STR(u.target, "[::1]:8815");
  client_uri_release(&u);

  CHECK_EQ_INT(client_uri_parse("grpc+unix:///tmp/mallard.sock", &u, &err), MALLARD_OK);
  CHECK_EQ_STR(u.target, "unix:/tmp/mallard.sock");
  CHECK(!u.tls);
  client_uri_release(&u);
}

static void check_bad(const char *uri, const char *needle) {
  client_uri u;
  mlr_error err;
  memset(&err, 0, sizeof err);
  CHECK_EQ_INT(client_uri_parse(uri, &u, &err), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(err.code, MALLARD_INVALID_ARGUMENT);
  if (strstr(err.message, needle) == NULL) {
    fprintf(stderr, "message for '%s' lacks '%s': %s\n", uri, needle, err.message);
    CHECK(0);
  }
  CHECK(u.target == NULL && u.host == NULL);
}

static void test_uri_errors(void) {
  check_bad("", "empty URI");
  check_bad("http://localhost:8815", "unsupported URI 'http://localhost:8815'");
  check_bad("localhost:8815", "unsupported URI");
  check_bad("grpc://localhost", "no port");
  check_bad("grpc://localhost:", "no port");
  check_bad("grpc://:8815", "no host");
  check_bad("grpc://localhost:0", "port must be");
  check_bad("grpc://localhost:65536", "port must be");
  check_bad("grpc://localhost:99999999999999999999", "port must be");
  check_bad("grpc://localhost:12a", "port must be");
  check_bad("grpc://localhost:8815/db", "no path");
  check_bad("grpc://user:pw@localhost:8815", "credentials in the URI");
  check_bad("grpc://::1:8815", "brackets");
  check_bad("grpc://[::1:8815", "unclosed");
  check_bad("grpc://[::1]8815", "':port'");
  check_bad("grpc+unix://relative.sock", "absolute");
  mlr_error err;
  client_uri u;
  CHECK_EQ_INT(client_uri_parse(NULL, &u, &err), MALLARD_INVALID_ARGUMENT);
}

static void test_limits(void) {
  CHECK_EQ_INT(client_effective_max_receive(0), 128 * 1024 * 1024);
  CHECK_EQ_INT(client_effective_max_receive(-1), -1);
  CHECK_EQ_INT(client_effective_max_receive(-5), -1);
  CHECK_EQ_INT(client_effective_max_receive(1000), 1000);
  CHECK_EQ_INT(client_effective_max_receive((int64_t)1 << 40), INT32_MAX);
  CHECK_EQ_INT(client_effective_max_send(0), -1);
  CHECK_EQ_INT(client_effective_max_send(4096), 4096);

  mallard_client_options o;
  memset(&o, 0xab, sizeof o);
  mallard_client_options_init(&o);
  CHECK(o.tls_root_certs_file == NULL && o.tls_override_hostname == NULL);
  CHECK_EQ_INT(o.max_receive_message_size, 0);
  CHECK_EQ_INT(o.default_timeout_ms, 0);
  CHECK_EQ_INT(o.write_compression, MALLARD_COMPRESSION_NONE);
}

static void test_base64(void) {
  char out[64];
  client_base64_encode((const uint8_t *)"", 0, out);
  CHECK_EQ_STR(out, "");
  client_base64_encode((const uint8_t *)"f", 1, out);
  CHECK_EQ_STR(out, "Zg==");
  client_base64_encode((const uint8_t *)"fo", 2, out);
  CHECK_EQ_STR(out, "Zm8=");
  client_base64_encode((const uint8_t *)"foo", 3, out);
  CHECK_EQ_STR(out, "Zm9v");
  client_base64_encode((const uint8_t *)"admin:password123", 17, out);
  CHECK_EQ_STR(out, "YWRtaW46cGFzc3dvcmQxMjM=");
  CHECK_EQ_INT(client_base64_len(17), 24);
  const uint8_t bin[] = {0xff, 0xfe, 0x00};
  client_base64_encode(bin, 3, out);
  CHECK_EQ_STR(out, "//4A");
}

static void test_auth_scheme(void) {
  size_t n = 0;
  const char *v = client_auth_scheme_value("Bearer abc", 10, "Bearer ", &n);
  REQUIRE(v != NULL);
  CHECK_EQ_INT(n, 3);
  CHECK(memcmp(v, "abc", 3) == 0);
  v = client_auth_scheme_value("bearer   xyz", 12, "Bearer ", &n);
  REQUIRE(v != NULL);
  CHECK_EQ_INT(n, 3);
  CHECK(client_auth_scheme_value("Basic abc", 9, "Bearer ", &n) == NULL);
  CHECK(client_auth_scheme_value("Bear", 4, "Bearer ", &n) == NULL);
  CHECK(client_auth_scheme_value(NULL, 0, "Bearer ", &n) == NULL);
}

static void test_status_mapping(void) {
  mlr_error err;
  /* Every gRPC code maps to the same number, the message unchanged. */
  for (int code = 1; code <= 16; code++) {
    const char *msg = "Catalog Error: Table with name nope does not exist!";
    CHECK_EQ_INT(
        client_status_to_error((grpc_status_code)code, msg, strlen(msg), true, "grpc://h:1", &err),
        code);
    CHECK_EQ_INT(err.code, code);
    CHECK_EQ_STR(err.message, msg);
  }
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_OK, NULL, 0, true, "grpc://h:1", &err),
               MALLARD_OK);
  CHECK_EQ_INT(err.code, MALLARD_OK);
  /* No message: the code's name. */
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_NOT_FOUND, "", 0, true, "grpc://h:1", &err),
               MALLARD_NOT_FOUND);
  CHECK_EQ_STR(err.message, "NOT_FOUND");
  /* Never reached the server: UNAVAILABLE naming the address. */
  const char *m = "failed to connect to all addresses";
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_UNAVAILABLE, m, strlen(m), false,
                                      "grpc://127.0.0.1:1", &err),
               MALLARD_UNAVAILABLE);
  CHECK(strstr(err.message, "grpc://127.0.0.1:1") != NULL);
  CHECK(strstr(err.message, m) != NULL);
  /* ... but a server's own UNAVAILABLE before any message (shutting down) is no connection
   * failure: its words as they are. */
  const char *bye = "the server is shutting down and this call did not finish";
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_UNAVAILABLE, bye, strlen(bye), false,
                                      "grpc://127.0.0.1:1", &err),
               MALLARD_UNAVAILABLE);
  CHECK_EQ_STR(err.message, bye);
  const char *dns = "DNS resolution failed for nowhere.invalid:1";
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_UNAVAILABLE, dns, strlen(dns), false,
                                      "grpc://nowhere.invalid:1", &err),
               MALLARD_UNAVAILABLE);
  CHECK(strncmp(err.message, "cannot connect to grpc://nowhere.invalid:1: ", 44) == 0);
  /* A server that answers UNAVAILABLE itself keeps its message. */
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_UNAVAILABLE, "draining", 8, true,
                                      "grpc://127.0.0.1:1", &err),
               MALLARD_UNAVAILABLE);
  CHECK_EQ_STR(err.message, "draining");
  /* Codes outside gRPC's range become UNKNOWN; NULL err is allowed. */
  CHECK_EQ_INT(client_status_to_error((grpc_status_code)42, "x", 1, true, "u", &err),
               MALLARD_UNKNOWN);
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_INTERNAL, "x", 1, true, "u", NULL),
               MALLARD_INTERNAL);
  /* Message bytes are taken by length, not up to a NUL. */
  CHECK_EQ_INT(client_status_to_error(GRPC_STATUS_ABORTED, "abcdef", 3, true, "u", &err),
               MALLARD_ABORTED);
  CHECK_EQ_STR(err.message, "abc");
}

static void test_plain_types(void) {
  mallard_descriptor d = mallard_descriptor_command("SELECT 1", 0);
  CHECK_EQ_INT(d.type, MALLARD_DESCRIPTOR_CMD);
  CHECK_EQ_INT(d.cmd.len, 8);
  const char *path[] = {"main", "t"};
  d = mallard_descriptor_path(path, 2);
  CHECK_EQ_INT(d.type, MALLARD_DESCRIPTOR_PATH);
  CHECK_EQ_INT(d.n_path, 2);
  CHECK_EQ_STR(d.path[1], "t");

  mallard_metadata md;
  md.n_entries = 2;
  md.entries = calloc(2, sizeof *md.entries);
  REQUIRE(md.entries != NULL);
  md.entries[0].name = strdup("x-one");
  md.entries[0].value = strdup("1");
  md.entries[1].name = strdup("authorization");
  md.entries[1].value = strdup("Bearer t");
  CHECK_EQ_STR(mallard_metadata_get(&md, "Authorization"), "Bearer t");
  CHECK(mallard_metadata_get(&md, "missing") == NULL);
  mallard_metadata_release(&md);
  CHECK(md.entries == NULL && md.n_entries == 0);
  mallard_metadata_release(&md); /* twice is safe */

  /* Releases are safe on zeroed structs. */
  mallard_flight_info info;
  memset(&info, 0, sizeof info);
  mallard_flight_info_release(&info);
  mallard_poll_info p;
  memset(&p, 0, sizeof p);
  mallard_poll_info_release(&p);
  mallard_flight_list fl = {0};
  mallard_flight_list_release(&fl);
  mallard_result_list rl = {0};
  mallard_result_list_release(&rl);
  mallard_action_type_list al = {0};
  mallard_action_type_list_release(&al);
  mallard_bytes b = {0};
  mallard_bytes_release(&b);
  mallard_bytes_release(NULL);
}

MTEST_MAIN(MTEST(test_uri_plain), MTEST(test_uri_tls_v6_unix), MTEST(test_uri_errors),
           MTEST(test_limits), MTEST(test_base64), MTEST(test_auth_scheme),
           MTEST(test_status_mapping), MTEST(test_plain_types))
