/* Common options, connecting and logging in, errors and exit codes, and the progress line
 * shared by the client subcommands (see cli_client.h). */
#include "cli/cli_client.h"

#include "arrow/arrowc_schema.h"
#include "cli/cli.h"
#include "common/mlr_io.h"
#include "common/mlr_utf8.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

void cli_conn_opts_init(cli_conn_opts *o) {
  memset(o, 0, sizeof *o);
  const char *s = getenv("MALLARD_SERVER");
  o->server = (s != NULL && *s != '\0') ? s : CLI_DEFAULT_SERVER;
  const char *u = getenv("MALLARD_USER");
  o->user = (u != NULL && *u != '\0') ? u : "admin";
  o->token_env = "MALLARD_TOKEN";
  o->password_env = "MALLARD_PASSWORD";
}

static bool is_tls_uri(const char *uri) {
  return uri != NULL && strncasecmp(uri, "grpc+tls://", 11) == 0;
}

static const char *env_set(const char *name) {
  const char *v = name != NULL ? getenv(name) : NULL;
  return v != NULL && *v != '\0' ? v : NULL;
}

/* A copy of text for one line of the terminal (control characters as '?'), in buf. */
static const char *printable(const char *text, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", text != NULL ? text : "");
  return cli_one_line(buf);
}

int cli_conn_opts_target(cli_conn_opts *o, cli_conn_opts *to, const char *to_uri,
                         const char *to_user, const char *const to_tls[4]) {
  static const char *const k_common[4] = {"--tls-ca", "--tls-cert", "--tls-key",
                                          "--tls-server-name"};
  *to = *o;
  to->server = to_uri;
  if (to_user != NULL) to->user = to_user;
  o->role = "source";
  to->role = "target";
  if ((to_tls[1] == NULL) != (to_tls[2] == NULL)) {
    fprintf(stderr, "mallard transfer: --to-tls-cert and --to-tls-key go together (the "
                    "target's client certificate and its key)\n");
    return CLI_EXIT_USAGE;
  }
  bool src_tls = is_tls_uri(o->server), dst_tls = is_tls_uri(to_uri);
  char from[300], into[300];
  printable(o->server, from, sizeof from);
  printable(to_uri, into, sizeof into);
  const char **src[4] = {&o->tls_ca, &o->tls_cert, &o->tls_key, &o->tls_name};
  const char **dst[4] = {&to->tls_ca, &to->tls_cert, &to->tls_key, &to->tls_name};
  for (int k = 0; k < 4; k++) {
    bool own = (k == 1 || k == 2) ? to_tls[1] != NULL : to_tls[k] != NULL;
    if (own && !dst_tls) {
      fprintf(stderr,
              "mallard transfer: --to-tls-* options given for '%s', which is not a "
              "grpc+tls:// URI\n",
              into);
      return CLI_EXIT_USAGE;
    }
    *dst[k] = own ? to_tls[k] : dst_tls ? *src[k] : NULL;
    if (*src[k] != NULL && !src_tls) {
      if (!dst_tls || own) {
        fprintf(stderr,
                "mallard transfer: %s is for a grpc+tls:// end, and neither takes it "
                "('%s' and '%s'%s)\n",
                k_common[k], from, into, own ? ", which has its own" : "");
        return CLI_EXIT_USAGE;
      }
      *src[k] = NULL; /* the target's */
    }
  }
  to->tls_ca_inherited = to_tls[0] == NULL && to->tls_ca != NULL;
  to->tls_cert_inherited = to_tls[1] == NULL && to->tls_cert != NULL;
  if (env_set("MALLARD_TO_TOKEN") != NULL) {
    to->token_env = "MALLARD_TO_TOKEN";
  } else if (getenv("MALLARD_TO_PASSWORD") != NULL) {
    to->token_env = NULL; /* the source's token is not the target's */
    to->password_env = "MALLARD_TO_PASSWORD";
  } else if (to_user != NULL) {
    to->token_env = NULL; /* a token is its user's: another user logs in with a password */
  }
  return CLI_EXIT_OK;
}

