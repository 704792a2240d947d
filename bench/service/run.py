"""Service benchmark: `mallard serve` against the Python reference server (bench/reference), with
the same pyarrow client in the same run.

Phases, on the flights data scaled xN (default 8, ~24M rows):
  PUT       client -> server1 (DoPut of the whole table, batches as they come)
  GET       server1 -> client (DoGet of SELECT * FROM the table, counted as it streams)
  TRANSFER  server1 -> server2 (the client streams the DoGet into a DoPut, batch by batch)
Each phase is repeated (default 3x) and the median reported: rows/s, MB/s (Arrow bytes of the
data), and the server process's peak RSS during the phase (VmHWM, reset before each phase with
/proc/PID/clear_refs), also as the growth over the RSS at the phase's start (the tables a server
already holds are in both). Both systems run two servers in one process; both run side by side
and each phase runs on one and then the other (alternating the order), so that load from other
work on the machine hits both alike.

usage: .venv/bin/python bench/service/run.py [--scale 8] [--repeat 3] [--mallard-bin build/mallard]
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTEN_RE = re.compile(r"^listening (grpc://\S+)$")


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Servers:
    def __init__(self, name, cmd):
        self.name = name
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.urls = []
        while len(self.urls) < 2:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{name} exited before listening")
            m = LISTEN_RE.match(line.strip())
            if m:
                self.urls.append(m.group(1))
        self.clients = []
        for url in self.urls:
            c = fl.FlightClient(url)
            tok = c.authenticate_basic_token("admin", "password123")
            self.clients.append((c, fl.FlightCallOptions(headers=[tok])))

    def stop(self):
        for c, _ in self.clients:
            c.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def put_cmd(table, mode="replace"):
    return fl.FlightDescriptor.for_command(json.dumps({"table": table, "mode": mode}).encode())


def phase_put(srv, data, table):
    c, o = srv.clients[0]
    w, r = c.do_put(put_cmd(table), data.schema, o)
    for b in data.to_batches(max_chunksize=131072):
        w.write_batch(b)
    w.done_writing()
    res = json.loads(r.read().to_pybytes())
    w.close()
    return res["rows"]


def phase_get(srv, table):
    c, o = srv.clients[0]
    rows = 0
    for chunk in c.do_get(fl.Ticket(f"SELECT * FROM {table}".encode()), o):
        rows += chunk.data.num_rows
    return rows


def phase_transfer(srv, table, target):
    c1, o1 = srv.clients[0]
    c2, o2 = srv.clients[1]
    reader = c1.do_get(fl.Ticket(f"SELECT * FROM {table}".encode()), o1)
    w, r = c2.do_put(put_cmd(target), reader.schema, o2)
    rows = 0
    for chunk in reader:
        w.write_batch(chunk.data)
        rows += chunk.data.num_rows
    w.done_writing()
    res = json.loads(r.read().to_pybytes())
    w.close()
    assert res["rows"] == rows
    return rows


def drop(srv, i, table):
    c, o = srv.clients[i]
    list(c.do_action(fl.Action("drop_table", table.encode()), o))


def run_phase(srv, phase, data, rep):
    """One timed phase on one system; returns its figures."""
    n, nbytes = data.num_rows, data.nbytes
    table, target = f"bench_{rep}", f"xfer_{rep}"
    pid = srv.proc.pid
    before = proc_status(pid, "VmRSS")
    reset_peak(pid)
    t0 = time.perf_counter()
    if phase == "PUT":
        rows = phase_put(srv, data, table)
    elif phase == "GET":
        rows = phase_get(srv, table)
    else:
        rows = phase_transfer(srv, table, target)
    dt = time.perf_counter() - t0
    assert rows == n, f"{srv.name} {phase}: {rows} rows, expected {n}"
    peak = proc_status(pid, "VmHWM")
    r = {"seconds": dt, "rows_per_s": n / dt, "mb_per_s": nbytes / dt / 1e6, "peak_rss": peak,
         "peak_above_start": peak - before}
    print(f"  {srv.name:9s} rep {rep + 1} {phase:8s} {dt:7.2f} s {n / dt / 1e6:8.2f} M rows/s "
          f"{nbytes / dt / 1e6:8.1f} MB/s  peak RSS {peak / 2**20:6.0f} MiB "
          f"(+{(peak - before) / 2**20:.0f} MiB over the phase's start)", flush=True)
    return r


def summarize(results, idle):
    summary = {"idle_rss": idle}
    for phase, rs in results.items():
        summary[phase] = {
            "seconds": statistics.median(r["seconds"] for r in rs),
            "rows_per_s": statistics.median(r["rows_per_s"] for r in rs),
            "mb_per_s": statistics.median(r["mb_per_s"] for r in rs),
            "peak_rss": max(r["peak_rss"] for r in rs),
            "peak_above_start": max(r["peak_above_start"] for r in rs),
        }
    summary["peak_rss"] = max(summary[p]["peak_rss"] for p in results)
    return summary


def run_interleaved(servers, data, repeat):
    """Both systems run side by side; each phase runs on one then the other (the order alternates
    per repetition) so that load from the shared machine hits both alike."""
    results = {name: {"PUT": [], "GET": [], "TRANSFER": []} for name in servers}
    idle = {name: proc_status(srv.proc.pid, "VmRSS") for name, srv in servers.items()}
    names = list(servers)
    for rep in range(repeat):
        order = names if rep % 2 == 0 else names[::-1]
        for phase in ("PUT", "GET", "TRANSFER"):
            for name in order:
                results[name][phase].append(run_phase(servers[name], phase, data, rep))
        for name in names:
            drop(servers[name], 0, f"bench_{rep}")
            drop(servers[name], 1, f"xfer_{rep}")
    return {name: summarize(results[name], idle[name]) for name in names}


def main():
    ap = argparse.ArgumentParser(description="Mallard vs the reference server")
    ap.add_argument("--scale", type=int, default=8, help="copies of flights-3m (default 8)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mallard-bin", default=os.path.join(ROOT, "build", "mallard"))
    ap.add_argument("--mallard-args", default="", help="extra `mallard serve` flags")
    ap.add_argument("--only", choices=["mallard", "reference"], default=None)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    base = pq.read_table(os.path.join(ROOT, "data", "flights-3m.parquet"))
    data = pa.concat_tables([base] * args.scale).combine_chunks()
    print(f"data: {data.num_rows:,} rows, {data.nbytes / 1e6:.0f} MB (Arrow), "
          f"{data.num_columns} columns", flush=True)

    systems = {
        "mallard": [args.mallard_bin, "serve", "--listen", "127.0.0.1:0", "--listen",
                    "127.0.0.1:0", *args.mallard_args.split()],
        "reference": [sys.executable, os.path.join(ROOT, "bench", "reference", "server.py"), "0", "0"],
    }
    out = {"rows": data.num_rows, "bytes": data.nbytes, "scale": args.scale, "repeat": args.repeat,
           "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "systems": {}}
    servers = {}
    try:
        for name, cmd in systems.items():
            if args.only and name != args.only:
                continue
            servers[name] = Servers(name, cmd)
        out["systems"] = run_interleaved(servers, data, args.repeat)
    finally:
        for srv in servers.values():
            srv.stop()

    if len(out["systems"]) == 2:
        m, r = out["systems"]["mallard"], out["systems"]["reference"]
        print()
        print(f"{'phase':9s} {'mallard rows/s':>15s} {'ref rows/s':>13s} {'ratio':>6s} "
              f"{'mallard MB/s':>13s} {'ref MB/s':>9s} {'mallard peak':>13s} {'ref peak':>9s} {'RSS ratio':>9s}")
        for phase in ("PUT", "GET", "TRANSFER"):
            mp, rp = m[phase], r[phase]
            print(f"{phase:9s} {mp['rows_per_s'] / 1e6:13.2f} M {rp['rows_per_s'] / 1e6:11.2f} M "
                  f"{mp['rows_per_s'] / rp['rows_per_s']:6.2f} {mp['mb_per_s']:13.1f} {rp['mb_per_s']:9.1f} "
                  f"{mp['peak_rss'] / 2**20:9.0f} MiB {rp['peak_rss'] / 2**20:5.0f} MiB "
                  f"{mp['peak_rss'] / rp['peak_rss']:9.2f}")
        print("peak RSS above the phase's start: " + ", ".join(
            f"{p} mallard {m[p]['peak_above_start'] / 2**20:.0f} MiB / reference "
            f"{r[p]['peak_above_start'] / 2**20:.0f} MiB" for p in ("PUT", "GET", "TRANSFER")))
        print(f"idle RSS: mallard {m['idle_rss'] / 2**20:.0f} MiB, reference {r['idle_rss'] / 2**20:.0f} MiB; "
              f"overall peak: mallard {m['peak_rss'] / 2**20:.0f} MiB, reference {r['peak_rss'] / 2**20:.0f} MiB "
              f"(ratio {m['peak_rss'] / r['peak_rss']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
