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

/* Auth commands (src/cli/cmd_passwd.c, src/cli/cmd_token.c). */
int cli_cmd_passwd(int argc, char **argv);
int cli_cmd_token(int argc, char **argv);

/* Defined in main.c: the table of every subcommand, terminated by a NULL name. */
extern const cli_command cli_commands[];

/* `mallard serve` (cmd_serve.c). */
int cli_serve(int argc, char **argv);

int cli_ipc_main(int, char **);

/* Client commands (cmd_query.c, cmd_put.c, cmd_exchange.c, cmd_admin.c, cmd_demo.c, cmd_bench.c).
 */
int cli_cmd_query(int argc, char **argv);
int cli_cmd_shell(int argc, char **argv);
int cli_cmd_get(int argc, char **argv);
int cli_cmd_put(int argc, char **argv);
int cli_cmd_transfer(int argc, char **argv);
int cli_cmd_exchange(int argc, char **argv);
int cli_cmd_tables(int argc, char **argv);
int cli_cmd_actions(int argc, char **argv);
int cli_cmd_exchangers(int argc, char **argv);
int cli_cmd_register(int argc, char **argv);
int cli_cmd_unregister(int argc, char **argv);
int cli_cmd_execute(int argc, char **argv);
int cli_cmd_drop(int argc, char **argv);
int cli_cmd_ping(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);

#endif /* CLI_H */
