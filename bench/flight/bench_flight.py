"""Flight transport benchmark: DoGet, DoPut and DoExchange of the in-memory flights table,
Mallard's C test server vs a pyarrow.flight.FlightServerBase, same pyarrow client, same run.
Usage: bench_flight.py [--build DIR] [--times N] [--scale K]  (K copies of the 3M-row table)."""
import argparse
import pathlib
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(args):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    uri = p.stdout.readline().split()[1]
    return p, uri


def best(fn, times):
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def run(uri, table, times):
    c = fl.FlightClient(uri)
    nbytes = table.nbytes

    def put():
        w, _ = c.do_put(fl.FlightDescriptor.for_path("flights"), table.schema)
        w.write_table(table)
        w.close()

    def get():
        assert c.do_get(fl.Ticket(b"flights")).read_all().num_rows == table.num_rows

    def exchange():
        w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"echo"))
        w.begin(table.schema)
        n = 0
        # Write and read in lockstep so that neither side buffers the whole table.
        for b in table.to_batches():
            w.write_batch(b)
            n += r.read_chunk().data.num_rows
        w.done_writing()
        w.close()
        assert n == table.num_rows

    res = {}
    res["DoPut"] = nbytes / best(put, times) / 2**20
    res["DoGet"] = nbytes / best(get, times) / 2**20
    res["DoExchange"] = nbytes / best(exchange, times) / 2**20
    c.close()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--times", type=int, default=3)
    ap.add_argument("--scale", type=int, default=1)
    a = ap.parse_args()
    table = pq.read_table(ROOT / "data" / "flights-3m.parquet")
    table = pa.concat_tables([table] * a.scale).combine_chunks()
    table = pa.Table.from_batches(table.to_batches(max_chunksize=65536))
    print(f"table: {table.num_rows} rows, {table.nbytes / 2**20:.0f} MiB in memory, "
          f"{len(table.to_batches())} batches")
    servers = {
        "mallard": [str(pathlib.Path(a.build) / "tests/servers/mallard-flight-test-server"),
                    "--port", "0"],
        "pyarrow": [sys.executable, str(pathlib.Path(__file__).with_name("pyarrow_server.py"))],
    }
    results = {}
    for name, args in servers.items():
        p, uri = start(args)
        try:
            results[name] = run(uri, table, a.times)
            results[name]["rss"] = peak_rss_mib(p.pid)
        finally:
            p.terminate()
            p.wait()
    print(f"{'RPC':<12}{'mallard MiB/s':>15}{'pyarrow MiB/s':>15}{'ratio':>8}")
    for rpc in ("DoGet", "DoPut", "DoExchange"):
        m, q = results["mallard"][rpc], results["pyarrow"][rpc]
        print(f"{rpc:<12}{m:>15.0f}{q:>15.0f}{m / q:>8.2f}")
    print(f"{'peak RSS':<12}{results['mallard']['rss']:>12.0f} MiB"
          f"{results['pyarrow']['rss']:>12.0f} MiB")


if __name__ == "__main__":
    main()
