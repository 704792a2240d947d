/* Reads the validity period of an X.509 certificate (RFC 5280 section 4.1), so that `mallard
 * serve` can warn about a --tls-cert that TLS clients will refuse: expired, not yet valid, or about
 * to expire. Only the fields up to `validity` are read; gRPC (OpenSSL) checks the certificate
 * itself. The reader is strict DER with bounds checks: the file is the operator's, but a reader
 * of length-prefixed bytes gets the same care as one of network input (fuzzed). */
#include "auth/auth_internal.h"

#include <sodium.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DER_SEQUENCE 0x30
#define DER_INTEGER 0x02
#define DER_CONTEXT_0 0xa0 /* [0] EXPLICIT, constructed: the version */
#define DER_UTC_TIME 0x17
#define DER_GENERALIZED_TIME 0x18

#define EXPIRY_WARN_DAYS 14

typedef struct der_cursor {
  const uint8_t *p;
  size_t n;
} der_cursor;

/* Takes one TLV off c: its tag and its contents. False when the bytes are not a DER TLV that
 * lies within c (multi-byte tags, indefinite or non-minimal lengths, lengths past the end). */
static bool der_next(der_cursor *c, uint8_t *tag, der_cursor *contents) {
  if (c->n < 2) return false;
  uint8_t t = c->p[0];
  if ((t & 0x1f) == 0x1f) return false; /* high tag numbers: none in the fields read here */
  size_t len = c->p[1], hdr = 2;
  if (len & 0x80) {
    size_t k = len & 0x7f;
    if (k == 0 || k > 4 || c->n < 2 + k) return false; /* indefinite, or over 4 GiB */
    len = 0;
    for (size_t i = 0; i < k; i++) len = (len << 8) | c->p[2 + i];
    if (len < 0x80 || c->p[2] == 0) return false; /* not the shortest form */
    hdr += k;
  }
  if (len > c->n - hdr) return false;
  *tag = t;
  contents->p = c->p + hdr;
  contents->n = len;
  c->p += hdr + len;
  c->n -= hdr + len;
  return true;
}

/* UTCTime "YYMMDDHHMMSSZ" (years 1950-2049) or GeneralizedTime "YYYYMMDDHHMMSSZ", the forms RFC
 * 5280 allows, as seconds since the epoch. */
static bool der_time(uint8_t tag, der_cursor v, int64_t *out) {
  int year, mon, day, hour, min, sec;
  const char *s = (const char *)v.p;
  if (tag == DER_UTC_TIME && v.n == 13) {
    if (!auth_digits(s, 2, &year)) return false;
    year += year >= 50 ? 1900 : 2000;
    s += 2;
  } else if (tag == DER_GENERALIZED_TIME && v.n == 15) {
    if (!auth_digits(s, 4, &year)) return false;
    s += 4;
  } else {
    return false;
  }
  return auth_digits(s, 2, &mon) && auth_digits(s + 2, 2, &day) && auth_digits(s + 4, 2, &hour) &&
         auth_digits(s + 6, 2, &min) && auth_digits(s + 8, 2, &sec) && s[10] == 'Z' &&
         auth_utc_from_fields(year, mon, day, hour, min, sec, out);
}

bool auth_cert_der_validity(const uint8_t *der, size_t n, int64_t *not_before, int64_t *not_after) {
  der_cursor all = {der, n}, cert, tbs, field, validity, t;
  uint8_t tag;
  /* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ... } ... } */
  if (!der_next(&all, &tag, &cert) || tag != DER_SEQUENCE) return false;
  if (!der_next(&cert, &tag, &tbs) || tag != DER_SEQUENCE) return false;
  /* [0] version (absent for v1), serialNumber, signature, issuer, validity */
  if (!der_next(&tbs, &tag, &field)) return false;
  if (tag == DER_CONTEXT_0 && !der_next(&tbs, &tag, &field)) return false;
  if (tag != DER_INTEGER) return false;
  for (int i = 0; i < 2; i++) { /* signature AlgorithmIdentifier, issuer Name */
    if (!der_next(&tbs, &tag, &field) || tag != DER_SEQUENCE) return false;
  }
  if (!der_next(&tbs, &tag, &validity) || tag != DER_SEQUENCE) return false;
  int64_t nb, na;
  if (!der_next(&validity, &tag, &t) || !der_time(tag, t, &nb)) return false;
  if (!der_next(&validity, &tag, &t) || !der_time(tag, t, &na)) return false;
  if (validity.n != 0) return false;
  *not_before = nb;
  *not_after = na;
  return true;
}

