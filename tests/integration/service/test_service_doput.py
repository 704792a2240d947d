"""DoPut against `mallard serve`: PATH and CMD descriptors, the four modes, the PutResult, and
that a failed, cancelled or killed DoPut leaves the table exactly as it was."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.flight as fl
import pytest

from service_helpers import action, expect_status


def cmd(table, mode):
    return fl.FlightDescriptor.for_command(json.dumps({"table": table, "mode": mode}).encode())


def put(c, o, desc, table, batch_rows=None):
    w, r = c.do_put(desc, table.schema, o)
    if batch_rows:
        for b in table.to_batches(max_chunksize=batch_rows):
            w.write_batch(b)
    else:
        w.write_table(table)
    w.done_writing()
    buf = r.read()
    w.close()
    return json.loads(buf.to_pybytes())


def get(c, o, sql):
    return c.do_get(fl.Ticket(sql.encode()), o).read_all()


def rows_of(c, o, table):
    return get(c, o, f'SELECT count(*) AS n FROM "{table}"').column("n")[0].as_py()


def sample(n, start=0):
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "name": pa.array([f"n{i}" for i in range(start, start + n)], pa.string()),
            "x": pa.array([i * 0.5 for i in range(start, start + n)], pa.float64()),
        }
    )


def test_path_creates_then_appends(client, table_name):
    c, o = client
    assert put(c, o, fl.FlightDescriptor.for_path(table_name), sample(100)) == {"rows": 100}
    assert put(c, o, fl.FlightDescriptor.for_path(table_name), sample(50, 100)) == {"rows": 50}
    t = get(c, o, f"SELECT * FROM {table_name} ORDER BY id")
    assert t.equals(sample(150))


def test_path_schema_and_table(client, table_name):
    c, o = client
    action(c, o, "execute", "CREATE SCHEMA IF NOT EXISTS put_s")
    assert put(c, o, fl.FlightDescriptor.for_path("put_s", table_name), sample(3)) == {"rows": 3}
    assert get(c, o, f"SELECT count(*) AS n FROM put_s.{table_name}").to_pylist() == [{"n": 3}]


def test_many_batches(client, table_name):
    c, o = client
    data = sample(300000)
    assert put(c, o, fl.FlightDescriptor.for_path(table_name), data, batch_rows=7000) == {
        "rows": 300000
    }
    t = get(c, o, f"SELECT * FROM {table_name} ORDER BY id")
    assert t.equals(data)


def test_schema_only_stream_creates_empty_table(client, table_name):
    c, o = client
    w, r = c.do_put(fl.FlightDescriptor.for_path(table_name), sample(1).schema, o)
    w.done_writing()
    assert json.loads(r.read().to_pybytes()) == {"rows": 0}
    w.close()
    t = get(c, o, f"SELECT * FROM {table_name}")
    assert t.num_rows == 0 and t.schema == sample(1).schema


def test_cmd_modes(client, table_name):
    c, o = client
    with expect_status("NOT_FOUND"):
        put(c, o, cmd(table_name, "append"), sample(5))
    assert put(c, o, cmd(table_name, "create"), sample(5)) == {"rows": 5}
    with expect_status("ALREADY_EXISTS"):
        put(c, o, cmd(table_name, "create"), sample(5))
    assert rows_of(c, o, table_name) == 5
    assert put(c, o, cmd(table_name, "append"), sample(5, 5)) == {"rows": 5}
    assert rows_of(c, o, table_name) == 10
    assert put(c, o, cmd(table_name, "create_or_append"), sample(1, 10)) == {"rows": 1}
    assert rows_of(c, o, table_name) == 11
    other = pa.table({"z": pa.array(["a", "b"])})
    assert put(c, o, cmd(table_name, "replace"), other) == {"rows": 2}
    assert get(c, o, f"SELECT * FROM {table_name} ORDER BY z").equals(other)
    assert put(c, o, cmd(table_name + "_new", "create_or_append"), sample(2)) == {"rows": 2}
    assert put(c, o, cmd(table_name + "_r", "replace"), sample(2)) == {"rows": 2}


def test_cmd_bad_json(client):
    c, o = client
    for body in (b"not json", b"{}", b'{"table": ""}', b'{"table": "x", "mode": "upsert"}',
                 b'["x"]'):
        with expect_status("INVALID_ARGUMENT"):
            put(c, o, fl.FlightDescriptor.for_command(body), sample(1))
    for body, says in ((b'{"table": "a\\u0000b"}', '"table" contains a NUL byte'),
                       (b'{"table": 5}', '"table" must be a string')):
        with expect_status("INVALID_ARGUMENT", says):
            put(c, o, fl.FlightDescriptor.for_command(body), sample(1))
    # A key named twice: which one would count is ambiguous, so neither does.
    dup = b'{"table": "dup_a", "table": "dup_b", "mode": "create"}'
    with expect_status("INVALID_ARGUMENT", "duplicate key"):
        put(c, o, fl.FlightDescriptor.for_command(dup), sample(1))
    names = {t["table"] for t in json.loads(action(c, o, "list_tables")[0])}
    assert not names & {"dup_a", "dup_b"}


def test_bad_path(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT"):
        put(c, o, fl.FlightDescriptor.for_path("a", "b", "c"), sample(1))


@pytest.mark.parametrize(
    "bad",
    [
        pa.table({"id": pa.array([1], pa.int64()), "nom": ["x"], "x": [1.0]}),  # name
        pa.table({"id": pa.array(["1"]), "name": ["x"], "x": [1.0]}),  # type
        pa.table({"id": pa.array([1], pa.int64()), "name": ["x"]}),  # count
        pa.table({"id": pa.array([1], pa.int64()), "name": ["x"], "x": [1.0], "y": [1]}),
    ],
    ids=["name", "type", "fewer", "more"],
)
def test_append_mismatch_leaves_table(client, table_name, bad):
    c, o = client
    put(c, o, cmd(table_name, "create"), sample(10))
    with expect_status("INVALID_ARGUMENT"):
        put(c, o, cmd(table_name, "append"), bad)
    with expect_status("INVALID_ARGUMENT"):
        put(c, o, fl.FlightDescriptor.for_path(table_name), bad)
    assert get(c, o, f"SELECT * FROM {table_name} ORDER BY id").equals(sample(10))


def test_failing_batch_rolls_back_everything(client, table_name):
    c, o = client
    action(c, o, "execute", f"CREATE TABLE {table_name} (id BIGINT PRIMARY KEY, name VARCHAR, x DOUBLE)")
    put(c, o, cmd(table_name, "append"), sample(10))
    # Batches 1-2 are fine, the third repeats a key: nothing of this DoPut may stay.
    data = pa.concat_tables([sample(100, 10), sample(100, 110), sample(5, 0)])
    with pytest.raises(Exception):
        put(c, o, cmd(table_name, "append"), data, batch_rows=100)
    assert get(c, o, f"SELECT * FROM {table_name} ORDER BY id").equals(sample(10))


def test_cancelled_doput_rolls_back(mallard, client, table_name):
    c, o = client
    put(c, o, cmd(table_name, "create"), sample(10))
    # A deadline passing mid-stream cancels the call.
    c2, o2 = mallard.client(0)
    short = fl.FlightCallOptions(headers=o2.headers if hasattr(o2, "headers") else [], timeout=1.0)
    token = c2.authenticate_basic_token("admin", "password123")
    short = fl.FlightCallOptions(headers=[token], timeout=1.0)
    with pytest.raises(Exception):
        w, r = c2.do_put(cmd(table_name, "append"), sample(1).schema, short)
        for i in range(300):
            w.write_table(sample(100, 1000 + i * 100))
            time.sleep(0.01)
        w.done_writing()
        r.read()
        w.close()
    # Closing the client's connection mid-stream cancels the call too.
    c3, o3 = mallard.client(0)
    w, r = c3.do_put(cmd(table_name, "append"), sample(1).schema, o3)
    for i in range(10):
        w.write_table(sample(100, 100000 + i * 100))
    c3.close()
    time.sleep(0.5)
    assert get(c, o, f"SELECT * FROM {table_name} ORDER BY id").equals(sample(10))
    assert put(c, o, cmd(table_name, "append"), sample(1, 10)) == {"rows": 1}


PUT_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import pyarrow as pa, pyarrow.flight as fl
    url, table = sys.argv[1], sys.argv[2]
    c = fl.FlightClient(url)
    o = fl.FlightCallOptions(headers=[c.authenticate_basic_token("admin", "password123")])
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("x", pa.float64())])
    d = fl.FlightDescriptor.for_command(json.dumps({"table": table, "mode": "append"}).encode())
    w, r = c.do_put(d, schema, o)
    i = 0
    while True:
        ids = list(range(1000 + i * 1000, 2000 + i * 1000))
        w.write_table(pa.table({"id": ids, "name": [str(v) for v in ids], "x": [0.5] * 1000},
                               schema=schema))
        i += 1
        if i == 5:
            print("streaming", flush=True)
        time.sleep(0.01)
    """
)


