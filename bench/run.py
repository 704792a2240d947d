"""End-to-end benchmark harness: the work of `mallard bench` (GET, PUT, their total, EXCHANGE,
TRANSFER) run with the same pyarrow client against `mallard serve` and against the Python
reference (bench/reference/server.py for GET/PUT/TRANSFER, bench/exchange/reference_exchanger.py
for the `processed` exchanger) in the same run, and the Mallard / reference ratios.

  GET       DoGet of SELECT * FROM the table on server 1, read whole (the prototype's read_all)
  PUT       that table sent by DoPut into a table on server 2 (mode replace)
  TOTAL     GET + PUT (the prototype's "Total time")
  EXCHANGE  the table through the `processed` exchanger (sent from a thread, answer counted)
  TRANSFER  server 1 -> server 2 streamed through the client, batch by batch
Each measure runs --repeat times (median and min-max); systems alternate within each repeat so
that load from other work on the machine hits both alike, and every measure starts once all the
server processes are idle (under 10% of a core for 0.25 s, at most 120 s), so that one system's
background work (`mallard serve` compressing what a load wrote) is timed in neither system's
next measure; Mallard's waits are reported apart. Peak RSS = VmHWM of each server
process at the end. Each measure also records the CPU seconds it cost the client (this process)
and the system's server processes, printed as a second table with the reference / Mallard ratio
of their sums: on a 2-core machine, where client and servers share the cores, wall time follows
that sum. Also runs the C client (`mallard bench --json`) against the Mallard servers
unless --no-cli.

EXCHANGE's floor: just before each of Mallard's EXCHANGE measures (and once on the quiet
machine, before loading), the bytes that EXCHANGE sends are echoed through loopback TCP with
plain sockets, no framing and no decoding; no Flight server and client can move them faster on
this machine, so the report gives each system's EXCHANGE as a multiple of it.

usage: .venv/bin/python bench/run.py [--rows N | --scale K] [--repeat N] [--mallard-bin build/mallard]
                                     [--json OUT.json] [--chart OUT.png]
"""
import argparse
import json
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LISTEN_RE = re.compile(r"^listening (grpc://\S+)$")
METRICS = ["get", "put", "total", "exchange", "transfer"]
PASSWORD = "password123"


