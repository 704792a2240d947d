/* Unit tests of the hand-written FlightData codec and of the Flight value helpers. */
#include "flight/flight_types.h"
#include "flight/flight_types_pb.h"
#include "mtest.h"

#include <stdlib.h>
#include <string.h>

/* Encodes prefix + body into one contiguous arrowc_buf, as it arrives off the wire. */
static arrowc_buf *wire(const flight_descriptor *desc, const char *hdr, const char *meta,
                        const char *body) {
  uint8_t *prefix = NULL;
  size_t prefix_len = 0;
  size_t blen = body ? strlen(body) : 0;
  mlr_error err;
  if (flight_data_encode_prefix(desc, (const uint8_t *)hdr, hdr ? strlen(hdr) : 0,
                                (const uint8_t *)meta, meta ? strlen(meta) : 0, (int64_t)blen,
                                &prefix, &prefix_len, &err) != MALLARD_OK)
    return NULL;
  arrowc_buf *b = arrowc_buf_alloc((int64_t)(prefix_len + blen));
  memcpy(arrowc_buf_mutable_data(b), prefix, prefix_len);
  if (blen) memcpy(arrowc_buf_mutable_data(b) + prefix_len, body, blen);
  free(prefix);
  return b;
}

static void test_roundtrip(void) {
  char *path[] = {"a", "bb"};
  flight_descriptor d = {.type = FLIGHT_DESCRIPTOR_PATH, .path = path, .n_path = 2};
  arrowc_buf *b = wire(&d, "HEADER", "meta", "0123456789abcdef");
  REQUIRE(b != NULL);
  flight_data fd;
  mlr_error err;
  CHECK_EQ_INT(flight_data_decode(b, &fd, &err), MALLARD_OK);
  arrowc_buf_unref(b); /* fd keeps it alive */
  CHECK(fd.has_descriptor);
  CHECK_EQ_INT(fd.descriptor.type, FLIGHT_DESCRIPTOR_PATH);
  CHECK_EQ_INT(fd.descriptor.n_path, 2);
  CHECK_EQ_STR(fd.descriptor.path[1], "bb");
  CHECK_EQ_INT(fd.data_header_len, 6);
  CHECK(memcmp(fd.data_header, "HEADER", 6) == 0);
  CHECK_EQ_INT(fd.app_metadata_len, 4);
  REQUIRE(fd.body != NULL);
  CHECK_EQ_INT(arrowc_buf_size(fd.body), 16);
  CHECK(memcmp(arrowc_buf_data(fd.body), "0123456789abcdef", 16) == 0);
  /* The body is a view into the received bytes, not a copy. */
  CHECK(arrowc_buf_data(fd.body) > arrowc_buf_data(fd.backing));
  flight_data_release(&fd);
}

static void test_cmd_and_empty(void) {
  flight_descriptor d = {.type = FLIGHT_DESCRIPTOR_CMD,
                         .cmd = {.data = (uint8_t *)"SELECT 1", .len = 8}};
  arrowc_buf *b = wire(&d, NULL, NULL, NULL);
  flight_data fd;
  CHECK_EQ_INT(flight_data_decode(b, &fd, NULL), MALLARD_OK);
  CHECK_EQ_INT(fd.descriptor.type, FLIGHT_DESCRIPTOR_CMD);
  CHECK_EQ_INT(fd.descriptor.cmd.len, 8);
  CHECK(fd.body == NULL && fd.data_header == NULL && fd.app_metadata == NULL);
  flight_data_release(&fd);
  arrowc_buf_unref(b);

  b = wire(NULL, NULL, NULL, NULL);
  CHECK_EQ_INT(arrowc_buf_size(b), 0);
  CHECK_EQ_INT(flight_data_decode(b, &fd, NULL), MALLARD_OK);
  CHECK(!fd.has_descriptor);
  flight_data_release(&fd);
  flight_data_release(&fd); /* safe twice */
  arrowc_buf_unref(b);
}

static void test_unknown_fields_skipped(void) {
  /* field 5 varint 7, field 6 fixed64, field 7 fixed32, then field 3 = "x" */
  const uint8_t bytes[] = {0x28, 7, 0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x3d, 1, 2, 3, 4, 0x1a, 1, 'x'};
  arrowc_buf *b = arrowc_buf_wrap(bytes, sizeof bytes, NULL, NULL);
  flight_data fd;
  CHECK_EQ_INT(flight_data_decode(b, &fd, NULL), MALLARD_OK);
  CHECK_EQ_INT(fd.app_metadata_len, 1);
  flight_data_release(&fd);
  arrowc_buf_unref(b);
}

