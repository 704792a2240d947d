/* libFuzzer target: the JSON parser, plus a round trip: what parses, re-serialised with
 * mlr_json_write, must parse again to the same tree. */
#include "common/mlr_json.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const mlr_json *a, const mlr_json *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case MLR_JSON_NULL:
    return true;
  case MLR_JSON_BOOL:
    return a->boolean == b->boolean;
  case MLR_JSON_NUMBER:
    if (a->is_integer) return b->is_integer && a->integer == b->integer;
    return true; /* %.17g of a finite double round-trips; not worth comparing NaN/inf here */
  case MLR_JSON_STRING:
    return a->string_len == b->string_len && memcmp(a->string, b->string, a->string_len) == 0;
  default:
    break;
  }
  if (a->n_children != b->n_children) return false;
  const mlr_json *x = a->child, *y = b->child;
  for (; x != NULL && y != NULL; x = x->next, y = y->next) {
    if (a->type == MLR_JSON_OBJECT && strcmp(x->key, y->key) != 0) return false;
    if (!same(x, y)) return false;
  }
  return x == NULL && y == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlr_json_doc *doc = NULL;
  mlr_error err;
  memset(&err, 0, sizeof err);
  if (mlr_json_parse((const char *)data, size, &doc, &err) != MALLARD_OK) return 0;
  mlr_strbuf b = {0};
  mlr_json_write(&b, mlr_json_root(doc));
  size_t len = 0;
  char *text = mlr_strbuf_take(&b, &len);
  if (text != NULL) {
    mlr_json_doc *doc2 = NULL;
    if (mlr_json_parse(text, len, &doc2, &err) != MALLARD_OK) {
      fprintf(stderr, "re-serialised JSON does not parse: %s\n%s\n", err.message, text);
      abort();
    }
    if (!same(mlr_json_root(doc), mlr_json_root(doc2))) {
      fprintf(stderr, "round trip changed the tree:\n%s\n", text);
      abort();
    }
    mlr_json_free(doc2);
    free(text);
  }
  mlr_json_free(doc);
  return 0;
}
