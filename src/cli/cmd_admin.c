/* The small client commands, one action each: `ping`, `tables`, `actions`, `exchangers`,
 * `register`, `unregister`, `execute`, `drop`. Results print as aligned text (or --json). */
#include "cli/cli.h"
#include "cli/cli_client.h"
#include "common/mlr_json.h"

#include <stdlib.h>
#include <string.h>

typedef struct admin_args {
  cli_conn_opts o;
  const char *pos[3];
  int n_pos;
  bool json;
  bool replace;
  const char *mode;
  const char *schema; /* drop --schema */
} admin_args;

static const char *const HELP[][2] = {
    {"ping", "usage: mallard ping [options]\n\nChecks that the server answers and prints its "
             "version and the round-trip time.\n\n"},
    {"tables", "usage: mallard tables [LIKE-PATTERN] [--json] [options]\n\nLists the server's "
               "tables with their row counts.\n\n"},
    {"actions", "usage: mallard actions [--json] [options]\n\nLists the server's actions "
                "(ListActions).\n\n"},
    {"exchangers", "usage: mallard exchangers [--json] [options]\n\nLists the exchangers the "
                   "server knows (built-in, SQL, native).\n\n"},
    {"register",
     "usage: mallard register NAME SQL [--mode batch|stream_end] [--replace] [options]\n\n"
     "Registers a SQL exchanger: the query reads the table `input` (each batch, or with\n"
     "--mode stream_end the whole input once) and may use named parameters ($name) that\n"
     "`mallard exchange --params` binds.\n\n"},
    {"unregister", "usage: mallard unregister NAME [options]\n\nRemoves a SQL exchanger.\n\n"},
    {"execute", "usage: mallard execute SQL|- [options]\n\n"
                "Runs statements that return no rows (DDL, INSERT, ...) and prints how many\n"
                "rows they changed. Several statements run as one transaction (all or\n"
                "nothing). \"-\" reads them from stdin: mallard execute - < setup.sql\n\n"},
    {"drop", "usage: mallard drop TABLE [--schema S] [options]\n\nDrops a table (the name as "
             "it is, quotes and dots included; --schema for one outside the default "
             "schema).\n\n"},
};

static void usage(const char *cmd, FILE *out) {
  for (size_t i = 0; i < sizeof HELP / sizeof HELP[0]; i++)
    if (strcmp(HELP[i][0], cmd) == 0) fputs(HELP[i][1], out);
  if (strcmp(cmd, "register") == 0)
    fprintf(out, "  --mode batch|stream_end   when the query runs (default batch)\n"
                 "  --replace                 replace an exchanger of that name\n\n");
  if (strcmp(cmd, "tables") == 0 || strcmp(cmd, "actions") == 0 || strcmp(cmd, "exchangers") == 0)
    fprintf(out, "  --json                  print the server's JSON answer as is\n\n");
  cli_conn_opts_help(out);
}

/* Parses argv; returns -1 to continue, else an exit code. */
static int parse(const char *cmd, int argc, char **argv, int max_pos, admin_args *a) {
  memset(a, 0, sizeof *a);
  cli_conn_opts_init(&a->o);
  a->mode = "batch";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
      usage(cmd, stdout);
      return CLI_EXIT_OK;
    }
    int r = cli_conn_opts_parse(&a->o, argc, argv, &i);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r > 0) continue;
    bool is_register = strcmp(cmd, "register") == 0;
    bool is_list =
        strcmp(cmd, "tables") == 0 || strcmp(cmd, "actions") == 0 || strcmp(cmd, "exchangers") == 0;
    if (cli_is_positional(&a->o, s)) {
      if (a->n_pos >= max_pos) return cli_usage_error(cmd, "unexpected argument '%s'", s);
      a->pos[a->n_pos++] = s;
    } else if (is_list && strcmp(s, "--json") == 0) {
      a->json = true;
    } else if (is_register && strcmp(s, "--replace") == 0) {
      a->replace = true;
    } else if (is_register && strcmp(s, "--mode") == 0 && i + 1 < argc) {
      a->mode = argv[++i];
    } else if (strcmp(cmd, "drop") == 0 && strcmp(s, "--schema") == 0 && i + 1 < argc) {
      a->schema = argv[++i];
    } else {
      return cli_usage_error(cmd, "unknown option '%s'", s);
    }
  }
  return -1;
}

/* Runs one action and returns its first result's body (caller releases) or an exit code;
 * *seconds (may be NULL) gets the time the action took, logging in not included. */