static void check_bad(const uint8_t *bytes, size_t n) {
  arrowc_buf *b = arrowc_buf_wrap(bytes, (int64_t)n, NULL, NULL);
  flight_data fd;
  mlr_error err;
  CHECK_EQ_INT(flight_data_decode(b, &fd, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "FlightData") != NULL);
  CHECK(fd.backing == NULL && fd.body == NULL);
  arrowc_buf_unref(b);
}

static void test_malformed(void) {
  const uint8_t trunc_len[] = {0x12, 10, 'a'};              /* header says 10, 1 present */
  const uint8_t trunc_varint[] = {0x12, 0x80};              /* varint never ends */
  const uint8_t group[] = {0x0b};                           /* wire type 3 */
  const uint8_t bad_desc[] = {0x0a, 2, 0x12, 5};            /* descriptor's cmd too long */
  const uint8_t body_short[] = {0xc2, 0x3e, 0x10, 1, 2, 3}; /* body says 16 bytes */
  const uint8_t zero_field[] = {0x02, 0};
  check_bad(trunc_len, sizeof trunc_len);
  check_bad(trunc_varint, sizeof trunc_varint);
  check_bad(group, sizeof group);
  check_bad(bad_desc, sizeof bad_desc);
  check_bad(body_short, sizeof body_short);
  check_bad(zero_field, sizeof zero_field);
}

static void test_descriptor_copy(void) {
  char *path[] = {"x"};
  flight_descriptor d = {.type = FLIGHT_DESCRIPTOR_PATH, .path = path, .n_path = 1};
  flight_descriptor c;
  CHECK_EQ_INT(flight_descriptor_copy(&c, &d, NULL), MALLARD_OK);
  CHECK_EQ_STR(c.path[0], "x");
  CHECK(c.path[0] != path[0]);
  flight_descriptor_release(&c);
  CHECK(c.path == NULL && c.n_path == 0);
  flight_bytes fb;
  CHECK_EQ_INT(flight_bytes_copy(&fb, "ab", 2, NULL), MALLARD_OK);
  CHECK_EQ_INT(fb.len, 2);
  CHECK_EQ_INT(fb.data[2], 0);
  flight_bytes_release(&fb);
}

/* A NUL byte in a PATH element or an action type is refused, not cut off (a C string would
 * have named another table or action). */
static void test_nul_in_strings(void) {
  /* FlightData { flight_descriptor { type: PATH, path: "t1\0evil" } } */
  const uint8_t fd_bytes[] = {0x0a, 0x0b, 0x08, 0x01, 0x1a, 0x07, 't', '1', 0, 'e', 'v', 'i', 'l'};
  arrowc_buf *b = arrowc_buf_wrap(fd_bytes, (int64_t)sizeof fd_bytes, NULL, NULL);
  flight_data fd;
  mlr_error err;
  CHECK_EQ_INT(flight_data_decode(b, &fd, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "NUL") != NULL);
  arrowc_buf_unref(b);
  /* The same descriptor alone (GetFlightInfo, GetSchema). */
  flight_descriptor d;
  CHECK_EQ_INT(flight_descriptor_decode(fd_bytes + 2, 0x0b, &d, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "NUL") != NULL);
  /* Action { type: "ping\0xx" } */
  const uint8_t action[] = {0x0a, 0x07, 'p', 'i', 'n', 'g', 0, 'x', 'x'};
  flight_action a;
  CHECK_EQ_INT(flight_action_decode(action, sizeof action, &a, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "NUL") != NULL);
  /* NUL bytes in bytes fields are data: a CMD and an action body keep them. */
  const uint8_t cmd[] = {0x08, 0x02, 0x12, 0x03, 'a', 0, 'b'};
  REQUIRE(flight_descriptor_decode(cmd, sizeof cmd, &d, &err) == MALLARD_OK);
  CHECK_EQ_INT(d.cmd.len, 3);
  flight_descriptor_release(&d);
  const uint8_t action_body[] = {0x0a, 0x02, 'o', 'k', 0x12, 0x02, 0, 1};
  REQUIRE(flight_action_decode(action_body, sizeof action_body, &a, &err) == MALLARD_OK);
  CHECK_EQ_STR(a.type, "ok");
  CHECK_EQ_INT(a.body.len, 2);
  flight_action_release(&a);
  CHECK(!flight_pb_string_has_nul(action_body, sizeof action_body, 1));
  CHECK(flight_pb_string_has_nul(action_body, sizeof action_body, 2));
}

MTEST_MAIN(MTEST(test_roundtrip), MTEST(test_cmd_and_empty), MTEST(test_unknown_fields_skipped),
           MTEST(test_malformed), MTEST(test_descriptor_copy), MTEST(test_nul_in_strings))
