/* Unit tests for auth_tls_load: the PEM files behind --tls-cert, --tls-key, --tls-client-ca. */
#include "auth/auth.h"
#include "mtest.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_temp(const char *text) {
  char *path = strdup("/tmp/mallard-tls-test-XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) {
    free(path);
    return NULL;
  }
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) len = 0;
  close(fd);
  return path;
}

static const char *CERT = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
static const char *KEY = "-----BEGIN PRIVATE KEY-----\nKEYSECRET\n-----END PRIVATE KEY-----\n";

static void test_tls_load(void) {
  char *cert = write_temp(CERT), *key = write_temp(KEY), *junk = write_temp("KEYSECRET junk\n");
  char *ec = write_temp("-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n");
  REQUIRE(cert && key && junk && ec);
  auth_tls_files t;
  mlr_error err;
  /* nothing: plaintext */
  CHECK_EQ_INT(auth_tls_load(NULL, NULL, NULL, &t, &err), MALLARD_OK);
  CHECK(t.cert_pem == NULL && t.key_pem == NULL && t.client_ca_pem == NULL);
  /* all three */
  CHECK_EQ_INT(auth_tls_load(cert, key, cert, &t, &err), MALLARD_OK);
  CHECK_EQ_STR(t.cert_pem, CERT);
  CHECK_EQ_STR(t.key_pem, KEY);
  CHECK_EQ_STR(t.client_ca_pem, CERT);
  auth_tls_files_release(&t);
  CHECK(t.cert_pem == NULL);
  CHECK_EQ_INT(auth_tls_load(cert, ec, NULL, &t, &err), MALLARD_OK);
  auth_tls_files_release(&t);
  /* pairs */
  CHECK_EQ_INT(auth_tls_load(cert, NULL, NULL, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "--tls-key") != NULL);
  CHECK_EQ_INT(auth_tls_load(NULL, key, NULL, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK_EQ_INT(auth_tls_load(NULL, NULL, cert, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "--tls-client-ca") != NULL);
  /* missing file */
  CHECK_EQ_INT(auth_tls_load("/nonexistent/cert.pem", key, NULL, &t, &err), MALLARD_NOT_FOUND);
  CHECK(strstr(err.message, "--tls-cert '/nonexistent/cert.pem': file not found") != NULL);
  CHECK(t.cert_pem == NULL && t.key_pem == NULL);
  CHECK_EQ_INT(auth_tls_load(cert, "/nonexistent/key.pem", NULL, &t, &err), MALLARD_NOT_FOUND);
  CHECK(strstr(err.message, "--tls-key") != NULL);
  CHECK(t.cert_pem == NULL);
  /* not PEM, and the contents never appear in the message */
  CHECK_EQ_INT(auth_tls_load(cert, junk, NULL, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "not a PEM file") != NULL);
  CHECK(strstr(err.message, "KEYSECRET") == NULL);
  /* wrong kind of PEM: a certificate where the key goes, a key where the cert goes */
  CHECK_EQ_INT(auth_tls_load(cert, cert, NULL, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "PRIVATE KEY") != NULL);
  CHECK_EQ_INT(auth_tls_load(key, key, NULL, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "KEYSECRET") == NULL);
  /* a directory */
  CHECK_EQ_INT(auth_tls_load("/tmp", key, NULL, &t, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "not a regular file") != NULL);
  unlink(cert);
  unlink(key);
  unlink(junk);
  unlink(ec);
  free(cert);
  free(key);
  free(junk);
  free(ec);
}

MTEST_MAIN(MTEST(test_tls_load))
