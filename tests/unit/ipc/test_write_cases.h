/* Hand-built Arrow C Data Interface batches, one case per type and edge case, shared by the IPC
 * encoder's unit tests and the mallard-ipc-gen tool (whose output pyarrow checks value by value
 * in tests/integration/ipc_write). Everything is malloc'ed and freed by the release callbacks. */
#ifndef TEST_WRITE_CASES_H
#define TEST_WRITE_CASES_H

#include "mallard/arrow_c.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct twc_out {
  struct ArrowSchema schema;
  struct ArrowArray batches[8];
  int n_batches;
  bool stream_only; /* dictionary replacements: not representable in an IPC file */
} twc_out;

static void *tw_copy(const void *p, size_t n) {
  void *d = malloc(n ? n : 1);
  if (n) memcpy(d, p, n);
  return d;
}
static char *tw_strdup(const char *s) {
  return s == NULL ? NULL : tw_copy(s, strlen(s) + 1);
}

#define TW_BUF(T, ...) tw_copy((T[]){__VA_ARGS__}, sizeof((T[]){__VA_ARGS__}))

/* A validity bitmap from a pattern of '1' (valid) and '0' (null); other characters skipped. */
static void *tw_bits(const char *pattern) {
  size_t n = strlen(pattern);
  uint8_t *b = calloc(n / 8 + 8, 1);
  size_t i = 0;
  for (const char *p = pattern; *p; p++) {
    if (*p != '0' && *p != '1') continue;
    if (*p == '1') b[i / 8] |= (uint8_t)(1u << (i % 8));
    i++;
  }
  return b;
}

static void tw_schema_release(struct ArrowSchema *s) {
  free((void *)s->format);
  free((void *)s->name);
  free((void *)s->metadata);
  for (int64_t i = 0; i < s->n_children; i++) {
    if (s->children[i]->release) s->children[i]->release(s->children[i]);
    free(s->children[i]);
  }
  free(s->children);
  if (s->dictionary) {
    if (s->dictionary->release) s->dictionary->release(s->dictionary);
    free(s->dictionary);
  }
  s->release = NULL;
}

static struct ArrowSchema *tw_s(const char *fmt, const char *name, int64_t flags, int64_t n, ...) {
  struct ArrowSchema *s = calloc(1, sizeof *s);
  s->format = tw_strdup(fmt);
  s->name = tw_strdup(name);
  s->flags = flags;
  s->n_children = n;
  s->children = calloc((size_t)(n ? n : 1), sizeof *s->children);
  va_list ap;
  va_start(ap, n);
  for (int64_t i = 0; i < n; i++) s->children[i] = va_arg(ap, struct ArrowSchema *);
  va_end(ap);
  s->release = tw_schema_release;
  return s;
}

/* A nullable field. */
#define TW_F(fmt, name) tw_s(fmt, name, ARROW_FLAG_NULLABLE, 0)

static struct ArrowSchema *tw_dict_s(const char *index_fmt, const char *name,
                                     struct ArrowSchema *values) {
  struct ArrowSchema *s = tw_s(index_fmt, name, ARROW_FLAG_NULLABLE, 0);
  s->dictionary = values;
  return s;
}

/* Sets metadata from n (key, value) string pairs. */
static void tw_md(struct ArrowSchema *s, int n, ...) {
  size_t cap = 4;
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < 2 * n; i++) cap += 4 + strlen(va_arg(ap, const char *));
  va_end(ap);
  char *m = malloc(cap), *w = m;
  int32_t n32 = n;
  memcpy(w, &n32, 4);
  w += 4;
  va_start(ap, n);
  for (int i = 0; i < 2 * n; i++) {
    const char *x = va_arg(ap, const char *);
    int32_t l = (int32_t)strlen(x);
    memcpy(w, &l, 4);
    memcpy(w + 4, x, (size_t)l);
    w += 4 + l;
  }
  va_end(ap);
  free((void *)s->metadata);
  s->metadata = m;
}

static void tw_array_release(struct ArrowArray *a) {
  for (int64_t i = 0; i < a->n_buffers; i++) free((void *)a->buffers[i]);
  free(a->buffers);
  for (int64_t i = 0; i < a->n_children; i++) {
    if (a->children[i]->release) a->children[i]->release(a->children[i]);
    free(a->children[i]);
  }
  free(a->children);
  if (a->dictionary) {
    if (a->dictionary->release) a->dictionary->release(a->dictionary);
    free(a->dictionary);
  }
  a->release = NULL;
}

