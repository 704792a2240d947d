/* A strict RFC 8259 JSON parser (bounded depth and size, UTF-8 validated, nodes in one arena)
 * and the growable string writer used for action results and log lines. */
#include "common/mlr_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Control messages are small; anything larger is a mistake or an attack. */
#define MLR_JSON_MAX_DEPTH 64
#define MLR_JSON_MAX_INPUT ((size_t)64 * 1024 * 1024)
#define MLR_JSON_BLOCK_MIN 4096

/* Every node and string of a document lives in a chain of blocks freed at once. */
typedef struct json_block {
  struct json_block *next;
  size_t used;
  size_t cap;
  /* max_align_t keeps the payload suitably aligned for mlr_json nodes. */
  max_align_t data[];
} json_block;

struct mlr_json_doc {
  json_block *blocks;
  mlr_json *root;
};

typedef struct json_parser {
  const unsigned char *p;
  const unsigned char *start;
  const unsigned char *end;
  mlr_json_doc *doc;
  mlr_error *err;
  mlr_code code;
} json_parser;

static void *doc_alloc(mlr_json_doc *doc, size_t n) {
  const size_t align = sizeof(max_align_t);
  if (n > SIZE_MAX - align) return NULL;
  n = (n + align - 1) / align * align;
  json_block *b = doc->blocks;
  if (b == NULL || b->cap - b->used < n) {
    size_t cap = n > MLR_JSON_BLOCK_MIN ? n : MLR_JSON_BLOCK_MIN;
    if (b != NULL && b->cap < MLR_JSON_MAX_INPUT && cap < b->cap * 2) cap = b->cap * 2;
    if (cap > SIZE_MAX - sizeof(json_block)) return NULL;
    json_block *nb = malloc(sizeof(json_block) + cap);
    if (nb == NULL) return NULL;
    nb->next = doc->blocks;
    nb->used = 0;
    nb->cap = cap;
    doc->blocks = nb;
    b = nb;
  }
  void *out = (char *)b->data + b->used;
  b->used += n;
  return out;
}

static mlr_code fail(json_parser *ps, mlr_code code, const char *what) {
  if (ps->code == MALLARD_OK) {
    ps->code = code;
    if (code == MALLARD_RESOURCE_EXHAUSTED) {
      mlr_error_set(ps->err, code, "JSON: %s", what);
    } else {
      mlr_error_set(ps->err, code, "invalid JSON at byte %zu: %s", (size_t)(ps->p - ps->start),
                    what);
    }
  }
  return ps->code;
}

static mlr_code oom(json_parser *ps) {
  return fail(ps, MALLARD_RESOURCE_EXHAUSTED, "out of memory while parsing");
}

static void skip_ws(json_parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
    ps->p++;
  }
}

static mlr_json *new_node(json_parser *ps, mlr_json_type type) {
  mlr_json *n = doc_alloc(ps->doc, sizeof *n);
  if (n == NULL) {
    oom(ps);
    return NULL;
  }
  memset(n, 0, sizeof *n);
  n->type = type;
  return n;
}

