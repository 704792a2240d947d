"""PROTOCOL.md against `mallard serve`: DoGet, GetFlightInfo / GetSchema / ListFlights, DoAction
and ListActions, with pyarrow as the client."""
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import pytest

from service_helpers import action, expect_status


def put_table(c, opts, descriptor, table):
    w, r = c.do_put(descriptor, table.schema, opts)
    w.write_table(table)
    w.done_writing()
    result = r.read()
    w.close()
    return json.loads(result.to_pybytes()) if result is not None else None


def test_two_servers_independent(mallard, table_name):
    c1, o1 = mallard.client(0)
    c2, o2 = mallard.client(1)
    assert len(mallard.urls) == 2 and mallard.urls[0] != mallard.urls[1]
    put_table(c1, o1, fl.FlightDescriptor.for_path(table_name), pa.table({"a": [1]}))
    assert table_name in {t["table"] for t in json.loads(action(c1, o1, "list_tables")[0])}
    assert table_name not in {t["table"] for t in json.loads(action(c2, o2, "list_tables")[0])}


def test_ping(client):
    c, o = client
    res = action(c, o, "ping")
    assert len(res) == 1
    body = json.loads(res[0])
    assert body["ok"] is True and isinstance(body["version"], str) and body["version"]


def test_doget_streams_batches(client):
    c, o = client
    reader = c.do_get(fl.Ticket(b"SELECT i, i * 2 AS j, 'v' || i AS s FROM range(1000000) t(i)"), o)
    n = 0
    total = 0
    batches = 0
    for chunk in reader:
        batches += 1
        n += chunk.data.num_rows
        total += pc.sum(chunk.data.column("i")).as_py()
    assert n == 1000000
    assert total == sum(range(1000000))
    assert batches > 1  # streamed, not one giant batch
    assert reader.schema.names == ["i", "j", "s"]


def test_doget_zero_rows_has_schema(client):
    c, o = client
    reader = c.do_get(fl.Ticket(b"SELECT 1::INTEGER AS a, 'x' AS b WHERE false"), o)
    t = reader.read_all()
    assert t.num_rows == 0
    assert t.schema.names == ["a", "b"]
    assert t.schema.field("a").type == pa.int32()


