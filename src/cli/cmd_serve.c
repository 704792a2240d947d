/* `mallard serve`: starts one Flight server per --listen address (two by default) in this process,
 * prints where they listen, and shuts them down gracefully on SIGINT/SIGTERM. */
#include "cli/cli.h"

#include "auth/auth.h"
#include "cli/cli_client.h"
#include "server/srv.h"

#include <dirent.h>
#include <grpc/support/log.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#define SERVE_MAX_SERVERS 64
/* How long gRPC may take to close connections once the databases are closed (see cli_serve). */
#define SERVE_TEARDOWN_WAIT_MS 2000
/* How long after the grace period (and the cut calls' time to answer) a call that does not stop
 * may hold the exit (see cli_serve). */
#define SERVE_STUCK_WAIT_S 10.0

static void serve_usage(FILE *out) {
  fprintf(
      out,
      "usage: mallard serve [options]\n"
      "\n"
      "Starts Arrow Flight servers backed by DuckDB (PROTOCOL.md). With no --listen, two\n"
      "servers: grpc://127.0.0.1:8815 and grpc://127.0.0.1:8816, each with its own in-memory\n"
      "database. Each server prints `listening grpc://HOST:PORT` on stdout once it accepts\n"
      "calls. SIGINT/SIGTERM/SIGHUP: stop accepting, let running calls finish within --grace,\n"
      "cancel the rest, checkpoint persistent databases, exit 0; a second signal exits at once\n"
      "(status 128 + the signal's number).\n"
      "\n"
      "servers and databases:\n"
      "  --listen HOST:PORT      a server address (repeatable; port 0 picks a free port)\n"
      "  --db PATH               a persistent database for the n-th server (repeatable, in\n"
      "                          --listen order; servers without one are in-memory)\n"
      "  --grace SECONDS         how long running calls may finish at shutdown (default 10)\n"
      "  --threads N             DuckDB threads per database (default: DuckDB's, the cores)\n"
      "  --memory-limit SIZE     DuckDB memory limit per database, e.g. 4GB\n"
      "  --no-compress           keep in-memory tables uncompressed (DuckDB's own default): no\n"
      "                          background compression after loads, 5-10x more memory.\n"
      "                          By default they are stored compressed, as a database file\n"
      "                          stores them: loads run as fast, then the server compresses\n"
      "                          what they wrote in the background (about as much CPU again)\n"
      "  --init-sql FILE         SQL run on every database at start (e.g. CREATE TABLE ...)\n"
      "  --no-external-access    SQL may not read or write files or URLs on the server\n"
      "                          (read_csv, COPY, ATTACH, ...): without it any user, readers\n"
      "                          too, can read every file the server process can\n"
      "  --read-only             refuse writes: DoPut, execute/drop_table of writes, exchanger\n"
      "                          registration (PERMISSION_DENIED)\n"
      "  --query-timeout SECONDS stop a query (DoGet, execute, GetFlightInfo, DoExchange)\n"
      "                          running longer (DEADLINE_EXCEEDED); default none\n"
      "  --batch-rows N          rows per DoGet record batch (default 65536; at least\n"
      "                          DuckDB's chunk of 2048: smaller values give 2048)\n"
      "  --arrow-lossless        send HUGEINT/UHUGEINT/UUID/TIMETZ/BIT/BIGNUM as Arrow extension\n"
      "                          types that DuckDB reads back exactly (default: HUGEINT as\n"
      "                          decimal128(38,0), UUID as string, as other clients expect)\n"
      "  --max-message-size SIZE largest gRPC message sent or received (default 128MB)\n"
      "  --max-calls N           concurrent calls per server (default 256)\n"
      "  --idle-timeout SECONDS  end a call that waits on its client (a message that does not\n"
      "                          come, or a result it does not read) this long (default 900;\n"
      "                          0 = never); a Handshake without credentials gets 10 s\n"
      "  --log-format text|json  the per-call log line on stderr (default text)\n"
      "\n"
      "authentication (see docs):\n"
      "  --users FILE            users, `name:hash[:role]` lines (make hashes with `mallard\n"
      "                          passwd`); without it only admin/password123 is accepted\n"
      "  --tokens FILE           pre-issued tokens, `token-hash:user[:expiry]` lines (`mallard\n"
      "                          token`)\n"
      "  --session-idle DUR      session idle timeout, e.g. 15m (default 1h)\n"
      "  --session-lifetime DUR  absolute session lifetime, e.g. 12h (default 24h)\n"
      "  --max-sessions N        live sessions per server (default 10000)\n"
      "  --max-sessions-per-user N  per user: a login beyond it ends that user's least\n"
      "                          recently used idle session (default 1000)\n"
      "  --login-burst N         failed logins a client address or a user name may make before\n"
      "                          being slowed down (default 10)\n"
      "  --login-rate N          then at most N more per minute; beyond, RESOURCE_EXHAUSTED\n"
      "                          without checking the password (default 20)\n"
      "  --insecure-default-user allow the default user on a non-loopback address\n"
      "  --tls-cert FILE         serve TLS with this certificate chain (PEM)\n"
      "  --tls-key FILE          ... and this private key (PEM)\n"
      "  --tls-client-ca FILE    require client certificates signed by this CA (PEM)\n"
      "\n"
      "exchangers:\n"
      "  --exchanger-dir DIR     load native exchangers (*.so) installed by the operator\n"
      "\n"
      "  --help                  show this help\n");
}

