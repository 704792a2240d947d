"""Streaming keeps the server's memory bounded: serving a 24M-row result (a generated query, so no
table storage) and ingesting a large DoPut raise the server's peak RSS by far less than the data."""
import json

import pyarrow as pa
import pyarrow.flight as fl

from service_helpers import process_rss_kb


def peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_doget_24m_rows_bounded_rss(start_mallard):
    m = start_mallard(n_servers=1)
    c, o = m.client(0)
    c.do_get(fl.Ticket(b"SELECT 1"), o).read_all()
    idle = process_rss_kb(m.pid)
    rows = 0
    nbytes = 0
    sql = b"SELECT i, i * 3 AS j, 'row ' || i::VARCHAR AS s FROM range(24000000) t(i)"
    for chunk in c.do_get(fl.Ticket(sql), o):
        rows += chunk.data.num_rows
        nbytes += chunk.data.nbytes
    assert rows == 24000000
    grown_mb = (peak_kb(m.pid) - idle) / 1024
    # ~800 MB went over the wire; the server held only a few batches at a time.
    assert nbytes > 700e6
    assert grown_mb < 300, f"peak RSS grew by {grown_mb:.0f} MB while streaming {nbytes / 1e6:.0f} MB"


def test_doput_streams_into_duckdb(start_mallard):
    m = start_mallard(n_servers=1)
    c, o = m.client(0)
    n = 2_000_000
    batch = pa.table({"i": pa.array(range(n), pa.int64()), "x": pa.array([0.5] * n)})
    idle = process_rss_kb(m.pid)
    w, r = c.do_put(fl.FlightDescriptor.for_command(
        json.dumps({"table": "big", "mode": "create"}).encode()), batch.schema, o)
    for _ in range(5):
        for b in batch.to_batches(max_chunksize=65536):
            w.write_batch(b)
    w.done_writing()
    assert json.loads(r.read().to_pybytes()) == {"rows": 5 * n}
    w.close()
    peak_mb = (peak_kb(m.pid) - idle) / 1024
    after_mb = (process_rss_kb(m.pid) - idle) / 1024
    # 160 MB of Arrow data went in and DuckDB's table keeps it (after_mb). Had the server buffered
    # the stream before inserting, its peak would exceed that by about the data's size.
    assert peak_mb - after_mb < 100, f"peak {peak_mb:.0f} MB, after the DoPut {after_mb:.0f} MB"
    t = c.do_get(fl.Ticket(b"SELECT count(*) AS n, sum(i) AS s FROM big"), o).read_all()
    assert t.column("n")[0].as_py() == 5 * n
