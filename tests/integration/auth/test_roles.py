"""Roles: a reader may read (DoGet, GetFlightInfo, GetSchema, ListFlights, DoExchange, the
read-only actions); every write answers PERMISSION_DENIED and changes nothing."""
import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import PASSWORDS, login

pytestmark = pytest.mark.timeout(120)


def action(client, opts, name, body=b""):
    if isinstance(body, str):
        body = body.encode()
    return [r.body.to_pybytes() for r in client.do_action(flight.Action(name, body), options=opts)]


def snapshot(client, opts):
    tables = json.loads(action(client, opts, "list_tables")[0])
    names = sorted((t.get("schema"), t["table"], t.get("rows")) for t in tables)
    rows = client.do_get(flight.Ticket(b"SELECT sum(x), count(*) FROM t"),
                         options=opts).read_all().to_pylist()
    ex = json.loads(action(client, opts, "list_exchangers")[0])
    return names, rows, sorted(e["name"] for e in ex)


@pytest.fixture(scope="module")
def setup(shared_server):
    admin, aopts, _ = login(shared_server, "alice", PASSWORDS["alice"])
    action(admin, aopts, "execute", "CREATE TABLE t AS SELECT range AS x FROM range(10)")
    action(admin, aopts, "register_exchanger",
           json.dumps({"name": "double_x", "sql": "SELECT x * 2 AS x FROM input"}))
    reader, ropts, _ = login(shared_server, "bob", PASSWORDS["bob"])
    return admin, aopts, reader, ropts


def test_reader_reads(setup):
    admin, aopts, reader, ropts = setup
    t = reader.do_get(flight.Ticket(b"SELECT * FROM t ORDER BY x"), options=ropts).read_all()
    assert t.column("x").to_pylist() == list(range(10))
    info = reader.get_flight_info(flight.FlightDescriptor.for_path("t"), options=ropts)
    assert info.schema.names == ["x"]
    schema = reader.get_schema(flight.FlightDescriptor.for_command(b"SELECT * FROM t"),
                               options=ropts)
    assert schema.schema.names == ["x"]
    assert any(f.descriptor.path == [b"t"] or f.descriptor.path == ["t"]
               for f in reader.list_flights(options=ropts))
    assert json.loads(action(reader, ropts, "ping")[0])["ok"] is True
    action(reader, ropts, "list_tables")
    action(reader, ropts, "list_exchangers")
    assert len(list(reader.list_actions(options=ropts))) >= 8
    data = pa.table({"x": pa.array([1, 2, 3], pa.int64())})
    w, r = reader.do_exchange(flight.FlightDescriptor.for_command(b"echo"), options=ropts)
    w.begin(data.schema)
    w.write_table(data)
    w.done_writing()
    assert r.read_all().column("x").to_pylist() == [1, 2, 3]
    w.close()


def test_reader_writes_refused(setup):
    admin, aopts, reader, ropts = setup
    before = snapshot(admin, aopts)
    data = pa.table({"x": pa.array([100, 200], pa.int64())})

    def put(descriptor):
        w, _ = reader.do_put(descriptor, data.schema, options=ropts)
        w.write_table(data)
        w.close()

    writes = [
        ("DoPut append", lambda: put(flight.FlightDescriptor.for_path("t"))),
        ("DoPut new table", lambda: put(flight.FlightDescriptor.for_path("reader_table"))),
        ("DoPut cmd replace", lambda: put(flight.FlightDescriptor.for_command(
            json.dumps({"table": "t", "mode": "replace"}).encode()))),
        ("execute insert", lambda: action(reader, ropts, "execute", "INSERT INTO t VALUES (99)")),
        ("execute drop", lambda: action(reader, ropts, "execute", "DROP TABLE t")),
        ("execute select", lambda: action(reader, ropts, "execute", "SELECT 1")),
        ("drop_table", lambda: action(reader, ropts, "drop_table", "t")),
        ("register_exchanger", lambda: action(reader, ropts, "register_exchanger", json.dumps(
            {"name": "evil", "sql": "SELECT * FROM input"}))),
        ("register_exchanger replace", lambda: action(
            reader, ropts, "register_exchanger",
            json.dumps({"name": "double_x", "sql": "SELECT 0 AS x FROM input",
                        "replace": True}))),
        ("unregister_exchanger", lambda: action(reader, ropts, "unregister_exchanger",
                                                "double_x")),
    ]
    for name, fn in writes:
        with pytest.raises(flight.FlightUnauthorizedError) as ei:
            fn()
        assert "admin" in str(ei.value), name
    # An unknown action is unknown to every role (not a permission problem).
    with pytest.raises(pa.ArrowInvalid, match="unknown action"):
        action(reader, ropts, "some_future_write")
    assert snapshot(admin, aopts) == before