int cli_option_value(int argc, char **argv, int *i, const char *name, const char **out) {
  const char *arg = argv[*i];
  size_t n = strlen(name);
  if (strncmp(arg, name, n) == 0 && arg[n] == '=') {
    *out = arg + n + 1;
    return 1;
  }
  if (strcmp(arg, name) != 0) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "mallard: option %s needs a value\n", name);
    return -1;
  }
  *out = argv[++*i];
  return 1;
}

bool cli_is_positional(const cli_conn_opts *o, const char *a) {
  if (o->end_of_options || a[0] != '-' || a[1] == '\0') return true;
  return a[1] == '-' && a[2] != '\0' && isspace((unsigned char)a[2]);
}

int cli_conn_opts_parse(cli_conn_opts *o, int argc, char **argv, int *i) {
  const char *arg = argv[*i];
  if (o->end_of_options) return 0;
  if (strcmp(arg, "--") == 0) {
    o->end_of_options = true;
    return 1;
  }
  if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
    o->quiet = true;
    return 1;
  }
  if (strcmp(arg, "--password") == 0 || strncmp(arg, "--password=", 11) == 0) {
    fprintf(stderr, "mallard: passwords are not taken as arguments (they would show in the "
                    "process list): set MALLARD_PASSWORD or answer the prompt\n");
    return -1;
  }
  struct {
    const char *name;
    const char **dst;
  } opts[] = {{"--server", &o->server},   {"-s", &o->server},
              {"--user", &o->user},       {"-u", &o->user},
              {"--tls-ca", &o->tls_ca},   {"--tls-cert", &o->tls_cert},
              {"--tls-key", &o->tls_key}, {"--tls-server-name", &o->tls_name}};
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
    int r = cli_option_value(argc, argv, i, opts[k].name, opts[k].dst);
    if (r != 0) return r;
  }
  const char *t = NULL;
  int r = cli_option_value(argc, argv, i, "--timeout", &t);
  if (r == 1) {
    char *end = NULL;
    o->timeout_s = strtod(t, &end);
    if (end == t || *end != '\0' || o->timeout_s < 0) {
      fprintf(stderr, "mallard: --timeout needs a number of seconds, not '%s'\n", t);
      return -1;
    }
  }
  return r;
}

void cli_conn_opts_help(FILE *out) {
  fprintf(out,
          "connection options:\n"
          "  -s, --server URI        server to talk to (default %s, env MALLARD_SERVER);\n"
          "                          grpc://HOST:PORT, grpc+tls://HOST:PORT or grpc+unix:///PATH\n"
          "  -u, --user NAME         user to log in as (default admin, env MALLARD_USER); the\n"
          "                          password comes from MALLARD_PASSWORD or a prompt\n"
          "                          (MALLARD_TOKEN: use a pre-issued token instead)\n"
          "  --tls-ca FILE           CA certificate (PEM) that signed the server's certificate\n"
          "  --tls-cert FILE         client certificate (PEM) for mutual TLS\n"
          "  --tls-key FILE          its private key (PEM)\n"
          "  --tls-server-name NAME  name to check the server certificate against\n"
          "  --timeout SECONDS       deadline for each call (default none)\n"
          "  -q, --quiet             no progress line\n"
          "  --help                  show this help\n"
          "\n"
          "exit codes: 0 ok, 1 server or data error, 2 usage error, 3 cannot connect\n",
          CLI_DEFAULT_SERVER);
}

int cli_exit_code(mallard_code code) {
  if (code == MALLARD_OK) return CLI_EXIT_OK;
  if (code == MALLARD_UNAVAILABLE) return CLI_EXIT_CONNECT;
  return CLI_EXIT_ERROR;
}

size_t cli_unsafe_char_len(const char *s, size_t n) {
  unsigned char c = (unsigned char)s[0];
  if (c < 0x80) return c < 0x20 || c == 0x7F ? 1 : 0;
  uint32_t cp = 0;
  size_t k = mlr_utf8_decode(s, n < 4 ? n : 4, &cp);
  if ((k == 2 && mlr_codepoint_is_control(cp)) || (k == 3 && mlr_codepoint_is_bidi_control(cp)))
    return k;
  return 0;
}

