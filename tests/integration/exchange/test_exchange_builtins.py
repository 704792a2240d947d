"""The built-in exchangers on the flights data: `echo` answers every batch unchanged,
`processed` answers it with an extra BOOLEAN column `processed` = true (a different schema)."""
import json

import pyarrow as pa

from xchg_helpers import action, command, exchange, expect_status


def test_list_has_builtins_and_native(client):
    c, o = client
    entries = {e["name"]: e for e in json.loads(action(c, o, "list_exchangers")[0])}
    assert entries["echo"]["kind"] == "builtin"
    assert entries["processed"]["kind"] == "builtin"
    assert entries["zscore"]["kind"] == "native"


def test_echo_flights(client, flights):
    c, o = client
    out = exchange(c, o, "echo", flights, chunk=10_000)
    assert out.schema == flights.schema
    assert out.equals(flights)


def test_processed_flights(client, flights):
    c, o = client
    out = exchange(c, o, command("processed", {}), flights, chunk=25_000)
    assert out.schema.names == flights.schema.names + ["processed"]
    assert out.schema.field("processed").type == pa.bool_()
    assert out.num_rows == flights.num_rows
    assert out.column("processed").null_count == 0
    assert pa.compute.all(out.column("processed")).as_py() is True
    assert out.drop_columns(["processed"]).equals(flights)


def test_processed_keeps_nulls_and_types(client, flights_small):
    c, o = client
    t = flights_small.slice(0, 5000)
    with_nulls = t.append_column("maybe", pa.array([None if i % 3 else i for i in range(5000)],
                                                   pa.int32()))
    out = exchange(c, o, "processed", with_nulls, chunk=777)
    assert out.drop_columns(["processed"]).equals(with_nulls)
    assert out.column("processed").to_pylist() == [True] * 5000


def test_unknown_exchanger_is_not_found(client, flights_small):
    c, o = client
    with expect_status("NOT_FOUND", "no_such_exchanger"):
        exchange(c, o, "no_such_exchanger", flights_small.slice(0, 10))
    with expect_status("NOT_FOUND"):
        exchange(c, o, command("no_such_exchanger", {"a": 1}), flights_small.slice(0, 10))


def test_bad_commands_are_invalid(client, flights_small):
    c, o = client
    for cmd in [b'{"exchanger": 3}', b'{"exchanger": "echo", "params": [1]}', b"{not json",
                b"two words"]:
        with expect_status("INVALID_ARGUMENT"):
            exchange(c, o, cmd, flights_small.slice(0, 10))
    # The server is still serving.
    assert exchange(c, o, "echo", flights_small.slice(0, 10)).num_rows == 10