/* varargs: nbuf buffers (void *, malloc'ed or NULL) then nchild struct ArrowArray *. */
static struct ArrowArray *tw_a(int64_t len, int64_t nulls, int64_t off, int64_t nbuf,
                               int64_t nchild, ...) {
  struct ArrowArray *a = calloc(1, sizeof *a);
  a->length = len;
  a->null_count = nulls;
  a->offset = off;
  a->n_buffers = nbuf;
  a->n_children = nchild;
  a->buffers = calloc((size_t)(nbuf ? nbuf : 1), sizeof(void *));
  a->children = calloc((size_t)(nchild ? nchild : 1), sizeof *a->children);
  va_list ap;
  va_start(ap, nchild);
  for (int64_t i = 0; i < nbuf; i++) a->buffers[i] = va_arg(ap, void *);
  for (int64_t i = 0; i < nchild; i++) a->children[i] = va_arg(ap, struct ArrowArray *);
  va_end(ap);
  a->release = tw_array_release;
  return a;
}

static void tw_move_s(struct ArrowSchema *heap, struct ArrowSchema *out) {
  *out = *heap;
  free(heap);
}
static void tw_move_a(struct ArrowArray *heap, struct ArrowArray *out) {
  *out = *heap;
  free(heap);
}

/* utf8/binary offsets+data from NULL-terminated list of strings (NULL entries = empty). */
static void tw_strings(int n, const char *const *v, void **offsets, void **data, bool large) {
  size_t total = 0;
  for (int i = 0; i < n; i++) total += v[i] ? strlen(v[i]) : 0;
  char *d = malloc(total ? total : 1);
  void *o = malloc((size_t)(n + 1) * (large ? 8 : 4));
  size_t pos = 0;
  for (int i = 0; i <= n; i++) {
    if (large)
      ((int64_t *)o)[i] = (int64_t)pos;
    else
      ((int32_t *)o)[i] = (int32_t)pos;
    if (i < n && v[i]) {
      memcpy(d + pos, v[i], strlen(v[i]));
      pos += strlen(v[i]);
    }
  }
  *offsets = o;
  *data = d;
}

static struct ArrowArray *tw_str_array(const char *fmt_kind, int n, const char *const *v,
                                       const char *validity, int64_t nulls) {
  void *o, *d;
  tw_strings(n, v, &o, &d, fmt_kind[0] == 'U' || fmt_kind[0] == 'Z');
  return tw_a(n, nulls, 0, 3, 0, validity ? tw_bits(validity) : NULL, o, d);
}

/* A view-type array (utf8_view/binary_view): long strings go to variadic buffers, alternating
 * between two buffers so that more than one is used. */
static struct ArrowArray *tw_view_array(int n, const char *const *v, const char *validity,
                                        int64_t nulls) {
  uint8_t *views = calloc((size_t)n, 16);
  char *bufs[2];
  int64_t sizes[2] = {0, 0};
  bufs[0] = malloc(4096);
  bufs[1] = malloc(4096);
  int which = 0;
  for (int i = 0; i < n; i++) {
    const char *s = v[i] ? v[i] : "";
    int32_t len = (int32_t)strlen(s);
    memcpy(views + 16 * i, &len, 4);
    if (len <= 12) {
      memcpy(views + 16 * i + 4, s, (size_t)len);
    } else {
      int32_t bi = which, off = (int32_t)sizes[which];
      memcpy(views + 16 * i + 4, s, 4);
      memcpy(views + 16 * i + 8, &bi, 4);
      memcpy(views + 16 * i + 12, &off, 4);
      memcpy(bufs[which] + off, s, (size_t)len);
      sizes[which] += len;
      which ^= 1;
    }
  }
  return tw_a(n, nulls, 0, 5, 0, validity ? tw_bits(validity) : NULL, (void *)views, bufs[0],
              bufs[1], TW_BUF(int64_t, sizes[0], sizes[1]));
}

/* One-column schema and batch. */
static void tw_one(twc_out *o, struct ArrowSchema *field, struct ArrowArray *col) {
  tw_move_s(tw_s("+s", "", 0, 1, field), &o->schema);
  tw_move_a(tw_a(col->length, 0, 0, 1, 1, NULL, col), &o->batches[0]);
  o->n_batches = 1;
}

/* Five rows, the second null. */
static void tw_fixed(twc_out *o, const char *fmt, void *data) {
  tw_one(o, TW_F(fmt, "v"), tw_a(5, 1, 0, 2, 0, tw_bits("10111"), data));
}