def test_killed_client_mid_doput_rolls_back(mallard, client, table_name):
    c, o = client
    put(c, o, cmd(table_name, "create"), sample(10))
    p = subprocess.Popen(
        [sys.executable, "-c", PUT_CHILD, mallard.urls[0], table_name],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "streaming"
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # The server notices the broken stream and rolls back; the table is exactly as before.
    deadline = time.time() + 10
    while time.time() < deadline:
        t = get(c, o, f"SELECT * FROM {table_name} ORDER BY id")
        if t.equals(sample(10)):
            break
        time.sleep(0.2)
    assert t.equals(sample(10))
    # And it still accepts writes to that table.
    assert put(c, o, cmd(table_name, "append"), sample(1, 10)) == {"rows": 1}


def test_dictionary_labels_not_utf8_refused(client, table_name):
    """A dictionary string column becomes an ENUM: a label that is not UTF-8 made a broken type
    after which every DoPut, list_tables and drop_table of the server failed. It is refused, the
    table is not created, and the server goes on."""
    c, o = client
    labels = pa.array([b"ok", b"\xff\xfe"], pa.binary()).view(pa.string())
    bad = pa.table({"d": pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), labels)})
    with expect_status("INVALID_ARGUMENT", "column 'd': a dictionary label is not valid UTF-8"):
        put(c, o, fl.FlightDescriptor.for_path(table_name), bad)
    names = [t["table"] for t in json.loads(action(c, o, "list_tables")[0])]
    assert table_name not in names
    assert put(c, o, fl.FlightDescriptor.for_path(table_name), sample(3)) == {"rows": 3}