char *cli_one_line(char *msg) {
  /* DuckDB's messages put the cause first and hints after a blank line: keep the cause. */
  char *blank = strstr(msg, "\n\n");
  if (blank != NULL) *blank = '\0';
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
  /* Line breaks and tabs become spaces; other control characters (C1 ones too: U+009B is a
   * terminal's ESC [) a '?', so that a message quoting data cannot drive the terminal. */
  char *w = msg;
  for (const char *p = msg; *p != '\0';) {
    size_t k;
    if (*p == '\n' || *p == '\r' || *p == '\t') {
      *w++ = ' ';
      p++;
    } else if ((k = cli_unsafe_char_len(p, strnlen(p, 4))) > 0) {
      *w++ = '?';
      p += k;
    } else {
      *w++ = *p++;
    }
  }
  *w = '\0';
  return msg;
}

void cli_print_error(const char *cmd, const char *what, const char *msg) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", msg != NULL && *msg != '\0' ? msg : "unknown error");
  fprintf(stderr, "mallard %s: %s%s%s\n", cmd, what ? what : "", what ? ": " : "",
          cli_one_line(buf));
}

int cli_fail(const char *cmd, const mallard_error *err) {
  /* One line: newlines in server messages would break scripts that read stderr by line. */
  char msg[sizeof err->message];
  snprintf(msg, sizeof msg, "%s", err->message[0] != '\0' ? err->message : "(no message)");
  const char *token = getenv("MALLARD_TOKEN");
  const char *hint = err->code == MALLARD_UNAUTHENTICATED && token != NULL && *token != '\0'
                         ? " (the token in MALLARD_TOKEN was refused: it expired, was revoked or "
                           "comes from another server; get a new one with `mallard token`, or "
                           "unset it to log in with a password)"
                         : "";
  fprintf(stderr, "mallard %s: %s: %s%s\n", cmd, mallard_code_name(err->code), cli_one_line(msg),
          hint);
  return cli_exit_code(err->code);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mallard %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'mallard %s --help')\n", cmd);
  va_end(ap);
  return CLI_EXIT_USAGE;
}

mallard_call_options cli_call_options(const cli_conn_opts *o) {
  mallard_call_options c;
  memset(&c, 0, sizeof c);
  c.timeout_ms = (int64_t)(o->timeout_s * 1000.0);
  return c;
}

/* The terminal a password prompt turned echo off on, for the handler below, which puts it back
 * when a signal ends the process at the prompt (a handler can reach nothing else). Set only
 * while prompt_passwords waits. (The shell takes its signals itself: they never reach this.) */
static int g_prompt_fd = -1;
static struct termios g_prompt_tty;

static void prompt_signal(int sig) {
  if (g_prompt_fd >= 0) tcsetattr(g_prompt_fd, TCSANOW, &g_prompt_tty);
  ssize_t w = write(STDERR_FILENO, "\n", 1);
  (void)w;
  raise(sig); /* SA_RESETHAND: the default action once this handler returns */
}

/* Reads n passwords from the terminal in one session without echo: for each, a prompt naming
 * users[k] (and servers[k] when not NULL), then a line into out[k] (malloc'd). Echo goes off
 * before the first prompt, so that what is typed after a prompt, even ahead of the next one, is
 * kept. Returns false (out[] all NULL, *failed the prompt that got no answer) when there is no
 * terminal or it ended (Ctrl-D). */