/* ---- cases ---------------------------------------------------------------------------- */
static void c_null(twc_out *o) {
  tw_one(o, TW_F("n", "v"), tw_a(3, 3, 0, 0, 0));
}
static void c_bool(twc_out *o) {
  tw_one(o, TW_F("b", "v"), tw_a(9, 2, 0, 2, 0, tw_bits("101111101"), tw_bits("100100110")));
}
static void c_int8(twc_out *o) {
  tw_fixed(o, "c", TW_BUF(int8_t, 1, 0, -3, 127, -128));
}
static void c_uint8(twc_out *o) {
  tw_fixed(o, "C", TW_BUF(uint8_t, 1, 0, 3, 255, 0));
}
static void c_int16(twc_out *o) {
  tw_fixed(o, "s", TW_BUF(int16_t, 1, 0, -3, 32767, -32768));
}
static void c_uint16(twc_out *o) {
  tw_fixed(o, "S", TW_BUF(uint16_t, 1, 0, 3, 65535, 0));
}
static void c_int32(twc_out *o) {
  tw_fixed(o, "i", TW_BUF(int32_t, 1, 0, -3, INT32_MAX, INT32_MIN));
}
static void c_uint32(twc_out *o) {
  tw_fixed(o, "I", TW_BUF(uint32_t, 1, 0, 3, UINT32_MAX, 0));
}
static void c_int64(twc_out *o) {
  tw_fixed(o, "l", TW_BUF(int64_t, 1, 0, -3, INT64_MAX, INT64_MIN));
}
static void c_uint64(twc_out *o) {
  tw_fixed(o, "L", TW_BUF(uint64_t, 1, 0, 3, UINT64_MAX, 0));
}
static void c_float16(twc_out *o) {
  tw_fixed(o, "e", TW_BUF(uint16_t, 0x3C00, 0, 0xC100, 0x7BFF, 0));
}
static void c_float32(twc_out *o) {
  tw_fixed(o, "f", TW_BUF(float, 1.5f, 0, -2.25f, 1e30f, 0));
}
static void c_float64(twc_out *o) {
  tw_fixed(o, "g", TW_BUF(double, 1.5, 0, -2.25, 1e300, 0));
}
static void c_decimal32(twc_out *o) {
  tw_fixed(o, "d:9,2,32", TW_BUF(int32_t, 12345, 0, -1, 999999999, 0));
}
static void c_decimal64(twc_out *o) {
  tw_fixed(o, "d:18,3,64", TW_BUF(int64_t, 12345, 0, -1, 999999999999999999LL, 0));
}
static void c_decimal128(twc_out *o) {
  tw_fixed(o, "d:38,10", TW_BUF(int64_t, 12345, 0, 0, 0, -1, -1, 0, 1, 0, 0));
}
static void c_decimal256(twc_out *o) {
  tw_fixed(o, "d:76,5,256",
           TW_BUF(int64_t, 12345, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 1, 0, 0, 0, 0));
}
static void c_date32(twc_out *o) {
  tw_fixed(o, "tdD", TW_BUF(int32_t, 0, 0, 19000, -1, 1));
}
static void c_date64(twc_out *o) {
  tw_fixed(o, "tdm", TW_BUF(int64_t, 0, 0, 19000LL * 86400000, -86400000, 86400000));
}
static void c_time32s(twc_out *o) {
  tw_fixed(o, "tts", TW_BUF(int32_t, 0, 0, 3600, 86399, 1));
}
static void c_time32ms(twc_out *o) {
  tw_fixed(o, "ttm", TW_BUF(int32_t, 0, 0, 3600000, 86399999, 1));
}
static void c_time64us(twc_out *o) {
  tw_fixed(o, "ttu", TW_BUF(int64_t, 0, 0, 3600000000LL, 86399999999LL, 1));
}
static void c_time64ns(twc_out *o) {
  tw_fixed(o, "ttn", TW_BUF(int64_t, 0, 0, 3600000000000LL, 86399999999999LL, 1));
}
#define TS_VALUES TW_BUF(int64_t, 0, 0, 1700000000, -1, 1)
static void c_ts_s(twc_out *o) {
  tw_fixed(o, "tss:", TS_VALUES);
}
static void c_ts_ms(twc_out *o) {
  tw_fixed(o, "tsm:", TS_VALUES);
}
static void c_ts_us(twc_out *o) {
  tw_fixed(o, "tsu:", TS_VALUES);
}
static void c_ts_ns(twc_out *o) {
  tw_fixed(o, "tsn:", TS_VALUES);
}
static void c_ts_us_utc(twc_out *o) {
  tw_fixed(o, "tsu:UTC", TS_VALUES);
}
static void c_ts_ns_tz(twc_out *o) {
  tw_fixed(o, "tsn:America/New_York", TS_VALUES);
}
static void c_dur_s(twc_out *o) {
  tw_fixed(o, "tDs", TS_VALUES);
}
static void c_dur_ms(twc_out *o) {
  tw_fixed(o, "tDm", TS_VALUES);
}
static void c_dur_us(twc_out *o) {
  tw_fixed(o, "tDu", TS_VALUES);
}
static void c_dur_ns(twc_out *o) {
  tw_fixed(o, "tDn", TS_VALUES);
}
static void c_interval_months(twc_out *o) {
  tw_fixed(o, "tiM", TW_BUF(int32_t, 1, 0, -2, 12, 0));
}
static void c_interval_day_time(twc_out *o) {
  tw_fixed(o, "tiD", TW_BUF(int32_t, 1, 1000, 0, 0, -2, 5, 12, 0, 0, 0));
}
static void c_interval_mdn(twc_out *o) {
  struct {
    int32_t m, d;
    int64_t ns;
  } v[5] = {{1, 2, 3}, {0, 0, 0}, {-1, -2, -3}, {12, 31, 1000000000}, {0, 0, 0}};
  tw_fixed(o, "tin", tw_copy(v, sizeof v));
}
static void c_fixed_binary(twc_out *o) {
  tw_fixed(o, "w:3", tw_copy("abc\0\0\0xyz123   ", 15));
}

