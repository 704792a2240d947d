/* Unit tests for auth_service: Argon2 hashes, users and tokens files, sessions (expiry with an
 * injected clock, revocation, calls in flight, the session cap) and the failed-login limiter. */
#include "auth/auth.h"
#include "auth/auth_internal.h"
#include "mtest.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fake_clock {
  int64_t now;
} fake_clock;

static int64_t fake_now(void *arg) {
  return ((fake_clock *)arg)->now;
}

static char g_hash_alice[AUTH_HASH_SIZE]; /* "alice-pw", admin */
static char g_hash_bob[AUTH_HASH_SIZE];   /* "bob-pw", reader */

/* Writes text to a new temporary file; returns its malloc'd path. */
static char *write_temp(const char *text) {
  char *path = strdup("/tmp/mallard-auth-test-XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) {
    free(path);
    return NULL;
  }
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) {
    close(fd);
    free(path);
    return NULL;
  }
  close(fd);
  return path;
}

static void remove_temp(char *path) {
  if (path != NULL) unlink(path);
  free(path);
}

static char *users_file(void) {
  char text[1024];
  snprintf(text, sizeof text, "# users\n\nalice:%s\nbob:%s:reader\r\n", g_hash_alice, g_hash_bob);
  return write_temp(text);
}

static void basic(auth_credential *c, const char *user, const char *pw) {
  memset(c, 0, sizeof *c);
  c->kind = AUTH_CRED_BASIC;
  snprintf(c->user, sizeof c->user, "%s", user);
  snprintf(c->password, sizeof c->password, "%s", pw);
}

static void bearer(auth_credential *c, const char *token) {
  memset(c, 0, sizeof *c);
  c->kind = AUTH_CRED_BEARER;
  size_t n = strnlen(token, AUTH_MAX_TOKEN);
  memcpy(c->token, token, n);
  c->token[n] = '\0';
}

static void test_hash_verify(void) {
  mlr_error err;
  char h[AUTH_HASH_SIZE];
  CHECK_EQ_INT(auth_hash_password("alice-pw", 8, 0, g_hash_alice, &err), MALLARD_OK);
  CHECK_EQ_INT(auth_hash_password("bob-pw", 6, 0, g_hash_bob, &err), MALLARD_OK);
  CHECK(strncmp(g_hash_alice, "$argon2id$", 10) == 0);
  CHECK(strchr(g_hash_alice, ':') == NULL);
  CHECK(auth_verify_password(g_hash_alice, "alice-pw", 8));
  CHECK(!auth_verify_password(g_hash_alice, "alice-pX", 8));
  CHECK(!auth_verify_password(g_hash_alice, "alice-pw", 7));
  CHECK(!auth_verify_password("$argon2id$garbage", "alice-pw", 8));
  CHECK(!auth_verify_password(NULL, "x", 1));
  /* same password, different salt */
  CHECK_EQ_INT(auth_hash_password("alice-pw", 8, 0, h, &err), MALLARD_OK);
  CHECK(strcmp(h, g_hash_alice) != 0);
  CHECK(auth_hash_password("", 0, 0, h, &err) == MALLARD_INVALID_ARGUMENT);
}

/* Expects auth_service_create to fail with code and a message holding `needle`. */
static void expect_users_error(const char *text, mlr_code code, const char *needle) {
  char *path = write_temp(text);
  REQUIRE(path != NULL);
  auth_options o;
  auth_options_init(&o);
  o.users_file = path;
  auth_service *svc = NULL;
  mlr_error err;
  mlr_error_reset(&err);
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), code);
  CHECK(svc == NULL);
  if (strstr(err.message, needle) == NULL) {
    fprintf(stderr, "  message '%s' lacks '%s'\n", err.message, needle);
    CHECK(0);
  }
  /* a bad line's secret is never echoed */
  CHECK(strstr(err.message, "$argon2") == NULL);
  CHECK(strstr(err.message, "SECRET") == NULL);
  remove_temp(path);
}

