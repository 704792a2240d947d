/* Authentication for a Mallard server: users (Argon2id hashes), sessions (opaque random bearer
 * tokens held server-side only as hashes), roles, the Flight middleware and Handshake handler,
 * a limiter for failed logins, and the TLS PEM loader. One auth_service per server; no globals.
 *
 * How the service plugs it in (src/server):
 *   auth_options o; auth_options_init(&o); o.users_file = ...; ...
 *   auth_service_create(&o, &svc->auth, err);
 *   if (auth_service_uses_default_user(svc->auth)) print the warning (see auth_default_warning);
 *   flight_service.middleware -> auth_middleware(svc->auth, call, err)
 *   flight_service.call_done  -> auth_call_done(svc->auth, call)   (then the service's own work)
 *   flight_service.handshake  -> auth_handshake(svc->auth, call, err)
 *   do_action: auth_authorize_action(call, action->type, err) before running any action;
 *              the `logout` action -> auth_logout(svc->auth, call, err).
 *   DoPut needs no check in the service: the middleware refuses it for readers.
 *
 * The call's user_data slot belongs to auth (it holds the caller's identity). A service that
 * needs per-call state of its own uses auth_call_set_app_data / auth_call_app_data.
 * Thread safety: every function may be called concurrently from any thread. */
#ifndef AUTH_H
#define AUTH_H

#include "common/mlr_error.h"
#include "flight/flight_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct auth_service auth_service;

typedef enum auth_role {
  AUTH_ROLE_NONE = 0, /* not authenticated (e.g. a call whose middleware did not run) */
  AUTH_ROLE_READER = 1,
  AUTH_ROLE_ADMIN = 2
} auth_role;

/* "admin" / "reader" / "none". */
const char *auth_role_name(auth_role role);

/* A clock in milliseconds (monotonic). Tests inject one so that expiry needs no sleeping. */
typedef int64_t (*auth_clock_fn)(void *arg);

typedef struct auth_options {
  const char *users_file;      /* `name:hash[:role]` lines; NULL = only the default admin user */
  const char *tokens_file;     /* `token-hash:user[:expiry]` lines; NULL = none */
  int64_t session_idle_ms;     /* default 1 h */
  int64_t session_lifetime_ms; /* absolute, default 24 h */
  int max_sessions;            /* default 10000; more logins answer RESOURCE_EXHAUSTED */
  /* Sessions of one user: a login beyond it ends that user's least recently used session with
   * no call running (RESOURCE_EXHAUSTED when every one has a call running), so that no user,
   * a reader included, can fill the server's table and lock the others out. */
  int max_sessions_per_user; /* default 1000 */
  /* Failed-login limiter: a token bucket per peer address and per user name. `login_burst`
   * attempts are free, then one more every 60/login_per_minute seconds; over that the
   * login answers RESOURCE_EXHAUSTED without checking the password. */
  int login_burst;           /* default 10 */
  int login_per_minute;      /* default 20 */
  int limiter_entries;       /* per table (peers, users); bounds memory; default 4096 */
  int max_parallel_verifies; /* concurrent Argon2 verifications (each takes its memlimit); 2 */
  /* Handshakes without an authorization header that wait for their credentials message at
   * once; more answer RESOURCE_EXHAUSTED at once, so that a flood of silent Handshakes cannot
   * take every call slot (each also ends after 10 s). Default 32. */
  int max_waiting_handshakes;
  auth_clock_fn clock; /* NULL = CLOCK_MONOTONIC */
  void *clock_arg;
  /* Wall clock for pre-issued tokens' expiry times: milliseconds since 1970-01-01 UTC. */
  auth_clock_fn wall_clock; /* NULL = CLOCK_REALTIME */
  void *wall_clock_arg;
} auth_options;

/* Fills the defaults above (all pointers NULL). */
void auth_options_init(auth_options *o);

/* Loads the users and tokens files. INVALID_ARGUMENT names the file and line of a bad line,
 * never the secret on it; NOT_FOUND for a missing file. Ownership: auth_service_free. */
