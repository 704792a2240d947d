/* Unit tests of flight_rx: a received message in one slice is viewed in place, one in several
 * slices is coalesced with its FlightData body 64-byte aligned, blocks are recycled through the
 * pool, and buffers may outlive their pool. */
#include "flight/flight_rx.h"
#include "flight/flight_types.h"
#include "mtest.h"

#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <stdint.h>
#include <stdlib.h>

/* A FlightData message (data_header of hdr_len bytes, body of body_len bytes) cut into slices of
 * `step` bytes. *msg receives the contiguous encoding (caller frees). */
static grpc_byte_buffer *make_msg(size_t hdr_len, size_t body_len, size_t step, uint8_t **msg,
                                  size_t *msg_len) {
  uint8_t *hdr = malloc(hdr_len);
  for (size_t i = 0; i < hdr_len; i++) hdr[i] = (uint8_t)(i * 7);
  uint8_t *prefix = NULL;
  size_t prefix_len = 0;
  if (flight_data_encode_prefix(NULL, hdr, hdr_len, NULL, 0, (int64_t)body_len, &prefix,
                                &prefix_len, NULL) != MALLARD_OK) {
    free(hdr);
    return NULL;
  }
  size_t n = prefix_len + body_len;
  uint8_t *all = malloc(n);
  memcpy(all, prefix, prefix_len);
  for (size_t i = 0; i < body_len; i++) all[prefix_len + i] = (uint8_t)(i * 13 + 1);
  free(prefix);
  free(hdr);
  size_t n_slices = (n + step - 1) / step;
  grpc_slice *slices = calloc(n_slices, sizeof *slices);
  for (size_t i = 0; i < n_slices; i++) {
    size_t len = i + 1 < n_slices ? step : n - i * step;
    slices[i] = grpc_slice_from_copied_buffer((const char *)all + i * step, len);
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n_slices);
  for (size_t i = 0; i < n_slices; i++) grpc_slice_unref(slices[i]);
  free(slices);
  *msg = all;
  *msg_len = n;
  return bb;
}

static void test_single_slice_is_a_view(void) {
  grpc_init();
  uint8_t *msg;
  size_t len;
  grpc_byte_buffer *bb = make_msg(40, 1000, 1 << 20, &msg, &len);
  REQUIRE(bb != NULL);
  const uint8_t *slice_data = GRPC_SLICE_START_PTR(bb->data.raw.slice_buffer.slices[0]);
  arrowc_buf *buf = NULL;
  REQUIRE(flight_rx_take(NULL, bb, &buf, NULL) == MALLARD_OK);
  CHECK(arrowc_buf_data(buf) == slice_data); /* no copy */
  CHECK_EQ_INT(arrowc_buf_size(buf), (int64_t)len);
  CHECK(memcmp(arrowc_buf_data(buf), msg, len) == 0);
  arrowc_buf_unref(buf);
  free(msg);
  grpc_shutdown();
}

static void test_multi_slice_coalesced_aligned(void) {
  grpc_init();
  arrowc_pool *pool = arrowc_pool_new(1 << 20);
  REQUIRE(pool != NULL);
  for (size_t hdr = 1; hdr < 140; hdr += 23) {
    uint8_t *msg;
    size_t len;
    grpc_byte_buffer *bb = make_msg(hdr, 200000, 65536, &msg, &len);
    REQUIRE(bb != NULL);
    arrowc_buf *buf = NULL;
    REQUIRE(flight_rx_take(pool, bb, &buf, NULL) == MALLARD_OK);
    CHECK_EQ_INT(arrowc_buf_size(buf), (int64_t)len);
    CHECK(memcmp(arrowc_buf_data(buf), msg, len) == 0);
    flight_data d;
    REQUIRE(flight_data_decode(buf, &d, NULL) == MALLARD_OK);
    CHECK_EQ_INT(d.data_header_len, hdr);
    REQUIRE(d.body != NULL);
    CHECK_EQ_INT(arrowc_buf_size(d.body), 200000);
    CHECK(((uintptr_t)arrowc_buf_data(d.body) & 63) == 0);
    flight_data_release(&d);
    arrowc_buf_unref(buf);
    free(msg);
  }
  arrowc_pool_unref(pool);
  grpc_shutdown();
}

