/* What every client subcommand shares: the common options (--server, --user, TLS, --timeout,
 * --quiet), connecting and logging in, one-line errors with the documented exit codes, the
 * live progress line, and local file I/O through an embedded DuckDB. */
#ifndef CLI_CLIENT_H
#define CLI_CLIENT_H

#include "arrow/arrowc_buf.h"
#include "mallard/arrow_c.h"
#include "mallard/client.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_DEFAULT_SERVER "grpc://127.0.0.1:8815"

typedef struct cli_conn_opts {
  const char *server;   /* --server URI (env MALLARD_SERVER) */
  const char *user;     /* --user (env MALLARD_USER, default "admin") */
  const char *tls_ca;   /* --tls-ca FILE */
  const char *tls_cert; /* --tls-cert FILE */
  const char *tls_key;  /* --tls-key FILE */
  const char *tls_name; /* --tls-server-name NAME */
  double timeout_s;     /* --timeout SECONDS, 0 = none */
  bool quiet;           /* --quiet / -q */
  bool end_of_options;  /* "--" seen: every later argument is positional */
  /* Where the login's secret comes from: the environment variables read (a token first, then a
   * password, then a prompt on a terminal). cli_conn_opts_init sets MALLARD_TOKEN and
   * MALLARD_PASSWORD; `transfer`'s target may read MALLARD_TO_TOKEN / MALLARD_TO_PASSWORD
   * (cli_conn_opts_target). NULL: that source is not used. */
  const char *token_env, *password_env;
  /* `transfer`: "source" or "target" (NULL otherwise). Then the prompt names its server
   * ("password for U at URI: "), a token is tried at once (a ping), failed logins name the end,
   * and the target's TLS hints name --to-tls-* options. */
  const char *role;
  bool tls_ca_inherited;   /* the target's CA came from --tls-ca */
  bool tls_cert_inherited; /* the target's client certificate came from --tls-cert/--tls-key */
  char *password;          /* read ahead by cli_read_passwords (NULL: none); cli_wipe_free it */
} cli_conn_opts;

/* Runs a listing action ("list_tables" with an optional LIKE pattern as body, or
 * "list_exchangers") on client and prints its rows as aligned columns, or the server's JSON as
 * is. Prints errors itself; returns the exit code (src/cli/cmd_admin.c). With relogin non-NULL,
 * a refused login is not printed: *relogin is set for the caller to log in again and retry. */
int cli_print_listing(const char *cmd, mallard_client *client, const cli_conn_opts *o,
                      const char *type, const char *body, bool json, bool *relogin);

/* Fills defaults (from the environment where documented). */
void cli_conn_opts_init(cli_conn_opts *o);

/* If argv[*i] is a common option, consumes it (and its value) and returns 1; returns 0 if it
 * is not one; returns -1 (after printing a usage error) if its value is missing. */
int cli_conn_opts_parse(cli_conn_opts *o, int argc, char **argv, int *i);

/* True when a is a positional argument rather than an option: anything after "--", anything
 * not starting with '-', "-" itself (stdin/stdout), and SQL starting with a comment ("-- ..."). */
bool cli_is_positional(const cli_conn_opts *o, const char *a);

/* The help text of the common options. */
void cli_conn_opts_help(FILE *out);

/* The options for `transfer`'s target, to_uri, from the common ones (o, which the source uses)
 * and the --to-* ones: to_user (NULL: o->user); to_tls, the --to-tls-ca, -cert, -key and
 * -server-name values (NULL when not given). Each TLS option of the target is its --to-tls-*
 * one, else (for a grpc+tls:// target) the common --tls-* one; --to-tls-cert and --to-tls-key
 * go together. A common TLS option is the source's when the source's URI is grpc+tls://.
 * The target's secret: MALLARD_TO_TOKEN, else MALLARD_TO_PASSWORD, when set; else the source's
 * (with --to-user, not its token). Prints a usage error and returns 2 when a TLS option would
 * reach a plaintext end or only one of --to-tls-cert/--to-tls-key is given; else 0. */