static int timed_action(const char *cmd, admin_args *a, const char *type, const char *body,
                        size_t body_len, mallard_bytes *result, double *seconds) {
  mallard_client *client = NULL;
  int rc = cli_connect(&a->o, NULL, &client);
  if (rc != CLI_EXIT_OK) return rc;
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_call_options call = cli_call_options(&a->o);
  mallard_result_list list = {0};
  double t0 = cli_now();
  mallard_code code = mallard_client_do_action(client, &call, type, body, body_len, &list, &err);
  if (seconds != NULL) *seconds = cli_now() - t0;
  mallard_client_close(&client);
  if (code != MALLARD_OK) return cli_fail(cmd, &err);
  if (list.n_results > 0) {
    *result = list.results[0];
    memset(&list.results[0], 0, sizeof list.results[0]);
  }
  mallard_result_list_release(&list);
  return CLI_EXIT_OK;
}

static int action(const char *cmd, admin_args *a, const char *type, const char *body,
                  size_t body_len, mallard_bytes *result) {
  return timed_action(cmd, a, type, body, body_len, result, NULL);
}

static const mlr_json *parse_result(const char *cmd, const mallard_bytes *r, mlr_json_doc **doc) {
  mlr_error err;
  if (r->len == 0 || mlr_json_parse((const char *)r->data, r->len, doc, &err) != MALLARD_OK) {
    fprintf(stderr, "mallard %s: the server's answer is not JSON\n", cmd);
    return NULL;
  }
  return mlr_json_root(*doc);
}

static void print_json_value(const mlr_json *v) {
  if (v == NULL) {
    printf("-");
    return;
  }
  switch (v->type) {
  case MLR_JSON_STRING:
    printf("%s", v->string);
    break;
  case MLR_JSON_NUMBER:
    if (v->is_integer)
      printf("%lld", (long long)v->integer);
    else
      printf("%g", v->number);
    break;
  case MLR_JSON_BOOL:
    printf("%s", v->boolean ? "true" : "false");
    break;
  case MLR_JSON_NULL:
    printf("null");
    break;
  default:
    printf("...");
    break;
  }
}

/* Prints text padded to w terminal columns, then the column gap (or the end of the line). */
static void print_padded(const char *text, size_t w, bool last) {
  cli_print_padded(stdout, text, w, false);
  fputs(last ? "\n" : "  ", stdout);
}

/* Prints an array of objects as aligned columns named by `keys`. */
static void print_rows(const mlr_json *arr, const char *const *keys, int n_keys) {
  size_t w[8] = {0};
  for (int k = 0; k < n_keys; k++) w[k] = strlen(keys[k]);
  for (const mlr_json *e = arr->child; e != NULL; e = e->next) {
    for (int k = 0; k < n_keys; k++) {
      const mlr_json *v = mlr_json_get(e, keys[k]);
      char buf[64];
      size_t len = v == NULL ? 1
                   : v->type == MLR_JSON_STRING
                       ? cli_display_width(v->string)
                       : (size_t)snprintf(buf, sizeof buf, "%lld", (long long)v->integer);
      if (len > w[k]) w[k] = len;
    }
  }
  for (int k = 0; k < n_keys; k++)
    print_padded(keys[k], k + 1 < n_keys ? w[k] : 0, k + 1 == n_keys);
  for (const mlr_json *e = arr->child; e != NULL; e = e->next) {
    for (int k = 0; k < n_keys; k++) {
      const mlr_json *v = mlr_json_get(e, keys[k]);
      bool last = k + 1 == n_keys;
      if (v != NULL && v->type == MLR_JSON_NUMBER) {
        printf("%*lld%s", (int)w[k], (long long)v->integer, last ? "\n" : "  ");
      } else {
        const char *text = v == NULL ? "-" : v->type == MLR_JSON_STRING ? v->string : "...";
        print_padded(text, last ? 0 : w[k], last);
      }
    }
  }
}

/* The columns each listing action's rows are printed with. */
static int listing_keys(const char *type, const char *const **keys) {
  static const char *const k_tables[] = {"schema", "table", "rows"};
  static const char *const k_exchangers[] = {"name", "kind", "mode"};
  *keys = strcmp(type, "list_tables") == 0 ? k_tables : k_exchangers;
  return 3;
}

