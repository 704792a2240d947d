/* Unit tests of the Flight server's lifecycle: start on port 0, options, errors, shutdown. */
#include "flight/flight_server.h"
#include "flight/flight_types_pb.h"
#include "mtest.h"

#include <stdlib.h>

static void test_method_names(void) {
  CHECK_EQ_STR(flight_method_name(FLIGHT_DO_GET), "DoGet");
  CHECK_EQ_STR(flight_method_name(FLIGHT_HANDSHAKE), "Handshake");
  CHECK_EQ_STR(flight_method_name(FLIGHT_LIST_ACTIONS), "ListActions");
  CHECK_EQ_STR(flight_method_name(FLIGHT_METHOD_COUNT), "Unknown");
}

static void test_start_and_shutdown(void) {
  flight_service svc = {0};
  const char *listen[] = {"127.0.0.1:0", "127.0.0.1:0"};
  flight_server_options opts = {.listen = listen, .n_listen = 2, .cq_threads = 1};
  flight_server *srv = NULL;
  mlr_error err;
  REQUIRE(flight_server_start(&opts, &svc, &srv, &err) == MALLARD_OK);
  CHECK(flight_server_port(srv, 0) > 0);
  CHECK(flight_server_port(srv, 1) > 0);
  CHECK(flight_server_port(srv, 0) != flight_server_port(srv, 1));
  CHECK_EQ_INT(flight_server_port(srv, 2), -1);
  flight_server_shutdown(srv, 1.0);
  flight_server_shutdown(srv, 1.0); /* idempotent */
  flight_server_free(srv);
}

static void test_bad_options(void) {
  flight_service svc = {0};
  flight_server *srv = NULL;
  mlr_error err;
  flight_server_options none = {0};
  CHECK_EQ_INT(flight_server_start(&none, &svc, &srv, &err), MALLARD_INVALID_ARGUMENT);
  const char *bad[] = {"not an address at all:xyz"};
  flight_server_options o = {.listen = bad, .n_listen = 1};
  CHECK_EQ_INT(flight_server_start(&o, &svc, &srv, &err), MALLARD_UNAVAILABLE);
  CHECK(strstr(err.message, "cannot listen") != NULL);
  CHECK(srv == NULL);
  const char *ok[] = {"127.0.0.1:0"};
  flight_server_options tls = {.listen = ok, .n_listen = 1, .tls_cert_pem = "x"};
  CHECK_EQ_INT(flight_server_start(&tls, &svc, &srv, &err), MALLARD_INVALID_ARGUMENT);
}

static void test_pb_roundtrip(void) {
  char *path[] = {"a", "b"};
  flight_descriptor d = {.type = FLIGHT_DESCRIPTOR_PATH, .path = path, .n_path = 2};
  uint8_t *buf;
  size_t len;
  REQUIRE(flight_descriptor_encode(&d, &buf, &len, NULL) == MALLARD_OK);
  flight_descriptor back;
  CHECK_EQ_INT(flight_descriptor_decode(buf, len, &back, NULL), MALLARD_OK);
  CHECK_EQ_INT(back.n_path, 2);
  CHECK_EQ_STR(back.path[1], "b");
  flight_descriptor_release(&back);
  free(buf);
  mlr_error err;
  const uint8_t junk[] = {0x1a, 0x09, 'x'};
  CHECK_EQ_INT(flight_descriptor_decode(junk, sizeof junk, &back, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "FlightDescriptor") != NULL);

  flight_endpoint e = {.ticket = {(uint8_t *)"t", 1}};
  char *locs[] = {"grpc://h:1"};
  e.locations = locs;
  e.n_locations = 1;
  e.expiration_time = (flight_timestamp){true, 100, 5};
  REQUIRE(flight_endpoint_encode(&e, &buf, &len, NULL) == MALLARD_OK);
  flight_endpoint eb;
  CHECK_EQ_INT(flight_endpoint_decode(buf, len, &eb, NULL), MALLARD_OK);
  CHECK_EQ_STR(eb.locations[0], "grpc://h:1");
  CHECK(eb.expiration_time.set && eb.expiration_time.seconds == 100 &&
        eb.expiration_time.nanos == 5);
  flight_endpoint_release(&eb);
  free(buf);
}

MTEST_MAIN(MTEST(test_method_names), MTEST(test_start_and_shutdown), MTEST(test_bad_options),
           MTEST(test_pb_roundtrip))
