"""Streaming behaviour of DoExchange: empty input, zero-row batches, 10,000 small batches, output
while input still arrives, cancellation mid-exchange, and 20 concurrent exchanges."""
import concurrent.futures
import os
import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl

from xchg_helpers import command, exchange, expect_status, register


def test_empty_input(client, flights):
    c, o = client
    empty = flights.schema.empty_table()
    out = exchange(c, o, "echo", [], schema=flights.schema)
    assert out.num_rows == 0 and out.schema == flights.schema
    out = exchange(c, o, "processed", [], schema=flights.schema)
    assert out.num_rows == 0 and out.schema.names[-1] == "processed"
    register(c, o, "count_all", "SELECT count(*) AS n FROM input", "stream_end")
    out = exchange(c, o, "count_all", empty)
    assert out.to_pylist() == [{"n": 0}]
    register(c, o, "pass_batch", "SELECT origin FROM input", "batch")
    out = exchange(c, o, "pass_batch", [], schema=flights.schema)
    assert out.num_rows == 0 and out.schema.names == ["origin"]
    out = exchange(c, o, command("zscore", {"column": "delay"}), [], schema=flights.schema)
    assert out.num_rows == 0 and out.schema.names[-1] == "delay_zscore"


def test_zero_row_batches(client, flights):
    c, o = client
    t = flights.slice(0, 1000)
    zero = t.slice(0, 0).to_batches()[0] if t.slice(0, 0).to_batches() else \
        pa.RecordBatch.from_pylist([], schema=t.schema)
    parts = []
    for b in t.to_batches(max_chunksize=100):
        parts += [zero, b, zero]
    for name in ["echo", "processed"]:
        out = exchange(c, o, name, parts, schema=t.schema)
        assert out.num_rows == 1000
        assert out.select(t.schema.names).equals(t)
    register(c, o, "sum_delay", "SELECT sum(delay)::BIGINT AS s FROM input", "stream_end")
    out = exchange(c, o, "sum_delay", parts, schema=t.schema)
    assert out.column("s").to_pylist() == [pc.sum(t["delay"]).as_py()]
    out = exchange(c, o, command("zscore", {"column": "delay"}), parts, schema=t.schema)
    assert out.num_rows == 1000


def test_ten_thousand_small_batches(client, flights):
    c, o = client
    t = flights.slice(0, 50_000)
    batches = t.to_batches(max_chunksize=5)
    assert len(batches) == 10_000
    for name in ["echo", "processed"]:
        out = exchange(c, o, name, batches, schema=t.schema)
        assert out.num_rows == 50_000
        assert out.select(t.schema.names).equals(t)
    out = exchange(c, o, command("zscore", {"column": "distance"}), batches, schema=t.schema)
    assert out.num_rows == 50_000


def test_output_streams_while_input_arrives(client, flights):
    """The first answer batch arrives before the client has finished sending."""
    c, o = client
    t = flights.slice(0, 100_000)
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"processed"), o)
    w.begin(t.schema)
    batches = t.to_batches(max_chunksize=10_000)
    w.write_batch(batches[0])
    chunk = r.read_chunk()
    assert chunk.data.num_rows == 10_000
    for b in batches[1:]:
        w.write_batch(b)
    w.done_writing()
    rest = r.read_all()
    w.close()
    assert rest.num_rows == 90_000


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def test_cancel_mid_exchange(server, client, flights):
    c, o = client
    register(c, o, "very_slow", "SELECT count(*) AS n FROM input, range(0, 5000000000) r "
             "WHERE (r.range + input.delay) % 1000003 = 0", "stream_end")
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"very_slow"), o)
    t = flights.slice(0, 20_000)
    w.begin(t.schema)
    w.write_table(t)
    w.done_writing()
    time.sleep(1.0)  # the query is running now
    busy = _cpu_seconds(server.proc.pid)
    time.sleep(0.5)
    assert _cpu_seconds(server.proc.pid) - busy > 0.1, "the query did not start"
    started = time.time()
    r.cancel()
    # pyarrow reports a cancelled read as FlightCancelledError, or as KeyboardInterrupt (its
    # cancellation rides on the same stop token as Ctrl-C).
    try:
        r.read_all()
        raise AssertionError("the cancelled exchange answered")
    except (fl.FlightCancelledError, KeyboardInterrupt):
        pass
    try:
        w.close()
    except Exception:
        pass
    # The work stops: the process goes (nearly) idle soon after the cancel.
    deadline = time.time() + 10
    idle = False
    while time.time() < deadline:
        before = _cpu_seconds(server.proc.pid)
        time.sleep(0.5)
        if _cpu_seconds(server.proc.pid) - before < 0.1:
            idle = True
            break
    assert idle, "the server kept working after the cancel"
    assert time.time() - started < 10
    # And keeps serving.
    assert exchange(c, o, "echo", flights.slice(0, 10)).num_rows == 10


def test_twenty_concurrent_exchanges(server, flights):
    c0, o0 = server.client()
    register(c0, o0, "conc_filter", "SELECT origin, delay FROM input WHERE delay > $t")
    register(c0, o0, "conc_total", "SELECT count(*) AS n, sum(delay)::BIGINT AS s FROM input",
             "stream_end")
    t = flights.slice(0, 40_000)

    def one(i):
        c, o = server.client()
        kind = i % 4
        if kind == 0:
            out = exchange(c, o, "processed", t, chunk=4000)
            return out.num_rows == t.num_rows and out.select(t.schema.names).equals(t)
        if kind == 1:
            out = exchange(c, o, command("conc_filter", {"t": i}), t, chunk=5000)
            return out.num_rows == pc.sum(pc.greater(t["delay"], i)).as_py()
        if kind == 2:
            out = exchange(c, o, "conc_total", t, chunk=3000)
            return out.to_pylist() == [{"n": t.num_rows, "s": pc.sum(t["delay"]).as_py()}]
        out = exchange(c, o, command("zscore", {"column": "delay"}), t, chunk=2000)
        return out.num_rows == t.num_rows

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert all(results), results


def test_slow_client_slows_the_exchanger(server, client, flights):
    """While the client does not read, the server does not keep absorbing input (no unbounded
    queue): the client's writes stall long before ~220 MB are sent; reading releases them."""
    c, o = client
    batch = flights.to_batches(max_chunksize=200_000)[0]  # ~9 MB of Arrow data
    n = 25
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"processed"), o)
    written = [0]
    done = threading.Event()

    def write():
        w.begin(batch.schema)
        for _ in range(n):
            w.write_batch(batch)
            written[0] += 1
        w.done_writing()
        done.set()

    t = threading.Thread(target=write, daemon=True)
    t.start()
    time.sleep(3.0)
    stalled_at = written[0]
    assert not done.is_set() and stalled_at < n, "the server absorbed the whole input unread"
    rows = 0
    for chunk in r:
        rows += chunk.data.num_rows
    t.join(timeout=60)
    w.close()
    assert rows == n * batch.num_rows