static int hex_val(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_hex4(json_parser *ps, unsigned *out) {
  if (ps->end - ps->p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hex_val(ps->p[i]);
    if (h < 0) return -1;
    v = v * 16 + (unsigned)h;
  }
  ps->p += 4;
  *out = v;
  return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not valid UTF-8. */
static size_t utf8_seq_len(const unsigned char *s, const unsigned char *end) {
  unsigned char c = s[0];
  size_t avail = (size_t)(end - s);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
    if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) {
      return 0;
    }
    if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
    if (c == 0xF4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
    return 4;
  }
  return 0;
}

bool mlr_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    size_t n = utf8_seq_len(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

static size_t utf8_encode(unsigned cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Parses a string literal (ps->p at the opening quote). The decoded form is never longer than
 * the literal, so one allocation of the literal's length suffices. */
static mlr_code parse_string(json_parser *ps, char **out, size_t *out_len) {
  ps->p++; /* opening quote */
  const unsigned char *q = ps->p;
  /* First pass: find the closing quote to size the buffer. */
  while (q < ps->end && *q != '"') {
    if (*q == '\\') q++;
    q++;
  }
  if (q >= ps->end) return fail(ps, MALLARD_INVALID_ARGUMENT, "unterminated string");
  size_t cap = (size_t)(q - ps->p) + 1;
  char *buf = doc_alloc(ps->doc, cap);
  if (buf == NULL) return oom(ps);
  size_t n = 0;
  while (ps->p < ps->end && *ps->p != '"') {
    unsigned char c = *ps->p;
    if (c < 0x20) return fail(ps, MALLARD_INVALID_ARGUMENT, "control character in string");
    if (c == '\\') {
      ps->p++;
      if (ps->p >= ps->end) return fail(ps, MALLARD_INVALID_ARGUMENT, "unterminated escape");
      unsigned char e = *ps->p++;
      switch (e) {
      case '"':
        buf[n++] = '"';
        break;
      case '\\':
        buf[n++] = '\\';
        break;
      case '/':
        buf[n++] = '/';
        break;
      case 'b':
        buf[n++] = '\b';
        break;
      case 'f':
        buf[n++] = '\f';
        break;
      case 'n':
        buf[n++] = '\n';
        break;
      case 'r':
        buf[n++] = '\r';
        break;
      case 't':
        buf[n++] = '\t';
        break;
      case 'u': {
        unsigned cp;
        if (read_hex4(ps, &cp) != 0) {
          return fail(ps, MALLARD_INVALID_ARGUMENT, "bad \\u escape");
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail(ps, MALLARD_INVALID_ARGUMENT, "unpaired low surrogate");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
            return fail(ps, MALLARD_INVALID_ARGUMENT, "unpaired high surrogate");
          }
          ps->p += 2;
          if (read_hex4(ps, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
            return fail(ps, MALLARD_INVALID_ARGUMENT, "bad surrogate pair");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        /* \uXXXX is 6 bytes and encodes to at most 3; a pair is 12 bytes for 4. */
        n += utf8_encode(cp, buf + n);
        break;
      }
      default:
        ps->p--;
        return fail(ps, MALLARD_INVALID_ARGUMENT, "bad escape");
      }
      continue;
    }
    size_t sl = utf8_seq_len(ps->p, ps->end);
    if (sl == 0) return fail(ps, MALLARD_INVALID_ARGUMENT, "invalid UTF-8 in string");
    memcpy(buf + n, ps->p, sl);
    n += sl;
    ps->p += sl;
  }
  if (ps->p >= ps->end) return fail(ps, MALLARD_INVALID_ARGUMENT, "unterminated string");
  ps->p++; /* closing quote */
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  return MALLARD_OK;
}

static mlr_code parse_number(json_parser *ps, mlr_json *node) {
  const unsigned char *s = ps->p;
  const unsigned char *q = s;
  bool neg = false, integral = true;
  if (q < ps->end && *q == '-') {
    neg = true;
    q++;
  }
  if (q >= ps->end || *q < '0' || *q > '9') {
    return fail(ps, MALLARD_INVALID_ARGUMENT, "bad number");
  }
  if (*q == '0') {
    q++;
    if (q < ps->end && *q >= '0' && *q <= '9') {
      return fail(ps, MALLARD_INVALID_ARGUMENT, "leading zero in number");
    }
  } else {
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  const unsigned char *int_end = q;
  if (q < ps->end && *q == '.') {
    integral = false;
    q++;
    if (q >= ps->end || *q < '0' || *q > '9') {
      ps->p = q;
      return fail(ps, MALLARD_INVALID_ARGUMENT, "digit expected after '.'");
    }
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    integral = false;
    q++;
    if (q < ps->end && (*q == '+' || *q == '-')) q++;
    if (q >= ps->end || *q < '0' || *q > '9') {
      ps->p = q;
      return fail(ps, MALLARD_INVALID_ARGUMENT, "digit expected in exponent");
    }
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  size_t len = (size_t)(q - s);
  char small[64];
  char *tmp = small;
  if (len >= sizeof small) {
    tmp = malloc(len + 1);
    if (tmp == NULL) return oom(ps);
  }
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  errno = 0;
  node->number = strtod(tmp, NULL);
  if (tmp != small) free(tmp);
  if (integral) {
    /* Accumulate negatively so INT64_MIN fits. */
    int64_t v = 0;
    bool fits = true;
    for (const unsigned char *d = neg ? s + 1 : s; d < int_end; d++) {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_sub_overflow(v, (int64_t)(*d - '0'), &v)) {
        fits = false;
        break;
      }
    }
    if (fits && !neg) {
      if (v == INT64_MIN) {
        fits = false;
      } else {
        v = -v;
      }
    }
    node->is_integer = fits;
    node->integral = true;
    node->integer = fits ? v : 0;
  }
  if (!isfinite(node->number)) {
    return fail(ps, MALLARD_INVALID_ARGUMENT, "number out of range");
  }
  ps->p = q;
  return MALLARD_OK;
}

static int match_lit(json_parser *ps, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0) return -1;
  ps->p += n;
  return 0;
}

static mlr_code parse_value(json_parser *ps, int depth, mlr_json **out);

static int key_cmp(const void *a, const void *b) {
  const mlr_json *x = *(const mlr_json *const *)a, *y = *(const mlr_json *const *)b;
  if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
  return memcmp(x->key, y->key, x->key_len);
}

/* An object naming a member twice is refused: parsers disagree on which one counts (first,
 * last), so accepting it would let two readers of one request act on different values. Sorting
 * keeps the check O(n log n) for any object. */
static mlr_code check_unique_keys(json_parser *ps, const mlr_json *node) {
  if (node->n_children < 2) return MALLARD_OK;
  const mlr_json **keys = malloc(node->n_children * sizeof *keys);
  if (keys == NULL) return fail(ps, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  size_t n = 0;
  for (const mlr_json *c = node->child; c != NULL; c = c->next) keys[n++] = c;
  qsort(keys, n, sizeof *keys, key_cmp);
  const mlr_json *dup = NULL;
  for (size_t i = 1; i < n && dup == NULL; i++)
    if (key_cmp(&keys[i - 1], &keys[i]) == 0) dup = keys[i];
  free(keys);
  if (dup == NULL) return MALLARD_OK;
  char what[96];
  snprintf(what, sizeof what, "duplicate key \"%.48s\" in an object", dup->key);
  return fail(ps, MALLARD_INVALID_ARGUMENT, what);
}

static mlr_code parse_container(json_parser *ps, int depth, bool is_object, mlr_json *node) {
  const char close = is_object ? '}' : ']';
  ps->p++; /* [ or { */
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return MALLARD_OK;
  }
  mlr_json *last = NULL;
  for (;;) {
    char *key = NULL;
    size_t key_len = 0;
    skip_ws(ps);
    if (is_object) {
      if (ps->p >= ps->end || *ps->p != '"') {
        return fail(ps, MALLARD_INVALID_ARGUMENT, "object key (string) expected");
      }
      MLR_RETURN_NOT_OK(parse_string(ps, &key, &key_len));
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        return fail(ps, MALLARD_INVALID_ARGUMENT, "':' expected after object key");
      }
      ps->p++;
    }
    mlr_json *child = NULL;
    MLR_RETURN_NOT_OK(parse_value(ps, depth + 1, &child));
    child->key = key;
    child->key_len = key_len;
    if (last == NULL) {
      node->child = child;
    } else {
      last->next = child;
    }
    last = child;
    node->n_children++;
    skip_ws(ps);
    if (ps->p >= ps->end) {
      return fail(ps, MALLARD_INVALID_ARGUMENT,
                  is_object ? "unterminated object" : "unterminated array");
    }
    if (*ps->p == ',') {
      ps->p++;
      continue;
    }
    if (*ps->p == close) {
      ps->p++;
      return is_object ? check_unique_keys(ps, node) : MALLARD_OK;
    }
    return fail(ps, MALLARD_INVALID_ARGUMENT,
                is_object ? "',' or '}' expected in object" : "',' or ']' expected in array");
  }
}

static mlr_code parse_value(json_parser *ps, int depth, mlr_json **out) {
  if (depth > MLR_JSON_MAX_DEPTH) {
    return fail(ps, MALLARD_INVALID_ARGUMENT, "nesting deeper than 64 levels");
  }
  skip_ws(ps);
  if (ps->p >= ps->end) return fail(ps, MALLARD_INVALID_ARGUMENT, "value expected");
  mlr_json *node = NULL;
  unsigned char c = *ps->p;
  switch (c) {
  case '{':
  case '[':
    node = new_node(ps, c == '{' ? MLR_JSON_OBJECT : MLR_JSON_ARRAY);
    if (node == NULL) return ps->code;
    MLR_RETURN_NOT_OK(parse_container(ps, depth, c == '{', node));
    break;
  case '"':
    node = new_node(ps, MLR_JSON_STRING);
    if (node == NULL) return ps->code;
    MLR_RETURN_NOT_OK(parse_string(ps, &node->string, &node->string_len));
    break;
  case 't':
  case 'f':
    node = new_node(ps, MLR_JSON_BOOL);
    if (node == NULL) return ps->code;
    node->boolean = c == 't';
    if (match_lit(ps, c == 't' ? "true" : "false") != 0) {
      return fail(ps, MALLARD_INVALID_ARGUMENT, "unexpected word");
    }
    break;
  case 'n':
    node = new_node(ps, MLR_JSON_NULL);
    if (node == NULL) return ps->code;
    if (match_lit(ps, "null") != 0) return fail(ps, MALLARD_INVALID_ARGUMENT, "unexpected word");
    break;
  default:
    if (c == '-' || (c >= '0' && c <= '9')) {
      node = new_node(ps, MLR_JSON_NUMBER);
      if (node == NULL) return ps->code;
      MLR_RETURN_NOT_OK(parse_number(ps, node));
      break;
    }
    return fail(ps, MALLARD_INVALID_ARGUMENT, "unexpected character");
  }
  *out = node;
  return MALLARD_OK;
}

mlr_code mlr_json_parse(const char *text, size_t len, mlr_json_doc **out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  *out = NULL;
  if (text == NULL && len > 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "invalid JSON: no input");
  }
  if (len > MLR_JSON_MAX_INPUT) {
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "JSON document of %zu bytes is larger than the %zu-byte limit", len,
                         MLR_JSON_MAX_INPUT);
  }
  mlr_json_doc *doc = calloc(1, sizeof *doc);
  if (doc == NULL) {
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "JSON: out of memory");
  }
  static const unsigned char empty[1] = {0};
  json_parser ps = {.p = text ? (const unsigned char *)text : empty,
                    .start = text ? (const unsigned char *)text : empty,
                    .end = (text ? (const unsigned char *)text : empty) + len,
                    .doc = doc,
                    .err = err,
                    .code = MALLARD_OK};
  rc = parse_value(&ps, 1, &doc->root);
  if (rc != MALLARD_OK) goto cleanup;
  skip_ws(&ps);
  if (ps.p != ps.end) {
    rc = fail(&ps, MALLARD_INVALID_ARGUMENT, "unexpected data after the JSON value");
    goto cleanup;
  }
  *out = doc;
  doc = NULL;
cleanup:
  mlr_json_free(doc);
  return rc;
}

const mlr_json *mlr_json_root(const mlr_json_doc *doc) {
  return doc ? doc->root : NULL;
}

void mlr_json_free(mlr_json_doc *doc) {
  if (doc == NULL) return;
  json_block *b = doc->blocks;
  while (b != NULL) {
    json_block *next = b->next;
    free(b);
    b = next;
  }
  free(doc);
}

const mlr_json *mlr_json_get(const mlr_json *obj, const char *key) {
  if (obj == NULL || obj->type != MLR_JSON_OBJECT || key == NULL) return NULL;
  size_t klen = strlen(key);
  for (const mlr_json *m = obj->child; m != NULL; m = m->next) {
    /* Keys with embedded \0 never match a C-string key. */
    if (m->key != NULL && strncmp(m->key, key, klen + 1) == 0) return m;
  }
  return NULL;
}

const char *mlr_json_get_string(const mlr_json *obj, const char *key) {
  const mlr_json *v = mlr_json_get(obj, key);
  return v != NULL && v->type == MLR_JSON_STRING ? v->string : NULL;
}

mlr_code mlr_json_text_member(const mlr_json *obj, const char *key, const char *context,
                              const char **out, mlr_error *err) {
  const mlr_json *v = mlr_json_get(obj, key);
  *out = NULL;
  if (v == NULL || v->type == MLR_JSON_NULL) return MALLARD_OK;
  if (v->type != MLR_JSON_STRING)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s: \"%s\" must be a string", context,
                         key);
  if (strlen(v->string) != v->string_len)
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s: \"%s\" contains a NUL byte", context,
                         key);
  *out = v->string;
  return MALLARD_OK;
}