def test_json_column_appends(client, table_name):
    """An arrow.json column makes a JSON column; the same stream appends to it (the table's type
    read back as VARCHAR and refused the append)."""
    c, o = client
    t = pa.table({"j": pa.array(['{"a": 1}', "[2]", None], pa.json_(pa.string()))})
    for _ in range(2):
        assert put(c, o, fl.FlightDescriptor.for_path(table_name), t) == {"rows": 3}
    got = get(c, o, f"SELECT j::VARCHAR AS j, typeof(j) AS t FROM {table_name}").to_pylist()
    assert [r["j"] for r in got] == ['{"a": 1}', "[2]", None] * 2
    assert {r["t"] for r in got} == {"JSON"}


def test_dictionary_changing_between_batches_is_explained(client, table_name):
    """The first batch's dictionary makes the column's ENUM; a later batch with another dictionary
    (pa.concat_tables of encoded tables, Parquet row groups) is refused in the user's terms,
    naming the column (it was DuckDB's "type mismatch in AppendDataChunk"), nothing stored; one
    dictionary for the stream loads."""
    c, o = client
    t = pa.concat_tables([pa.table({"d": pa.array(["a", "a"]).dictionary_encode()}),
                          pa.table({"d": pa.array(["b", "a"]).dictionary_encode()})])
    with expect_status("INVALID_ARGUMENT", "column 'd': a batch's dictionary differs"):
        put(c, o, fl.FlightDescriptor.for_path(table_name), t)
    assert put(c, o, fl.FlightDescriptor.for_path(table_name), t.unify_dictionaries()) == {
        "rows": 4}
    assert sorted(get(c, o, f"SELECT d::VARCHAR AS d FROM {table_name}").column("d")
                  .to_pylist()) == ["a", "a", "a", "b"]
