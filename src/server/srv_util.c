/* Small pure helpers of the service: descriptor parsing, the read-only SQL check, the query hash
 * and the call log line. No I/O, so they are unit-tested directly. */
#include "server/srv.h"

#include "common/mlr_json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void srv_query_hash(const char *text, size_t len, char out[17]) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)text[i];
    h *= 1099511628211ULL;
  }
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--) {
    out[i] = hex[h & 0xF];
    h >>= 4;
  }
  out[16] = '\0';
}

bool srv_valid_utf8(const char *str, size_t len) {
  return memchr(str, '\0', len) == NULL && mlr_utf8_valid(str, len);
}

void srv_put_target_release(srv_put_target *t) {
  if (t == NULL) return;
  free(t->schema);
  free(t->table);
  t->schema = NULL;
  t->table = NULL;
}

mlr_code srv_parse_path(char *const *path, size_t n_path, srv_put_target *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  out->mode = SRV_PUT_CREATE_OR_APPEND;
  if (n_path != 1 && n_path != 2) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "a PATH descriptor must be [table] or [schema, table], got %zu elements",
                         n_path);
  }
  for (size_t i = 0; i < n_path; i++) {
    if (path[i] == NULL || path[i][0] == '\0') {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "a PATH descriptor element is empty: name a table");
    }
    if (!srv_valid_utf8(path[i], strlen(path[i]))) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "a PATH descriptor element is not valid UTF-8");
    }
  }
  out->table = strdup(path[n_path - 1]);
  if (n_path == 2) out->schema = strdup(path[0]);
  if (out->table == NULL || (n_path == 2 && out->schema == NULL)) {
    srv_put_target_release(out);
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  }
  return MALLARD_OK;
}

mlr_code srv_parse_put_command(const uint8_t *cmd, size_t len, srv_put_target *out,
                               mlr_error *err) {
  mlr_json_doc *doc = NULL;
  mlr_code rc = MALLARD_OK;
  memset(out, 0, sizeof *out);
  out->mode = SRV_PUT_CREATE_OR_APPEND;
  rc = mlr_json_parse((const char *)cmd, len, &doc, err);
  if (rc != MALLARD_OK) {
    mlr_error_prefix(err, "DoPut command (expected {\"table\": ..., \"mode\": ...}): ");
    goto cleanup;
  }
  const mlr_json *root = mlr_json_root(doc);
  if (root->type != MLR_JSON_OBJECT) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "DoPut command must be a JSON object {\"table\": ..., \"mode\": ...}");
    goto cleanup;
  }
  static const char *const keys[] = {"table", "mode", "schema"};
  if ((rc = mlr_json_only_keys(root, keys, 3, "DoPut command", err))) goto cleanup;
  const char *table = NULL, *schema = NULL, *mode = NULL;
  if ((rc = mlr_json_text_member(root, "table", "DoPut command", &table, err)) ||
      (rc = mlr_json_text_member(root, "schema", "DoPut command", &schema, err)) ||
      (rc = mlr_json_text_member(root, "mode", "DoPut command", &mode, err)))
    goto cleanup;
  if (table == NULL || table[0] == '\0') {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "DoPut command: \"table\" is missing or empty");
    goto cleanup;
  }
  if (schema != NULL && schema[0] == '\0') {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "DoPut command: \"schema\" is empty");
    goto cleanup;
  }
  if (mode == NULL || strcmp(mode, "create_or_append") == 0) {
    out->mode = SRV_PUT_CREATE_OR_APPEND;
  } else if (strcmp(mode, "append") == 0) {
    out->mode = SRV_PUT_APPEND;
  } else if (strcmp(mode, "create") == 0) {
    out->mode = SRV_PUT_CREATE;
  } else if (strcmp(mode, "replace") == 0) {
    out->mode = SRV_PUT_REPLACE;
  } else {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "DoPut command: unknown mode '%.64s' (use append, create, replace or "
                       "create_or_append)",
                       mode);
    goto cleanup;
  }
  out->table = strdup(table);
  if (schema != NULL) out->schema = strdup(schema);
  if (out->table == NULL || (schema != NULL && out->schema == NULL)) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
cleanup:
  if (rc != MALLARD_OK) srv_put_target_release(out);
  mlr_json_free(doc);
  return rc;
}

/* Text values are bare when they are simple, else a JSON string literal (which also escapes
 * anything odd a client put in a table name). */
static void append_text_value(mlr_strbuf *b, const char *v) {
  bool bare = v[0] != '\0';
  for (const char *p = v; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) {
    mlr_strbuf_append_str(b, v);
  } else {
    mlr_strbuf_append_json_string(b, v, strlen(v));
  }
}

static void append_field(mlr_strbuf *b, srv_log_format f, bool *first, const char *key,
                         const char *v) {
  if (v == NULL) return;
  if (f == SRV_LOG_JSON) {
    mlr_strbuf_appendf(b, "%s\"%s\":", *first ? "" : ",", key);
    mlr_strbuf_append_json_string(b, v, strlen(v));
  } else {
    mlr_strbuf_appendf(b, "%s%s=", *first ? "" : " ", key);
    append_text_value(b, v);
  }
  *first = false;
}

static void append_int(mlr_strbuf *b, srv_log_format f, bool *first, const char *key, int64_t v) {
  if (f == SRV_LOG_JSON) {
    mlr_strbuf_appendf(b, "%s\"%s\":%lld", *first ? "" : ",", key, (long long)v);
  } else {
    mlr_strbuf_appendf(b, "%s%s=%lld", *first ? "" : " ", key, (long long)v);
  }
  *first = false;
}

char *srv_format_call_record(const srv_call_record *r, srv_log_format format, double unix_time) {
  mlr_strbuf b = {0};
  bool first = true;
  char ts[64];
  time_t secs = (time_t)unix_time;
  struct tm tm;
  gmtime_r(&secs, &tm);
  int ms = (int)((unix_time - (double)secs) * 1000.0);
  if (ms < 0) ms = 0;
  if (ms > 999) ms = 999;
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  if (format == SRV_LOG_JSON) mlr_strbuf_append(&b, "{", 1);
  append_field(&b, format, &first, "ts", ts);
  append_field(&b, format, &first, "server", r->server);
  append_field(&b, format, &first, "peer", r->peer);
  append_field(&b, format, &first, "user", r->user ? r->user : "-");
  append_field(&b, format, &first, "rpc", r->rpc);
  append_field(&b, format, &first, "action", r->action);
  append_field(&b, format, &first, "table", r->table);
  append_field(&b, format, &first, "query", r->query_hash);
  append_field(&b, format, &first, "exchanger", r->exchanger);
  if (r->rows >= 0) append_int(&b, format, &first, "rows", r->rows);
  append_int(&b, format, &first, "bytes", r->bytes);
  if (r->duration_ms >= 0) {
    if (format == SRV_LOG_JSON) {
      mlr_strbuf_appendf(&b, ",\"ms\":%.3f", r->duration_ms);
    } else {
      mlr_strbuf_appendf(&b, " ms=%.3f", r->duration_ms);
    }
  }
  append_field(&b, format, &first, "status", mallard_code_name(r->status));
  if (r->status != MALLARD_OK && r->message != NULL && r->message[0] != '\0') {
    append_field(&b, format, &first, "error", r->message);
  }
  if (format == SRV_LOG_JSON) mlr_strbuf_append(&b, "}", 1);
  mlr_strbuf_append(&b, "\n", 1);
  return mlr_strbuf_take(&b, NULL);
}