mlr_code mlr_json_only_keys(const mlr_json *obj, const char *const *keys, size_t n,
                            const char *context, mlr_error *err) {
  for (const mlr_json *m = obj->child; m != NULL; m = m->next) {
    bool known = false;
    for (size_t i = 0; i < n && !known; i++) known = strcmp(m->key, keys[i]) == 0;
    if (known) continue;
    char expected[160] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof expected; i++)
      used +=
          (size_t)snprintf(expected + used, sizeof expected - used, "%s%s", i ? ", " : "", keys[i]);
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s: unknown key '%s' (expected %s)",
                         context, m->key, expected);
  }
  return MALLARD_OK;
}

/* ---- writer ---- */

static bool strbuf_reserve(mlr_strbuf *b, size_t extra) {
  if (b->oom) return false;
  size_t need;
  if (__builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need)) {
    b->oom = true;
    return false;
  }
  if (need <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  char *d = realloc(b->data, cap);
  if (d == NULL) {
    b->oom = true;
    return false;
  }
  b->data = d;
  b->cap = cap;
  return true;
}

void mlr_strbuf_append(mlr_strbuf *b, const char *s, size_t n) {
  if (!strbuf_reserve(b, n)) return;
  if (n > 0) memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void mlr_strbuf_append_str(mlr_strbuf *b, const char *s) {
  mlr_strbuf_append(b, s, strlen(s));
}

void mlr_strbuf_append_owned(mlr_strbuf *b, char *s) {
  if (s == NULL) {
    b->oom = true;
    return;
  }
  mlr_strbuf_append(b, s, strlen(s));
  free(s);
}

void mlr_strbuf_appendf(mlr_strbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = true;
  } else if ((size_t)n < sizeof small) {
    mlr_strbuf_append(b, small, (size_t)n);
  } else if (strbuf_reserve(b, (size_t)n)) {
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
  }
  va_end(ap2);
}