typedef struct serve_flags {
  const char *listen[SERVE_MAX_SERVERS];
  int n_listen;
  const char *db[SERVE_MAX_SERVERS];
  int n_db;
  double grace;
  srv_config base;
  const char *tls_cert, *tls_key, *tls_client_ca;
  const char *log_format;
} serve_flags;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mallard serve: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'mallard serve --help')\n");
  va_end(ap);
  return CLI_EXIT_USAGE;
}

static bool parse_double(const char *s, double min, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min) return false;
  *out = v;
  return true;
}

static bool parse_int64(const char *s, int64_t min, int64_t max, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

/* "1048576", "64KB", "128MB", "1GB" (binary multiples). */
static bool parse_size(const char *s, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || v <= 0) return false;
  int64_t mult = 1;
  if (strcasecmp(end, "") == 0 || strcasecmp(end, "B") == 0) {
    mult = 1;
  } else if (strcasecmp(end, "K") == 0 || strcasecmp(end, "KB") == 0 ||
             strcasecmp(end, "KiB") == 0) {
    mult = 1024;
  } else if (strcasecmp(end, "M") == 0 || strcasecmp(end, "MB") == 0 ||
             strcasecmp(end, "MiB") == 0) {
    mult = 1024 * 1024;
  } else if (strcasecmp(end, "G") == 0 || strcasecmp(end, "GB") == 0 ||
             strcasecmp(end, "GiB") == 0) {
    mult = 1024 * 1024 * 1024;
  } else {
    return false;
  }
  int64_t r;
  if (__builtin_mul_overflow((int64_t)v, mult, &r) || r > INT32_MAX) return false;
  *out = r;
  return true;
}

/* Returns -1 when parsed, else the exit code (0 for --help). */
/* The canonical path of a database file that may not exist yet: its directory resolved. */
static bool canonical_db_path(const char *path, char *out, size_t size) {
  char buf[PATH_MAX];
  if (realpath(path, buf) != NULL) return snprintf(out, size, "%s", buf) < (int)size;
  char *copy = strdup(path);
  if (copy == NULL) return false;
  const char *slash = strrchr(copy, '/');
  const char *base = slash != NULL ? slash + 1 : copy;
  const char *dir = slash == NULL ? "." : slash == copy ? "/" : copy;
  if (slash != NULL && slash != copy) *(char *)slash = '\0';
  bool ok = realpath(dir, buf) != NULL && snprintf(out, size, "%s/%s", buf, base) < (int)size;
  free(copy);
  return ok;
}

static bool same_db_file(const char *a, const char *b) {
  if (strcmp(a, ":memory:") == 0 || strcmp(b, ":memory:") == 0) return false;
  struct stat sa, sb;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  char ca[PATH_MAX], cb[PATH_MAX];
  if (!canonical_db_path(a, ca, sizeof ca) || !canonical_db_path(b, cb, sizeof cb))
    return strcmp(a, b) == 0;
  return strcmp(ca, cb) == 0;
}

/* The shape of a DuckDB memory limit: a number and a unit (B, KB..TB for powers of 1000,
 * KiB..TiB for powers of 1024), as DuckDB takes it. */
static bool memory_limit_ok(const char *v) {
  static const char *const units[] = {"b",   "kb",  "mb",  "gb",    "tb",  "kib",
                                      "mib", "gib", "tib", "bytes", "byte"};
  char *end = NULL;
  errno = 0;
  double n = strtod(v, &end);
  if (end == v || errno != 0 || !isfinite(n) || n < 0) return false;
  while (*end == ' ') end++;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcasecmp(end, units[i]) == 0) return true;
  return false;
}

