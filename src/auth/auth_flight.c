/* The Flight side of auth: the middleware that runs before every RPC, the Handshake handler
 * (Basic header or old-style BasicAuth payload in, bearer token out), logout and role checks. */
#include "auth/auth.h"
#include "auth/auth_internal.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Handshake messages larger than this cannot be a BasicAuth within the name/password limits. */
#define MAX_HANDSHAKE_MESSAGE (16 * 1024)
/* New-style clients half-close at once; a few stray messages are answered, more are hostile. */
#define MAX_HANDSHAKE_MESSAGES 8

static mlr_code unauthenticated(mlr_error *err) {
  return mlr_error_set(err, MALLARD_UNAUTHENTICATED, "%s", AUTH_UNAUTHENTICATED_MESSAGE);
}

static const char *call_peer(const flight_call *call) {
  const char *p = flight_call_peer(call);
  return p != NULL ? p : "";
}

/* Reads the call's credential from `authorization` or, failing that, `auth-token-bin`. */
static mlr_code call_credential(const flight_call *call, auth_credential *cred, mlr_error *err) {
  const char *v = NULL;
  size_t len = 0;
  memset(cred, 0, sizeof *cred);
  int n = flight_call_header(call, "authorization", &v, &len);
  if (n == 1) return auth_parse_authorization(v, len, cred, err);
  if (n > 1) return unauthenticated(err); /* ambiguous: refuse rather than pick one */
  n = flight_call_header(call, "auth-token-bin", &v, &len);
  if (n != 1 || v == NULL || len == 0 || len > AUTH_MAX_TOKEN) return unauthenticated(err);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (ch < 0x21 || ch > 0x7e) return unauthenticated(err);
  }
  cred->kind = AUTH_CRED_BEARER;
  memcpy(cred->token, v, len);
  cred->token[len] = '\0';
  return MALLARD_OK;
}

