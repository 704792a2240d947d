/* Flight client helpers with no I/O: URI parsing, limits, base64, gRPC status mapping, and the
 * release functions of the public plain types in include/mallard/client.h. */
#include "flight/client_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLIENT_DEFAULT_MAX_RECEIVE (128 * 1024 * 1024)

void client_uri_release(client_uri *u) {
  if (u == NULL) return;
  free(u->target);
  free(u->host);
  memset(u, 0, sizeof *u);
}

static char *dup_range(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

mlr_code client_uri_parse(const char *uri, client_uri *out, mlr_error *err) {
  memset(out, 0, sizeof *out);
  if (uri == NULL || uri[0] == 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "empty URI: expected grpc://host:port or grpc+tls://host:port");
  }
  static const struct {
    const char *scheme;
    bool tls;
    bool unix_socket;
  } schemes[] = {{"grpc://", false, false},
                 {"grpc+tcp://", false, false},
                 {"grpc+tls://", true, false},
                 {"grpc+unix://", false, true}};
  const char *rest = NULL;
  bool tls = false, unix_socket = false;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
    size_t n = strlen(schemes[i].scheme);
    if (strncasecmp(uri, schemes[i].scheme, n) == 0) {
      rest = uri + n;
      tls = schemes[i].tls;
      unix_socket = schemes[i].unix_socket;
      break;
    }
  }
  if (rest == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "unsupported URI '%s': expected grpc://host:port, grpc+tcp://host:port, "
                         "grpc+tls://host:port or grpc+unix:///path",
                         uri);
  }
  out->tls = tls;
  if (unix_socket) {
    if (rest[0] != '/') {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "bad URI '%s': grpc+unix:// needs an absolute socket path", uri);
    }
    size_t n = strlen(rest);
    out->target = malloc(n + 6);
    out->host = strdup("");
    if (out->target == NULL || out->host == NULL) goto oom;
    memcpy(out->target, "unix:", 5);
    memcpy(out->target + 5, rest, n + 1);
    return MALLARD_OK;
  }
  /* Authority ends at the first '/', '?' or '#'; a trailing "/" is tolerated, a path is not. */
  size_t alen = strcspn(rest, "/?#");
  if (rest[alen] != 0 && strcmp(rest + alen, "/") != 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "bad URI '%s': a Flight URI has no path or query (expected host:port)",
                         uri);
  }
  if (memchr(rest, '@', alen) != NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "bad URI '%s': credentials in the URI are not supported (use "
                         "authenticate_basic or an authorization header)",
                         uri);
  }
  const char *host = rest, *port_s = NULL;
  size_t host_len;
  bool v6 = false;
  if (alen > 0 && rest[0] == '[') {
    const char *close = memchr(rest, ']', alen);
    if (close == NULL) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "bad URI '%s': unclosed '[' in host",
                           uri);
    }
    host = rest + 1;
    host_len = (size_t)(close - host);
    v6 = true;
    if (close + 1 < rest + alen) {
      if (close[1] != ':') {
        return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                             "bad URI '%s': expected ':port' after ']'", uri);
      }
      port_s = close + 2;
    }
  } else {
    const char *colon = NULL;
    for (size_t i = 0; i < alen; i++) {
      if (rest[i] == ':') {
        if (colon != NULL) {
          return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                               "bad URI '%s': IPv6 addresses go in brackets, e.g. [::1]:8815", uri);
        }
        colon = rest + i;
      }
    }
    host_len = colon != NULL ? (size_t)(colon - rest) : alen;
    if (colon != NULL) port_s = colon + 1;
  }
  if (host_len == 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "bad URI '%s': no host", uri);
  }
  size_t port_len = port_s != NULL ? (size_t)(rest + alen - port_s) : 0;
  if (port_s == NULL || port_len == 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "bad URI '%s': no port (expected host:port, e.g. localhost:8815)", uri);
  }
  long port = 0;
  for (size_t i = 0; i < port_len; i++) {
    if (!isdigit((unsigned char)port_s[i]) || port > 65535) {
      return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "bad URI '%s': port must be a number from 1 to 65535", uri);
    }
    port = port * 10 + (port_s[i] - '0');
  }
  if (port < 1 || port > 65535) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "bad URI '%s': port must be a number from 1 to 65535", uri);
  }
  out->port = (int)port;
  out->host = dup_range(host, host_len);
  if (out->host == NULL) goto oom;
  size_t tlen = host_len + 16;
  out->target = malloc(tlen);
  if (out->target == NULL) goto oom;
  snprintf(out->target, tlen, v6 ? "[%s]:%d" : "%s:%d", out->host, out->port);
  return MALLARD_OK;
