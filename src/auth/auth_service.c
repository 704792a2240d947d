/* The auth_service: users and pre-issued tokens loaded from files, the session registry
 * (token hashes -> sessions, with idle/absolute expiry and per-session active-call counts) and
 * the failed-login limiter. Every registry lives in the service and sits behind a named lock. */
#include "auth/auth.h"
#include "auth/auth_internal.h"

#include <sodium.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_USER "admin"
#define DEFAULT_PASSWORD "password123"
#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define SESSION_BUCKETS 4096
#define LIMITER_WAYS 8
#define KEY_BYTES 16
/* Recently verified Basic credentials, so that a client sending Basic on every call does not
 * pay an Argon2 check (and queue for a verify slot) each time. */
#define BASIC_CACHE_SLOTS 256
#define BASIC_CACHE_TTL_MS (60 * 1000)

typedef struct auth_user {
  char *name;
  char *hash; /* NULL for the default user (checked against DEFAULT_PASSWORD) */
  auth_role role;
} auth_user;

typedef struct auth_pretoken {
  uint8_t hash[32];
  size_t user;       /* index into users */
  int64_t expires_s; /* seconds since 1970 UTC; 0 = never */
  bool revoked;
} auth_pretoken;

typedef struct auth_session auth_session;
struct auth_session {
  uint8_t hash[32];
  char user[AUTH_MAX_USER + 1];
  auth_role role;
  int64_t created_ms;
  int64_t last_used_ms;
  int active_calls;
  int refs; /* one for the registry while linked, one per identity */
  bool linked;
  auth_session *next;
};

struct auth_identity {
  char user[AUTH_MAX_USER + 1];
  auth_role role;
  auth_session *session; /* counted reference, or NULL */
  long pretoken;         /* index, or -1 */
  void *app_data;
};

typedef struct limiter_entry {
  uint8_t key[KEY_BYTES];
  bool used;
  double tokens;
  int64_t updated_ms;
} limiter_entry;

typedef struct basic_cache_entry {
  uint8_t key[32]; /* keyed BLAKE2b of user and password, never the password itself */
  size_t user;
  int64_t expires_ms;
  bool used;
} basic_cache_entry;

typedef struct limiter_table {
  limiter_entry *entries;
  size_t n_sets;
} limiter_table;

struct auth_service {
  auth_options opts;
  auth_user *users;
  size_t n_users;
  bool default_user;
  auth_pretoken *pretokens;
  size_t n_pretokens;

  pthread_mutex_t sessions_lock; /* guards sessions, n_sessions, pretokens[].revoked */
  auth_session *sessions[SESSION_BUCKETS];
  size_t n_sessions;
  uint64_t creations;

  pthread_mutex_t limiter_lock; /* guards peers, users_limit */
  limiter_table peers;
  limiter_table users_limit;
  uint8_t limiter_key[crypto_generichash_KEYBYTES];

  pthread_mutex_t basic_cache_lock; /* guards basic_cache */
  basic_cache_entry basic_cache[BASIC_CACHE_SLOTS];
  uint8_t basic_cache_key[crypto_generichash_KEYBYTES];

  /* Statistics, updated with atomic builtins. */
  uint64_t n_password_checks, n_failed, n_limited, n_cached;

  pthread_mutex_t verify_lock; /* guards verifies_running, dummy_hash */
  pthread_cond_t verify_free;
  int verifies_running;
  char *dummy_hash; /* verified against for unknown users so they cost as much as known ones */
  atomic_int waiting_handshakes; /* see auth_waiting_handshake_enter */
};

void auth_options_init(auth_options *o) {
  memset(o, 0, sizeof *o);
  o->session_idle_ms = 3600 * 1000LL;
  o->session_lifetime_ms = 24 * 3600 * 1000LL;
  o->max_sessions = 10000;
  o->max_sessions_per_user = 1000;
  o->login_burst = 10;
  o->login_per_minute = 20;
  o->limiter_entries = 4096;
  o->max_parallel_verifies = 2;
  o->max_waiting_handshakes = 32;
}

