"""Mallard's C Flight client (driven by mallard-client-driver) against a pyarrow Flight server:
every RPC, app_metadata both ways, big and many batches, empty and schema-only streams,
cancellation, deadlines, errors passed through unchanged, Basic auth to a bearer token, TLS."""
import json
import socket
import subprocess
import time

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import (PASSWORD, TOKEN, USER, TestServer, big_batch, ipc_bytes, make_table,
                      read_ipc)

pytestmark = pytest.mark.timeout(300)


def uri(server):
    return f"grpc://127.0.0.1:{server.port}"


def grpc_details(server, method, request):
    """What the server put on the wire as status message, seen by a plain grpcio client."""
    ch = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        call = ch.unary_stream(f"/arrow.flight.protocol.FlightService/{method}")
        with pytest.raises(grpc.RpcError) as e:
            list(call(request))
        return e.value.code().name, e.value.details()
    finally:
        ch.close()


def pb_bytes(field, data):
    assert len(data) < 128
    return bytes([field << 3 | 2, len(data)]) + data


# -- control plane -------------------------------------------------------------------------------

def test_actions(server, driver):
    events, _ = driver.run(uri(server), "action", "ping", check_status="OK")
    assert events == [{"result": "pong"}]
    events, _ = driver.run(uri(server), "action", "multi", check_status="OK")
    assert events == [{"result": "one"}, {"result": "two"}, {"result": "three"}]
    events, _ = driver.run(uri(server), "action", "echo", "héllo body", check_status="OK")
    assert events[0]["result"].encode("latin-1") == "héllo body".encode()


def test_list_actions(server, driver):
    events, _ = driver.run(uri(server), "list-actions", check_status="OK")
    expected = [{"action": t, "description": d} for t, d in server.list_actions(None)]
    assert events == expected


def test_request_headers_and_response_metadata(server, driver):
    events, _ = driver.run(uri(server), "action", "headers",
                           opts=["--header", "x-custom=abc", "--header", "x-two=2"],
                           check_status="OK")
    seen = json.loads(events[0]["result"])
    assert seen["x-custom"] == ["abc"] and seen["x-two"] == ["2"]
    events, _ = driver.run(uri(server), "action", "trailer", opts=["--show-headers"],
                           check_status="OK")
    headers = next(e["headers"] for e in events if "headers" in e)
    trailers = next(e["trailers"] for e in events if "trailers" in e)
    assert headers["x-extra-header"] == "h1"
    assert trailers["x-extra-trailer"] == "t1"


def info_json(info):
    return {
        "descriptor": {
            "type": "path" if info.descriptor.descriptor_type == flight.DescriptorType.PATH
            else "cmd",
            "cmd": (info.descriptor.command or b"").decode(),
            "path": [p.decode() for p in (info.descriptor.path or [])],
        },
        "schema": [{"name": f.name, "format": {"int64": "l", "string": "u", "double": "g"}[str(f.type)],
                    "nullable": f.nullable} for f in info.schema],
        "total_records": info.total_records,
        "total_bytes": info.total_bytes,
        "ordered": True,
        "app_metadata": "info-meta",
        "endpoints": [{"ticket": e.ticket.ticket.decode(),
                       "locations": [l.uri.decode() for l in e.locations],
                       "app_metadata": ""} for e in info.endpoints],
    }


def test_list_flights_and_info(server, driver):
    server.tables["other"] = make_table(3)
    pc = flight.FlightClient(uri(server))
    expected = [info_json(i) for i in pc.list_flights()]
    events, _ = driver.run(uri(server), "list-flights", check_status="OK")
    assert [e["flight"] for e in events] == expected
    assert len(expected) == 2
    events, _ = driver.run(uri(server), "list-flights", "oth", check_status="OK")
    assert [e["flight"]["descriptor"]["path"] for e in events] == [["other"]]
    expected = info_json(pc.get_flight_info(flight.FlightDescriptor.for_path("flights")))
    events, _ = driver.run(uri(server), "info", "path", "flights", check_status="OK")
    assert events == [{"info": expected}]
    events, _ = driver.run(uri(server), "info", "cmd", "flights", check_status="OK")
    assert events[0]["info"]["descriptor"] == {"type": "cmd", "cmd": "flights", "path": []}
    events, _ = driver.run(uri(server), "schema", "path", "flights", check_status="OK")
    assert events == [{"schema": expected["schema"]}]


