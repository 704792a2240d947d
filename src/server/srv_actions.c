/* DoAction and ListActions: ping, execute, list_tables, drop_table, the exchanger actions and
 * logout (PROTOCOL.md's action table). Bodies are UTF-8 (JSON where said); results are JSON. */
#include "server/srv_internal.h"

#include "common/mlr_json.h"

#include <stdlib.h>
#include <string.h>

#define APPEND_LIT(b, lit) mlr_strbuf_append((b), (lit), sizeof(lit) - 1)

typedef struct srv_action_def {
  const char *type;
  const char *description;
} srv_action_def;

static const srv_action_def srv_actions[] = {
    {"ping", "Checks that the server answers; result {\"ok\": true, \"version\": \"...\"}."},
    {"execute", "Runs SQL (body: the SQL text) to completion; result {\"rows_changed\": N}."},
    {"list_tables", "Lists the tables (body: none, or a LIKE pattern for the table name); result "
                    "[{\"schema\": .., \"table\": .., \"rows\": ..}, ...]."},
    {"drop_table", "Drops a table (body: its name, or {\"schema\": .., \"table\": ..}); result "
                   "{\"dropped\": true}."},
    {"register_exchanger",
     "Registers a SQL exchanger (body: {\"name\", \"sql\", \"mode\": \"batch\"|\"stream_end\", "
     "\"replace\": bool}); result {\"registered\": name}."},
    {"unregister_exchanger",
     "Removes a SQL exchanger (body: its name); result {\"unregistered\": name}."},
    {"list_exchangers",
     "Lists the exchangers; result [{\"name\", \"kind\": \"builtin\"|\"sql\"|\"native\", ...}]."},
    {"logout", "Revokes the caller's session token; result {\"ok\": true}."},
};

mlr_code srv_list_actions(void *ctx, flight_call *call, mlr_error *err) {
  (void)ctx;
  for (size_t i = 0; i < sizeof srv_actions / sizeof srv_actions[0]; i++) {
    MLR_RETURN_NOT_OK(
        flight_call_write_action_type(call, srv_actions[i].type, srv_actions[i].description, err));
  }
  return MALLARD_OK;
}

