"""DoExchange and the exchanger actions against `mallard serve`: echo, processed, SQL exchangers
(batch and stream_end), and the errors for unknown exchangers and bad descriptors."""
import json

import pyarrow as pa
import pyarrow.flight as fl

from service_helpers import action, expect_status


def exchange(c, o, command, table, chunk=None):
    desc = fl.FlightDescriptor.for_command(command.encode() if isinstance(command, str) else command)
    w, r = c.do_exchange(desc, o)
    w.begin(table.schema)
    for b in table.to_batches(max_chunksize=chunk):
        w.write_batch(b)
    w.done_writing()
    out = r.read_all()
    w.close()
    return out


def data(n=10000):
    return pa.table({"a": pa.array(range(n), pa.int64()), "b": [f"s{i}" for i in range(n)]})


def test_echo(client):
    c, o = client
    t = data()
    assert exchange(c, o, "echo", t, chunk=1000).equals(t)
    assert exchange(c, o, json.dumps({"exchanger": "echo", "params": {}}), t).equals(t)


def test_processed(client):
    c, o = client
    t = data(500)
    out = exchange(c, o, "processed", t, chunk=100)
    assert out.num_rows == 500
    assert out.schema.names == ["a", "b", "processed"]
    assert out.column("processed").to_pylist() == [True] * 500
    assert out.select(["a", "b"]).equals(t)


def test_sql_exchangers(client):
    c, o = client
    res = action(
        c,
        o,
        "register_exchanger",
        json.dumps({"name": "double_a", "sql": "SELECT a * 2 AS a2 FROM input", "mode": "batch"}),
    )
    assert json.loads(res[0]) == {"registered": "double_a"}
    out = exchange(c, o, "double_a", data(1000), chunk=100)
    assert sorted(out.column("a2").to_pylist()) == [i * 2 for i in range(1000)]
    action(
        c,
        o,
        "register_exchanger",
        json.dumps(
            {"name": "total", "sql": "SELECT sum(a)::BIGINT AS s, count(*) AS n FROM input",
             "mode": "stream_end"}
        ),
    )
    out = exchange(c, o, "total", data(1000), chunk=100)
    assert out.to_pylist() == [{"s": sum(range(1000)), "n": 1000}]
    names = {e["name"]: e["kind"] for e in json.loads(action(c, o, "list_exchangers")[0])}
    assert names["echo"] == "builtin" and names["processed"] == "builtin"
    assert names["double_a"] == "sql" and names["total"] == "sql"
    with expect_status("ALREADY_EXISTS"):
        action(c, o, "register_exchanger",
               json.dumps({"name": "total", "sql": "SELECT 1 FROM input", "mode": "batch"}))
    assert json.loads(action(c, o, "unregister_exchanger", "total")[0]) == {"unregistered": "total"}
    with expect_status("NOT_FOUND"):
        exchange(c, o, "total", data(10))
    with expect_status("NOT_FOUND"):
        action(c, o, "unregister_exchanger", "total")


def test_exchangers_visible_per_server(mallard):
    c1, o1 = mallard.client(0)
    c2, o2 = mallard.client(1)
    action(c1, o1, "register_exchanger",
           json.dumps({"name": "only_on_1", "sql": "SELECT a FROM input", "mode": "batch"}))
    c1b, o1b = mallard.client(0)
    assert "only_on_1" in {e["name"] for e in json.loads(action(c1b, o1b, "list_exchangers")[0])}
    assert "only_on_1" not in {e["name"] for e in json.loads(action(c2, o2, "list_exchangers")[0])}


def test_exchange_errors(client):
    c, o = client
    with expect_status("NOT_FOUND"):
        exchange(c, o, "no_such_exchanger", data(10))
    with expect_status("INVALID_ARGUMENT"):
        w, r = c.do_exchange(fl.FlightDescriptor.for_path("echo"), o)
        w.begin(data(1).schema)
        w.write_table(data(1))
        w.done_writing()
        r.read_all()
    with expect_status("INVALID_ARGUMENT"):
        exchange(c, o, '{"exchanger": ', data(1))
    with expect_status("INVALID_ARGUMENT"):
        action(c, o, "register_exchanger",
               json.dumps({"name": "bad_sql", "sql": "SELEC 1", "mode": "batch"}))
