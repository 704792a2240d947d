/* `mallard bench`: the prototype's benchmark table (GET, PUT, total) plus EXCHANGE and TRANSFER,
 * rows/s, MB/s and the servers' peak RSS, with medians over --repeat runs and --json output. */
#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_pump.h"
#include "common/mlr_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_SERVER2 "grpc://127.0.0.1:8816"
#define BENCH_DATA "data/flights-3m.parquet"
#define BENCH_MAX_PIDS 8
#define BENCH_MAX_REPEAT 100

enum { M_GET, M_PUT, M_TOTAL, M_EXCHANGE, M_TRANSFER, M_COUNT };
static const char *const METRIC_NAMES[M_COUNT] = {"GET", "PUT", "Total (GET+PUT)", "EXCHANGE",
                                                  "TRANSFER"};
static const char *const METRIC_KEYS[M_COUNT] = {"get", "put", "total", "exchange", "transfer"};

typedef struct bench {
  cli_conn_opts o;
  const char *uri1, *uri2, *data;
  int64_t rows; /* -1 = scale x the whole file */
  int scale, repeat;
  bool json;
  long pids[BENCH_MAX_PIDS];
  int n_pids;
  mallard_client *c1, *c2;
  mallard_call_options call;
  double times[M_COUNT][BENCH_MAX_REPEAT];
  /* CPU seconds spent during each measure: this process (all its threads) and the --server-pid
   * processes together (-1: no --server-pid, or one could not be read). */
  double client_cpu[M_COUNT][BENCH_MAX_REPEAT], server_cpu[M_COUNT][BENCH_MAX_REPEAT];
  int64_t n_rows, n_bytes;
  double load_s;
  double settle_s[BENCH_MAX_REPEAT]; /* waiting for the servers' background work, per run */
} bench;

static void usage(FILE *out) {
  fprintf(out,
          "usage: mallard bench [--server1 URI] [--server2 URI] [--rows N | --scale K]\n"
          "                     [--repeat N] [--json] [--server-pid PID]... [options]\n\n"
          "Loads the flights data (scaled x8, ~24M rows, by default) into server 1, then\n"
          "times, as the prototype did: GET (server 1's table read whole into the client),\n"
          "PUT (those batches sent into a table on server 2) and their total; plus EXCHANGE\n"
          "(the batches through the `processed` exchanger on server 1) and TRANSFER (server 1\n"
          "to server 2 streamed through the client). Prints time, rows/s, MB/s (Arrow buffer\n"
          "bytes) and the servers' peak RSS (VmHWM of the --server-pid processes, which must be\n"
          "local; n/a without). Each measure starts once those processes are idle (under 10%%\n"
          "of a core for 0.75 s, at most 120 s), so that background work of one step, such as\n"
          "`mallard serve` compressing what a load wrote, is not timed in the next: the\n"
          "waits are reported apart. Also reports the CPU seconds each measure cost this client\n"
          "and the --server-pid processes. Needs memory for the data once on the client.\n\n"
          "  --server1 URI       source server (default %s)\n"
          "  --server2 URI       target server (default %s)\n"
          "  --data FILE         Parquet/CSV/JSON data (default %s)\n"
          "  --scale K           the file K times over (default 8)\n"
          "  --rows N            exactly N rows (the file repeated as needed)\n"
          "  --repeat N          runs per measure: the median and the spread (default 1)\n"
          "  --json              one JSON object on stdout instead of the table\n"
          "  --server-pid PID    a local server process to report the peak RSS and CPU of\n\n",
          CLI_DEFAULT_SERVER, BENCH_SERVER2, BENCH_DATA);
  cli_conn_opts_help(out);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct stat3 {
  double median, min, max;
} stat3;

static stat3 stats(const double *v, int n) {
  double s[BENCH_MAX_REPEAT];
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  stat3 r = {n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]};
  return r;
}

/* VmHWM of a local process in bytes, -1 if unknown. */
static int64_t peak_rss(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  char line[256];
  int64_t kb = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    long long v;
    if (sscanf(line, "VmHWM: %lld kB", &v) == 1) kb = v;
  }
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

