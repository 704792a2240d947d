/* Unit tests of a server's lifecycle: start on port 0, the URL, --init-sql, refusal of bad
 * configurations, shutdown, and a persistent database written through --init-sql surviving
 * srv_free (checkpoint) and a reopen. */
#include "db/db.h"
#include "server/srv.h"
#include "mtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static srv_logger logger;

static void test_start_and_stop(void) {
  srv_config cfg = {.listen = "127.0.0.1:0", .logger = &logger};
  srv_server *s = NULL;
  mlr_error err;
  mlr_code rc = srv_start(&cfg, &s, &err);
  if (rc != MALLARD_OK) fprintf(stderr, "srv_start: %s\n", err.message);
  REQUIRE(rc == MALLARD_OK);
  int port = srv_port(s);
  CHECK(port > 0 && port < 65536);
  char want[64];
  snprintf(want, sizeof want, "grpc://127.0.0.1:%d", port);
  CHECK_EQ_STR(srv_url(s), want);
  srv_shutdown(s, 1);
  srv_shutdown(s, 1); /* idempotent */
  srv_free(s);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
}

static void test_init_sql_and_persistence(void) {
  char dir[] = "/tmp/srv_lifecycle_XXXXXX";
  REQUIRE(mkdtemp(dir) != NULL);
  char db_path[256], sql_path[256];
  snprintf(db_path, sizeof db_path, "%s/p.duckdb", dir);
  snprintf(sql_path, sizeof sql_path, "%s/init.sql", dir);
  write_file(sql_path, "CREATE TABLE seeded AS SELECT * FROM range(5) t(i);\n"
                       "INSERT INTO seeded VALUES (42);\n");
  srv_config cfg = {
      .listen = "127.0.0.1:0", .db_path = db_path, .init_sql_path = sql_path, .logger = &logger};
  srv_server *s = NULL;
  mlr_error err;
  mlr_code rc = srv_start(&cfg, &s, &err);
  if (rc != MALLARD_OK) fprintf(stderr, "srv_start: %s\n", err.message);
  REQUIRE(rc == MALLARD_OK);
  srv_shutdown(s, 0);
  srv_free(s); /* checkpoints */

  db_options o = {.path = db_path};
  db_database *db = NULL;
  db_conn *conn = NULL;
  rc = db_open(&o, &db, &err);
  REQUIRE(rc == MALLARD_OK);
  rc = db_connect(db, &conn, &err);
  if (rc == MALLARD_OK) {
    int64_t rows = -1;
    CHECK_EQ_INT(db_table_row_count(conn, NULL, "seeded", &rows, &err), MALLARD_OK);
    CHECK_EQ_INT(rows, 6);
    db_disconnect(conn);
  }
  db_close(db);
  unlink(db_path);
  unlink(sql_path);
  char wal[300];
  snprintf(wal, sizeof wal, "%s.wal", db_path);
  unlink(wal);
  rmdir(dir);
}

static void test_bad_configs(void) {
  srv_server *s = NULL;
  mlr_error err;
  srv_config missing = {
      .listen = "127.0.0.1:0", .init_sql_path = "/nonexistent/init.sql", .logger = &logger};
  CHECK_EQ_INT(srv_start(&missing, &s, &err), MALLARD_NOT_FOUND);
  CHECK(strstr(err.message, "--init-sql") != NULL);
  CHECK(s == NULL);

  char dir[] = "/tmp/srv_lifecycle_XXXXXX";
  REQUIRE(mkdtemp(dir) != NULL);
  char sql_path[256];
  snprintf(sql_path, sizeof sql_path, "%s/bad.sql", dir);
  write_file(sql_path, "CREATE TABLE oops (;\n");
  srv_config bad_sql = {.listen = "127.0.0.1:0", .init_sql_path = sql_path, .logger = &logger};
  CHECK_EQ_INT(srv_start(&bad_sql, &s, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "bad.sql") != NULL);
  unlink(sql_path);
  rmdir(dir);

  /* The default user is refused on a non-loopback address unless explicitly allowed. */
  srv_config open_addr = {.listen = "0.0.0.0:0", .logger = &logger};
  CHECK_EQ_INT(srv_start(&open_addr, &s, &err), MALLARD_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "--insecure-default-user") != NULL);

  srv_config bad_listen = {.listen = "not-an-address", .logger = &logger};
  CHECK(srv_start(&bad_listen, &s, &err) != MALLARD_OK);
  CHECK(s == NULL);
}

int main(void) {
  srv_logger_init(&logger, stderr, SRV_LOG_TEXT);
  mtest_case cases[] = {MTEST(test_start_and_stop), MTEST(test_init_sql_and_persistence),
                        MTEST(test_bad_configs)};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int before = mtest_failures;
    cases[i].fn();
    fprintf(stderr, "[%s] %s\n", mtest_failures == before ? " ok " : "FAIL", cases[i].name);
  }
  srv_logger_destroy(&logger);
  fprintf(stderr, "%d checks, %d failures\n", mtest_checks, mtest_failures);
  return mtest_failures == 0 && mtest_checks > 0 ? 0 : 1;
}
