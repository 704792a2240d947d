/* A server's lifecycle (database, init SQL, auth, exchangers, transport), the middleware and
 * call_done hooks around every handler, cancellation and the --query-timeout watchdog. */
#include "server/srv_internal.h"
#include "common/mlr_time.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int64_t srv_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- logger */

void srv_logger_init(srv_logger *lg, FILE *out, srv_log_format format) {
  lg->out = out;
  lg->format = format;
  pthread_mutex_init(&lg->lock, NULL);
}

void srv_logger_destroy(srv_logger *lg) {
  pthread_mutex_destroy(&lg->lock);
}

static void logger_write(srv_logger *lg, const char *line) {
  FILE *out = lg->out ? lg->out : stderr;
  pthread_mutex_lock(&lg->lock);
  fputs(line, out);
  fflush(out);
  pthread_mutex_unlock(&lg->lock);
}

void srv_logger_message(srv_logger *lg, const char *level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mlr_strbuf b = {0};
  if (lg->format == SRV_LOG_JSON) {
    mlr_strbuf_append(&b, "{\"level\":", 9);
    mlr_strbuf_append_json_string(&b, level, strlen(level));
    mlr_strbuf_append(&b, ",\"msg\":", 7);
    mlr_strbuf_append_json_string(&b, msg, strlen(msg));
    mlr_strbuf_append(&b, "}\n", 2);
  } else {
    mlr_strbuf_appendf(&b, "mallard: %s: %s\n", level, msg);
  }
  char *line = mlr_strbuf_take(&b, NULL);
  if (line != NULL) logger_write(lg, line);
  free(line);
}

/* ---------------------------------------------------------------- per-call state */

srv_call *srv_call_of(flight_call *call) {
  return (srv_call *)auth_call_app_data(call);
}

/* The transport's cancel hook: runs once, on a completion-queue thread. */
static void on_cancel(void *arg) {
  srv_call *sc = arg;
  pthread_mutex_lock(&sc->lock);
  sc->cancelled = true;
  if (sc->conn != NULL) db_conn_interrupt(sc->conn);
  if (sc->xchg != NULL) xchg_interrupt(sc->xchg);
  pthread_mutex_unlock(&sc->lock);
}

mlr_code srv_call_connect(srv_call *sc, db_conn **out, mlr_error *err) {
  db_conn *conn = NULL;
  *out = NULL;
  MLR_RETURN_NOT_OK(db_connect(sc->srv->db, &conn, err));
  pthread_mutex_lock(&sc->lock);
  bool cancelled = sc->cancelled;
  if (!cancelled) sc->conn = conn;
  pthread_mutex_unlock(&sc->lock);
  if (cancelled) {
    db_disconnect(conn);
    return mlr_error_set(err, MALLARD_CANCELLED, "the call was cancelled");
  }
  *out = conn;
  return MALLARD_OK;
}

void srv_call_disconnect(srv_call *sc, db_conn *conn) {
  if (conn == NULL) return;
  pthread_mutex_lock(&sc->lock);
  if (sc->conn == conn) sc->conn = NULL;
  pthread_mutex_unlock(&sc->lock);
  db_disconnect(conn);
}

void srv_call_set_xchg(srv_call *sc, xchg_instance *inst) {
  pthread_mutex_lock(&sc->lock);
  sc->xchg = inst;
  bool cancelled = sc->cancelled;
  pthread_mutex_unlock(&sc->lock);
  if (cancelled && inst != NULL) xchg_interrupt(inst);
}

void srv_call_set_table(srv_call *sc, const char *schema, const char *table) {
  free(sc->table);
  sc->table = NULL;
  if (table == NULL) return;
  mlr_strbuf b = {0};
  if (schema != NULL) {
    mlr_strbuf_append_str(&b, schema);
    mlr_strbuf_append(&b, ".", 1);
  }
  mlr_strbuf_append_str(&b, table);
  sc->table = mlr_strbuf_take(&b, NULL);
}

void srv_call_set_query(srv_call *sc, const char *sql, size_t len) {
  srv_query_hash(sql, len, sc->query_hash);
}

mlr_code srv_sql_from_bytes(const uint8_t *data, size_t len, const char *what, char **out,
                            mlr_error *err) {
  *out = NULL;
  if (data == NULL || len == 0) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "the %s is empty: send a SQL query", what);
  }
  if (!srv_valid_utf8((const char *)data, len)) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "the %s is not a UTF-8 SQL query (invalid UTF-8 or a NUL byte)", what);
  }
  char *sql = malloc(len + 1);
  if (sql == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  memcpy(sql, data, len);
  sql[len] = '\0';
  *out = sql;
  return MALLARD_OK;
}