static int64_t now_ms(const auth_service *svc) {
  if (svc->opts.clock != NULL) return svc->opts.clock(svc->opts.clock_arg);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_now_ms(const auth_service *svc) {
  if (svc->opts.wall_clock != NULL) return svc->opts.wall_clock(svc->opts.wall_clock_arg);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool pretoken_expired(const auth_pretoken *t, int64_t wall_ms) {
  return t->expires_s != 0 && wall_ms >= t->expires_s * 1000;
}

static mlr_code unauthenticated(mlr_error *err) {
  return mlr_error_set(err, MALLARD_UNAUTHENTICATED, "%s", AUTH_UNAUTHENTICATED_MESSAGE);
}

/* ---------------------------------------------------------------------------------------- */
/* Files                                                                                      */

/* Reads a whole file (bounded) as a NUL-terminated string. */
static mlr_code read_file(const char *what, const char *path, char **out, size_t *out_len,
                          mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  char *buf = NULL;
  size_t len = 0, buf_cap = 0;
  FILE *f = fopen(path, "rb");
  *out = NULL;
  if (f == NULL) {
    int e = errno;
    rc = mlr_error_set(err, e == ENOENT ? MALLARD_NOT_FOUND : MALLARD_INVALID_ARGUMENT,
                       "%s '%s': %s", what, path, e == ENOENT ? "file not found" : strerror(e));
    goto cleanup;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s': not a regular file", what, path);
    goto cleanup;
  }
  if (st.st_size > MAX_FILE_BYTES) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s': larger than %d MiB", what, path,
                       MAX_FILE_BYTES / (1024 * 1024));
    goto cleanup;
  }
  buf_cap = (size_t)st.st_size + 1;
  buf = malloc(buf_cap);
  if (buf == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "%s '%s': out of memory", what, path);
    goto cleanup;
  }
  len = fread(buf, 1, (size_t)st.st_size, f);
  if (ferror(f)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s '%s': read error", what, path);
    goto cleanup;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  buf = NULL;
cleanup:
  if (f != NULL) fclose(f);
  if (buf != NULL) {
    sodium_memzero(buf, buf_cap);
    free(buf);
  }
  return rc;
}

/* Splits the next line off [*pos, len): trims a trailing \r and surrounding blanks. */
static bool next_line(char *text, size_t len, size_t *pos, char **line, size_t *line_len) {
  if (*pos >= len) return false;
  char *start = text + *pos;
  char *nl = memchr(start, '\n', len - *pos);
  size_t n = nl != NULL ? (size_t)(nl - start) : len - *pos;
  *pos += n + (nl != NULL ? 1 : 0);
  while (n > 0 && (start[n - 1] == '\r' || start[n - 1] == ' ' || start[n - 1] == '\t')) n--;
  while (n > 0 && (*start == ' ' || *start == '\t')) {
    start++;
    n--;
  }
  start[n] = '\0';
  *line = start;
  *line_len = n;
  return true;
}

static long find_user(const auth_service *svc, const char *name) {
  for (size_t i = 0; i < svc->n_users; i++) {
    if (strcmp(svc->users[i].name, name) == 0) return (long)i;
  }
  return -1;
}

static mlr_code load_users(auth_service *svc, const char *path, mlr_error *err) {
  mlr_code rc;
  char *text = NULL;
  size_t len = 0, pos = 0, lineno = 0, cap = 0;
  char *line;
  size_t line_len;
  rc = read_file("users file", path, &text, &len, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (memchr(text, '\0', len) != NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "users file '%s': contains NUL bytes", path);
    goto cleanup;
  }
  while (next_line(text, len, &pos, &line, &line_len)) {
    lineno++;
    if (line_len == 0 || line[0] == '#') continue;
    char *c1 = strchr(line, ':');
    char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    char *c3 = c2 != NULL ? strchr(c2 + 1, ':') : NULL;
    if (c1 == NULL || c3 != NULL) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "users file '%s' line %zu: expected name:hash[:role] (make lines with "
                         "`mallard passwd NAME`)",
                         path, lineno);
      goto cleanup;
    }
    *c1 = '\0';
    if (c2 != NULL) *c2 = '\0';
    const char *name = line, *hash = c1 + 1, *role_s = c2 != NULL ? c2 + 1 : "admin";
    if (!auth_valid_user_name(name, strlen(name))) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "users file '%s' line %zu: bad user name (1 to %d characters, no "
                         "spaces, colons or control characters)",
                         path, lineno, AUTH_MAX_USER);
      goto cleanup;
    }
    if (strncmp(hash, "$argon2id$", 10) != 0 || strlen(hash) >= crypto_pwhash_STRBYTES) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "users file '%s' line %zu: the hash is not an Argon2id hash (make it "
                         "with `mallard passwd %s`)",
                         path, lineno, name);
      goto cleanup;
    }
    auth_role role;
    if (strcmp(role_s, "admin") == 0) {
      role = AUTH_ROLE_ADMIN;
    } else if (strcmp(role_s, "reader") == 0) {
      role = AUTH_ROLE_READER;
    } else {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "users file '%s' line %zu: unknown role '%.32s' (admin or reader)", path,
                         lineno, role_s);
      goto cleanup;
    }
    if (find_user(svc, name) >= 0) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "users file '%s' line %zu: user '%s' appears twice", path, lineno, name);
      goto cleanup;
    }
    if (svc->n_users == cap) {
      size_t ncap = cap == 0 ? 16 : cap * 2;
      auth_user *nu = realloc(svc->users, ncap * sizeof *nu);
      if (nu == NULL) {
        rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "users file: out of memory");
        goto cleanup;
      }
      svc->users = nu;
      cap = ncap;
    }
    auth_user *u = &svc->users[svc->n_users];
    u->name = strdup(name);
    u->hash = strdup(hash);
    u->role = role;
    if (u->name == NULL || u->hash == NULL) {
      free(u->name);
      free(u->hash);
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "users file: out of memory");
      goto cleanup;
    }
    svc->n_users++;
  }
  if (svc->n_users == 0) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "users file '%s' holds no users (add lines with `mallard passwd NAME`)",
                       path);
  }