def test_poll_flight_info_unimplemented_by_pyarrow(server, driver):
    _, status = driver.run(uri(server), "poll", "path", "flights")
    code, details = grpc_details(server, "PollFlightInfo", b"\x08\x01" + pb_bytes(3, b"flights"))
    assert status["status"] == code == "UNIMPLEMENTED"
    assert status["message"] == details


@pytest.mark.parametrize("code", ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE", "INTERNAL",
                                  "UNAUTHENTICATED", "PERMISSION_DENIED", "UNIMPLEMENTED",
                                  "DEADLINE_EXCEEDED", "CANCELLED"])
def test_errors_pass_through_unchanged(server, driver, code):
    body = f"{code}:the thing went wrong (42)".encode()
    _, status = driver.run(uri(server), "action", "error", body.decode())
    expected_code, details = grpc_details(server, "DoAction",
                                          pb_bytes(1, b"error") + pb_bytes(2, body))
    assert expected_code == code
    assert status["status"] == code
    assert status["message"] == details
    assert "the thing went wrong (42)" in status["message"]


def test_errors_on_every_kind_of_call(server, driver):
    _, st = driver.run(uri(server), "get", "error:NOT_FOUND:no such ticket")
    assert st["status"] == "NOT_FOUND" and "no such ticket" in st["message"]
    _, st = driver.run(uri(server), "info", "cmd", "error:INVALID_ARGUMENT:bad cmd")
    assert st["status"] == "INVALID_ARGUMENT" and st["message"].startswith("bad cmd")
    _, st = driver.run(uri(server), "schema", "path", "missing")
    assert st["status"] == "NOT_FOUND" and "no flight named missing" in st["message"]
    _, st = driver.run(uri(server), "action", "nope")
    assert st["status"] == "NOT_FOUND" and "unknown action nope" in st["message"]
    # the server keeps serving
    driver.run(uri(server), "action", "ping", check_status="OK")


def test_unreachable_server_names_address(driver):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    u = f"grpc://127.0.0.1:{port}"
    _, st = driver.run(u, "action", "ping", opts=["--timeout-ms", "5000"])
    assert st["status"] == "UNAVAILABLE"
    assert u in st["message"]


def test_bad_uri(driver):
    _, st = driver.run("http://127.0.0.1:1", "action", "ping")
    assert st["status"] == "INVALID_ARGUMENT" and "http://127.0.0.1:1" in st["message"]


def test_deadline_expires(server, driver):
    t0 = time.monotonic()
    _, st = driver.run(uri(server), "action", "sleep", "3", opts=["--timeout-ms", "300"])
    assert st["status"] == "DEADLINE_EXCEEDED"
    assert time.monotonic() - t0 < 2.5
    _, st = driver.run(uri(server), "get", "slow", opts=["--timeout-ms", "300"])
    assert st["status"] == "DEADLINE_EXCEEDED"
    driver.run(uri(server), "action", "ping", check_status="OK")


# -- DoGet ---------------------------------------------------------------------------------------

def test_get_table(server, driver, tmp_path):
    out = tmp_path / "out.arrows"
    events, _ = driver.run(uri(server), "get", "flights", opts=["--out", str(out)],
                           check_status="OK")
    assert read_ipc(out).equals(server.tables["flights"])
    assert sum(e["rows"] for e in events if "batch" in e) == 10