static int parse_flags(int argc, char **argv, serve_flags *f) {
  mlr_error err;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    char name[64];
    const char *value = NULL;
    const char *eq = strchr(arg, '=');
    if (strncmp(arg, "--", 2) == 0 && eq != NULL && (size_t)(eq - arg) < sizeof name) {
      memcpy(name, arg, (size_t)(eq - arg));
      name[eq - arg] = '\0';
      value = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", arg);
    }
    /* Flags without a value. */
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
      serve_usage(stdout);
      return CLI_EXIT_OK;
    }
    if (strcmp(name, "--read-only") == 0 || strcmp(name, "--insecure-default-user") == 0 ||
        strcmp(name, "--arrow-lossless") == 0 || strcmp(name, "--compress") == 0 ||
        strcmp(name, "--no-compress") == 0 || strcmp(name, "--no-external-access") == 0) {
      if (value != NULL) return usage_error("%s takes no value", name);
      if (strcmp(name, "--read-only") == 0) {
        f->base.read_only = true;
      } else if (strcmp(name, "--arrow-lossless") == 0) {
        f->base.arrow_lossless = true;
      } else if (strcmp(name, "--compress") == 0) { /* the default; kept for scripts */
        f->base.compress = true;
      } else if (strcmp(name, "--no-compress") == 0) {
        f->base.compress = false;
      } else if (strcmp(name, "--no-external-access") == 0) {
        f->base.no_external_access = true;
      } else {
        f->base.insecure_default_user = true;
      }
      continue;
    }
    static const char *const with_value[] = {"--listen",        "--db",
                                             "--grace",         "--threads",
                                             "--memory-limit",  "--init-sql",
                                             "--query-timeout", "--idle-timeout",
                                             "--max-sessions",  "--max-sessions-per-user",
                                             "--batch-rows",    "--max-message-size",
                                             "--max-calls",     "--log-format",
                                             "--users",         "--tokens",
                                             "--session-idle",  "--session-lifetime",
                                             "--tls-cert",      "--tls-key",
                                             "--tls-client-ca", "--exchanger-dir",
                                             "--login-burst",   "--login-rate"};
    bool known = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
      if (strcmp(name, with_value[k]) == 0) known = true;
    }
    if (!known) return usage_error("unknown option '%s'", arg);
    if (value == NULL) {
      if (i + 1 >= argc) return usage_error("%s needs a value", name);
      value = argv[++i];
    }
    int64_t n = 0;
    if (strcmp(name, "--listen") == 0) {
      if (f->n_listen >= SERVE_MAX_SERVERS) return usage_error("too many --listen (%s)", value);
      if (strrchr(value, ':') == NULL) {
        return usage_error("--listen %s: expected HOST:PORT", value);
      }
      f->listen[f->n_listen++] = value;
    } else if (strcmp(name, "--db") == 0) {
      if (f->n_db >= SERVE_MAX_SERVERS) return usage_error("too many --db (%s)", value);
      if (value[0] == '\0')
        return usage_error("--db: an empty path (an unset shell variable?): give a file, or "
                           "leave --db out for an in-memory database");
      f->db[f->n_db++] = value;
    } else if (strcmp(name, "--grace") == 0) {
      if (!parse_double(value, 0, &f->grace)) {
        return usage_error("--grace %s: expected seconds >= 0", value);
      }
    } else if (strcmp(name, "--threads") == 0) {
      if (!parse_int64(value, 1, 1024, &n))
        return usage_error("--threads %s: expected 1..1024", value);
      f->base.threads = (int)n;
    } else if (strcmp(name, "--memory-limit") == 0) {
      if (!memory_limit_ok(value)) {
        return usage_error(
            "--memory-limit %s: expected a size with its unit, such as 4GB or 512MiB", value);
      }
      f->base.memory_limit = value;
    } else if (strcmp(name, "--init-sql") == 0) {
      f->base.init_sql_path = value;
    } else if (strcmp(name, "--idle-timeout") == 0) {
      if (!parse_double(value, 0, &f->base.idle_timeout_s)) {
        return usage_error("--idle-timeout %s: expected seconds >= 0 (0 = never)", value);
      }
    } else if (strcmp(name, "--query-timeout") == 0) {
      if (!parse_double(value, 0, &f->base.query_timeout_s)) {
        return usage_error("--query-timeout %s: expected seconds > 0", value);
      }
    } else if (strcmp(name, "--max-sessions") == 0) {
      if (!parse_int64(value, 1, INT_MAX, &n)) {
        return usage_error("--max-sessions %s: expected a positive number", value);
      }
      f->base.max_sessions = (int)n;
    } else if (strcmp(name, "--max-sessions-per-user") == 0) {
      if (!parse_int64(value, 1, INT_MAX, &n)) {
        return usage_error("--max-sessions-per-user %s: expected a positive number", value);
      }
      f->base.max_sessions_per_user = (int)n;
    } else if (strcmp(name, "--login-burst") == 0) {
      if (!parse_int64(value, 1, 1000000, &n)) {
        return usage_error("--login-burst %s: expected a number from 1 to 1000000", value);
      }
      f->base.login_burst = (int)n;
    } else if (strcmp(name, "--login-rate") == 0) {
      if (!parse_int64(value, 1, 1000000, &n)) {
        return usage_error("--login-rate %s: expected a number from 1 to 1000000", value);
      }
      f->base.login_per_minute = (int)n;
    } else if (strcmp(name, "--batch-rows") == 0) {
      if (!parse_int64(value, 1, 16 * 1024 * 1024, &f->base.batch_rows)) {
        return usage_error("--batch-rows %s: expected 1..16777216", value);
      }
    } else if (strcmp(name, "--max-message-size") == 0) {
      if (!parse_size(value, &f->base.max_message_size)) {
        return usage_error("--max-message-size %s: expected a size such as 64MB (at most 2GB)",
                           value);
      }
    } else if (strcmp(name, "--max-calls") == 0) {
      if (!parse_int64(value, 1, 1000000, &n)) {
        return usage_error("--max-calls %s: expected a positive number", value);
      }
      f->base.max_concurrent_calls = (int)n;
    } else if (strcmp(name, "--log-format") == 0) {
      if (strcmp(value, "text") == 0) {
        f->base.logger = NULL;
        f->log_format = "text";
      } else if (strcmp(value, "json") == 0) {
        f->log_format = "json";
      } else {
        return usage_error("--log-format %s: expected text or json", value);
      }
    } else if (strcmp(name, "--users") == 0) {
      f->base.users_file = value;
    } else if (strcmp(name, "--tokens") == 0) {
      f->base.tokens_file = value;
    } else if (strcmp(name, "--session-idle") == 0) {
      if (auth_parse_duration_ms("--session-idle", value, &f->base.session_idle_ms, &err) !=
          MALLARD_OK) {
        return usage_error("%s", err.message);
      }
    } else if (strcmp(name, "--session-lifetime") == 0) {
      if (auth_parse_duration_ms("--session-lifetime", value, &f->base.session_lifetime_ms, &err) !=
          MALLARD_OK) {
        return usage_error("%s", err.message);
      }
    } else if (strcmp(name, "--tls-cert") == 0) {
      f->tls_cert = value;
    } else if (strcmp(name, "--tls-key") == 0) {
      f->tls_key = value;
    } else if (strcmp(name, "--tls-client-ca") == 0) {
      f->tls_client_ca = value;
    } else if (strcmp(name, "--exchanger-dir") == 0) {
      /* A directory that is not there is the operator's mistake: say so rather than start
       * without the exchangers it was meant to hold. */
      DIR *d = opendir(value);
      if (d == NULL) {
        fprintf(stderr, "mallard serve: --exchanger-dir %s: %s\n", value, strerror(errno));
        return CLI_EXIT_USAGE;
      }
      closedir(d);
      f->base.exchanger_dir = value;
    }
  }
  if (f->n_listen == 0) {
    f->listen[0] = "127.0.0.1:8815";
    f->listen[1] = "127.0.0.1:8816";
    f->n_listen = 2;
  }
  if (f->n_db > f->n_listen) {
    return usage_error("%s: more --db than servers (one --db per --listen, in order)",
                       f->db[f->n_listen]);
  }
  /* Two servers of one process on one file would each open their own DuckDB on it (a file
   * lock does not stop its own process), and one server's commits would be lost. */
  for (int i = 0; i < f->n_db; i++) {
    for (int j = 0; j < i; j++) {
      if (same_db_file(f->db[i], f->db[j])) {
        return usage_error("--db %s and --db %s are the same file: every server needs its own "
                           "database",
                           f->db[j], f->db[i]);
      }
    }
  }
  return -1;
}