oom:
  client_uri_release(out);
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
}

int client_effective_max_receive(int64_t configured) {
  if (configured == 0) return CLIENT_DEFAULT_MAX_RECEIVE;
  if (configured < 0) return -1;
  return configured > INT_MAX ? INT_MAX : (int)configured;
}

int client_effective_max_send(int64_t configured) {
  if (configured <= 0) return -1;
  return configured > INT_MAX ? INT_MAX : (int)configured;
}

size_t client_base64_len(size_t n) {
  return (n + 2) / 3 * 4;
}

void client_base64_encode(const uint8_t *in, size_t n, char *out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = tbl[v >> 18 & 63];
    out[o++] = tbl[v >> 12 & 63];
    out[o++] = tbl[v >> 6 & 63];
    out[o++] = tbl[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = tbl[v >> 18 & 63];
    out[o++] = tbl[v >> 12 & 63];
    out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
    out[o++] = '=';
  }
  out[o] = 0;
}

/* True when gRPC's own details say that no connection could be made (its words for refused,
 * unresolvable and unreachable servers and failed TLS handshakes), not that a call was cut. */
static bool says_no_connection(const char *d, size_t n) {
  static const char *const words[] = {
      "failed to connect",      "connection refused", "dns resolution failed",
      "empty address list",     "name resolution",    "no route to host",
      "network is unreachable", "handshake failed",   "connections to all backends failing"};
  if (n == 0) return true;
  for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
    size_t k = strlen(words[w]);
    for (size_t i = 0; i + k <= n; i++)
      if (strncasecmp(d + i, words[w], k) == 0) return true;
  }
  return false;
}

mlr_code client_status_to_error(grpc_status_code status, const char *details, size_t details_len,
                                bool connected, const char *uri, mlr_error *err) {
  if (status == GRPC_STATUS_OK) {
    mlr_error_reset(err);
    return MALLARD_OK;
  }
  mlr_code code = (status >= 0 && status <= 16) ? (mlr_code)status : MALLARD_UNKNOWN;
  int n = details_len > INT_MAX ? INT_MAX : (int)details_len;
  /* "cannot connect" only when no connection was made: an UNAVAILABLE the server sent before
   * its first message (it is shutting down) keeps its own words. */
  if (code == MALLARD_UNAVAILABLE && !connected && says_no_connection(details, details_len)) {
    return mlr_error_set(err, code, "cannot connect to %s: %.*s", uri != NULL ? uri : "server", n,
                         details_len > 0 ? details : "unavailable");
  }
  if (details_len == 0) return mlr_error_set(err, code, "%s", mallard_code_name(code));
  return mlr_error_set(err, code, "%.*s", n, details);
}

const char *client_auth_scheme_value(const char *value, size_t len, const char *scheme,
                                     size_t *rest_len) {
  size_t s = strlen(scheme);
  if (value == NULL || len < s || strncasecmp(value, scheme, s) != 0) return NULL;
  size_t i = s;
  while (i < len && value[i] == ' ') i++;
  if (rest_len != NULL) *rest_len = len - i;
  return value + i;
}