static void test_users_file_errors(void) {
  char text[1024];
  auth_options o;
  auth_options_init(&o);
  o.users_file = "/nonexistent/users.txt";
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_NOT_FOUND);
  CHECK(strstr(err.message, "/nonexistent/users.txt") != NULL);
  CHECK(strstr(err.message, "not found") != NULL);

  snprintf(text, sizeof text, "alice:%s\n\nno-colon-SECRET\n", g_hash_alice);
  expect_users_error(text, MALLARD_INVALID_ARGUMENT, "line 3");
  snprintf(text, sizeof text, "alice:%s:superuser\n", g_hash_alice);
  expect_users_error(text, MALLARD_INVALID_ARGUMENT, "unknown role 'superuser'");
  snprintf(text, sizeof text, "alice:%s\nalice:%s\n", g_hash_alice, g_hash_bob);
  expect_users_error(text, MALLARD_INVALID_ARGUMENT, "line 2: user 'alice' appears twice");
  expect_users_error("alice:plaintextSECRET\n", MALLARD_INVALID_ARGUMENT, "line 1");
  expect_users_error("alice:plaintextSECRET\n", MALLARD_INVALID_ARGUMENT, "not an Argon2id hash");
  snprintf(text, sizeof text, "# c\nal ice:%s\n", g_hash_alice);
  expect_users_error(text, MALLARD_INVALID_ARGUMENT, "line 2: bad user name");
  snprintf(text, sizeof text, ":%s\n", g_hash_alice);
  expect_users_error(text, MALLARD_INVALID_ARGUMENT, "line 1: bad user name");
  snprintf(text, sizeof text, "alice:%s:admin:extra\n", g_hash_alice);
  expect_users_error(text, MALLARD_INVALID_ARGUMENT, "line 1: expected name:hash[:role]");
  expect_users_error("# only comments\n\n", MALLARD_INVALID_ARGUMENT, "holds no users");
  expect_users_error("", MALLARD_INVALID_ARGUMENT, "holds no users");
}

static void test_passwords(void) {
  char *path = users_file();
  REQUIRE(path != NULL);
  auth_options o;
  auth_options_init(&o);
  o.users_file = path;
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  CHECK(!auth_service_uses_default_user(svc));
  auth_credential c;
  auth_identity *id = NULL;
  basic(&c, "alice", "alice-pw");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:10.0.0.1:1", &c, false, NULL, &id, &err), MALLARD_OK);
  CHECK_EQ_STR(auth_identity_user(id), "alice");
  CHECK_EQ_INT(auth_identity_role(id), AUTH_ROLE_ADMIN);
  auth_identity_release(svc, id);
  basic(&c, "bob", "bob-pw");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:10.0.0.1:1", &c, false, NULL, &id, &err), MALLARD_OK);
  CHECK_EQ_INT(auth_identity_role(id), AUTH_ROLE_READER);
  auth_identity_release(svc, id);
  /* wrong password and unknown user: the same code and message */
  mlr_error e1, e2;
  basic(&c, "alice", "wrong");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:10.0.0.2:1", &c, false, NULL, &id, &e1),
               MALLARD_UNAUTHENTICATED);
  CHECK(id == NULL);
  basic(&c, "mallory", "alice-pw");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:10.0.0.3:1", &c, false, NULL, &id, &e2),
               MALLARD_UNAUTHENTICATED);
  CHECK_EQ_STR(e1.message, e2.message);
  CHECK_EQ_STR(e1.message, AUTH_UNAUTHENTICATED_MESSAGE);
  /* the default password is not accepted once a users file exists */
  basic(&c, "admin", "password123");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:10.0.0.4:1", &c, false, NULL, &id, &err),
               MALLARD_UNAUTHENTICATED);
  /* no credential at all */
  memset(&c, 0, sizeof c);
  CHECK_EQ_INT(auth_authenticate(svc, NULL, &c, false, NULL, &id, &err), MALLARD_UNAUTHENTICATED);
  auth_service_free(svc);
  remove_temp(path);
}

static void test_default_user(void) {
  auth_options o;
  auth_options_init(&o);
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  CHECK(auth_service_uses_default_user(svc));
  CHECK(strstr(auth_default_warning(), "password123") != NULL);
  auth_credential c;
  auth_identity *id = NULL;
  basic(&c, "admin", "password123");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:1.1.1.1:1", &c, false, NULL, &id, &err), MALLARD_OK);
  CHECK_EQ_INT(auth_identity_role(id), AUTH_ROLE_ADMIN);
  auth_identity_release(svc, id);
  basic(&c, "admin", "password1234");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:1.1.1.1:1", &c, false, NULL, &id, &err),
               MALLARD_UNAUTHENTICATED);
  basic(&c, "root", "password123");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:1.1.1.1:1", &c, false, NULL, &id, &err),
               MALLARD_UNAUTHENTICATED);
  auth_service_free(svc);
}