/* gRPC's own log lines (errors only, by default), one line each, marked as gRPC's. The one
 * about a port that cannot be bound is dropped: srv_start reports that itself, in one line that
 * names the flag's value. */
static void grpc_log_line(gpr_log_func_args *a) {
  if (a->message == NULL || strstr(a->message, "No address added out of total") != NULL) return;
  fprintf(stderr, "mallard serve: grpc %s: %s\n", gpr_log_severity_string(a->severity), a->message);
}

typedef struct shutdown_job {
  srv_server *srv;
  double grace;
  pthread_t thread;
  bool started;
} shutdown_job;

static void *shutdown_one(void *arg) {
  shutdown_job *j = arg;
  srv_shutdown(j->srv, j->grace);
  return NULL;
}

typedef struct shutdown_all {
  srv_server **servers;
  int n;
  double grace;
  int done_fd;
} shutdown_all;

/* Drains every server in parallel (so the grace period is not multiplied); each closes its
 * database as it finishes (persistent ones are checkpointed). Then says so on done_fd ('d'),
 * frees them, which waits for gRPC to finish closing connections, and says that ('f'). */
static void *shutdown_main(void *arg) {
  shutdown_all *a = arg;
  shutdown_job jobs[SERVE_MAX_SERVERS];
  for (int i = 0; i < a->n; i++) {
    jobs[i].srv = a->servers[i];
    jobs[i].grace = a->grace;
    jobs[i].started = pthread_create(&jobs[i].thread, NULL, shutdown_one, &jobs[i]) == 0;
    if (!jobs[i].started) srv_shutdown(a->servers[i], a->grace);
  }
  for (int i = 0; i < a->n; i++) {
    if (jobs[i].started) pthread_join(jobs[i].thread, NULL);
  }
  ssize_t w = write(a->done_fd, "d", 1);
  for (int i = 0; i < a->n; i++) {
    srv_free(a->servers[i]);
    a->servers[i] = NULL;
  }
  w = write(a->done_fd, "f", 1);
  (void)w;
  return NULL;
}