mlr_code auth_service_create(const auth_options *o, auth_service **out, mlr_error *err);
/* Frees the service. No call may be running (shut the server down first). NULL is fine. */
void auth_service_free(auth_service *svc);

/* True when no users file was given: only admin/password123 is accepted. The service prints
 * auth_default_warning() on stderr at start and refuses a non-loopback listen address
 * (auth_listen_is_loopback) unless --insecure-default-user. */
bool auth_service_uses_default_user(const auth_service *svc);
/* Pre-issued tokens of the tokens file whose expiry time has passed (the server warns). */
size_t auth_service_expired_tokens(const auth_service *svc);
const char *auth_default_warning(void);
/* True for "localhost:N", "127.x.y.z:N", "[::1]:N" (and "unix:..."). */
bool auth_listen_is_loopback(const char *host_port);

/* Number of live sessions (for stats and tests). */
size_t auth_session_count(auth_service *svc);

/* Counters since the service started (for stats and tests). */
typedef struct auth_stats {
  uint64_t password_checks; /* Argon2 verifications run */
  uint64_t failed_logins;   /* wrong user name or password */
  uint64_t limited_logins;  /* refused by the failed-login limiter */
  uint64_t cached_logins;   /* Basic credentials accepted from the recent-verification cache */
  size_t sessions;
} auth_stats;
void auth_get_stats(auth_service *svc, auth_stats *out);

/* ------------------------------------------------------------------------------------------
 * The Flight hooks.
 * ---------------------------------------------------------------------------------------- */

/* Runs before every RPC. Handshake: passes (auth_handshake does the work). Any other RPC needs
 * `authorization: Bearer <token>` (a session or a pre-issued token), `authorization: Basic ...`
 * or the older `auth-token-bin: <token>`; on success the identity is attached to the call.
 * A missing, malformed, wrong, expired or revoked credential: UNAUTHENTICATED with one fixed
 * message. DoPut by a reader: PERMISSION_DENIED. Too many failed logins: RESOURCE_EXHAUSTED. */
mlr_code auth_middleware(auth_service *svc, flight_call *call, mlr_error *err);
/* Drops what auth_middleware attached (safe to call when it attached nothing). */
void auth_call_done(auth_service *svc, flight_call *call);

/* The Handshake handler. New style: `authorization: Basic base64(user:pass)` in the request
 * headers -> a session; `authorization: Bearer <token>` in the response's initial metadata and
 * trailers. Old style: a HandshakeRequest whose payload is a BasicAuth protobuf (username = 2,
 * password = 3) -> the token in the HandshakeResponse payload (clients then send it in
 * `auth-token-bin`), plus the same headers. */
mlr_code auth_handshake(auth_service *svc, flight_call *call, mlr_error *err);

/* Revokes the caller's session (the `logout` action). Calls in flight on it finish; later
 * ones answer UNAUTHENTICATED. A pre-issued token is revoked until the server restarts. */
mlr_code auth_logout(auth_service *svc, flight_call *call, mlr_error *err);

/* The caller's role, user name (NULL when not authenticated; valid while the call runs). */
auth_role auth_call_role(const flight_call *call);
const char *auth_call_user(const flight_call *call);

/* PERMISSION_DENIED ("<what> needs role admin; user 'x' is a reader") unless the caller is an
 * admin. `what` names the operation, e.g. "DoPut" or "action 'execute'". */
mlr_code auth_require_admin(const flight_call *call, const char *what, mlr_error *err);
/* Role check for a DoAction: readers may run only the read-only actions (ping, list_tables,
 * list_exchangers, logout); every other action, including ones added later, needs admin. */
mlr_code auth_authorize_action(const flight_call *call, const char *action_type, mlr_error *err);
bool auth_action_is_read_only(const char *action_type);

/* A per-call slot for the service (user_data belongs to auth). No-op / NULL when the
 * middleware attached nothing. The service frees what it stores before auth_call_done. */