static bool prompt_passwords(int n, const char *const users[], const char *const servers[],
                             char *out[], int *failed) {
  *failed = 0;
  for (int k = 0; k < n; k++) out[k] = NULL;
  FILE *tty = fopen("/dev/tty", "r+");
  if (tty == NULL) return false;
  struct termios old, quiet;
  int fd = fileno(tty);
  bool restore = tcgetattr(fd, &old) == 0;
  static const int k_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  struct sigaction before[4];
  bool set[4] = {false, false, false, false};
  if (restore) {
    g_prompt_tty = old;
    g_prompt_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = prompt_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < 4; k++) /* an ignored signal stays ignored */
      set[k] = sigaction(k_sigs[k], NULL, &before[k]) == 0 && before[k].sa_handler != SIG_IGN &&
               sigaction(k_sigs[k], &sa, NULL) == 0;
    quiet = old;
    quiet.c_lflag &= (tcflag_t) ~(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet); /* before the prompt: what is typed after it is kept */
  }
  bool ok = true;
  for (int k = 0; k < n && ok; k++) {
    *failed = k;
    char who[600];
    snprintf(who, sizeof who, "%s%s%s", users[k], servers[k] != NULL ? " at " : "",
             servers[k] != NULL ? servers[k] : "");
    fprintf(tty, "password for %s: ", cli_one_line(who)); /* no control characters */
    fflush(tty);
    char buf[1024];
    ok = fgets(buf, sizeof buf, tty) != NULL;
    fprintf(tty, "\n");
    if (ok) {
      buf[strcspn(buf, "\r\n")] = '\0';
      out[k] = strdup(buf);
      ok = out[k] != NULL;
    }
    memset(buf, 0, sizeof buf);
  }
  if (restore) {
    tcsetattr(fd, TCSAFLUSH, &old);
    for (int k = 0; k < 4; k++)
      if (set[k]) sigaction(k_sigs[k], &before[k], NULL);
    g_prompt_fd = -1;
  }
  fclose(tty);
  if (!ok)
    for (int k = 0; k < n; k++) cli_wipe_free(&out[k]);
  return ok;
}

void cli_wipe_free(char **secret) {
  if (*secret == NULL) return;
  memset(*secret, 0, strlen(*secret));
  free(*secret);
  *secret = NULL;
}

/* What to check when gRPC's words for a failed connection name a TLS problem but not its cause
 * (OpenSSL's reason stays inside gRPC), into buf: "" when there is nothing to add. For
 * `transfer`'s target the options to give are its own, --to-tls-*. */
static const char *connect_hint(const cli_conn_opts *o, const char *uri, const char *msg, char *buf,
                                size_t cap) {
  bool tls = strncasecmp(uri, "grpc+tls://", 11) == 0;
  bool unix_socket = strncasecmp(uri, "grpc+unix://", 12) == 0;
  bool target = o->role != NULL && strcmp(o->role, "target") == 0;
  const char *p = target ? "--to-" : "--";
  const char *pc = target && !o->tls_cert_inherited ? "--to-" : "--"; /* the cert/key given */
  const char *ca = target && o->tls_ca_inherited ? "--tls-ca (the target's own: --to-tls-ca)"
                   : target                      ? "--to-tls-ca"
                                                 : "--tls-ca";
  buf[0] = '\0';
  if (o->tls_key != NULL && strstr(msg, "empty address list") != NULL)
    snprintf(buf, cap, " (does the %stls-key belong to the %stls-cert?)", pc, pc); /* refused */
  else if (strstr(msg, "certificate verify failed") != NULL)
    snprintf(buf, cap,
             " (the server's certificate was refused: it is not signed by the CA of %s (or, "
             "without it, a CA this system trusts), or it has expired or is not valid yet; "
             "`openssl s_client -connect HOST:PORT -CAfile CA.pem` says which)",
             ca);
  else if (strstr(msg, "is not in peer certificate") != NULL)
    snprintf(buf, cap,
             " (the server's certificate does not name the host in the URI: connect by a name it "
             "holds, or give %stls-server-name NAME)",
             p);
  else if (tls && strstr(msg, "wrong version number") != NULL)
    snprintf(buf, cap,
             " (the server does not speak TLS: if it is a Flight server, its URI is grpc://...)");
  else if (strstr(msg, "Socket closed") != NULL && !unix_socket) {
    if (!tls)
      snprintf(buf, cap,
               " (the server closed the connection: if it uses TLS, its URI is grpc+tls://...)");
    else if (o->tls_cert == NULL)
      snprintf(buf, cap,
               " (the server closed the connection: if it asks for client certificates, give "
               "%stls-cert and %stls-key)",
               p, p);
    else
      snprintf(buf, cap,
               " (the server closed the connection: if it asks for client certificates, it "
               "refused this one: is %stls-cert signed by the CA it trusts?)",
               pc);
  }
  return buf;
}

