/* The metadata RPCs: GetFlightInfo and GetSchema for CMD (a query) and PATH (a table)
 * descriptors, and ListFlights (one FlightInfo per table, filtered by a LIKE pattern). */
#include "server/srv_internal.h"

#include <stdlib.h>
#include <string.h>

#define SRV_CALL_OR_FAIL(sc, call, err)                                                            \
  srv_call *sc = srv_call_of(call);                                                                \
  if (sc == NULL) return mlr_error_set(err, MALLARD_INTERNAL, "call state missing")

static mlr_code oom(mlr_error *err) {
  return mlr_error_set(err, MALLARD_RESOURCE_EXHAUSTED, "out of memory");
}

/* "SELECT * FROM "schema"."table"" with both names quoted. Caller frees. */
static char *table_query(const char *schema, const char *table) {
  char *qs = schema ? db_quote_identifier(schema) : NULL;
  char *qt = db_quote_identifier(table);
  char *out = NULL;
  if (qt != NULL && (schema == NULL || qs != NULL)) {
    mlr_strbuf b = {0};
    mlr_strbuf_append(&b, "SELECT * FROM ", 14);
    if (qs != NULL) {
      mlr_strbuf_append_str(&b, qs);
      mlr_strbuf_append(&b, ".", 1);
    }
    mlr_strbuf_append_str(&b, qt);
    out = mlr_strbuf_take(&b, NULL);
  }
  free(qs);
  free(qt);
  return out;
}

static mlr_code one_endpoint(flight_info *info, const void *ticket, size_t len, mlr_error *err) {
  info->endpoints = calloc(1, sizeof *info->endpoints);
  if (info->endpoints == NULL) return oom(err);
  info->n_endpoints = 1;
  return flight_bytes_copy(&info->endpoints[0].ticket, ticket, len, err);
}

/* A PATH descriptor [table] or [schema, table] for a FlightInfo. */
static mlr_code path_descriptor(flight_descriptor *d, const char *schema, const char *table,
                                mlr_error *err) {
  size_t n = schema ? 2 : 1;
  d->type = FLIGHT_DESCRIPTOR_PATH;
  d->path = calloc(n, sizeof *d->path);
  if (d->path == NULL) return oom(err);
  d->n_path = n;
  if (schema) d->path[0] = strdup(schema);
  d->path[n - 1] = strdup(table);
  if (d->path[n - 1] == NULL || (schema && d->path[0] == NULL)) return oom(err);
  return MALLARD_OK;
}

static mlr_code require_table(db_conn *conn, const char *schema, const char *table,
                              mlr_error *err) {
  bool exists = false;
  MLR_RETURN_NOT_OK(db_table_exists(conn, schema, table, &exists, err));
  if (!exists) {
    if (schema != NULL) {
      return mlr_error_set(err, MALLARD_NOT_FOUND, "table \"%s\".\"%s\" does not exist", schema,
                           table);
    }
    return mlr_error_set(err, MALLARD_NOT_FOUND, "table \"%s\" does not exist", table);
  }
  return MALLARD_OK;
}