bool srv_call_read_only(srv_server *s, flight_call *call) {
  return s->read_only || auth_call_role(call) == AUTH_ROLE_READER;
}

mlr_code srv_check_read_only_sql(srv_server *s, flight_call *call, db_conn *conn, const char *sql,
                                 mlr_error *err) {
  if (!srv_call_read_only(s, call)) return MALLARD_OK;
  bool read_only = false;
  const char *why = NULL;
  MLR_RETURN_NOT_OK(db_sql_is_read_only(conn, sql, &read_only, &why, err));
  if (read_only) return MALLARD_OK;
  const char *user = auth_call_user(call);
  char who[AUTH_MAX_USER + 64];
  if (s->read_only)
    snprintf(who, sizeof who, "this server is read-only (--read-only)");
  else
    snprintf(who, sizeof who, "user '%s' is a reader", user ? user : "?");
  if (why != NULL) {
    return mlr_error_set(err, MALLARD_PERMISSION_DENIED,
                         "%s: the query uses %s, which changes what other users see (DuckDB's "
                         "log, checkpoints) or runs SQL given as text",
                         who, why);
  }
  return mlr_error_set(err, MALLARD_PERMISSION_DENIED,
                       "%s: only a query (SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, EXPLAIN, "
                       "...) is allowed, and EXPLAIN ANALYZE only of a query%s",
                       who, s->read_only ? "" : "; writing needs role admin");
}

mlr_code srv_refuse_write(srv_server *s, const char *what, mlr_error *err) {
  if (!s->read_only) return MALLARD_OK;
  return mlr_error_set(err, MALLARD_PERMISSION_DENIED,
                       "this server is read-only (--read-only): %s is refused", what);
}

/* ---------------------------------------------------------------- query timeout watchdog */

void srv_call_watch(srv_call *sc) {
  srv_server *s = sc->srv;
  if (s->query_timeout_s <= 0 || sc->watched) return;
  pthread_mutex_lock(&s->wd_lock);
  sc->deadline_ns = srv_now_ns() + (int64_t)(s->query_timeout_s * 1e9);
  sc->wd_prev = NULL;
  sc->wd_next = s->wd_head;
  if (s->wd_head != NULL) s->wd_head->wd_prev = sc;
  s->wd_head = sc;
  sc->watched = true;
  pthread_cond_signal(&s->wd_cond);
  pthread_mutex_unlock(&s->wd_lock);
}

void srv_call_unwatch(srv_call *sc) {
  srv_server *s = sc->srv;
  if (!sc->watched) return;
  pthread_mutex_lock(&s->wd_lock);
  if (sc->wd_prev != NULL) {
    sc->wd_prev->wd_next = sc->wd_next;
  } else {
    s->wd_head = sc->wd_next;
  }
  if (sc->wd_next != NULL) sc->wd_next->wd_prev = sc->wd_prev;
  sc->wd_next = sc->wd_prev = NULL;
  sc->watched = false;
  pthread_mutex_unlock(&s->wd_lock);
}

mlr_code srv_call_fix_status(srv_call *sc, mlr_code rc, mlr_error *err) {
  if (rc == MALLARD_OK || sc == NULL) return rc;
  pthread_mutex_lock(&sc->lock);
  bool timed_out = sc->timed_out;
  pthread_mutex_unlock(&sc->lock);
  if (timed_out) {
    return mlr_error_set(err, MALLARD_DEADLINE_EXCEEDED,
                         "the query ran longer than the server's --query-timeout of %g seconds "
                         "and was stopped",
                         sc->srv->query_timeout_s);
  }
  return rc;
}

