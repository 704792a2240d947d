/* Bounds-checked flatbuffer reader (see fb_reader.h). All reads go through memcpy so that
 * no alignment is assumed of the input. */
#include "ipc/fb_reader.h"

#include <string.h>

static uint32_t rd_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint16_t rd_u16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

static mlr_code bad(mlr_error *err, const char *what, int64_t where) {
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "malformed flatbuffer: %s at byte %lld", what,
                       (long long)where);
}

static mlr_code table_at(const uint8_t *buf, int64_t size, int64_t pos, fbr_table *out,
                         mlr_error *err) {
  memset(out, 0, sizeof *out);
  if (pos < 0 || pos > size - 4) return bad(err, "table offset out of bounds", pos);
  int32_t soff;
  memcpy(&soff, buf + pos, 4);
  int64_t vt = pos - (int64_t)soff;
  if (vt < 0 || vt > size - 4) return bad(err, "vtable offset out of bounds", pos);
  uint16_t vt_len = rd_u16(buf + vt);
  uint16_t tbl_len = rd_u16(buf + vt + 2);
  if (vt_len < 4 || (vt_len & 1) != 0 || vt_len > size - vt) return bad(err, "bad vtable", vt);
  if (tbl_len < 4 || tbl_len > size - pos) return bad(err, "table extends past the buffer", pos);
  out->buf = buf;
  out->size = size;
  out->pos = pos;
  out->vtable = vt;
  out->vt_len = vt_len;
  out->tbl_len = tbl_len;
  return MALLARD_OK;
}

mlr_code fbr_root(const uint8_t *buf, int64_t size, fbr_table *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  if (buf == NULL || size < 8) return bad(err, "buffer too small", 0);
  return table_at(buf, size, (int64_t)rd_u32(buf), out, err);
}

/* Offset of a field inside the table, 0 when absent. */
static uint16_t field_off(const fbr_table *t, int slot) {
  if (t->buf == NULL || slot < 0) return 0;
  int64_t voff = 4 + 2 * (int64_t)slot;
  if (voff + 2 > t->vt_len) return 0;
  return rd_u16(t->buf + t->vtable + voff);
}

bool fbr_has(const fbr_table *t, int slot) {
  return field_off(t, slot) != 0;
}

/* Position of a field of `width` inline bytes, or -1 when absent. */
static mlr_code field_pos(const fbr_table *t, int slot, int64_t width, int64_t *pos,
                          mlr_error *err) {
  uint16_t off = field_off(t, slot);
  *pos = -1;
  if (off == 0) return MALLARD_OK;
  if ((int64_t)off + width > t->tbl_len) return bad(err, "field extends past its table", t->pos);
  *pos = t->pos + off;
  return MALLARD_OK;
}

#define FBR_SCALAR(name, type)                                                                     \
  mlr_code name(const fbr_table *t, int slot, type def, type *out, mlr_error *err) {               \
    int64_t pos;                                                                                   \
    *out = def;                                                                                    \
    MLR_RETURN_NOT_OK(field_pos(t, slot, (int64_t)sizeof(type), &pos, err));                       \
    if (pos >= 0) memcpy(out, t->buf + pos, sizeof(type));                                         \
    return MALLARD_OK;                                                                             \
  }
FBR_SCALAR(fbr_i8, int8_t)
FBR_SCALAR(fbr_u8, uint8_t)
FBR_SCALAR(fbr_i16, int16_t)
FBR_SCALAR(fbr_i32, int32_t)
FBR_SCALAR(fbr_i64, int64_t)

mlr_code fbr_bool(const fbr_table *t, int slot, bool def, bool *out, mlr_error *err) {
  uint8_t v;
  *out = def;
  MLR_RETURN_NOT_OK(fbr_u8(t, slot, def ? 1 : 0, &v, err));
  *out = v != 0;
  return MALLARD_OK;
}

