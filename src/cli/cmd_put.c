/* `mallard put FILE --table NAME` (a local Parquet/CSV/JSON/Arrow file, read by an embedded
 * DuckDB, streamed into a table) and `mallard transfer SQL --to URI --table NAME` (a query on one
 * server into a table on another, streamed through the client). */
#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_pump.h"

#include <stdlib.h>
#include <string.h>

static const char *const MODES[] = {"create_or_append", "append", "create", "replace", NULL};

static void usage(const char *cmd, FILE *out) {
  if (strcmp(cmd, "put") == 0)
    fprintf(out,
            "usage: mallard put FILE --table NAME [--schema S] [--mode MODE] [options]\n\n"
            "Streams a local .parquet, .csv, .json/.ndjson or .arrow/.arrows file into a table.\n"
            "The upload is one transaction: on any error the table is left as it was.\n"
            "A CSV file's delimiter, header and column types are sniffed by DuckDB; say them\n"
            "when it guesses wrong:\n"
            "  --delimiter C           CSV: the field separator (e.g. ';', '|', '\\t' as a tab)\n"
            "  --header, --no-header   CSV: the first line names the columns, or is data\n\n");
  else
    fprintf(out,
            "usage: mallard transfer SQL --to URI --table NAME [--schema S] [--mode MODE]\n"
            "                        [options]\n\n"
            "Runs SQL on --server and streams the result into a table on --to: batches are\n"
            "sent on while the next ones arrive, nothing is held whole. One transaction on the\n"
            "target: if anything fails, its table is left as it was.\n\n");
  fprintf(out, "  --table NAME            target table\n"
               "  --schema S              target schema (default: the database's default)\n"
               "  --mode MODE             create_or_append (default), append, create, replace\n");
  if (strcmp(cmd, "transfer") == 0)
    fprintf(out,
            "  --to URI                the target server\n"
            "  --to-user NAME          user on the target (default: --user)\n"
            "  --to-tls-ca FILE, --to-tls-cert FILE, --to-tls-key FILE, --to-tls-server-name NAME\n"
            "                          the target's TLS options, each replacing its --tls-* one\n"
            "                          (which go to each end with a grpc+tls:// URI)\n\n"
            "Both ends log in before the query starts. The target's secret: MALLARD_TO_TOKEN,\n"
            "else MALLARD_TO_PASSWORD, else the source's (MALLARD_TOKEN unless --to-user is\n"
            "given, MALLARD_PASSWORD, or a prompt naming the target).\n");
  fprintf(out, "\n");
  cli_conn_opts_help(out);
}

/* transfer's options for its target: "--to URI", "--to-user NAME", "--to-tls-*" (also as
 * "--name=VALUE"). Returns 1 when argv[*i] was one (consumed with its value), 0 when it is
 * another argument, -1 after a usage error (a missing value). */
static int to_option(int argc, char **argv, int *i, const char **to, const char **to_user,
                     const char *to_tls[4]) {
  struct {
    const char *name;
    const char **dst;
  } opts[] = {{"--to", to},
              {"--to-user", to_user},
              {"--to-tls-ca", &to_tls[0]},
              {"--to-tls-cert", &to_tls[1]},
              {"--to-tls-key", &to_tls[2]},
              {"--to-tls-server-name", &to_tls[3]}};
  const char *a = argv[*i];
  if (strcmp(a, "--to-password") == 0 || strncmp(a, "--to-password=", 14) == 0) {
    fprintf(stderr, "mallard transfer: passwords are not taken as arguments (they would show in "
                    "the process list): set MALLARD_TO_PASSWORD or answer the prompt\n");
    return -1;
  }
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
    int r = cli_option_value(argc, argv, i, opts[k].name, opts[k].dst);
    if (r == 1 && *opts[k].dst[0] == '\0') {
      fprintf(stderr, "mallard transfer: %s needs a value, not ''\n", opts[k].name);
      return -1;
    }
    if (r != 0) return r;
  }
  return 0;
}