static void *watchdog_main(void *arg) {
  srv_server *s = arg;
  pthread_mutex_lock(&s->wd_lock);
  while (!s->wd_stop) {
    int64_t now = srv_now_ns();
    int64_t next = now + 1000000000; /* re-check at least every second */
    for (srv_call *sc = s->wd_head; sc != NULL; sc = sc->wd_next) {
      if (sc->deadline_ns <= now) {
        /* Lock order: wd_lock then sc->lock (nobody takes them the other way round). */
        pthread_mutex_lock(&sc->lock);
        if (!sc->timed_out) {
          sc->timed_out = true;
          if (sc->conn != NULL) db_conn_interrupt(sc->conn);
          if (sc->xchg != NULL) xchg_interrupt(sc->xchg);
        }
        pthread_mutex_unlock(&sc->lock);
      } else if (sc->deadline_ns < next) {
        next = sc->deadline_ns;
      }
    }
    int64_t wait = next - now;
    if (wait < 1000000) wait = 1000000;
    struct timespec ts = mlr_deadline_after_ns(CLOCK_MONOTONIC, wait);
    pthread_cond_timedwait(&s->wd_cond, &s->wd_lock, &ts);
  }
  pthread_mutex_unlock(&s->wd_lock);
  return NULL;
}

/* ---------------------------------------------------------------- middleware and log */

static mlr_code srv_middleware(void *ctx, flight_call *call, mlr_error *err) {
  srv_server *s = ctx;
  int64_t t0 = srv_now_ns();
  MLR_RETURN_NOT_OK(auth_middleware(s->auth, call, err));
  if (flight_call_method(call) == FLIGHT_HANDSHAKE) return MALLARD_OK;
  srv_call *sc = calloc(1, sizeof *sc);
  if (sc == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  sc->srv = s;
  sc->call = call;
  sc->start_ns = t0;
  sc->rows = -1;
  pthread_mutex_init(&sc->lock, NULL);
  auth_call_set_app_data(call, sc);
  if (auth_call_app_data(call) != sc) {
    /* auth attached no identity (cannot happen after OK, but never leak). */
    pthread_mutex_destroy(&sc->lock);
    free(sc);
    return MALLARD_OK;
  }
  flight_call_on_cancel(call, on_cancel, sc);
  return MALLARD_OK;
}

#define SRV_DEAD_CALL_NS ((int64_t)5 * 1000000000)

static void free_call(srv_call *sc) {
  pthread_mutex_destroy(&sc->lock);
  free(sc->table);
  free(sc);
}

/* Adds sc to the dead list and frees the entries parked long ago (the list is ordered by age:
 * newest first, so the old ones form its tail). */
static void park_call(srv_server *s, srv_call *sc) {
  int64_t now = srv_now_ns();
  srv_call *old = NULL;
  sc->dead_ns = now;
  pthread_mutex_lock(&s->dead_lock);
  sc->dead_next = s->dead_head;
  s->dead_head = sc;
  for (srv_call **pp = &sc->dead_next; *pp != NULL; pp = &(*pp)->dead_next) {
    if (now - (*pp)->dead_ns > SRV_DEAD_CALL_NS) {
      old = *pp;
      *pp = NULL;
      break;
    }
  }
  pthread_mutex_unlock(&s->dead_lock);
  while (old != NULL) {
    srv_call *next = old->dead_next;
    free_call(old);
    old = next;
  }
}

static void srv_call_done(void *ctx, flight_call *call, const mlr_error *status) {
  srv_server *s = ctx;
  srv_call *sc = srv_call_of(call);
  flight_method m = flight_call_method(call);
  srv_call_record r = {0};
  r.server = s->listen;
  r.peer = flight_call_peer(call);
  r.user = auth_call_user(call);
  r.rpc = flight_method_name(m);
  r.rows = -1;
  r.duration_ms = -1;
  r.status = status ? status->code : MALLARD_OK;
  r.message = status ? status->message : NULL;
  if (sc != NULL) {
    srv_call_unwatch(sc);
    r.action = sc->action[0] ? sc->action : NULL;
    r.table = sc->table;
    r.query_hash = sc->query_hash[0] ? sc->query_hash : NULL;
    r.exchanger = sc->exchanger[0] ? sc->exchanger : NULL;
    r.rows = sc->rows;
    r.bytes = sc->bytes;
    r.duration_ms = (double)(srv_now_ns() - sc->start_ns) / 1e6;
  }
  char *line = srv_format_call_record(&r, s->logger->format, unix_now());
  if (line != NULL) logger_write(s->logger, line);
  free(line);
  if (sc != NULL) {
    auth_call_set_app_data(call, NULL);
    free(sc->table);
    sc->table = NULL;
    /* Disarm the cancel hook's targets, then park sc: the transport may still run the hook from
     * its close event. Parked calls are freed once they are old enough that it surely ran. */
    pthread_mutex_lock(&sc->lock);
    sc->conn = NULL;
    sc->xchg = NULL;
    pthread_mutex_unlock(&sc->lock);
    park_call(s, sc);
  }
  auth_call_done(s->auth, call);
}

static mlr_code srv_handshake(void *ctx, flight_call *call, mlr_error *err) {
  srv_server *s = ctx;
  return auth_handshake(s->auth, call, err);
}

/* ---------------------------------------------------------------- lifecycle */

static mlr_code read_file(const char *path, const char *flag, char **out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  *out = NULL;
  if (f == NULL) {
    return mlr_error_set(err, errno == ENOENT ? MALLARD_NOT_FOUND : MALLARD_INVALID_ARGUMENT,
                         "%s %s: %s", flag, path, strerror(errno));
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s %s: not a regular file", flag, path);
    goto cleanup;
  }
  if (st.st_size > 64 * 1024 * 1024) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s %s: larger than 64 MiB", flag, path);
    goto cleanup;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  size_t n = fread(buf, 1, (size_t)st.st_size, f);
  if (n != (size_t)st.st_size) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT, "%s %s: read error", flag, path);
    goto cleanup;
  }
  buf[n] = '\0';
  *out = buf;
  buf = NULL;
