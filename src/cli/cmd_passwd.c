/* `mallard passwd NAME [--role admin|reader]`: prints a `name:hash:role` line for the --users
 * file. The password comes from a no-echo prompt, MALLARD_PASSWORD or stdin, never from argv. */
#include "auth/auth.h"
#include "cli/cli.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void passwd_usage(FILE *out) {
  fprintf(
      out,
      "usage: mallard passwd NAME [--role admin|reader] [--cost interactive|moderate|sensitive]\n"
      "\n"
      "Prints one line for the --users file (append it: mallard passwd alice >> users.txt).\n"
      "The password comes from the MALLARD_PASSWORD environment variable, else a prompt\n"
      "without echo when stdin is a terminal, else the first line of stdin. It is never\n"
      "taken from the command line (other users could see it in the process list).\n"
      "  --role   admin (default: may do everything) or reader (no writes)\n"
      "  --cost   Argon2id cost: moderate (default), interactive (faster logins), sensitive\n");
}

/* Reads one line into buf (without the newline); false at EOF or when it does not fit. */
static bool read_line(FILE *f, char *buf, size_t cap) {
  if (fgets(buf, (int)cap, f) == NULL) return false;
  size_t n = strlen(buf);
  bool complete = n > 0 && buf[n - 1] == '\n';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
  return complete || feof(f);
}

/* Prompts on the terminal with echo off. Echo goes off before the prompt shows, so that
 * nothing typed after the prompt is flushed away or echoed. */
static bool prompt_no_echo(FILE *tty, const char *prompt, char *buf, size_t cap) {
  struct termios old, quiet;
  bool restore = false, ok;
  if (tcgetattr(fileno(tty), &old) == 0) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
  }
  fputs(prompt, stderr);
  fflush(stderr);
  ok = read_line(tty, buf, cap);
  if (restore) tcsetattr(fileno(tty), TCSANOW, &old);
  fputc('\n', stderr);
  return ok;
}

static int get_password(char *pw, size_t cap) {
  char again[AUTH_MAX_PASSWORD + 2];
  const char *env = getenv("MALLARD_PASSWORD");
  int rc = CLI_EXIT_OK;
  if (env != NULL) {
    if (strlen(env) >= cap) {
      fprintf(stderr, "mallard passwd: MALLARD_PASSWORD is longer than %d bytes\n",
              AUTH_MAX_PASSWORD);
      rc = CLI_EXIT_USAGE;
    } else {
      snprintf(pw, cap, "%s", env);
    }
  } else if (isatty(STDIN_FILENO)) {
    /* stdin is the terminal: read it (not /dev/tty, which may be another terminal). */
    FILE *tty = stdin;
    if (!prompt_no_echo(tty, "New password: ", pw, cap) ||
        !prompt_no_echo(tty, "Repeat password: ", again, sizeof again)) {
      fprintf(stderr, "mallard passwd: no password read\n");
      rc = CLI_EXIT_USAGE;
    } else if (strcmp(pw, again) != 0) {
      fprintf(stderr, "mallard passwd: the passwords differ\n");
      rc = CLI_EXIT_USAGE;
    }
  } else if (!read_line(stdin, pw, cap)) {
    fprintf(stderr, "mallard passwd: could not read a password (at most %d bytes) from stdin\n",
            AUTH_MAX_PASSWORD);
    rc = CLI_EXIT_USAGE;
  }
  sodium_memzero(again, sizeof again);
  return rc;
}

int cli_cmd_passwd(int argc, char **argv) {
  const char *name = NULL, *role = "admin";
  int cost = 1;
  int rc = CLI_EXIT_OK;
  char pw[AUTH_MAX_PASSWORD + 2] = {0};
  char hash[AUTH_HASH_SIZE];
  mlr_error err;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      passwd_usage(stdout);
      return CLI_EXIT_OK;
    } else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
      role = argv[++i];
    } else if (strcmp(argv[i], "--cost") == 0 && i + 1 < argc) {
      const char *c = argv[++i];
      cost = strcmp(c, "interactive") == 0 ? 0
             : strcmp(c, "moderate") == 0  ? 1
             : strcmp(c, "sensitive") == 0 ? 2
                                           : -1;
      if (cost < 0) {
        fprintf(stderr, "mallard passwd: --cost must be interactive, moderate or sensitive\n");
        return CLI_EXIT_USAGE;
      }
    } else if (strncmp(argv[i], "--password", 10) == 0) {
      fprintf(stderr, "mallard passwd: passwords are not taken from the command line; use the "
                      "prompt, MALLARD_PASSWORD or stdin\n");
      return CLI_EXIT_USAGE;
    } else if (argv[i][0] == '-' || name != NULL) {
      fprintf(stderr, "mallard passwd: unexpected argument '%s'\n", argv[i]);
      passwd_usage(stderr);
      return CLI_EXIT_USAGE;
    } else {
      name = argv[i];
    }
  }
  if (name == NULL) {
    passwd_usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (!auth_valid_user_name(name, strlen(name))) {
    fprintf(stderr,
            "mallard passwd: bad user name (1 to %d characters, no spaces, colons or control "
            "characters)\n",
            AUTH_MAX_USER);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(role, "admin") != 0 && strcmp(role, "reader") != 0) {
    fprintf(stderr, "mallard passwd: --role must be admin or reader\n");
    return CLI_EXIT_USAGE;
  }
  rc = get_password(pw, sizeof pw);
  if (rc != CLI_EXIT_OK) goto cleanup;
  if (pw[0] == '\0') {
    fprintf(stderr, "mallard passwd: the password is empty\n");
    rc = CLI_EXIT_USAGE;
    goto cleanup;
  }
  if (auth_hash_password(pw, strlen(pw), cost, hash, &err) != MALLARD_OK) {
    fprintf(stderr, "mallard passwd: %s\n", err.message);
    rc = CLI_EXIT_ERROR;
    goto cleanup;
  }
  printf("%s:%s:%s\n", name, hash, role);
  if (fflush(stdout) != 0) rc = CLI_EXIT_ERROR;
cleanup:
  sodium_memzero(pw, sizeof pw);
  return rc;
}
