/* `mallard shell`: an interactive SQL session with one server, as the DuckDB, psql and
 * redis-cli command lines have: statements end with ';' and may span lines, results print as
 * tables, dot commands list tables and exchangers and change the output. Ctrl-C cancels the
 * running statement (or drops the one being typed), Ctrl-D leaves. With stdin not a terminal it
 * runs a script: no prompt, the exit code says whether every statement succeeded.
 *
 * Ctrl-C: SIGINT is blocked in every thread and read from a signalfd by a watcher thread, which
 * cancels the statement running (mallard_reader_cancel is thread-safe) or, at the prompt,
 * interrupts the main thread's read with SIGUSR1 (a handler that does nothing, installed without
 * SA_RESTART, so that the read returns EINTR). At the prompt on a terminal the line editor
 * (cli_lineedit.h) reads Ctrl-C as a key instead. SIGTERM, SIGHUP and SIGQUIT go to the watcher
 * too, which puts the terminal back as it was (the editor may have left it raw) and exits;
 * SIGCONT and SIGWINCH make the editor set its mode again and redraw. */
#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_lineedit.h"
#include "cli/cli_sql_split.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SHELL_CMD "shell"
#define SHELL_HISTORY_MAX 1000 /* lines kept in the history */

typedef struct shell {
  cli_conn_opts o;
  mallard_client *client;
  cli_format format;
  int64_t max_rows;
  bool timer;
  bool bail;
  bool interactive;
  bool history_warned; /* the history file could not be written (said once) */
  char who[40];        /* errors start "mallard <who>: ": "shell", or "shell: line N" in a script */
  cli_lineedit *le;    /* the line editor on a terminal (NULL: lines read as they come) */
  mlr_strbuf entry;    /* the lines of the history entry being typed, each ending in '\n' */
  size_t entry_lines;
  bool stop;        /* a script met BEGIN/COMMIT or lost its server: it runs no further */
  bool server_gone; /* a script's statement found the server unreachable */
  int failures;
  /* Ctrl-C (see the top of the file); mu guards the three fields below it. */
  pthread_mutex_t mu;
  mallard_reader *running; /* the statement's reader while it runs */
  bool at_prompt;          /* the main thread waits for a line */
  bool interrupted;        /* Ctrl-C at the prompt */
  bool cancelled;          /* Ctrl-C cancelled the running statement */
  bool connecting;         /* logging in (a password prompt, perhaps): Ctrl-C leaves */
  struct termios tty;      /* the terminal's settings at the start, restored on that exit */
  bool have_tty;
  pthread_t main_thread;
  pthread_t watcher;
  bool watching;
  int sig_fd;     /* signalfd of the signals watch_setup_mask takes over */
  int stop_fd[2]; /* the watcher's stop pipe */
} shell;

static void dot_help(FILE *out) {
  fprintf(out, "dot commands (at the start of a line):\n"
               "  .tables [PATTERN]      the server's tables (a LIKE pattern on the name)\n"
               "  .exchangers            the server's exchangers\n"
               "  .format table|csv|json how results print\n"
               "  .maxrows N             rows a table shows\n"
               "  .timer on|off          print each statement's time\n"
               "  .help                  this list\n"
               "  .quit                  leave (also .exit, Ctrl-D)\n");
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: mallard shell [--format table|csv|json] [--max-rows N] [--bail] [options]\n\n"
          "An interactive SQL session with one server: statements end with ';' and may span\n"
          "lines; its result prints as a table (at most --max-rows rows, default 40). Each\n"
          "statement is one call with its own transaction (autocommit): BEGIN/COMMIT and\n"
          "session settings do not carry over to the next one. Ctrl-C cancels the running\n"
          "statement, Ctrl-D leaves. On a terminal the line can be edited (arrows, Home/End,\n"
          "Ctrl-A/E/K/U/W), Up/Down recall earlier lines and Ctrl-R searches them; they are\n"
          "kept in ~/.mallard_history (MALLARD_HISTORY names another file; empty: none).\n"
          "With stdin not a terminal it runs the statements read from it (a script; the last\n"
          "one needs no ';'): mallard shell < report.sql. A script stops at a BEGIN/COMMIT\n"
          "and when the server goes away.\n\n");
  dot_help(out);
  fprintf(out,
          "\n"
          "  --format FMT            how results print (default: table on a terminal, else csv)\n"
          "  --max-rows N            rows a table shows (default 40)\n"
          "  --bail                  stop at the first statement that fails\n\n");
  cli_conn_opts_help(out);
  fprintf(out, "A script exits 1 when a statement failed and 3 when the server went away; an\n"
               "interactive session exits 0.\n");
}

