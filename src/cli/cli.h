/* The `mallard` command line: one function per subcommand, dispatched from main.c. */
#ifndef CLI_H
#define CLI_H

/* A subcommand's entry point: argv[0] is the subcommand's name. Returns the process exit
 * code: 0 ok, 1 server or data error, 2 usage error, 3 connection error (see docs/cli.md). */
typedef int (*cli_command_fn)(int argc, char **argv);

enum { CLI_EXIT_OK = 0, CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_CONNECT = 3 };

typedef struct cli_command {
  const char *name;
  const char *summary;
  cli_command_fn run;
} cli_command;

/* Defined in main.c: the table of every subcommand, terminated by a NULL name. */
extern const cli_command cli_commands[];

#endif /* CLI_H */