static void test_pool_reuses_blocks(void) {
  grpc_init();
  arrowc_pool *pool = arrowc_pool_new(8 << 20);
  REQUIRE(pool != NULL);
  uint8_t *msg;
  size_t len;
  arrowc_buf *a = NULL, *b = NULL, *c = NULL, *d = NULL;
  REQUIRE(flight_rx_take(pool, make_msg(50, 300000, 65536, &msg, &len), &a, NULL) == MALLARD_OK);
  free(msg);
  const uint8_t *first = arrowc_buf_data(a);
  arrowc_buf_unref(a); /* back to the pool */
  /* A message of similar size gets the same (warm) block. */
  REQUIRE(flight_rx_take(pool, make_msg(60, 290000, 65536, &msg, &len), &b, NULL) == MALLARD_OK);
  CHECK(memcmp(arrowc_buf_data(b), msg, len) == 0);
  free(msg);
  CHECK((uintptr_t)arrowc_buf_data(b) >> 6 == (uintptr_t)first >> 6);
  /* While b is out, another message gets another block. */
  REQUIRE(flight_rx_take(pool, make_msg(60, 290000, 65536, &msg, &len), &c, NULL) == MALLARD_OK);
  free(msg);
  CHECK((uintptr_t)arrowc_buf_data(c) >> 6 != (uintptr_t)first >> 6);
  arrowc_buf_unref(b);
  /* Much smaller messages do not take the big block. */
  REQUIRE(flight_rx_take(pool, make_msg(10, 70000, 65536, &msg, &len), &d, NULL) == MALLARD_OK);
  CHECK(memcmp(arrowc_buf_data(d), msg, len) == 0);
  free(msg);
  CHECK((uintptr_t)arrowc_buf_data(d) >> 6 != (uintptr_t)first >> 6);
  /* Buffers outlive the pool's owner (ASan checks the blocks are freed exactly once). */
  arrowc_pool_unref(pool);
  arrowc_buf_unref(c);
  arrowc_buf_unref(d);
  grpc_shutdown();
}

static void test_no_caching_beyond_limit(void) {
  grpc_init();
  arrowc_pool *pool = arrowc_pool_new(0); /* caches nothing */
  REQUIRE(pool != NULL);
  uint8_t *msg;
  size_t len;
  arrowc_buf *a = NULL;
  REQUIRE(flight_rx_take(pool, make_msg(50, 300000, 65536, &msg, &len), &a, NULL) == MALLARD_OK);
  CHECK(memcmp(arrowc_buf_data(a), msg, len) == 0);
  free(msg);
  arrowc_buf_unref(a); /* freed, not cached: LSan would report a leak otherwise at exit */
  arrowc_pool_unref(pool);
  grpc_shutdown();
}

static void test_offset_hint(void) {
  /* field 2 (len 3) then field 1000 */
  const uint8_t m[] = {0x12, 3, 'a', 'b', 'c', 0xc2, 0x3e, 5};
  CHECK_EQ_INT(flight_data_body_offset(m, sizeof m), 8);
  const uint8_t varint_field[] = {0x08, 1};
  CHECK_EQ_INT(flight_data_body_offset(varint_field, sizeof varint_field), -1);
  const uint8_t truncated[] = {0x12, 9, 'a'};
  CHECK_EQ_INT(flight_data_body_offset(truncated, sizeof truncated), -1);
}

MTEST_MAIN(MTEST(test_single_slice_is_a_view), MTEST(test_multi_slice_coalesced_aligned),
           MTEST(test_pool_reuses_blocks), MTEST(test_no_caching_beyond_limit),
           MTEST(test_offset_hint))