int cli_conn_opts_target(cli_conn_opts *o, cli_conn_opts *to, const char *to_uri,
                         const char *to_user, const char *const to_tls[4]);

/* If argv[*i] is the option `name` ("--name VALUE" or "--name=VALUE"), sets *out to its value
 * and returns 1; returns 0 if it is another argument, -1 (after printing a usage error) if its
 * value is missing. */
int cli_option_value(int argc, char **argv, int *i, const char *name, const char **out);

/* Makes a client for uri (NULL = o->server) without connecting yet: a bad URI or TLS file is a
 * usage error (printed; returns 2). The caller closes *out. */
int cli_open(const cli_conn_opts *o, const char *uri, mallard_client **out);

/* Logs in on a client made by cli_open for o->server (as cli_connect does). Prints one line on
 * failure and returns the exit code. */
int cli_login(const cli_conn_opts *o, mallard_client *client);

/* Asks on the terminal, in one prompt session, for the password of each of a and b (b may be
 * NULL) that needs one (no token, no password variable set, none read yet), into its
 * `password`. Without a terminal, or at its end (Ctrl-D), prints why and returns 2. */
int cli_read_passwords(cli_conn_opts *a, cli_conn_opts *b);

/* Overwrites and frees a secret; sets *secret to NULL. */
void cli_wipe_free(char **secret);

/* Connects to uri (NULL = o->server) and logs in: a pre-issued token (o->token_env,
 * MALLARD_TOKEN) or user + password (o->password_env, MALLARD_PASSWORD, else a no-echo prompt on
 * a terminal). On failure prints one line naming the cause and returns the exit code (3 for
 * connection errors, 1 otherwise). */
int cli_connect(const cli_conn_opts *o, const char *uri, mallard_client **out);

/* cli_connect after waiting up to wait_s seconds for the server to answer at all (for a server
 * that is still starting); if it never does, prints one line saying so and returns 3. */
int cli_connect_wait(const cli_conn_opts *o, const char *uri, double wait_s, mallard_client **out);

/* Prints "mallard <cmd>: <message>" for err and returns the exit code for its status. */
int cli_fail(const char *cmd, const mallard_error *err);
/* Makes msg one line in place (newlines to spaces, hints after a blank line cut); returns it. */
char *cli_one_line(char *msg);

/* Terminal columns: of the UTF-8 code point at s (*cols: 0 for combining marks, 2 for wide
 * East Asian characters and emoji, else 1; the return value is its length in bytes, 1 for a
 * stray byte), and of the whole text s. */
size_t cli_utf8_next(const char *s, size_t *cols);
/* The length in bytes of the character at s[0..n) (n >= 1) when it is one text printed on a
 * terminal must not carry: a C0 control or DEL (1), a C1 control (2: U+009B is a terminal's
 * ESC [), a bidi override or isolate (3: it reorders what follows). 0 for any other. */
size_t cli_unsafe_char_len(const char *s, size_t n);
size_t cli_display_width(const char *s);
/* Writes s padded with spaces to w terminal columns, on the left when right-aligned. */
void cli_print_padded(FILE *out, const char *s, size_t w, bool right);

/* The SQL argument of a command: the text itself, or for "-" everything on stdin (a script
 * file: `mallard execute - < setup.sql`). *owned gets what the caller frees (NULL for the
 * argument itself); returns NULL after printing an error. */
const char *cli_sql_arg(const char *cmd, const char *arg, char **owned);
/* Prints "mallard <cmd>: [<what>: ]<msg as one line>" on stderr. */
void cli_print_error(const char *cmd, const char *what, const char *msg);
/* Exit code for a status: 0 ok, 3 UNAVAILABLE (connection), 1 anything else. */
int cli_exit_code(mallard_code code);
/* Prints a usage error and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Per-call options with the --timeout. */
mallard_call_options cli_call_options(const cli_conn_opts *o);

