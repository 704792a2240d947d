/* `mallard demo`: the prototype's walkthrough against two running servers (wait for both, a
 * query, foo created and transferred and verified, the flights data loaded, transferred with
 * timing, run through the `processed` exchanger and a SQL exchanger registered on the spot). */
#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_pump.h"
#include "common/mlr_error.h"

#include <stdlib.h>
#include <string.h>

#define DEMO_SERVER2 "grpc://127.0.0.1:8816"
#define DEMO_DATA "data/flights-3m.parquet"

typedef struct demo {
  cli_conn_opts o;
  const char *uri1, *uri2, *data;
  int64_t rows; /* -1 = the whole file */
  double wait_s;
  mallard_client *c1, *c2;
  mallard_call_options call;
  int step;
  double t0;
} demo;

static void usage(FILE *out) {
  fprintf(out,
          "usage: mallard demo [--server1 URI] [--server2 URI] [--data FILE] [--rows N]\n"
          "                    [--wait SECONDS] [options]\n\n"
          "The walkthrough of Mallard against two running servers (`mallard serve` starts\n"
          "them): waits for both, runs a query, creates and fills `foo` on server 1, transfers\n"
          "it to server 2 and checks it is equal, loads the flights data into server 1,\n"
          "transfers it to server 2 with timing, and streams it through the `processed`\n"
          "exchanger and a SQL exchanger registered on the spot. Exits 1 if a step fails.\n"
          "It replaces the tables foo and flights on both servers: use servers that hold\n"
          "nothing else.\n\n"
          "  --server1 URI      first server (default %s)\n"
          "  --server2 URI      second server (default %s)\n"
          "  --data FILE        the data to load (default %s)\n"
          "  --rows N           load only the first N rows (a smaller, faster demo)\n"
          "  --wait SECONDS     how long to wait for the servers (default 30)\n\n"
          "The password defaults to password123 (the servers' default user) unless\n"
          "MALLARD_PASSWORD or MALLARD_TOKEN is set.\n\n",
          CLI_DEFAULT_SERVER, DEMO_SERVER2, DEMO_DATA);
  cli_conn_opts_help(out);
}

static void step(demo *d, const char *fmt, const char *what) {
  printf("\n[%d] %s%s\n", ++d->step, fmt, what != NULL ? what : "");
  fflush(stdout);
}

static int fail(demo *d, const mallard_error *err) {
  fflush(stdout);
  fprintf(stderr, "mallard demo: step %d failed: %s: ", d->step, mallard_code_name(err->code));
  for (const char *p = err->message; *p != '\0'; p++) fputc(*p == '\n' ? ' ' : *p, stderr);
  fputc('\n', stderr);
  return cli_exit_code(err->code) == CLI_EXIT_CONNECT ? CLI_EXIT_CONNECT : CLI_EXIT_ERROR;
}

static int fail_msg(demo *d, const char *msg) {
  fflush(stdout);
  fprintf(stderr, "mallard demo: step %d failed: %s\n", d->step, msg);
  return CLI_EXIT_ERROR;
}

/* Runs a DoAction and returns its first result's text (caller releases) in *out. */
static mallard_code action(demo *d, mallard_client *c, const char *type, const char *body,
                           mallard_bytes *out, mallard_error *err) {
  mallard_result_list res = {0};
  mallard_code rc =
      mallard_client_do_action(c, &d->call, type, body, body ? strlen(body) : 0, &res, err);
  if (rc == MALLARD_OK && out != NULL && res.n_results > 0) {
    *out = res.results[0];
    res.results[0].data = NULL;
    res.results[0].len = 0;
  }
  mallard_result_list_release(&res);
  return rc;
}

/* The first row of a query whose columns are all BIGINT, into vals[0..n). */
static mallard_code query_ints(demo *d, mallard_client *c, const char *sql, int64_t *vals, int n,
                               mallard_error *err) {
  cli_batches keep;
  memset(&keep, 0, sizeof keep);
  mallard_code rc = cli_drain_get(c, &d->call, sql, NULL, NULL, &keep, err);
  if (rc == MALLARD_OK) {
    if (keep.n == 0 || keep.a[0].length < 1 || keep.a[0].n_children < n) {
      rc = mlr_error_set((mlr_error *)err, MALLARD_INTERNAL, "'%s' answered no row", sql);
    } else {
      for (int i = 0; i < n; i++) {
        const struct ArrowArray *col = keep.a[0].children[i];
        if (strcmp(keep.schema.children[i]->format, "l") != 0 || col->n_buffers < 2) {
          rc = mlr_error_set((mlr_error *)err, MALLARD_INTERNAL, "'%s': not a BIGINT", sql);
          break;
        }
        vals[i] = ((const int64_t *)col->buffers[1])[col->offset];
      }
    }
  }
  cli_batches_free(&keep);
  return rc;
}