/* ---------------------------------------------------------------- a reader as an Arrow stream */

/* The running statement's reader, lent to the output writers as an ArrowArrayStream; the shell
 * keeps owning the reader (so that Ctrl-C can cancel it) and closes it afterwards. */
typedef struct reader_stream {
  mallard_reader *reader;
  shell *sh;
  char error[sizeof((mallard_error *)0)->message + 32];
} reader_stream;

static int rs_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out) {
  reader_stream *rs = st->private_data;
  mallard_error err;
  memset(&err, 0, sizeof err);
  if (mallard_reader_schema(rs->reader, out, &err) == MALLARD_OK) return 0;
  snprintf(rs->error, sizeof rs->error, "%s: %s", mallard_code_name(err.code), err.message);
  return EIO;
}

/* True when code is the outcome of the user's Ctrl-C (the watcher cancelled the statement). */
static bool cancelled_by_user(shell *sh, mallard_code code) {
  pthread_mutex_lock(&sh->mu);
  bool r = sh->cancelled && code == MALLARD_CANCELLED;
  pthread_mutex_unlock(&sh->mu);
  return r;
}

/* True when the last statement was cancelled by the user's Ctrl-C. */
static bool user_cancelled(shell *sh) {
  pthread_mutex_lock(&sh->mu);
  bool r = sh->cancelled;
  pthread_mutex_unlock(&sh->mu);
  return r;
}

/* Where prompts and the banner go: the terminal, or stderr when stdout is redirected (results
 * to a file). */
static FILE *prompt_stream(void) {
  return isatty(STDOUT_FILENO) ? stdout : stderr;
}

static int rs_get_next(struct ArrowArrayStream *st, struct ArrowArray *out) {
  reader_stream *rs = st->private_data;
  mallard_error err;
  memset(&err, 0, sizeof err);
  for (;;) {
    bool eof = false;
    if (mallard_reader_next(rs->reader, out, NULL, &eof, &err) != MALLARD_OK) {
      if (cancelled_by_user(rs->sh, err.code))
        snprintf(rs->error, sizeof rs->error, "cancelled (Ctrl-C)");
      else
        snprintf(rs->error, sizeof rs->error, "%s: %s", mallard_code_name(err.code), err.message);
      return EIO;
    }
    if (eof || out->release != NULL) return 0; /* the end, or a batch */
  }
}

static const char *rs_last_error(struct ArrowArrayStream *st) {
  reader_stream *rs = st->private_data;
  return rs->error[0] ? rs->error : NULL;
}

static void rs_release(struct ArrowArrayStream *st) {
  st->release = NULL;
}

/* ---------------------------------------------------------------- Ctrl-C */

static void on_sigusr1(int sig) {
  (void)sig; /* only there to make the main thread's read return EINTR */
}

static void *watch_main(void *arg) {
  shell *sh = arg;
  struct pollfd pfd[2] = {{.fd = sh->sig_fd, .events = POLLIN},
                          {.fd = sh->stop_fd[0], .events = POLLIN}};
  for (;;) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[1].revents) break;
    struct signalfd_siginfo si;
    if (read(sh->sig_fd, &si, sizeof si) != (ssize_t)sizeof si) continue;
    if (si.ssi_signo == SIGCONT || si.ssi_signo == SIGWINCH) {
      /* Continued after a stop, or resized: the line editor sets its mode again and redraws. */
      pthread_mutex_lock(&sh->mu);
      if (sh->at_prompt && sh->le != NULL) {
        cli_lineedit_request_redraw(sh->le);
        for (int tries = 0; tries < 100 && sh->at_prompt && cli_lineedit_redraw_pending(sh->le);
             tries++) {
          pthread_kill(sh->main_thread, SIGUSR1);
          pthread_mutex_unlock(&sh->mu);
          struct timespec pause = {0, 10 * 1000 * 1000};
          nanosleep(&pause, NULL);
          pthread_mutex_lock(&sh->mu);
        }
      }
      pthread_mutex_unlock(&sh->mu);
      continue;
    }
    if (si.ssi_signo != SIGINT) {
      /* SIGTERM, SIGHUP or SIGQUIT: leave as the signal would, with the terminal as it was (the
       * line editor may have it in raw mode) and the cursor past the line being typed. */
      if (sh->have_tty) tcsetattr(STDIN_FILENO, TCSANOW, &sh->tty);
      if (sh->le != NULL) {
        ssize_t w = write(STDERR_FILENO, "\n", 1);
        (void)w;
      }
      _exit(128 + (int)si.ssi_signo);
    }
    pthread_mutex_lock(&sh->mu);
    if (sh->running != NULL) {
      sh->cancelled = true;
      fputc('\n', stderr); /* past the terminal's "^C" */
      mallard_reader_cancel(sh->running);
    } else if (sh->at_prompt) {
      /* SIGUSR1 makes the main thread's read return EINTR; sent again until the read has
       * returned, since one that lands just before the read starts is lost. */
      sh->interrupted = true;
      for (int tries = 0; tries < 500 && sh->at_prompt && sh->interrupted; tries++) {
        pthread_kill(sh->main_thread, SIGUSR1);
        pthread_mutex_unlock(&sh->mu);
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&sh->mu);
      }
    } else if (sh->connecting) {
      /* At the password prompt (echo off) or waiting for the server: leave, as psql does, with
       * the terminal as it was. */
      if (sh->have_tty) tcsetattr(STDIN_FILENO, TCSANOW, &sh->tty);
      ssize_t w = write(STDERR_FILENO, "\n", 1);
      (void)w;
      _exit(130);
    }
    pthread_mutex_unlock(&sh->mu);
  }
  return NULL;
}