static const char *const tw_strs[5] = {"hello", NULL, "", "w\xc3\xb6rld",
                                       "a string that is definitely longer than twelve bytes"};
static void c_utf8(twc_out *o) {
  tw_one(o, TW_F("u", "v"), tw_str_array("u", 5, tw_strs, "10111", 1));
}
static void c_large_utf8(twc_out *o) {
  tw_one(o, TW_F("U", "v"), tw_str_array("U", 5, tw_strs, "10111", 1));
}
static void c_binary(twc_out *o) {
  tw_one(o, TW_F("z", "v"), tw_str_array("z", 5, tw_strs, "10111", 1));
}
static void c_large_binary(twc_out *o) {
  tw_one(o, TW_F("Z", "v"), tw_str_array("Z", 5, tw_strs, "10111", 1));
}
static const char *const tw_view_strs[6] = {"short",
                                            NULL,
                                            "this string is longer than twelve",
                                            "",
                                            "another long string in buffer two",
                                            "third long string back in buffer one"};
static void c_utf8_view(twc_out *o) {
  tw_one(o, TW_F("vu", "v"), tw_view_array(6, tw_view_strs, "101111", 1));
}
static void c_binary_view(twc_out *o) {
  tw_one(o, TW_F("vz", "v"), tw_view_array(6, tw_view_strs, "101111", -1));
}