cleanup:
  if (text != NULL) {
    sodium_memzero(text, len);
    free(text);
  }
  return rc;
}

static mlr_code load_tokens(auth_service *svc, const char *path, mlr_error *err) {
  mlr_code rc;
  char *text = NULL;
  size_t len = 0, pos = 0, lineno = 0, cap = 0;
  char *line;
  size_t line_len;
  rc = read_file("tokens file", path, &text, &len, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (memchr(text, '\0', len) != NULL) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "tokens file '%s': contains NUL bytes", path);
    goto cleanup;
  }
  while (next_line(text, len, &pos, &line, &line_len)) {
    lineno++;
    if (line_len == 0 || line[0] == '#') continue;
    char *colon = strchr(line, ':');
    uint8_t hash[32];
    size_t bin_len = 0;
    if (colon == NULL || colon - line != AUTH_TOKEN_HASH_HEX ||
        sodium_hex2bin(hash, sizeof hash, line, AUTH_TOKEN_HASH_HEX, NULL, &bin_len, NULL) != 0 ||
        bin_len != sizeof hash) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "tokens file '%s' line %zu: expected token-hash:user with a 64-hex-digit "
                         "hash (make lines with `mallard token NAME`)",
                         path, lineno);
      goto cleanup;
    }
    /* user[:expiry]: a user name has no colon, the expiry is the rest of the line */
    char *expiry = strchr(colon + 1, ':');
    int64_t expires_s = 0;
    if (expiry != NULL) {
      *expiry++ = '\0';
      if (!auth_parse_utc(expiry, strlen(expiry), &expires_s)) {
        rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                           "tokens file '%s' line %zu: the expiry time after the user must look "
                           "like 2027-02-25T08:00:00Z (UTC)",
                           path, lineno);
        goto cleanup;
      }
    }
    long user = find_user(svc, colon + 1);
    if (user < 0) {
      rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "tokens file '%s' line %zu: unknown user '%.*s'%s", path, lineno,
                         AUTH_MAX_USER, colon + 1,
                         svc->default_user ? " (without --users only 'admin' exists)" : "");
      goto cleanup;
    }
    if (svc->n_pretokens == cap) {
      size_t ncap = cap == 0 ? 16 : cap * 2;
      auth_pretoken *nt = realloc(svc->pretokens, ncap * sizeof *nt);
      if (nt == NULL) {
        rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "tokens file: out of memory");
        goto cleanup;
      }
      svc->pretokens = nt;
      cap = ncap;
    }
    auth_pretoken *t = &svc->pretokens[svc->n_pretokens++];
    memcpy(t->hash, hash, sizeof hash);
    t->user = (size_t)user;
    t->expires_s = expires_s;
    t->revoked = false;
  }
cleanup:
  if (text != NULL) {
    sodium_memzero(text, len);
    free(text);
  }
  return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Lifecycle                                                                                  */

