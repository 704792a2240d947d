/* libFuzzer target: the Flight control messages as protobuf bytes from a hostile peer. The
 * first input byte picks the decoder (what the server decodes from clients: FlightDescriptor,
 * Ticket/Criteria, Action, HandshakeRequest; what the client decodes from servers: FlightInfo,
 * PollInfo, FlightEndpoint), the rest is the message. What decodes is encoded again and must
 * decode to the same value (for the messages whose encoder takes the decoded struct). */
#include "flight/flight_types.h"
#include "flight/flight_types_pb.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
  fprintf(stderr, "round trip changed the %s\n", what);
  abort();
}

static bool same_bytes(const flight_bytes *a, const flight_bytes *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static bool same_descriptor(const flight_descriptor *a, const flight_descriptor *b) {
  if (a->type != b->type || !same_bytes(&a->cmd, &b->cmd) || a->n_path != b->n_path) return false;
  for (size_t i = 0; i < a->n_path; i++)
    if (strcmp(a->path[i], b->path[i]) != 0) return false;
  return true;
}

static void descriptor_case(const uint8_t *p, size_t n) {
  flight_descriptor d = {0}, d2 = {0};
  mlr_error err = {0};
  if (flight_descriptor_decode(p, n, &d, &err) != MALLARD_OK) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (flight_descriptor_encode(&d, &buf, &len, &err) == MALLARD_OK) {
    if (flight_descriptor_decode(buf, len, &d2, &err) != MALLARD_OK) fail("FlightDescriptor");
    if (!same_descriptor(&d, &d2)) fail("FlightDescriptor");
    flight_descriptor_release(&d2);
    free(buf);
  }
  flight_descriptor_release(&d);
}

static void bytes_case(const uint8_t *p, size_t n) {
  flight_bytes b = {0}, b2 = {0};
  mlr_error err = {0};
  if (flight_bytes_message_decode(p, n, "Ticket", &b, &err) != MALLARD_OK) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (flight_bytes_message_encode(b.data, b.len, &buf, &len, &err) == MALLARD_OK) {
    if (flight_bytes_message_decode(buf, len, "Ticket", &b2, &err) != MALLARD_OK) fail("Ticket");
    if (!same_bytes(&b, &b2)) fail("Ticket");
    flight_bytes_release(&b2);
    free(buf);
  }
  flight_bytes_release(&b);
}

static void action_case(const uint8_t *p, size_t n) {
  flight_action a = {0}, a2 = {0};
  mlr_error err = {0};
  if (flight_action_decode(p, n, &a, &err) != MALLARD_OK) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (flight_action_encode(&a, &buf, &len, &err) == MALLARD_OK) {
    if (flight_action_decode(buf, len, &a2, &err) != MALLARD_OK) fail("Action");
    if (strcmp(a.type != NULL ? a.type : "", a2.type != NULL ? a2.type : "") != 0 ||
        !same_bytes(&a.body, &a2.body))
      fail("Action");
    flight_action_release(&a2);
    free(buf);
  }
  flight_action_release(&a);
}

static void handshake_case(const uint8_t *p, size_t n) {
  uint64_t version = 0, version2 = 0;
  flight_bytes payload = {0}, payload2 = {0};
  mlr_error err = {0};
  if (flight_handshake_decode(p, n, &version, &payload, &err) != MALLARD_OK) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (flight_handshake_encode(version, payload.data, payload.len, &buf, &len, &err) == MALLARD_OK) {
    if (flight_handshake_decode(buf, len, &version2, &payload2, &err) != MALLARD_OK)
      fail("HandshakeRequest");
    if (version != version2 || !same_bytes(&payload, &payload2)) fail("HandshakeRequest");
    flight_bytes_release(&payload2);
    free(buf);
  }
  flight_bytes_release(&payload);
}

static void info_case(const uint8_t *p, size_t n) {
  flight_info info = {0}, info2 = {0};
  mlr_error err = {0};
  if (flight_info_decode(p, n, &info, &err) != MALLARD_OK) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (flight_info_encode(&info, &buf, &len, &err) == MALLARD_OK) {
    if (flight_info_decode(buf, len, &info2, &err) != MALLARD_OK) fail("FlightInfo");
    if (!same_descriptor(&info.descriptor, &info2.descriptor) ||
        info.n_endpoints != info2.n_endpoints || info.total_records != info2.total_records ||
        info.total_bytes != info2.total_bytes || info.ordered != info2.ordered ||
        !same_bytes(&info.app_metadata, &info2.app_metadata) ||
        (info.schema.release == NULL) != (info2.schema.release == NULL))
      fail("FlightInfo");
    for (size_t i = 0; i < info.n_endpoints; i++)
      if (!same_bytes(&info.endpoints[i].ticket, &info2.endpoints[i].ticket) ||
          info.endpoints[i].n_locations != info2.endpoints[i].n_locations)
        fail("FlightInfo endpoint");
    flight_info_release(&info2);
    free(buf);
  }
  flight_info_release(&info);
}

static void poll_case(const uint8_t *p, size_t n) {
  flight_poll_info pi = {0};
  mlr_error err = {0};
  if (flight_poll_info_decode(p, n, &pi, &err) != MALLARD_OK) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (flight_poll_info_encode(&pi, &buf, &len, &err) == MALLARD_OK) {
    flight_poll_info pi2 = {0};
    if (flight_poll_info_decode(buf, len, &pi2, &err) != MALLARD_OK) fail("PollInfo");
    if (pi.has_info != pi2.has_info || pi.has_descriptor != pi2.has_descriptor ||
        pi.has_progress != pi2.has_progress)
      fail("PollInfo");
    flight_poll_info_release(&pi2);
    free(buf);
  }
  flight_poll_info_release(&pi);
}

static void endpoint_case(const uint8_t *p, size_t n) {
  flight_endpoint e = {0};
  mlr_error err = {0};
  if (flight_endpoint_decode(p, n, &e, &err) != MALLARD_OK) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (flight_endpoint_encode(&e, &buf, &len, &err) == MALLARD_OK) {
    flight_endpoint e2 = {0};
    if (flight_endpoint_decode(buf, len, &e2, &err) != MALLARD_OK) fail("FlightEndpoint");
    if (!same_bytes(&e.ticket, &e2.ticket) || !same_bytes(&e.app_metadata, &e2.app_metadata) ||
        e.n_locations != e2.n_locations || e.expiration_time.set != e2.expiration_time.set)
      fail("FlightEndpoint");
    for (size_t i = 0; i < e.n_locations; i++)
      if (strcmp(e.locations[i], e2.locations[i]) != 0) fail("FlightEndpoint location");
    flight_endpoint_release(&e2);
    free(buf);
  }
  flight_endpoint_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  switch (data[0] % 7) {
  case 0:
    descriptor_case(p, n);
    break;
  case 1:
    bytes_case(p, n);
    break;
  case 2:
    action_case(p, n);
    break;
  case 3:
    handshake_case(p, n);
    break;
  case 4:
    info_case(p, n);
    break;
  case 5:
    poll_case(p, n);
    break;
  default:
    endpoint_case(p, n);
    break;
  }
  return 0;
}
