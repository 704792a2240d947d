"""50 concurrent clients mixing gets, puts and actions on both servers (every row accounted for),
and a client killed mid-DoGet (the server frees the query and keeps serving)."""
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pyarrow as pa
import pyarrow.flight as fl

from service_helpers import action, process_rss_kb, process_threads

N_CLIENTS = 50
PUTS_PER_CLIENT = 4
ROWS_PER_PUT = 2000


def test_fifty_concurrent_clients(mallard):
    fifty_clients(mallard)  # compressed in-memory databases: the default


def test_fifty_concurrent_clients_uncompressed(start_mallard):
    # The same with --no-compress (the default compressed database's compactor runs its
    # CHECKPOINTs, refused while a DoPut's transaction is open and retried, among the commits of
    # the test above).
    m = start_mallard("--no-compress")
    fifty_clients(m)


def fifty_clients(mallard):
    errors = []
    got_rows = [0] * N_CLIENTS
    barrier = threading.Barrier(N_CLIENTS)

    def worker(k):
        try:
            server = k % 2
            c, o = mallard.client(server)
            barrier.wait(timeout=60)
            table = f"conc_{server}"
            for j in range(PUTS_PER_CLIENT):
                ids = pa.array(range(k * 100000 + j * ROWS_PER_PUT,
                                     k * 100000 + (j + 1) * ROWS_PER_PUT), pa.int64())
                t = pa.table({"id": ids, "client": pa.array([k] * ROWS_PER_PUT, pa.int32())})
                w, r = c.do_put(fl.FlightDescriptor.for_command(
                    json.dumps({"table": table, "mode": "create_or_append"}).encode()), t.schema, o)
                w.write_table(t)
                w.done_writing()
                assert json.loads(r.read().to_pybytes()) == {"rows": ROWS_PER_PUT}
                w.close()
                n = c.do_get(fl.Ticket(b"SELECT * FROM range(%d)" % (10000 + k)), o).read_all()
                got_rows[k] += n.num_rows
                assert json.loads(action(c, o, "ping")[0])["ok"] is True
                if j % 2 == 0:
                    action(c, o, "list_tables")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((k, repr(e)))

    # Create the tables first so that concurrent creates do not race on the catalog.
    for server in (0, 1):
        c, o = mallard.client(server)
        t = pa.table({"id": pa.array([], pa.int64()), "client": pa.array([], pa.int32())})
        w, r = c.do_put(fl.FlightDescriptor.for_command(
            json.dumps({"table": f"conc_{server}", "mode": "create"}).encode()), t.schema, o)
        w.write_table(t)
        w.done_writing()
        r.read()
        w.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]
    for k in range(N_CLIENTS):
        assert got_rows[k] == PUTS_PER_CLIENT * (10000 + k)
    for server in (0, 1):
        c, o = mallard.client(server)
        t = c.do_get(fl.Ticket(
            f"SELECT client, count(*) AS n, count(DISTINCT id) AS d FROM conc_{server} "
            "GROUP BY client ORDER BY client".encode()), o).read_all().to_pylist()
        expected = [k for k in range(N_CLIENTS) if k % 2 == server]
        assert [r["client"] for r in t] == expected
        for r in t:
            assert r["n"] == r["d"] == PUTS_PER_CLIENT * ROWS_PER_PUT


GET_CHILD = textwrap.dedent(
    """
    import sys
    import pyarrow.flight as fl
    c = fl.FlightClient(sys.argv[1])
    o = fl.FlightCallOptions(headers=[c.authenticate_basic_token("admin", "password123")])
    r = c.do_get(fl.Ticket(b"SELECT i, repeat('x', 100) AS s FROM range(50000000) t(i)"), o)
    n = 0
    for chunk in r:
        n += chunk.data.num_rows
        if n > 300000:
            print("reading", flush=True)
            import time
            time.sleep(3600)
    """
)


def test_killed_client_mid_doget(mallard):
    c, o = mallard.client(0)
    c.do_get(fl.Ticket(b"SELECT 1"), o).read_all()
    time.sleep(0.5)
    threads_before = process_threads(mallard.pid)
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-c", GET_CHILD, mallard.urls[0]],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "reading"
        p.send_signal(signal.SIGKILL)
        p.wait()
    # The server notices, interrupts DuckDB and frees the query: its threads and memory settle.
    deadline = time.time() + 20
    while time.time() < deadline:
        if process_threads(mallard.pid) <= threads_before + 2:
            break
        time.sleep(0.2)
    assert process_threads(mallard.pid) <= threads_before + 2
    rss = process_rss_kb(mallard.pid)
    assert rss < 1_500_000, f"RSS {rss} kB after killed DoGets"
    # It keeps serving, and the abandoned calls were logged as cancelled.
    assert c.do_get(fl.Ticket(b"SELECT count(*) AS n FROM range(10)"), o).read_all().to_pylist() == [
        {"n": 10}
    ]
    time.sleep(0.3)
    cancelled = [l for l in mallard.log_lines if "rpc=DoGet" in l and "status=OK" not in l]
    assert len(cancelled) >= 3, "".join(mallard.log_lines[-10:])


