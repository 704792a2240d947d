/* The byte-level pieces of auth: base64, `authorization` header and Handshake body parsing,
 * Argon2id password hashes, token generation and hashing, flag parsing. No state, no I/O. */
#include "auth/auth_internal.h"

#include <sodium.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *auth_role_name(auth_role role) {
  switch (role) {
  case AUTH_ROLE_ADMIN:
    return "admin";
  case AUTH_ROLE_READER:
    return "reader";
  default:
    return "none";
  }
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

mlr_code auth_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
  *out_len = 0;
  /* Padding, when present, must make the length a multiple of 4 and sit only at the end. */
  size_t pad = 0;
  while (pad < 2 && len > pad && in[len - 1 - pad] == '=') pad++;
  if (pad > 0 && len % 4 != 0) return MALLARD_INVALID_ARGUMENT;
  size_t n = len - pad;
  if (n % 4 == 1) return MALLARD_INVALID_ARGUMENT;
  if (pad > 0 && (n % 4) + pad != 4) return MALLARD_INVALID_ARGUMENT;
  size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
  if (need > cap) return MALLARD_INVALID_ARGUMENT;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value((unsigned char)in[i]);
    if (v < 0) return MALLARD_INVALID_ARGUMENT;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *out_len = o;
  return MALLARD_OK;
}

void auth_base64url_encode(const uint8_t *in, size_t len, char *out) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
  } else if (len - i == 2) {
    uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
  }
  out[o] = '\0';
}

void auth_credential_clear(auth_credential *c) {
  if (c != NULL) sodium_memzero(c, sizeof *c);
}

bool auth_valid_user_name(const char *name, size_t len) {
  if (len == 0 || len > AUTH_MAX_USER) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    /* Control characters and separators would break the users file or a log line. */
    if (ch <= 0x20 || ch == 0x7f || ch == ':') return false;
  }
  return true;
}

static bool valid_token_chars(const char *s, size_t len) {
  if (len == 0 || len > AUTH_MAX_TOKEN) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x21 || ch > 0x7e) return false;
  }
  return true;
}

static mlr_code unauthenticated(mlr_error *err) {
  return mlr_error_set(err, MALLARD_UNAUTHENTICATED, "%s", AUTH_UNAUTHENTICATED_MESSAGE);
}

/* Fills a BASIC credential from user and password bytes, refusing what no users file holds. */
static mlr_code set_basic(auth_credential *out, const char *user, size_t ulen, const char *pw,
                          size_t plen, mlr_error *err) {
  if (!auth_valid_user_name(user, ulen) || plen > AUTH_MAX_PASSWORD) return unauthenticated(err);
  if (memchr(pw, '\0', plen) != NULL) return unauthenticated(err);
  out->kind = AUTH_CRED_BASIC;
  memcpy(out->user, user, ulen);
  out->user[ulen] = '\0';
  memcpy(out->password, pw, plen);
  out->password[plen] = '\0';
  return MALLARD_OK;
}

mlr_code auth_parse_authorization(const char *value, size_t len, auth_credential *out,
                                  mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  uint8_t *decoded = NULL;
  size_t cap = 0;
  memset(out, 0, sizeof *out);
  /* Header values are bounded well below gRPC's metadata limit: anything longer is hostile. */
  if (value == NULL || len == 0 || len > 4096 || memchr(value, '\0', len) != NULL) {
    rc = unauthenticated(err);
    goto cleanup;
  }
  while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) len--;
  size_t i = 0;
  while (i < len && (value[i] == ' ' || value[i] == '\t')) i++;
  size_t word = i;
  while (i < len && value[i] != ' ' && value[i] != '\t') i++;
  size_t word_len = i - word;
  while (i < len && (value[i] == ' ' || value[i] == '\t')) i++;
  const char *rest = value + i;
  size_t rest_len = len - i;
  if (word_len == 5 && strncasecmp(value + word, "basic", 5) == 0 && rest_len > 0) {
    cap = rest_len / 4 * 3 + 3;
    decoded = malloc(cap);
    size_t dlen = 0;
    if (decoded == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
    if (auth_base64_decode(rest, rest_len, decoded, cap, &dlen) != MALLARD_OK) {
      rc = unauthenticated(err);
      goto cleanup;
    }
    const uint8_t *colon = memchr(decoded, ':', dlen);
    if (colon == NULL) {
      rc = unauthenticated(err);
      goto cleanup;
    }
    size_t ulen = (size_t)(colon - decoded);
    rc = set_basic(out, (const char *)decoded, ulen, (const char *)colon + 1, dlen - ulen - 1, err);
  } else if (word_len == 6 && strncasecmp(value + word, "bearer", 6) == 0 &&
             valid_token_chars(rest, rest_len)) {
    out->kind = AUTH_CRED_BEARER;
    memcpy(out->token, rest, rest_len);
    out->token[rest_len] = '\0';
  } else {
    rc = unauthenticated(err);
  }
cleanup:
  if (decoded != NULL) {
    sodium_memzero(decoded, cap);
    free(decoded);
  }
  if (rc != MALLARD_OK) auth_credential_clear(out);
  return rc;
}

