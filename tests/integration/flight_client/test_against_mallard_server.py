"""Mallard's C client against Mallard's own Flight transport (tests/servers/flight_test_server.c):
C on both ends, including PollFlightInfo, which pyarrow's server cannot serve."""
import os
import pathlib
import subprocess

import pyarrow as pa
import pytest

from conftest import big_batch, ipc_bytes, make_table, read_ipc

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def mallard_server(build_dir):
    path = pathlib.Path(build_dir) / "tests" / "servers" / "mallard-flight-test-server"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built")
    p = subprocess.Popen([str(path), "--port", "0", "--max-message-size", str(256 << 20)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("listening "), line
    yield line.split()[1]
    p.terminate()
    p.wait(timeout=30)


def test_put_get_poll_exchange(mallard_server, driver, tmp_path):
    u = mallard_server
    table = make_table(25)
    data = ipc_bytes(table.to_batches(max_chunksize=10), table.schema)
    events, _ = driver.run(u, "put", "path", "t1", opts=["--with-metadata", "--results-each"],
                           stdin=data, check_status="OK")
    assert [e["put_result"] for e in events if "put_result" in e][:3] == ["0", "1", "2"]
    out = tmp_path / "get.arrows"
    events, _ = driver.run(u, "get", "t1", opts=["--out", str(out)], check_status="OK")
    assert [e["app_metadata"] for e in events if "batch" in e] == ["0", "1", "2"]
    assert read_ipc(out).equals(table)
    events, _ = driver.run(u, "poll", "path", "t1", check_status="OK")
    poll = events[0]["poll"]
    assert poll["info"]["total_records"] == 25
    assert poll["info"]["descriptor"]["path"] == ["t1"]
    assert [f["name"] for f in poll["info"]["schema"]] == ["id", "name", "score"]
    out = tmp_path / "ex.arrows"
    driver.run(u, "exchange", "cmd", "echo", opts=["--with-metadata", "--interleave", "--out",
                                                   str(out)], stdin=data, check_status="OK")
    assert read_ipc(out).equals(table)
    events, _ = driver.run(u, "handshake", "hello", check_status="OK")
    assert events == [{"payload": "hello"}]


def test_big_batch_round_trip(mallard_server, driver, tmp_path):
    batch = big_batch(70 << 20)
    driver.run(mallard_server, "put", "path", "big", stdin=ipc_bytes([batch], batch.schema),
               check_status="OK")
    out = tmp_path / "big.arrows"
    driver.run(mallard_server, "get", "big", opts=["--out", str(out)], check_status="OK")
    t = read_ipc(out)
    assert t.num_rows == batch.num_rows
    assert t.column(0).num_chunks > 1  # messages under 4 MiB both ways
    assert t.column(0).combine_chunks().equals(batch.column(0))


def test_errors_and_deadline(mallard_server, driver):
    _, st = driver.run(mallard_server, "get", "nope")
    assert st["status"] == "NOT_FOUND" and "nope" in st["message"]
    _, st = driver.run(mallard_server, "action", "error", "exactly this text")
    assert st["message"] == "exactly this text"
    _, st = driver.run(mallard_server, "action", "sleep", "3000", opts=["--timeout-ms", "200"])
    assert st["status"] == "DEADLINE_EXCEEDED"
    driver.run(mallard_server, "action", "ping", check_status="OK")


def test_metadata_only_messages_in_doget(mallard_server, driver):
    """The test server replays stored FlightData, so a metadata-only message written by DoPut
    (before the schema) comes back in DoGet, where the reader surfaces it in order."""
    table = make_table(3)
    driver.run(mallard_server, "put", "path", "m", opts=["--metadata-only", "hello",
                                                         "--with-metadata"],
               stdin=ipc_bytes(table), check_status="OK")
    events, _ = driver.run(mallard_server, "get", "m", check_status="OK")
    items = [e for e in events if "metadata" in e or "batch" in e]
    assert items[0] == {"metadata": "hello"}
    assert [(e["rows"], e["app_metadata"]) for e in items[1:]] == [(3, "0")]