def test_get_app_metadata(server, driver, tmp_path):
    out = tmp_path / "out.arrows"
    events, _ = driver.run(uri(server), "get", "meta", opts=["--out", str(out)],
                           check_status="OK")
    assert [e["app_metadata"] for e in events if "batch" in e] == ["m0", "m1", "m2"]
    assert read_ipc(out).equals(make_table(30))


def test_get_schema_only_stream(server, driver, tmp_path):
    out = tmp_path / "out.arrows"
    events, _ = driver.run(uri(server), "get", "empty", opts=["--out", str(out)],
                           check_status="OK")
    assert events == [{"schema": [{"name": "a", "format": "i", "nullable": True}]}]
    t = read_ipc(out)
    assert t.num_rows == 0 and t.schema == pa.schema([("a", pa.int32())])


def test_get_error_mid_stream(server, driver):
    events, st = driver.run(uri(server), "get", "midstream-error")
    assert [e["rows"] for e in events if "batch" in e] == [10]
    assert st["status"] == "INVALID_ARGUMENT"
    assert st["message"].startswith("broke after one batch")


@pytest.mark.parametrize("size", [5 << 20, 70 << 20])
def test_get_big_batches(server, driver, tmp_path, size):
    out = tmp_path / "out.arrows"
    events, _ = driver.run(uri(server), "get", f"big:{size}", opts=["--out", str(out)],
                           check_status="OK")
    expected = big_batch(size)
    t = read_ipc(out)
    assert t.num_rows == expected.num_rows + 5
    assert t.column(0).chunk(0).equals(expected.column(0))


def test_get_over_receive_limit(server, driver):
    _, st = driver.run(uri(server), "get", f"big:{5 << 20}", opts=["--max-recv", str(1 << 20)])
    assert st["status"] == "RESOURCE_EXHAUSTED"


def test_get_100k_tiny_batches(server, driver, tmp_path):
    out = tmp_path / "out.arrows"
    events, _ = driver.run(uri(server), "get", "tiny:100000", opts=["--out", str(out)],
                           check_status="OK")
    assert sum(1 for e in events if "batch" in e) == 100000
    t = read_ipc(out)
    assert t.num_rows == 100000
    assert t.column(0).to_pylist()[:3] == [0, 1, 2] and t.column(0)[99999].as_py() == 99999


def test_cancel_mid_get(server, driver):
    server.slow_stopped = False
    events, st = driver.run(uri(server), "get", "slow", opts=["--cancel-after", "3"])
    assert st["status"] == "CANCELLED"
    assert 3 <= sum(1 for e in events if "batch" in e) < 100
    deadline = time.time() + 10
    while not server.slow_stopped and time.time() < deadline:
        time.sleep(0.05)
    assert server.slow_stopped, "the server kept producing after the cancel"
    assert server.slow_produced < 1000
    driver.run(uri(server), "action", "ping", check_status="OK")


# -- DoPut ---------------------------------------------------------------------------------------

def test_put_with_metadata_and_results(server, driver):
    table = make_table(25)
    data = ipc_bytes(table.to_batches(max_chunksize=10), table.schema)
    events, _ = driver.run(uri(server), "put", "path", "newtab",
                           opts=["--with-metadata", "--results-each"], stdin=data,
                           check_status="OK")
    assert [e["put_result"] for e in events if "put_result" in e] == [
        "ack:0", "ack:1", "ack:2", '{"rows": 25}']
    assert server.puts[-1]["metadata"] == [b"0", b"1", b"2"]
    assert server.tables["newtab"].equals(table)


def test_put_results_read_at_end(server, driver):
    table = make_table(50)
    data = ipc_bytes(table.to_batches(max_chunksize=7), table.schema)
    events, _ = driver.run(uri(server), "put", "cmd", "bycmd", opts=["--with-metadata"],
                           stdin=data, check_status="OK")
    results = [e["put_result"] for e in events if "put_result" in e]
    assert results == [f"ack:{i}" for i in range(8)] + ['{"rows": 50}']
    assert server.tables["bycmd"].equals(table)