/* count and an order-independent checksum of a table on one server. */
static mallard_code table_digest(demo *d, mallard_client *c, const char *table, const char *cols,
                                 int64_t out[2], mallard_error *err) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT count(*)::BIGINT AS n, coalesce(sum(hash(%s)) %% 9223372036854775807, "
           "0)::BIGINT AS checksum FROM %s",
           cols, table);
  return query_ints(d, c, sql, out, 2, err);
}

static int verify_equal(demo *d, const char *table, const char *cols) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  int64_t a[2], b[2];
  if (table_digest(d, d->c1, table, cols, a, &err) != MALLARD_OK) return fail(d, &err);
  if (table_digest(d, d->c2, table, cols, b, &err) != MALLARD_OK) return fail(d, &err);
  if (a[0] != b[0] || a[1] != b[1]) {
    printf("    server 1: %lld rows, checksum %lld; server 2: %lld rows, checksum %lld\n",
           (long long)a[0], (long long)a[1], (long long)b[0], (long long)b[1]);
    return fail_msg(d, "the two copies differ");
  }
  printf("    verified: both servers hold %lld rows with checksum %016llx\n", (long long)a[0],
         (unsigned long long)a[1]);
  return CLI_EXIT_OK;
}

static void rate_line(const char *what, int64_t rows, int64_t bytes, double el) {
  printf("    %s %lld rows (%.1f MB) in %.2f s: %.0f rows/s, %.1f MB/s\n", what, (long long)rows,
         (double)bytes / 1e6, el, el > 0 ? (double)rows / el : 0.0,
         el > 0 ? (double)bytes / 1e6 / el : 0.0);
}

/* Streams a DoGet of sql on server 1 into table on server 2 (transfer, replace mode). */
static int transfer(demo *d, const char *sql, const char *table, int64_t *rows, int64_t *bytes) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_reader *r = NULL;
  struct ArrowArrayStream src;
  memset(&src, 0, sizeof src);
  mallard_code rc = mallard_client_do_get(d->c1, &d->call, sql, strlen(sql), &r, &err);
  if (rc == MALLARD_OK) rc = mallard_reader_export(&r, &src, &err);
  if (rc != MALLARD_OK) {
    mallard_reader_close(&r, NULL);
    return fail(d, &err);
  }
  char *json = cli_put_command(NULL, table, "replace");
  mallard_descriptor desc = mallard_descriptor_command(json, 0);
  int ec = cli_pump_put("demo", d->c2, &d->call, &desc, &src, "transfer", d->o.quiet, rows, bytes);
  free(json);
  src.release(&src);
  return ec;
}