/* Takes SIGINT (SIGTERM, SIGHUP, SIGQUIT, SIGCONT, SIGWINCH) over for the session (interactive
 * only). Call before any thread exists (gRPC's are made at connect) so that every thread inherits
 * the blocked mask. */
static void watch_setup_mask(shell *sh) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGQUIT);
  sigaddset(&set, SIGCONT); /* still continues the process; the watcher hears of it */
  sigaddset(&set, SIGWINCH);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  sh->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigusr1; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
}

static void watch_start(shell *sh) {
  sh->main_thread = pthread_self();
  if (sh->sig_fd < 0 || pipe(sh->stop_fd) != 0) return;
  /* The watcher must not take SIGUSR1 meant for the main thread. */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  sh->watching = pthread_create(&sh->watcher, NULL, watch_main, sh) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void watch_stop(shell *sh) {
  if (sh->watching) {
    ssize_t w = write(sh->stop_fd[1], "x", 1);
    (void)w;
    pthread_join(sh->watcher, NULL);
    sh->watching = false;
  }
  if (sh->stop_fd[0] >= 0) close(sh->stop_fd[0]);
  if (sh->stop_fd[1] >= 0) close(sh->stop_fd[1]);
  if (sh->sig_fd >= 0) close(sh->sig_fd);
}

/* ---------------------------------------------------------------- statements */

/* Skips ASCII blanks and the invisible Unicode ones an editor may leave (a byte order mark,
 * no-break and zero-width spaces), which would hide a statement's first word. */
static const char *skip_blanks(const char *p) {
  for (;;) {
    const unsigned char *u = (const unsigned char *)p;
    if (*u != '\0' && isspace(*u))
      p++;
    else if (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) /* U+FEFF */
      p += 3;
    else if (u[0] == 0xC2 && u[1] == 0xA0) /* U+00A0 */
      p += 2;
    else if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] >= 0x80 && u[2] <= 0x8B)) /* U+2000-200B */
      p += 3;
    else
      return p;
  }
}

/* True when the statement's first word (after blanks and comments) is one of DuckDB's
 * transaction statements. */
static bool is_transaction_control(const char *sql) {
  static const char *const words[] = {"BEGIN", "START", "COMMIT", "ROLLBACK", "ABORT", "END"};
  const char *p = sql;
  for (;;) {
    p = skip_blanks(p);
    if (p[0] == '-' && p[1] == '-') {
      p += strcspn(p, "\n");
    } else if (p[0] == '/' && p[1] == '*') {
      const char *e = strstr(p + 2, "*/");
      if (e == NULL) return false;
      p = e + 2;
    } else {
      break;
    }
  }
  size_t n = 0;
  while (isalpha((unsigned char)p[n])) n++;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strlen(words[i]) == n && strncasecmp(p, words[i], n) == 0) return true;
  return false;
}

/* A statement's error, said plainly when Ctrl-C was its cause. */
static int statement_failed(shell *sh, const mallard_error *err) {
  if (!cancelled_by_user(sh, err->code)) return cli_fail(sh->who, err);
  fprintf(stderr, "mallard %s: cancelled (Ctrl-C)\n", sh->who);
  return CLI_EXIT_ERROR;
}