/* FlightInfo of a table; rows < 0: count them. */
static mlr_code table_info(db_conn *conn, const char *schema, const char *table, int64_t rows,
                           flight_info *info, mlr_error *err) {
  char *sql = NULL;
  mlr_code rc = db_table_schema(conn, schema, table, &info->schema, err);
  if (rc != MALLARD_OK) goto cleanup;
  if (rows < 0) {
    rc = db_table_row_count(conn, schema, table, &rows, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  info->total_records = rows;
  info->total_bytes = -1;
  rc = path_descriptor(&info->descriptor, schema, table, err);
  if (rc != MALLARD_OK) goto cleanup;
  sql = table_query(schema, table);
  if (sql == NULL) {
    rc = oom(err);
    goto cleanup;
  }
  rc = one_endpoint(info, sql, strlen(sql), err);
cleanup:
  free(sql);
  return rc;
}

/* Both GetFlightInfo and GetSchema: fills info (GetSchema keeps only its schema). */
static mlr_code describe(srv_server *s, srv_call *sc, const flight_descriptor *desc,
                         flight_info *info, mlr_error *err) {
  mlr_code rc = MALLARD_OK;
  db_conn *conn = NULL;
  char *sql = NULL;
  srv_put_target target = {0};
  if (desc == NULL || desc->type == FLIGHT_DESCRIPTOR_UNKNOWN) {
    return mlr_error_set(err, MALLARD_INVALID_ARGUMENT,
                         "the descriptor must be CMD (a SQL query) or PATH ([table] or "
                         "[schema, table])");
  }
  if (desc->type == FLIGHT_DESCRIPTOR_CMD) {
    rc = srv_sql_from_bytes(desc->cmd.data, desc->cmd.len, "CMD descriptor", &sql, err);
    if (rc != MALLARD_OK) goto cleanup;
    srv_call_set_query(sc, sql, desc->cmd.len);
    rc = srv_call_connect(sc, &conn, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = srv_check_read_only_sql(s, sc->call, conn, sql, err);
    if (rc != MALLARD_OK) goto cleanup;
    srv_call_watch(sc);
    rc = db_query_schema_only(conn, sql, &info->schema, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = flight_descriptor_copy(&info->descriptor, desc, err);
    if (rc != MALLARD_OK) goto cleanup;
    info->total_records = -1;
    info->total_bytes = -1;
    rc = one_endpoint(info, desc->cmd.data, desc->cmd.len, err);
  } else {
    rc = srv_parse_path(desc->path, desc->n_path, &target, err);
    if (rc != MALLARD_OK) goto cleanup;
    srv_call_set_table(sc, target.schema, target.table);
    rc = srv_call_connect(sc, &conn, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = require_table(conn, target.schema, target.table, err);
    if (rc != MALLARD_OK) goto cleanup;
    rc = table_info(conn, target.schema, target.table, -1, info, err);
    if (rc == MALLARD_OK) sc->rows = info->total_records;
  }
cleanup:
  srv_call_unwatch(sc);
  srv_call_disconnect(sc, conn);
  srv_put_target_release(&target);
  free(sql);
  return srv_call_fix_status(sc, rc, err);
}

mlr_code srv_get_flight_info(void *ctx, flight_call *call, const flight_descriptor *desc,
                             flight_info *info, mlr_error *err) {
  SRV_CALL_OR_FAIL(sc, call, err);
  return describe(ctx, sc, desc, info, err);
}

mlr_code srv_get_schema(void *ctx, flight_call *call, const flight_descriptor *desc,
                        struct ArrowSchema *schema, mlr_error *err) {
  SRV_CALL_OR_FAIL(sc, call, err);
  flight_info info = {0};
  mlr_code rc = describe(ctx, sc, desc, &info, err);
  if (rc == MALLARD_OK) {
    *schema = info.schema;
    info.schema.release = NULL;
  }
  flight_info_release(&info);
  return rc;
}

mlr_code srv_list_flights(void *ctx, flight_call *call, const flight_bytes *criteria,
                          mlr_error *err) {
  SRV_CALL_OR_FAIL(sc, call, err);
  (void)ctx;
  mlr_code rc = MALLARD_OK;
  db_conn *conn = NULL;
  char *pattern = NULL;
  db_table_list list = {0};
  if (criteria != NULL && criteria->len > 0) {
    rc = srv_sql_from_bytes(criteria->data, criteria->len, "ListFlights criteria", &pattern, err);
    if (rc != MALLARD_OK) goto cleanup;
  }
  rc = srv_call_connect(sc, &conn, err);
  if (rc != MALLARD_OK) goto cleanup;
  rc = db_list_tables(conn, pattern, &list, err);
  if (rc != MALLARD_OK) goto cleanup;
  sc->rows = 0;
  for (int64_t i = 0; i < list.count; i++) {
    const db_table_entry *t = &list.items[i];
    /* Tables of the default schema are named by [table], others by [schema, table]. */
    const char *schema = t->schema && strcmp(t->schema, "main") != 0 ? t->schema : NULL;
    flight_info info = {0};
    rc = table_info(conn, schema, t->table, t->rows, &info, err);
    if (rc == MALLARD_NOT_FOUND) {
      /* Dropped since the listing: not an error of ListFlights. */
      flight_info_release(&info);
      rc = MALLARD_OK;
      continue;
    }
    if (rc == MALLARD_OK) rc = flight_call_write_flight_info(call, &info, err);
    flight_info_release(&info);
    if (rc != MALLARD_OK) goto cleanup;
    sc->rows++;
  }
cleanup:
  db_table_list_free(&list);
  srv_call_disconnect(sc, conn);
  free(pattern);
  return rc;
}