static int run_steps(demo *d) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_bytes res = {0};
  int ec;

  step(d, "waiting for both servers", NULL);
  double t = cli_now();
  ec = cli_connect_wait(&d->o, d->uri1, d->wait_s, &d->c1);
  if (ec != CLI_EXIT_OK) return ec;
  ec = cli_connect_wait(&d->o, d->uri2, d->wait_s - (cli_now() - t), &d->c2);
  if (ec != CLI_EXIT_OK) return ec;
  for (int i = 0; i < 2; i++) {
    if (action(d, i == 0 ? d->c1 : d->c2, "ping", NULL, &res, &err) != MALLARD_OK)
      return fail(d, &err);
    printf("    server %d %s: %s\n", i + 1, i == 0 ? d->uri1 : d->uri2,
           res.data ? (const char *)res.data : "");
    mallard_bytes_release(&res);
  }
  printf("    both up and logged in after %.2f s\n", cli_now() - t);

  step(d, "a simple query on server 1", NULL);
  const char *q = "SELECT 42 AS answer, 'hello from DuckDB ' || version() AS greeting";
  printf("    %s\n", q);
  mallard_reader *r = NULL;
  if (mallard_client_do_get(d->c1, &d->call, q, strlen(q), &r, &err) != MALLARD_OK)
    return fail(d, &err);
  cli_conn_opts quiet = d->o;
  quiet.quiet = true;
  fflush(stdout);
  ec = cli_write_stream("demo", &r, CLI_FORMAT_TABLE, NULL, 10, &quiet, NULL);
  if (ec != CLI_EXIT_OK) return ec;

  step(d, "create and fill table foo on server 1", NULL);
  const char *ddl[] = {
      "DROP TABLE IF EXISTS foo",
      "CREATE TABLE foo (id INTEGER, name VARCHAR, value DOUBLE, day DATE)",
      ("INSERT INTO foo SELECT i, 'item ' || i, round(i * 1.5, 1), DATE '2024-01-01' + "
       "i::INTEGER FROM range(1000) t(i)"),
  };
  for (size_t i = 0; i < sizeof ddl / sizeof ddl[0]; i++) {
    if (action(d, d->c1, "execute", ddl[i], &res, &err) != MALLARD_OK) return fail(d, &err);
    printf("    %-60.60s -> %s\n", ddl[i], res.data ? (const char *)res.data : "");
    mallard_bytes_release(&res);
  }

  step(d, "transfer foo to server 2 and verify it is equal", NULL);
  int64_t rows = 0, bytes = 0;
  t = cli_now();
  ec = transfer(d, "SELECT * FROM foo", "foo", &rows, &bytes);
  if (ec != CLI_EXIT_OK) return ec;
  rate_line("transferred", rows, bytes, cli_now() - t);
  ec = verify_equal(d, "foo", "id, name, value, day");
  if (ec != CLI_EXIT_OK) return ec;

  step(d, "load into server 1 (table flights): ", d->data);
  char *sql = cli_local_source_sql(d->data, 1, d->rows, NULL);
  if (sql == NULL) return fail_msg(d, "--data must be a .parquet, .csv or .json file");
  struct ArrowArrayStream src;
  memset(&src, 0, sizeof src);
  ec = cli_open_local_sql("demo", sql, &src);
  free(sql);
  if (ec != CLI_EXIT_OK) return ec;
  char *json = cli_put_command(NULL, "flights", "replace");
  mallard_descriptor desc = mallard_descriptor_command(json, 0);
  t = cli_now();
  ec = cli_pump_put("demo", d->c1, &d->call, &desc, &src, "load", d->o.quiet, &rows, &bytes);
  free(json);
  src.release(&src);
  if (ec != CLI_EXIT_OK) return ec;
  rate_line("loaded", rows, bytes, cli_now() - t);
  int64_t n_flights = rows;

  step(d, "transfer flights from server 1 to server 2 (timed)", NULL);
  t = cli_now();
  ec = transfer(d, "SELECT * FROM flights", "flights", &rows, &bytes);
  if (ec != CLI_EXIT_OK) return ec;
  rate_line("transferred", rows, bytes, cli_now() - t);
  ec = verify_equal(d, "flights", "date, delay, distance, origin, destination");
  if (ec != CLI_EXIT_OK) return ec;

  step(d, "stream flights through the built-in `processed` exchanger on server 1", NULL);
  const char *fq = "SELECT * FROM flights";
  r = NULL;
  memset(&src, 0, sizeof src);
  if (mallard_client_do_get(d->c1, &d->call, fq, strlen(fq), &r, &err) != MALLARD_OK ||
      mallard_reader_export(&r, &src, &err) != MALLARD_OK) {
    mallard_reader_close(&r, NULL);
    return fail(d, &err);
  }
  struct ArrowSchema out_schema;
  memset(&out_schema, 0, sizeof out_schema);
  t = cli_now();
  mallard_code rc = cli_exchange_stream(d->c1, &d->call, "processed", &src, &rows, &bytes, NULL,
                                        &out_schema, &err);
  double el = cli_now() - t;
  src.release(&src);
  if (rc != MALLARD_OK) return fail(d, &err);
  bool has_col = out_schema.n_children > 0 &&
                 strcmp(out_schema.children[out_schema.n_children - 1]->name, "processed") == 0 &&
                 strcmp(out_schema.children[out_schema.n_children - 1]->format, "b") == 0;
  int64_t n_cols = out_schema.n_children;
  out_schema.release(&out_schema);
  rate_line("exchanged", rows, bytes, el);
  if (!has_col) return fail_msg(d, "the answer has no BOOLEAN column `processed` at the end");
  if (rows != n_flights) return fail_msg(d, "the exchange answered a different number of rows");
  printf("    the answer has %lld columns, the last one `processed` (BOOLEAN)\n",
         (long long)n_cols);

  step(d, "register a SQL exchanger on server 1 and stream flights through it", NULL);
  const char *reg = "{\"name\": \"demo_busiest_origins\", \"mode\": \"stream_end\", "
                    "\"replace\": true, \"sql\": \"SELECT origin, count(*) AS flights, "
                    "round(avg(delay), 2) AS avg_delay FROM input GROUP BY origin "
                    "ORDER BY flights DESC, origin LIMIT 5\"}";
  if (action(d, d->c1, "register_exchanger", reg, &res, &err) != MALLARD_OK) return fail(d, &err);
  printf("    register_exchanger -> %s\n", res.data ? (const char *)res.data : "");
  mallard_bytes_release(&res);
  r = NULL;
  memset(&src, 0, sizeof src);
  if (mallard_client_do_get(d->c1, &d->call, fq, strlen(fq), &r, &err) != MALLARD_OK ||
      mallard_reader_export(&r, &src, &err) != MALLARD_OK) {
    mallard_reader_close(&r, NULL);
    return fail(d, &err);
  }
  cli_batches keep;
  memset(&keep, 0, sizeof keep);
  t = cli_now();
  rc = cli_exchange_stream(d->c1, &d->call, "demo_busiest_origins", &src, &rows, &bytes, &keep,
                           NULL, &err);
  el = cli_now() - t;
  src.release(&src);
  if (rc != MALLARD_OK) {
    cli_batches_free(&keep);
    return fail(d, &err);
  }
  printf("    %lld input rows aggregated in %.2f s (%.0f rows/s); the 5 busiest origins:\n",
         (long long)n_flights, el, el > 0 ? (double)n_flights / el : 0.0);
  fflush(stdout);
  if (keep.schema.release == NULL) {
    cli_batches_free(&keep);
    return fail_msg(d, "the exchanger answered nothing");
  }
  struct ArrowArrayStream kept;
  cli_batches_stream(&keep, &kept);
  ec = cli_write_arrow_stream("demo", &kept, CLI_FORMAT_TABLE, NULL, 10, &quiet, NULL);
  cli_batches_free(&keep);
  return ec;
}