static mlr_code write_result(flight_call *call, mlr_strbuf *b, mlr_error *err) {
  size_t len = 0;
  char *text = mlr_strbuf_take(b, &len);
  if (text == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
  mlr_code rc = flight_call_write_result(call, (const uint8_t *)text, len, err);
  free(text);
  return rc;
}

static mlr_code write_text_result(flight_call *call, char *text, size_t len, mlr_error *err) {
  mlr_code rc = flight_call_write_result(call, (const uint8_t *)text, len, err);
  free(text);
  return rc;
}

static mlr_code action_ping(flight_call *call, mlr_error *err) {
  mlr_strbuf b = {0};
  APPEND_LIT(&b, "{\"ok\": true, \"version\": ");
  mlr_strbuf_append_json_string(&b, MALLARD_VERSION, strlen(MALLARD_VERSION));
  mlr_strbuf_append(&b, "}", 1);
  return write_result(call, &b, err);
}

static mlr_code action_execute(srv_server *s, srv_call *sc, const flight_action *a,
                               mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  char *sql = NULL;
  db_conn *conn = NULL;
  bool in_txn = false;
  int64_t changed = 0;
  rc = srv_sql_from_bytes(a->body.data, a->body.len, "execute body", &sql, err);
  if (rc != MALLARD_OK) goto cleanup;
  srv_call_set_query(sc, sql, a->body.len);
  rc = srv_call_connect(sc, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = srv_check_read_only_sql(s, sc->call, conn, sql, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (srv_call_read_only(s, sc->call)) {
    rc = db_execute(conn, "BEGIN TRANSACTION READ ONLY", NULL, err);
    if (rc != MALLARD_OK) goto cleanup;
    in_txn = true;
  }
  srv_call_watch(sc);
  rc = db_execute(conn, sql, &changed, err);
  srv_call_unwatch(sc);
  if (rc != MALLARD_OK) goto cleanup;
  sc->rows = changed;
  mlr_strbuf b = {0};
  mlr_strbuf_appendf(&b, "{\"rows_changed\": %lld}", (long long)changed);
  rc = write_result(sc->call, &b, err);
cleanup:
  srv_call_unwatch(sc);
  if (in_txn) db_execute(conn, "ROLLBACK", NULL, NULL);
  srv_call_disconnect(sc, conn);
  free(sql);
  return srv_call_fix_status(sc, rc, err);
}

static mlr_code action_list_tables(srv_call *sc, const flight_action *a, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  db_conn *conn = NULL;
  db_table_list list = {0};
  char *pattern = NULL;
  if (a->body.len > 0 &&
      (rc = srv_sql_from_bytes(a->body.data, a->body.len, "list_tables pattern", &pattern, err)))
    return rc;
  rc = srv_call_connect(sc, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_list_tables(conn, pattern, &list, err);
  if (rc != MALLARD_OK) goto cleanup;
  mlr_strbuf b = {0};
  mlr_strbuf_append(&b, "[", 1);
  for (int64_t i = 0; i < list.count; i++) {
    const db_table_entry *t = &list.items[i];
    const char *schema = t->schema ? t->schema : "main";
    mlr_strbuf_appendf(&b, "%s{\"schema\": ", i ? ", " : "");
    mlr_strbuf_append_json_string(&b, schema, strlen(schema));
    APPEND_LIT(&b, ", \"table\": ");
    mlr_strbuf_append_json_string(&b, t->table, strlen(t->table));
    mlr_strbuf_appendf(&b, ", \"rows\": %lld}", (long long)t->rows);
  }
  mlr_strbuf_append(&b, "]", 1);
  sc->rows = list.count;
  rc = write_result(sc->call, &b, err);
cleanup:
  db_table_list_free(&list);
  srv_call_disconnect(sc, conn);
  free(pattern);
  return rc;
}

/* drop_table body: a plain table name, a JSON string, or {"schema": .., "table": ..}. */
static mlr_code parse_drop_body(const flight_bytes *body, srv_put_target *t, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  mlr_json_doc *doc = NULL;
  memset(t, 0, sizeof *t);
  if (body->len == 0 || !srv_valid_utf8((const char *)body->data, body->len)) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "drop_table needs the table's name as its body (UTF-8 text)");
  }
  if (body->data[0] != '{' && body->data[0] != '"') {
    char *name = strndup((const char *)body->data, body->len);
    if (name == NULL) return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
    char *path[1] = {name};
    rc = srv_parse_path(path, 1, t, err);
    free(name);
    return rc;
  }
  rc = mlr_json_parse((const char *)body->data, body->len, &doc, err);
  if (rc != MALLARD_OK) goto cleanup;
  const mlr_json *root = mlr_json_root(doc);
  const char *table = NULL, *schema = NULL;
  if (root->type == MLR_JSON_STRING) {
    table = root->string;
  } else if (root->type == MLR_JSON_OBJECT) {
    static const char *const keys[] = {"table", "schema"};
    if ((rc = mlr_json_only_keys(root, keys, 2, "drop_table", err))) goto cleanup;
    table = mlr_json_get_string(root, "table");
    schema = mlr_json_get_string(root, "schema");
  }
  if (table == NULL || table[0] == '\0' || (schema != NULL && schema[0] == '\0')) {
    rc = mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "drop_table body must be a table name or {\"schema\": .., \"table\": ..}");
    goto cleanup;
  }
  char *path[2] = {(char *)schema, (char *)table};
  rc = schema ? srv_parse_path(path, 2, t, err) : srv_parse_path(path + 1, 1, t, err);
cleanup:
  mlr_json_free(doc);
  return rc;
}

static mlr_code action_drop_table(srv_server *s, srv_call *sc, const flight_action *a,
                                  mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  db_conn *conn = NULL;
  srv_put_target t = {0};
  bool exists = false;
  rc = srv_refuse_write(s, "action 'drop_table'", err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = parse_drop_body(&a->body, &t, err);
  if (rc != MALLARD_OK) goto cleanup;
  srv_call_set_table(sc, t.schema, t.table);
  rc = srv_call_connect(sc, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_table_exists(conn, t.schema, t.table, &exists, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (!exists) {
    rc = mlr_error_set(err, MALLARD_NOT_FOUND, "table \"%s\" does not exist", t.table);
    goto cleanup;
  }
  rc = db_drop_table(conn, t.schema, t.table, err);
  if (rc != MALLARD_OK) goto cleanup;
  mlr_strbuf b = {0};
  APPEND_LIT(&b, "{\"dropped\": true}");
  rc = write_result(sc->call, &b, err);
cleanup:
  srv_call_disconnect(sc, conn);
  srv_put_target_release(&t);
  return rc;
}

mlr_code srv_do_action(void *ctx, flight_call *call, const flight_action *action, mlr_error *err) {
  srv_server *s = ctx;
  srv_call *sc = srv_call_of(call);
  if (sc == NULL) return mlr_error_set(err, MALLARD_INTERNAL, "call state missing");
  const char *type = action->type ? action->type : "";
  snprintf(sc->action, sizeof sc->action, "%s", type);
  bool known = false;
  for (size_t i = 0; i < sizeof srv_actions / sizeof srv_actions[0]; i++)
    known = known || strcmp(type, srv_actions[i].type) == 0;
  if (!known) /* the same answer whatever the caller's role (ListActions is open to all) */
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "unknown action '%.64s': ListActions lists the actions this server runs",
                         type);
  MLR_RETURN_NOT_OK(auth_authorize_action(call, type, err));
  char *text = NULL;
  size_t len = 0;
  mlr_code rc;
  if (strcmp(type, "ping") == 0) return action_ping(call, err);
  if (strcmp(type, "execute") == 0) return action_execute(s, sc, action, err);
  if (strcmp(type, "list_tables") == 0) return action_list_tables(sc, action, err);
  if (strcmp(type, "drop_table") == 0) return action_drop_table(s, sc, action, err);
  if (strcmp(type, "register_exchanger") == 0) {
    MLR_RETURN_NOT_OK(srv_refuse_write(s, "action 'register_exchanger'", err));
    rc = xchg_action_register(s->xchg, action->body.data, action->body.len, &text, &len, err);
    return rc == MALLARD_OK ? write_text_result(call, text, len, err) : rc;
  }
  if (strcmp(type, "unregister_exchanger") == 0) {
    MLR_RETURN_NOT_OK(srv_refuse_write(s, "action 'unregister_exchanger'", err));
    rc = xchg_action_unregister(s->xchg, action->body.data, action->body.len, &text, &len, err);
    return rc == MALLARD_OK ? write_text_result(call, text, len, err) : rc;
  }
  if (strcmp(type, "list_exchangers") == 0) {
    rc = xchg_action_list(s->xchg, &text, &len, err);
    return rc == MALLARD_OK ? write_text_result(call, text, len, err) : rc;
  }
  if (strcmp(type, "logout") == 0) {
    MLR_RETURN_NOT_OK(auth_logout(s->auth, call, err));
    static const char ok[] = "{\"ok\": true}";
    return flight_call_write_result(call, (const uint8_t *)ok, sizeof ok - 1, err);
  }
  return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                       "unknown action '%.64s': ListActions lists the actions this server runs",
                       type);
}