static auth_service *clocked_service(fake_clock *clk, int max_sessions) {
  auth_options o;
  auth_options_init(&o);
  o.clock = fake_now;
  o.clock_arg = clk;
  o.session_idle_ms = 60 * 1000;
  o.session_lifetime_ms = 600 * 1000;
  o.max_sessions = max_sessions;
  auth_service *svc = NULL;
  mlr_error err;
  if (auth_service_create(&o, &svc, &err) != MALLARD_OK) return NULL;
  return svc;
}

/* Logs in admin/password123 and returns the session token. */
static mlr_code login(auth_service *svc, char *token, mlr_error *err) {
  auth_credential c;
  auth_identity *id = NULL;
  basic(&c, "admin", "password123");
  mlr_code rc = auth_authenticate(svc, "ipv4:127.0.0.1:5", &c, true, token, &id, err);
  auth_identity_release(svc, id);
  return rc;
}

static mlr_code use(auth_service *svc, const char *token, auth_identity **id) {
  auth_credential c;
  mlr_error err;
  bearer(&c, token);
  *id = NULL;
  return auth_authenticate(svc, "ipv4:127.0.0.1:6", &c, false, NULL, id, &err);
}

static mlr_code use_once(auth_service *svc, const char *token) {
  auth_identity *id = NULL;
  mlr_code rc = use(svc, token, &id);
  auth_identity_release(svc, id);
  return rc;
}

static void test_sessions_expiry(void) {
  fake_clock clk = {1000000};
  auth_service *svc = clocked_service(&clk, 100);
  REQUIRE(svc != NULL);
  char token[AUTH_MAX_TOKEN + 1];
  mlr_error err;
  CHECK_EQ_INT(login(svc, token, &err), MALLARD_OK);
  CHECK_EQ_INT(strlen(token), AUTH_TOKEN_CHARS);
  CHECK_EQ_INT(auth_session_count(svc), 1);
  CHECK_EQ_INT(use_once(svc, token), MALLARD_OK);
  /* tampered: one character changed, one dropped, one added; another server's token */
  char bad[AUTH_MAX_TOKEN + 2];
  snprintf(bad, sizeof bad, "%s", token);
  bad[5] = bad[5] == 'A' ? 'B' : 'A';
  CHECK_EQ_INT(use_once(svc, bad), MALLARD_UNAUTHENTICATED);
  snprintf(bad, sizeof bad, "%.*s", AUTH_TOKEN_CHARS - 1, token);
  CHECK_EQ_INT(use_once(svc, bad), MALLARD_UNAUTHENTICATED);
  snprintf(bad, sizeof bad, "%sA", token);
  CHECK_EQ_INT(use_once(svc, bad), MALLARD_UNAUTHENTICATED);
  char other[AUTH_TOKEN_CHARS + 1];
  auth_new_token(other);
  CHECK_EQ_INT(use_once(svc, other), MALLARD_UNAUTHENTICATED);

  /* idle: each use restarts the idle clock */
  clk.now += 59 * 1000;
  CHECK_EQ_INT(use_once(svc, token), MALLARD_OK);
  clk.now += 59 * 1000;
  CHECK_EQ_INT(use_once(svc, token), MALLARD_OK);
  clk.now += 60 * 1000;
  CHECK_EQ_INT(use_once(svc, token), MALLARD_UNAUTHENTICATED);
  CHECK_EQ_INT(auth_session_count(svc), 0);

  /* absolute lifetime, even when used often */
  CHECK_EQ_INT(login(svc, token, &err), MALLARD_OK);
  for (int i = 0; i < 12; i++) {
    clk.now += 50 * 1000;
    CHECK_EQ_INT(use_once(svc, token), i < 11 ? MALLARD_OK : MALLARD_UNAUTHENTICATED);
  }
  auth_service_free(svc);
}

