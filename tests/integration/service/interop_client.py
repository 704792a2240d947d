"""What a Flight client in another language saw against `mallard serve`, checked against pyarrow
making the same calls: shared by test_java_client.py and test_rust_client.py. The driver prints
`key=value` lines (tests/clients/java, tests/clients/rust)."""
import decimal
import subprocess

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import pytest

# The DoGet both drivers run and sum: i BIGINT, s VARCHAR, d DECIMAL(_, 1), dd DOUBLE,
# ts TIMESTAMP (whole seconds from 2024-01-01), n BIGINT with a NULL every 10th row.
SQL = ("SELECT i::BIGINT AS i, 'v' || i AS s, i * 0.5 AS d, (i * 0.25)::DOUBLE AS dd, "
       "TIMESTAMP '2024-01-01' + to_seconds(i) AS ts, "
       "CASE WHEN i % 10 = 0 THEN NULL ELSE i END AS n FROM range(100000) t(i)")
EPOCH_2024_MICROS = 1_704_067_200_000_000


def run_driver(cmd, timeout):
    """Runs a driver; returns its key=value lines as a dict (it must end with done=true)."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    kv = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert kv.get("done") == "true", r.stdout
    return kv


def status(name):
    """gRPC status names as each language spells them: NOT_FOUND, NotFound -> NOTFOUND."""
    return name.replace("_", "").upper()


def check_report(kv, client, table_name, get_types, exchange_types):
    """get_types / exchange_types: the driver's notation of the DoGet and exchange schemas."""
    assert status(kv["wrong_password"]) == "UNAUTHENTICATED"

    c, opts = client
    t = c.do_get(fl.Ticket(SQL.encode()), opts).read_all()
    assert kv["get_schema"] == get_types(t.schema.field("d").type.precision)
    assert int(kv["get_rows"]) == t.num_rows == 100000
    assert int(kv["get_sum_i"]) == pc.sum(t["i"]).as_py()
    assert int(kv["get_sum_len"]) == pc.sum(pc.utf8_length(t["s"])).as_py()
    assert decimal.Decimal(kv["get_sum_d"]) == pc.sum(t["d"]).as_py()
    assert float(kv["get_sum_dd"]) == pytest.approx(pc.sum(t["dd"]).as_py(), rel=1e-12)
    micros = pc.subtract(t["ts"].cast(pa.int64()), pa.scalar(EPOCH_2024_MICROS, pa.int64()))
    assert int(kv["get_sum_ts"]) == pc.sum(micros).as_py()
    assert int(kv["get_nulls"]) == t["n"].null_count == 10000

    # DoPut: 5 batches of 10,000 rows, name NULL where k % 7 == 0
    assert kv["put_result"].replace(" ", "") == '{"rows":50000}'
    got = c.do_get(fl.Ticket(f"SELECT k, name FROM {table_name} ORDER BY k".encode()),
                   opts).read_all()
    ks = list(range(50000))
    assert got["k"].to_pylist() == ks
    assert got["name"].to_pylist() == [None if k % 7 == 0 else f"n{k}" for k in ks]

    # DoExchange through `processed`: 3 batches of 1,000 rows x = 0..2999
    assert kv["exchange_schema"] == exchange_types
    assert int(kv["exchange_rows"]) == int(kv["exchange_trues"]) == 3000
    assert int(kv["exchange_sum_x"]) == sum(range(3000))

    assert kv["actions"].split(",") == [a.type for a in c.list_actions(opts)]

    # PROTOCOL.md: an unknown table is NOT_FOUND, and the message names it
    assert status(kv["sql_error"]) == "NOTFOUND"
    assert kv["sql_error_mentions_table"] == "true"