def proc_cpu_s(pid):
    """User + system CPU seconds of a process so far (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proc:
    """A server process printing `listening grpc://...` lines."""

    def __init__(self, name, cmd, n):
        self.name = name
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, cwd=ROOT)
        self.uris = []
        deadline = time.time() + 60
        while len(self.uris) < n and time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            m = LISTEN_RE.match(line.strip())
            if m:
                self.uris.append(m.group(1))
        if len(self.uris) < n:
            self.stop()
            sys.exit(f"bench: {name} did not start ({' '.join(cmd)})")

    def cpu_s(self):
        """User + system CPU seconds so far (all threads); None once it has exited."""
        try:
            return proc_cpu_s(self.p.pid)
        except (OSError, IndexError, ValueError):
            return None

    def peak_rss(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def self_cpu_s():
    """User + system CPU seconds of this process so far (the pyarrow client's threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def settle(procs, limit=120.0):
    """Waits until every process has used under 10% of a core in each of three 0.25 s windows
    in a row; returns the wait. (`mallard serve` starts compressing what a load wrote 0.05-0.3 s
    after the load returns: one quiet window could end before that, and the next measure would
    then run beside the compression.)"""
    t0 = time.perf_counter()
    quiet = 0
    while time.perf_counter() - t0 < limit and quiet < 3:
        before = [p.cpu_s() for p in procs]
        time.sleep(0.25)
        after = [p.cpu_s() for p in procs]
        idle = all(a is None or b is None or b - a <= 0.025 for a, b in zip(before, after))
        quiet = quiet + 1 if idle else 0
    return time.perf_counter() - t0


def client(uri):
    c = fl.FlightClient(uri)
    token = c.authenticate_basic_token("admin", PASSWORD)
    return c, fl.FlightCallOptions(headers=[token])


def put_cmd(table):
    return fl.FlightDescriptor.for_command(json.dumps({"table": table, "mode": "replace"}).encode())


def do_put(c, opts, table, data, chunk=None):
    w, r = c.do_put(put_cmd(table), data.schema, options=opts)
    w.write_table(data, max_chunksize=chunk)
    w.done_writing()
    r.read()
    w.close()


def do_get(c, opts, sql):
    return c.do_get(fl.Ticket(sql.encode()), options=opts).read_all()


def do_exchange(c, opts, data):
    w, r = c.do_exchange(fl.FlightDescriptor.for_command(b"processed"), options=opts)
    w.begin(data.schema)
    err = []

    def feed():
        try:
            for b in data.to_batches():
                w.write_batch(b)
            w.done_writing()
        except Exception as e:  # reported below
            err.append(e)

    t = threading.Thread(target=feed)
    t.start()
    rows = 0
    for chunk in r:
        rows += chunk.data.num_rows
    t.join()
    w.close()
    if err:
        raise err[0]
    return rows


def transfer(c1, o1, c2, o2, sql, table):
    reader = c1.do_get(fl.Ticket(sql.encode()), options=o1)
    w, r = c2.do_put(put_cmd(table), reader.schema, options=o2)
    for chunk in reader:
        w.write_batch(chunk.data)
    w.done_writing()
    r.read()
    w.close()


class System:
    def __init__(self, name, s1, s2, xchg, procs, own):
        self.name = name
        self.procs = procs  # every server process of both systems: settled before each measure
        self.own = own  # this system's server processes: their CPU is counted per measure
        self.settle_s = []
        self.floor = []  # (seconds, CPU seconds) of tcp_echo_floor before each EXCHANGE
        self.c1, self.o1 = client(s1)
        self.c2, self.o2 = client(s2)
        self.cx, self.ox = client(xchg)
        self.times = {m: [] for m in METRICS}
        self.cpu = {m: {"client": [], "servers": []} for m in METRICS}

    def _cpu_now(self):
        return self_cpu_s(), sum(p.cpu_s() or 0.0 for p in self.own)

    def _measure(self, metric, fn):
        """Runs fn() as one measure: returns (its result, seconds) and records the CPU it cost
        the client (this process) and this system's servers."""
        c0, s0 = self._cpu_now()
        t = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t
        c1, s1 = self._cpu_now()
        self.cpu[metric]["client"].append(c1 - c0)
        self.cpu[metric]["servers"].append(s1 - s0)
        return out, secs

    def load(self, data):
        t = time.perf_counter()
        do_put(self.c1, self.o1, "bench_flights", data, chunk=65536)
        return time.perf_counter() - t

    def run_once(self, n_rows):
        waited = settle(self.procs)
        got, t_get = self._measure(
            "get", lambda: do_get(self.c1, self.o1, "SELECT * FROM bench_flights"))
        assert got.num_rows == n_rows, (self.name, got.num_rows)
        waited += settle(self.procs)
        _, t_put = self._measure("put", lambda: do_put(self.c2, self.o2, "bench_put", got))
        # EXCHANGE's floor, just before it: the bytes it sends each way (the batches' IPC
        # messages, as the wire carries them) echoed through loopback TCP
        self.exchange_bytes = sum(pa.ipc.get_record_batch_size(b) for b in got.to_batches())
        settle(self.procs)
        self.floor.append(tcp_echo_floor(self.exchange_bytes))
        waited += settle(self.procs)
        rows, t_x = self._measure("exchange", lambda: do_exchange(self.cx, self.ox, got))
        assert rows == n_rows, (self.name, rows)
        del got
        waited += settle(self.procs)
        _, t_tr = self._measure("transfer", lambda: transfer(
            self.c1, self.o1, self.c2, self.o2, "SELECT * FROM bench_flights", "bench_transfer"))
        waited += settle(self.procs)  # what the transfer left to do
        self.settle_s.append(waited)
        for m, v in zip(METRICS, [t_get, t_put, t_get + t_put, t_x, t_tr]):
            self.times[m].append(v)
        for who in ["client", "servers"]:
            self.cpu["total"][who].append(self.cpu["get"][who][-1] + self.cpu["put"][who][-1])

    def summary(self, n_rows, n_bytes):
        out = {}
        for m in METRICS:
            med = statistics.median(self.times[m])
            out[m] = {"median_s": med, "min_s": min(self.times[m]), "max_s": max(self.times[m]),
                      "rows_per_s": n_rows / med, "mb_per_s": n_bytes / 1e6 / med,
                      "client_cpu_s": statistics.median(self.cpu[m]["client"]),
                      "server_cpu_s": statistics.median(self.cpu[m]["servers"])}
        return out


def tcp_echo_floor(nbytes, chunk=4 << 20):
    """What moving nbytes each way through loopback TCP costs with nothing else done: a thread
    echoes what it receives, the caller sends from another thread and receives the echo (plain
    sockets, no framing, no decoding). EXCHANGE moves the same bytes, so no server or client
    can do it faster than this on this machine. Returns (seconds, CPU seconds)."""
    import socket
    lsn = socket.create_server(("127.0.0.1", 0))
    port = lsn.getsockname()[1]

    def echo():
        conn, _ = lsn.accept()
        buf = memoryview(bytearray(chunk))
        while True:
            n = conn.recv_into(buf)
            if n == 0:
                break
            conn.sendall(buf[:n])
        conn.close()

    th = threading.Thread(target=echo)
    th.start()
    s = socket.create_connection(("127.0.0.1", port))
    out = memoryview(bytearray(chunk))

    def send():
        left = nbytes
        while left > 0:
            k = min(left, chunk)
            s.sendall(out[:k])
            left -= k
        s.shutdown(socket.SHUT_WR)

    c0, t0 = self_cpu_s(), time.perf_counter()
    sender = threading.Thread(target=send)
    sender.start()
    buf, got = memoryview(bytearray(chunk)), 0
    while got < nbytes:
        n = s.recv_into(buf)
        if n == 0:
            break
        got += n
    sender.join()
    secs, cpu = time.perf_counter() - t0, self_cpu_s() - c0
    s.close()
    th.join()
    lsn.close()
    assert got == nbytes, (got, nbytes)
    return secs, cpu


def load_data(rows, scale):
    t = pq.read_table(os.path.join(ROOT, "data", "flights-3m.parquet"))
    if rows is not None:
        scale = rows // t.num_rows + 1
    data = pa.concat_tables([t] * scale)
    if rows is not None:
        data = data.slice(0, rows)
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int)
    ap.add_argument("--scale", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mallard-bin", default=os.path.join(ROOT, "build", "mallard"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "out", "e2e.json"))
    ap.add_argument("--chart", help="also draw the results as a PNG (bench/chart.py)")
    ap.add_argument("--no-cli", action="store_true", help="skip `mallard bench` (the C client)")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="extra `mallard serve` flag (repeatable), e.g. --serve-arg=--no-compress")
    args = ap.parse_args()

    data = load_data(args.rows, args.scale)
    n_rows, n_bytes = data.num_rows, data.nbytes
    print(f"{n_rows:,} rows, {n_bytes / 1e6:,.0f} MB of Arrow data; repeat {args.repeat}",
          file=sys.stderr)
    py = sys.executable
    procs = {
        "mallard": Proc("mallard serve", [args.mallard_bin, "serve", "--listen", "127.0.0.1:0",
                                          "--listen", "127.0.0.1:0", *args.serve_arg], 2),
        "reference": Proc("reference server", [py, "bench/reference/server.py", "0", "0"], 2),
        "reference_exchanger": Proc("reference exchanger",
                                    [py, "bench/exchange/reference_exchanger.py", "0"], 1),
    }
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"{platform.platform()}, load {os.getloadavg()[0]:.1f}",
              "pyarrow": pa.__version__, "rows": n_rows, "bytes": n_bytes,
              "repeat": args.repeat, "serve_args": args.serve_arg}
    try:
        m, r, rx = procs["mallard"], procs["reference"], procs["reference_exchanger"]
        everyone = [m, r, rx]
        systems = [System("mallard", m.uris[0], m.uris[1], m.uris[0], everyone, [m]),
                   System("reference", r.uris[0], r.uris[1], rx.uris[0], everyone, [r, rx])]
        # EXCHANGE's floor on the quiet machine (servers up, no data yet); measured again after
        # the runs, in the state the measures ran in (see report())
        wire_est = sum(pa.ipc.get_record_batch_size(b) for b in data.to_batches())
        quiet_floor = [tcp_echo_floor(wire_est) for _ in range(args.repeat)]
        result["load_s"] = {s.name: s.load(data) for s in systems}
        for k in range(args.repeat):
            order = systems if k % 2 == 0 else systems[::-1]
            for s in order:
                print(f"run {k + 1}/{args.repeat}: {s.name}", file=sys.stderr)
                s.run_once(n_rows)
        del data
        floor = systems[0].floor  # before Mallard's EXCHANGE measures, for the bytes they sent
        result["exchange_floor"] = {
            "bytes_each_way": systems[0].exchange_bytes,
            "median_s": statistics.median(f[0] for f in floor),
            "cpu_s": statistics.median(f[1] for f in floor),
            "quiet": {"bytes_each_way": wire_est,
                      "median_s": statistics.median(f[0] for f in quiet_floor),
                      "cpu_s": statistics.median(f[1] for f in quiet_floor)}}
        for s in systems:
            result[s.name] = s.summary(n_rows, n_bytes)
            result[s.name]["settle_s"] = statistics.median(s.settle_s)
        result["peak_rss_bytes"] = {"mallard": m.peak_rss(), "reference": r.peak_rss(),
                                    "reference_exchanger": rx.peak_rss()}
        if not args.no_cli:
            for s in systems:  # free the servers' copies first
                for c, o, t in [(s.c1, s.o1, "bench_flights"), (s.c2, s.o2, "bench_put"),
                                (s.c2, s.o2, "bench_transfer")]:
                    list(c.do_action(fl.Action("execute", f"DROP TABLE IF EXISTS {t}".encode()),
                                     options=o))
            cli = [args.mallard_bin, "bench", "--server1", m.uris[0], "--server2", m.uris[1],
                   "--repeat", str(args.repeat), "--json", "--server-pid", str(m.p.pid),
                   "--rows", str(n_rows)]
            env = dict(os.environ, MALLARD_PASSWORD=PASSWORD)
            out = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, env=env)
            if out.returncode == 0:
                result["mallard_cli"] = json.loads(out.stdout)
            else:
                print("mallard bench failed: " + out.stderr, file=sys.stderr)
    finally:
        for p in procs.values():
            p.stop()

    report(result)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\n(results saved to {os.path.relpath(args.json, ROOT)})")
    if args.chart:
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "chart.py"), args.json,
                        args.chart], check=True)


