/* Unit tests for the certificate validity reader behind `mallard serve`'s warnings about
 * --tls-cert dates (auth_x509.c): a real certificate made by openssl, certificates built byte by
 * byte for each DER rule and time form, every truncation, and the warnings' words. */
#define _DEFAULT_SOURCE /* timegm, to check the date arithmetic against the C library's */
#include "auth/auth.h"
#include "mtest.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* EC P-256 key, signed by a test CA with `openssl ca -startdate 20240229123456Z -enddate
 * 20491231235959Z` (both UTCTime); a public certificate, no secret. */
static const char *EC_CERT = "-----BEGIN CERTIFICATE-----\n"
                             "MIICOzCCASOgAwIBAgIBAzANBgkqhkiG9w0BAQsFADARMQ8wDQYDVQQDDAZ0ZXN0\n"
                             "Y2EwHhcNMjQwMjI5MTIzNDU2WhcNNDkxMjMxMjM1OTU5WjAcMRowGAYDVQQDDBFt\n"
                             "YWxsYXJkLXVuaXQtdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGqNHjuw\n"
                             "7TBi2LC0tAXiPKElwWkCCYkINfLieL2O6yb5Qn4tOGs1Tq5aCPVFx5QK9k6c3WbF\n"
                             "Q5Cz29YlfLCmEVujXjBcMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAdBgNV\n"
                             "HQ4EFgQU7kV13bBEM8kotBRSV82BXZAsYgUwHwYDVR0jBBgwFoAUBCE7aqbHLd2t\n"
                             "Wxbn3cJC1nwtefwwDQYJKoZIhvcNAQELBQADggEBAEHazk4FXm3QwFtp0S25vYpn\n"
                             "rEgol8z5/w4i2j+6DmvzGBxgjx9fmzpZspbPC+otkd5pEBkTlG3Tp8cVT5VJ642U\n"
                             "+RU2GcCf/fQJkV/ohXdieH1sp4HESkKwONPql15QshosHLOsoge/U1+T7lrX2IOb\n"
                             "jtsPoTGl/TijNVPzeHL+A1WFAXFcorfYtXrjnBiEYNtLLG5LdQlOl8tMc9ur7Kn+\n"
                             "bkbTOPY7w5GevsHZI+TiJcJmYLnXxu76WBJSt3FnUAdqMMN7Zv/Bp5TcXwQaC8zl\n"
                             "DfhvwI+GKV6CQEkbynkuaX0k+6z2/UMK6foZHDyJAJm9AThOGH2YTGU8hwCHXGI=\n"
                             "-----END CERTIFICATE-----\n";
#define EC_NOT_BEFORE 1709210096 /* 2024-02-29 12:34:56 UTC */
#define EC_NOT_AFTER 2524607999  /* 2049-12-31 23:59:59 UTC */

static void test_real_certificate(void) {
  int64_t nb = 0, na = 0;
  CHECK(auth_cert_validity(EC_CERT, &nb, &na));
  CHECK_EQ_INT(nb, EC_NOT_BEFORE);
  CHECK_EQ_INT(na, EC_NOT_AFTER);
  /* a key before it, as in a combined PEM file; CRLF line ends */
  char buf[4096];
  snprintf(buf, sizeof buf, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n%s",
           EC_CERT);
  for (char *p = buf; (p = strchr(p, '\n')) != NULL;) { /* LF -> CRLF */
    size_t rest = strlen(p);
    if ((size_t)(p - buf) + rest + 2 > sizeof buf) break;
    memmove(p + 1, p, rest + 1);
    *p = '\r';
    p += 2;
  }
  nb = na = 0;
  CHECK(auth_cert_validity(buf, &nb, &na));
  CHECK_EQ_INT(na, EC_NOT_AFTER);
  /* no certificate, a broken base64 body, no END line */
  CHECK(!auth_cert_validity(NULL, &nb, &na));
  CHECK(!auth_cert_validity("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", &nb,
                            &na));
  CHECK(!auth_cert_validity("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n",
                            &nb, &na));
  CHECK(!auth_cert_validity("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", &nb,
                            &na));
  char *cut = strdup(EC_CERT);
  REQUIRE(cut != NULL);
  *strstr(cut, "-----END") = '\0';
  CHECK(!auth_cert_validity(cut, &nb, &na));
  free(cut);
}

/* A tiny DER writer: tlv() appends tag, length, contents to a buffer. */
typedef struct der {
  unsigned char b[1024];
  size_t n;
} der;

static void tlv(der *d, unsigned char tag, const void *contents, size_t len) {
  if (d->n + len + 6 > sizeof d->b) abort();
  d->b[d->n++] = tag;
  if (len < 0x80) {
    d->b[d->n++] = (unsigned char)len;
  } else if (len < 0x100) {
    d->b[d->n++] = 0x81;
    d->b[d->n++] = (unsigned char)len;
  } else {
    d->b[d->n++] = 0x82;
    d->b[d->n++] = (unsigned char)(len >> 8);
    d->b[d->n++] = (unsigned char)len;
  }
  memcpy(d->b + d->n, contents, len);
  d->n += len;
}

static bool long_validity_length; /* cert_with writes the validity's length as 0x81 LL */

/* A certificate (no signature: not read) with the given times; version [0] when v3. */
static der cert_with(unsigned char tag1, const char *t1, unsigned char tag2, const char *t2,
                     bool v3, const char *extra_in_validity) {
  der validity = {0}, tbs = {0}, cert = {0}, tmp = {0};
  tlv(&validity, tag1, t1, strlen(t1));
  tlv(&validity, tag2, t2, strlen(t2));
  if (extra_in_validity) tlv(&validity, 0x05, "", 0); /* a NULL that does not belong */
  if (v3) {
    unsigned char two = 2;
    tlv(&tmp, 0x02, &two, 1);
    tlv(&tbs, 0xa0, tmp.b, tmp.n);
  }
  unsigned char serial[20];
  memset(serial, 0x11, sizeof serial);
  tlv(&tbs, 0x02, serial, sizeof serial);
  tlv(&tbs, 0x30, "\x06\x03\x2a\x03\x04", 5); /* an algorithm identifier */
  char issuer[300];                           /* long enough for a two-byte length */
  memset(issuer, 'x', sizeof issuer);
  tlv(&tbs, 0x30, issuer, sizeof issuer);
  if (long_validity_length) { /* 0x81 LL for a length under 128: not DER's shortest form */
    tbs.b[tbs.n++] = 0x30;
    tbs.b[tbs.n++] = 0x81;
    tbs.b[tbs.n++] = (unsigned char)validity.n;
    memcpy(tbs.b + tbs.n, validity.b, validity.n);
    tbs.n += validity.n;
  } else {
    tlv(&tbs, 0x30, validity.b, validity.n);
  }
  tlv(&tbs, 0x30, "", 0); /* subject */
  tlv(&cert, 0x30, tbs.b, tbs.n);
  der out = {0};
  tlv(&out, 0x30, cert.b, cert.n);
  return out;
}

static void test_times(void) {
  int64_t nb = 0, na = 0;
  der d = cert_with(0x17, "491231235959Z", 0x17, "500101000000Z", true, NULL);
  CHECK(auth_cert_der_validity(d.b, d.n, &nb, &na));
  CHECK_EQ_INT(nb, 2524607999); /* UTCTime 49 is 2049 */
  CHECK_EQ_INT(na, -631152000); /* and 50 is 1950 (RFC 5280) */
  d = cert_with(0x18, "20000301000000Z", 0x18, "20900101120000Z", false, NULL); /* v1 */
  CHECK(auth_cert_der_validity(d.b, d.n, &nb, &na));
  CHECK_EQ_INT(nb, 951868800);
  CHECK_EQ_INT(na, 3786955200LL);
  /* every day from 1950 to 2100 against the C library's timegm */
  int bad = 0;
  for (int64_t day = -7305; day < 47482; day += 1) {
    time_t t = (time_t)(day * 86400 + 45296); /* 12:34:56 */
    struct tm tm;
    gmtime_r(&t, &tm);
    char gt[32];
    snprintf(gt, sizeof gt, "%04d%02d%02d123456Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    d = cert_with(0x18, gt, 0x18, gt, true, NULL);
    if (!auth_cert_der_validity(d.b, d.n, &nb, &na) || nb != (int64_t)timegm(&tm)) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  /* not times RFC 5280 allows, or not dates */
  const char *bad_utc[] = {"4912312359Z",   "491231235959",  "491231235959+0100", "491331235959Z",
                           "490230000000Z", "230229000000Z", "491231245959Z",     "491231236059Z",
                           "491231235960Z", "4912312359 9Z", "491200235959Z",     "-91231235959Z"};
  for (size_t i = 0; i < sizeof bad_utc / sizeof bad_utc[0]; i++) {
    d = cert_with(0x17, bad_utc[i], 0x17, "500101000000Z", true, NULL);
    CHECK(!auth_cert_der_validity(d.b, d.n, &nb, &na));
  }
  d = cert_with(0x17, "240229000000Z", 0x17, "240229235959Z", true, NULL); /* a leap day */
  CHECK(auth_cert_der_validity(d.b, d.n, &nb, &na));
  d = cert_with(0x18, "21000229000000Z", 0x18, "21000301000000Z", true, NULL); /* 2100: none */
  CHECK(!auth_cert_der_validity(d.b, d.n, &nb, &na));
  d = cert_with(0x18, "491231235959Z", 0x17, "500101000000Z", true, NULL); /* wrong length */
  CHECK(!auth_cert_der_validity(d.b, d.n, &nb, &na));
  d = cert_with(0x04, "491231235959Z", 0x17, "500101000000Z", true, NULL); /* not a time tag */
  CHECK(!auth_cert_der_validity(d.b, d.n, &nb, &na));
  d = cert_with(0x17, "491231235959Z", 0x17, "500101000000Z", true, "extra");
  CHECK(!auth_cert_der_validity(d.b, d.n, &nb, &na));
}

static void test_der_rules(void) {
  int64_t nb = 0, na = 0;
  der d = cert_with(0x17, "240101000000Z", 0x17, "250101000000Z", true, NULL);
  REQUIRE(auth_cert_der_validity(d.b, d.n, &nb, &na));
  /* every truncation: none reads past the end (ASan) and none is taken */
  int taken = 0;
  for (size_t n = 0; n < d.n; n++) {
    unsigned char *copy = malloc(n ? n : 1); /* exact size, for ASan */
    REQUIRE(copy != NULL);
    memcpy(copy, d.b, n);
    if (auth_cert_der_validity(copy, n, &nb, &na)) taken++;
    free(copy);
  }
  CHECK_EQ_INT(taken, 0);
  /* trailing bytes after the certificate are not its business (PEM holds exactly one) */
  d.b[d.n] = 0;
  CHECK(auth_cert_der_validity(d.b, d.n + 1, &nb, &na));
  /* the same outer length in a form that is not the shortest (0x83 0x00 HH LL for 0x82 HH LL) */
  der long_form = {{0x30, 0x83, 0x00}, 3};
  REQUIRE(d.b[1] == 0x82);
  memcpy(long_form.b + 3, d.b + 2, d.n - 2);
  long_form.n = d.n + 1;
  CHECK(!auth_cert_der_validity(long_form.b, long_form.n, &nb, &na));
  long_form.b[1] = 0x82; /* and the check is on the form, not the bytes: shortest again */
  memmove(long_form.b + 2, long_form.b + 3, d.n - 2);
  long_form.n = d.n;
  CHECK(auth_cert_der_validity(long_form.b, long_form.n, &nb, &na));
  long_validity_length = true;
  d = cert_with(0x17, "240101000000Z", 0x17, "250101000000Z", true, NULL);
  long_validity_length = false;
  CHECK(!auth_cert_der_validity(d.b, d.n, &nb, &na));
  /* indefinite length, a high tag number, a length past the end, 5 length bytes */
  unsigned char indefinite[] = {0x30, 0x80, 0x00, 0x00};
  CHECK(!auth_cert_der_validity(indefinite, sizeof indefinite, &nb, &na));
  unsigned char high_tag[] = {0x3f, 0x01, 0x00};
  CHECK(!auth_cert_der_validity(high_tag, sizeof high_tag, &nb, &na));
  unsigned char past[] = {0x30, 0x05, 0x30, 0x03, 0x02, 0x01};
  CHECK(!auth_cert_der_validity(past, sizeof past, &nb, &na));
  unsigned char huge[] = {0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};
  CHECK(!auth_cert_der_validity(huge, sizeof huge, &nb, &na));
  /* an outer SET instead of a SEQUENCE */
  d = cert_with(0x17, "240101000000Z", 0x17, "250101000000Z", true, NULL);
  REQUIRE(auth_cert_der_validity(d.b, d.n, &nb, &na));
  d.b[0] = 0x31;
  CHECK(!auth_cert_der_validity(d.b, d.n, &nb, &na));
}

static void test_warnings(void) {
  char buf[512];
  strcpy(buf, "untouched");
  /* valid for years: nothing to say, buf untouched */
  CHECK(!auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_BEFORE + 86400, buf, sizeof buf));
  CHECK_EQ_STR(buf, "untouched");
  CHECK(!auth_cert_warning("--tls-cert", "c.pem", "no pem", EC_NOT_AFTER + 1, buf, sizeof buf));
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER + 1, buf, sizeof buf));
  CHECK_EQ_STR(buf, "--tls-cert 'c.pem': the certificate expired on 2049-12-31 23:59:59 UTC; TLS "
                    "clients will refuse this server ('certificate verify failed')");
  CHECK(auth_cert_warning("--tls-client-ca", "ca.pem", EC_CERT, EC_NOT_AFTER + 1, buf, sizeof buf));
  CHECK(strstr(buf, "--tls-client-ca 'ca.pem': the certificate expired on ") == buf);
  CHECK(strstr(buf, "client certificates that chain to it will be refused") != NULL);
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_BEFORE - 1, buf, sizeof buf));
  CHECK(strstr(buf, "the certificate is not valid until 2024-02-29 12:34:56 UTC; until then TLS "
                    "clients will refuse") != NULL);
  CHECK(strstr(buf, "clock wrong?") != NULL);
  /* the last 14 days: to the nearest day */
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER - 3 * 86400 + 60, buf,
                          sizeof buf));
  CHECK_EQ_STR(buf, "--tls-cert 'c.pem': the certificate expires on 2049-12-31 23:59:59 UTC (in "
                    "3 days); renew it");
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER - 86400, buf, sizeof buf));
  CHECK(strstr(buf, "(in 1 day); renew it") != NULL);
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER - 3600, buf, sizeof buf));
  CHECK(strstr(buf, "(in under a day); renew it") != NULL);
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER, buf, sizeof buf));
  CHECK(strstr(buf, "(in under a day)") != NULL); /* the last second is still valid */
  CHECK(!auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER - 14 * 86400, buf,
                           sizeof buf));
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER - 14 * 86400 + 1, buf,
                          sizeof buf));
  CHECK(strstr(buf, "(in 14 days)") != NULL);
  /* a year below 1000 is written with four digits */
  der d = cert_with(0x18, "00010101000000Z", 0x18, "00010102000000Z", true, NULL);
  char b64[2048];
  sodium_bin2base64(b64, sizeof b64, d.b, d.n, sodium_base64_VARIANT_ORIGINAL);
  char pem[2200];
  snprintf(pem, sizeof pem, "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", b64);
  CHECK(auth_cert_warning("--tls-cert", "old.pem", pem, 0, buf, sizeof buf));
  CHECK(strstr(buf, "expired on 0001-01-02 00:00:00 UTC") != NULL);
  /* every certificate of a file is checked (a chain's intermediate, a bundle's CAs) */
  char two[4096];
  snprintf(two, sizeof two, "%s%s", EC_CERT, pem);
  CHECK(auth_cert_warning("--tls-cert", "chain.pem", two, EC_NOT_BEFORE + 1, buf, sizeof buf));
  CHECK_EQ_STR(buf, "--tls-cert 'chain.pem': certificate 2 of the 2 in the file expired on "
                    "0001-01-02 00:00:00 UTC; TLS clients will refuse this server ('certificate "
                    "verify failed')");
  /* the worst of them is said: one refused now before one that expires next week */
  CHECK(
      auth_cert_warning("--tls-cert", "chain.pem", two, EC_NOT_AFTER - 3 * 86400, buf, sizeof buf));
  CHECK(strstr(buf, "certificate 2 of the 2 in the file expired on 0001-01-02") != NULL);
  snprintf(two, sizeof two, "%s%s", pem, EC_CERT);
  CHECK(
      auth_cert_warning("--tls-cert", "chain.pem", two, EC_NOT_AFTER - 3 * 86400, buf, sizeof buf));
  CHECK(strstr(buf, "certificate 1 of the 2 in the file expired on 0001-01-02") != NULL);
  /* cut to fit a small buffer */
  char small[16];
  CHECK(auth_cert_warning("--tls-cert", "c.pem", EC_CERT, EC_NOT_AFTER + 1, small, sizeof small));
  CHECK_EQ_STR(small, "--tls-cert 'c.p");
}

MTEST_MAIN(MTEST(test_real_certificate), MTEST(test_times), MTEST(test_der_rules),
           MTEST(test_warnings))