/* A server that answered and refused the connection (a TLS handshake that failed: a certificate
 * refused, TLS against a plaintext port; or it closed the connection at once: plaintext against a
 * TLS port, a client certificate it refuses): waiting for it to come up does not change that. A
 * server not up yet refuses the TCP connection instead. */
static bool refused_for_good(const char *msg) {
  return strstr(msg, "Ssl handshake failed") != NULL ||
         strstr(msg, "is not in peer certificate") != NULL || strstr(msg, "Socket closed") != NULL;
}

/* One end of a transfer refused the login: says which, and where the secret it was sent came
 * from when that could be the cause. Returns the exit code. */
static int login_refused(const cli_conn_opts *o, const char *uri, bool by_token,
                         const char *pw_from, const mallard_error *err) {
  bool target = strcmp(o->role, "target") == 0;
  char hint[320] = "";
  if (err->code == MALLARD_UNAUTHENTICATED && by_token) {
    if (target && strcmp(o->token_env, "MALLARD_TOKEN") == 0)
      snprintf(hint, sizeof hint,
               " (it was sent the source's token, MALLARD_TOKEN: set "
               "MALLARD_TO_TOKEN or MALLARD_TO_PASSWORD for the target)");
    else
      snprintf(hint, sizeof hint,
               " (the token in %s was refused: it expired, was revoked or comes from another "
               "server; get a new one with `mallard token`)",
               o->token_env);
  } else if (err->code == MALLARD_UNAUTHENTICATED && target && pw_from != NULL &&
             strcmp(pw_from, "MALLARD_PASSWORD") == 0) {
    snprintf(hint, sizeof hint,
             " (it was sent the source's password, MALLARD_PASSWORD: set "
             "MALLARD_TO_PASSWORD for the target)");
  }
  char msg[sizeof err->message], where[300], user[200] = "";
  snprintf(msg, sizeof msg, "%s", err->message[0] != '\0' ? err->message : "(no message)");
  if (!by_token) { /* a token names its user itself */
    char u[160];
    snprintf(user, sizeof user, " as %s", printable(o->user, u, sizeof u));
  }
  fprintf(stderr, "mallard transfer: login to the %s %s%s: %s: %s%s\n", o->role,
          printable(uri, where, sizeof where), user, mallard_code_name(err->code),
          cli_one_line(msg), hint);
  return cli_exit_code(err->code);
}

int cli_open(const cli_conn_opts *o, const char *uri, mallard_client **out) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_client_options copts;
  mallard_client_options_init(&copts);
  copts.tls_root_certs_file = o->tls_ca;
  copts.tls_cert_chain_file = o->tls_cert;
  copts.tls_private_key_file = o->tls_key;
  copts.tls_override_hostname = o->tls_name;
  copts.max_receive_message_size = -1;
  mallard_code rc = mallard_client_connect(uri != NULL ? uri : o->server, &copts, out, &err);
  if (rc == MALLARD_INVALID_ARGUMENT) { /* a bad --server URI or TLS file: the command line's */
    char where[32] = "";
    if (o->role != NULL) snprintf(where, sizeof where, "the %s: ", o->role);
    fprintf(stderr, "mallard: %s%s\n", where, cli_one_line(err.message));
    return CLI_EXIT_USAGE;
  }
  if (rc != MALLARD_OK) return cli_fail("connect", &err);
  return CLI_EXIT_OK;
}

int cli_read_passwords(cli_conn_opts *a, cli_conn_opts *b) {
  cli_conn_opts *ends[2] = {a, b};
  const char *users[2], *servers[2];
  cli_conn_opts *asks[2];
  int n = 0;
  for (int k = 0; k < 2; k++) {
    cli_conn_opts *o = ends[k];
    if (o == NULL || o->password != NULL || env_set(o->token_env) != NULL ||
        (o->password_env != NULL && getenv(o->password_env) != NULL))
      continue;
    char where[300];
    if (!isatty(STDIN_FILENO)) {
      bool target = o->role != NULL && strcmp(o->role, "target") == 0;
      fprintf(stderr,
              "mallard: no password for %s: set %s (or %s), or run on a terminal to be "
              "prompted\n",
              printable(o->server, where, sizeof where),
              target ? "MALLARD_TO_PASSWORD" : "MALLARD_PASSWORD",
              target ? "MALLARD_TO_TOKEN" : "MALLARD_TOKEN");
      return CLI_EXIT_USAGE;
    }
    users[n] = o->user;
    servers[n] = o->role != NULL ? o->server : NULL;
    asks[n++] = o;
  }
  char *got[2] = {NULL, NULL};
  int failed = 0;
  if (n > 0 && !prompt_passwords(n, users, servers, got, &failed)) {
    char where[300];
    fprintf(stderr, "mallard: no password given for %s\n",
            printable(asks[failed]->server, where, sizeof where));
    return CLI_EXIT_USAGE;
  }
  for (int k = 0; k < n; k++) asks[k]->password = got[k];
  return CLI_EXIT_OK;
}