def test_put_schema_only(server, driver):
    schema = pa.schema([("x", pa.int16()), ("y", pa.string())])
    events, _ = driver.run(uri(server), "put", "path", "empty", stdin=ipc_bytes([], schema),
                           check_status="OK")
    assert server.tables["empty"].schema == schema
    assert server.tables["empty"].num_rows == 0
    assert [e["put_result"] for e in events if "put_result" in e] == ['{"rows": 0}']


def test_put_metadata_only_message(server, driver):
    table = make_table(5)
    events, _ = driver.run(uri(server), "put", "path", "mdonly",
                           opts=["--metadata-only", "hello"], stdin=ipc_bytes(table),
                           check_status="OK")
    assert server.puts[-1]["metadata"][0] == b"hello"
    assert server.tables["mdonly"].equals(table)


def test_put_rejected_by_server(server, driver):
    table = make_table(5)
    _, st = driver.run(uri(server), "put", "path", "reject", stdin=ipc_bytes(table))
    assert st["status"] == "INVALID_ARGUMENT"
    assert st["message"].startswith("this table refuses data")


@pytest.mark.parametrize("size", [5 << 20, 70 << 20])
def test_put_big_batches(server, driver, size):
    batch = big_batch(size)
    driver.run(uri(server), "put", "path", "big", stdin=ipc_bytes([batch], batch.schema),
               check_status="OK")
    assert server.tables["big"].num_rows == batch.num_rows
    # sent as messages under 4 MiB: several batches of consecutive rows, the same values
    col = server.tables["big"].column(0)
    assert col.num_chunks >= 2 and all(c.nbytes <= 4 << 20 for c in col.chunks)
    assert col.combine_chunks().equals(batch.column(0))


def test_put_100k_tiny_batches(server, driver):
    schema = pa.schema([("i", pa.int64())])
    batches = [pa.record_batch([pa.array([i], pa.int64())], schema=schema) for i in range(100000)]
    events, _ = driver.run(uri(server), "put", "path", "tiny", stdin=ipc_bytes(batches, schema),
                           check_status="OK")
    assert events[0] == {"sent": 100000}
    t = server.tables["tiny"]
    assert t.num_rows == 100000 and t.column(0)[99999].as_py() == 99999


def test_cancel_mid_put(server, driver):
    schema = pa.schema([("i", pa.int64())])
    batches = [pa.record_batch([pa.array(range(1000), pa.int64())], schema=schema)
               for _ in range(2000)]
    server.put_done.clear()
    # --results-each waits for the server's ack of each batch, so the handler is running
    # (and has seen 5 batches) when the client cancels.
    events, st = driver.run(uri(server), "put", "path", "cancelled",
                            opts=["--with-metadata", "--results-each", "--cancel-after", "5"],
                            stdin=ipc_bytes(batches, schema))
    assert st["status"] == "CANCELLED"
    assert [e["put_result"] for e in events] == [f"ack:{i}" for i in range(5)]
    assert server.put_done.wait(10)
    assert server.puts[-1]["cancelled"] and not server.puts[-1]["finished"]
    assert 5 <= len(server.puts[-1]["batches"]) < 2000
    assert "cancelled" not in server.tables
    driver.run(uri(server), "action", "ping", check_status="OK")


# -- DoExchange ----------------------------------------------------------------------------------

def test_exchange_echo(server, driver, tmp_path):
    table = make_table(25)
    data = ipc_bytes(table.to_batches(max_chunksize=10), table.schema)
    for mode in ([], ["--interleave"]):
        out = tmp_path / f"out{len(mode)}.arrows"
        events, _ = driver.run(uri(server), "exchange", "cmd", "echo",
                               opts=["--with-metadata", "--out", str(out), *mode], stdin=data,
                               check_status="OK")
        assert [e["app_metadata"] for e in events if "batch" in e] == ["0", "1", "2"]
        assert read_ipc(out).equals(table)