static void test_sessions_in_flight(void) {
  fake_clock clk = {5000};
  auth_service *svc = clocked_service(&clk, 100);
  REQUIRE(svc != NULL);
  char token[AUTH_MAX_TOKEN + 1];
  mlr_error err;
  CHECK_EQ_INT(login(svc, token, &err), MALLARD_OK);
  auth_identity *streaming = NULL;
  CHECK_EQ_INT(use(svc, token, &streaming), MALLARD_OK);
  /* a long stream: the session is not idle (nor swept) while the call runs */
  clk.now += 300 * 1000;
  CHECK_EQ_INT(auth_session_count(svc), 1);
  /* the call ends: the idle clock restarts then */
  auth_identity_release(svc, streaming);
  clk.now += 59 * 1000;
  CHECK_EQ_INT(use_once(svc, token), MALLARD_OK);
  clk.now += 61 * 1000;
  CHECK_EQ_INT(use_once(svc, token), MALLARD_UNAUTHENTICATED);

  /* past the absolute lifetime with a call in flight: that call keeps its identity, new calls
   * are refused, and the session goes once the call ends */
  CHECK_EQ_INT(login(svc, token, &err), MALLARD_OK);
  CHECK_EQ_INT(use(svc, token, &streaming), MALLARD_OK);
  clk.now += 700 * 1000;
  CHECK_EQ_STR(auth_identity_user(streaming), "admin");
  CHECK_EQ_INT(use_once(svc, token), MALLARD_UNAUTHENTICATED);
  auth_identity_release(svc, streaming);
  CHECK_EQ_INT(auth_session_count(svc), 0);
  auth_service_free(svc);
}

static void test_revoke(void) {
  fake_clock clk = {0};
  auth_service *svc = clocked_service(&clk, 100);
  REQUIRE(svc != NULL);
  char t1[AUTH_MAX_TOKEN + 1], t2[AUTH_MAX_TOKEN + 1];
  mlr_error err;
  CHECK_EQ_INT(login(svc, t1, &err), MALLARD_OK);
  CHECK_EQ_INT(login(svc, t2, &err), MALLARD_OK);
  CHECK(strcmp(t1, t2) != 0);
  auth_identity *a = NULL, *b = NULL;
  CHECK_EQ_INT(use(svc, t1, &a), MALLARD_OK);
  CHECK_EQ_INT(use(svc, t1, &b), MALLARD_OK); /* a second call in flight on the same session */
  CHECK_EQ_INT(auth_revoke(svc, a, &err), MALLARD_OK);
  CHECK_EQ_INT(auth_revoke(svc, a, &err), MALLARD_OK); /* idempotent */
  CHECK_EQ_INT(use_once(svc, t1), MALLARD_UNAUTHENTICATED);
  CHECK_EQ_INT(use_once(svc, t2), MALLARD_OK); /* the other session is untouched */
  CHECK_EQ_INT(auth_session_count(svc), 1);
  CHECK_EQ_STR(auth_identity_user(b), "admin"); /* in-flight calls still see their identity */
  auth_identity_release(svc, a);
  auth_identity_release(svc, b);
  CHECK(auth_revoke(svc, NULL, &err) == MALLARD_UNAUTHENTICATED);
  auth_service_free(svc);
}

static void test_max_sessions(void) {
  fake_clock clk = {0};
  auth_service *svc = clocked_service(&clk, 3);
  REQUIRE(svc != NULL);
  char t[AUTH_MAX_TOKEN + 1];
  mlr_error err;
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(login(svc, t, &err), MALLARD_OK);
  CHECK_EQ_INT(login(svc, t, &err), MALLARD_RESOURCE_EXHAUSTED);
  CHECK(strstr(err.message, "--max-sessions 3") != NULL);
  /* idle sessions expire and make room */
  clk.now += 61 * 1000;
  CHECK_EQ_INT(login(svc, t, &err), MALLARD_OK);
  auth_service_free(svc);
}

/* One user cannot fill the session table: past --max-sessions-per-user its own least recently
 * used idle session makes room; with a call running on each, the login is refused. */