cleanup:
  free(buf);
  fclose(f);
  return rc;
}

static void xchg_log(void *ctx, xchg_log_level level, const char *line) {
  srv_server *s = ctx;
  srv_logger_message(s->logger,
                     level == XCHG_LOG_ERROR  ? "error"
                     : level == XCHG_LOG_WARN ? "warning"
                                              : "info",
                     "%s: exchangers: %s", s->listen, line);
}

/* ---------------------------------------------------------------- table names being created */

static char *table_key(const char *schema, const char *table) {
  size_t ls = schema != NULL ? strlen(schema) : 0, lt = strlen(table);
  char *k = malloc(ls + lt + 2);
  if (k == NULL) return NULL;
  for (size_t i = 0; i < ls; i++) k[i] = (char)tolower((unsigned char)schema[i]);
  k[ls] = '\n';
  for (size_t i = 0; i < lt; i++) k[ls + 1 + i] = (char)tolower((unsigned char)table[i]);
  k[ls + lt + 1] = '\0';
  return k;
}

static bool name_is_held_locked(const srv_server *s, const char *key) {
  for (size_t i = 0; i < s->n_creating; i++)
    if (s->creating[i] != NULL && strcmp(s->creating[i], key) == 0) return true;
  return false;
}

bool srv_table_name_hold(srv_server *s, flight_call *call, const char *schema, const char *table,
                         char **held, mlr_error *err) {
  *held = NULL;
  char *key = table_key(schema, table);
  if (key == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory"), false;
  pthread_mutex_lock(&s->create_lock);
  while (name_is_held_locked(s, key)) {
    if (flight_call_is_cancelled(call)) {
      pthread_mutex_unlock(&s->create_lock);
      free(key);
      mlr_error_set(err, MALLARD_CANCELLED,
                    "the DoPut was cancelled while another DoPut was creating its table");
      return false;
    }
    struct timespec dl = mlr_deadline_after_ms(CLOCK_REALTIME, 100);
    pthread_cond_timedwait(&s->create_cond, &s->create_lock, &dl);
  }
  size_t slot = s->n_creating;
  for (size_t i = 0; i < s->n_creating; i++)
    if (s->creating[i] == NULL) slot = i;
  if (slot == s->n_creating) {
    char **grown = realloc(s->creating, (s->n_creating + 1) * sizeof *grown);
    if (grown == NULL) {
      pthread_mutex_unlock(&s->create_lock);
      free(key);
      mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
      return false;
    }
    s->creating = grown;
    s->n_creating++;
  }
  s->creating[slot] = key;
  pthread_mutex_unlock(&s->create_lock);
  *held = key;
  return true;
}

void srv_table_name_release(srv_server *s, char *held) {
  if (held == NULL) return;
  pthread_mutex_lock(&s->create_lock);
  for (size_t i = 0; i < s->n_creating; i++)
    if (s->creating[i] == held) s->creating[i] = NULL;
  pthread_cond_broadcast(&s->create_cond);
  pthread_mutex_unlock(&s->create_lock);
  free(held);
}

mlr_code srv_start(const srv_config *cfg, srv_server **out, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  db_conn *conn = NULL;
  char *init_sql = NULL;
  *out = NULL;
  srv_server *s = calloc(1, sizeof *s);
  if (s == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&s->wd_lock, NULL);
  pthread_mutex_init(&s->dead_lock, NULL);
  pthread_mutex_init(&s->create_lock, NULL);
  pthread_cond_init(&s->create_cond, NULL);
  /* The watchdog waits on CLOCK_MONOTONIC deadlines. */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->wd_cond, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&s->shut_down, false);
  s->listen = strdup(cfg->listen ? cfg->listen : "");
  if (s->listen == NULL) {
    rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    goto cleanup;
  }
  s->read_only = cfg->read_only;
  s->persistent = cfg->db_path != NULL && strcmp(cfg->db_path, ":memory:") != 0;
  s->query_timeout_s = cfg->query_timeout_s;
  s->batch_rows = cfg->batch_rows;
  s->logger = cfg->logger;

  /* Database. A read-only in-memory database must still be writable while --init-sql loads it;
   * the server then refuses writes itself. */
  db_options dbo = {.path = cfg->db_path,
                    .threads = cfg->threads,
                    .memory_limit = cfg->memory_limit,
                    .read_only = cfg->read_only && s->persistent,
                    .arrow_lossless = cfg->arrow_lossless,
                    .compress = cfg->compress};
  rc = db_open(&dbo, &s->db, err);
  if (rc != MALLARD_OK) {
    mlr_error_prefix(err, "%s: opening database %s: ", s->listen,
                     cfg->db_path ? cfg->db_path : ":memory:");
    goto cleanup;
  }
  if (cfg->init_sql_path != NULL) {
    rc = read_file(cfg->init_sql_path, "--init-sql", &init_sql, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = db_connect(s->db, &conn, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = db_execute(conn, init_sql, NULL, err);
    if (rc != MALLARD_OK) {
      mlr_error_prefix(err, "--init-sql %s: ", cfg->init_sql_path);
      goto cleanup;
    }
    db_disconnect(conn);
    conn = NULL;
  }
  if (cfg->no_external_access) {
    /* After --init-sql (which may attach files): from here no SQL reads or writes a file, a URL
     * or an extension; DuckDB refuses to turn it back on. */
    rc = db_connect(s->db, &conn, err);
    if (rc == MALLARD_OK) rc = db_execute(conn, "SET enable_external_access = false", NULL, err);
    if (rc != MALLARD_OK) goto cleanup;
    db_disconnect(conn);
    conn = NULL;
  }

  /* Auth. */
  auth_options ao;
  auth_options_init(&ao);
  ao.users_file = cfg->users_file;
  ao.tokens_file = cfg->tokens_file;
  if (cfg->session_idle_ms > 0) ao.session_idle_ms = cfg->session_idle_ms;
  if (cfg->session_lifetime_ms > 0) ao.session_lifetime_ms = cfg->session_lifetime_ms;
  if (cfg->max_sessions > 0) ao.max_sessions = cfg->max_sessions;
  if (cfg->max_sessions_per_user > 0) ao.max_sessions_per_user = cfg->max_sessions_per_user;
  if (cfg->login_burst > 0) ao.login_burst = cfg->login_burst;
  if (cfg->login_per_minute > 0) ao.login_per_minute = cfg->login_per_minute;
  rc = auth_service_create(&ao, &s->auth, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (auth_service_uses_default_user(s->auth) && !auth_listen_is_loopback(s->listen) &&
      !cfg->insecure_default_user) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "refusing to listen on %s with only the default user admin/password123: "
                       "give --users FILE (see `mallard passwd`), or --insecure-default-user",
                       s->listen);
    goto cleanup;
  }
  size_t expired = auth_service_expired_tokens(s->auth);
  if (expired > 0) {
    srv_logger_message(s->logger, "warning",
                       "%s: %zu pre-issued token%s of %s expired and will be refused (make "
                       "new ones with `mallard token`)",
                       s->listen, expired, expired == 1 ? "" : "s", cfg->tokens_file);
  }
  if (cfg->tls_cert_pem == NULL && !auth_listen_is_loopback(s->listen)) {
    /* Passwords and tokens would cross the network in clear text. */
    srv_logger_message(s->logger, "warning",
                       "%s: plain TCP on a non-loopback address: credentials and data travel "
                       "unencrypted; serve TLS with --tls-cert/--tls-key",
                       s->listen);
  }

  /* Exchangers. */
  xchg_registry_options xo = {.db = s->db,
                              .persist = s->persistent,
                              .read_only = cfg->read_only,
                              .native_dir = cfg->exchanger_dir,
                              .log = xchg_log,
                              .log_ctx = s};
  rc = xchg_registry_new(&xo, &s->xchg, err);
  if (rc != MALLARD_OK) goto cleanup;

  /* Watchdog for --query-timeout. */
  if (s->query_timeout_s > 0) {
    if (pthread_create(&s->wd_thread, NULL, watchdog_main, s) != 0) {
      rc = mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "cannot start a thread");
      goto cleanup;
    }
    s->wd_started = true;
  }

  /* Transport. */
  const char *listen[1] = {s->listen};
  flight_server_options fo = {.listen = listen,
                              .n_listen = 1,
                              .max_message_size = cfg->max_message_size,
                              .max_concurrent_calls = cfg->max_concurrent_calls,
                              .idle_timeout_s = cfg->idle_timeout_s,
                              .tls_cert_pem = cfg->tls_cert_pem,
                              .tls_key_pem = cfg->tls_key_pem,
                              .tls_client_ca_pem = cfg->tls_client_ca_pem};
  flight_service svc = {.ctx = s,
                        .middleware = srv_middleware,
                        .call_done = srv_call_done,
                        .handshake = srv_handshake,
                        .list_flights = srv_list_flights,
                        .get_flight_info = srv_get_flight_info,
                        .get_schema = srv_get_schema,
                        .do_get = srv_do_get,
                        .do_put = srv_do_put,
                        .do_exchange = srv_do_exchange,
                        .do_action = srv_do_action,
                        .list_actions = srv_list_actions};
  rc = flight_server_start(&fo, &svc, &s->flight, err);
  if (rc != MALLARD_OK) {
    mlr_error_prefix(err, "listening on %s: ", s->listen);
    goto cleanup;
  }

  /* The URL with the bound port: host as given, brackets kept for IPv6. */
  const char *colon = strrchr(s->listen, ':');
  int hostlen = colon ? (int)(colon - s->listen) : (int)strlen(s->listen);
  snprintf(s->url, sizeof s->url, "%s://%.*s:%d", cfg->tls_cert_pem ? "grpc+tls" : "grpc", hostlen,
           s->listen, flight_server_port(s->flight, 0));
  /* Log lines name the server by its bound address. */
  char *bound = NULL;
  if (asprintf(&bound, "%.*s:%d", hostlen, s->listen, flight_server_port(s->flight, 0)) > 0) {
    free(s->listen);
    s->listen = bound;
  }
  *out = s;
  s = NULL;
cleanup:
  if (conn != NULL) db_disconnect(conn);
  free(init_sql);
  if (s != NULL) {
    srv_shutdown(s, 0);
    srv_free(s);
  }
  return rc;
}

