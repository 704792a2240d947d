/* A tiny flatbuffer verifier/reader for the IPC write tests: independent of src/ipc's reader so
 * that the builder is checked against the format, not against itself. Positions are offsets
 * from the start of the buffer; every access is bounds-checked (a failed check sets fbv_bad). */
#ifndef TEST_WRITE_FBV_H
#define TEST_WRITE_FBV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct fbv {
  const uint8_t *buf;
  int64_t size;
  bool bad;
} fbv;

static uint64_t fbv_uint(fbv *v, int64_t pos, int n) {
  if (pos < 0 || pos + n > v->size || pos % n != 0) { /* also checks natural alignment */
    v->bad = true;
    return 0;
  }
  uint64_t x = 0;
  memcpy(&x, v->buf + pos, (size_t)n);
  return x;
}

static int64_t fbv_root(fbv *v) {
  return (int64_t)fbv_uint(v, 0, 4);
}

/* Position of a table's field, or -1 when absent. */
static int64_t fbv_field(fbv *v, int64_t table, int slot) {
  int32_t so = (int32_t)fbv_uint(v, table, 4);
  int64_t vt = table - so;
  uint16_t vsz = (uint16_t)fbv_uint(v, vt, 2);
  uint16_t osz = (uint16_t)fbv_uint(v, vt + 2, 2);
  if (v->bad || vsz < 4 || vsz % 2 != 0) {
    v->bad = true;
    return -1;
  }
  if (4 + 2 * slot >= vsz) return -1;
  uint16_t off = (uint16_t)fbv_uint(v, vt + 4 + 2 * slot, 2);
  if (off == 0) return -1;
  if (off >= osz) v->bad = true;
  return table + off;
}

static int64_t fbv_i(fbv *v, int64_t table, int slot, int n, int64_t def) {
  int64_t p = fbv_field(v, table, slot);
  if (p < 0) return def;
  uint64_t x = fbv_uint(v, p, n);
  if (n == 1) return (int8_t)x;
  if (n == 2) return (int16_t)x;
  if (n == 4) return (int32_t)x;
  return (int64_t)x;
}

/* Follows an offset field to the table/vector/string it points at; -1 when absent. */
static int64_t fbv_ref(fbv *v, int64_t table, int slot) {
  int64_t p = fbv_field(v, table, slot);
  if (p < 0) return -1;
  return p + (int64_t)fbv_uint(v, p, 4);
}

static int64_t fbv_vec_len(fbv *v, int64_t vec) {
  return vec < 0 ? 0 : (int64_t)fbv_uint(v, vec, 4);
}

/* Element i of a vector of tables/strings. */
static int64_t fbv_vec_ref(fbv *v, int64_t vec, int64_t i) {
  int64_t p = vec + 4 + 4 * i;
  return p + (int64_t)fbv_uint(v, p, 4);
}

/* Copies a string field into out (size cap); returns false when absent. */
static bool fbv_str(fbv *v, int64_t str, char *out, size_t cap) {
  if (str < 0) return false;
  int64_t len = (int64_t)fbv_uint(v, str, 4);
  if (v->bad || str + 4 + len + 1 > v->size || (size_t)len >= cap || v->buf[str + 4 + len] != 0) {
    v->bad = true;
    return false;
  }
  memcpy(out, v->buf + str + 4, (size_t)len);
  out[len] = '\0';
  return true;
}

#endif /* TEST_WRITE_FBV_H */
