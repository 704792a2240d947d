/* The Mallard service: one srv_server per listen address, wiring the Flight transport, a DuckDB
 * database, auth and the exchanger registry into PROTOCOL.md's handlers. `mallard serve`
 * (src/cli/cmd_serve.c) parses flags into srv_config, starts servers and handles signals.
 *
 * Threading: a server's handlers run on the transport's worker threads; each call gets its own
 * DuckDB connection. A server owns a watchdog thread for --query-timeout. */
#ifndef SRV_H
#define SRV_H

#include "common/mlr_error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum srv_log_format { SRV_LOG_TEXT = 0, SRV_LOG_JSON = 1 } srv_log_format;

/* Where call log lines go (one line per call). Shared by every server of a process; lines are
 * written whole under `lock` so that concurrent calls never interleave. */
typedef struct srv_logger {
  FILE *out; /* NULL = stderr */
  srv_log_format format;
  pthread_mutex_t lock;
} srv_logger;

void srv_logger_init(srv_logger *lg, FILE *out, srv_log_format format);
void srv_logger_destroy(srv_logger *lg);
/* Writes one free-form line (startup and shutdown messages): "level msg". */
void srv_logger_message(srv_logger *lg, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One server's configuration (strings borrowed for the duration of srv_start). */
typedef struct srv_config {
  const char *listen;        /* "host:port" (port 0 = pick one) */
  const char *db_path;       /* NULL = in-memory */
  int threads;               /* DuckDB threads, 0 = default */
  const char *memory_limit;  /* DuckDB memory_limit, NULL = default */
  const char *init_sql_path; /* file of SQL run once at start, NULL = none */
  bool read_only;
  bool arrow_lossless;       /* db_options.arrow_lossless (--arrow-lossless) */
  bool compress;             /* db_options.compress (--compress) */
  bool no_external_access;   /* --no-external-access: DuckDB's enable_external_access off */
  double query_timeout_s;    /* 0 = none */
  int max_sessions;          /* 0 = auth default */
  int max_sessions_per_user; /* 0 = auth default */
  int login_burst;           /* failed-login limiter (auth_options); 0 = auth default */
  int login_per_minute;      /* 0 = auth default */
  int64_t batch_rows;        /* DoGet batch size, 0 = default (65536) */
  int64_t max_message_size;  /* 0 = transport default */
  int max_concurrent_calls;  /* 0 = transport default */
  double idle_timeout_s;     /* a call waiting on its client longer is ended; 0 = never */
  /* auth */
  const char *users_file;
  const char *tokens_file;
  int64_t session_idle_ms;     /* 0 = default */
  int64_t session_lifetime_ms; /* 0 = default */
  bool insecure_default_user;
  /* TLS (PEM contents, loaded once by the caller for every server; NULL = plaintext) */
  const char *tls_cert_pem;
  const char *tls_key_pem;
  const char *tls_client_ca_pem;
  /* exchangers */
  const char *exchanger_dir;
  /* the process's call log (borrowed; must outlive the server) */
  srv_logger *logger;
} srv_config;

typedef struct srv_server srv_server;

/* Opens the database, runs --init-sql, creates auth and the exchanger registry, binds and starts
 * the Flight server. Errors name the flag or file at fault. Ownership: srv_shutdown, srv_free. */
mlr_code srv_start(const srv_config *cfg, srv_server **out, mlr_error *err);
/* The bound port (useful with port 0). */
int srv_port(const srv_server *s);
/* "grpc://host:port" or "grpc+tls://host:port" with the bound port. */
const char *srv_url(const srv_server *s);
/* Stops accepting calls, lets running calls finish within grace_seconds, cancels the rest,
 * then closes the database (a persistent one is checkpointed): when it returns, what the server
 * acknowledged is on disk, though gRPC may still be closing connections. Idempotent; safe to
 * call from any thread (not from a handler). */
void srv_shutdown(srv_server *s, double grace_seconds);
/* Waits for gRPC to finish closing connections and frees everything. Calls srv_shutdown first
 * (with no grace) if it has not run. */
void srv_free(srv_server *s);

/* ---------------------------------------------------------------- helpers (unit-tested) */

/* 64-bit FNV-1a of the text as 16 lowercase hex digits (how the log names a query without
 * writing its text). out needs 17 bytes. */
void srv_query_hash(const char *text, size_t len, char out[17]);

/* True when len bytes are valid UTF-8 without NUL bytes. */
bool srv_valid_utf8(const char *s, size_t len);

typedef enum srv_put_mode {
  SRV_PUT_CREATE_OR_APPEND = 0,
  SRV_PUT_APPEND = 1,
  SRV_PUT_CREATE = 2,
  SRV_PUT_REPLACE = 3
} srv_put_mode;

/* A DoPut target from its descriptor. schema is NULL for the default schema. */
typedef struct srv_put_target {
  char *schema;
  char *table;
  srv_put_mode mode;
} srv_put_target;

/* Parses a DoPut CMD body: {"table": "name", "mode": "append"|"create"|"replace"|
 * "create_or_append"} (mode defaults to create_or_append; an optional "schema" names the
 * schema). INVALID_ARGUMENT for bad JSON, a missing/empty table, an unknown mode or key types.
 * Ownership: srv_put_target_release. */
mlr_code srv_parse_put_command(const uint8_t *cmd, size_t len, srv_put_target *out, mlr_error *err);
/* A PATH descriptor: [table] or [schema, table]. */
mlr_code srv_parse_path(char *const *path, size_t n_path, srv_put_target *out, mlr_error *err);
void srv_put_target_release(srv_put_target *t);

/* The facts of one finished call, for the log line. Strings may be NULL. */
typedef struct srv_call_record {
  const char *server; /* the server's listen address */
  const char *peer;
  const char *user;
  const char *rpc;    /* "DoGet", "DoAction" */
  const char *action; /* DoAction type */
  const char *table;
  const char *query_hash;
  const char *exchanger;
  int64_t rows; /* -1 = not applicable */
  int64_t bytes;
  double duration_ms; /* < 0 = unknown */
  mlr_code status;
  const char *message; /* for errors */
} srv_call_record;

/* Formats one log line (with trailing newline) into *out (caller frees). Text: key=value pairs,
 * values with spaces or quotes quoted; JSON: one object. Returns NULL if out of memory. */
char *srv_format_call_record(const srv_call_record *r, srv_log_format format, double unix_time);

#endif /* SRV_H */