void auth_call_set_app_data(flight_call *call, void *data);
void *auth_call_app_data(const flight_call *call);

/* ------------------------------------------------------------------------------------------
 * Flags and TLS helpers for the server's command line.
 * ---------------------------------------------------------------------------------------- */

/* Parses a duration flag: "90" (seconds), "500ms", "90s", "15m", "1h", "2d". Must be > 0.
 * INVALID_ARGUMENT names the flag. */
mlr_code auth_parse_duration_ms(const char *flag, const char *text, int64_t *out_ms,
                                mlr_error *err);

/* PEM contents for flight_server_options (tls_cert_pem / tls_key_pem / tls_client_ca_pem). */
typedef struct auth_tls_files {
  char *cert_pem;      /* NULL = no TLS */
  char *key_pem;       /* wiped before free */
  char *client_ca_pem; /* NULL = no client certificates required */
} auth_tls_files;

/* Reads the files named by --tls-cert, --tls-key, --tls-client-ca (each may be NULL; cert and
 * key go together; a client CA needs a cert). Errors name the flag and path: file not found,
 * not readable, too large, not PEM. Ownership: auth_tls_files_release (also on error). */
mlr_code auth_tls_load(const char *cert_path, const char *key_path, const char *client_ca_path,
                       auth_tls_files *out, mlr_error *err);
void auth_tls_files_release(auth_tls_files *t);

/* The validity period (notBefore, notAfter: seconds since the epoch, UTC) of the first
 * certificate in a PEM text (auth_cert_validity) or of one DER certificate
 * (auth_cert_der_validity). False when there is none this reader understands: it reads only the
 * fields up to the validity, for warnings; gRPC checks the certificate itself. */
bool auth_cert_validity(const char *pem, int64_t *not_before, int64_t *not_after);
bool auth_cert_der_validity(const uint8_t *der, size_t n, int64_t *not_before, int64_t *not_after);

/* A warning for `mallard serve` about the certificates in pem (read from flag's path) at time now
 * (seconds since the epoch): the first one that expired, is not yet valid, or expires within 14
 * days (a chain's intermediate, or one CA of a bundle, as well as the first). Written to
 * buf (cap bytes, cut to fit); false, buf untouched, when there is nothing to say. */
bool auth_cert_warning(const char *flag, const char *path, const char *pem, int64_t now, char *buf,
                       size_t cap);

/* ------------------------------------------------------------------------------------------
 * The pieces below the hooks, without a flight_call (used by the hooks, the CLI and tests).
 * ---------------------------------------------------------------------------------------- */

/* Decodes standard-alphabet base64, padded or not (no whitespace, no URL alphabet). Writes at
 * most cap bytes; INVALID_ARGUMENT on a bad character, bad padding or a too-small buffer. */
mlr_code auth_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);
/* Encodes (URL-safe alphabet, no padding) into out (needs 4*ceil(len/3)+1 bytes). */
void auth_base64url_encode(const uint8_t *in, size_t len, char *out);

enum { AUTH_MAX_USER = 128, AUTH_MAX_PASSWORD = 1024, AUTH_MAX_TOKEN = 256 };

typedef enum auth_cred_kind {
  AUTH_CRED_NONE = 0,
  AUTH_CRED_BASIC,
  AUTH_CRED_BEARER
} auth_cred_kind;

/* A parsed credential. Holds secrets: wipe with auth_credential_clear. */
typedef struct auth_credential {
  auth_cred_kind kind;
  char user[AUTH_MAX_USER + 1];         /* BASIC */
  char password[AUTH_MAX_PASSWORD + 1]; /* BASIC */
  char token[AUTH_MAX_TOKEN + 1];       /* BEARER */
} auth_credential;
void auth_credential_clear(auth_credential *c);

/* Parses an `authorization` header value (not NUL-terminated; may contain NULs, which are
 * refused): "Basic <b64(user:pass)>" or "Bearer <token>", prefixes case-insensitive.
 * UNAUTHENTICATED on anything malformed (empty user, missing colon, NUL, oversize, ...). */
