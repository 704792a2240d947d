/* Loads the PEM files named by --tls-cert, --tls-key and --tls-client-ca for the Flight
 * server's TLS options, with errors that name the flag and file but never quote the contents. */
#include "auth/auth.h"

#include <sodium.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PEM_BYTES (1024 * 1024)

static mlr_code load_pem(const char *flag, const char *path, const char *must_hold, char **out,
                         mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  char *buf = NULL;
  size_t cap = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    int e = errno;
    rc = mlr_error_set(err, e == ENOENT ? MALLARD_NOT_FOUND : MALLARD_INVALID_ARGUMENT,
                       "%s '%s': %s", flag, path, e == ENOENT ? "file not found" : strerror(e));
    goto cleanup;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s': not a regular file", flag, path);
    goto cleanup;
  }
  if (st.st_size > MAX_PEM_BYTES) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s': larger than 1 MiB, not a PEM file",
                       flag, path);
    goto cleanup;
  }
  cap = (size_t)st.st_size + 1;
  buf = malloc(cap);
  if (buf == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "%s: out of memory", flag);
    goto cleanup;
  }
  size_t len = fread(buf, 1, cap - 1, f);
  if (ferror(f)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s': read error", flag, path);
    goto cleanup;
  }
  buf[len] = '\0';
  if (memchr(buf, '\0', len) != NULL || strstr(buf, "-----BEGIN ") == NULL ||
      strstr(buf, "-----END ") == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "%s '%s': not a PEM file (expected a '-----BEGIN ...-----' block)", flag,
                       path);
    goto cleanup;
  }
  if (strstr(buf, must_hold) == NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s': the PEM file holds no '%s' block",
                       flag, path, must_hold);
    goto cleanup;
  }
  *out = buf;
  buf = NULL;
cleanup:
  if (f != NULL) fclose(f);
  if (buf != NULL) {
    sodium_memzero(buf, cap);
    free(buf);
  }
  return rc;
}

mlr_code auth_tls_load(const char *cert_path, const char *key_path, const char *client_ca_path,
                       auth_tls_files *out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  memset(out, 0, sizeof *out);
  if ((cert_path == NULL) != (key_path == NULL)) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "--tls-cert and --tls-key go together: give both or neither");
  }
  if (client_ca_path != NULL && cert_path == NULL) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "--tls-client-ca needs TLS: give --tls-cert and --tls-key too");
  }
  if (cert_path == NULL) return MALLARD_OK;
  rc = load_pem("--tls-cert", cert_path, "CERTIFICATE-----", &out->cert_pem, err);
  if (rc == MALLARD_OK)
    rc = load_pem("--tls-key", key_path, "PRIVATE KEY-----", &out->key_pem, err);
  if (rc == MALLARD_OK && client_ca_path != NULL) {
    rc = load_pem("--tls-client-ca", client_ca_path, "CERTIFICATE-----", &out->client_ca_pem, err);
  }
  if (rc != MALLARD_OK) auth_tls_files_release(out);
  return rc;
}

void auth_tls_files_release(auth_tls_files *t) {
  if (t == NULL) return;
  free(t->cert_pem);
  if (t->key_pem != NULL) {
    sodium_memzero(t->key_pem, strlen(t->key_pem));
    free(t->key_pem);
  }
  free(t->client_ca_pem);
  memset(t, 0, sizeof *t);
}