int cli_print_listing(const char *cmd, mallard_client *client, const cli_conn_opts *o,
                      const char *type, const char *body, bool json, bool *relogin) {
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_call_options call = cli_call_options(o);
  mallard_result_list list = {0};
  mallard_code code =
      mallard_client_do_action(client, &call, type, body, body ? strlen(body) : 0, &list, &err);
  if (code != MALLARD_OK && relogin != NULL && code == MALLARD_UNAUTHENTICATED) {
    *relogin = true;
    return CLI_EXIT_ERROR;
  }
  if (code != MALLARD_OK) return cli_fail(cmd, &err);
  int rc = CLI_EXIT_OK;
  mallard_bytes r = list.n_results > 0 ? list.results[0] : (mallard_bytes){0};
  if (json) {
    printf("%.*s\n", (int)r.len, (const char *)r.data);
  } else {
    mlr_json_doc *doc = NULL;
    const mlr_json *root = parse_result(cmd, &r, &doc);
    const char *const *keys = NULL;
    int n_keys = listing_keys(type, &keys);
    if (root == NULL || root->type != MLR_JSON_ARRAY)
      rc = CLI_EXIT_ERROR;
    else
      print_rows(root, keys, n_keys);
    mlr_json_free(doc);
  }
  mallard_result_list_release(&list);
  return rc;
}

static int list_cmd(const char *cmd, int argc, char **argv, const char *type) {
  admin_args a;
  int rc = parse(cmd, argc, argv, strcmp(cmd, "tables") == 0 ? 1 : 0, &a);
  if (rc >= 0) return rc;
  mallard_client *client = NULL;
  rc = cli_connect(&a.o, NULL, &client);
  if (rc != CLI_EXIT_OK) return rc;
  rc = cli_print_listing(cmd, client, &a.o, type, a.n_pos > 0 ? a.pos[0] : NULL, a.json, NULL);
  mallard_client_close(&client);
  return rc;
}

int cli_cmd_tables(int argc, char **argv) {
  return list_cmd("tables", argc, argv, "list_tables");
}

int cli_cmd_exchangers(int argc, char **argv) {
  return list_cmd("exchangers", argc, argv, "list_exchangers");
}

int cli_cmd_actions(int argc, char **argv) {
  admin_args a;
  int rc = parse("actions", argc, argv, 0, &a);
  if (rc >= 0) return rc;
  mallard_client *client = NULL;
  rc = cli_connect(&a.o, NULL, &client);
  if (rc != CLI_EXIT_OK) return rc;
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_call_options call = cli_call_options(&a.o);
  mallard_action_type_list list = {0};
  mallard_code code = mallard_client_list_actions(client, &call, &list, &err);
  mallard_client_close(&client);
  if (code != MALLARD_OK) return cli_fail("actions", &err);
  size_t w = 6;
  for (size_t i = 0; i < list.n_types; i++)
    if (strlen(list.types[i].type) > w) w = strlen(list.types[i].type);
  if (a.json) {
    mlr_strbuf b = {0};
    mlr_strbuf_append(&b, "[", 1);
    for (size_t i = 0; i < list.n_types; i++) {
      mlr_strbuf_appendf(&b, "%s{\"type\": ", i ? ", " : "");
      mlr_strbuf_append_json_string(&b, list.types[i].type, strlen(list.types[i].type));
      mlr_strbuf_append(&b, ", \"description\": ", 17);
      mlr_strbuf_append_json_string(&b, list.types[i].description,
                                    strlen(list.types[i].description));
      mlr_strbuf_append(&b, "}", 1);
    }
    mlr_strbuf_append(&b, "]", 1);
    char *s = mlr_strbuf_take(&b, NULL);
    if (s != NULL) printf("%s\n", s);
    free(s);
  } else {
    printf("%-*s  %s\n", (int)w, "action", "description");
    for (size_t i = 0; i < list.n_types; i++)
      printf("%-*s  %s\n", (int)w, list.types[i].type, list.types[i].description);
  }
  mallard_action_type_list_release(&list);
  return CLI_EXIT_OK;
}

int cli_cmd_ping(int argc, char **argv) {
  admin_args a;
  int rc = parse("ping", argc, argv, 0, &a);
  if (rc >= 0) return rc;
  mallard_bytes r = {0};
  double took = 0;
  rc = timed_action("ping", &a, "ping", NULL, 0, &r, &took);
  if (rc != CLI_EXIT_OK) return rc;
  mlr_json_doc *doc = NULL;
  const mlr_json *root = parse_result("ping", &r, &doc);
  if (root == NULL) {
    rc = CLI_EXIT_ERROR;
  } else {
    const char *v = mlr_json_get_string(root, "version");
    printf("%s: ok, mallard %s, %.1f ms\n", a.o.server, v ? v : "?", took * 1000.0);
  }
  mlr_json_free(doc);
  mallard_bytes_release(&r);
  return rc;
}