/* Runs one statement and prints its result. With relogin non-NULL, a refused login (the server
 * restarted, or the session expired) is not printed: *relogin is set for the caller to log in
 * again and retry (nothing ran). */
static int run_statement(shell *sh, const char *sql, bool *relogin) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_call_options call = cli_call_options(&sh->o);
  mallard_reader *reader = NULL;
  if (mallard_client_do_get(sh->client, &call, sql, strlen(sql), &reader, &err) != MALLARD_OK) {
    if (relogin != NULL && err.code == MALLARD_UNAUTHENTICATED) {
      *relogin = true;
      return CLI_EXIT_ERROR;
    }
    return cli_fail(sh->who, &err);
  }
  pthread_mutex_lock(&sh->mu);
  sh->running = reader;
  sh->cancelled = false;
  pthread_mutex_unlock(&sh->mu);
  int rc;
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  /* The schema first, so that a SQL error is reported as the server's. */
  if (mallard_reader_schema(reader, &schema, &err) != MALLARD_OK) {
    if (relogin != NULL && err.code == MALLARD_UNAUTHENTICATED) {
      *relogin = true;
      rc = CLI_EXIT_ERROR;
    } else {
      rc = statement_failed(sh, &err);
    }
  } else {
    schema.release(&schema);
    reader_stream rs = {.reader = reader, .sh = sh};
    struct ArrowArrayStream st = {.get_schema = rs_get_schema,
                                  .get_next = rs_get_next,
                                  .get_last_error = rs_last_error,
                                  .release = rs_release,
                                  .private_data = &rs};
    rc = cli_write_arrow_stream(sh->who, &st, sh->format, NULL, sh->max_rows, &sh->o, NULL);
    if (st.release != NULL) st.release(&st);
  }
  pthread_mutex_lock(&sh->mu);
  sh->running = NULL;
  pthread_mutex_unlock(&sh->mu);
  mallard_reader_close(&reader, NULL);
  fflush(stdout);
  return rc;
}

static void set_connecting(shell *sh, bool on) {
  pthread_mutex_lock(&sh->mu);
  sh->connecting = on;
  pthread_mutex_unlock(&sh->mu);
}

/* Logs in again (a new connection; the password from MALLARD_PASSWORD or a new prompt). */
static int relogin(shell *sh) {
  mallard_client_close(&sh->client);
  set_connecting(sh, true);
  int rc = cli_connect(&sh->o, NULL, &sh->client);
  set_connecting(sh, false);
  return rc;
}

/* Runs op(sh, arg, relogin) (a call to the server), logging in first when the shell is not
 * connected, and once more when the server no longer knows the session. */
static int with_relogin(shell *sh, int (*op)(shell *, const void *, bool *), const void *arg) {
  int rc;
  if (sh->client == NULL && (rc = relogin(sh)) != CLI_EXIT_OK) return rc;
  bool again = false;
  /* A pre-issued token that is refused stays refused: no logging in again. */
  const char *token = getenv("MALLARD_TOKEN");
  rc = op(sh, arg, token != NULL && *token != '\0' ? NULL : &again);
  if (again) {
    /* The session is gone (a server restart, --session-idle): the call did nothing. */
    fprintf(stderr,
            "mallard %s: the server no longer knows this session (it restarted, or the "
            "session expired): logging in again\n",
            sh->who);
    rc = relogin(sh);
    if (rc == CLI_EXIT_OK) rc = op(sh, arg, NULL);
  }
  return rc;
}

static int statement_op(shell *sh, const void *sql, bool *relogin) {
  return run_statement(sh, sql, relogin);
}

/* .tables and .exchangers: the listing action and its body. */
typedef struct listing {
  const char *type, *body;
} listing;

static int listing_op(shell *sh, const void *arg, bool *relogin) {
  const listing *l = arg;
  /* No reader for Ctrl-C to cancel: a server that does not answer gives up after 30 s (or
   * --timeout). */
  cli_conn_opts o = sh->o;
  if (o.timeout_s <= 0) o.timeout_s = 30;
  return cli_print_listing(sh->who, sh->client, &o, l->type, l->body, false, relogin);
}