int srv_port(const srv_server *s) {
  return s->flight ? flight_server_port(s->flight, 0) : 0;
}

const char *srv_url(const srv_server *s) {
  return s->url;
}

void srv_shutdown(srv_server *s, double grace_seconds) {
  if (s == NULL) return;
  if (atomic_exchange(&s->shut_down, true)) return;
  if (s->flight != NULL) flight_server_shutdown(s->flight, grace_seconds);
  /* No handler runs any more and every call's cancel hook is disarmed (srv_call_done), so the
   * database closes now, while gRPC may still be closing connections (flight_server_free). */
  if (s->wd_started) {
    pthread_mutex_lock(&s->wd_lock);
    s->wd_stop = true;
    pthread_cond_signal(&s->wd_cond);
    pthread_mutex_unlock(&s->wd_lock);
    pthread_join(s->wd_thread, NULL);
    s->wd_started = false;
  }
  xchg_registry_free(s->xchg);
  s->xchg = NULL;
  if (s->db != NULL) db_close(s->db); /* checkpoints a persistent database */
  s->db = NULL;
}

void srv_free(srv_server *s) {
  if (s == NULL) return;
  srv_shutdown(s, 0);
  if (s->flight != NULL) flight_server_free(s->flight);
  auth_service_free(s->auth);
  while (s->dead_head != NULL) {
    srv_call *next = s->dead_head->dead_next;
    free_call(s->dead_head);
    s->dead_head = next;
  }
  pthread_mutex_destroy(&s->dead_lock);
  pthread_mutex_destroy(&s->create_lock);
  pthread_cond_destroy(&s->create_cond);
  free(s->creating);
  pthread_cond_destroy(&s->wd_cond);
  pthread_mutex_destroy(&s->wd_lock);
  free(s->listen);
  free(s);
}