/* Actions with one text argument whose answer is one JSON object printed as `key: value`. */
static int simple_cmd(const char *cmd, int argc, char **argv, const char *type, const char *what) {
  admin_args a;
  int rc = parse(cmd, argc, argv, 1, &a);
  if (rc >= 0) return rc;
  if (a.n_pos < 1) return cli_usage_error(cmd, "missing %s", what);
  mallard_bytes r = {0};
  if (strcmp(cmd, "drop") == 0) {
    /* The JSON form: any name (one starting with '"' or '{' too) and a schema. */
    mlr_strbuf b = {0};
    mlr_strbuf_append_str(&b, "{\"table\": ");
    mlr_strbuf_append_json_string(&b, a.pos[0], strlen(a.pos[0]));
    if (a.schema != NULL) {
      mlr_strbuf_append_str(&b, ", \"schema\": ");
      mlr_strbuf_append_json_string(&b, a.schema, strlen(a.schema));
    }
    mlr_strbuf_append_str(&b, "}");
    size_t n = 0;
    char *body = mlr_strbuf_take(&b, &n);
    if (body == NULL) return cli_usage_error(cmd, "out of memory");
    rc = action(cmd, &a, type, body, n, &r);
    free(body);
  } else {
    char *owned = NULL;
    const char *text = strcmp(cmd, "execute") == 0 ? cli_sql_arg(cmd, a.pos[0], &owned) : a.pos[0];
    if (text == NULL) return CLI_EXIT_USAGE;
    rc = action(cmd, &a, type, text, strlen(text), &r);
    free(owned);
  }
  if (rc != CLI_EXIT_OK) return rc;
  mlr_json_doc *doc = NULL;
  const mlr_json *root = parse_result(cmd, &r, &doc);
  if (root != NULL && root->type == MLR_JSON_OBJECT) {
    for (const mlr_json *m = root->child; m != NULL; m = m->next) {
      printf("%s: ", m->key);
      print_json_value(m);
      printf("\n");
    }
  } else if (r.len > 0) {
    printf("%.*s\n", (int)r.len, (const char *)r.data);
  }
  mlr_json_free(doc);
  mallard_bytes_release(&r);
  return CLI_EXIT_OK;
}

int cli_cmd_execute(int argc, char **argv) {
  return simple_cmd("execute", argc, argv, "execute", "SQL");
}

int cli_cmd_drop(int argc, char **argv) {
  return simple_cmd("drop", argc, argv, "drop_table", "TABLE");
}

int cli_cmd_unregister(int argc, char **argv) {
  return simple_cmd("unregister", argc, argv, "unregister_exchanger", "NAME");
}

int cli_cmd_register(int argc, char **argv) {
  admin_args a;
  int rc = parse("register", argc, argv, 2, &a);
  if (rc >= 0) return rc;
  if (a.n_pos < 2) return cli_usage_error("register", "needs NAME and SQL");
  if (strcmp(a.mode, "batch") != 0 && strcmp(a.mode, "stream_end") != 0)
    return cli_usage_error("register", "--mode is batch or stream_end, not '%s'", a.mode);
  mlr_strbuf b = {0};
  mlr_strbuf_append(&b, "{\"name\": ", 9);
  mlr_strbuf_append_json_string(&b, a.pos[0], strlen(a.pos[0]));
  mlr_strbuf_append(&b, ", \"sql\": ", 9);
  mlr_strbuf_append_json_string(&b, a.pos[1], strlen(a.pos[1]));
  mlr_strbuf_appendf(&b, ", \"mode\": \"%s\", \"replace\": %s}", a.mode,
                     a.replace ? "true" : "false");
  size_t len = 0;
  char *body = mlr_strbuf_take(&b, &len);
  if (body == NULL) return CLI_EXIT_ERROR;
  mallard_bytes r = {0};
  rc = action("register", &a, "register_exchanger", body, len, &r);
  free(body);
  if (rc == CLI_EXIT_OK) printf("registered %s (%s)\n", a.pos[0], a.mode);
  mallard_bytes_release(&r);
  return rc;
}