static int run_sql(shell *sh, const char *sql) {
  pthread_mutex_lock(&sh->mu);
  sh->cancelled = false; /* set by the watcher if Ctrl-C cancels this statement */
  pthread_mutex_unlock(&sh->mu);
  if (is_transaction_control(sql)) {
    /* On the server each statement is its own call with its own transaction: a BEGIN would be
     * rolled back at once and the statements after it committed one by one. */
    fprintf(stderr,
            "mallard %s: each statement runs in its own transaction on the server, so BEGIN "
            "... COMMIT cannot span statements here: run them together with `mallard execute` "
            "(one transaction)%s\n",
            sh->who,
            sh->interactive ? "" : "; the script stops here, before the statements it guards");
    /* A script goes no further: what BEGIN was meant to guard must not run statement by
     * statement (a debit committed without its credit). */
    if (!sh->interactive) sh->stop = true;
    return CLI_EXIT_USAGE;
  }
  double t0 = cli_now();
  int rc = with_relogin(sh, statement_op, sql);
  if (sh->timer) fprintf(stderr, "Run Time: %.3f s\n", cli_now() - t0);
  return rc;
}

/* Splits a dot command line in place: *name is the command, *arg the rest (trimmed; may be
 * empty). */
static void dot_split(char *line, char **name, char **arg) {
  char *p = (char *)skip_blanks(line);
  *name = p;
  while (*p != '\0' && !isspace((unsigned char)*p)) p++;
  if (*p != '\0') *p++ = '\0';
  *arg = (char *)skip_blanks(p);
  size_t n = strlen(*arg);
  while (n > 0 && isspace((unsigned char)(*arg)[n - 1])) (*arg)[--n] = '\0';
}

/* Runs a dot command. Returns 1 to leave the shell, 0 when it ran, -1 when it failed. */
static int run_dot(shell *sh, char *line) {
  char *name, *arg;
  dot_split(line, &name, &arg);
  if (strcmp(name, ".quit") == 0 || strcmp(name, ".exit") == 0) return 1;
  if (strcmp(name, ".help") == 0) {
    dot_help(stdout);
    return 0;
  }
  if (strcmp(name, ".tables") == 0 || strcmp(name, ".exchangers") == 0) {
    bool tables = strcmp(name, ".tables") == 0;
    listing l = {tables ? "list_tables" : "list_exchangers", tables && *arg ? arg : NULL};
    return with_relogin(sh, listing_op, &l) == CLI_EXIT_OK ? 0 : -1;
  }
  if (strcmp(name, ".format") == 0) {
    cli_format f = cli_format_parse(arg);
    if (f != CLI_FORMAT_TABLE && f != CLI_FORMAT_CSV && f != CLI_FORMAT_JSON) {
      fprintf(stderr, "mallard %s: .format table|csv|json (not '%s')\n", sh->who, arg);
      return -1;
    }
    sh->format = f;
    return 0;
  }
  if (strcmp(name, ".maxrows") == 0) {
    char *end = NULL;
    long long n = strtoll(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || n < 0) {
      fprintf(stderr, "mallard %s: .maxrows needs a number of rows (not '%s')\n", sh->who, arg);
      return -1;
    }
    sh->max_rows = n;
    return 0;
  }
  if (strcmp(name, ".timer") == 0) {
    if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0) {
      fprintf(stderr, "mallard %s: .timer on|off (not '%s')\n", sh->who, arg);
      return -1;
    }
    sh->timer = strcmp(arg, "on") == 0;
    return 0;
  }
  fprintf(stderr, "mallard %s: unknown command '%s' (.help lists them)\n", sh->who, name);
  return -1;
}

/* Names the line of a script's statement or dot command in its errors (psql and DuckDB's
 * command line do too): a script of many statements is otherwise hard to mend. */
static void set_who(shell *sh, long line) {
  if (sh->interactive)
    snprintf(sh->who, sizeof sh->who, "%s", SHELL_CMD);
  else
    snprintf(sh->who, sizeof sh->who, "%s: line %ld", SHELL_CMD, line);
}

/* Counts a statement's outcome (its exit code); true when the shell goes on. A script stops
 * when the server went away: nothing after can run. */
static bool outcome(shell *sh, int rc) {
  if (rc != CLI_EXIT_OK) sh->failures++;
  if (rc == CLI_EXIT_CONNECT && !sh->interactive) {
    sh->server_gone = true;
    sh->stop = true;
  }
  return !sh->stop && (rc == CLI_EXIT_OK || !sh->bail);
}