/* Logs in on client (to uri): a pre-issued token (o->token_env), or user + password (o->password,
 * o->password_env, else a prompt). When `waiting` (a server that may still be starting), gives
 * up after 2 s, and an unreachable server returns CONNECT_RETRY silently, its message in *last.
 * Otherwise prints one line on failure and returns the exit code. */
#define CONNECT_RETRY (-1)
static int login(const cli_conn_opts *o, const char *uri, mallard_client *client, bool waiting,
                 mallard_error *last) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_call_options call = cli_call_options(o);
  if (call.timeout_ms == 0) call.timeout_ms = 30000; /* logging in never waits forever */
  if (waiting) call.timeout_ms = 2000;
  const char *token = env_set(o->token_env);
  const char *pw_from = NULL; /* the variable the password came from, NULL: typed */
  mallard_code rc;
  if (token != NULL) {
    rc = mallard_client_set_bearer_token(client, token, &err);
    if (rc == MALLARD_OK && (waiting || o->role != NULL)) {
      /* A token needs no handshake: ask something to know the server is up (and, for one end
       * of a transfer, that it takes the token, before the other end is touched). */
      mallard_result_list res = {0};
      rc = mallard_client_do_action(client, &call, "ping", NULL, 0, &res, &err);
      mallard_result_list_release(&res);
    }
  } else {
    cli_conn_opts me = *o; /* a password read here is this call's */
    me.password = NULL;
    me.server = uri;
    const char *pw = o->password;
    if (pw == NULL && o->password_env != NULL && (pw = getenv(o->password_env)) != NULL)
      pw_from = o->password_env;
    if (pw == NULL) {
      int bad = cli_read_passwords(&me, NULL);
      if (bad != CLI_EXIT_OK) return bad;
      pw = me.password;
    }
    rc = mallard_client_authenticate_basic(client, &call, o->user, pw, NULL, &err);
    cli_wipe_free(&me.password);
  }
  if (rc == MALLARD_OK) return CLI_EXIT_OK;
  if (waiting && (rc == MALLARD_UNAVAILABLE || rc == MALLARD_DEADLINE_EXCEEDED) &&
      !refused_for_good(err.message)) {
    *last = err;
    return CONNECT_RETRY;
  }
  char end[32] = "", where[300]; /* "the target ": which end of a transfer */
  if (o->role != NULL) snprintf(end, sizeof end, "the %s ", o->role);
  printable(uri, where, sizeof where);
  if (rc == MALLARD_UNAVAILABLE) {
    char msg[sizeof err.message];
    snprintf(msg, sizeof msg, "%s", err.message);
    char hint[400];
    connect_hint(o, uri, msg, hint, sizeof hint);
    char prefix[400];
    snprintf(prefix, sizeof prefix, "cannot connect to %s: ", uri);
    const char *cause = msg;
    if (strncmp(cause, prefix, strlen(prefix)) == 0) cause += strlen(prefix); /* said below */
    if (o->role == NULL && strstr(msg, uri) != NULL)
      fprintf(stderr, "mallard: %s%s\n", cli_one_line(msg), hint);
    else
      fprintf(stderr, "mallard: cannot connect to %s%s: %s%s\n", end, where,
              cli_one_line((char *)cause), hint);
    return CLI_EXIT_CONNECT;
  }
  if (rc == MALLARD_DEADLINE_EXCEEDED) { /* connected, but the login was not answered */
    fprintf(stderr, "mallard: cannot connect to %s%s: no answer to the login within %.0f s\n", end,
            where, call.timeout_ms / 1000.0);
    return CLI_EXIT_CONNECT;
  }
  if (o->role == NULL) return cli_fail("login", &err);
  return login_refused(o, uri, token != NULL, pw_from, &err);
}