/* Minimal protobuf reading for the two old-style Handshake messages. */
static bool pb_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= len) return false;
    uint8_t b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* Reads one field; for length-delimited ones data and dlen view into p. */
static bool pb_field(const uint8_t *p, size_t len, size_t *pos, uint32_t *field, int *wire,
                     uint64_t *value, const uint8_t **data, size_t *dlen) {
  uint64_t key;
  if (!pb_varint(p, len, pos, &key)) return false;
  if ((key >> 3) == 0 || (key >> 3) > UINT32_MAX) return false;
  *field = (uint32_t)(key >> 3);
  *wire = (int)(key & 7);
  *data = NULL;
  *dlen = 0;
  switch (*wire) {
  case 0:
    return pb_varint(p, len, pos, value);
  case 1:
    if (len - *pos < 8) return false;
    *pos += 8;
    return true;
  case 5:
    if (len - *pos < 4) return false;
    *pos += 4;
    return true;
  case 2: {
    uint64_t n;
    if (!pb_varint(p, len, pos, &n) || n > len - *pos) return false;
    *data = p + *pos;
    *dlen = (size_t)n;
    *pos += (size_t)n;
    return true;
  }
  default:
    return false;
  }
}

mlr_code auth_parse_handshake_request(const uint8_t *msg, size_t len, uint64_t *protocol_version,
                                      const uint8_t **payload, size_t *payload_len) {
  *protocol_version = 0;
  *payload = NULL;
  *payload_len = 0;
  size_t pos = 0;
  while (pos < len) {
    uint32_t field;
    int wire;
    uint64_t v = 0;
    const uint8_t *d;
    size_t dl;
    if (!pb_field(msg, len, &pos, &field, &wire, &v, &d, &dl)) return MALLARD_INVALID_ARGUMENT;
    if (field == 1 && wire == 0) *protocol_version = v;
    if (field == 2 && wire == 2) {
      *payload = d;
      *payload_len = dl;
    }
  }
  return MALLARD_OK;
}

mlr_code auth_parse_basic_auth_proto(const uint8_t *msg, size_t len, auth_credential *out,
                                     mlr_error *err) {
  memset(out, 0, sizeof *out);
  const uint8_t *user = NULL, *pw = NULL;
  size_t ulen = 0, plen = 0;
  size_t pos = 0;
  if (msg == NULL || len == 0) return unauthenticated(err);
  while (pos < len) {
    uint32_t field;
    int wire;
    uint64_t v = 0;
    const uint8_t *d;
    size_t dl;
    if (!pb_field(msg, len, &pos, &field, &wire, &v, &d, &dl)) return unauthenticated(err);
    if (field == 2 && wire == 2) {
      user = d;
      ulen = dl;
    } else if (field == 3 && wire == 2) {
      pw = d;
      plen = dl;
    }
  }
  if (user == NULL) return unauthenticated(err);
  return set_basic(out, (const char *)user, ulen, pw != NULL ? (const char *)pw : "", plen, err);
}

mlr_code auth_hash_password(const char *password, size_t len, int cost, char *out, mlr_error *err) {
  unsigned long long ops;
  size_t mem;
  if (sodium_init() < 0) return mlr_error_set(err, MALLARD_INTERNAL, "libsodium failed to start");
  switch (cost) {
  case 0:
    ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    break;
  case 2:
    ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
    mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
    break;
  default:
    ops = crypto_pwhash_OPSLIMIT_MODERATE;
    mem = crypto_pwhash_MEMLIMIT_MODERATE;
    break;
  }
  if (len == 0 || len > AUTH_MAX_PASSWORD) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "the password must be 1 to %d bytes long",
                         AUTH_MAX_PASSWORD);
  }
  if (crypto_pwhash_str_alg(out, password, len, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "hashing the password failed: not enough memory for Argon2id");
  }
  return MALLARD_OK;
}

bool auth_verify_password(const char *hash, const char *password, size_t len) {
  if (hash == NULL || sodium_init() < 0) return false;
  return crypto_pwhash_str_verify(hash, password, len) == 0;
}

void auth_new_token(char out[AUTH_TOKEN_CHARS + 1]) {
  uint8_t raw[32];
  if (sodium_init() < 0) abort(); /* no CSPRNG: never hand out a guessable token */
  randombytes_buf(raw, sizeof raw);
  auth_base64url_encode(raw, sizeof raw, out);
  sodium_memzero(raw, sizeof raw);
}

void auth_token_hash_hex(const char *token, size_t len, char out[AUTH_TOKEN_HASH_HEX + 1]) {
  uint8_t h[32];
  crypto_generichash(h, sizeof h, (const unsigned char *)token, len, NULL, 0);
  sodium_bin2hex(out, AUTH_TOKEN_HASH_HEX + 1, h, sizeof h);
}

