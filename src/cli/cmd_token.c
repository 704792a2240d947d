/* `mallard token NAME`: makes a pre-issued bearer token for clients that never call Handshake.
 * Prints the token (give it to the client) and the `token-hash:user` line for --tokens FILE. */
#include "auth/auth.h"
#include "cli/cli.h"

#include <sodium.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void token_usage(FILE *out) {
  fprintf(out, "usage: mallard token NAME\n"
               "\n"
               "Prints two lines on stdout:\n"
               "  1. a new random token (256 bits): give it to the client, which sends\n"
               "     'authorization: Bearer <token>'; keep it secret, the server never stores it;\n"
               "  2. 'token-hash:NAME': append it to the file the server reads with --tokens.\n"
               "NAME must be a user of the --users file (or admin without one).\n");
}

int cli_cmd_token(int argc, char **argv) {
  const char *name = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      token_usage(stdout);
      return CLI_EXIT_OK;
    } else if (argv[i][0] == '-' || name != NULL) {
      fprintf(stderr, "mallard token: unexpected argument '%s'\n", argv[i]);
      token_usage(stderr);
      return CLI_EXIT_USAGE;
    } else {
      name = argv[i];
    }
  }
  if (name == NULL) {
    token_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (!auth_valid_user_name(name, strlen(name))) {
    fprintf(stderr,
            "mallard token: bad user name (1 to %d characters, no spaces, colons or "
            "control characters)\n",
            AUTH_MAX_USER);
    return CLI_EXIT_USAGE;
  }
  char token[AUTH_TOKEN_CHARS + 1], hash[AUTH_TOKEN_HASH_HEX + 1];
  auth_new_token(token);
  auth_token_hash_hex(token, strlen(token), hash);
  printf("%s\n%s:%s\n", token, hash, name);
  int rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
  if (isatty(STDOUT_FILENO)) {
    fprintf(stderr, "(line 1: the token for the client; line 2: add it to the --tokens file)\n");
  }
  sodium_memzero(token, sizeof token);
  return rc;
}