int cli_serve(int argc, char **argv) {
  serve_flags f;
  memset(&f, 0, sizeof f);
  f.grace = 10;
  f.base.compress = true; /* --no-compress: see docs/guide.md, "Memory" */
  /* --idle-timeout: long enough for a DoPut fed by a query that sorts for minutes before its
   * first row (mallard transfer), short enough that stalled clients give their slots back. */
  f.base.idle_timeout_s = 900;
  int rc = parse_flags(argc, argv, &f);
  if (rc >= 0) return rc;

  int exit_code = CLI_EXIT_ERROR;
  srv_server *servers[SERVE_MAX_SERVERS] = {0};
  int n_started = 0;
  auth_tls_files tls = {0};
  srv_logger logger;
  mlr_error err;
  mlr_error_reset(&err);
  int sfd = -1;
  int done_pipe[2] = {-1, -1};
  srv_logger_init(&logger, stderr,
                  f.log_format && strcmp(f.log_format, "json") == 0 ? SRV_LOG_JSON : SRV_LOG_TEXT);

  /* Signals are taken synchronously through a signalfd: block them before any thread exists so
   * that every thread (gRPC's, DuckDB's) inherits the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  /* The terminal that started the server closed: stop gracefully too (the default action
   * killed it with no drain and no checkpoint). */
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0 || pipe(done_pipe) != 0) {
    fprintf(stderr, "mallard serve: cannot set up signal handling: %s\n", strerror(errno));
    goto cleanup;
  }

  if (auth_tls_load(f.tls_cert, f.tls_key, f.tls_client_ca, &tls, &err) != MALLARD_OK) {
    fprintf(stderr, "mallard serve: %s\n", err.message);
    exit_code = CLI_EXIT_USAGE;
    goto cleanup;
  }
  {
    char warning[512];
    int64_t now = (int64_t)time(NULL);
    if (auth_cert_warning("--tls-cert", f.tls_cert, tls.cert_pem, now, warning, sizeof warning))
      fprintf(stderr, "mallard serve: WARNING: %s\n", warning);
    if (auth_cert_warning("--tls-client-ca", f.tls_client_ca, tls.client_ca_pem, now, warning,
                          sizeof warning))
      fprintf(stderr, "mallard serve: WARNING: %s\n", warning);
  }
  if (f.base.users_file == NULL) fprintf(stderr, "mallard serve: %s\n", auth_default_warning());
  gpr_set_log_function(grpc_log_line);

  for (int i = 0; i < f.n_listen; i++) {
    srv_config cfg = f.base;
    cfg.listen = f.listen[i];
    cfg.db_path = i < f.n_db ? f.db[i] : NULL;
    cfg.tls_cert_pem = tls.cert_pem;
    cfg.tls_key_pem = tls.key_pem;
    cfg.tls_client_ca_pem = tls.client_ca_pem;
    cfg.logger = &logger;
    if (srv_start(&cfg, &servers[i], &err) != MALLARD_OK) {
      fprintf(stderr, "mallard serve: %s\n", err.message);
      goto cleanup;
    }
    n_started = i + 1;
  }
  for (int i = 0; i < n_started; i++) printf("listening %s\n", srv_url(servers[i]));
  fflush(stdout);

  /* Wait for the first signal. */
  struct signalfd_siginfo si;
  for (;;) {
    ssize_t r = read(sfd, &si, sizeof si);
    if (r == (ssize_t)sizeof si) break;
    if (r < 0 && errno == EINTR) continue;
    fprintf(stderr, "mallard serve: reading signals failed: %s\n", strerror(errno));
    goto cleanup;
  }
  srv_logger_message(&logger, "info", "%s: stopping (grace %g s; a second signal exits at once)",
                     strsignal((int)si.ssi_signo), f.grace);

  shutdown_all all = {
      .servers = servers, .n = n_started, .grace = f.grace, .done_fd = done_pipe[1]};
  pthread_t th;
  if (pthread_create(&th, NULL, shutdown_main, &all) != 0) {
    shutdown_main(&all);
  } else {
    struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = done_pipe[0], .events = POLLIN}};
    /* Once the databases are closed, gRPC gets SERVE_TEARDOWN_WAIT_MS to close connections: a
     * client that stopped reading can hold that up for seconds, and nothing is left to lose. */
    int wait_ms = -1;
    bool freed = false, closed = false;
    /* Until then, the grace period, the cut calls' 2 s to answer and SERVE_STUCK_WAIT_S: a
     * handler that DuckDB cannot interrupt (a query blocked reading a FIFO) would hold the exit
     * for ever. */
    double stuck_at = cli_now() + f.grace + 2.5 + SERVE_STUCK_WAIT_S;
    for (;;) {
      if (!closed) {
        double left = stuck_at - cli_now();
        wait_ms = left > 0 ? (int)(left * 1000) + 1 : 0;
      }
      int pr = poll(pfd, 2, wait_ms);
      if (pr < 0 && errno == EINTR) continue;
      if (pr == 0 && !closed) {
        srv_logger_message(&logger, "error",
                           "a call did not stop within %g s of the grace period's end: exiting "
                           "without closing the databases (a persistent one keeps every "
                           "committed write in its WAL, replayed at the next start)",
                           2.5 + SERVE_STUCK_WAIT_S);
        fflush(stdout);
        fflush(stderr);
        _exit(CLI_EXIT_ERROR);
      }
      if (pr <= 0) break;
      char c = 0;
      if (pfd[1].revents && read(done_pipe[0], &c, 1) != 1) break;
      if (c == 'd') {
        closed = true;
        wait_ms = SERVE_TEARDOWN_WAIT_MS;
      }
      if (c == 'f') {
        freed = true;
        break;
      }
      if (pfd[0].revents && read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        fprintf(stderr, "mallard serve: %s again: exiting now\n", strsignal((int)si.ssi_signo));
        fflush(stderr);
        _exit(128 + (int)si.ssi_signo);
      }
    }
    if (!freed && closed) {
      srv_logger_message(&logger, "info",
                         "stopped (databases closed; not waiting for gRPC to close the "
                         "connections of clients that stopped reading)");
      fflush(stdout);
      fflush(stderr);
      _exit(CLI_EXIT_OK);
    }
    pthread_join(th, NULL);
  }
  n_started = 0;
  srv_logger_message(&logger, "info", "stopped");
  exit_code = CLI_EXIT_OK;

cleanup:
  for (int i = 0; i < n_started; i++) {
    srv_shutdown(servers[i], 0);
    srv_free(servers[i]);
  }
  auth_tls_files_release(&tls);
  if (sfd >= 0) close(sfd);
  if (done_pipe[0] >= 0) close(done_pipe[0]);
  if (done_pipe[1] >= 0) close(done_pipe[1]);
  srv_logger_destroy(&logger);
  return exit_code;
}