static void test_max_sessions_per_user(void) {
  fake_clock clk = {1000};
  auth_options o;
  auth_options_init(&o);
  o.clock = fake_now;
  o.clock_arg = &clk;
  o.max_sessions = 100;
  o.max_sessions_per_user = 2;
  auth_service *svc = NULL;
  mlr_error err;
  REQUIRE(auth_service_create(&o, &svc, &err) == MALLARD_OK);
  char t1[AUTH_MAX_TOKEN + 1], t2[AUTH_MAX_TOKEN + 1], t3[AUTH_MAX_TOKEN + 1];
  CHECK_EQ_INT(login(svc, t1, &err), MALLARD_OK);
  clk.now += 10;
  CHECK_EQ_INT(login(svc, t2, &err), MALLARD_OK);
  clk.now += 10;
  CHECK_EQ_INT(use_once(svc, t1), MALLARD_OK); /* t1 is now the more recently used */
  clk.now += 10;
  CHECK_EQ_INT(login(svc, t3, &err), MALLARD_OK);
  CHECK_EQ_INT(use_once(svc, t2), MALLARD_UNAUTHENTICATED); /* t2 made room */
  CHECK_EQ_INT(use_once(svc, t1), MALLARD_OK);
  CHECK_EQ_INT(use_once(svc, t3), MALLARD_OK);
  CHECK_EQ_INT(auth_session_count(svc), 2);
  /* a call running on each: nothing to end, the login is refused and names the flag */
  auth_identity *a = NULL, *b = NULL;
  CHECK_EQ_INT(use(svc, t1, &a), MALLARD_OK);
  CHECK_EQ_INT(use(svc, t3, &b), MALLARD_OK);
  char t4[AUTH_MAX_TOKEN + 1];
  CHECK_EQ_INT(login(svc, t4, &err), MALLARD_RESOURCE_EXHAUSTED);
  CHECK(strstr(err.message, "--max-sessions-per-user") != NULL);
  auth_identity_release(svc, a);
  auth_identity_release(svc, b);
  auth_service_free(svc);
}

/* An unknown name is checked against a decoy with the users' most common Argon2 cost, not the
 * first line's (which let a user of the common cost be told apart from an unknown name). */
static void test_decoy_cost(void) {
  char *users = write_temp("a:$argon2id$v=19$m=32,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g:reader\n"
                           "b:$argon2id$v=19$m=16,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g\n"
                           "c:$argon2id$v=19$m=16,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g\n");
  REQUIRE(users != NULL);
  auth_options o;
  auth_options_init(&o);
  o.users_file = users;
  auth_service *svc = NULL;
  mlr_error err;
  REQUIRE(auth_service_create(&o, &svc, &err) == MALLARD_OK);
  const char *decoy = auth_service_decoy_hash(svc);
  REQUIRE(decoy != NULL);
  CHECK(strstr(decoy, "$m=16,t=1,p=1$") != NULL);
  CHECK(!auth_verify_password(decoy, "", 0));
  auth_service_free(svc);
  remove_temp(users);
}

/* A new pre-issued token and the hash its tokens-file line holds. */
static void new_token(char token[AUTH_TOKEN_CHARS + 1], char hash[AUTH_TOKEN_HASH_HEX + 1]) {
  auth_new_token(token);
  auth_token_hash_hex(token, strlen(token), hash);
}

/* Options reading the users file and the tokens file at these paths (both made by the test). */
static auth_options token_options(const char *users, const char *tokens) {
  auth_options o;
  auth_options_init(&o);
  o.users_file = users;
  o.tokens_file = tokens;
  return o;
}

static void test_tokens_file(void) {
  char token[AUTH_TOKEN_CHARS + 1], hash[AUTH_TOKEN_HASH_HEX + 1];
  char rtoken[AUTH_TOKEN_CHARS + 1], rhash[AUTH_TOKEN_HASH_HEX + 1];
  new_token(token, hash);
  new_token(rtoken, rhash);
  char *users = users_file();
  char text[512];
  snprintf(text, sizeof text, "# pre-issued\n%s:alice\n%s:bob\n", hash, rhash);
  char *tokens = write_temp(text);
  REQUIRE(users != NULL && tokens != NULL);
  auth_options o = token_options(users, tokens);
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  auth_identity *id = NULL;
  CHECK_EQ_INT(use(svc, token, &id), MALLARD_OK);
  CHECK_EQ_STR(auth_identity_user(id), "alice");
  CHECK_EQ_INT(auth_identity_role(id), AUTH_ROLE_ADMIN);
  auth_identity_release(svc, id);
  CHECK_EQ_INT(use(svc, rtoken, &id), MALLARD_OK);
  CHECK_EQ_INT(auth_identity_role(id), AUTH_ROLE_READER);
  /* the hash itself is not a token */
  CHECK_EQ_INT(use_once(svc, hash), MALLARD_UNAUTHENTICATED);
  /* logout with a pre-issued token revokes it for this server's life */
  CHECK_EQ_INT(auth_revoke(svc, id, &err), MALLARD_OK);
  auth_identity_release(svc, id);
  CHECK_EQ_INT(use_once(svc, rtoken), MALLARD_UNAUTHENTICATED);
  CHECK_EQ_INT(use_once(svc, token), MALLARD_OK);
  auth_service_free(svc);
  remove_temp(tokens);

  /* bad lines */
  const char *bad[] = {"%s:carol\n", "abc:alice\n", "%s\n", "zz%s:alice\n"};
  const char *needle[] = {"line 1: unknown user 'carol'", "line 1: expected token-hash:user",
                          "line 1: expected", "line 1: expected"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(text, sizeof text, bad[i], hash);
    tokens = write_temp(text);
    o.tokens_file = tokens;
    svc = NULL;
    CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_INVALID_ARGUMENT);
    CHECK(strstr(err.message, needle[i]) != NULL);
    CHECK(strstr(err.message, hash) == NULL);
    remove_temp(tokens);
  }
  o.tokens_file = "/nonexistent/tokens";
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_NOT_FOUND);
  remove_temp(users);
}