/* ------------------------------------------------------------------------------------------
 * Public plain types
 * ---------------------------------------------------------------------------------------- */

void mallard_bytes_release(mallard_bytes *b) {
  if (b == NULL) return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

void mallard_metadata_release(mallard_metadata *md) {
  if (md == NULL) return;
  for (size_t i = 0; i < md->n_entries; i++) {
    free(md->entries[i].name);
    free(md->entries[i].value);
  }
  free(md->entries);
  md->entries = NULL;
  md->n_entries = 0;
}

const char *mallard_metadata_get(const mallard_metadata *md, const char *name) {
  if (md == NULL || name == NULL) return NULL;
  for (size_t i = 0; i < md->n_entries; i++) {
    if (strcasecmp(md->entries[i].name, name) == 0) return md->entries[i].value;
  }
  return NULL;
}

void mallard_descriptor_release(mallard_descriptor *d) {
  if (d == NULL) return;
  mallard_bytes_release(&d->cmd);
  for (size_t i = 0; i < d->n_path; i++) free(d->path[i]);
  free(d->path);
  memset(d, 0, sizeof *d);
}

mallard_descriptor mallard_descriptor_command(const char *cmd, size_t len) {
  mallard_descriptor d;
  memset(&d, 0, sizeof d);
  d.type = MALLARD_DESCRIPTOR_CMD;
  d.cmd.data = (uint8_t *)(uintptr_t)cmd;
  d.cmd.len = cmd == NULL ? 0 : (len == 0 ? strlen(cmd) : len);
  return d;
}

mallard_descriptor mallard_descriptor_path(const char *const *path, size_t n_path) {
  mallard_descriptor d;
  memset(&d, 0, sizeof d);
  d.type = MALLARD_DESCRIPTOR_PATH;
  d.path = (char **)(uintptr_t)path;
  d.n_path = n_path;
  return d;
}

static void endpoint_release(mallard_endpoint *e) {
  mallard_bytes_release(&e->ticket);
  for (size_t i = 0; i < e->n_locations; i++) free(e->locations[i]);
  free(e->locations);
  mallard_bytes_release(&e->app_metadata);
  memset(e, 0, sizeof *e);
}

void mallard_flight_info_release(mallard_flight_info *info) {
  if (info == NULL) return;
  if (info->schema.release != NULL) info->schema.release(&info->schema);
  mallard_descriptor_release(&info->descriptor);
  for (size_t i = 0; i < info->n_endpoints; i++) endpoint_release(&info->endpoints[i]);
  free(info->endpoints);
  mallard_bytes_release(&info->app_metadata);
  memset(info, 0, sizeof *info);
}

void mallard_flight_list_release(mallard_flight_list *list) {
  if (list == NULL) return;
  for (size_t i = 0; i < list->n_infos; i++) mallard_flight_info_release(&list->infos[i]);
  free(list->infos);
  list->infos = NULL;
  list->n_infos = 0;
}

void mallard_poll_info_release(mallard_poll_info *p) {
  if (p == NULL) return;
  mallard_flight_info_release(&p->info);
  mallard_descriptor_release(&p->descriptor);
  memset(p, 0, sizeof *p);
}

void mallard_action_type_list_release(mallard_action_type_list *list) {
  if (list == NULL) return;
  for (size_t i = 0; i < list->n_types; i++) {
    free(list->types[i].type);
    free(list->types[i].description);
  }
  free(list->types);
  list->types = NULL;
  list->n_types = 0;
}

void mallard_result_list_release(mallard_result_list *list) {
  if (list == NULL) return;
  for (size_t i = 0; i < list->n_results; i++) mallard_bytes_release(&list->results[i]);
  free(list->results);
  list->results = NULL;
  list->n_results = 0;
}

void mallard_client_options_init(mallard_client_options *opts) {
  if (opts == NULL) return;
  memset(opts, 0, sizeof *opts);
}