mlr_code auth_middleware(auth_service *svc, flight_call *call, mlr_error *err) {
  mlr_code rc;
  auth_credential cred;
  auth_identity *id = NULL;
  flight_call_set_user_data(call, NULL);
  /* Handshake is how a client gets a credential: auth_handshake checks it. */
  if (flight_call_method(call) == FLIGHT_HANDSHAKE) return MALLARD_OK;
  rc = call_credential(call, &cred, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = auth_authenticate(svc, call_peer(call), &cred, false, NULL, &id, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (flight_call_method(call) == FLIGHT_DO_PUT && auth_identity_role(id) != AUTH_ROLE_ADMIN) {
    rc = mlr_error_set(err, MALLARD_PERMISSION_DENIED,
                       "permission denied: DoPut needs role admin; user '%s' is a %s",
                       auth_identity_user(id), auth_role_name(auth_identity_role(id)));
    goto cleanup;
  }
  flight_call_set_user_data(call, id);
  id = NULL;
cleanup:
  auth_credential_clear(&cred);
  auth_identity_release(svc, id);
  return rc;
}

void auth_call_done(auth_service *svc, flight_call *call) {
  auth_identity *id = flight_call_user_data(call);
  flight_call_set_user_data(call, NULL);
  auth_identity_release(svc, id);
}

/* Seconds a Handshake without an authorization header may wait for its credentials message. */
#define AUTH_HANDSHAKE_READ_TIMEOUT_S 10.0

mlr_code auth_handshake(auth_service *svc, flight_call *call, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  auth_credential cred;
  auth_identity *id = NULL;
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  bool eof = false, old_style = false;
  uint64_t version = 0;
  char token[AUTH_MAX_TOKEN + 1] = {0};
  char bearer[AUTH_MAX_TOKEN + 8] = {0};
  const char *v = NULL;
  size_t vlen = 0;
  memset(&cred, 0, sizeof cred);

  int n = flight_call_header(call, "authorization", &v, &vlen);
  if (n > 1) {
    rc = unauthenticated(err);
    goto cleanup;
  }
  if (n == 1) {
    rc = auth_parse_authorization(v, vlen, &cred, err);
    if (rc != MALLARD_OK) goto cleanup;
  } else {
    /* No header: the credentials must come in the first message, and soon. Until then the
     * call holds a slot and a thread without anyone having logged in. */
    if (!auth_waiting_handshake_enter(svc)) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                         "too many Handshakes are waiting for their credentials: send them in "
                         "the authorization header, or try again shortly");
      goto cleanup;
    }
    flight_call_set_idle_timeout(call, AUTH_HANDSHAKE_READ_TIMEOUT_S);
    rc = flight_call_read_message(call, &msg, &msg_len, &eof, err);
    auth_waiting_handshake_leave(svc);
    if (rc != MALLARD_OK) goto cleanup;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    if (eof || msg_len > MAX_HANDSHAKE_MESSAGE ||
        auth_parse_handshake_request(msg, msg_len, &version, &payload, &payload_len) !=
            MALLARD_OK) {
      rc = unauthenticated(err);
      goto cleanup;
    }
    rc = auth_parse_basic_auth_proto(payload, payload_len, &cred, err);
    if (rc != MALLARD_OK) goto cleanup;
    old_style = true;
  }

  rc = auth_authenticate(svc, call_peer(call), &cred, true, token, &id, err);
  if (rc != MALLARD_OK) goto cleanup;
  int blen = snprintf(bearer, sizeof bearer, "Bearer %s", token);
  rc = flight_call_add_header(call, "authorization", bearer, (size_t)blen, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = flight_call_add_trailer(call, "authorization", bearer, (size_t)blen, err);
  if (rc != MALLARD_OK) goto cleanup;

  /* The identity stays on the call (so the call's log line names the user); auth_call_done
   * drops it. */
  if (flight_call_user_data(call) == NULL) {
    flight_call_set_user_data(call, id);
    id = NULL;
  }
  if (old_style) {
    rc = flight_call_write_handshake(call, version, (const uint8_t *)token, strlen(token), err);
    goto cleanup;
  }
  /* New style: the client half-closes; answer any request it sent with the token too. */
  for (int i = 0; i < MAX_HANDSHAKE_MESSAGES; i++) {
    if (msg != NULL) {
      sodium_memzero(msg, msg_len);
      free(msg);
      msg = NULL;
    }
    rc = flight_call_read_message(call, &msg, &msg_len, &eof, err);
    if (rc != MALLARD_OK || eof) goto cleanup;
    rc = flight_call_write_handshake(call, version, (const uint8_t *)token, strlen(token), err);
    if (rc != MALLARD_OK) goto cleanup;
  }
cleanup:
  if (msg != NULL) {
    sodium_memzero(msg, msg_len);
    free(msg);
  }
  auth_credential_clear(&cred);
  sodium_memzero(token, sizeof token);
  sodium_memzero(bearer, sizeof bearer);
  auth_identity_release(svc, id);
  return rc;
}

mlr_code auth_logout(auth_service *svc, flight_call *call, mlr_error *err) {
  auth_identity *id = flight_call_user_data(call);
  if (id == NULL) return unauthenticated(err);
  return auth_revoke(svc, id, err);
}

auth_role auth_call_role(const flight_call *call) {
  return auth_identity_role(flight_call_user_data(call));
}

const char *auth_call_user(const flight_call *call) {
  return auth_identity_user(flight_call_user_data(call));
}

mlr_code auth_require_admin(const flight_call *call, const char *what, mlr_error *err) {
  const auth_identity *id = flight_call_user_data(call);
  if (id == NULL) return unauthenticated(err);
  if (auth_identity_role(id) == AUTH_ROLE_ADMIN) return MALLARD_OK;
  return mlr_error_set(err, MALLARD_PERMISSION_DENIED,
                       "permission denied: %s needs role admin; user '%s' is a %s", what,
                       auth_identity_user(id), auth_role_name(auth_identity_role(id)));
}

mlr_code auth_authorize_action(const flight_call *call, const char *action_type, mlr_error *err) {
  const auth_identity *id = flight_call_user_data(call);
  if (id == NULL) return unauthenticated(err);
  if (auth_identity_role(id) == AUTH_ROLE_ADMIN || auth_action_is_read_only(action_type)) {
    return MALLARD_OK;
  }
  char what[96];
  snprintf(what, sizeof what, "action '%.64s'", action_type != NULL ? action_type : "");
  return auth_require_admin(call, what, err);
}

void auth_call_set_app_data(flight_call *call, void *data) {
  auth_identity_set_app_data(flight_call_user_data(call), data);
}

void *auth_call_app_data(const flight_call *call) {
  return auth_identity_app_data(flight_call_user_data(call));
}