/* Reads a line with the line editor into *line (with a newline added, as getline leaves it). */
static ssize_t edit_line(shell *sh, const char *prompt, char **line, size_t *cap) {
  fflush(stdout);
  fflush(stderr);
  char *got = NULL;
  cli_le_result r = cli_lineedit_read(sh->le, prompt, &got);
  if (r != CLI_LE_LINE) {
    /* The caller reads errno: EINTR for Ctrl-C, none for the end (a redraw's interrupted wait
     * leaves EINTR behind, and Ctrl-D then only drew a new prompt). */
    errno = r == CLI_LE_INTERRUPT ? EINTR : r == CLI_LE_EOF ? 0 : errno;
    return -1;
  }
  size_t n = strlen(got);
  if (*cap < n + 2) {
    char *grown = realloc(*line, n + 2);
    if (grown == NULL) {
      free(got);
      errno = ENOMEM;
      return -1;
    }
    *line = grown;
    *cap = n + 2;
  }
  memcpy(*line, got, n);
  (*line)[n] = '\n';
  (*line)[n + 1] = '\0';
  free(got);
  return (ssize_t)n + 1;
}

static void remember(shell *sh, const char *text) {
  if (!cli_lineedit_history_add(sh->le, text) && !sh->history_warned) {
    int e = errno;
    char *path = cli_lineedit_default_history_path();
    fprintf(stderr,
            "mallard shell: cannot write the history file %s: %s (MALLARD_HISTORY names "
            "another; empty: none)\n",
            path != NULL ? path : "", e == EINVAL ? "not a regular file" : strerror(e));
    free(path);
    sh->history_warned = true;
  }
}

/* The history keeps what was typed for one statement (or several, up to the line where none is
 * left open) as one entry, as psql and DuckDB's shell do: its lines joined by spaces, which SQL
 * reads as it read the line breaks. Where a line break is part of the SQL (inside a literal,
 * ending a -- comment, between two literals: cli_sql_split_newline_matters), its lines are kept
 * one entry each instead. */
static void entry_add_line(shell *sh, const char *line, size_t len) {
  if (sh->le == NULL) return;
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
  mlr_strbuf_append(&sh->entry, line, len);
  mlr_strbuf_append(&sh->entry, "\n", 1);
  sh->entry_lines++;
}

static void entry_done(shell *sh, bool joinable) {
  if (sh->le == NULL || sh->entry_lines == 0) return;
  char *text = sh->entry.oom ? NULL : sh->entry.data;
  if (text != NULL && sh->entry_lines > 1 && joinable) {
    /* Lines joined by one space, without their leading and trailing blanks (outside literals
     * blanks only separate); blank lines add nothing. */
    size_t w = 0;
    for (char *p = text; *p != '\0';) {
      char *nl = strchr(p, '\n'); /* every line ends in one; a NUL (not from the editor) ends all */
      char *b = p, *e = nl != NULL ? nl : p + strlen(p);
      while (b < e && (*b == ' ' || *b == '\t')) b++;
      while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
      if (e > b) {
        if (w > 0 && *b != ';') text[w++] = ' '; /* "SELECT 1" + ";" as "SELECT 1;" */
        memmove(text + w, b, (size_t)(e - b));
        w += (size_t)(e - b);
      }
      p = nl != NULL ? nl + 1 : e;
    }
    text[w] = '\0';
    remember(sh, text);
  } else if (text != NULL) {
    for (char *p = text; *p != '\0';) {
      char *nl = strchr(p, '\n');
      if (nl != NULL) *nl = '\0';
      remember(sh, p);
      p = nl != NULL ? nl + 1 : p + strlen(p);
    }
  }
  mlr_strbuf_release(&sh->entry);
  memset(&sh->entry, 0, sizeof sh->entry);
  sh->entry_lines = 0;
}

/* Reads a line into *line; false at the end of input. At the prompt, Ctrl-C drops what was being
 * typed: *cancelled is set and the caller shows a fresh prompt. */
static bool read_line(shell *sh, char **line, size_t *cap, size_t *len, bool pending,
                      bool *cancelled) {
  *cancelled = false;
  *len = 0;
  /* At the prompt from before it shows: a Ctrl-C right after it must find the flag set. */
  pthread_mutex_lock(&sh->mu);
  sh->at_prompt = true;
  sh->interrupted = false;
  pthread_mutex_unlock(&sh->mu);
  const char *prompt = pending ? "   ...> " : "mallard> ";
  errno = 0;
  ssize_t n;
  if (sh->le != NULL) {
    n = edit_line(sh, prompt, line, cap);
  } else {
    if (sh->interactive) {
      FILE *tty = prompt_stream();
      fputs(prompt, tty);
      fflush(tty);
    }
    n = getline(line, cap, stdin);
  }
  int e = errno;
  pthread_mutex_lock(&sh->mu);
  sh->at_prompt = false;
  bool interrupted = sh->interrupted;
  pthread_mutex_unlock(&sh->mu);
  if (n >= 0) {
    *len = (size_t)n;
    return true;
  }
  if (e == EINTR || interrupted) {
    clearerr(stdin);
    fputc('\n', prompt_stream());
    *cancelled = true;
    return true;
  }
  return false;
}

