/* A small JSON reader and writer for Mallard's control messages (DoPut commands, action
 * bodies and results). Parsing builds a tree owned by one mlr_json_doc; the writer appends to a
 * growable string. Input is bounded (depth, size) and never trusted. */
#ifndef MLR_JSON_H
#define MLR_JSON_H

#include "common/mlr_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mlr_json_type {
  MLR_JSON_NULL,
  MLR_JSON_BOOL,
  MLR_JSON_NUMBER,
  MLR_JSON_STRING,
  MLR_JSON_ARRAY,
  MLR_JSON_OBJECT
} mlr_json_type;

typedef struct mlr_json mlr_json;
struct mlr_json {
  mlr_json_type type;
  bool boolean;
  double number;
  bool is_integer; /* number was written without fraction/exponent and fits int64 */
  bool integral;   /* number was written without fraction/exponent (fitting int64 or not) */
  int64_t integer;
  char *string; /* STRING: value (NUL-terminated, may contain \0 escapes: see string_len) */
  size_t string_len;
  char *key;       /* set on members of an OBJECT (unique in it: duplicates are refused) */
  size_t key_len;  /* its length (a key may hold \u0000) */
  mlr_json *child; /* first element / member */
  mlr_json *next;  /* next sibling */
  size_t n_children;
};

typedef struct mlr_json_doc mlr_json_doc;

/* Parses len bytes. INVALID_ARGUMENT with position on bad JSON. Ownership: mlr_json_free. */
mlr_code mlr_json_parse(const char *text, size_t len, mlr_json_doc **out, mlr_error *err);
const mlr_json *mlr_json_root(const mlr_json_doc *doc);
void mlr_json_free(mlr_json_doc *doc);

/* Member of an object by key (NULL if absent or not an object). */
const mlr_json *mlr_json_get(const mlr_json *obj, const char *key);
/* Convenience: string member or NULL. */
const char *mlr_json_get_string(const mlr_json *obj, const char *key);
/* A text member of a command object: *out = its string, or NULL when it is absent or null.
 * INVALID_ARGUMENT, naming context and key, when it is another type or holds a NUL byte. */
mlr_code mlr_json_text_member(const mlr_json *obj, const char *key, const char *context,
                              const char **out, mlr_error *err);
/* INVALID_ARGUMENT "<context>: unknown key 'k' (expected a, b, ...)" when the object has a member
 * whose key is not one of the n keys. */
mlr_code mlr_json_only_keys(const mlr_json *obj, const char *const *keys, size_t n,
                            const char *context, mlr_error *err);

/* True when the len bytes at s are valid UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF; NUL bytes are valid UTF-8). */
bool mlr_utf8_valid(const char *s, size_t len);

/* Growable output string. */
typedef struct mlr_strbuf {
  char *data;
  size_t len;
  size_t cap;
  bool oom;
} mlr_strbuf;
void mlr_strbuf_append(mlr_strbuf *b, const char *s, size_t n);
/* Appends the NUL-terminated s. */
void mlr_strbuf_append_str(mlr_strbuf *b, const char *s);
/* Appends s and frees it (s comes from an allocating helper): NULL marks the buffer oom. */
void mlr_strbuf_append_owned(mlr_strbuf *b, char *s);
void mlr_strbuf_appendf(mlr_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quoted, escaped). */
void mlr_strbuf_append_json_string(mlr_strbuf *b, const char *s, size_t n);
/* Appends a parsed value as compact JSON text (strings escaped; a non-finite number, which JSON
 * cannot hold, as null). */
void mlr_json_write(mlr_strbuf *b, const mlr_json *v);
/* Takes the NUL-terminated contents (caller frees) and resets b; NULL if out of memory. */
char *mlr_strbuf_take(mlr_strbuf *b, size_t *len);
void mlr_strbuf_release(mlr_strbuf *b);

#endif /* MLR_JSON_H */