def test_reader_sql_writes_through_read_rpcs_refused(setup):
    """A ticket or command is SQL: a reader must not write through DoGet/GetFlightInfo/
    GetSchema either."""
    admin, aopts, reader, ropts = setup
    before = snapshot(admin, aopts)
    for sql in (b"DROP TABLE t", b"INSERT INTO t VALUES (42)",
                b"CREATE TABLE reader_made AS SELECT 1 AS y", b"DELETE FROM t",
                b"SELECT 1; DROP TABLE t"):
        # PERMISSION_DENIED, or INVALID_ARGUMENT for text that is not one statement
        with pytest.raises((flight.FlightError, pa.ArrowInvalid)):
            reader.do_get(flight.Ticket(sql), options=ropts).read_all()
        # GetFlightInfo/GetSchema may describe the statement, but must not run it
        for call in (lambda: reader.get_flight_info(flight.FlightDescriptor.for_command(sql),
                                                    options=ropts),
                     lambda: reader.get_schema(flight.FlightDescriptor.for_command(sql),
                                               options=ropts)):
            try:
                call()
            except (flight.FlightError, pa.ArrowInvalid, OSError):
                pass
        assert snapshot(admin, aopts) == before, sql
    assert snapshot(admin, aopts) == before


def test_reader_side_effects_refused(setup, tmp_path):
    """Writes that a rolled-back transaction cannot undo (a file written by COPY, a global
    setting) and writes hidden behind a read-looking first word are refused with
    PERMISSION_DENIED before they run; EXPLAIN ANALYZE of a query still works."""
    admin, aopts, reader, ropts = setup
    before = snapshot(admin, aopts)
    threads = admin.do_get(flight.Ticket(b"SELECT current_setting('threads') AS n"),
                           options=aopts).read_all().column("n")[0].as_py()
    target = tmp_path / "reader_wrote.csv"
    attacks = [
        f"EXPLAIN ANALYZE COPY (SELECT 42 AS x) TO '{target}'",
        "EXPLAIN ANALYZE SET GLOBAL threads = 1",
        # a ')' inside a comment once ended the option list early and hid the ANALYZE
        f"EXPLAIN (/*)*/ ANALYZE) COPY (SELECT 42 AS x) TO '{target}'",
        "EXPLAIN (/*)*/ ANALYZE) SET GLOBAL threads = 1",
        f"EXPLAIN /* /* */ */ ANALYZE COPY (SELECT 42 AS x) TO '{target}'",
        "explain analyse insert into t values (7)",
        "WITH v AS (SELECT 8 AS x) INSERT INTO t SELECT * FROM v",
        "WITH v AS (SELECT 1) DELETE FROM t",
    ]
    for sql in attacks:
        with pytest.raises(flight.FlightUnauthorizedError) as ei:
            reader.do_get(flight.Ticket(sql.encode()), options=ropts).read_all()
        assert "reader" in str(ei.value) and "EXPLAIN ANALYZE" in str(ei.value), sql
        with pytest.raises(flight.FlightUnauthorizedError):
            reader.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()),
                                   options=ropts)
    assert not target.exists()
    assert admin.do_get(flight.Ticket(b"SELECT current_setting('threads') AS n"),
                        options=aopts).read_all().column("n")[0].as_py() == threads
    assert snapshot(admin, aopts) == before
    plan = reader.do_get(flight.Ticket(b"EXPLAIN ANALYZE SELECT sum(x) FROM t"),
                         options=ropts).read_all()
    assert plan.num_rows >= 1