/* [[1,2], None, [], [3], [4, None, 6]] */
static void c_list(twc_out *o) {
  struct ArrowArray *child =
      tw_a(6, 1, 0, 2, 0, tw_bits("111101"), TW_BUF(int32_t, 1, 2, 3, 4, 0, 6));
  tw_one(o, tw_s("+l", "v", ARROW_FLAG_NULLABLE, 1, TW_F("i", "item")),
         tw_a(5, 1, 0, 2, 1, tw_bits("10111"), TW_BUF(int32_t, 0, 2, 2, 2, 3, 6), child));
}
/* [["a","bb"], None, [], ["ccc"], ["d"]] */
static void c_large_list(twc_out *o) {
  static const char *const s[4] = {"a", "bb", "ccc", "d"};
  struct ArrowArray *child = tw_str_array("u", 4, s, NULL, 0);
  tw_one(o, tw_s("+L", "v", ARROW_FLAG_NULLABLE, 1, TW_F("u", "item")),
         tw_a(5, 1, 0, 2, 1, tw_bits("10111"), TW_BUF(int64_t, 0, 2, 2, 2, 3, 4), child));
}
/* [[1,2], None, [3,4], [5,None], [7,8]] */
static void c_fixed_size_list(twc_out *o) {
  struct ArrowArray *child =
      tw_a(10, 1, 0, 2, 0, tw_bits("1111101111"), TW_BUF(int16_t, 1, 2, 0, 0, 3, 4, 5, 0, 7, 8));
  tw_one(o, tw_s("+w:2", "v", ARROW_FLAG_NULLABLE, 1, TW_F("s", "item")),
         tw_a(5, 1, 0, 1, 1, tw_bits("10111"), child));
}
/* [{a:1,b:"x"}, None, {a:None,b:"z"}, {a:4,b:None}, {a:5,b:"w"}] */
static struct ArrowArray *tw_struct_array(void) {
  static const char *const s[5] = {"x", "", "z", "", "w"};
  struct ArrowArray *a = tw_a(5, 2, 0, 2, 0, tw_bits("10011"), TW_BUF(int32_t, 1, 0, 0, 4, 5));
  struct ArrowArray *b = tw_str_array("u", 5, s, "10101", 2);
  return tw_a(5, 1, 0, 1, 2, tw_bits("10111"), a, b);
}
static struct ArrowSchema *tw_struct_schema(const char *name) {
  return tw_s("+s", name, ARROW_FLAG_NULLABLE, 2, TW_F("i", "a"), TW_F("u", "b"));
}
static void c_struct(twc_out *o) {
  tw_one(o, tw_struct_schema("v"), tw_struct_array());
}
/* [{"a":1,"b":2}, None, {}, {"c":None}, {"d":4}] */
static void c_map(twc_out *o) {
  static const char *const k[4] = {"a", "b", "c", "d"};
  struct ArrowArray *keys = tw_str_array("u", 4, k, NULL, 0);
  struct ArrowArray *vals = tw_a(4, 1, 0, 2, 0, tw_bits("1101"), TW_BUF(int32_t, 1, 2, 0, 4));
  struct ArrowArray *entries = tw_a(4, 0, 0, 1, 2, NULL, keys, vals);
  struct ArrowSchema *es = tw_s("+s", "entries", 0, 2, tw_s("u", "key", 0, 0), TW_F("i", "value"));
  tw_one(o, tw_s("+m", "v", ARROW_FLAG_NULLABLE, 1, es),
         tw_a(5, 1, 0, 2, 1, tw_bits("10111"), TW_BUF(int32_t, 0, 2, 2, 2, 3, 4), entries));
}
/* sparse union<i: int32 = 0, s: utf8 = 1>: [1, "b", None(int), "d", 5] */
static void c_sparse_union(twc_out *o) {
  static const char *const s[5] = {"", "b", "", "d", ""};
  struct ArrowArray *ci = tw_a(5, 1, 0, 2, 0, tw_bits("11011"), TW_BUF(int32_t, 1, 0, 0, 0, 5));
  struct ArrowArray *cs = tw_str_array("u", 5, s, NULL, 0);
  tw_one(o, tw_s("+us:0,1", "v", 0, 2, TW_F("i", "i"), TW_F("u", "s")),
         tw_a(5, 0, 0, 1, 2, TW_BUF(int8_t, 0, 1, 0, 1, 0), ci, cs));
}
/* dense union<i: int32 = 5, s: utf8 = 7>: [1, "b", 3, "d", 5] */
static void c_dense_union(twc_out *o) {
  static const char *const s[2] = {"b", "d"};
  struct ArrowArray *ci = tw_a(3, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 1, 3, 5));
  struct ArrowArray *cs = tw_str_array("u", 2, s, NULL, 0);
  tw_one(
      o, tw_s("+ud:5,7", "v", 0, 2, TW_F("i", "i"), TW_F("u", "s")),
      tw_a(5, 0, 0, 2, 2, TW_BUF(int8_t, 5, 7, 5, 7, 5), TW_BUF(int32_t, 0, 0, 1, 1, 2), ci, cs));
}

static struct ArrowArray *tw_dict_array(int n_idx, const int8_t *idx, const char *validity,
                                        int n_dict, const char *const *dict) {
  struct ArrowArray *a =
      tw_a(n_idx, -1, 0, 2, 0, validity ? tw_bits(validity) : NULL, tw_copy(idx, (size_t)n_idx));
  a->dictionary = tw_str_array("u", n_dict, dict, NULL, 0);
  return a;
}
/* Four batches: a dictionary, the same one again (not re-sent), a grown one (a delta) and a
 * different one (a replacement). */
