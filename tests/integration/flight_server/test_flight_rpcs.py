"""Mallard's Flight server transport (mallard-flight-test-server) driven by pyarrow's client."""
import threading
import time

import pyarrow as pa
import pyarrow.flight as fl
import pytest


def client(server):
    return fl.FlightClient(server.uri)


def put(c, path, table, max_chunksize=None, metadata=False):
    w, r = c.do_put(fl.FlightDescriptor.for_path(path), table.schema)
    acks = []
    for i, b in enumerate(table.to_batches(max_chunksize=max_chunksize)):
        if metadata:
            w.write_with_metadata(b, str(i).encode())
            acks.append(r.read().to_pybytes())
        else:
            w.write_batch(b)
    w.close()
    return acks


def assert_serving(server):
    assert server.alive()
    assert [r.body.to_pybytes() for r in client(server).do_action(fl.Action("ping", b""))] == [b"pong"]


def sample(n=1000):
    return pa.table({"i": pa.array(range(n), pa.int64()),
                     "s": pa.array([f"v{k}" for k in range(n)]),
                     "d": pa.array([k / 3 for k in range(n)])})


def test_every_rpc(server):
    c = client(server)
    t = sample()
    put(c, "every", t, max_chunksize=300)
    assert c.do_get(fl.Ticket(b"every")).read_all().equals(t)
    info = c.get_flight_info(fl.FlightDescriptor.for_path("every"))
    assert info.schema.equals(t.schema)
    assert info.total_records == 1000
    assert info.endpoints[0].ticket.ticket == b"every"
    assert c.get_schema(fl.FlightDescriptor.for_path("every")).schema.equals(t.schema)
    assert any(f.descriptor.path == [b"every"] for f in c.list_flights())
    assert sorted(a.type for a in c.list_actions()) == ["drop", "error", "ping", "sleep"]
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"echo"))
    w.begin(t.schema)
    w.write_table(t, max_chunksize=400)
    w.done_writing()
    assert r.read_all().equals(t)
    w.close()
    assert [r.body.to_pybytes() for r in c.do_action(fl.Action("drop", b"every"))] == [b"dropped"]
    with pytest.raises(KeyError, match="no flight for ticket 'every'"):  # NOT_FOUND
        c.do_get(fl.Ticket(b"every")).read_all()
    assert_serving(server)


def test_poll_flight_info(server):
    c = client(server)
    put(c, "poll", sample(10))
    if hasattr(c, "poll_flight_info"):
        p = c.poll_flight_info(fl.FlightDescriptor.for_path("poll"))
        assert p.info.total_records == 10
        assert p.progress == 1.0


def test_status_message_unchanged(server):
    c = client(server)
    with pytest.raises(pa.ArrowInvalid) as e:  # FAILED_PRECONDITION
        list(c.do_action(fl.Action("error", b"the exact message \xe2\x9c\x93")))
    assert "the exact message \u2713" in str(e.value)
    with pytest.raises(KeyError) as e:  # NOT_FOUND
        c.get_flight_info(fl.FlightDescriptor.for_path("nope"))
    assert "no flight at path 'nope'" in str(e.value)
    assert_serving(server)


def test_headers_both_ways(server):
    c = client(server)
    opts = fl.FlightCallOptions(headers=[(b"x-echo", b"hello")])
    put(c, "hdr", sample(5))
    reader = c.do_get(fl.Ticket(b"hdr"), opts)
    assert reader.read_all().num_rows == 5
    assert_serving(server)


def test_app_metadata_both_ways(server):
    c = client(server)
    t = sample(100)
    acks = put(c, "meta", t, max_chunksize=10, metadata=True)
    assert acks == [str(i).encode() for i in range(10)]
    reader = c.do_get(fl.Ticket(b"meta"))
    got = []
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        got.append(chunk.app_metadata.to_pybytes())
    assert got == [str(i).encode() for i in range(10)]
    # Metadata-only messages through DoExchange.
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"x"))
    w.write_metadata(b"only-metadata")
    chunk = r.read_chunk()
    assert chunk.app_metadata.to_pybytes() == b"only-metadata"
    w.done_writing()
    w.close()


@pytest.mark.parametrize("mib", [5, 70])
def test_big_batches(server, mib):
    n = mib * 1024 * 1024 // 8
    t = pa.table({"x": pa.array(range(n), pa.int64())})
    c = client(server)
    put(c, f"big{mib}", t)
    got = c.do_get(fl.Ticket(f"big{mib}".encode())).read_all()
    assert got.num_rows == n and got.equals(t)
    c.do_action(fl.Action("drop", f"big{mib}".encode()))
    assert_serving(server)


def test_message_above_limit_is_refused(make_server):
    s = make_server("--max-message-size", str(4 * 1024 * 1024))
    c = fl.FlightClient(s.uri)
    t = pa.table({"x": pa.array(range(1024 * 1024), pa.int64())})  # 8 MiB batch
    with pytest.raises(pa.ArrowInvalid, match="resource exhausted"):
        put(c, "too-big", t)
    assert_serving(s)


