/* `mallard`: the single binary. Dispatches to one subcommand per file in src/cli/. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* Subcommands register here (one line each, alphabetical within their group). */
const cli_command cli_commands[] = {
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

int main(int argc, char **argv) {
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
