/* `mallard`: the single binary. Dispatches to one subcommand per file in src/cli/. */
#include "cli/cli.h"
#include "common/mlr_alloc.h"

#include <grpc/support/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Subcommands register here (one line each, alphabetical within their group). */
const cli_command cli_commands[] = {
    {"query", "run SQL on a server and print the result", cli_cmd_query},
    {"shell", "an interactive SQL session with a server (or run a script)", cli_cmd_shell},
    {"get", "run SQL on a server and save the result to a local file", cli_cmd_get},
    {"put", "stream a local Parquet/CSV/JSON/Arrow file into a table", cli_cmd_put},
    {"transfer", "stream a query's result from one server into a table on another",
     cli_cmd_transfer},
    {"exchange", "stream data through an exchanger (DoExchange)", cli_cmd_exchange},
    {"tables", "list a server's tables", cli_cmd_tables},
    {"execute", "run a statement (DDL, INSERT, ...) on a server", cli_cmd_execute},
    {"drop", "drop a table", cli_cmd_drop},
    {"exchangers", "list a server's exchangers", cli_cmd_exchangers},
    {"register", "register a SQL exchanger", cli_cmd_register},
    {"unregister", "remove a SQL exchanger", cli_cmd_unregister},
    {"actions", "list a server's actions", cli_cmd_actions},
    {"ping", "check that a server answers", cli_cmd_ping},
    {"demo", "the walkthrough against two running servers", cli_cmd_demo},
    {"bench", "benchmark GET, PUT, EXCHANGE and TRANSFER between two servers", cli_cmd_bench},
    {"serve", "start Flight servers backed by DuckDB", cli_serve},
    {"passwd", "print a users-file line (name:hash:role) for a new password", cli_cmd_passwd},
    {"token", "make a pre-issued bearer token and its tokens-file line", cli_cmd_token},
    {"ipc", "check or convert Arrow IPC streams and files", cli_ipc_main},
    {NULL, NULL, NULL},
};

static void usage(FILE *out) {
  fprintf(out, "mallard %s: an Apache Arrow Flight server for DuckDB\n\n", MALLARD_VERSION);
  fprintf(out, "usage: mallard <command> [options]\n       mallard <command> --help\n\n");
  fprintf(out, "commands:\n");
  for (const cli_command *c = cli_commands; c->name != NULL; c++) {
    fprintf(out, "  %-12s %s\n", c->name, c->summary);
  }
  fprintf(out, "\noptions:\n  --help       show this help\n  --version    show the version\n");
}

/* gRPC's own log lines (e.g. a TLS handshake it refused) would come before the client's one-line
 * error, which already says what failed: dropped, unless gRPC's logging was asked for
 * (GRPC_VERBOSITY, GRPC_TRACE). `mallard serve` keeps them (cmd_serve.c). */
static void drop_grpc_log(gpr_log_func_args *args) {
  (void)args;
}

int main(int argc, char **argv) {
  mlr_tune_allocator();
  if (getenv("GRPC_VERBOSITY") == NULL && getenv("GRPC_TRACE") == NULL)
    gpr_set_log_function(drop_grpc_log);
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("mallard %s\n", MALLARD_VERSION);
    return CLI_EXIT_OK;
  }
  for (const cli_command *c = cli_commands; c->name != NULL; c++) {
    if (strcmp(cmd, c->name) == 0) return c->run(argc - 1, argv + 1);
  }
  fprintf(stderr, "mallard: unknown command '%s' (see 'mallard --help')\n", cmd);
  return CLI_EXIT_USAGE;
}