/* Follows the uoffset stored at `pos` to its target. */
static mlr_code follow(const uint8_t *buf, int64_t size, int64_t pos, int64_t *target,
                       mlr_error *err) {
  if (pos < 0 || pos > size - 4) return bad(err, "offset out of bounds", pos);
  int64_t tgt = pos + (int64_t)rd_u32(buf + pos);
  if (tgt > size - 4) return bad(err, "offset points past the buffer", pos);
  *target = tgt;
  return MALLARD_OK;
}

mlr_code fbr_table_field(const fbr_table *t, int slot, fbr_table *out, bool *present,
                         mlr_error *err) {
  int64_t pos = -1, tgt = 0;
  memset(out, 0, sizeof *out);
  *present = false;
  MLR_RETURN_NOT_OK(field_pos(t, slot, 4, &pos, err));
  if (pos < 0) return MALLARD_OK;
  MLR_RETURN_NOT_OK(follow(t->buf, t->size, pos, &tgt, err));
  MLR_RETURN_NOT_OK(table_at(t->buf, t->size, tgt, out, err));
  *present = true;
  return MALLARD_OK;
}

static mlr_code string_at(const uint8_t *buf, int64_t size, int64_t tgt, const char **data,
                          int64_t *len, mlr_error *err) {
  int64_t n = (int64_t)rd_u32(buf + tgt);
  if (n > size - tgt - 4) return bad(err, "string extends past the buffer", tgt);
  *data = (const char *)buf + tgt + 4;
  *len = n;
  return MALLARD_OK;
}

mlr_code fbr_string(const fbr_table *t, int slot, const char **data, int64_t *len, bool *present,
                    mlr_error *err) {
  int64_t pos = -1, tgt = 0;
  *data = NULL;
  *len = 0;
  *present = false;
  MLR_RETURN_NOT_OK(field_pos(t, slot, 4, &pos, err));
  if (pos < 0) return MALLARD_OK;
  MLR_RETURN_NOT_OK(follow(t->buf, t->size, pos, &tgt, err));
  MLR_RETURN_NOT_OK(string_at(t->buf, t->size, tgt, data, len, err));
  *present = true;
  return MALLARD_OK;
}

mlr_code fbr_vector_field(const fbr_table *t, int slot, int64_t elem_size, fbr_vector *out,
                          mlr_error *err) {
  int64_t pos = -1, tgt = 0;
  memset(out, 0, sizeof *out);
  MLR_RETURN_NOT_OK(field_pos(t, slot, 4, &pos, err));
  if (pos < 0) return MALLARD_OK;
  MLR_RETURN_NOT_OK(follow(t->buf, t->size, pos, &tgt, err));
  int64_t n = (int64_t)rd_u32(t->buf + tgt);
  if (elem_size <= 0 || n > (t->size - tgt - 4) / elem_size)
    return bad(err, "vector extends past the buffer", tgt);
  out->buf = t->buf;
  out->size = t->size;
  out->pos = tgt + 4;
  out->count = n;
  return MALLARD_OK;
}

mlr_code fbr_vector_table(const fbr_vector *v, int64_t i, fbr_table *out, mlr_error *err) {
  int64_t tgt = 0;
  memset(out, 0, sizeof *out);
  if (i < 0 || i >= v->count) return bad(err, "vector index out of range", v->pos);
  MLR_RETURN_NOT_OK(follow(v->buf, v->size, v->pos + 4 * i, &tgt, err));
  return table_at(v->buf, v->size, tgt, out, err);
}

mlr_code fbr_vector_string(const fbr_vector *v, int64_t i, const char **data, int64_t *len,
                           mlr_error *err) {
  int64_t tgt = 0;
  if (i < 0 || i >= v->count) return bad(err, "vector index out of range", v->pos);
  MLR_RETURN_NOT_OK(follow(v->buf, v->size, v->pos + 4 * i, &tgt, err));
  return string_at(v->buf, v->size, tgt, data, len, err);
}

const uint8_t *fbr_vector_elem(const fbr_vector *v, int64_t i, int64_t elem_size) {
  return v->buf + v->pos + i * elem_size;
}