void mlr_strbuf_append_json_string(mlr_strbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  const unsigned char *end = p + n;
  mlr_strbuf_append(b, "\"", 1);
  while (p < end && !b->oom) {
    /* Copy the longest run that needs no escaping in one go. */
    const unsigned char *run = p;
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
    if (p > run) mlr_strbuf_append(b, (const char *)run, (size_t)(p - run));
    if (p >= end) break;
    unsigned char c = *p;
    if (c >= 0x80) {
      size_t sl = utf8_seq_len(p, end);
      if (sl == 0) {
        /* Invalid UTF-8 (e.g. in a DuckDB message) still yields valid JSON. */
        mlr_strbuf_append(b, "\\ufffd", 6);
        p++;
      } else {
        mlr_strbuf_append(b, (const char *)p, sl);
        p += sl;
      }
      continue;
    }
    char esc[6];
    switch (c) {
    case '"':
      mlr_strbuf_append(b, "\\\"", 2);
      break;
    case '\\':
      mlr_strbuf_append(b, "\\\\", 2);
      break;
    case '\n':
      mlr_strbuf_append(b, "\\n", 2);
      break;
    case '\r':
      mlr_strbuf_append(b, "\\r", 2);
      break;
    case '\t':
      mlr_strbuf_append(b, "\\t", 2);
      break;
    case '\b':
      mlr_strbuf_append(b, "\\b", 2);
      break;
    case '\f':
      mlr_strbuf_append(b, "\\f", 2);
      break;
    default:
      esc[0] = '\\';
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 0xF];
      mlr_strbuf_append(b, esc, 6);
      break;
    }
    p++;
  }
  mlr_strbuf_append(b, "\"", 1);
}