/* A token line may end in an expiry time; from that second on the token is refused. */
static void test_tokens_expiry(void) {
  char token[AUTH_TOKEN_CHARS + 1], hash[AUTH_TOKEN_HASH_HEX + 1];
  char never[AUTH_TOKEN_CHARS + 1], nhash[AUTH_TOKEN_HASH_HEX + 1];
  new_token(token, hash);
  new_token(never, nhash);
  char *users = users_file();
  char text[512];
  /* 2027-02-25T08:00:00Z = 1803542400 s */
  snprintf(text, sizeof text, "%s:bob:2027-02-25T08:00:00Z\n%s:alice\n", hash, nhash);
  char *tokens = write_temp(text);
  REQUIRE(users != NULL && tokens != NULL);
  fake_clock wall = {1803542400LL * 1000 - 1};
  auth_options o = token_options(users, tokens);
  o.wall_clock = fake_now;
  o.wall_clock_arg = &wall;
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  CHECK_EQ_INT(auth_service_expired_tokens(svc), 0);
  auth_identity *id = NULL;
  CHECK_EQ_INT(use(svc, token, &id), MALLARD_OK);
  CHECK_EQ_STR(auth_identity_user(id), "bob");
  auth_identity_release(svc, id);
  wall.now += 1; /* the expiry second itself */
  CHECK_EQ_INT(use_once(svc, token), MALLARD_UNAUTHENTICATED);
  CHECK_EQ_INT(auth_service_expired_tokens(svc), 1);
  wall.now += 10LL * 365 * 86400 * 1000;
  CHECK_EQ_INT(use_once(svc, never), MALLARD_OK);
  CHECK_EQ_INT(use_once(svc, token), MALLARD_UNAUTHENTICATED);
  auth_service_free(svc);
  remove_temp(tokens);

  const char *bad[] = {"%s:bob:2027-02-30T08:00:00Z\n", "%s:bob:\n", "%s:bob:2027-02-25\n",
                       "%s:bob:2027-02-25T08:00:00Z:x\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(text, sizeof text, bad[i], hash);
    tokens = write_temp(text);
    REQUIRE(tokens != NULL);
    o.tokens_file = tokens;
    svc = NULL;
    CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "line 1: the expiry time") != NULL);
    CHECK(strstr(err.message, hash) == NULL);
    remove_temp(tokens);
  }
  remove_temp(users);
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_limiter(void) {
  fake_clock clk = {0};
  char *path = users_file();
  REQUIRE(path != NULL);
  auth_options o;
  auth_options_init(&o);
  o.users_file = path;
  o.clock = fake_now;
  o.clock_arg = &clk;
  o.login_burst = 3;
  o.login_per_minute = 6; /* one more attempt every 10 s */
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  auth_credential c;
  auth_identity *id = NULL;
  const char *evil = "ipv4:10.6.6.6:40000";
  /* successes do not count */
  basic(&c, "alice", "alice-pw");
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_INT(auth_authenticate(svc, evil, &c, false, NULL, &id, &err), MALLARD_OK);
    auth_identity_release(svc, id);
  }
  /* three free failures (different ports of one address count together) */
  basic(&c, "carol", "guess");
  for (int i = 0; i < 3; i++) {
    char peer[64];
    snprintf(peer, sizeof peer, "ipv4:10.6.6.6:%d", 40000 + i);
    CHECK_EQ_INT(auth_authenticate(svc, peer, &c, false, NULL, &id, &err), MALLARD_UNAUTHENTICATED);
  }
  /* then refused before any password check: even the right password, and fast */
  basic(&c, "alice", "alice-pw");
  CHECK_EQ_INT(auth_authenticate(svc, evil, &c, false, NULL, &id, &err),
               MALLARD_RESOURCE_EXHAUSTED);
  CHECK(strstr(err.message, "too many failed logins") != NULL);
  basic(&c, "carol", "guess");
  auth_stats st0, st1;
  auth_get_stats(svc, &st0);
  double t0 = seconds_now();
  for (int i = 0; i < 1000; i++) {
    CHECK(auth_authenticate(svc, evil, &c, false, NULL, &id, &err) == MALLARD_RESOURCE_EXHAUSTED);
  }
  double dt = seconds_now() - t0;
  fprintf(stderr, "  1000 limited attempts took %.3f s\n", dt);
  CHECK(dt < 0.5);
  auth_get_stats(svc, &st1);
  CHECK_EQ_INT(st1.password_checks, st0.password_checks); /* no Argon2 work for a flood */
  CHECK_EQ_INT(st1.limited_logins - st0.limited_logins, 1000);
  /* another peer and another user are not slowed */
  basic(&c, "bob", "bob-pw");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:10.1.1.1:1", &c, false, NULL, &id, &err), MALLARD_OK);
  auth_identity_release(svc, id);
  /* the user under attack is limited from other peers too (per-user bucket) */
  basic(&c, "carol", "guess");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:10.2.2.2:1", &c, false, NULL, &id, &err),
               MALLARD_RESOURCE_EXHAUSTED);
  /* ten seconds later, one more attempt */
  clk.now += 10 * 1000;
  basic(&c, "alice", "alice-pw");
  CHECK_EQ_INT(auth_authenticate(svc, evil, &c, false, NULL, &id, &err), MALLARD_OK);
  auth_identity_release(svc, id);
  basic(&c, "dave", "guess");
  CHECK_EQ_INT(auth_authenticate(svc, evil, &c, false, NULL, &id, &err), MALLARD_UNAUTHENTICATED);
  CHECK_EQ_INT(auth_authenticate(svc, evil, &c, false, NULL, &id, &err),
               MALLARD_RESOURCE_EXHAUSTED);
  /* a minute on the bucket is full again */
  clk.now += 60 * 1000;
  basic(&c, "erin", "guess");
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(auth_authenticate(svc, evil, &c, false, NULL, &id, &err), MALLARD_UNAUTHENTICATED);
  }
  CHECK_EQ_INT(auth_authenticate(svc, evil, &c, false, NULL, &id, &err),
               MALLARD_RESOURCE_EXHAUSTED);
  auth_service_free(svc);
  remove_temp(path);
}

