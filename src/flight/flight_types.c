/* Plain Flight values (release/copy) and the hand-written FlightData protobuf codec, which
 * keeps batch bodies out of any copy: bodies go out as separate slices and come in as views. */
#include "flight/flight_types.h"

#include <stdlib.h>
#include <string.h>

void flight_bytes_release(flight_bytes *b) {
  if (b == NULL) return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

mlr_code flight_bytes_copy(flight_bytes *dst, const void *data, size_t len, mlr_error *err) {
  dst->data = NULL;
  dst->len = 0;
  /* One spare byte so that byte strings holding text can be used as C strings. */
  uint8_t *p = malloc(len + 1);
  if (p == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  if (len > 0) memcpy(p, data, len);
  p[len] = 0;
  dst->data = p;
  dst->len = len;
  return MALLARD_OK;
}

void flight_descriptor_release(flight_descriptor *d) {
  if (d == NULL) return;
  flight_bytes_release(&d->cmd);
  for (size_t i = 0; i < d->n_path; i++) free(d->path[i]);
  free(d->path);
  memset(d, 0, sizeof *d);
}

mlr_code flight_descriptor_copy(flight_descriptor *dst, const flight_descriptor *src,
                                mlr_error *err) {
  memset(dst, 0, sizeof *dst);
  dst->type = src->type;
  if (src->cmd.len > 0 || src->cmd.data != NULL) {
    if (flight_bytes_copy(&dst->cmd, src->cmd.data, src->cmd.len, err) != MALLARD_OK) goto fail;
  }
  if (src->n_path > 0) {
    dst->path = calloc(src->n_path, sizeof *dst->path);
    if (dst->path == NULL) goto oom;
    for (size_t i = 0; i < src->n_path; i++) {
      dst->path[i] = strdup(src->path[i] != NULL ? src->path[i] : "");
      if (dst->path[i] == NULL) goto oom;
      dst->n_path = i + 1;
    }
  }
  return MALLARD_OK;
oom:
  mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
fail:
  flight_descriptor_release(dst);
  return MALLARD_RESOURCE_EXHAUSTED;
}

void flight_endpoint_release(flight_endpoint *e) {
  if (e == NULL) return;
  flight_bytes_release(&e->ticket);
  for (size_t i = 0; i < e->n_locations; i++) free(e->locations[i]);
  free(e->locations);
  flight_bytes_release(&e->app_metadata);
  memset(e, 0, sizeof *e);
}

void flight_info_release(flight_info *info) {
  if (info == NULL) return;
  if (info->schema.release != NULL) info->schema.release(&info->schema);
  flight_descriptor_release(&info->descriptor);
  for (size_t i = 0; i < info->n_endpoints; i++) flight_endpoint_release(&info->endpoints[i]);
  free(info->endpoints);
  flight_bytes_release(&info->app_metadata);
  memset(info, 0, sizeof *info);
}

void flight_poll_info_release(flight_poll_info *p) {
  if (p == NULL) return;
  flight_info_release(&p->info);
  flight_descriptor_release(&p->descriptor);
  memset(p, 0, sizeof *p);
}

void flight_action_release(flight_action *a) {
  if (a == NULL) return;
  free(a->type);
  flight_bytes_release(&a->body);
  memset(a, 0, sizeof *a);
}

void flight_data_release(flight_data *d) {
  if (d == NULL) return;
  flight_descriptor_release(&d->descriptor);
  arrowc_buf_unref(d->body);
  arrowc_buf_unref(d->backing);
  memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------------------------------
 * Protobuf wire helpers
 * ---------------------------------------------------------------------------------------- */

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

static size_t pb_varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static uint8_t *pb_put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

static size_t pb_len_field_size(uint32_t field, size_t len) {
  return pb_varint_size(((uint64_t)field << 3) | PB_LEN) + pb_varint_size(len) + len;
}

static uint8_t *pb_put_len_field(uint8_t *p, uint32_t field, const void *data, size_t len) {
  p = pb_put_varint(p, ((uint64_t)field << 3) | PB_LEN);
  p = pb_put_varint(p, len);
  if (len > 0) memcpy(p, data, len);
  return p + len;
}

/* Reads a varint from [*p, end); false when truncated or longer than 10 bytes. */
static bool pb_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return false;
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

int64_t flight_data_body_offset(const uint8_t *msg, size_t n) {
  const uint8_t *p = msg, *end = msg + n;
  while (p < end) {
    uint64_t key, len;
    if (!pb_get_varint(&p, end, &key) || (key & 7) != PB_LEN || !pb_get_varint(&p, end, &len))
      return -1;
    if ((key >> 3) == 1000) return (int64_t)(p - msg);
    if (len > (uint64_t)(end - p)) return -1;
    p += len;
  }
  return -1;
}

/* Skips one field's value of the given wire type. */
static bool pb_skip(const uint8_t **p, const uint8_t *end, unsigned wire) {
  uint64_t v;
  switch (wire) {
  case PB_VARINT:
    return pb_get_varint(p, end, &v);
  case PB_I64:
    if (end - *p < 8) return false;
    *p += 8;
    return true;
  case PB_I32:
    if (end - *p < 4) return false;
    *p += 4;
    return true;
  case PB_LEN:
    if (!pb_get_varint(p, end, &v) || v > (uint64_t)(end - *p)) return false;
    *p += v;
    return true;
  default:
    return false;
  }
}

bool flight_pb_string_has_nul(const uint8_t *msg, size_t n, unsigned field) {
  const uint8_t *p = msg, *end = msg + n;
  while (p < end) {
    uint64_t key, len;
    if (!pb_get_varint(&p, end, &key)) return false;
    if ((key >> 3) == field && (key & 7) == PB_LEN) {
      if (!pb_get_varint(&p, end, &len) || len > (uint64_t)(end - p)) return false;
      if (memchr(p, 0, (size_t)len) != NULL) return true;
      p += len;
    } else if (!pb_skip(&p, end, (unsigned)(key & 7))) {
      return false;
    }
  }
  return false;
}

/* Size of a FlightDescriptor message (without its own tag/length). */
static size_t descriptor_size(const flight_descriptor *d) {
  size_t n = 0;
  if (d->type != FLIGHT_DESCRIPTOR_UNKNOWN) n += 1 + pb_varint_size((uint64_t)d->type);
  if (d->cmd.len > 0) n += pb_len_field_size(2, d->cmd.len);
  for (size_t i = 0; i < d->n_path; i++)
    n += pb_len_field_size(3, d->path[i] != NULL ? strlen(d->path[i]) : 0);
  return n;
}

static uint8_t *descriptor_put(uint8_t *p, const flight_descriptor *d) {
  if (d->type != FLIGHT_DESCRIPTOR_UNKNOWN) {
    *p++ = (1 << 3) | PB_VARINT;
    p = pb_put_varint(p, (uint64_t)d->type);
  }
  if (d->cmd.len > 0) p = pb_put_len_field(p, 2, d->cmd.data, d->cmd.len);
  for (size_t i = 0; i < d->n_path; i++) {
    const char *s = d->path[i] != NULL ? d->path[i] : "";
    p = pb_put_len_field(p, 3, s, strlen(s));
  }
  return p;
}

static mlr_code descriptor_parse(const uint8_t *p, const uint8_t *end, flight_descriptor *d,
                                 mlr_error *err) {
  memset(d, 0, sizeof *d);
  while (p < end) {
    uint64_t key, v;
    if (!pb_get_varint(&p, end, &key)) goto bad;
    unsigned field = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
    if (field == 1 && wire == PB_VARINT) {
      if (!pb_get_varint(&p, end, &v)) goto bad;
      d->type = v <= 2 ? (flight_descriptor_type)v : FLIGHT_DESCRIPTOR_UNKNOWN;
    } else if ((field == 2 || field == 3) && wire == PB_LEN) {
      if (!pb_get_varint(&p, end, &v) || v > (uint64_t)(end - p)) goto bad;
      if (field == 2) {
        flight_bytes_release(&d->cmd);
        if (flight_bytes_copy(&d->cmd, p, (size_t)v, err) != MALLARD_OK) goto fail;
      } else {
        if (memchr(p, 0, (size_t)v) != NULL) {
          flight_descriptor_release(d);
          return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s", FLIGHT_PATH_NUL_MESSAGE);
        }
        char **np = realloc(d->path, (d->n_path + 1) * sizeof *np);
        if (np == NULL) goto oom;
        d->path = np;
        char *s = malloc((size_t)v + 1);
        if (s == NULL) goto oom;
        memcpy(s, p, (size_t)v);
        s[v] = 0;
        d->path[d->n_path++] = s;
      }
      p += v;
    } else if (!pb_skip(&p, end, wire)) {
      goto bad;
    }
  }
  return MALLARD_OK;
bad:
  flight_descriptor_release(d);
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "malformed FlightData: bad FlightDescriptor protobuf");
oom:
  mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
fail:
  flight_descriptor_release(d);
  return MALLARD_RESOURCE_EXHAUSTED;
}

/* ------------------------------------------------------------------------------------------
 * FlightData
 * ---------------------------------------------------------------------------------------- */

mlr_code flight_data_encode_prefix(const flight_descriptor *desc, const uint8_t *data_header,
                                   size_t data_header_len, const uint8_t *app_metadata,
                                   size_t app_metadata_len, int64_t body_len, uint8_t **prefix,
                                   size_t *prefix_len, mlr_error *err) {
  *prefix = NULL;
  *prefix_len = 0;
  if (body_len < 0) return mlr_error_set(err, MALLARD_INTERNAL, "negative FlightData body size");
  size_t desc_len = desc != NULL ? descriptor_size(desc) : 0;
  size_t n = 0;
  if (desc != NULL) n += pb_len_field_size(1, desc_len);
  if (data_header_len > 0) n += pb_len_field_size(2, data_header_len);
  if (app_metadata_len > 0) n += pb_len_field_size(3, app_metadata_len);
  if (body_len > 0) n += pb_varint_size((1000u << 3) | PB_LEN) + pb_varint_size((uint64_t)body_len);
  uint8_t *buf = malloc(n == 0 ? 1 : n);
  if (buf == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  uint8_t *p = buf;
  if (desc != NULL) {
    p = pb_put_varint(p, (1u << 3) | PB_LEN);
    p = pb_put_varint(p, desc_len);
    p = descriptor_put(p, desc);
  }
  if (data_header_len > 0) p = pb_put_len_field(p, 2, data_header, data_header_len);
  if (app_metadata_len > 0) p = pb_put_len_field(p, 3, app_metadata, app_metadata_len);
  if (body_len > 0) {
    p = pb_put_varint(p, (1000u << 3) | PB_LEN);
    p = pb_put_varint(p, (uint64_t)body_len);
  }
  *prefix = buf;
  *prefix_len = (size_t)(p - buf);
  return MALLARD_OK;
}

mlr_code flight_data_decode(arrowc_buf *msg, flight_data *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  const uint8_t *base = arrowc_buf_data(msg);
  const uint8_t *p = base, *end = base + arrowc_buf_size(msg);
  const uint8_t *body = NULL;
  size_t body_len = 0;
  mlr_code rc = MALLARD_OK;
  while (p < end) {
    uint64_t key, v;
    if (!pb_get_varint(&p, end, &key)) goto bad;
    uint64_t field = key >> 3;
    unsigned wire = (unsigned)(key & 7);
    if ((field == 1 || field == 2 || field == 3 || field == 1000) && wire == PB_LEN) {
      if (!pb_get_varint(&p, end, &v)) goto bad;
      if (v > (uint64_t)(end - p)) {
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "malformed FlightData: field %u claims %llu bytes but only %zu remain",
                           (unsigned)field, (unsigned long long)v, (size_t)(end - p));
        goto fail;
      }
      if (field == 1) {
        flight_descriptor_release(&out->descriptor);
        rc = descriptor_parse(p, p + v, &out->descriptor, err);
        if (rc != MALLARD_OK) goto fail;
        out->has_descriptor = true;
      } else if (field == 2) {
        out->data_header = p;
        out->data_header_len = (size_t)v;
      } else if (field == 3) {
        out->app_metadata = p;
        out->app_metadata_len = (size_t)v;
      } else {
        body = p;
        body_len = (size_t)v;
      }
      p += v;
    } else if (field == 0 || !pb_skip(&p, end, wire)) {
      goto bad;
    }
  }
  if (body_len > 0) {
    out->body = arrowc_buf_slice(msg, body - base, (int64_t)body_len);
    if (out->body == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto fail;
    }
  }
  if (out->data_header_len == 0) out->data_header = NULL;
  if (out->app_metadata_len == 0) out->app_metadata = NULL;
  arrowc_buf_ref(msg);
  out->backing = msg;
  return MALLARD_OK;
bad:
  rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                     "malformed FlightData: bad protobuf at byte %zu of %lld", (size_t)(p - base),
                     (long long)arrowc_buf_size(msg));
fail:
  flight_data_release(out);
  return rc;
}
