/* `mallard exchange NAME`: sends a local file or a query's result (read from the same server)
 * through an exchanger with DoExchange and writes what comes back, sending and receiving at
 * the same time. */
#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_pump.h"
#include "common/mlr_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out) {
  fprintf(out,
          "usage: mallard exchange NAME (--query SQL | --input FILE) [--params JSON]\n"
          "                        [--format table|csv|json|arrow|parquet] [-o FILE] [options]\n\n"
          "Streams batches through the exchanger NAME (built-in echo or processed, a SQL\n"
          "exchanger registered with `mallard register`, or a native one) and prints or saves\n"
          "what it answers. The input is a query's result on the same server (--query) or a\n"
          "local .parquet/.csv/.json/.arrow file (--input). --params is a JSON object bound to\n"
          "the exchanger's named parameters.\n\n");
  cli_conn_opts_help(out);
}

/* The exchange's output reader as an ArrowArrayStream (not owning the reader). */
typedef struct out_ctx {
  mallard_reader *reader;
  mallard_error err;
  cli_feeder *feeder; /* whose failure to read the input explains a cancelled answer */
} out_ctx;

static int out_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  out_ctx *c = s->private_data;
  return mallard_reader_schema(c->reader, out, &c->err) == MALLARD_OK ? 0 : EIO;
}

/* The answer failed: when it was cancelled because reading the input failed, say that. */
static void explain_cancel(out_ctx *c) {
  if (c->feeder != NULL && atomic_load(&c->feeder->src_failed))
    snprintf(c->err.message, sizeof c->err.message,
             "reading the input: %s (the exchange was "
             "cancelled)",
             c->feeder->src_msg);
}

static int out_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  out_ctx *c = s->private_data;
  bool eof = false;
  memset(out, 0, sizeof *out);
  /* Metadata-only messages carry no batch: skip them. */
  for (;;) {
    if (mallard_reader_next(c->reader, out, NULL, &eof, &c->err) != MALLARD_OK) {
      explain_cancel(c);
      return EIO;
    }
    if (eof || out->release != NULL) return 0;
  }
}

static const char *out_error(struct ArrowArrayStream *s) {
  out_ctx *c = s->private_data;
  return c->err.message;
}

static void out_release(struct ArrowArrayStream *s) {
  s->release = NULL;
}

