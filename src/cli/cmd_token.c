/* `mallard token NAME`: makes a pre-issued bearer token for clients that never call Handshake.
 * Prints the token (give it to the client) and the `token-hash:user` line for --tokens FILE. */
#include "auth/auth.h"
#include "cli/cli.h"

#include <sodium.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a token is valid unless --expires says otherwise. */
#define TOKEN_DEFAULT_DAYS 90

static void token_usage(FILE *out) {
  fprintf(out, "usage: mallard token NAME [--expires DURATION|never]\n"
               "\n"
               "Prints two lines on stdout:\n"
               "  1. a new random token (256 bits): give it to the client, which sends\n"
               "     'authorization: Bearer <token>'; keep it secret, the server never stores it;\n"
               "  2. 'token-hash:NAME:EXPIRY': append it to the file the server reads with\n"
               "     --tokens. EXPIRY is a UTC time (2027-02-25T08:00:00Z); after it the server\n"
               "     refuses the token.\n"
               "NAME must be a user of the --users file (or admin without one).\n"
               "\n"
               "options:\n"
               "  --expires DURATION  how long the token is valid: 90d (the default), 12h, 30m,\n"
               "                      ...; 'never' writes a line without an expiry\n");
}

int cli_cmd_token(int argc, char **argv) {
  const char *name = NULL;
  int64_t valid_ms = TOKEN_DEFAULT_DAYS * 86400 * 1000LL; /* 0 = never expires */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      token_usage(stdout);
      return CLI_EXIT_OK;
    } else if (strcmp(argv[i], "--expires") == 0 || strncmp(argv[i], "--expires=", 10) == 0) {
      const char *v = argv[i][9] == '=' ? argv[i] + 10 : (i + 1 < argc ? argv[++i] : NULL);
      mlr_error err;
      if (v != NULL && strcmp(v, "never") == 0) {
        valid_ms = 0;
      } else if (v == NULL) {
        fprintf(stderr, "mallard token: --expires needs a value (e.g. 90d, 12h, never)\n");
        return CLI_EXIT_USAGE;
      } else if (auth_parse_duration_ms("--expires", v, &valid_ms, &err) != MALLARD_OK) {
        fprintf(stderr, "mallard token: %s, or 'never'\n", err.message);
        return CLI_EXIT_USAGE;
      }
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
  char expiry[AUTH_UTC_CHARS + 2] = "";
  if (valid_ms > 0) {
    /* rounded up to the second: the token is valid at least as long as asked */
    expiry[0] = ':';
    auth_format_utc((int64_t)time(NULL) + (valid_ms + 999) / 1000, expiry + 1);
  }
  printf("%s\n%s:%s%s\n", token, hash, name, expiry);
  int rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
  if (isatty(STDOUT_FILENO)) {
    fprintf(stderr,
            "(line 1: the token for the client; line 2: add it to the --tokens file; %s%s)\n",
            valid_ms > 0 ? "valid until " : "it never expires", valid_ms > 0 ? expiry + 1 : "");
  }
  sodium_memzero(token, sizeof token);
  return rc;
}