def test_reader_queries_with_effects_on_others_refused(setup):
    """SELECTs that change what other users see, which no rollback undoes: turning DuckDB's log
    on (it then records every user's SQL text) and reading, clearing or writing it; SQL run
    from a string; sequences (a reader's query runs in a READ ONLY transaction)."""
    admin, aopts, reader, ropts = setup
    action(admin, aopts, "execute", "CREATE SEQUENCE IF NOT EXISTS reader_seq")
    for sql, name in [("SELECT * FROM enable_logging('QueryLog')", "enable_logging"),
                      ("SELECT * FROM system.main.ENABLE_LOGGING('QueryLog')", "enable_logging"),
                      ("SELECT message FROM duckdb_logs", "duckdb_logs"),
                      ("SELECT * FROM truncate_duckdb_logs()", "truncate_duckdb_logs"),
                      ("SELECT write_log('forged')", "write_log"),
                      ("SELECT * FROM query('SELECT * FROM enable_logging()')", "query")]:
        with pytest.raises(flight.FlightUnauthorizedError) as ei:
            reader.do_get(flight.Ticket(sql.encode()), options=ropts).read_all()
        assert f"uses {name}" in str(ei.value) and "bob" in str(ei.value), sql
    assert admin.do_get(flight.Ticket(b"SELECT current_setting('enable_logging') AS v"),
                        options=aopts).read_all().column("v")[0].as_py() in (False, 0, "false")
    with pytest.raises(flight.FlightUnauthorizedError) as ei:
        reader.do_get(flight.Ticket(b"SELECT nextval('reader_seq') AS v"),
                      options=ropts).read_all()
    assert "read-only" in str(ei.value)
    first = admin.do_get(flight.Ticket(b"SELECT nextval('reader_seq') AS v"),
                         options=aopts).read_all().column("v")[0].as_py()
    assert first == 1  # the reader's call did not advance it
    # names that are only names still read
    t = reader.do_get(flight.Ticket(b"SELECT 'enable_logging' AS query, count(*) AS checkpoint "
                                    b"FROM t"), options=ropts).read_all()
    assert t.to_pylist() == [{"query": "enable_logging", "checkpoint": 10}]


def test_exchanger_sql_must_be_a_query(setup, tmp_path):
    """An exchanger that would write is refused at registration, so no reader can run one."""
    admin, aopts, reader, ropts = setup
    before = snapshot(admin, aopts)
    target = tmp_path / "xchg_wrote.csv"
    for sql in ("INSERT INTO t SELECT x FROM input",
                f"COPY (SELECT * FROM input) TO '{target}'",
                "CREATE TABLE kept AS SELECT * FROM input",
                "", "-- nothing"):
        with pytest.raises(pa.ArrowInvalid) as ei:  # INVALID_ARGUMENT
            action(admin, aopts, "register_exchanger", json.dumps({"name": "w", "sql": sql}))
        assert "must be one query" in str(ei.value) or "No statement" in str(ei.value), sql
    # A data-modifying WITH reads like a query until it is prepared against the input: it is
    # registered, then refused when an exchange opens, before any batch is read.
    action(admin, aopts, "register_exchanger", json.dumps(
        {"name": "sneaky", "sql": "WITH v AS (SELECT x FROM input) INSERT INTO t FROM v"}))
    data = pa.table({"x": pa.array([5, 6], pa.int64())})
    w, r = reader.do_exchange(flight.FlightDescriptor.for_command(b"sneaky"), options=ropts)
    with pytest.raises(pa.ArrowInvalid) as ei:
        w.begin(data.schema)
        w.write_table(data)
        w.done_writing()
        r.read_all()
    assert "must be one query" in str(ei.value)
    with pytest.raises(pa.ArrowInvalid):  # the stream's status, once more on close
        w.close()
    action(admin, aopts, "unregister_exchanger", "sneaky")
    assert snapshot(admin, aopts) == before
    assert not target.exists()


def test_admin_can_write(setup):
    admin, aopts, reader, ropts = setup
    data = pa.table({"y": pa.array([1, 2], pa.int64())})
    w, _ = admin.do_put(flight.FlightDescriptor.for_path("admin_table"), data.schema,
                        options=aopts)
    w.write_table(data)
    w.close()
    action(admin, aopts, "drop_table", "admin_table")


def test_internal_errors_carry_no_stack_trace(setup, tmp_path):
    """DuckDB's INTERNAL errors hold a native stack trace (library paths and load addresses):
    clients get the message without it."""
    admin, aopts, reader, ropts = setup
    (tmp_path / "schema.sql").write_text("")
    (tmp_path / "load.sql").write_text("CREATE TABLE imported AS SELECT 1 AS x;\n")
    for client, opts in ((admin, aopts), (reader, ropts)):
        with pytest.raises(flight.FlightError) as ei:
            client.do_get(flight.Ticket(f"IMPORT DATABASE '{tmp_path}'".encode()),
                          options=opts).read_all()
        msg = str(ei.value)
        assert "statement type mismatch" in msg
        assert "Stack Trace" not in msg and "libduckdb" not in msg and "0x7f" not in msg