static void test_basic_cache(void) {
  fake_clock clk = {0};
  char *path = users_file();
  REQUIRE(path != NULL);
  auth_options o;
  auth_options_init(&o);
  o.users_file = path;
  o.clock = fake_now;
  o.clock_arg = &clk;
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  auth_credential c;
  auth_identity *id = NULL;
  auth_stats st;
  basic(&c, "alice", "alice-pw");
  for (int i = 0; i < 5; i++) {
    CHECK_EQ_INT(auth_authenticate(svc, "ipv4:1.2.3.4:1", &c, false, NULL, &id, &err), MALLARD_OK);
    CHECK_EQ_STR(auth_identity_user(id), "alice");
    auth_identity_release(svc, id);
  }
  auth_get_stats(svc, &st);
  CHECK_EQ_INT(st.password_checks, 1); /* Basic on every call: one Argon2 check */
  CHECK_EQ_INT(st.cached_logins, 4);
  /* a different password is never taken from the cache */
  basic(&c, "alice", "alice-pw ");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:1.2.3.4:1", &c, false, NULL, &id, &err),
               MALLARD_UNAUTHENTICATED);
  basic(&c, "bob", "alice-pw");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:1.2.3.4:1", &c, false, NULL, &id, &err),
               MALLARD_UNAUTHENTICATED);
  auth_get_stats(svc, &st);
  CHECK_EQ_INT(st.password_checks, 3);
  CHECK_EQ_INT(st.failed_logins, 2);
  /* entries expire */
  clk.now += 61 * 1000;
  basic(&c, "alice", "alice-pw");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:1.2.3.4:1", &c, false, NULL, &id, &err), MALLARD_OK);
  auth_identity_release(svc, id);
  auth_get_stats(svc, &st);
  CHECK_EQ_INT(st.password_checks, 4);
  /* a peer blocked by the limiter is refused even with a cached credential */
  basic(&c, "alice", "nope");
  for (int i = 0; i < o.login_burst; i++) {
    auth_authenticate(svc, "ipv4:6.6.6.6:1", &c, false, NULL, &id, &err);
  }
  basic(&c, "alice", "alice-pw");
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:6.6.6.6:1", &c, false, NULL, &id, &err),
               MALLARD_RESOURCE_EXHAUSTED);
  auth_service_free(svc);
  remove_temp(path);
}