static void c_dictionary(twc_out *o) {
  static const char *const d1[3] = {"red", "green", "blue"};
  static const char *const d2[4] = {"red", "green", "blue", "cyan"};
  static const char *const d3[2] = {"x", "y"};
  tw_move_s(tw_s("+s", "", 0, 1, tw_dict_s("c", "v", TW_F("u", ""))), &o->schema);
  tw_move_a(tw_a(5, 0, 0, 1, 1, NULL, tw_dict_array(5, (int8_t[]){0, 1, 2, 0, 0}, "11101", 3, d1)),
            &o->batches[0]);
  tw_move_a(tw_a(2, 0, 0, 1, 1, NULL, tw_dict_array(2, (int8_t[]){2, 1}, NULL, 3, d1)),
            &o->batches[1]);
  tw_move_a(tw_a(2, 0, 0, 1, 1, NULL, tw_dict_array(2, (int8_t[]){3, 0}, NULL, 4, d2)),
            &o->batches[2]);
  tw_move_a(tw_a(2, 0, 0, 1, 1, NULL, tw_dict_array(2, (int8_t[]){1, 0}, NULL, 2, d3)),
            &o->batches[3]);
  o->n_batches = 4;
  o->stream_only = true;
}
/* The first three batches of c_dictionary (no replacement): also valid as an IPC file. */
static void c_dictionary_delta(twc_out *o) {
  c_dictionary(o);
  o->batches[3].release(&o->batches[3]);
  o->n_batches = 3;
  o->stream_only = false;
}
/* list<dictionary<int16, utf8>>: [["a","b"], ["b"], None] */
static void c_list_of_dict(twc_out *o) {
  static const char *const d[2] = {"a", "b"};
  struct ArrowArray *idx = tw_a(3, 0, 0, 2, 0, NULL, TW_BUF(int16_t, 0, 1, 1));
  idx->dictionary = tw_str_array("u", 2, d, NULL, 0);
  tw_one(o, tw_s("+l", "v", ARROW_FLAG_NULLABLE, 1, tw_dict_s("s", "item", TW_F("u", ""))),
         tw_a(3, 1, 0, 2, 1, tw_bits("110"), TW_BUF(int32_t, 0, 2, 3, 3), idx));
}

/* run_end_encoded<int32, utf8>: ["a", "a", None, "c", "c", "c"] */
static void c_run_end_encoded(twc_out *o) {
  static const char *const v[3] = {"a", "", "c"};
  struct ArrowArray *ends = tw_a(3, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 2, 3, 6));
  struct ArrowArray *vals = tw_str_array("u", 3, v, "101", 1);
  tw_one(o,
         tw_s("+r", "v", ARROW_FLAG_NULLABLE, 2, tw_s("i", "run_ends", 0, 0), TW_F("u", "values")),
         tw_a(6, 0, 0, 0, 2, ends, vals));
}
/* list_view<int32> over [1,2,3,4,5]: [[4,5], None, [1], [2,3,4]] */
static void c_list_view(twc_out *o) {
  struct ArrowArray *child = tw_a(5, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 1, 2, 3, 4, 5));
  tw_one(o, tw_s("+vl", "v", ARROW_FLAG_NULLABLE, 1, TW_F("i", "item")),
         tw_a(4, 1, 0, 3, 1, tw_bits("1011"), TW_BUF(int32_t, 3, 0, 0, 1),
              TW_BUF(int32_t, 2, 0, 1, 3), child));
}
static void c_large_list_view(twc_out *o) {
  struct ArrowArray *child = tw_a(5, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 1, 2, 3, 4, 5));
  tw_one(o, tw_s("+vL", "v", ARROW_FLAG_NULLABLE, 1, TW_F("i", "item")),
         tw_a(4, 1, 0, 3, 1, tw_bits("1011"), TW_BUF(int64_t, 3, 0, 0, 1),
              TW_BUF(int64_t, 2, 0, 1, 3), child));
}