/* User + system CPU seconds of a process so far; -1 if it cannot be read. */
static double proc_cpu_s(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long long ut = 0, st = 0;
  if (p == NULL ||
      sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* User + system CPU seconds of this process so far (every thread). */
static double self_cpu_s(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the --server-pid processes together so far; -1 without any or if one cannot
 * be read. */
static double servers_cpu_s(const bench *b) {
  double sum = 0;
  for (int i = 0; i < b->n_pids; i++) {
    double v = proc_cpu_s(b->pids[i]);
    if (v < 0) return -1;
    sum += v;
  }
  return b->n_pids > 0 ? sum : -1;
}

/* One measure's clock and CPU readings. */
typedef struct meter {
  double t, client, servers;
} meter;

static meter meter_start(const bench *b) {
  meter m = {cli_now(), self_cpu_s(), servers_cpu_s(b)};
  return m;
}

/* a + b, or -1 (unknown) if either is. */
static double sum_known(double a, double b) {
  return a < 0 || b < 0 ? -1 : a + b;
}

/* Records the time and CPU since start as measure `metric` of run k. */
static void meter_stop(bench *b, const meter *start, int metric, int k) {
  meter end = meter_start(b);
  b->times[metric][k] = end.t - start->t;
  b->client_cpu[metric][k] =
      start->client >= 0 && end.client >= 0 ? end.client - start->client : -1;
  b->server_cpu[metric][k] =
      start->servers >= 0 && end.servers >= 0 ? end.servers - start->servers : -1;
}

/* Waits until every --server-pid process has used under 10% of a core in each of three 0.25 s
 * windows in a row (or 120 s passed); returns the seconds waited. `mallard serve` starts
 * compressing what a load wrote 0.05-0.3 s after the load returns: one quiet window could end
 * before that, and the next measure would run beside the compression. */
static double settle(const bench *b) {
  double t0 = cli_now();
  for (int quiet = 0; b->n_pids > 0 && quiet < 3 && cli_now() - t0 < 120;) {
    double before[BENCH_MAX_PIDS];
    for (int i = 0; i < b->n_pids; i++) before[i] = proc_cpu_s(b->pids[i]);
    struct timespec ts = {0, 250 * 1000000L};
    nanosleep(&ts, NULL);
    bool idle = true;
    for (int i = 0; i < b->n_pids; i++) {
      double now = proc_cpu_s(b->pids[i]);
      if (before[i] >= 0 && now >= 0 && now - before[i] > 0.025) idle = false;
    }
    quiet = idle ? quiet + 1 : 0;
  }
  return cli_now() - t0;
}

static int fail(const char *what, const mallard_error *err) {
  fprintf(stderr, "mallard bench: %s: %s: ", what, mallard_code_name(err->code));
  for (const char *p = err->message; *p != '\0'; p++) fputc(*p == '\n' ? ' ' : *p, stderr);
  fputc('\n', stderr);
  return cli_exit_code(err->code);
}

static int put_batches(bench *b, cli_batches *batches, const char *table) {
  struct ArrowArrayStream s;
  cli_batches_stream(batches, &s);
  char *json = cli_put_command(NULL, table, "replace");
  mallard_descriptor desc = mallard_descriptor_command(json, 0);
  int ec = cli_pump_put("bench", b->c2, &b->call, &desc, &s, "put", true, NULL, NULL);
  free(json);
  s.release(&s);
  return ec;
}

static int one_run(bench *b, int k) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  cli_batches batches;
  memset(&batches, 0, sizeof batches);
  int64_t rows = 0, bytes = 0;
  int ec = CLI_EXIT_OK;

  double waited = settle(b);
  meter mt = meter_start(b);
  mallard_code rc =
      cli_drain_get(b->c1, &b->call, "SELECT * FROM bench_flights", &rows, &bytes, &batches, &err);
  meter_stop(b, &mt, M_GET, k);
  if (rc != MALLARD_OK) {
    ec = fail("GET", &err);
    goto done;
  }
  b->n_rows = rows;
  b->n_bytes = bytes;

  waited += settle(b);
  mt = meter_start(b);
  ec = put_batches(b, &batches, "bench_put");
  meter_stop(b, &mt, M_PUT, k);
  if (ec != CLI_EXIT_OK) goto done;
  b->times[M_TOTAL][k] = b->times[M_GET][k] + b->times[M_PUT][k];
  b->client_cpu[M_TOTAL][k] = sum_known(b->client_cpu[M_GET][k], b->client_cpu[M_PUT][k]);
  b->server_cpu[M_TOTAL][k] = sum_known(b->server_cpu[M_GET][k], b->server_cpu[M_PUT][k]);

  struct ArrowArrayStream s;
  cli_batches_stream(&batches, &s);
  waited += settle(b);
  mt = meter_start(b);
  rc = cli_exchange_stream(b->c1, &b->call, "processed", &s, &rows, NULL, NULL, NULL, &err);
  meter_stop(b, &mt, M_EXCHANGE, k);
  s.release(&s);
  if (rc != MALLARD_OK) {
    ec = fail("EXCHANGE", &err);
    goto done;
  }
  if (rows != b->n_rows) {
    fprintf(stderr, "mallard bench: EXCHANGE answered %lld rows for %lld\n", (long long)rows,
            (long long)b->n_rows);
    ec = CLI_EXIT_ERROR;
    goto done;
  }
  cli_batches_free(&batches);

  const char *sql = "SELECT * FROM bench_flights";
  mallard_reader *r = NULL;
  struct ArrowArrayStream src;
  memset(&src, 0, sizeof src);
  waited += settle(b);
  mt = meter_start(b);
  rc = mallard_client_do_get(b->c1, &b->call, sql, strlen(sql), &r, &err);
  if (rc == MALLARD_OK) rc = mallard_reader_export(&r, &src, &err);
  if (rc != MALLARD_OK) {
    mallard_reader_close(&r, NULL);
    ec = fail("TRANSFER", &err);
    goto done;
  }
  char *json = cli_put_command(NULL, "bench_transfer", "replace");
  mallard_descriptor desc = mallard_descriptor_command(json, 0);
  ec = cli_pump_put("bench", b->c2, &b->call, &desc, &src, "transfer", true, &rows, NULL);
  meter_stop(b, &mt, M_TRANSFER, k);
  free(json);
  src.release(&src);
  waited += settle(b); /* what the transfer left to do */
  b->settle_s[k] = waited;
done:
  cli_batches_free(&batches);
  return ec;
}

/* The median of n CPU readings, -1 if any of them is unknown. */
static double cpu_median(const double *v, int n) {
  for (int i = 0; i < n; i++)
    if (v[i] < 0) return -1;
  return stats(v, n).median;
}

/* Prints a CPU median as JSON: a number, or null when unknown. */
static void json_cpu(const char *key, double v) {
  if (v < 0)
    printf(", \"%s\": null", key);
  else
    printf(", \"%s\": %.3f", key, v);
}

static void report(const bench *b) {
  stat3 st[M_COUNT];
  double ccpu[M_COUNT], scpu[M_COUNT];
  for (int m = 0; m < M_COUNT; m++) {
    st[m] = stats(b->times[m], b->repeat);
    ccpu[m] = cpu_median(b->client_cpu[m], b->repeat);
    scpu[m] = cpu_median(b->server_cpu[m], b->repeat);
  }
  double mb = (double)b->n_bytes / 1e6;
  stat3 idle = stats(b->settle_s, b->repeat);
  if (b->json) {
    printf("{\"system\": \"mallard\", \"server1\": \"%s\", \"server2\": \"%s\", \"rows\": %lld, "
           "\"bytes\": %lld, \"repeat\": %d, \"load_s\": %.4f, \"results\": {",
           b->uri1, b->uri2, (long long)b->n_rows, (long long)b->n_bytes, b->repeat, b->load_s);
    for (int m = 0; m < M_COUNT; m++) {
      double med = st[m].median;
      printf("%s\"%s\": {\"median_s\": %.4f, \"min_s\": %.4f, \"max_s\": %.4f, \"rows_per_s\": "
             "%.0f, \"mb_per_s\": %.1f",
             m ? ", " : "", METRIC_KEYS[m], med, st[m].min, st[m].max,
             med > 0 ? (double)b->n_rows / med : 0.0, med > 0 ? mb / med : 0.0);
      json_cpu("client_cpu_s", ccpu[m]);
      json_cpu("server_cpu_s", scpu[m]);
      printf("}");
    }
    printf("}, \"settle_s\": {\"median_s\": %.4f, \"min_s\": %.4f, \"max_s\": %.4f}", idle.median,
           idle.min, idle.max);
    printf(", \"peak_rss_bytes\": {");
    for (int i = 0; i < b->n_pids; i++)
      printf("%s\"%ld\": %lld", i ? ", " : "", b->pids[i], (long long)peak_rss(b->pids[i]));
    printf("}}\n");
    return;
  }
  printf("\n%lld rows, %.1f MB of Arrow data; loaded into server 1 in %.2f s; %s%d run%s\n\n",
         (long long)b->n_rows, mb, b->load_s, b->repeat > 1 ? "median of " : "", b->repeat,
         b->repeat > 1 ? "s" : "");
  printf("| Metric          | Time (s) | Spread (s)    | Throughput (rows/s) | MB/s   | CPU s: "
         "client / servers |\n");
  printf("| --------------- | -------- | ------------- | ------------------- | ------ | "
         "------------------------ |\n");
  for (int m = 0; m < M_COUNT; m++) {
    double med = st[m].median;
    char spread[32], cpu[48], srv[16];
    snprintf(spread, sizeof spread, "%.2f-%.2f", st[m].min, st[m].max);
    if (scpu[m] < 0)
      snprintf(srv, sizeof srv, "n/a");
    else
      snprintf(srv, sizeof srv, "%.2f", scpu[m]);
    snprintf(cpu, sizeof cpu, "%.2f / %s", ccpu[m] < 0 ? 0.0 : ccpu[m], srv);
    printf("| %-15s | %8.2f | %-13s | %19.0f | %6.1f | %-24s |\n", METRIC_NAMES[m], med,
           b->repeat > 1 ? spread : "-", med > 0 ? (double)b->n_rows / med : 0.0,
           med > 0 ? mb / med : 0.0, cpu);
  }
  if (b->n_pids > 0)
    printf("\nwaits for the servers to go idle between measures (background work): %.2f s per "
           "run (median)\n",
           idle.median);
  printf("\npeak server RSS: ");
  if (b->n_pids == 0) printf("n/a (give --server-pid PID for a local server)");
  for (int i = 0; i < b->n_pids; i++) {
    int64_t r = peak_rss(b->pids[i]);
    if (r < 0)
      printf("%spid %ld n/a", i ? ", " : "", b->pids[i]);
    else
      printf("%spid %ld %.0f MB", i ? ", " : "", b->pids[i], (double)r / 1e6);
  }
  printf("\n");
}

static int run(bench *b) {
  int ec = cli_connect_wait(&b->o, b->uri1, 10, &b->c1);
  if (ec == CLI_EXIT_OK) ec = cli_connect_wait(&b->o, b->uri2, 10, &b->c2);
  if (ec != CLI_EXIT_OK) return ec;
  int scale = b->scale;
  if (b->rows >= 0) scale = (int)(b->rows / 3000000 + 1); /* enough copies; LIMIT trims */
  char *sql = cli_local_source_sql(b->data, scale, b->rows, NULL);
  if (sql == NULL) {
    fprintf(stderr, "mallard bench: --data must be a .parquet, .csv or .json file\n");
    return CLI_EXIT_USAGE;
  }
  struct ArrowArrayStream src;
  memset(&src, 0, sizeof src);
  ec = cli_open_local_sql("bench", sql, &src);
  free(sql);
  if (ec != CLI_EXIT_OK) return ec;
  char *json = cli_put_command(NULL, "bench_flights", "replace");
  mallard_descriptor desc = mallard_descriptor_command(json, 0);
  if (!b->json) fprintf(stderr, "loading %s x%d into server 1...\n", b->data, scale);
  double t = cli_now();
  ec = cli_pump_put("bench", b->c1, &b->call, &desc, &src, "load", b->o.quiet || b->json, NULL,
                    NULL);
  b->load_s = cli_now() - t;
  free(json);
  src.release(&src);
  for (int k = 0; ec == CLI_EXIT_OK && k < b->repeat; k++) {
    if (!b->json) fprintf(stderr, "run %d of %d...\n", k + 1, b->repeat);
    ec = one_run(b, k);
  }
  if (ec == CLI_EXIT_OK) report(b);
  /* Leave the servers as they were. */
  const char *drops[][2] = {{"1", "bench_flights"}, {"2", "bench_put"}, {"2", "bench_transfer"}};
  for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
    char body[64];
    snprintf(body, sizeof body, "DROP TABLE IF EXISTS %s", drops[i][1]);
    mallard_result_list res = {0};
    mallard_client_do_action(drops[i][0][0] == '1' ? b->c1 : b->c2, &b->call, "execute", body,
                             strlen(body), &res, NULL);
    mallard_result_list_release(&res);
  }
  return ec;
}

int cli_cmd_bench(int argc, char **argv) {
  const char *cmd = "bench";
  bench *b = calloc(1, sizeof *b);
  if (b == NULL) return CLI_EXIT_ERROR;
  cli_conn_opts_init(&b->o);
  b->uri1 = CLI_DEFAULT_SERVER;
  b->uri2 = BENCH_SERVER2;
  b->data = BENCH_DATA;
  b->rows = -1;
  b->scale = 8;
  b->repeat = 1;
  int ec = CLI_EXIT_OK;
  for (int i = 1; i < argc && ec == CLI_EXIT_OK; i++) {
    const char *a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      free(b);
      return CLI_EXIT_OK;
    } else if (strcmp(a, "--json") == 0) {
      b->json = true;
    } else if (strcmp(a, "--server1") == 0 && has_value) {
      b->uri1 = argv[++i];
    } else if (strcmp(a, "--server2") == 0 && has_value) {
      b->uri2 = argv[++i];
    } else if (strcmp(a, "--data") == 0 && has_value) {
      b->data = argv[++i];
    } else if ((strcmp(a, "--rows") == 0 || strcmp(a, "--scale") == 0 ||
                strcmp(a, "--repeat") == 0 || strcmp(a, "--server-pid") == 0) &&
               has_value) {
      const char *v = argv[++i];
      char *end = NULL;
      long long x = strtoll(v, &end, 10);
      if (end == v || *end != '\0' || x < 0 || (x == 0 && strcmp(a, "--rows") != 0)) {
        ec = cli_usage_error(cmd, "%s needs a positive number, not '%s'", a, v);
      } else if (strcmp(a, "--rows") == 0) {
        b->rows = x;
      } else if (strcmp(a, "--scale") == 0) {
        if (x > 1000) ec = cli_usage_error(cmd, "--scale is at most 1000");
        b->scale = (int)x;
      } else if (strcmp(a, "--repeat") == 0) {
        if (x > BENCH_MAX_REPEAT)
          ec = cli_usage_error(cmd, "--repeat is at most %d", BENCH_MAX_REPEAT);
        b->repeat = (int)x;
      } else if (b->n_pids == BENCH_MAX_PIDS) {
        ec = cli_usage_error(cmd, "at most %d --server-pid", BENCH_MAX_PIDS);
      } else {
        b->pids[b->n_pids++] = (long)x;
      }
    } else {
      int r = cli_conn_opts_parse(&b->o, argc, argv, &i);
      if (r < 0)
        ec = CLI_EXIT_USAGE;
      else if (r == 0)
        ec = cli_usage_error(cmd, a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'",
                             a);
    }
  }
  if (ec == CLI_EXIT_OK) {
    const char *pw = getenv("MALLARD_PASSWORD"), *tok = getenv("MALLARD_TOKEN");
    if ((pw == NULL || *pw == '\0') && (tok == NULL || *tok == '\0'))
      setenv("MALLARD_PASSWORD", "password123", 1);
    b->call = cli_call_options(&b->o);
    ec = run(b);
  }
  mallard_client_close(&b->c1);
  mallard_client_close(&b->c2);
  free(b);
  return ec;
}