def test_exchange_metadata_only_both_ways(server, driver):
    table = make_table(3)
    events, _ = driver.run(uri(server), "exchange", "cmd", "echo",
                           opts=["--metadata-only", "first"], stdin=ipc_bytes(table),
                           check_status="OK")
    events = [e for e in events if "metadata" in e or "batch" in e]
    assert events[0] == {"metadata": "first"}
    assert [e["rows"] for e in events if "batch" in e] == [3]


def test_exchange_answer_after_input(server, driver, tmp_path):
    table = make_table(1234)
    out = tmp_path / "out.arrows"
    driver.run(uri(server), "exchange", "cmd", "count", opts=["--out", str(out)],
               stdin=ipc_bytes(table.to_batches(max_chunksize=100), table.schema),
               check_status="OK")
    assert read_ipc(out).column(0).to_pylist() == [1234]


def test_exchange_big_echo_overlapping(server, driver, tmp_path):
    """Batches totalling far more than gRPC's flow-control windows: the client must keep
    receiving while it sends or both sides stall."""
    schema = pa.schema([("i", pa.int64())])
    batches = [pa.record_batch([pa.array(range(k * 100000, (k + 1) * 100000), pa.int64())],
                               schema=schema) for k in range(40)]
    out = tmp_path / "out.arrows"
    driver.run(uri(server), "exchange", "cmd", "echo", opts=["--out", str(out)],
               stdin=ipc_bytes(batches, schema), check_status="OK")
    assert read_ipc(out).num_rows == 4000000


# -- Authentication ------------------------------------------------------------------------------

def test_basic_auth_to_bearer(auth_server, driver):
    _, st = driver.run(uri(auth_server), "action", "ping")
    assert st["status"] == "UNAUTHENTICATED"
    events, _ = driver.run(uri(auth_server), "action", "headers",
                           opts=["--basic", f"{USER}:{PASSWORD}"], check_status="OK")
    assert events[0] == {"token": TOKEN}
    seen = json.loads(events[1]["result"])
    assert seen["authorization"] == [f"Bearer {TOKEN}"]
    # The handshake itself carried Basic credentials.
    handshake = next(h for h in auth_server.seen_headers
                     if h.get("authorization", [""])[0].startswith("Basic "))
    assert handshake
    events, _ = driver.run(uri(auth_server), "get", "flights",
                           opts=["--basic", f"{USER}:{PASSWORD}"], check_status="OK")
    assert sum(e.get("rows", 0) for e in events) == 10


def test_basic_auth_wrong_password(auth_server, driver):
    _, st = driver.run(uri(auth_server), "action", "ping", opts=["--basic", f"{USER}:nope"])
    assert st["status"] == "UNAUTHENTICATED"
    assert st["message"].startswith("bad user or password")


def test_pre_issued_token_and_explicit_header(auth_server, driver):
    driver.run(uri(auth_server), "action", "ping", opts=["--token", TOKEN], check_status="OK")
    driver.run(uri(auth_server), "action", "ping",
               opts=["--header", f"authorization=Bearer {TOKEN}"], check_status="OK")
    _, st = driver.run(uri(auth_server), "action", "ping", opts=["--token", "wrong"])
    assert st["status"] == "UNAUTHENTICATED"


