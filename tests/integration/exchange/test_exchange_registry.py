"""The registry seen from clients: register/replace/unregister while exchanges run (they finish
with the version they started with), persistence with --db across a restart, and roles
(a reader may run exchanges but not register them)."""
import json
import subprocess

import pyarrow as pa
import pyarrow.flight as fl
import pytest

from xchg_helpers import action, command, exchange, expect_status, register


def test_replace_and_unregister_while_in_use(client, flights):
    c, o = client
    register(c, o, "versioned", "SELECT 1 AS version, delay FROM input")
    t = flights.slice(0, 3000)
    batches = t.to_batches(max_chunksize=1000)
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"versioned"), o)
    w.begin(t.schema)
    w.write_batch(batches[0])
    first = r.read_chunk().data
    assert first.column(0).to_pylist() == [1] * 1000
    # Replace it while the exchange runs: new exchanges see v2, the running one keeps v1.
    register(c, o, "versioned", "SELECT 2 AS version, delay FROM input", replace=True)
    assert exchange(c, o, "versioned", t.slice(0, 5)).column("version").to_pylist() == [2] * 5
    w.write_batch(batches[1])
    assert r.read_chunk().data.column(0).to_pylist() == [1] * 1000
    # Unregister it: new exchanges are NOT_FOUND, the running one still finishes.
    assert json.loads(action(c, o, "unregister_exchanger", "versioned")[0]) == \
        {"unregistered": "versioned"}
    with expect_status("NOT_FOUND"):
        exchange(c, o, "versioned", t.slice(0, 5))
    w.write_batch(batches[2])
    w.done_writing()
    rest = r.read_all()
    w.close()
    assert rest.column(0).to_pylist() == [1] * 1000


def test_registered_exchangers_persist_with_db(start_server, tmp_path, flights):
    db = tmp_path / "x.duckdb"
    s = start_server("--db", str(db))
    c, o = s.client()
    register(c, o, "kept", "SELECT origin, delay * $k AS dk FROM input", "batch",
             input_schema={"columns": {"origin": "VARCHAR", "delay": "BIGINT"}})
    register(c, o, "kept_agg", "SELECT count(*) AS n FROM input", "stream_end")
    register(c, o, "dropped", "SELECT 1 AS one FROM input")
    action(c, o, "unregister_exchanger", "dropped")
    c.close()
    assert s.stop() == 0
    s2 = start_server("--db", str(db))
    c, o = s2.client()
    entries = {e["name"]: e for e in json.loads(action(c, o, "list_exchangers")[0])}
    assert entries["kept"]["kind"] == "sql" and entries["kept"]["mode"] == "batch"
    assert entries["kept_agg"]["mode"] == "stream_end"
    assert "dropped" not in entries
    t = flights.slice(0, 100)
    out = exchange(c, o, command("kept", {"k": 3}), t)
    assert out.column("dk").to_pylist() == [d * 3 for d in t.column("delay").to_pylist()]
    assert exchange(c, o, "kept_agg", t).to_pylist() == [{"n": 100}]


def test_read_only_server_loads_and_runs_sql_exchangers(start_server, tmp_path, flights):
    db = tmp_path / "ro.duckdb"
    s = start_server("--db", str(db))
    c, o = s.client()
    register(c, o, "ro_filter", "SELECT delay FROM input WHERE delay > $t")
    c.close()
    assert s.stop() == 0
    s2 = start_server("--db", str(db), "--read-only")
    c, o = s2.client()
    with expect_status("PERMISSION_DENIED"):
        register(c, o, "another", "SELECT 1 FROM input")
    t = flights.slice(0, 1000)
    out = exchange(c, o, command("ro_filter", {"t": 5}), t)
    assert out.num_rows == sum(1 for d in t.column("delay").to_pylist() if d > 5)


@pytest.fixture(scope="module")
def users_file(mallard_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("xchg-users")
    lines = []
    for user, role, pw in (("ada", "admin", "ada-pw"), ("rita", "reader", "rita-pw")):
        r = subprocess.run([mallard_bin, "passwd", user, "--role", role, "--cost", "interactive"],
                           input=pw + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        lines.append(r.stdout.strip())
    path = d / "users.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_cannot_register_but_can_exchange(start_server, users_file, flights):
    s = start_server("--users", str(users_file))
    admin_c, admin_o = s.client("ada", "ada-pw")
    register(admin_c, admin_o, "for_readers", "SELECT delay FROM input WHERE delay > $t")
    c, o = s.client("rita", "rita-pw")
    with expect_status("PERMISSION_DENIED"):
        action(c, o, "register_exchanger", {"name": "mine", "sql": "SELECT 1 FROM input"})
    with expect_status("PERMISSION_DENIED"):
        action(c, o, "register_exchanger", {"name": "for_readers", "sql": "SELECT 1 FROM input",
                                            "replace": True})
    with expect_status("PERMISSION_DENIED"):
        action(c, o, "unregister_exchanger", "for_readers")
    names = {e["name"] for e in json.loads(action(c, o, "list_exchangers")[0])}
    assert "for_readers" in names and "mine" not in names
    t = flights.slice(0, 1000)
    out = exchange(c, o, command("for_readers", {"t": 10}), t)
    assert out.num_rows == sum(1 for d in t.column("delay").to_pylist() if d > 10)
    assert exchange(c, o, "processed", t).num_rows == 1000