char *mlr_strbuf_take(mlr_strbuf *b, size_t *len) {
  char *out = NULL;
  if (b->oom) goto cleanup;
  if (b->data == NULL) {
    out = calloc(1, 1);
    if (len) *len = 0;
    goto cleanup;
  }
  out = b->data;
  if (len) *len = b->len;
  b->data = NULL;
cleanup:
  mlr_strbuf_release(b);
  return out;
}

void mlr_strbuf_release(mlr_strbuf *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->oom = false;
}

void mlr_json_write(mlr_strbuf *b, const mlr_json *v) {
  switch (v->type) {
  case MLR_JSON_NULL:
    mlr_strbuf_append(b, "null", 4);
    break;
  case MLR_JSON_BOOL:
    mlr_strbuf_appendf(b, "%s", v->boolean ? "true" : "false");
    break;
  case MLR_JSON_NUMBER:
    if (v->is_integer) {
      mlr_strbuf_appendf(b, "%lld", (long long)v->integer);
    } else if (v->integral && isfinite(v->number)) {
      mlr_strbuf_appendf(b, "%.0f", v->number); /* still an integer when read back */
    } else if (isfinite(v->number)) {
      mlr_strbuf_appendf(b, "%.17g", v->number);
    } else {
      mlr_strbuf_append(b, "null", 4);
    }
    break;
  case MLR_JSON_STRING:
    mlr_strbuf_append_json_string(b, v->string, v->string_len);
    break;
  case MLR_JSON_ARRAY:
  case MLR_JSON_OBJECT: {
    bool obj = v->type == MLR_JSON_OBJECT;
    mlr_strbuf_append(b, obj ? "{" : "[", 1);
    for (const mlr_json *c = v->child; c != NULL; c = c->next) {
      if (c != v->child) mlr_strbuf_append(b, ",", 1);
      if (obj) {
        mlr_strbuf_append_json_string(b, c->key, strlen(c->key));
        mlr_strbuf_append(b, ":", 1);
      }
      mlr_json_write(b, c);
    }
    mlr_strbuf_append(b, obj ? "}" : "]", 1);
    break;
  }
  }
}