mlr_code auth_parse_duration_ms(const char *flag, const char *text, int64_t *out_ms,
                                mlr_error *err) {
  char *end = NULL;
  if (text == NULL || *text == '\0' || isspace((unsigned char)*text)) goto bad;
  double v = strtod(text, &end);
  if (end == text || !isfinite(v) || v <= 0) goto bad;
  double scale;
  if (*end == '\0' || strcmp(end, "s") == 0) {
    scale = 1000;
  } else if (strcmp(end, "ms") == 0) {
    scale = 1;
  } else if (strcmp(end, "m") == 0) {
    scale = 60e3;
  } else if (strcmp(end, "h") == 0) {
    scale = 3600e3;
  } else if (strcmp(end, "d") == 0) {
    scale = 86400e3;
  } else {
    goto bad;
  }
  double ms = v * scale;
  if (ms < 1 || ms > 100.0 * 365 * 86400e3) goto bad;
  *out_ms = (int64_t)ms;
  return MALLARD_OK;
bad:
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "%s: '%s' is not a duration (e.g. 90, 500ms, 30s, 15m, 1h, 2d)", flag,
                       text != NULL ? text : "");
}

bool auth_listen_is_loopback(const char *host_port) {
  if (host_port == NULL) return false;
  if (strncmp(host_port, "unix:", 5) == 0 || strncmp(host_port, "unix-abstract:", 14) == 0) {
    return true;
  }
  const char *host = host_port;
  size_t hlen;
  if (*host == '[') {
    const char *close = strchr(host, ']');
    if (close == NULL) return false;
    host++;
    hlen = (size_t)(close - host);
  } else {
    const char *colon = strrchr(host, ':');
    hlen = colon != NULL ? (size_t)(colon - host) : strlen(host);
    /* A bare IPv6 address without brackets ("::1") has several colons. */
    if (colon != NULL && memchr(host, ':', hlen) != NULL) hlen = strlen(host);
  }
  if (hlen == 9 && strncasecmp(host, "localhost", 9) == 0) return true;
  if (hlen == 3 && strncmp(host, "::1", 3) == 0) return true;
  if (hlen >= 4 && strncmp(host, "127.", 4) == 0) {
    for (size_t i = 4; i < hlen; i++) {
      if (!isdigit((unsigned char)host[i]) && host[i] != '.') return false;
    }
    return true;
  }
  return false;
}

bool auth_action_is_read_only(const char *action_type) {
  static const char *const read_only[] = {"ping", "list_tables", "list_exchangers", "logout"};
  if (action_type == NULL) return false;
  for (size_t i = 0; i < sizeof read_only / sizeof read_only[0]; i++) {
    if (strcmp(action_type, read_only[i]) == 0) return true;
  }
  return false;
}

const char *auth_default_warning(void) {
  return "WARNING: no --users file: the only user is admin with the well-known password "
         "'password123'. Create users with `mallard passwd NAME >> users.txt` and start with "
         "--users users.txt";
}

/* ------------------------------------------------------------------ UTC times (tokens file) */

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar (month 1-12). */
static int64_t days_since_epoch(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool leap_year(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool auth_digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool auth_utc_from_fields(int y, int mo, int d, int h, int mi, int s, int64_t *unix_s) {
  static const int k_month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 ||
      s > 59)
    return false;
  if (d > k_month_days[mo - 1] + (mo == 2 && leap_year(y) ? 1 : 0)) return false;
  *unix_s = days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  return true;
}

bool auth_parse_utc(const char *t, size_t len, int64_t *unix_s) {
  int y, mo, d, h, mi, s;
  if (t == NULL || len != AUTH_UTC_CHARS || t[4] != '-' || t[7] != '-' || t[10] != 'T' ||
      t[13] != ':' || t[16] != ':' || t[19] != 'Z') {
    return false;
  }
  if (!auth_digits(t, 4, &y) || !auth_digits(t + 5, 2, &mo) || !auth_digits(t + 8, 2, &d) ||
      !auth_digits(t + 11, 2, &h) || !auth_digits(t + 14, 2, &mi) || !auth_digits(t + 17, 2, &s)) {
    return false;
  }
  return y >= 1970 && auth_utc_from_fields(y, mo, d, h, mi, s, unix_s);
}

void auth_format_utc(int64_t unix_s, char out[AUTH_UTC_CHARS + 1]) {
  time_t tt = (time_t)unix_s;
  struct tm tm;
  if (unix_s < 0 || gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999) {
    snprintf(out, AUTH_UTC_CHARS + 1, "9999-12-31T23:59:59Z");
    return;
  }
  if (strftime(out, AUTH_UTC_CHARS + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != AUTH_UTC_CHARS) {
    snprintf(out, AUTH_UTC_CHARS + 1, "9999-12-31T23:59:59Z");
  }
}