/* A statement or dot command holding a NUL byte is not SQL text (a binary file?): not run, rather
 * than run cut short at the NUL. The statements around it run. */
static int nul_error(shell *sh, const char *what) {
  fprintf(stderr,
          "mallard %s: the %s holds a NUL byte, which SQL text cannot (binary data?): not run\n",
          sh->who, what);
  return CLI_EXIT_ERROR;
}

static int session(shell *sh) {
  cli_sql_split split;
  cli_sql_split_init(&split);
  char *line = NULL;
  size_t cap = 0;
  bool go_on = true;
  long lineno = 0;
  while (go_on) {
    bool cancelled = false;
    bool pending = cli_sql_split_pending(&split);
    size_t len = 0;
    if (!read_line(sh, &line, &cap, &len, pending, &cancelled)) break;
    lineno++;
    if (cancelled) {
      entry_done(sh, !cli_sql_split_newline_matters(&split));
      cli_sql_split_reset(&split);
      continue;
    }
    if (!pending && *skip_blanks(line) == '.') {
      set_who(sh, lineno);
      entry_add_line(sh, line, len);
      entry_done(sh, true);
      if (memchr(line, '\0', len) != NULL) {
        go_on = outcome(sh, nul_error(sh, "dot command"));
        continue;
      }
      int r = run_dot(sh, line);
      if (r == 1) break;
      go_on = outcome(sh, r == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR);
      continue;
    }
    const char *text = line;
    if (lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
      text += 3; /* a file saved "UTF-8 with BOM": the mark is no SQL */
      len -= 3;
    }
    cli_sql_split_set_line(&split, lineno); /* dot commands and dropped lines were not fed */
    if (!pending) cli_sql_split_clear_newline_matters(&split); /* a new history entry */
    entry_add_line(sh, text, len);
    if (!cli_sql_split_feed(&split, text, len)) {
      fprintf(stderr, "mallard shell: out of memory\n");
      sh->failures++;
      break;
    }
    if (!cli_sql_split_pending(&split)) /* before it runs */
      entry_done(sh, !cli_sql_split_newline_matters(&split));
    long at = 0;
    for (char *stmt; go_on && (stmt = cli_sql_split_next(&split, &at)) != NULL; free(stmt)) {
      set_who(sh, at);
      go_on = outcome(sh, cli_sql_split_last_had_nul(&split) ? nul_error(sh, "statement")
                                                             : run_sql(sh, stmt));
      if (user_cancelled(sh)) {
        /* Ctrl-C stops what was typed with it too: the statements after it on the line (or
         * pasted with it) are dropped, as an unfinished one is at the prompt. */
        for (char *rest; (rest = cli_sql_split_next(&split, NULL)) != NULL;) free(rest);
        cli_sql_split_reset(&split);
      }
    }
  }
  entry_done(sh, !cli_sql_split_newline_matters(&split)); /* Ctrl-D after unfinished lines */
  /* The end of a script: its last statement needs no ';'. Typed and left unfinished: dropped. */
  long at = 0;
  char *last = go_on && !sh->interactive ? cli_sql_split_finish(&split, &at) : NULL;
  if (last != NULL) {
    set_who(sh, at);
    outcome(sh,
            cli_sql_split_last_had_nul(&split) ? nul_error(sh, "statement") : run_sql(sh, last));
  }
  free(last);
  for (char *stmt; (stmt = cli_sql_split_next(&split, NULL)) != NULL;) free(stmt);
  cli_sql_split_free(&split);
  free(line);
  if (sh->interactive) fputc('\n', prompt_stream());
  if (sh->interactive) return CLI_EXIT_OK;
  return sh->server_gone ? CLI_EXIT_CONNECT : sh->failures > 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

/* With a pre-issued token (MALLARD_TOKEN) nothing was asked at connect: ask the server once,
 * so that a session does not start "connected" with a token it refuses. */
static int check_token(shell *sh) {
  const char *token = getenv("MALLARD_TOKEN");
  if (token == NULL || *token == '\0') return CLI_EXIT_OK;
  mallard_error err;
  memset(&err, 0, sizeof err);
  cli_conn_opts o = sh->o;
  if (o.timeout_s <= 0) o.timeout_s = 30;
  mallard_call_options call = cli_call_options(&o);
  mallard_result_list res = {0};
  mallard_code code = mallard_client_do_action(sh->client, &call, "ping", NULL, 0, &res, &err);
  mallard_result_list_release(&res);
  if (code == MALLARD_OK) return CLI_EXIT_OK;
  mallard_client_close(&sh->client);
  return cli_fail(SHELL_CMD, &err);
}

/* The line editor, when the prompt goes to a terminal that can show it (not TERM=dumb, as in an
 * editor's shell buffer); NULL otherwise: lines are then read as they come. */
static cli_lineedit *open_editor(void) {
  int out = isatty(STDOUT_FILENO) ? STDOUT_FILENO : isatty(STDERR_FILENO) ? STDERR_FILENO : -1;
  const char *term = getenv("TERM");
  if (out < 0 || (term != NULL && strcmp(term, "dumb") == 0)) return NULL;
  char *path = cli_lineedit_default_history_path();
  cli_lineedit *le = cli_lineedit_new(STDIN_FILENO, out, path, SHELL_HISTORY_MAX);
  free(path);
  return le;
}

int cli_cmd_shell(int argc, char **argv) {
  shell sh;
  memset(&sh, 0, sizeof sh);
  sh.sig_fd = sh.stop_fd[0] = sh.stop_fd[1] = -1;
  sh.max_rows = 40;
  snprintf(sh.who, sizeof sh.who, "%s", SHELL_CMD);
  cli_conn_opts_init(&sh.o);
  const char *format_s = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return CLI_EXIT_OK;
    }
    int r = cli_conn_opts_parse(&sh.o, argc, argv, &i);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r > 0) continue;
    if ((strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) && i + 1 < argc) {
      format_s = argv[++i];
    } else if (strcmp(a, "--max-rows") == 0) {
      char *end = NULL;
      if (i + 1 >= argc) return cli_usage_error(SHELL_CMD, "--max-rows needs a number");
      sh.max_rows = strtoll(argv[++i], &end, 10);
      if (*end != '\0' || sh.max_rows < 0)
        return cli_usage_error(SHELL_CMD, "--max-rows needs a number");
    } else if (strcmp(a, "--bail") == 0) {
      sh.bail = true;
    } else {
      return cli_usage_error(SHELL_CMD, "unknown argument '%s'", a);
    }
  }
  sh.format = isatty(STDOUT_FILENO) ? CLI_FORMAT_TABLE : CLI_FORMAT_CSV;
  if (format_s != NULL) {
    sh.format = cli_format_parse(format_s);
    if (sh.format != CLI_FORMAT_TABLE && sh.format != CLI_FORMAT_CSV &&
        sh.format != CLI_FORMAT_JSON)
      return cli_usage_error(SHELL_CMD, "--format table|csv|json (not '%s')", format_s);
  }
  sh.o.quiet = true; /* no progress line between a prompt and its result */
  sh.interactive = isatty(STDIN_FILENO) != 0;
  pthread_mutex_init(&sh.mu, NULL);
  if (sh.interactive) {
    watch_setup_mask(&sh);
    sh.have_tty = tcgetattr(STDIN_FILENO, &sh.tty) == 0;
    watch_start(&sh);
    sh.le = open_editor();
  }
  set_connecting(&sh, true);
  int rc = cli_connect(&sh.o, NULL, &sh.client);
  set_connecting(&sh, false);
  if (rc == CLI_EXIT_OK && sh.interactive) rc = check_token(&sh);
  if (rc == CLI_EXIT_OK) {
    if (sh.interactive) {
      fprintf(prompt_stream(),
              "mallard %s shell: connected to %s. End statements with ';'. .help lists the dot\n"
              "commands; Ctrl-C cancels a statement, Ctrl-D leaves.\n",
              MALLARD_VERSION, sh.o.server ? sh.o.server : CLI_DEFAULT_SERVER);
    }
    rc = session(&sh);
    mallard_client_close(&sh.client);
  }
  watch_stop(&sh);
  cli_lineedit_free(sh.le);
  pthread_mutex_destroy(&sh.mu);
  return rc;
}