bool auth_cert_validity(const char *pem, int64_t *not_before, int64_t *not_after) {
  static const char begin[] = "-----BEGIN CERTIFICATE-----";
  static const char end[] = "-----END CERTIFICATE-----";
  const char *b = pem != NULL ? strstr(pem, begin) : NULL;
  if (b == NULL) return false;
  b += sizeof begin - 1;
  const char *e = strstr(b, end);
  if (e == NULL) return false;
  size_t b64_len = (size_t)(e - b);
  size_t cap = b64_len / 4 * 3 + 3;
  uint8_t *der = malloc(cap);
  if (der == NULL) return false;
  size_t n = 0;
  const char *stop = NULL;
  bool ok = sodium_base642bin(der, cap, b, b64_len, " \t\r\n", &n, &stop,
                              sodium_base64_VARIANT_ORIGINAL) == 0 &&
            stop == e && auth_cert_der_validity(der, n, not_before, not_after);
  free(der);
  return ok;
}

static void format_utc(int64_t t, char *buf, size_t cap) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL) {
    snprintf(buf, cap, "%" PRId64 " s after the epoch", t);
    return;
  }
  snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec); /* (strftime's %Y: year 1 as "1") */
}

/* The warning for one certificate (named by `which`) valid from nb to na, at now; false when it
 * is valid for longer than EXPIRY_WARN_DAYS. */
static bool validity_warning(const char *flag, const char *path, const char *which, int64_t nb,
                             int64_t na, int64_t now, char *buf, size_t cap) {
  char when[64];
  bool client_ca = strcmp(flag, "--tls-client-ca") == 0;
  const char *who = client_ca ? "client certificates that chain to it will be refused"
                              : "TLS clients will refuse this server ('certificate verify failed')";
  if (now > na) {
    format_utc(na, when, sizeof when);
    snprintf(buf, cap, "%s '%s': %s expired on %s; %s", flag, path, which, when, who);
  } else if (now < nb) {
    format_utc(nb, when, sizeof when);
    snprintf(buf, cap,
             "%s '%s': %s is not valid until %s; until then %s (or is this machine's clock "
             "wrong?)",
             flag, path, which, when, who);
  } else if (na - now < (int64_t)EXPIRY_WARN_DAYS * 86400) {
    format_utc(na, when, sizeof when);
    int64_t days = (na - now + 43200) / 86400; /* to the nearest day */
    char in[32];
    if (days == 0)
      snprintf(in, sizeof in, "under a day");
    else
      snprintf(in, sizeof in, "%" PRId64 " day%s", days, days == 1 ? "" : "s");
    snprintf(buf, cap, "%s '%s': %s expires on %s (in %s); renew it", flag, path, which, when, in);
  } else {
    return false;
  }
  return true;
}

/* How bad a certificate's dates are at now: 2 clients refuse it (expired, not yet valid), 1 it
 * expires within EXPIRY_WARN_DAYS, 0 neither. */
static int date_severity(int64_t nb, int64_t na, int64_t now) {
  if (now > na || now < nb) return 2;
  return na - now < (int64_t)EXPIRY_WARN_DAYS * 86400 ? 1 : 0;
}

bool auth_cert_warning(const char *flag, const char *path, const char *pem, int64_t now, char *buf,
                       size_t cap) {
  static const char begin[] = "-----BEGIN CERTIFICATE-----";
  if (cap == 0 || pem == NULL) return false;
  /* The worst certificate of the file (the first of those): an intermediate that expired matters
   * more than a leaf that expires next week. */
  size_t total = 0, k = 0, worst_k = 0;
  int worst = 0;
  int64_t worst_nb = 0, worst_na = 0;
  for (const char *p = pem; (p = strstr(p, begin)) != NULL; p += sizeof begin - 1) {
    int64_t nb, na;
    k = ++total;
    if (!auth_cert_validity(p, &nb, &na)) continue;
    int sev = date_severity(nb, na, now);
    if (sev > worst) {
      worst = sev;
      worst_k = k;
      worst_nb = nb;
      worst_na = na;
    }
  }
  if (worst == 0) return false;
  char which[64];
  if (total == 1)
    snprintf(which, sizeof which, "the certificate");
  else
    snprintf(which, sizeof which, "certificate %zu of the %zu in the file", worst_k, total);
  return validity_warning(flag, path, which, worst_nb, worst_na, now, buf, cap);
}