mlr_code auth_service_create(const auth_options *o, auth_service **out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  auth_service *svc = NULL;
  *out = NULL;
  if (sodium_init() < 0) return mlr_error_set(err, MALLARD_INTERNAL, "libsodium failed to start");
  if (o->session_idle_ms <= 0 || o->session_lifetime_ms <= 0 || o->max_sessions <= 0 ||
      o->max_sessions_per_user <= 0 || o->login_burst <= 0 || o->login_per_minute <= 0 ||
      o->limiter_entries <= 0 || o->max_parallel_verifies <= 0 || o->max_waiting_handshakes <= 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "auth options: lifetimes, --max-sessions and limiter sizes must be > 0");
  }
  svc = calloc(1, sizeof *svc);
  if (svc == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  svc->opts = *o;
  svc->opts.users_file = NULL;
  svc->opts.tokens_file = NULL;
  pthread_mutex_init(&svc->sessions_lock, NULL);
  pthread_mutex_init(&svc->limiter_lock, NULL);
  pthread_mutex_init(&svc->verify_lock, NULL);
  pthread_cond_init(&svc->verify_free, NULL);
  randombytes_buf(svc->limiter_key, sizeof svc->limiter_key);
  randombytes_buf(svc->basic_cache_key, sizeof svc->basic_cache_key);
  pthread_mutex_init(&svc->basic_cache_lock, NULL);
  size_t sets = ((size_t)o->limiter_entries + LIMITER_WAYS - 1) / LIMITER_WAYS;
  svc->peers.n_sets = sets;
  svc->users_limit.n_sets = sets;
  svc->peers.entries = calloc(sets * LIMITER_WAYS, sizeof(limiter_entry));
  svc->users_limit.entries = calloc(sets * LIMITER_WAYS, sizeof(limiter_entry));
  if (svc->peers.entries == NULL || svc->users_limit.entries == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  if (o->users_file != NULL) {
    rc = load_users(svc, o->users_file, err);
    if (rc != MALLARD_OK) goto cleanup;
  } else {
    svc->default_user = true;
    svc->users = calloc(1, sizeof *svc->users);
    if (svc->users == NULL || (svc->users[0].name = strdup(DEFAULT_USER)) == NULL) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      goto cleanup;
    }
    svc->users[0].role = AUTH_ROLE_ADMIN;
    svc->n_users = 1;
  }
  if (o->tokens_file != NULL) {
    rc = load_tokens(svc, o->tokens_file, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  *out = svc;
  svc = NULL;
cleanup:
  auth_service_free(svc);
  return rc;
}

void auth_service_free(auth_service *svc) {
  if (svc == NULL) return;
  for (size_t b = 0; b < SESSION_BUCKETS; b++) {
    auth_session *s = svc->sessions[b];
    while (s != NULL) {
      auth_session *next = s->next;
      sodium_memzero(s, sizeof *s);
      free(s);
      s = next;
    }
  }
  for (size_t i = 0; i < svc->n_users; i++) {
    free(svc->users[i].name);
    if (svc->users[i].hash != NULL) {
      sodium_memzero(svc->users[i].hash, strlen(svc->users[i].hash));
      free(svc->users[i].hash);
    }
  }
  free(svc->users);
  free(svc->pretokens);
  free(svc->peers.entries);
  free(svc->users_limit.entries);
  free(svc->dummy_hash);
  pthread_mutex_destroy(&svc->sessions_lock);
  pthread_mutex_destroy(&svc->limiter_lock);
  pthread_mutex_destroy(&svc->verify_lock);
  pthread_mutex_destroy(&svc->basic_cache_lock);
  pthread_cond_destroy(&svc->verify_free);
  sodium_memzero(svc, sizeof *svc);
  free(svc);
}

bool auth_service_uses_default_user(const auth_service *svc) {
  return svc->default_user;
}

size_t auth_service_expired_tokens(const auth_service *svc) {
  int64_t wall = wall_now_ms(svc);
  size_t n = 0;
  for (size_t i = 0; i < svc->n_pretokens; i++) n += pretoken_expired(&svc->pretokens[i], wall);
  return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Failed-login limiter: set-associative tables of token buckets keyed by a keyed hash of the */
/* peer address or user name, so memory is fixed whatever names a flood uses.                 */

static double refilled(const auth_service *svc, const limiter_entry *e, int64_t now) {
  double burst = svc->opts.login_burst;
  if (!e->used) return burst;
  double dt = (double)(now - e->updated_ms);
  if (dt < 0) dt = 0;
  double t = e->tokens + dt * svc->opts.login_per_minute / 60000.0;
  return t > burst ? burst : t;
}

static limiter_entry *limiter_slot(auth_service *svc, limiter_table *t, const char *key,
                                   size_t key_len, int64_t now) {
  uint8_t h[KEY_BYTES];
  crypto_generichash(h, sizeof h, (const unsigned char *)key, key_len, svc->limiter_key,
                     sizeof svc->limiter_key);
  uint64_t idx;
  memcpy(&idx, h, sizeof idx);
  limiter_entry *set = &t->entries[(idx % t->n_sets) * LIMITER_WAYS];
  limiter_entry *victim = NULL;
  double victim_tokens = -1;
  for (int w = 0; w < LIMITER_WAYS; w++) {
    limiter_entry *e = &set[w];
    if (e->used && memcmp(e->key, h, sizeof h) == 0) return e;
    /* Evict an unused or the most refilled entry: it remembers the least. */
    double tok = refilled(svc, e, now);
    if (victim == NULL || tok > victim_tokens) {
      victim = e;
      victim_tokens = tok;
    }
  }
  memcpy(victim->key, h, sizeof h);
  victim->used = true;
  victim->tokens = svc->opts.login_burst;
  victim->updated_ms = now;
  return victim;
}

/* Peer string without the port ("ipv4:1.2.3.4:5678" -> "ipv4:1.2.3.4"). */
static size_t peer_key_len(const char *peer) {
  size_t n = strlen(peer);
  const char *colon = strrchr(peer, ':');
  if (colon == NULL || colon[1] == '\0') return n;
  for (const char *p = colon + 1; *p; p++) {
    if (*p < '0' || *p > '9') return n;
  }
  if (strncmp(peer, "ipv4:", 5) != 0 && strncmp(peer, "ipv6:", 5) != 0) return n;
  return (size_t)(colon - peer);
}

/* Takes one attempt from both buckets, or none when either is empty (RESOURCE_EXHAUSTED). */
static mlr_code limiter_take(auth_service *svc, const char *peer, const char *user,
                             mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  int64_t now = now_ms(svc);
  pthread_mutex_lock(&svc->limiter_lock);
  limiter_entry *p = limiter_slot(svc, &svc->peers, peer, peer_key_len(peer), now);
  limiter_entry *u = limiter_slot(svc, &svc->users_limit, user, strlen(user), now);
  double pt = refilled(svc, p, now), ut = refilled(svc, u, now);
  p->tokens = pt;
  p->updated_ms = now;
  u->tokens = ut;
  u->updated_ms = now;
  if (pt < 1 || ut < 1) {
    double missing = 1 - (pt < ut ? pt : ut);
    double wait_s = missing * 60.0 / svc->opts.login_per_minute;
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                       "too many failed logins from this address or for this user: try again "
                       "in %.0f s",
                       wait_s < 1 ? 1 : wait_s + 0.5);
  } else {
    p->tokens -= 1;
    u->tokens -= 1;
  }
  pthread_mutex_unlock(&svc->limiter_lock);
  return rc;
}

/* A successful login gives its attempt back: only failures count. */
static void limiter_refund(auth_service *svc, const char *peer, const char *user) {
  int64_t now = now_ms(svc);
  pthread_mutex_lock(&svc->limiter_lock);
  limiter_entry *p = limiter_slot(svc, &svc->peers, peer, peer_key_len(peer), now);
  limiter_entry *u = limiter_slot(svc, &svc->users_limit, user, strlen(user), now);
  double burst = svc->opts.login_burst;
  p->tokens = refilled(svc, p, now) + 1;
  if (p->tokens > burst) p->tokens = burst;
  p->updated_ms = now;
  u->tokens = refilled(svc, u, now) + 1;
  if (u->tokens > burst) u->tokens = burst;
  u->updated_ms = now;
  pthread_mutex_unlock(&svc->limiter_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Password checks: at most max_parallel_verifies Argon2 runs at once (each takes its memory).*/

static bool verify_slot_acquire(auth_service *svc) {
  bool ok = true;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&svc->verify_lock);
  while (ok && svc->verifies_running >= svc->opts.max_parallel_verifies) {
    if (pthread_cond_timedwait(&svc->verify_free, &svc->verify_lock, &deadline) == ETIMEDOUT) {
      ok = false;
    }
  }
  if (ok) svc->verifies_running++;
  pthread_mutex_unlock(&svc->verify_lock);
  return ok;
}

static void verify_slot_release(auth_service *svc) {
  pthread_mutex_lock(&svc->verify_lock);
  svc->verifies_running--;
  pthread_cond_signal(&svc->verify_free);
  pthread_mutex_unlock(&svc->verify_lock);
}

/* The Argon2 parameters ("$m=...,t=...,p=...") of a hash, and their length. */
static const char *hash_params(const char *hash, size_t *len) {
  const char *p = hash != NULL ? strstr(hash, "$m=") : NULL;
  if (p == NULL) return *len = 0, "";
  const char *e = strchr(p + 1, '$');
  *len = e != NULL ? (size_t)(e - p) : strlen(p);
  return p;
}

static int cmp_hash_params(const void *a, const void *b) {
  size_t la, lb;
  const char *pa = hash_params(*(const char *const *)a, &la);
  const char *pb = hash_params(*(const char *const *)b, &lb);
  int c = memcmp(pa, pb, la < lb ? la : lb);
  return c != 0 ? c : (la > lb) - (la < lb);
}

/* The users' most common Argon2 parameters (ties: any of them), as a hash carrying them. With
 * costs mixed, a name can be told apart from an unknown one by its time unless its cost is
 * the common one (docs/auth.md says so). */
static const char *common_params_hash(const auth_service *svc) {
  const char **h = malloc(svc->n_users * sizeof *h);
  if (h == NULL) return svc->users[0].hash;
  for (size_t i = 0; i < svc->n_users; i++) h[i] = svc->users[i].hash;
  qsort(h, svc->n_users, sizeof *h, cmp_hash_params);
  const char *best = h[0];
  size_t best_n = 0, run = 0;
  for (size_t i = 0; i < svc->n_users; i++) {
    run = i > 0 && cmp_hash_params(&h[i - 1], &h[i]) == 0 ? run + 1 : 1;
    if (run > best_n) best_n = run, best = h[i];
  }
  free(h);
  return best;
}

/* A hash with the users' most common Argon2 parameters, made once, so that an unknown user
 * name takes as long to refuse as a wrong password. */
static const char *dummy_hash(auth_service *svc) {
  pthread_mutex_lock(&svc->verify_lock);
  if (svc->dummy_hash == NULL && svc->n_users > 0 && svc->users[0].hash != NULL) {
    unsigned long m = 0, t = 0, p = 0;
    const char *params = strstr(common_params_hash(svc), "$m=");
    if (params == NULL || sscanf(params, "$m=%lu,t=%lu,p=%lu", &m, &t, &p) != 3 || m == 0 ||
        t == 0 || m > (1ul << 22)) {
      m = crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024;
      t = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    }
    char *h = malloc(crypto_pwhash_STRBYTES);
    uint8_t pw[16];
    randombytes_buf(pw, sizeof pw);
    if (h != NULL && crypto_pwhash_str_alg(h, (const char *)pw, sizeof pw, t, (size_t)m * 1024,
                                           crypto_pwhash_ALG_ARGON2ID13) == 0) {
      svc->dummy_hash = h;
    } else {
      free(h);
    }
  }
  const char *out = svc->dummy_hash;
  pthread_mutex_unlock(&svc->verify_lock);
  return out;
}

bool auth_waiting_handshake_enter(auth_service *svc) {
  int n = atomic_fetch_add(&svc->waiting_handshakes, 1);
  if (n < svc->opts.max_waiting_handshakes) return true;
  atomic_fetch_sub(&svc->waiting_handshakes, 1);
  return false;
}

void auth_waiting_handshake_leave(auth_service *svc) {
  atomic_fetch_sub(&svc->waiting_handshakes, 1);
}

const char *auth_service_decoy_hash(auth_service *svc) {
  return svc->default_user ? NULL : dummy_hash(svc);
}

/* True when user/password match. Constant-time for the default user; an unknown user still
 * runs one Argon2 verify. */
static bool check_password(auth_service *svc, const auth_credential *cred, long *user_idx,
                           mlr_error *err, mlr_code *rc) {
  *rc = MALLARD_OK;
  long idx = find_user(svc, cred->user);
  *user_idx = idx;
  if (svc->default_user) {
    uint8_t a[32], b[32];
    crypto_generichash(a, sizeof a, (const unsigned char *)cred->password, strlen(cred->password),
                       NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)DEFAULT_PASSWORD,
                       strlen(DEFAULT_PASSWORD), NULL, 0);
    return (sodium_memcmp(a, b, sizeof a) == 0) & (idx >= 0);
  }
  const char *hash = idx >= 0 ? svc->users[idx].hash : dummy_hash(svc);
  if (!verify_slot_acquire(svc)) {
    *rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                        "the server is busy checking passwords: try again shortly");
    return false;
  }
  bool ok = auth_verify_password(hash, cred->password, strlen(cred->password));
  __atomic_fetch_add(&svc->n_password_checks, 1, __ATOMIC_RELAXED);
  verify_slot_release(svc);
  return ok && idx >= 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Sessions                                                                                   */

static size_t bucket_of(const uint8_t hash[32]) {
  uint64_t v;
  memcpy(&v, hash, sizeof v);
  return (size_t)(v % SESSION_BUCKETS);
}

static bool session_usable(const auth_service *svc, const auth_session *s, int64_t now) {
  if (now - s->created_ms >= svc->opts.session_lifetime_ms) return false;
  /* A session with a call still running is not idle. */
  return s->active_calls > 0 || now - s->last_used_ms < svc->opts.session_idle_ms;
}

static void session_unref(auth_session *s) {
  if (--s->refs == 0) {
    sodium_memzero(s, sizeof *s);
    free(s);
  }
}

/* Takes the session at *pp out of the registry and drops the registry's reference. Caller
 * holds sessions_lock. */
static void unlink_session_locked(auth_service *svc, auth_session **pp) {
  auth_session *s = *pp;
  *pp = s->next;
  s->linked = false;
  svc->n_sessions--;
  session_unref(s);
}

/* Unlinks expired sessions that have no call running. Caller holds sessions_lock. */
static void sweep_locked(auth_service *svc, int64_t now) {
  for (size_t b = 0; b < SESSION_BUCKETS; b++) {
    auth_session **pp = &svc->sessions[b];
    while (*pp != NULL) {
      auth_session *s = *pp;
      if (s->active_calls == 0 && !session_usable(svc, s, now)) {
        unlink_session_locked(svc, pp);
      } else {
        pp = &s->next;
      }
    }
  }
}

/* Makes room for one more session of user: at max_sessions_per_user, unlinks that user's least
 * recently used session that has no call running. False when every one has a call running.
 * Caller holds sessions_lock. */
static bool user_room_locked(auth_service *svc, const char *user) {
  size_t n = 0;
  auth_session **victim = NULL;
  for (size_t b = 0; b < SESSION_BUCKETS; b++) {
    for (auth_session **pp = &svc->sessions[b]; *pp != NULL; pp = &(*pp)->next) {
      auth_session *s = *pp;
      if (strcmp(s->user, user) != 0) continue;
      n++;
      if (s->active_calls == 0 && (victim == NULL || s->last_used_ms < (*victim)->last_used_ms))
        victim = pp;
    }
  }
  if (n < (size_t)svc->opts.max_sessions_per_user) return true;
  if (victim == NULL) return false;
  unlink_session_locked(svc, victim);
  return true;
}

static mlr_code session_create(auth_service *svc, const char *user, auth_role role, char *token_out,
                               auth_identity *id, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  auth_session *s = calloc(1, sizeof *s);
  if (s == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  char token[AUTH_TOKEN_CHARS + 1];
  auth_new_token(token);
  crypto_generichash(s->hash, sizeof s->hash, (const unsigned char *)token, AUTH_TOKEN_CHARS, NULL,
                     0);
  snprintf(s->user, sizeof s->user, "%s", user);
  s->role = role;
  pthread_mutex_lock(&svc->sessions_lock);
  int64_t now = now_ms(svc);
  s->created_ms = now;
  s->last_used_ms = now;
  if (svc->n_sessions >= (size_t)svc->opts.max_sessions || ++svc->creations % 256 == 0) {
    sweep_locked(svc, now);
  }
  if (!user_room_locked(svc, user)) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                       "user '%s' has %d sessions with calls running (--max-sessions-per-user): "
                       "log out unused sessions or try again later",
                       user, svc->opts.max_sessions_per_user);
    pthread_mutex_unlock(&svc->sessions_lock);
    free(s);
    goto cleanup;
  }
  if (svc->n_sessions >= (size_t)svc->opts.max_sessions) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED,
                       "too many sessions (--max-sessions %d): log out unused sessions or try "
                       "again later",
                       svc->opts.max_sessions);
    pthread_mutex_unlock(&svc->sessions_lock);
    free(s);
    goto cleanup;
  }
  size_t b = bucket_of(s->hash);
  s->next = svc->sessions[b];
  svc->sessions[b] = s;
  s->linked = true;
  s->refs = 2; /* registry + this identity */
  s->active_calls = 1;
  svc->n_sessions++;
  id->session = s;
  pthread_mutex_unlock(&svc->sessions_lock);
  memcpy(token_out, token, sizeof token);