NAMES = {"get": "GET", "put": "PUT", "total": "Total (GET+PUT)", "exchange": "EXCHANGE",
         "transfer": "TRANSFER"}


def report(res):
    mal, ref = res["mallard"], res["reference"]
    print(f"\n{res['rows']:,} flights rows ({res['bytes'] / 1e6:,.0f} MB of Arrow data), "
          f"median of {res['repeat']}; {res['machine']}; pyarrow {res['pyarrow']}; {res['date']}"
          f"; mallard serve {' '.join(res.get('serve_args') or []) or '(default flags)'}\n")
    print("| Metric | Mallard (s) | Mallard rows/s | Mallard MB/s | reference (s) | "
          "reference rows/s | Mallard / reference |")
    print("|---|---|---|---|---|---|---|")
    for m in METRICS:
        a, b = mal[m], ref[m]
        print(f"| {NAMES[m]} | {a['median_s']:.2f} ({a['min_s']:.2f}-{a['max_s']:.2f}) | "
              f"{a['rows_per_s']:,.0f} | {a['mb_per_s']:,.0f} | {b['median_s']:.2f} | "
              f"{b['rows_per_s']:,.0f} | **{b['median_s'] / a['median_s']:.2f}x** |")
    print(f"| TRANSFER vs reference GET-then-PUT | {mal['transfer']['median_s']:.2f} | | | "
          f"{ref['total']['median_s']:.2f} | | "
          f"**{ref['total']['median_s'] / mal['transfer']['median_s']:.2f}x** |")
    fl_ = res.get("exchange_floor")
    if fl_:
        x_m, x_r = mal["exchange"]["median_s"], ref["exchange"]["median_s"]
        q = fl_["quiet"]
        print(f"\nEXCHANGE's floor on this machine: echoing the "
              f"{fl_['bytes_each_way'] / 1e6:,.0f} MB Mallard's EXCHANGE sent, each way, through "
              f"loopback TCP with plain sockets (no framing, no decoding) takes "
              f"{fl_['median_s']:.2f} s ({fl_['cpu_s']:.2f} CPU s; median of {res['repeat']}, "
              f"each measured just before one of Mallard's EXCHANGE measures; on the quiet "
              f"machine, before any data was loaded: {q['median_s']:.2f} s, {q['cpu_s']:.2f} "
              f"CPU s for "
              f"{q['bytes_each_way'] / 1e6:,.0f} MB). Mallard's EXCHANGE is "
              f"{x_m / fl_['median_s']:.2f}x that floor, the reference's "
              f"{x_r / fl_['median_s']:.2f}x; 3x the reference would be "
              f"{x_r / 3 / fl_['median_s']:.2f}x.")
    print(f"\nwaits for all servers to go idle between measures, per run (median): after "
          f"Mallard's {mal.get('settle_s', 0):.2f} s, after the reference's "
          f"{ref.get('settle_s', 0):.2f} s (background work, such as `mallard serve` "
          f"compressing what a load wrote, is timed in no measure)")
    print("\nCPU seconds per measure (median; the pyarrow client's own, and the system's server "
          "processes'):\n")
    print("| Metric | Mallard client | Mallard servers | reference client | reference servers | "
          "reference / Mallard (client + servers) |")
    print("|---|---|---|---|---|---|")
    tot = lambda x: x["client_cpu_s"] + x["server_cpu_s"]  # noqa: E731
    ratio = lambda a, b: f"**{b / a:.2f}x**" if a > 0 else "n/a"  # noqa: E731
    for m in METRICS:
        a, b = mal[m], ref[m]
        print(f"| {NAMES[m]} | {a['client_cpu_s']:.2f} | {a['server_cpu_s']:.2f} | "
              f"{b['client_cpu_s']:.2f} | {b['server_cpu_s']:.2f} | {ratio(tot(a), tot(b))} |")
    print(f"| TRANSFER vs reference GET-then-PUT | {mal['transfer']['client_cpu_s']:.2f} | "
          f"{mal['transfer']['server_cpu_s']:.2f} | {ref['total']['client_cpu_s']:.2f} | "
          f"{ref['total']['server_cpu_s']:.2f} | "
          f"{ratio(tot(mal['transfer']), tot(ref['total']))} |")
    rss = res["peak_rss_bytes"]
    fmt = lambda v: "n/a" if v is None else f"{v / 1e6:,.0f} MB"  # noqa: E731
    print(f"\npeak RSS: mallard serve (both servers) {fmt(rss['mallard'])}; reference server "
          f"(both) {fmt(rss['reference'])}; reference exchanger "
          f"{fmt(rss['reference_exchanger'])}")
    cli = res.get("mallard_cli")
    if cli:
        print("\n`mallard bench` (the C client) on the same Mallard servers, against the "
              "reference's figures above (pyarrow client):\n")
        print("| Metric | time (s) | rows/s | MB/s | vs reference (time) | CPU s: client / servers "
              "| vs reference (CPU) |\n|---|---|---|---|---|---|---|")
        for m in METRICS + ["transfer_vs_gtp"]:
            x = cli["results"]["transfer" if m == "transfer_vs_gtp" else m]
            b = ref["total" if m == "transfer_vs_gtp" else m]
            name = "TRANSFER vs reference GET-then-PUT" if m == "transfer_vs_gtp" else NAMES[m]
            cc, sc = x.get("client_cpu_s"), x.get("server_cpu_s")
            cpu = "n/a" if cc is None or sc is None else f"{cc:.2f} / {sc:.2f}"
            vs_cpu = "n/a" if cc is None or sc is None else ratio(cc + sc, tot(b))
            print(f"| {name} | {x['median_s']:.2f} ({x['min_s']:.2f}-{x['max_s']:.2f}) | "
                  f"{x['rows_per_s']:,.0f} | {x['mb_per_s']:,.0f} | "
                  f"**{b['median_s'] / x['median_s']:.2f}x** | {cpu} | {vs_cpu} |")
        if fl_:
            print(f"\n`mallard bench`'s EXCHANGE is "
                  f"{cli['results']['exchange']['median_s'] / fl_['median_s']:.2f}x the floor "
                  f"above.")
        if "settle_s" in cli:
            print(f"\nwaits for the servers to go idle between its measures, per run (median): "
                  f"{cli['settle_s']['median_s']:.2f} s")


if __name__ == "__main__":
    main()
