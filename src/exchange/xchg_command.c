/* The DoExchange command (an exchanger name, or {"exchanger": .., "params": {..}}), exchanger name
 * rules, and writing parsed JSON back as text (params travel to exchangers as JSON text). */
#include "exchange/xchg_internal.h"

#include <stdlib.h>
#include <string.h>

mlr_code xchg_check_name(const char *name, size_t len, mlr_error *err) {
  if (name == NULL || len == 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "the exchanger name is empty");
  }
  if (len > XCHG_NAME_MAX) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "the exchanger name is longer than %d bytes", XCHG_NAME_MAX);
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "exchanger name '%.*s' has a character other than letters, digits, "
                           "'_', '-' and '.'",
                           (int)len, name);
    }
  }
  return MALLARD_OK;
}

static bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

mlr_code xchg_parse_command(const uint8_t *cmd, size_t cmd_len, char **name, char **params_json,
                            mlr_error *err) {
  *name = NULL;
  *params_json = NULL;
  mlr_code rc = MALLARD_OK;
  mlr_json_doc *doc = NULL;
  mlr_strbuf b = {0};
  size_t start = 0, end = cmd_len;
  if (cmd == NULL) cmd_len = end = 0;
  while (start < end && is_space(cmd[start])) start++;
  while (end > start && is_space(cmd[end - 1])) end--;
  if (start == end) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "the DoExchange descriptor has no command: send an exchanger name or "
                         "{\"exchanger\": \"name\", \"params\": {...}}");
  }
  const char *text = (const char *)cmd + start;
  size_t len = end - start;
  if (text[0] != '{') {
    rc = xchg_check_name(text, len, err);
    if (rc != MALLARD_OK) goto cleanup;
    *name = strndup(text, len);
    if (*name == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  rc = mlr_json_parse(text, len, &doc, err);
  if (rc != MALLARD_OK) {
    mlr_error_prefix(err, "DoExchange command: ");
    goto cleanup;
  }
  const mlr_json *root = mlr_json_root(doc);
  const char *xname = NULL;
  rc = mlr_json_text_member(root, "exchanger", "DoExchange command", &xname, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (xname == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "DoExchange command: \"exchanger\" (its name) is missing");
    goto cleanup;
  }
  rc = xchg_check_name(xname, strlen(xname), err);
  if (rc != MALLARD_OK) goto cleanup;
  static const char *const keys[] = {"exchanger", "params"};
  if ((rc = mlr_json_only_keys(root, keys, 2, "DoExchange command", err))) goto cleanup;
  const mlr_json *params = mlr_json_get(root, "params");
  if (params != NULL && params->type != MLR_JSON_NULL) {
    if (params->type != MLR_JSON_OBJECT) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "DoExchange command: \"params\" must be an object");
      goto cleanup;
    }
    mlr_json_write(&b, params);
    if (b.oom) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
    *params_json = mlr_strbuf_take(&b, NULL);
    if (*params_json == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
  }
  *name = strdup(xname);
  if (*name == NULL) rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
cleanup:
  if (rc != MALLARD_OK) {
    free(*name);
    free(*params_json);
    *name = NULL;
    *params_json = NULL;
  }
  mlr_strbuf_release(&b);
  mlr_json_free(doc);
  return rc;
}