int cli_cmd_exchange(int argc, char **argv) {
  const char *cmd = "exchange";
  cli_conn_opts o;
  cli_conn_opts_init(&o);
  const char *name = NULL, *query = NULL, *input = NULL, *params = NULL, *out_path = NULL,
             *format_s = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return CLI_EXIT_OK;
    }
    int r = cli_conn_opts_parse(&o, argc, argv, &i);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r > 0) continue;
    if (cli_is_positional(&o, a)) {
      if (name != NULL) return cli_usage_error(cmd, "unexpected argument '%s'", a);
      name = a;
    } else if (strcmp(a, "--query") == 0 && i + 1 < argc)
      query = argv[++i];
    else if (strcmp(a, "--input") == 0 && i + 1 < argc)
      input = argv[++i];
    else if (strcmp(a, "--params") == 0 && i + 1 < argc)
      params = argv[++i];
    else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc)
      out_path = argv[++i];
    else if ((strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) && i + 1 < argc)
      format_s = argv[++i];
    else
      return cli_usage_error(cmd, "unknown option '%s'", a);
  }
  if (name == NULL) return cli_usage_error(cmd, "missing exchanger NAME");
  if ((query == NULL) == (input == NULL))
    return cli_usage_error(cmd, "give one of --query SQL or --input FILE");
  if (params != NULL) {
    mlr_json_doc *doc = NULL;
    mlr_error jerr;
    if (mlr_json_parse(params, strlen(params), &doc, &jerr) != MALLARD_OK)
      return cli_usage_error(cmd, "--params is not valid JSON: %s", jerr.message);
    if (mlr_json_root(doc)->type != MLR_JSON_OBJECT) {
      mlr_json_free(doc);
      return cli_usage_error(cmd, "--params must be a JSON object");
    }
    mlr_json_free(doc);
  }
  cli_format format = CLI_FORMAT_NONE;
  if (format_s != NULL) {
    format = cli_format_parse(format_s);
    if (format == CLI_FORMAT_NONE) return cli_usage_error(cmd, "unknown format '%s'", format_s);
  } else if (out_path != NULL && strcmp(out_path, "-") != 0) {
    format = cli_format_from_path(out_path);
    if (format == CLI_FORMAT_NONE) format = CLI_FORMAT_CSV;
  } else {
    format = isatty(STDOUT_FILENO) ? CLI_FORMAT_TABLE : CLI_FORMAT_CSV;
  }

  mallard_client *client = NULL;
  int rc = cli_connect(&o, NULL, &client);
  if (rc != CLI_EXIT_OK) return rc;
  mallard_error err;
  memset(&err, 0, sizeof err);
  mallard_call_options call = cli_call_options(&o);
  struct ArrowArrayStream src;
  memset(&src, 0, sizeof src);
  mallard_writer *w = NULL;
  char *desc_json = NULL;
  if (input != NULL) {
    rc = cli_open_local_file(cmd, input, NULL, &src);
    if (rc != CLI_EXIT_OK) goto cleanup;
  } else {
    mallard_reader *reader = NULL;
    mallard_code code = mallard_client_do_get(client, &call, query, strlen(query), &reader, &err);
    if (code == MALLARD_OK) code = mallard_reader_export(&reader, &src, &err);
    if (code != MALLARD_OK) {
      mallard_reader_close(&reader, NULL);
      rc = cli_fail(cmd, &err);
      goto cleanup;
    }
  }
  struct ArrowSchema schema;
  memset(&schema, 0, sizeof schema);
  if (src.get_schema(&src, &schema) != 0) {
    const char *e = src.get_last_error(&src);
    cli_print_error(cmd, NULL, e != NULL && *e ? e : "cannot read the input");
    rc = CLI_EXIT_ERROR;
    goto cleanup;
  }
  mlr_strbuf b = {0};
  mlr_strbuf_append(&b, "{\"exchanger\": ", 14);
  mlr_strbuf_append_json_string(&b, name, strlen(name));
  if (params != NULL) {
    mlr_strbuf_append(&b, ", \"params\": ", 12);
    mlr_strbuf_append_str(&b, params);
  }
  mlr_strbuf_append(&b, "}", 1);
  desc_json = mlr_strbuf_take(&b, NULL);
  mallard_descriptor desc = mallard_descriptor_command(desc_json, 0);
  mallard_code code = mallard_client_do_exchange(client, &call, &desc, &w, &err);
  if (code == MALLARD_OK) code = mallard_writer_begin(w, &schema, &err);
  schema.release(&schema);
  if (code != MALLARD_OK) {
    rc = cli_fail(cmd, &err);
    goto cleanup;
  }
  cli_feeder f;
  if (cli_feeder_start(&f, w, &src) != 0) {
    mallard_writer_cancel(w);
    fprintf(stderr, "mallard %s: cannot start a thread\n", cmd);
    rc = CLI_EXIT_ERROR;
    goto cleanup;
  }
  out_ctx oc;
  memset(&oc, 0, sizeof oc);
  oc.reader = mallard_writer_reader(w);
  oc.feeder = &f;
  struct ArrowArrayStream out = {out_schema, out_next, out_error, out_release, &oc};
  int64_t rows = 0;
  /* The answer's schema first: an exchange refused at once (unknown exchanger, bad params) is
   * then reported with the server's status and exit code. */
  struct ArrowSchema answer;
  memset(&answer, 0, sizeof answer);
  if (mallard_reader_schema(oc.reader, &answer, &oc.err) != MALLARD_OK) {
    mallard_writer_cancel(w);
    cli_feeder_join(&f);
    if (atomic_load(&f.src_failed)) { /* the input broke before the answer began */
      explain_cancel(&oc);
      cli_print_error(cmd, NULL, oc.err.message);
      rc = CLI_EXIT_ERROR;
    } else {
      rc = cli_fail(cmd, &oc.err);
    }
    goto cleanup;
  }
  answer.release(&answer);
  rc = cli_write_arrow_stream(cmd, &out, format, out_path, 40, &o, &rows);
  if (rc != CLI_EXIT_OK) mallard_writer_cancel(w);
  cli_feeder_join(&f);
  mallard_error cerr;
  memset(&cerr, 0, sizeof cerr);
  code = mallard_writer_close(&w, &cerr);
  if (rc == CLI_EXIT_OK && f.src_msg[0] != '\0') {
    cli_print_error(cmd, NULL, f.src_msg);
    rc = CLI_EXIT_ERROR;
  } else if (rc == CLI_EXIT_OK && code != MALLARD_OK) {
    rc = cli_fail(cmd, &cerr);
  } else if (rc == CLI_EXIT_OK && f.rc != MALLARD_OK) {
    rc = cli_fail(cmd, &f.err);
  }
cleanup:
  free(desc_json);
  mallard_writer_close(&w, NULL);
  if (src.release != NULL) src.release(&src);
  mallard_client_close(&client);
  return rc;
}