# -- TLS -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")

    def ossl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "30", "-subj", "/CN=mallard-test-ca")
    for name in ("server", "client"):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", f"/CN={'localhost' if name == 'server' else 'client'}")
        (d / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", "-extfile", f"{name}.ext")
    return d


class TlsServer(TestServer):
    def __init__(self, certs, mtls):
        self.require_auth = False
        self.seen_headers = []
        self.tables = {"flights": make_table(10)}
        self.puts = []
        flight.FlightServerBase.__init__(
            self, "grpc+tls://localhost:0",
            tls_certificates=[flight.CertKeyPair((certs / "server.pem").read_bytes(),
                                                 (certs / "server.key").read_bytes())],
            verify_client=mtls,
            root_certificates=(certs / "ca.pem").read_bytes() if mtls else None)


def test_tls(certs, driver):
    s = TlsServer(certs, mtls=False)
    try:
        u = f"grpc+tls://localhost:{s.port}"
        driver.run(u, "action", "ping", opts=["--tls-ca", str(certs / "ca.pem")],
                   check_status="OK")
        driver.run(f"grpc+tls://127.0.0.1:{s.port}", "action", "ping",
                   opts=["--tls-ca", str(certs / "ca.pem"), "--tls-override", "localhost"],
                   check_status="OK")
        # Not trusted without the CA.
        _, st = driver.run(u, "action", "ping", opts=["--timeout-ms", "5000"])
        assert st["status"] == "UNAVAILABLE"
        # Plaintext against TLS fails too.
        _, st = driver.run(f"grpc://localhost:{s.port}", "action", "ping",
                           opts=["--timeout-ms", "5000"])
        assert st["status"] == "UNAVAILABLE"
    finally:
        s.shutdown()


def test_mutual_tls(certs, driver):
    s = TlsServer(certs, mtls=True)
    try:
        u = f"grpc+tls://localhost:{s.port}"
        driver.run(u, "action", "ping",
                   opts=["--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "client.pem"),
                         "--tls-key", str(certs / "client.key")], check_status="OK")
        _, st = driver.run(u, "action", "ping",
                           opts=["--tls-ca", str(certs / "ca.pem"), "--timeout-ms", "5000"])
        assert st["status"] != "OK"
    finally:
        s.shutdown()


# -- Extras: ArrowArrayStream export, server-only exchange, one client on many threads ---------

def test_get_through_arrow_array_stream(server, driver, tmp_path):
    out = tmp_path / "out.arrows"
    driver.run(uri(server), "get", "meta", opts=["--export", "--out", str(out)],
               check_status="OK")
    assert read_ipc(out).equals(make_table(30))
    _, st = driver.run(uri(server), "get", "error:NOT_FOUND:gone", opts=["--export"])
    assert st["status"] != "OK" and "gone" in st["message"]


def test_exchange_without_client_data(server, driver, tmp_path):
    out = tmp_path / "out.arrows"
    driver.run(uri(server), "exchange", "cmd", "count", opts=["--no-input", "--out", str(out)],
               check_status="OK")
    assert read_ipc(out).column(0).to_pylist() == [0]


def test_one_client_many_threads(server, driver):
    events, _ = driver.run(uri(server), "parallel-get", "8", "tiny:3000", check_status="OK")
    assert [e["rows"] for e in events] == [3000] * 8
    assert all(e["status"] == "OK" for e in events)


def test_cancel_from_another_thread_while_blocked(server, driver):
    """A reader blocked waiting for the server is woken by mallard_reader_cancel from another
    thread (what the CLI's Ctrl-C handler does)."""
    t0 = time.monotonic()
    _, st = driver.run(uri(server), "get", "sleepy", opts=["--cancel-after-ms", "300"])
    assert st["status"] == "CANCELLED"
    assert time.monotonic() - t0 < 5
    driver.run(uri(server), "action", "ping", check_status="OK")


def test_put_rejected_early_while_client_streams(server, driver):
    """The server fails the DoPut at once while the client still has 16 MB to send: the client
    stops with the server's status instead of hanging."""
    schema = pa.schema([("i", pa.int64())])
    batches = [pa.record_batch([pa.array(range(1000), pa.int64())], schema=schema)
               for _ in range(2000)]
    _, st = driver.run(uri(server), "put", "path", "reject-early",
                       stdin=ipc_bytes(batches, schema), timeout=60)
    assert st["status"] == "INVALID_ARGUMENT"
    assert st["message"].startswith("rejected before reading anything")