cleanup:
  sodium_memzero(token, sizeof token);
  return rc;
}

size_t auth_session_count(auth_service *svc) {
  pthread_mutex_lock(&svc->sessions_lock);
  sweep_locked(svc, now_ms(svc));
  size_t n = svc->n_sessions;
  pthread_mutex_unlock(&svc->sessions_lock);
  return n;
}

void auth_get_stats(auth_service *svc, auth_stats *out) {
  out->password_checks = __atomic_load_n(&svc->n_password_checks, __ATOMIC_RELAXED);
  out->failed_logins = __atomic_load_n(&svc->n_failed, __ATOMIC_RELAXED);
  out->limited_logins = __atomic_load_n(&svc->n_limited, __ATOMIC_RELAXED);
  out->cached_logins = __atomic_load_n(&svc->n_cached, __ATOMIC_RELAXED);
  out->sessions = auth_session_count(svc);
}

/* Finds a usable session or pre-issued token by the token's hash; every candidate is
 * compared in constant time. */
static bool lookup_token(auth_service *svc, const char *token, auth_identity *id) {
  uint8_t h[32];
  bool found = false;
  crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0);
  pthread_mutex_lock(&svc->sessions_lock);
  int64_t now = now_ms(svc);
  for (auth_session *s = svc->sessions[bucket_of(h)]; s != NULL && !found; s = s->next) {
    if (sodium_memcmp(s->hash, h, sizeof h) != 0) continue;
    if (!session_usable(svc, s, now)) break;
    s->active_calls++;
    s->refs++;
    s->last_used_ms = now;
    id->session = s;
    snprintf(id->user, sizeof id->user, "%s", s->user);
    id->role = s->role;
    found = true;
  }
  int64_t wall = svc->n_pretokens > 0 ? wall_now_ms(svc) : 0;
  for (size_t i = 0; i < svc->n_pretokens && !found; i++) {
    auth_pretoken *t = &svc->pretokens[i];
    if (sodium_memcmp(t->hash, h, sizeof h) != 0 || t->revoked || pretoken_expired(t, wall)) {
      continue;
    }
    id->pretoken = (long)i;
    snprintf(id->user, sizeof id->user, "%s", svc->users[t->user].name);
    id->role = svc->users[t->user].role;
    found = true;
  }
  pthread_mutex_unlock(&svc->sessions_lock);
  return found;
}

