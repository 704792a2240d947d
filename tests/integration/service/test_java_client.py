"""Apache Arrow's Java Flight client (flight-core: grpc-java over Netty, a different gRPC and
HTTP/2 stack from pyarrow's and Mallard's) against `mallard serve`: the basic-token handshake, a
wrong password, DoGet of a typed query, DoPut with nulls in several batches, DoExchange through
`processed`, ListActions and a SQL error. What the Java client saw (tests/clients/java, run by
scripts/java-client.sh) is checked against the same calls made with pyarrow."""
import decimal
import pathlib
import shutil
import subprocess
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SQL = ("SELECT i::BIGINT AS i, 'v' || i AS s, i * 0.5 AS d, (i * 0.25)::DOUBLE AS dd, "
       "TIMESTAMP '2024-01-01' + to_seconds(i) AS ts, "
       "CASE WHEN i % 10 = 0 THEN NULL ELSE i END AS n FROM range(100000) t(i)")


@pytest.mark.timeout(900)
def test_java_flight_client(mallard, client, table_name):
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("java and mvn are needed to build Arrow's Java Flight client")
    url = urlparse(mallard.urls[0])
    r = subprocess.run([str(ROOT / "scripts" / "java-client.sh"), url.hostname, str(url.port),
                        "password123", table_name, SQL],
                       capture_output=True, text=True, timeout=850, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    kv = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert kv.get("done") == "true", r.stdout

    assert kv["wrong_password"] == "UNAUTHENTICATED"

    c, opts = client
    t = c.do_get(fl.Ticket(SQL.encode()), opts).read_all()
    java_types = dict(f.split(":", 1) for f in kv["get_schema"].rstrip(";").split(";"))
    assert java_types == {"i": "Int(64, true)", "s": "Utf8",
                          "d": f"Decimal({t.schema.field('d').type.precision}, 1, 128)",
                          "dd": "FloatingPoint(DOUBLE)", "ts": "Timestamp(MICROSECOND, null)",
                          "n": "Int(64, true)"}
    assert int(kv["get_rows"]) == t.num_rows == 100000
    assert int(kv["get_sum_i"]) == pc.sum(t["i"]).as_py()
    assert int(kv["get_sum_len"]) == pc.sum(pc.utf8_length(t["s"])).as_py()
    assert decimal.Decimal(kv["get_sum_d"]) == pc.sum(t["d"]).as_py()
    assert float(kv["get_sum_dd"]) == pytest.approx(pc.sum(t["dd"]).as_py(), rel=1e-12)
    base = pa.scalar(1_704_067_200_000_000, pa.int64())
    micros = pc.subtract(t["ts"].cast(pa.int64()), base)
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
    assert kv["exchange_schema"] == "[x: Int(64, true), processed: Bool]"
    assert int(kv["exchange_rows"]) == int(kv["exchange_trues"]) == 3000
    assert int(kv["exchange_sum_x"]) == sum(range(3000))

    names = [a.type for a in c.list_actions(opts)]
    assert kv["actions"].split(",") == names

    # PROTOCOL.md: an unknown table is NOT_FOUND, and the message names it
    assert kv["sql_error"] == "NOT_FOUND"
    assert kv["sql_error_mentions_table"] == "true"