/* Live progress line on stderr: only on a terminal, not with --quiet, not when CI is set. */
typedef struct cli_progress {
  bool enabled;
  const char *label;
  int64_t rows;
  int64_t bytes;
  double start;
  double last_draw;
  const struct ArrowSchema *schema; /* borrowed, may be NULL: makes the byte count exact */
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, bool quiet);
void cli_progress_add(cli_progress *p, const struct ArrowArray *batch);
void cli_progress_done(cli_progress *p);
double cli_now(void);

/* Bytes of an array's buffers (for MB and MB/s figures): exact for the part the array covers
 * when the schema is known (format strings say each buffer's width), else 8 bytes a value. */
int64_t cli_array_bytes_schema(const struct ArrowSchema *s, const struct ArrowArray *a);
int64_t cli_array_bytes(const struct ArrowArray *a);

/* ---------------------------------------------------------------- local files */

typedef enum cli_format {
  CLI_FORMAT_NONE = 0,
  CLI_FORMAT_TABLE,
  CLI_FORMAT_CSV,
  CLI_FORMAT_JSON,
  CLI_FORMAT_ARROW,
  CLI_FORMAT_PARQUET
} cli_format;

/* "table", "csv", ... -> format (NONE if unknown). */
cli_format cli_format_parse(const char *s);
/* Format from a file name's extension (NONE if unknown). */
cli_format cli_format_from_path(const char *path);

/* Writes the rest of a reader's stream (the reader is moved in and closed) to path (NULL or "-"
 * = stdout) in format. Streams: memory stays bounded except for CLI_FORMAT_TABLE, which shows at
 * most max_rows rows. *rows_out (may be NULL) gets the row count. Prints the error itself;
 * returns the exit code. */
int cli_write_stream(const char *cmd, mallard_reader **reader, cli_format format, const char *path,
                     int64_t max_rows, const cli_conn_opts *o, int64_t *rows_out);

/* The same for any Arrow stream (borrowed: the caller releases it; it is consumed). */
int cli_write_arrow_stream(const char *cmd, struct ArrowArrayStream *src, cli_format format,
                           const char *path, int64_t max_rows, const cli_conn_opts *o,
                           int64_t *rows_out);

/* How to read a CSV file instead of DuckDB's sniffing (`put --delimiter/--header`). */
typedef struct cli_csv_options {
  const char *delimiter; /* NULL = sniffed */
  int header;            /* -1 = sniffed, 0 = no header line, 1 = the first line names columns */
} cli_csv_options;

/* A local file (Parquet, CSV, JSON, Arrow IPC file or stream) as an Arrow stream: the caller
 * releases *out. csv (borrowed, NULL = sniff everything) applies to CSV files only. Prints the
 * error itself and returns the exit code (0 ok). */
int cli_open_local_file(const char *cmd, const char *path, const cli_csv_options *csv,
                        struct ArrowArrayStream *out);

/* Maps the regular file at path read-only into *out (refcount 1; the mapping goes with the last
 * reference), so that Arrow arrays can view it without a copy. Returns 0, ENODEV when path is
 * not a non-empty regular file (read it instead), or another errno. The file must not shrink
 * while mapped (reading a page past its new end is a SIGBUS, as with any mapped file). */
int cli_map_file(const char *path, arrowc_buf **out);

/* The result of SQL run on a fresh embedded (in-memory) DuckDB, as an Arrow stream (same
 * contract as cli_open_local_file). */
int cli_open_local_sql(const char *cmd, const char *sql, struct ArrowArrayStream *out);

/* SQL reading a Parquet/CSV/JSON file `scale` times over, at most limit rows (-1 = all), a CSV
 * file with csv's options (NULL = sniffed); malloc'd, NULL for another format. */
char *cli_local_source_sql(const char *path, int scale, int64_t limit, const cli_csv_options *csv);

#endif /* CLI_CLIENT_H */