/* ---- slices: expected values are the logical slice -------------------------------------- */
/* int32 [0..7] with nulls at 1 and 4, sliced [3, 7): [3, None, 5, 6] */
static void c_sliced_int32(twc_out *o) {
  tw_one(o, TW_F("i", "v"),
         tw_a(4, -1, 3, 2, 0, tw_bits("10110111"), TW_BUF(int32_t, 0, 1, 2, 3, 4, 5, 6, 7)));
}
/* bool bits 0..15, sliced [5, 14) */
static void c_sliced_bool(twc_out *o) {
  tw_one(o, TW_F("b", "v"),
         tw_a(9, -1, 5, 2, 0, tw_bits("1111101101111111"), tw_bits("0101010110011001")));
}
/* utf8 ["aa","b",None,"cccc","",None,"dd"] sliced [2, 6): [None, "cccc", "", None] */
static void c_sliced_utf8(twc_out *o) {
  static const char *const s[7] = {"aa", "b", NULL, "cccc", "", NULL, "dd"};
  struct ArrowArray *a = tw_str_array("u", 7, s, "1101101", -1);
  a->offset = 2;
  a->length = 4;
  tw_one(o, TW_F("u", "v"), a);
}
/* list<int32> [[1],[2,3],None,[4,5,6],[7]] sliced [1, 4): [[2,3], None, [4,5,6]] */
static void c_sliced_list(twc_out *o) {
  struct ArrowArray *child = tw_a(7, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 1, 2, 3, 4, 5, 6, 7));
  tw_one(o, tw_s("+l", "v", ARROW_FLAG_NULLABLE, 1, TW_F("i", "item")),
         tw_a(3, -1, 1, 2, 1, tw_bits("11011"), TW_BUF(int32_t, 0, 1, 3, 3, 6, 7), child));
}
/* the struct of c_struct sliced [1, 5) */
static void c_sliced_struct(twc_out *o) {
  struct ArrowArray *a = tw_struct_array();
  a->offset = 1;
  a->length = 4;
  a->null_count = -1;
  tw_one(o, tw_struct_schema("v"), a);
}
/* fixed_size_list of c_fixed_size_list sliced [3, 5): [[5,None],[7,8]] */
static void c_sliced_fsl(twc_out *o) {
  c_fixed_size_list(o);
  struct ArrowArray *col = o->batches[0].children[0];
  col->offset = 3;
  col->length = 2;
  col->null_count = -1;
  o->batches[0].length = 2;
}
/* dense union of c_dense_union sliced [2, 5): [3, "d", 5] */
static void c_sliced_dense_union(twc_out *o) {
  c_dense_union(o);
  struct ArrowArray *col = o->batches[0].children[0];
  col->offset = 2;
  col->length = 3;
  o->batches[0].length = 3;
}
/* sparse union of c_sparse_union sliced [1, 4): ["b", None, "d"] */
static void c_sliced_sparse_union(twc_out *o) {
  c_sparse_union(o);
  struct ArrowArray *col = o->batches[0].children[0];
  col->offset = 1;
  col->length = 3;
  o->batches[0].length = 3;
}
/* a batch (struct) with offset 2 and length 3 over columns int64 [0..5] and utf8 */
static void c_sliced_batch(twc_out *o) {
  static const char *const s[6] = {"z0", "z1", "z2", NULL, "z4", "z5"};
  tw_move_s(tw_s("+s", "", 0, 2, TW_F("l", "n"), TW_F("u", "s")), &o->schema);
  tw_move_a(tw_a(3, 0, 2, 1, 2, NULL, tw_a(6, 0, 0, 2, 0, NULL, TW_BUF(int64_t, 0, 1, 2, 3, 4, 5)),
                 tw_str_array("u", 6, s, "111011", 1)),
            &o->batches[0]);
  o->n_batches = 1;
}

/* c_run_end_encoded sliced [1, 5): ["a", None, "c", "c"] */
static void c_sliced_ree(twc_out *o) {
  c_run_end_encoded(o);
  struct ArrowArray *col = o->batches[0].children[0];
  col->offset = 1;
  col->length = 4;
  o->batches[0].length = 4;
}
/* c_list_view sliced [1, 4): [None, [1], [2,3,4]] */
static void c_sliced_list_view(twc_out *o) {
  c_list_view(o);
  struct ArrowArray *col = o->batches[0].children[0];
  col->offset = 1;
  col->length = 3;
  col->null_count = -1;
  o->batches[0].length = 3;
}