def test_many_tiny_batches(server):
    c = client(server)
    schema = pa.schema([("x", pa.int32())])
    w, r = c.do_put(fl.FlightDescriptor.for_path("tiny"), schema)
    b = pa.record_batch([pa.array([1], pa.int32())], schema=schema)
    for _ in range(100_000):
        w.write_batch(b)
    w.close()
    reader = c.do_get(fl.Ticket(b"tiny"))
    n = 0
    for chunk in reader:
        n += 1
    assert n == 100_000
    c.do_action(fl.Action("drop", b"tiny"))


def test_empty_and_schema_only_streams(server):
    c = client(server)
    schema = pa.schema([("x", pa.int32()), ("y", pa.string())])
    w, r = c.do_put(fl.FlightDescriptor.for_path("schema-only"), schema)
    w.close()
    got = c.do_get(fl.Ticket(b"schema-only")).read_all()
    assert got.num_rows == 0 and got.schema.equals(schema)
    t = pa.table({"x": pa.array([], pa.int32()), "y": pa.array([], pa.string())})
    w, r = c.do_put(fl.FlightDescriptor.for_path("empty-batch"), schema)
    w.write_table(t)
    w.close()
    assert c.do_get(fl.Ticket(b"empty-batch")).read_all().num_rows == 0
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"x"))
    w.done_writing()
    w.close()
    assert_serving(server)


def test_cancel_mid_doget(server):
    c = client(server)
    t = pa.table({"x": pa.array(range(2_000_000), pa.int64())})
    put(c, "cancel-get", t, max_chunksize=10_000)
    for _ in range(5):
        reader = c.do_get(fl.Ticket(b"cancel-get"))
        reader.read_chunk()
        reader.cancel()
    assert c.do_get(fl.Ticket(b"cancel-get")).read_all().num_rows == 2_000_000
    c.do_action(fl.Action("drop", b"cancel-get"))
    assert_serving(server)


def test_cancel_mid_doput(server):
    c = client(server)
    schema = pa.schema([("x", pa.int64())])
    b = pa.record_batch([pa.array(range(10_000), pa.int64())], schema=schema)
    for _ in range(3):
        w, r = c.do_put(fl.FlightDescriptor.for_path("cancel-put"), schema)
        for _ in range(10):
            w.write_batch(b)
        del w, r  # drops the stream without closing it: the call is cancelled
    assert_serving(server)


def test_expired_deadline(server):
    c = client(server)
    opts = fl.FlightCallOptions(timeout=0.3)
    t0 = time.time()
    with pytest.raises(fl.FlightTimedOutError):
        list(c.do_action(fl.Action("sleep", b"10000"), opts))
    assert time.time() - t0 < 5
    assert_serving(server)


def test_concurrent_clients(server):
    c0 = client(server)
    t = sample(2000)
    put(c0, "shared", t, max_chunksize=500)
    errors = []

    def work(k):
        try:
            c = fl.FlightClient(server.uri)
            assert c.do_get(fl.Ticket(b"shared")).read_all().equals(t)
            put(c, f"conc{k}", sample(50))
            assert c.do_get(fl.Ticket(f"conc{k}".encode())).read_all().num_rows == 50
            c.close()
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(100)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert_serving(server)


def test_too_many_calls_resource_exhausted(make_server):
    s = make_server("--max-calls", "2")
    c = fl.FlightClient(s.uri)
    sleepers = [threading.Thread(target=lambda: list(fl.FlightClient(s.uri).do_action(
        fl.Action("sleep", b"1500")))) for _ in range(2)]
    for th in sleepers:
        th.start()
    time.sleep(0.5)
    with pytest.raises(pa.ArrowInvalid) as e:  # RESOURCE_EXHAUSTED
        list(c.do_action(fl.Action("ping", b"")))
    assert "too many concurrent calls" in str(e.value) and "--max-calls" in str(e.value)
    for th in sleepers:
        th.join()
    assert_serving(s)


def test_arrow_level_reader(server):
    """DoPut decoded by flight_call_read_schema / flight_call_read_batch in the server."""
    c = client(server)
    t = pa.table({"x": pa.array(range(1000), pa.int64()),
                  "d": pa.array(["a", "b"] * 500).dictionary_encode()})
    opts = fl.FlightCallOptions(headers=[(b"x-mode", b"count")])
    w, r = c.do_put(fl.FlightDescriptor.for_path("count"), t.schema, opts)
    for i, b in enumerate(t.to_batches(max_chunksize=100)):
        w.write_with_metadata(b, str(i).encode())
    w.done_writing()
    assert r.read().to_pybytes() == b"rows=1000 batches=10 metadata=10"
    w.close()
    assert_serving(server)
