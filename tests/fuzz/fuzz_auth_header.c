/* libFuzzer target: the authorization header parser, the Handshake/BasicAuth protobuf parsers
 * and the certificate validity reader (DER). The first input byte picks the parser; the rest is
 * the input. */
#include "auth/auth.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  uint8_t sel = data[0] % 4;
  size_t n = size - 1;
  /* Exact-size copy so that ASan sees any read past the end. */
  uint8_t *in = malloc(n > 0 ? n : 1);
  if (in == NULL) return 0;
  memcpy(in, data + 1, n);
  mlr_error err;
  memset(&err, 0, sizeof err);
  auth_credential cred;
  memset(&cred, 0, sizeof cred);
  if (sel == 0) {
    (void)auth_parse_authorization((const char *)in, n, &cred, &err);
  } else if (sel == 1) {
    uint64_t ver = 0;
    const uint8_t *payload = NULL;
    size_t plen = 0;
    if (auth_parse_handshake_request(in, n, &ver, &payload, &plen) == MALLARD_OK && plen > 0) {
      if (payload < in || payload + plen > in + n) abort();
      (void)auth_parse_basic_auth_proto(payload, plen, &cred, &err);
    }
  } else if (sel == 2) {
    (void)auth_parse_basic_auth_proto(in, n, &cred, &err);
  } else {
    int64_t not_before = 0, not_after = 0;
    /* whatever it takes must be a time the two forms can write: years 0 to 9999 */
    const int64_t lo = -62167219200, hi = 253402300799;
    if (auth_cert_der_validity(in, n, &not_before, &not_after) &&
        (not_before < lo || not_before > hi || not_after < lo || not_after > hi))
      abort();
  }
  auth_credential_clear(&cred);
  free(in);
  return 0;
}
