"""Exchanger benchmark: the built-in `processed` exchanger of `mallard serve` against the Python
prototype's equivalent (bench/exchange/reference_exchanger.py: pyarrow appending a column in a
pyarrow.flight do_exchange), with the same pyarrow client in the same run.

The client streams the flights data (data/flights-3m.parquet scaled xN, default 8 = ~24M rows)
in batches of --batch-rows rows from a writer thread, while the main thread reads and counts the
answer (checking every answer batch has the `processed` column). Each system runs --repeat times
(default 3); the median wall time gives rows/s and the ratio mallard / reference.

usage: .venv/bin/python bench/exchange/run.py [--scale 8] [--repeat 3] [--batch-rows 65536]
           [--mallard-bin build/mallard] [--markdown]
"""
import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTEN_RE = re.compile(r"^listening (grpc://\S+)$")


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"{cmd[0]} exited before listening")
        m = LISTEN_RE.match(line.strip())
        if m:
            return p, m.group(1)


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from run import proc_cpu_s as proc_cpu  # noqa: E402  (bench/run.py)


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_once(url, batches, schema):
    c = fl.FlightClient(url)
    opts = fl.FlightCallOptions(headers=[c.authenticate_basic_token("admin", "password123")])
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"processed"), opts)
    err = []

    def write():
        try:
            w.begin(schema)
            for b in batches:
                w.write_batch(b)
            w.done_writing()
        except Exception as e:
            err.append(e)

    t0 = time.perf_counter()
    th = threading.Thread(target=write)
    th.start()
    rows = 0
    for chunk in r:
        b = chunk.data
        assert b.schema.names[-1] == "processed", b.schema
        rows += b.num_rows
    th.join()
    elapsed = time.perf_counter() - t0
    w.close()
    c.close()
    if err:
        raise err[0]
    return rows, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-rows", type=int, default=65536)
    ap.add_argument("--mallard-bin", default=os.path.join(ROOT, "build", "mallard"))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    base = pq.read_table(os.path.join(ROOT, "data", "flights-3m.parquet"))
    table = pa.concat_tables([base] * args.scale).combine_chunks()
    batches = table.to_batches(max_chunksize=args.batch_rows)
    mb = table.nbytes / 1e6
    print(f"data: {table.num_rows:,} rows, {mb:,.0f} MB of Arrow data, {len(batches)} batches",
          file=sys.stderr)

    systems = {
        "mallard": [args.mallard_bin, "serve", "--listen", "127.0.0.1:0"],
        "reference": [sys.executable, os.path.join(ROOT, "bench", "exchange",
                                                   "reference_exchanger.py"), "0"],
    }
    results = {}
    for name, cmd in systems.items():
        p, url = start(cmd)
        try:
            run_once(url, batches[:4], table.schema)  # warm-up
            times, server_cpu, client_cpu = [], [], []
            for i in range(args.repeat):
                s0, c0 = proc_cpu(p.pid), self_cpu()
                rows, secs = run_once(url, batches, table.schema)
                server_cpu.append(proc_cpu(p.pid) - s0)
                client_cpu.append(self_cpu() - c0)
                assert rows == table.num_rows, (name, rows)
                times.append(secs)
                print(f"{name} run {i + 1}: {secs:.2f} s, {rows / secs:,.0f} rows/s, "
                      f"server CPU {server_cpu[-1]:.2f} s, client CPU {client_cpu[-1]:.2f} s",
                      file=sys.stderr)
        finally:
            stop(p)
        med = statistics.median(times)
        results[name] = (med, table.num_rows / med, mb / med, statistics.median(server_cpu),
                         statistics.median(client_cpu))

    ratio = results["mallard"][1] / results["reference"][1]
    lines = [
        f"`processed` on {table.num_rows:,} flights rows ({mb:,.0f} MB), batches of "
        f"{args.batch_rows:,} rows, median of {args.repeat}; {platform.machine()}, "
        f"{os.cpu_count()} cores, pyarrow {pa.__version__}.",
        "",
        "| system | median time (s) | rows/s | MB/s | server CPU (s) | client CPU (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, (med, rps, mbps, scpu, ccpu) in results.items():
        lines.append(f"| {name} | {med:.2f} | {rps:,.0f} | {mbps:,.0f} | {scpu:.2f} | {ccpu:.2f} |")
    cpu_ratio = results["reference"][3] / results["mallard"][3]
    ccpu = results["reference"][4]
    bound = results["reference"][0] / (ccpu / os.cpu_count())
    lines += ["", f"Ratio mallard / reference (rows/s): **{ratio:.2f}x**",
              f"Server CPU per row, reference / mallard: **{cpu_ratio:.2f}x**",
              f"Ceiling for the rows/s ratio with this client on {os.cpu_count()} cores (a server "
              f"costing nothing; the client's own CPU, {ccpu:.2f} s, spread over every core): "
              f"{bound:.2f}x"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