static int run(const char *cmd, int argc, char **argv) {
  cli_conn_opts o;
  cli_conn_opts_init(&o);
  const char *arg = NULL, *table = NULL, *schema = NULL, *mode = "create_or_append", *to = NULL;
  const char *to_user = NULL, *to_tls[4] = {NULL, NULL, NULL, NULL};
  bool is_put = strcmp(cmd, "put") == 0;
  cli_csv_options csv = {.delimiter = NULL, .header = -1};
  bool csv_set = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(cmd, stdout);
      return CLI_EXIT_OK;
    }
    int r = cli_conn_opts_parse(&o, argc, argv, &i);
    if (r == 0 && !is_put && !o.end_of_options)
      r = to_option(argc, argv, &i, &to, &to_user, to_tls);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r > 0) continue;
    if (cli_is_positional(&o, a)) {
      if (arg != NULL) return cli_usage_error(cmd, "unexpected argument '%s'", a);
      arg = a;
    } else if ((strcmp(a, "--table") == 0 || strcmp(a, "-t") == 0) && i + 1 < argc) {
      table = argv[++i];
    } else if (strcmp(a, "--schema") == 0 && i + 1 < argc) {
      schema = argv[++i];
    } else if (strcmp(a, "--mode") == 0 && i + 1 < argc) {
      mode = argv[++i];
    } else if (is_put && strcmp(a, "--delimiter") == 0 && i + 1 < argc) {
      csv.delimiter = argv[++i];
      if (strlen(csv.delimiter) == 0 || strlen(csv.delimiter) > 4 || strchr(csv.delimiter, '\n'))
        return cli_usage_error(cmd, "--delimiter: 1 to 4 characters, no newline");
      csv_set = true;
    } else if (is_put && (strcmp(a, "--header") == 0 || strcmp(a, "--no-header") == 0)) {
      csv.header = strcmp(a, "--header") == 0;
      csv_set = true;
    } else {
      return cli_usage_error(cmd, "unknown option '%s'", a);
    }
  }
  if (arg == NULL) return cli_usage_error(cmd, is_put ? "missing FILE" : "missing SQL");
  if (table == NULL) return cli_usage_error(cmd, "missing --table NAME");
  if (!is_put && to == NULL) return cli_usage_error(cmd, "missing --to URI");
  bool mode_ok = false;
  for (int k = 0; MODES[k] != NULL; k++) mode_ok |= strcmp(mode, MODES[k]) == 0;
  if (!mode_ok)
    return cli_usage_error(cmd, "unknown mode '%s' (create_or_append, append, create, replace)",
                           mode);
  cli_conn_opts to_o = o;
  if (!is_put) {
    int bad = cli_conn_opts_target(&o, &to_o, to, to_user, to_tls);
    if (bad != CLI_EXIT_OK) return bad;
  }

  struct ArrowArrayStream src;
  memset(&src, 0, sizeof src);
  mallard_client *source = NULL, *target = NULL;
  int rc = CLI_EXIT_OK;
  mallard_call_options call = cli_call_options(&o);
  if (is_put) {
    if (csv_set && cli_format_from_path(arg) != CLI_FORMAT_CSV)
      return cli_usage_error(cmd, "--delimiter and --header/--no-header are for CSV files only");
    rc = cli_open_local_file(cmd, arg, &csv, &src);
    if (rc != CLI_EXIT_OK) return rc;
  } else {
    /* Both URIs and TLS files are checked and both passwords asked (if any) before either
     * server is; then both ends log in before the query starts, so that a refused target costs
     * the source nothing. */
    rc = cli_open(&o, NULL, &source);
    if (rc == CLI_EXIT_OK) rc = cli_open(&to_o, NULL, &target);
    if (rc == CLI_EXIT_OK) rc = cli_read_passwords(&o, &to_o);
    if (rc == CLI_EXIT_OK) rc = cli_login(&o, source);
    if (rc == CLI_EXIT_OK) rc = cli_login(&to_o, target);
    if (rc != CLI_EXIT_OK) goto cleanup;
    double t_login = cli_now();
    mallard_error err;
    memset(&err, 0, sizeof err);
    mallard_reader *reader = NULL;
    mallard_code code = mallard_client_do_get(source, &call, arg, strlen(arg), &reader, &err);
    if (code == MALLARD_OK) {
      /* Wait for the schema so that a bad query is reported before the target table is touched. */
      struct ArrowSchema s;
      memset(&s, 0, sizeof s);
      code = mallard_reader_schema(reader, &s, &err);
      if (s.release != NULL) s.release(&s);
    }
    if (code == MALLARD_OK) code = mallard_reader_export(&reader, &src, &err);
    if (code != MALLARD_OK) {
      mallard_reader_close(&reader, NULL);
      rc = cli_fail(cmd, &err);
      goto cleanup;
    }
    /* A query slow to its first rows may outlast the target's session (--session-idle): log
     * in again. */
    if (cli_now() - t_login > 1.0) {
      rc = cli_login(&to_o, target);
      if (rc != CLI_EXIT_OK) goto cleanup;
    }
  }
  if (is_put) {
    rc = cli_connect(&o, NULL, &target);
    if (rc != CLI_EXIT_OK) goto cleanup;
  }
  char *json = cli_put_command(schema, table, mode);
  if (json == NULL) {
    rc = CLI_EXIT_ERROR;
    goto cleanup;
  }
  mallard_descriptor desc = mallard_descriptor_command(json, 0);
  int64_t rows = 0;
  double t0 = cli_now();
  rc = cli_pump_put(cmd, target, &call, &desc, &src, cmd, o.quiet, &rows, NULL);
  double el = cli_now() - t0;
  free(json);
  if (rc == CLI_EXIT_OK && !o.quiet)
    printf("%s %lld row%s into %s%s%s in %.2f s (%.0f rows/s)\n", is_put ? "loaded" : "transferred",
           (long long)rows, rows == 1 ? "" : "s", schema ? schema : "", schema ? "." : "", table,
           el, el > 0 ? (double)rows / el : 0.0);
cleanup:
  if (src.release != NULL) src.release(&src);
  mallard_client_close(&target);
  mallard_client_close(&source);
  cli_wipe_free(&o.password);
  cli_wipe_free(&to_o.password);
  return rc;
}

int cli_cmd_put(int argc, char **argv) {
  return run("put", argc, argv);
}

int cli_cmd_transfer(int argc, char **argv) {
  return run("transfer", argc, argv);
}