static void basic_cache_key(const auth_service *svc, const auth_credential *cred, uint8_t key[32]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, svc->basic_cache_key, sizeof svc->basic_cache_key, 32);
  crypto_generichash_update(&st, (const unsigned char *)cred->user, strlen(cred->user) + 1);
  crypto_generichash_update(&st, (const unsigned char *)cred->password, strlen(cred->password));
  crypto_generichash_final(&st, key, 32);
  sodium_memzero(&st, sizeof st);
}

static size_t basic_cache_slot(const uint8_t key[32]) {
  uint64_t v;
  memcpy(&v, key, sizeof v);
  return (size_t)(v % BASIC_CACHE_SLOTS);
}

/* The user index of a credential verified within the TTL, or -1. */
static long basic_cache_lookup(auth_service *svc, const auth_credential *cred) {
  uint8_t key[32];
  long user = -1;
  if (svc->default_user) return -1; /* its check is cheap already */
  basic_cache_key(svc, cred, key);
  pthread_mutex_lock(&svc->basic_cache_lock);
  basic_cache_entry *e = &svc->basic_cache[basic_cache_slot(key)];
  if (e->used && sodium_memcmp(e->key, key, sizeof key) == 0 && now_ms(svc) < e->expires_ms) {
    user = (long)e->user;
  }
  pthread_mutex_unlock(&svc->basic_cache_lock);
  sodium_memzero(key, sizeof key);
  return user;
}