/* ---- shapes ------------------------------------------------------------------------------ */
static void c_zero_rows(twc_out *o) {
  tw_move_s(tw_s("+s", "", 0, 2, TW_F("i", "a"), TW_F("u", "b")), &o->schema);
  tw_move_a(tw_a(0, 0, 0, 1, 2, NULL, tw_a(0, 0, 0, 2, 0, NULL, NULL),
                 tw_a(0, 0, 0, 3, 0, NULL, NULL, NULL)),
            &o->batches[0]);
  o->n_batches = 1;
}
static void c_zero_columns(twc_out *o) {
  tw_move_s(tw_s("+s", "", 0, 0), &o->schema);
  tw_move_a(tw_a(3, 0, 0, 1, 0, NULL), &o->batches[0]);
  o->n_batches = 1;
}
static void c_schema_only(twc_out *o) {
  tw_move_s(tw_s("+s", "", 0, 1, TW_F("i", "a")), &o->schema);
  o->n_batches = 0;
}
static void c_multi_batch(twc_out *o) {
  tw_move_s(tw_s("+s", "", 0, 1, TW_F("l", "a")), &o->schema);
  for (int b = 0; b < 3; b++) {
    int64_t *v = malloc(8 * 100);
    for (int i = 0; i < 100; i++) v[i] = b * 100 + i;
    tw_move_a(tw_a(100, 0, 0, 1, 1, NULL, tw_a(100, 0, 0, 2, 0, NULL, v)), &o->batches[b]);
  }
  o->n_batches = 3;
}
/* 1 MiB and 64 KiB strings */
static void c_long_strings(twc_out *o) {
  char *big = malloc((1 << 20) + 1), *mid = malloc((1 << 16) + 1);
  for (int i = 0; i < (1 << 20); i++) big[i] = (char)('a' + i % 26);
  for (int i = 0; i < (1 << 16); i++) mid[i] = (char)('A' + i % 26);
  big[1 << 20] = mid[1 << 16] = '\0';
  const char *s[3] = {big, "x", mid};
  tw_one(o, TW_F("u", "v"), tw_str_array("u", 3, s, NULL, 0));
  free(big);
  free(mid);
}
/* list<list<...<int32>>> 40 levels deep, one row holding [[...[7]...]] */
#define TW_DEEP 40
static void c_deep_nesting(twc_out *o) {
  struct ArrowSchema *s = TW_F("i", "item");
  struct ArrowArray *a = tw_a(1, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 7));
  for (int i = 0; i < TW_DEEP; i++) {
    s = tw_s("+l", i == TW_DEEP - 1 ? "v" : "item", ARROW_FLAG_NULLABLE, 1, s);
    a = tw_a(1, 0, 0, 2, 1, NULL, TW_BUF(int32_t, 0, 1), a);
  }
  tw_one(o, s, a);
}
static void c_metadata(twc_out *o) {
  struct ArrowSchema *f = TW_F("i", "v");
  tw_md(f, 1, "unit", "metres");
  tw_one(o, f, tw_a(2, 0, 0, 2, 0, NULL, TW_BUF(int32_t, 1, 2)));
  tw_md(&o->schema, 2, "origin", "mallard", "empty", "");
}

typedef struct twc_case {
  const char *name;
  void (*build)(twc_out *);
} twc_case;

#define TWC(n)                                                                                     \
  { #n, c_##n }
static const twc_case twc_cases[] = {
    TWC(null),
    TWC(bool),
    TWC(int8),
    TWC(uint8),
    TWC(int16),
    TWC(uint16),
    TWC(int32),
    TWC(uint32),
    TWC(int64),
    TWC(uint64),
    TWC(float16),
    TWC(float32),
    TWC(float64),
    TWC(decimal32),
    TWC(decimal64),
    TWC(decimal128),
    TWC(decimal256),
    TWC(date32),
    TWC(date64),
    TWC(time32s),
    TWC(time32ms),
    TWC(time64us),
    TWC(time64ns),
    TWC(ts_s),
    TWC(ts_ms),
    TWC(ts_us),
    TWC(ts_ns),
    TWC(ts_us_utc),
    TWC(ts_ns_tz),
    TWC(dur_s),
    TWC(dur_ms),
    TWC(dur_us),
    TWC(dur_ns),
    TWC(interval_months),
    TWC(interval_day_time),
    TWC(interval_mdn),
    TWC(fixed_binary),
    TWC(utf8),
    TWC(large_utf8),
    TWC(binary),
    TWC(large_binary),
    TWC(utf8_view),
    TWC(binary_view),
    TWC(list),
    TWC(large_list),
    TWC(fixed_size_list),
    TWC(struct),
    TWC(map),
    TWC(sparse_union),
    TWC(dense_union),
    TWC(dictionary),
    TWC(dictionary_delta),
    TWC(list_of_dict),
    TWC(sliced_int32),
    TWC(sliced_bool),
    TWC(sliced_utf8),
    TWC(sliced_list),
    TWC(sliced_struct),
    TWC(sliced_fsl),
    TWC(sliced_dense_union),
    TWC(sliced_sparse_union),
    TWC(sliced_batch),
    TWC(zero_rows),
    TWC(zero_columns),
    TWC(schema_only),
    TWC(multi_batch),
    TWC(long_strings),
    TWC(deep_nesting),
    TWC(metadata),
    TWC(run_end_encoded),
    TWC(list_view),
    TWC(large_list_view),
    TWC(sliced_ree),
    TWC(sliced_list_view),
};
#define TWC_N_CASES (sizeof twc_cases / sizeof twc_cases[0])

static void twc_release(twc_out *o) {
  if (o->schema.release) o->schema.release(&o->schema);
  for (int i = 0; i < o->n_batches; i++)
    if (o->batches[i].release) o->batches[i].release(&o->batches[i]);
  memset(o, 0, sizeof *o);
}

#endif /* TEST_WRITE_CASES_H */