int cli_cmd_demo(int argc, char **argv) {
  const char *cmd = "demo";
  demo d;
  memset(&d, 0, sizeof d);
  cli_conn_opts_init(&d.o);
  d.uri1 = CLI_DEFAULT_SERVER;
  d.uri2 = DEMO_SERVER2;
  d.data = DEMO_DATA;
  d.rows = -1;
  d.wait_s = 30;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return CLI_EXIT_OK;
    }
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--server1") == 0 && has_value) {
      d.uri1 = argv[++i];
    } else if (strcmp(a, "--server2") == 0 && has_value) {
      d.uri2 = argv[++i];
    } else if (strcmp(a, "--data") == 0 && has_value) {
      d.data = argv[++i];
    } else if ((strcmp(a, "--rows") == 0 || strcmp(a, "--wait") == 0) && has_value) {
      char *end = NULL;
      const char *v = argv[++i];
      double x = strtod(v, &end);
      if (end == v || *end != '\0' || x < 0)
        return cli_usage_error(cmd, "%s needs a non-negative number, not '%s'", a, v);
      if (a[2] == 'r')
        d.rows = (int64_t)x;
      else
        d.wait_s = x;
    } else {
      int r = cli_conn_opts_parse(&d.o, argc, argv, &i);
      if (r < 0) return CLI_EXIT_USAGE;
      if (r == 0 && a[0] == '-') return cli_usage_error(cmd, "unknown option '%s'", a);
      if (r == 0) return cli_usage_error(cmd, "unexpected argument '%s'", a);
    }
  }
  const char *pw = getenv("MALLARD_PASSWORD"), *tok = getenv("MALLARD_TOKEN");
  if ((pw == NULL || *pw == '\0') && (tok == NULL || *tok == '\0'))
    setenv("MALLARD_PASSWORD", "password123", 1);
  d.call = cli_call_options(&d.o);

  printf("Mallard demo: server 1 %s, server 2 %s\n", d.uri1, d.uri2);
  d.t0 = cli_now();
  int ec = run_steps(&d);
  mallard_client_close(&d.c1);
  mallard_client_close(&d.c2);
  if (ec == CLI_EXIT_OK)
    printf("\ndemo finished: all %d steps passed in %.2f s\n", d.step, cli_now() - d.t0);
  else
    fprintf(stderr, "mallard demo: stopped at step %d of 8 (exit %d)\n", d.step, ec);
  return ec;
}