static void basic_cache_store(auth_service *svc, const auth_credential *cred, long user) {
  uint8_t key[32];
  if (svc->default_user || user < 0) return;
  int64_t ttl = BASIC_CACHE_TTL_MS < svc->opts.session_idle_ms ? BASIC_CACHE_TTL_MS
                                                               : svc->opts.session_idle_ms;
  basic_cache_key(svc, cred, key);
  pthread_mutex_lock(&svc->basic_cache_lock);
  basic_cache_entry *e = &svc->basic_cache[basic_cache_slot(key)];
  memcpy(e->key, key, sizeof key);
  e->user = (size_t)user;
  e->expires_ms = now_ms(svc) + ttl;
  e->used = true;
  pthread_mutex_unlock(&svc->basic_cache_lock);
  sodium_memzero(key, sizeof key);
}

mlr_code auth_authenticate(auth_service *svc, const char *peer, const auth_credential *cred,
                           bool new_session, char *token_out, auth_identity **out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  auth_identity *id = calloc(1, sizeof *id);
  *out = NULL;
  if (id == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  id->pretoken = -1;
  if (peer == NULL) peer = "";
  if (cred->kind == AUTH_CRED_BEARER) {
    if (!lookup_token(svc, cred->token, id)) {
      rc = unauthenticated(err);
      goto cleanup;
    }
    if (new_session) snprintf(token_out, AUTH_MAX_TOKEN + 1, "%s", cred->token);
  } else if (cred->kind == AUTH_CRED_BASIC) {
    /* The limiter runs first, even for a cached credential (else a blocked guesser would
     * learn a right guess), and before any Argon2 work. */
    rc = limiter_take(svc, peer, cred->user, err);
    if (rc != MALLARD_OK) {
      __atomic_fetch_add(&svc->n_limited, 1, __ATOMIC_RELAXED);
      goto cleanup;
    }
    long idx = basic_cache_lookup(svc, cred);
    if (idx >= 0) {
      __atomic_fetch_add(&svc->n_cached, 1, __ATOMIC_RELAXED);
    } else {
      if (!check_password(svc, cred, &idx, err, &rc)) {
        if (rc == MALLARD_OK) {
          rc = unauthenticated(err);
          __atomic_fetch_add(&svc->n_failed, 1, __ATOMIC_RELAXED);
        }
        goto cleanup;
      }
      basic_cache_store(svc, cred, idx);
    }
    limiter_refund(svc, peer, cred->user);
    snprintf(id->user, sizeof id->user, "%s", svc->users[idx].name);
    id->role = svc->users[idx].role;
    if (new_session) {
      rc = session_create(svc, id->user, id->role, token_out, id, err);
      if (rc != MALLARD_OK) goto cleanup;
    }
  } else {
    rc = unauthenticated(err);
    goto cleanup;
  }
  *out = id;
  id = NULL;
cleanup:
  auth_identity_release(svc, id);
  return rc;
}

void auth_identity_release(auth_service *svc, auth_identity *id) {
  if (id == NULL) return;
  if (id->session != NULL) {
    pthread_mutex_lock(&svc->sessions_lock);
    id->session->active_calls--;
    id->session->last_used_ms = now_ms(svc);
    session_unref(id->session);
    pthread_mutex_unlock(&svc->sessions_lock);
  }
  sodium_memzero(id, sizeof *id);
  free(id);
}

const char *auth_identity_user(const auth_identity *id) {
  return id != NULL ? id->user : NULL;
}

auth_role auth_identity_role(const auth_identity *id) {
  return id != NULL ? id->role : AUTH_ROLE_NONE;
}

void auth_identity_set_app_data(auth_identity *id, void *data) {
  if (id != NULL) id->app_data = data;
}

void *auth_identity_app_data(const auth_identity *id) {
  return id != NULL ? id->app_data : NULL;
}

mlr_code auth_revoke(auth_service *svc, const auth_identity *id, mlr_error *err) {
  if (id == NULL) return unauthenticated(err);
  if (id->session == NULL && id->pretoken < 0) {
    /* Nothing to revoke: answering ok would let a client believe it logged out. */
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "logout revokes a bearer token, and this call carried user and password "
                         "(Basic), which open no session: to stop using them, stop sending them");
  }
  pthread_mutex_lock(&svc->sessions_lock);
  auth_session *s = id->session;
  if (s != NULL && s->linked) {
    auth_session **pp = &svc->sessions[bucket_of(s->hash)];
    while (*pp != NULL && *pp != s) pp = &(*pp)->next;
    if (*pp == s) unlink_session_locked(svc, pp); /* the identity still holds a reference */
  }
  if (id->pretoken >= 0 && (size_t)id->pretoken < svc->n_pretokens) {
    svc->pretokens[id->pretoken].revoked = true;
  }
  pthread_mutex_unlock(&svc->sessions_lock);
  return MALLARD_OK;
}