mlr_code auth_parse_authorization(const char *value, size_t len, auth_credential *out,
                                  mlr_error *err);

/* Argon2id (libsodium crypto_pwhash_str). cost: 0 interactive, 1 moderate, 2 sensitive.
 * out needs AUTH_HASH_SIZE bytes. */
enum { AUTH_HASH_SIZE = 128 };
mlr_code auth_hash_password(const char *password, size_t len, int cost, char *out, mlr_error *err);
bool auth_verify_password(const char *hash, const char *password, size_t len);

/* A UTC time as the tokens file writes it, "2027-02-25T08:00:00Z" (20 chars, RFC 3339 with
 * seconds and a Z), to and from seconds since 1970. Parsing takes exactly that form (years
 * 1970-9999, real dates only) and returns false for anything else. */
enum { AUTH_UTC_CHARS = 20 };
void auth_format_utc(int64_t unix_s, char out[AUTH_UTC_CHARS + 1]);
bool auth_parse_utc(const char *text, size_t len, int64_t *unix_s);

/* A token for `mallard token` and sessions: 256 random bits, URL-safe base64 (43 chars). */
enum { AUTH_TOKEN_CHARS = 43 };
void auth_new_token(char out[AUTH_TOKEN_CHARS + 1]);
/* The hash stored for a token (tokens file, session table): 64 lowercase hex chars. */
enum { AUTH_TOKEN_HASH_HEX = 64 };
void auth_token_hash_hex(const char *token, size_t len, char out[AUTH_TOKEN_HASH_HEX + 1]);

/* Old-style Handshake bodies (protobuf): HandshakeRequest {protocol_version = 1, payload = 2}
 * and BasicAuth {username = 2, password = 3}. Unknown fields are skipped; malformed bytes give
 * INVALID_ARGUMENT (payload points into msg). */
mlr_code auth_parse_handshake_request(const uint8_t *msg, size_t len, uint64_t *protocol_version,
                                      const uint8_t **payload, size_t *payload_len);
/* UNAUTHENTICATED unless the bytes are a BasicAuth with a valid user name (see
 * auth_parse_authorization for the rules); fills a BASIC credential. */
mlr_code auth_parse_basic_auth_proto(const uint8_t *msg, size_t len, auth_credential *out,
                                     mlr_error *err);
/* Users-file name rules: 1..AUTH_MAX_USER bytes, printable ASCII or UTF-8, no ':' or space. */
bool auth_valid_user_name(const char *name, size_t len);

/* The identity of an authenticated caller. */
typedef struct auth_identity auth_identity;
const char *auth_identity_user(const auth_identity *id);
auth_role auth_identity_role(const auth_identity *id);
/* Releases the identity (ends its call on the session: the idle clock restarts now). */
void auth_identity_release(auth_service *svc, auth_identity *id);

/* Checks a credential from `peer` (gRPC's peer string; the port is ignored). BASIC: limiter,
 * then Argon2 verify; with `new_session` a session is created and its token written to
 * token_out (AUTH_MAX_TOKEN + 1 bytes). BEARER: session or pre-issued token (with
 * `new_session`, the same token is copied to token_out). On success
 * *out holds an identity counting as one active call on its session (release it). */
mlr_code auth_authenticate(auth_service *svc, const char *peer, const auth_credential *cred,
                           bool new_session, char *token_out, auth_identity **out, mlr_error *err);
/* Revokes the session or pre-issued token the identity came from (see auth_logout); an identity
 * from Basic credentials has none: INVALID_ARGUMENT. */
mlr_code auth_revoke(auth_service *svc, const auth_identity *id, mlr_error *err);

/* The one message for every failed authentication. */
#define AUTH_UNAUTHENTICATED_MESSAGE                                                               \
  "authentication failed: log in with Handshake (HTTP Basic user:password) or send a valid "       \
  "'authorization: Bearer <token>' header"

#endif /* AUTH_H */
