/* `mallard query` (a SQL result to the terminal or a file) and `mallard get` (a SQL result to a
 * local file, format from the extension): DoGet with the SQL as the ticket. */
#include "cli/cli.h"
#include "cli/cli_client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(const char *cmd, FILE *out) {
  if (strcmp(cmd, "get") == 0)
    fprintf(out, "usage: mallard get SQL -o FILE [--format csv|json|arrow|parquet] [options]\n\n"
                 "Runs SQL (\"-\": read from stdin) on the server and streams the result into\n"
                 "a local file. The format comes from the file's extension (.parquet .csv\n"
                 ".json .ndjson .arrow .arrows, also .csv.gz .json.zst) unless --format says\n"
                 "otherwise.\n\n");
  else
    fprintf(out, "usage: mallard query SQL [--format table|csv|json|arrow|parquet] [-o FILE]\n"
                 "                         [--max-rows N] [options]\n\n"
                 "Runs SQL (\"-\": read from stdin) on the server and prints the result: a table\n"
                 "on a terminal (at most --max-rows rows, default 40), CSV otherwise, or the\n"
                 "--format asked for.\n\n");
  cli_conn_opts_help(out);
}

static int run(const char *cmd, int argc, char **argv) {
  cli_conn_opts o;
  cli_conn_opts_init(&o);
  const char *sql = NULL, *out_path = NULL, *format_s = NULL;
  int64_t max_rows = 40;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(cmd, stdout);
      return CLI_EXIT_OK;
    }
    int r = cli_conn_opts_parse(&o, argc, argv, &i);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r > 0) continue;
    if (cli_is_positional(&o, a)) {
      if (sql != NULL) return cli_usage_error(cmd, "one SQL statement only (quote it)");
      sql = a;
    } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
      out_path = argv[++i];
    } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) && i + 1 < argc) {
      format_s = argv[++i];
    } else if (strcmp(a, "--max-rows") == 0 && i + 1 < argc) {
      char *end = NULL;
      max_rows = strtoll(argv[++i], &end, 10);
      if (*end != '\0' || max_rows < 0) return cli_usage_error(cmd, "--max-rows needs a number");
    } else {
      return cli_usage_error(cmd, "unknown option '%s'", a);
    }
  }
  if (sql == NULL) return cli_usage_error(cmd, "missing SQL");
  bool is_get = strcmp(cmd, "get") == 0;
  if (is_get && out_path == NULL) return cli_usage_error(cmd, "missing -o FILE");
  cli_format format = CLI_FORMAT_NONE;
  if (format_s != NULL) {
    format = cli_format_parse(format_s);
    if (format == CLI_FORMAT_NONE) return cli_usage_error(cmd, "unknown format '%s'", format_s);
  } else if (out_path != NULL && strcmp(out_path, "-") != 0) {
    format = cli_format_from_path(out_path);
    if (format == CLI_FORMAT_NONE) {
      if (is_get)
        return cli_usage_error(cmd, "cannot tell the format of '%s': add --format", out_path);
      format = CLI_FORMAT_CSV;
    }
  } else {
    format = isatty(STDOUT_FILENO) ? CLI_FORMAT_TABLE : CLI_FORMAT_CSV;
  }
  if (is_get && format == CLI_FORMAT_TABLE)
    return cli_usage_error(cmd, "get writes data files; use query for a table");

  char *sql_owned = NULL;
  if ((sql = cli_sql_arg(cmd, sql, &sql_owned)) == NULL) return CLI_EXIT_USAGE;
  mallard_client *client = NULL;
  int rc = cli_connect(&o, NULL, &client);
  if (rc != CLI_EXIT_OK) {
    free(sql_owned);
    return rc;
  }
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_call_options call = cli_call_options(&o);
  mallard_reader *reader = NULL;
  mallard_code code = mallard_client_do_get(client, &call, sql, strlen(sql), &reader, &err);
  if (code != MALLARD_OK) {
    rc = cli_fail(cmd, &err);
  } else {
    int64_t rows = 0;
    double t0 = cli_now();
    rc = cli_write_stream(cmd, &reader, format, out_path, max_rows, &o, &rows);
    if (rc == CLI_EXIT_OK && is_get && !o.quiet)
      fprintf(stderr, "wrote %lld row%s to %s in %.2f s\n", (long long)rows, rows == 1 ? "" : "s",
              out_path, cli_now() - t0);
  }
  mallard_client_close(&client);
  free(sql_owned);
  return rc;
}

int cli_cmd_query(int argc, char **argv) {
  return run("query", argc, argv);
}

int cli_cmd_get(int argc, char **argv) {
  return run("get", argc, argv);
}