int cli_login(const cli_conn_opts *o, mallard_client *client) {
  return login(o, o->server, client, false, NULL);
}

static int connect_impl(const cli_conn_opts *o, const char *uri, bool waiting, mallard_error *last,
                        mallard_client **out) {
  if (uri == NULL) uri = o->server;
  mallard_client *client = NULL;
  int rc = cli_open(o, uri, &client);
  if (rc != CLI_EXIT_OK) return rc;
  rc = login(o, uri, client, waiting, last);
  if (rc != CLI_EXIT_OK) {
    mallard_client_close(&client);
    return rc;
  }
  *out = client;
  return CLI_EXIT_OK;
}

int cli_connect(const cli_conn_opts *o, const char *uri, mallard_client **out) {
  return connect_impl(o, uri, false, NULL, out);
}

int cli_connect_wait(const cli_conn_opts *o, const char *uri, double wait_s, mallard_client **out) {
  double deadline = cli_now() + wait_s;
  mallard_error last;
  memset(&last, 0, sizeof last);
  if (uri == NULL) uri = o->server;
  for (;;) {
    int rc = connect_impl(o, uri, true, &last, out);
    if (rc != CONNECT_RETRY) return rc;
    if (cli_now() >= deadline) {
      char hint[400];
      connect_hint(o, uri, last.message, hint, sizeof hint);
      fprintf(stderr,
              "mallard: %s did not answer within %.0f s (is `mallard serve` running?): %s%s\n", uri,
              wait_s, cli_one_line(last.message), hint);
      return CLI_EXIT_CONNECT;
    }
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes of one buffer of n values of `bits` bits starting at offset. */
static int64_t span_bytes(int64_t offset, int64_t length, int64_t bits) {
  return ((offset + length) * bits + 7) / 8;
}

/* Last offset of a (large) offsets buffer: the byte count of the data buffer. */
static int64_t last_offset(const struct ArrowArray *a, bool large) {
  if (a->n_buffers < 2 || a->buffers[1] == NULL || a->length == 0) return 0;
  int64_t end = a->offset + a->length;
  return large ? ((const int64_t *)a->buffers[1])[end] : ((const int32_t *)a->buffers[1])[end];
}

int64_t cli_array_bytes_schema(const struct ArrowSchema *s, const struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return 0;
  if (s == NULL || s->format == NULL) return cli_array_bytes(a);
  arrowc_format f;
  if (arrowc_format_parse(s->format, &f, NULL) != MALLARD_OK) return cli_array_bytes(a);
  int64_t n = a->length, off = a->offset, total = 0;
  if (a->n_buffers > 0 && a->buffers[0] != NULL && f.type != ARROWC_TYPE_SPARSE_UNION &&
      f.type != ARROWC_TYPE_DENSE_UNION)
    total += span_bytes(off, n, 1);
  switch (f.type) {
  case ARROWC_TYPE_STRING:
  case ARROWC_TYPE_BINARY:
    total += span_bytes(off, n + 1, 32) + last_offset(a, false);
    break;
  case ARROWC_TYPE_LARGE_STRING:
  case ARROWC_TYPE_LARGE_BINARY:
    total += span_bytes(off, n + 1, 64) + last_offset(a, true);
    break;
  case ARROWC_TYPE_STRING_VIEW:
  case ARROWC_TYPE_BINARY_VIEW:
    total += span_bytes(off, n, 128);
    /* Variadic buffer sizes are in the last buffer (int64 each). */
    if (a->n_buffers > 3 && a->buffers[a->n_buffers - 1] != NULL) {
      const int64_t *sizes = a->buffers[a->n_buffers - 1];
      for (int64_t k = 0; k < a->n_buffers - 3; k++) total += sizes[k];
    }
    break;
  case ARROWC_TYPE_FIXED_SIZE_BINARY:
    total += (off + n) * (int64_t)f.fixed_size;
    break;
  case ARROWC_TYPE_LIST:
  case ARROWC_TYPE_MAP:
    total += span_bytes(off, n + 1, 32);
    break;
  case ARROWC_TYPE_LARGE_LIST:
    total += span_bytes(off, n + 1, 64);
    break;
  case ARROWC_TYPE_DENSE_UNION:
    total += span_bytes(off, n, 8) + span_bytes(off, n, 32);
    break;
  case ARROWC_TYPE_SPARSE_UNION:
    total += span_bytes(off, n, 8);
    break;
  default:
    if (f.bit_width > 0) total += span_bytes(off, n, f.bit_width);
    break;
  }
  for (int64_t i = 0; i < a->n_children && i < s->n_children; i++)
    total += cli_array_bytes_schema(s->children[i], a->children[i]);
  if (a->dictionary != NULL && s->dictionary != NULL)
    total += cli_array_bytes_schema(s->dictionary, a->dictionary);
  return total;
}

int64_t cli_array_bytes(const struct ArrowArray *a) {
  if (a == NULL || a->release == NULL) return 0;
  /* Without a schema only the row count is known: 8 bytes per value is the fallback. */
  int64_t total = a->n_children == 0 ? a->length * 8 : 0;
  for (int64_t i = 0; i < a->n_children; i++) total += cli_array_bytes(a->children[i]);
  return total;
}

void cli_progress_start(cli_progress *p, const char *label, bool quiet) {
  memset(p, 0, sizeof *p);
  const char *ci = getenv("CI");
  p->enabled = !quiet && isatty(STDERR_FILENO) && (ci == NULL || *ci == '\0');
  p->label = label;
  p->start = cli_now();
}

static void progress_draw(cli_progress *p, bool final) {
  double el = cli_now() - p->start;
  double mb = (double)p->bytes / 1e6;
  fprintf(stderr, "\r\033[K%s %lld rows  %.1f MB  %.1f MB/s  %.0f rows/s  %02d:%04.1f%s", p->label,
          (long long)p->rows, mb, el > 0 ? mb / el : 0.0, el > 0 ? (double)p->rows / el : 0.0,
          (int)(el / 60), el - 60 * (int)(el / 60), final ? "\n" : "");
  fflush(stderr);
}

void cli_progress_add(cli_progress *p, const struct ArrowArray *batch) {
  if (batch == NULL || batch->release == NULL) return;
  p->rows += batch->length;
  p->bytes += cli_array_bytes_schema(p->schema, batch);
  if (!p->enabled) return;
  double now = cli_now();
  if (now - p->last_draw < 0.2) return;
  p->last_draw = now;
  progress_draw(p, false);
}

void cli_progress_done(cli_progress *p) {
  if (p->enabled && p->last_draw > 0) progress_draw(p, true);
}

/* ---------------------------------------------------------------- terminal text */

size_t cli_utf8_next(const char *s, size_t *cols) {
  uint32_t cp;
  size_t n = mlr_utf8_decode(s, strnlen(s, 4), &cp);
  *cols = mlr_codepoint_width(cp);
  return n;
}

size_t cli_display_width(const char *s) {
  size_t w = 0;
  while (*s != '\0') {
    size_t cols = 0;
    s += cli_utf8_next(s, &cols);
    w += cols;
  }
  return w;
}

void cli_print_padded(FILE *out, const char *s, size_t w, bool right) {
  size_t dw = cli_display_width(s);
  if (right)
    for (size_t i = dw; i < w; i++) fputc(' ', out);
  fputs(s, out);
  if (!right)
    for (size_t i = dw; i < w; i++) fputc(' ', out);
}

const char *cli_sql_arg(const char *cmd, const char *arg, char **owned) {
  *owned = NULL;
  if (strcmp(arg, "-") != 0) return arg;
  int e = mlr_read_all(stdin, (size_t)256 << 20, owned, NULL);
  if (e != 0) {
    fprintf(stderr, "mallard %s: cannot read the SQL from stdin: %s\n", cmd,
            e == EFBIG ? "more than 256 MiB" : strerror(e));
    return NULL;
  }
  return *owned;
}