static void test_limiter_memory_bound(void) {
  /* default user: no Argon2, so 100000 distinct peers and names run fast; the tables stay at
   * their fixed size (limiter_entries) and keep working */
  fake_clock clk = {0};
  auth_options o;
  auth_options_init(&o);
  o.clock = fake_now;
  o.clock_arg = &clk;
  o.limiter_entries = 64;
  o.login_burst = 2;
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  auth_credential c;
  auth_identity *id = NULL;
  int refused = 0;
  for (int i = 0; i < 100000; i++) {
    char peer[64];
    snprintf(peer, sizeof peer, "ipv4:10.%d.%d.%d:1", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    char user[32];
    snprintf(user, sizeof user, "u%d", i);
    basic(&c, user, "x");
    if (auth_authenticate(svc, peer, &c, false, NULL, &id, &err) == MALLARD_RESOURCE_EXHAUSTED) {
      refused++;
    }
  }
  CHECK_EQ_INT(refused, 0); /* fresh peers and names each get their free attempts */
  /* one hot peer is still limited: its entry stays, fresh entries are evicted first */
  basic(&c, "admin", "bad");
  for (int i = 0; i < 2; i++) {
    auth_authenticate(svc, "ipv4:9.9.9.9:1", &c, false, NULL, &id, &err);
  }
  CHECK_EQ_INT(auth_authenticate(svc, "ipv4:9.9.9.9:1", &c, false, NULL, &id, &err),
               MALLARD_RESOURCE_EXHAUSTED);
  auth_service_free(svc);
}

typedef struct stress_arg {
  auth_service *svc;
  char token[AUTH_MAX_TOKEN + 1];
  int ok;
} stress_arg;

static void *stress_thread(void *p) {
  stress_arg *a = p;
  for (int i = 0; i < 2000; i++) {
    auth_identity *id = NULL;
    if (use(a->svc, a->token, &id) == MALLARD_OK) {
      a->ok++;
      if (i % 500 == 499) {
        mlr_error err;
        auth_revoke(a->svc, id, &err);
        login(a->svc, a->token, &err);
      }
    }
    auth_identity_release(a->svc, id);
  }
  return NULL;
}

static void test_concurrency(void) {
  auth_options o;
  auth_options_init(&o);
  auth_service *svc = NULL;
  mlr_error err;
  CHECK_EQ_INT(auth_service_create(&o, &svc, &err), MALLARD_OK);
  REQUIRE(svc != NULL);
  stress_arg args[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    args[i].svc = svc;
    args[i].ok = 0;
    CHECK_EQ_INT(login(svc, args[i].token, &err), MALLARD_OK);
  }
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, stress_thread, &args[i]);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(args[i].ok, 2000);
  CHECK_EQ_INT(auth_session_count(svc), 4);
  auth_service_free(svc);
}

MTEST_MAIN(MTEST(test_hash_verify), MTEST(test_users_file_errors), MTEST(test_passwords),
           MTEST(test_default_user), MTEST(test_sessions_expiry), MTEST(test_sessions_in_flight),
           MTEST(test_revoke), MTEST(test_max_sessions), MTEST(test_max_sessions_per_user),
           MTEST(test_decoy_cost), MTEST(test_tokens_file), MTEST(test_tokens_expiry),
           MTEST(test_limiter), MTEST(test_basic_cache), MTEST(test_limiter_memory_bound),
           MTEST(test_concurrency))