def load(c, o, name, table):
    w, r = c.do_put(fl.FlightDescriptor.for_path(name), table.schema, o)
    w.write_table(table, max_chunksize=65536)
    w.done_writing()
    r.read()
    w.close()


def test_slow_reader_does_not_stall_writers(mallard):
    """A DoGet whose client stops reading holds its table's scan locks; the background
    compaction after a load must not wait for them while holding the lock every write needs
    (writes stalled until the reader finished, and a transfer from and into the same server,
    whose reader waits for its writer, deadlocked)."""
    c = fl.FlightClient(mallard.urls[0])
    token = c.authenticate_basic_token("admin", "password123")
    o = fl.FlightCallOptions(headers=[token])
    quick = fl.FlightCallOptions(headers=[token], timeout=15)
    n = 4_000_000  # ~100 MB: more than the call's send budget and the HTTP/2 windows hold
    big = pa.table({"k": pa.array(range(n), pa.int64()),
                    "s": pa.array([f"row {i % 977}" for i in range(n)])})
    # Read the table at once after loading it (its compaction is due 0.1 s after the commit and
    # has it to write), then stop reading: the server blocks on flow control.
    load(c, o, "slow_src", big)
    reader = c.do_get(fl.Ticket(b"SELECT * FROM slow_src"), o)
    first = reader.read_chunk()
    assert first.data.num_rows > 0
    t0 = time.monotonic()
    time.sleep(1.0)
    load(c, quick, "slow_small", pa.table({"x": [1, 2, 3]}))
    got = c.do_get(fl.Ticket(b"SELECT count(*) AS n FROM slow_small"), quick).read_all()
    assert got.column("n").to_pylist() == [3]
    assert time.monotonic() - t0 < 20
    # The stalled reader still gets every row once it reads on.
    rest = reader.read_all()
    assert first.data.num_rows + rest.num_rows == n

    # The same server as source and target right after a load: the DoGet feeds the DoPut.
    load(c, o, "slow_other", big)
    src = c.do_get(fl.Ticket(b"SELECT * FROM slow_other"), quick)
    w, r = c.do_put(fl.FlightDescriptor.for_path("slow_copy"), big.schema, quick)
    for chunk in src:
        w.write_batch(chunk.data)
    w.done_writing()
    assert json.loads(r.read().to_pybytes()) == {"rows": n}
    w.close()


def test_concurrent_first_loads_of_a_new_table(mallard):
    """Ten clients DoPut (PATH, and create_or_append) into a table that does not exist yet: the
    first creates it, the others append (9 of 10 failed with ABORTED "Catalog write-write
    conflict" and DuckDB's internal key). Concurrent `create` gives one success and
    ALREADY_EXISTS for the rest."""
    data = pa.table({"k": pa.array(range(20000), pa.int64())})

    def run(n, desc_of):
        results = [None] * n

        def one(i):
            c, o = mallard.client(0)
            try:
                w, r = c.do_put(desc_of(i), data.schema, o)
                w.write_table(data, max_chunksize=2000)
                w.done_writing()
                buf = r.read()
                w.close()  # raises the call's error
                results[i] = json.loads(buf.to_pybytes())
            except Exception as e:  # noqa: BLE001 - the test looks at each outcome
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return results

    res = run(10, lambda i: fl.FlightDescriptor.for_path("first_loads"))
    assert res == [{"rows": 20000}] * 10, res
    res = run(6, lambda i: fl.FlightDescriptor.for_command(json.dumps(
        {"table": "first_loads_cmd", "mode": "create_or_append"}).encode()))
    assert res == [{"rows": 20000}] * 6, res
    res = run(5, lambda i: fl.FlightDescriptor.for_command(json.dumps(
        {"table": "first_create", "mode": "create"}).encode()))
    ok = [r for r in res if r == {"rows": 20000}]
    exists = [r for r in res if isinstance(r, Exception) and "already exists" in str(r).lower()]
    assert len(ok) == 1 and len(exists) == 4, res
    c, o = mallard.client(0)
    for table, n in (("first_loads", 10), ("first_loads_cmd", 6), ("first_create", 1)):
        t = c.do_get(fl.Ticket(f"SELECT count(*) AS n FROM {table}".encode()), o).read_all()
        assert t.column("n")[0].as_py() == 20000 * n, table
