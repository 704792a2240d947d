/* Unit tests of the Flight client's connection options over real gRPC: bad URIs and TLS options
 * are refused up front, an unreachable server gives UNAVAILABLE naming the address, a deadline
 * gives DEADLINE_EXCEEDED, and handles are NULLed by close. */
#include "mallard/client.h"
#include "mtest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* A local port with nothing listening: bind port 0, read it, close it. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static void test_bad_uri(void) {
  mallard_client *c = (mallard_client *)0x1;
  mallard_error err;
  CHECK_EQ_INT(mallard_client_connect("http://x:1", NULL, &c, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(c == NULL);
  CHECK(strstr(err.message, "http://x:1") != NULL);
}

static void test_tls_options(void) {
  mallard_client *c = NULL;
  mallard_error err;
  mallard_client_options o;
  mallard_client_options_init(&o);
  o.tls_root_certs_file = "/nonexistent/ca.pem";
  CHECK_EQ_INT(mallard_client_connect("grpc://localhost:1", &o, &c, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "not a grpc+tls://") != NULL);
  CHECK_EQ_INT(mallard_client_connect("grpc+tls://localhost:1", &o, &c, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "/nonexistent/ca.pem") != NULL);
  CHECK(c == NULL);
  mallard_client_options_init(&o);
  o.tls_cert_chain_file = "/nonexistent/cert.pem";
  CHECK_EQ_INT(mallard_client_connect("grpc+tls://localhost:1", &o, &c, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "private key") != NULL);
  /* Plain TLS with system roots: the channel is lazy, so connect succeeds. */
  mallard_client_options_init(&o);
  o.tls_override_hostname = "localhost";
  CHECK_EQ_INT(mallard_client_connect("grpc+tls://localhost:1", &o, &c, &err), MALLARD_OK);
  CHECK(c != NULL);
  CHECK_EQ_STR(mallard_client_uri(c), "grpc+tls://localhost:1");
  mallard_client_close(&c);
  CHECK(c == NULL);
  mallard_client_close(&c); /* NULL is fine */
  mallard_client_close(NULL);
}

static void test_unreachable(void) {
  int port = free_port();
  REQUIRE(port > 0);
  char uri[64];
  snprintf(uri, sizeof uri, "grpc://127.0.0.1:%d", port);
  mallard_client *c = NULL;
  mallard_error err;
  mallard_code crc = mallard_client_connect(uri, NULL, &c, &err);
  REQUIRE(crc == MALLARD_OK);
  mallard_call_options o;
  memset(&o, 0, sizeof o);
  o.timeout_ms = 5000;
  mallard_result_list results;
  CHECK_EQ_INT(mallard_client_do_action(c, &o, "ping", NULL, 0, &results, &err),
               MALLARD_UNAVAILABLE);
  CHECK(strstr(err.message, uri) != NULL);
  CHECK(results.results == NULL && results.n_results == 0);
  /* Streams report it too, from the first read. */
  mallard_reader *r = NULL;
  mallard_code rc = mallard_client_do_get(c, &o, "SELECT 1", 8, &r, &err);
  if (rc == MALLARD_OK) {
    struct ArrowSchema schema;
    CHECK_EQ_INT(mallard_reader_schema(r, &schema, &err), MALLARD_UNAVAILABLE);
    CHECK(strstr(err.message, uri) != NULL);
    CHECK_EQ_INT(mallard_reader_close(&r, &err), MALLARD_UNAVAILABLE);
    CHECK(r == NULL);
  } else {
    CHECK_EQ_INT(rc, MALLARD_UNAVAILABLE);
  }
  mallard_client_close(&c);
}

/* A listening socket that never speaks HTTP/2: the call cannot finish before its deadline. */
static void test_deadline(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0 &&
           getsockname(fd, (struct sockaddr *)&a, &len) == 0;
  REQUIRE(ok);
  char uri[64];
  snprintf(uri, sizeof uri, "grpc://127.0.0.1:%d", ntohs(a.sin_port));
  mallard_client *c = NULL;
  mallard_error err;
  mallard_client_options co;
  mallard_client_options_init(&co);
  co.default_timeout_ms = 300;
  mallard_code crc = mallard_client_connect(uri, &co, &c, &err);
  REQUIRE(crc == MALLARD_OK);
  mallard_action_type_list types;
  CHECK_EQ_INT(mallard_client_list_actions(c, NULL, &types, &err), MALLARD_DEADLINE_EXCEEDED);
  mallard_client_close(&c);
  close(fd);
}

static void test_bad_headers(void) {
  mallard_client *c = NULL;
  mallard_error err;
  mallard_code crc = mallard_client_connect("grpc://127.0.0.1:9", NULL, &c, &err);
  REQUIRE(crc == MALLARD_OK);
  mallard_header h = {"X-Upper", "v", 0};
  mallard_call_options o;
  memset(&o, 0, sizeof o);
  o.headers = &h;
  o.n_headers = 1;
  mallard_result_list results;
  CHECK_EQ_INT(mallard_client_do_action(c, &o, "ping", NULL, 0, &results, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "lowercase") != NULL);
  mallard_header bad_name = {"bad key", "v", 0};
  o.headers = &bad_name;
  CHECK_EQ_INT(mallard_client_do_action(c, &o, "ping", NULL, 0, &results, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "'bad key'") != NULL);
  mallard_header bad_value = {"x-a", "line\nbreak", 0};
  o.headers = &bad_value;
  CHECK_EQ_INT(mallard_client_do_action(c, &o, "ping", NULL, 0, &results, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "'x-a'") != NULL && strstr(err.message, "-bin") != NULL);
  mallard_header no_value = {"x-a", NULL, 0};
  o.headers = &no_value;
  CHECK_EQ_INT(mallard_client_do_action(c, &o, "ping", NULL, 0, &results, &err),
               MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(mallard_client_do_action(c, NULL, NULL, NULL, 0, &results, &err),
               MALLARD_INVALID_ARGUMENT);
  mallard_descriptor bad = mallard_descriptor_path(NULL, 0);
  const char *p[] = {"a", NULL};
  bad = mallard_descriptor_path(p, 2);
  mallard_flight_info info;
  CHECK_EQ_INT(mallard_client_get_flight_info(c, NULL, &bad, &info, &err),
               MALLARD_INVALID_ARGUMENT);
  mallard_client_close(&c);
}

MTEST_MAIN(MTEST(test_bad_uri), MTEST(test_tls_options), MTEST(test_unreachable),
           MTEST(test_deadline), MTEST(test_bad_headers))