def test_doget_syntax_error(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT", "syntax error"):
        c.do_get(fl.Ticket(b"SELEC 1"), o).read_all()


def test_doget_binder_error(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT", "no_such_column"):
        c.do_get(fl.Ticket(b"SELECT no_such_column FROM range(3)"), o).read_all()


def test_doget_unknown_table(client):
    c, o = client
    with expect_status("NOT_FOUND", "no_such_table_xyz"):
        c.do_get(fl.Ticket(b"SELECT * FROM no_such_table_xyz"), o).read_all()


def test_doget_empty_and_bad_ticket(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT"):
        c.do_get(fl.Ticket(b""), o).read_all()
    with expect_status("INVALID_ARGUMENT", "UTF-8"):
        c.do_get(fl.Ticket(b"SELECT '\xff'"), o).read_all()


def test_query_failing_after_rows_were_sent(client):
    c, o = client
    # The example: DuckDB may already fail in its first pull (its threads run ahead).
    sql = b"SELECT CASE WHEN i > 100000 THEN error('boom') ELSE i END AS v FROM range(1000000) t(i)"
    got = 0
    with expect_status("INVALID_ARGUMENT", "boom"):
        for chunk in c.do_get(fl.Ticket(sql), o):
            got += chunk.data.num_rows
    assert got < 1000000
    # Failing late: rows are streamed first, then the stream ends with DuckDB's error.
    sql = b"SELECT CASE WHEN i > 3000000 THEN error('late boom') ELSE i END AS v FROM range(4000000) t(i)"
    got = 0
    with expect_status("INVALID_ARGUMENT", "late boom"):
        for chunk in c.do_get(fl.Ticket(sql), o):
            got += chunk.data.num_rows
    assert 0 < got < 4000000


def test_get_flight_info_cmd(client):
    c, o = client
    sql = b"SELECT 42::BIGINT AS answer, 'x' AS s"
    info = c.get_flight_info(fl.FlightDescriptor.for_command(sql), o)
    assert info.schema.names == ["answer", "s"]
    assert info.schema.field("answer").type == pa.int64()
    assert info.total_records == -1
    assert len(info.endpoints) == 1
    assert info.endpoints[0].ticket.ticket == sql
    assert info.descriptor.command == sql
    t = c.do_get(info.endpoints[0].ticket, o).read_all()
    assert t.to_pylist() == [{"answer": 42, "s": "x"}]


def test_get_flight_info_cmd_errors(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT", "syntax error"):
        c.get_flight_info(fl.FlightDescriptor.for_command(b"SELEC 1"), o)
    with expect_status("NOT_FOUND", "nope_nope"):
        c.get_flight_info(fl.FlightDescriptor.for_command(b"SELECT * FROM nope_nope"), o)


def test_get_flight_info_path(client, table_name):
    c, o = client
    data = pa.table({"a": pa.array(range(1234), pa.int64()), "b": ["x"] * 1234})
    put_table(c, o, fl.FlightDescriptor.for_path(table_name), data)
    for desc in (
        fl.FlightDescriptor.for_path(table_name),
        fl.FlightDescriptor.for_path("main", table_name),
    ):
        info = c.get_flight_info(desc, o)
        assert info.total_records == 1234
        assert info.schema == data.schema
        assert len(info.endpoints) == 1
        back = c.do_get(info.endpoints[0].ticket, o).read_all()
        assert back.sort_by("a").equals(data)
        assert c.get_schema(desc, o).schema == data.schema


def test_path_with_quotes_in_names(client):
    c, o = client
    name = 'we"ird ta\'ble; DROP'
    data = pa.table({"x y": [1, 2]})
    put_table(c, o, fl.FlightDescriptor.for_path(name), data)
    info = c.get_flight_info(fl.FlightDescriptor.for_path(name), o)
    assert info.total_records == 2
    assert c.do_get(info.endpoints[0].ticket, o).read_all().equals(data)
    action(c, o, "execute", "CREATE SCHEMA IF NOT EXISTS \"odd schema\"")
    put_table(c, o, fl.FlightDescriptor.for_path("odd schema", name), data)
    info = c.get_flight_info(fl.FlightDescriptor.for_path("odd schema", name), o)
    assert info.total_records == 2
    assert c.do_get(info.endpoints[0].ticket, o).read_all().equals(data)


def test_get_flight_info_path_errors(client):
    c, o = client
    with expect_status("NOT_FOUND", "no_such_table_abc"):
        c.get_flight_info(fl.FlightDescriptor.for_path("no_such_table_abc"), o)
    with expect_status("INVALID_ARGUMENT", "[schema, table]"):
        c.get_flight_info(fl.FlightDescriptor.for_path("a", "b", "c"), o)
    with expect_status("NOT_FOUND"):
        c.get_schema(fl.FlightDescriptor.for_path("no_such_table_abc"), o)


def test_get_schema_cmd(client):
    c, o = client
    r = c.get_schema(fl.FlightDescriptor.for_command(b"SELECT 1::SMALLINT AS a"), o)
    assert r.schema == pa.schema([("a", pa.int16())])


def test_list_flights(client):
    c, o = client
    action(c, o, "execute", "CREATE TABLE lf_alpha AS SELECT * FROM range(5) t(i)")
    action(c, o, "execute", "CREATE TABLE lf_beta AS SELECT * FROM range(7) t(i)")
    action(c, o, "execute", "CREATE SCHEMA IF NOT EXISTS lfs")
    action(c, o, "execute", "CREATE TABLE lfs.lf_gamma AS SELECT 1 AS x")
    flights = {tuple(p.decode() for p in f.descriptor.path): f for f in c.list_flights(b"", o)}
    assert ("lf_alpha",) in flights and ("lf_beta",) in flights
    assert ("lfs", "lf_gamma") in flights
    assert flights[("lf_alpha",)].total_records == 5
    assert flights[("lf_beta",)].total_records == 7
    assert flights[("lf_alpha",)].schema.names == ["i"]
    t = c.do_get(flights[("lfs", "lf_gamma")].endpoints[0].ticket, o).read_all()
    assert t.to_pylist() == [{"x": 1}]
    filtered = [tuple(p.decode() for p in f.descriptor.path) for f in c.list_flights(b"lf_b%", o)]
    assert filtered == [("lf_beta",)]
    assert list(c.list_flights(b"nothing_matches_%", o)) == []


def test_list_actions(client):
    c, o = client
    acts = {a.type: a.description for a in c.list_actions(o)}
    for name in (
        "ping",
        "execute",
        "list_tables",
        "drop_table",
        "register_exchanger",
        "unregister_exchanger",
        "list_exchangers",
        "logout",
    ):
        assert name in acts and acts[name] and "\n" not in acts[name]


def test_execute_and_list_and_drop(client, table_name):
    c, o = client
    assert json.loads(action(c, o, "execute", f"CREATE TABLE {table_name} (i INTEGER)")[0]) == {
        "rows_changed": 0
    }
    res = json.loads(action(c, o, "execute", f"INSERT INTO {table_name} SELECT * FROM range(10)")[0])
    assert res == {"rows_changed": 10}
    res = json.loads(action(c, o, "execute", f"DELETE FROM {table_name} WHERE i < 3")[0])
    assert res == {"rows_changed": 3}
    # CREATE TABLE ... AS reports the rows it wrote, as DuckDB's shell shows them.
    ctas = f"CREATE TABLE {table_name}_copy AS SELECT * FROM {table_name}"
    assert json.loads(action(c, o, "execute", ctas)[0]) == {"rows_changed": 7}
    assert json.loads(action(c, o, "drop_table", f"{table_name}_copy")[0]) == {"dropped": True}
    tables = json.loads(action(c, o, "list_tables")[0])
    mine = [t for t in tables if t["table"] == table_name]
    assert mine == [{"schema": "main", "table": table_name, "rows": 7}]
    with expect_status("INVALID_ARGUMENT", "unknown key 'foo'"):
        action(c, o, "drop_table", json.dumps({"table": table_name, "foo": 1}))
    assert json.loads(action(c, o, "drop_table", table_name)[0]) == {"dropped": True}
    assert table_name not in {t["table"] for t in json.loads(action(c, o, "list_tables")[0])}
    with expect_status("NOT_FOUND", table_name):
        action(c, o, "drop_table", table_name)


def test_execute_errors(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT", "syntax error"):
        action(c, o, "execute", "CREAT TABLE x (i INT)")
    with expect_status("INVALID_ARGUMENT"):
        action(c, o, "execute", "")
    with expect_status("NOT_FOUND", "no_such_table_q"):
        action(c, o, "execute", "INSERT INTO no_such_table_q VALUES (1)")


def test_unknown_action(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT", "no_such_action"):
        action(c, o, "no_such_action")


def test_logout_revokes_token(mallard):
    c, o = mallard.client(0)
    assert json.loads(action(c, o, "logout")[0]) == {"ok": True}
    with pytest.raises(fl.FlightUnauthenticatedError):
        action(c, o, "ping")


def test_unauthenticated(mallard):
    c = fl.FlightClient(mallard.urls[0])
    with pytest.raises(fl.FlightUnauthenticatedError):
        list(c.do_action(fl.Action("ping", b"")))
    with pytest.raises(fl.FlightUnauthenticatedError):
        c.authenticate_basic_token("admin", "wrong")


def test_call_log_lines(mallard, client):
    c, o = client
    c.do_get(fl.Ticket(b"SELECT 'secret-literal' AS s FROM range(3)"), o).read_all()
    import time

    time.sleep(0.2)
    lines = [l for l in mallard.log_lines if "rpc=DoGet" in l and "rows=3" in l]
    assert lines, "".join(mallard.log_lines[-10:])
    line = lines[-1]
    for key in ("peer=", "user=admin", "query=", "bytes=", "ms=", "status=OK", "server="):
        assert key in line
    # The log names a query by its hash, never by its text, and never holds a credential.
    assert "secret-literal" not in line
    import re

    for l in mallard.log_lines:
        assert not re.search(r"Bearer [A-Za-z0-9_\-]{20,}", l), l
        assert "WARNING" in l or "password123" not in l, l


def test_duckdb_parser_error_context_appears_once(client):
    """DuckDB 1.4 repeats a parser error's LINE context; the server sends it once."""
    c, o = client
    with pytest.raises(pa.ArrowInvalid) as e:  # INVALID_ARGUMENT
        c.do_get(fl.Ticket(b"selec x"), o).read_all()
    msg = str(e.value).split(". gRPC client debug context")[0]  # the server's message only
    assert "syntax error" in msg
    assert msg.count("LINE 1:") == 1, msg


def test_nul_in_names_refused(client, table_name):
    """A NUL byte in a PATH element or an action type is a bad descriptor or action: refused with
    INVALID_ARGUMENT, never cut short into another table's or action's name."""
    c, o = client
    put_table(c, o, fl.FlightDescriptor.for_path(table_name), pa.table({"a": [1]}))
    evil = fl.FlightDescriptor.for_path(table_name + "\0evil")
    with expect_status("INVALID_ARGUMENT", "NUL"):
        c.get_flight_info(evil, o)
    with expect_status("INVALID_ARGUMENT", "NUL"):
        c.get_schema(evil, o)
    with expect_status("INVALID_ARGUMENT", "NUL"):
        put_table(c, o, evil, pa.table({"a": [2]}))
    with expect_status("INVALID_ARGUMENT", "NUL"):
        list(c.do_action(fl.Action("ping\0xx", b""), o))
    rows = c.do_get(fl.Ticket(f'SELECT a FROM "{table_name}"'.encode()), o).read_all()
    assert rows.column("a").to_pylist() == [1]


def test_wide_rows_are_sent_in_messages_under_4mib(client, table_name):
    """Batches are cut by rows (65536), but a message goes out under 4 MiB, the limit gRPC
    clients apply by default: a 300 MB batch of wide rows arrives as many smaller ones (before,
    it failed with RESOURCE_EXHAUSTED against the 128 MB maximum)."""
    c, o = client
    c.do_action(fl.Action("execute", f"CREATE TABLE {table_name} AS SELECT i, "
                          f"repeat(chr(65 + (i % 26)::INT), 100000) AS s FROM range(3000) t(i)"
                          .encode()), o)
    reader = c.do_get(fl.Ticket(f"SELECT * FROM {table_name} ORDER BY i".encode()), o)
    batches = [chunk.data for chunk in reader]
    assert len(batches) >= 300 // 4
    assert all(b.nbytes <= 4 * 1024 * 1024 for b in batches)
    t = pa.Table.from_batches(batches)
    assert t.num_rows == 3000
    assert t.column("i").to_pylist() == list(range(3000))
    s = t.column("s")
    assert all(len(v) == 100000 for v in s.to_pylist()[::97])
    assert s[27].as_py() == "B" * 100000
