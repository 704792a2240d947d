/* A minimal back-to-front FlatBuffers builder for Arrow IPC metadata (see fb_builder.h). */
#include "ipc/fb_builder.h"

#include <stdlib.h>
#include <string.h>

void fbb_init(fbb *b) {
  memset(b, 0, sizeof *b);
  b->minalign = 8;
}

void fbb_release(fbb *b) {
  free(b->buf);
  fbb_init(b);
}

static bool fbb_reserve(fbb *b, size_t n) {
  if (b->failed) return false;
  if (b->cap - b->size >= n) return true;
  if (n > ((size_t)1 << 30) || b->size > ((size_t)1 << 30)) {
    b->failed = true; /* metadata this large is a bug, not data */
    return false;
  }
  size_t cap = b->cap < 256 ? 256 : b->cap;
  while (cap - b->size < n) cap *= 2;
  uint8_t *nb = malloc(cap);
  if (nb == NULL) {
    b->failed = true;
    return false;
  }
  if (b->size > 0) memcpy(nb + cap - b->size, b->buf + b->cap - b->size, b->size);
  free(b->buf);
  b->buf = nb;
  b->cap = cap;
  return true;
}

/* Pads so that after writing `len` more bytes the size is a multiple of `align`. */
static void fbb_prep(fbb *b, size_t align, size_t len) {
  if (align > b->minalign) b->minalign = align;
  size_t pad = (size_t)(-(b->size + len)) & (align - 1);
  if (pad == 0 || !fbb_reserve(b, pad)) return;
  b->size += pad;
  memset(b->buf + b->cap - b->size, 0, pad);
}

static void fbb_push(fbb *b, const void *data, size_t n) {
  if (!fbb_reserve(b, n)) return;
  b->size += n;
  if (n > 0) memcpy(b->buf + b->cap - b->size, data, n);
}

static void fbb_push_u32(fbb *b, uint32_t v) {
  fbb_push(b, &v, 4);
}

static void fbb_push_uoffset(fbb *b, fbb_ref ref) {
  fbb_prep(b, 4, 4);
  uint32_t v = (uint32_t)(b->size + 4) - ref;
  fbb_push_u32(b, v);
}

fbb_ref fbb_string(fbb *b, const char *s, size_t len) {
  if (b->in_table) b->failed = true;
  fbb_prep(b, 4, len + 1);
  uint8_t zero = 0;
  fbb_push(b, &zero, 1);
  fbb_push(b, s, len);
  fbb_push_u32(b, (uint32_t)len);
  return (fbb_ref)b->size;
}

fbb_ref fbb_vector(fbb *b, const void *elems, size_t elem_size, size_t count, size_t align) {
  if (b->in_table) b->failed = true;
  size_t len = elem_size * count;
  fbb_prep(b, 4, len);
  fbb_prep(b, align < 4 ? 4 : align, len);
  fbb_push(b, elems, len);
  fbb_push_u32(b, (uint32_t)count);
  return (fbb_ref)b->size;
}

fbb_ref fbb_vector_refs(fbb *b, const fbb_ref *refs, size_t count) {
  if (b->in_table) b->failed = true;
  fbb_prep(b, 4, 4 * count);
  for (size_t i = count; i > 0; i--) fbb_push_uoffset(b, refs[i - 1]);
  fbb_push_u32(b, (uint32_t)count);
  return (fbb_ref)b->size;
}

void fbb_table_start(fbb *b) {
  if (b->in_table) b->failed = true;
  b->in_table = true;
  b->table_start = b->size;
  b->n_slots = 0;
  memset(b->slots, 0, sizeof b->slots);
}

static void fbb_field(fbb *b, int slot, const void *v, size_t n, size_t align) {
  if (!b->in_table || slot < 0 || slot >= FBB_MAX_SLOTS) {
    b->failed = true;
    return;
  }
  fbb_prep(b, align, n);
  fbb_push(b, v, n);
  b->slots[slot] = (fbb_ref)b->size;
  if (slot + 1 > b->n_slots) b->n_slots = slot + 1;
}

void fbb_add_u8(fbb *b, int slot, uint8_t v) {
  fbb_field(b, slot, &v, 1, 1);
}
void fbb_add_i16(fbb *b, int slot, int16_t v) {
  fbb_field(b, slot, &v, 2, 2);
}
void fbb_add_i32(fbb *b, int slot, int32_t v) {
  fbb_field(b, slot, &v, 4, 4);
}
void fbb_add_i64(fbb *b, int slot, int64_t v) {
  fbb_field(b, slot, &v, 8, 8);
}
void fbb_add_struct(fbb *b, int slot, const void *data, size_t size, size_t align) {
  fbb_field(b, slot, data, size, align);
}

void fbb_add_ref(fbb *b, int slot, fbb_ref ref) {
  if (!b->in_table || slot < 0 || slot >= FBB_MAX_SLOTS || ref == 0) {
    b->failed = true;
    return;
  }
  fbb_prep(b, 4, 4);
  uint32_t v = (uint32_t)(b->size + 4) - ref;
  fbb_push_u32(b, v);
  b->slots[slot] = (fbb_ref)b->size;
  if (slot + 1 > b->n_slots) b->n_slots = slot + 1;
}

fbb_ref fbb_table_end(fbb *b) {
  if (!b->in_table) {
    b->failed = true;
    return 0;
  }
  fbb_prep(b, 4, 4);
  int32_t placeholder = 0;
  fbb_push(b, &placeholder, 4);
  fbb_ref table = (fbb_ref)b->size;
  size_t obj_size = b->size - b->table_start;
  if (obj_size > 0xFFFF) b->failed = true;
  for (int i = b->n_slots - 1; i >= 0; i--) {
    uint16_t off = b->slots[i] == 0 ? 0 : (uint16_t)(table - b->slots[i]);
    fbb_push(b, &off, 2);
  }
  uint16_t osz = (uint16_t)obj_size;
  uint16_t vsz = (uint16_t)(4 + 2 * b->n_slots);
  fbb_push(b, &osz, 2);
  fbb_push(b, &vsz, 2);
  fbb_ref vtable = (fbb_ref)b->size;
  b->in_table = false;
  if (b->failed) return table;
  int32_t so = (int32_t)(vtable - table);
  memcpy(b->buf + b->cap - table, &so, 4);
  return table;
}

mlr_code fbb_finish(fbb *b, fbb_ref root, uint8_t **out, int64_t *out_size, mlr_error *err) {
  *out = NULL;
  *out_size = 0;
  if (b->in_table || root == 0) b->failed = true;
  fbb_prep(b, b->minalign, 4);
  fbb_push_uoffset(b, root);
  if (b->failed) {
    fbb_release(b);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "building IPC metadata failed (out of memory or metadata too large)");
  }
  uint8_t *res = malloc(b->size);
  if (res == NULL) {
    fbb_release(b);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory building IPC metadata");
  }
  memcpy(res, b->buf + b->cap - b->size, b->size);
  *out = res;
  *out_size = (int64_t)b->size;
  fbb_release(b);
  return MALLARD_OK;
}
