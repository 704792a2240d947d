"""Flight transport benchmark: DoGet, DoPut and DoExchange of the in-memory flights table,
Mallard's C test server vs a pyarrow.flight.FlightServerBase, same pyarrow client, same run.
Usage: bench_flight.py [--build DIR] [--times N] [--scale K] [--rounds R] [--baseline BIN]
                       [--glibc-tunables T] [--mallard-args "ARGS"]
  --scale K     K copies of the 3M-row table
  --times N     repetitions of each RPC per server start (the best one counts for that round)
  --rounds R    server starts per server, alternating the servers; the median round is reported
  --baseline B  also run another build of mallard-flight-test-server (A/B of a change)
  --mallard-args A  extra arguments for the mallard server (not the baseline), e.g.
                "--rx-pool-bytes 67108864"
  --glibc-tunables T  GLIBC_TUNABLES for every server process, e.g.
                glibc.malloc.trim_threshold=1073741824 (keep freed memory instead of returning it
                to the kernel, so that gRPC's 64 KiB read slices are not page-faulted afresh)
Besides throughput it reports each server process's CPU seconds (user + system, from
/proc/PID/stat) per GiB moved, summed over the N repetitions of an RPC, and its peak RSS."""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
RPCS = ("DoGet", "DoPut", "DoExchange")
TICK = os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_and_faults(pid):
    # Fields after the command name; minflt, utime and stime are fields 10, 14 and 15 of
    # /proc/PID/stat.
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[7])


def start(args, env):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    uri = p.stdout.readline().split()[1]
    return p, uri


def run(uri, pid, table, times):
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
    for rpc, fn in (("DoPut", put), ("DoGet", get), ("DoExchange", exchange)):
        walls = []
        cpu0, flt0 = cpu_and_faults(pid)
        for _ in range(times):
            t0 = time.perf_counter()
            fn()
            walls.append(time.perf_counter() - t0)
        cpu1, flt1 = cpu_and_faults(pid)
        gib = times * nbytes / 2**30
        res[rpc] = nbytes / min(walls) / 2**20
        res[rpc + " cpu"] = (cpu1 - cpu0) / gib
        res[rpc + " faults"] = (flt1 - flt0) / gib
    c.close()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--times", type=int, default=3)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--glibc-tunables", default=None)
    ap.add_argument("--mallard-args", default="")
    a = ap.parse_args()
    env = dict(os.environ)
    if a.glibc_tunables:
        env["GLIBC_TUNABLES"] = a.glibc_tunables
    table = pq.read_table(ROOT / "data" / "flights-3m.parquet")
    table = pa.concat_tables([table] * a.scale).combine_chunks()
    table = pa.Table.from_batches(table.to_batches(max_chunksize=65536))
    print(f"table: {table.num_rows} rows, {table.nbytes / 2**20:.0f} MiB in memory, "
          f"{len(table.to_batches())} batches; {a.rounds} round(s) x best of {a.times}"
          + (f"; GLIBC_TUNABLES={a.glibc_tunables}" if a.glibc_tunables else ""))
    servers = {
        "mallard": [str(pathlib.Path(a.build) / "tests/servers/mallard-flight-test-server"),
                    "--port", "0"] + a.mallard_args.split(),
        "pyarrow": [sys.executable, str(pathlib.Path(__file__).with_name("pyarrow_server.py"))],
    }
    if a.baseline:
        servers["baseline"] = [a.baseline, "--port", "0"]
    rounds = {name: [] for name in servers}
    names = list(servers)
    for r in range(a.rounds):
        # Rotate the order each round so that no server always runs first (or last).
        for name in names[r % len(names):] + names[:r % len(names)]:
            p, uri = start(servers[name], env)
            try:
                res = run(uri, p.pid, table, a.times)
                res["rss"] = peak_rss_mib(p.pid)
                rounds[name].append(res)
            finally:
                p.terminate()
                p.wait()

    def med(name, key):
        return statistics.median(x[key] for x in rounds[name])

    others = [n for n in names if n != "pyarrow"]
    head = "".join(f"{n + ' MiB/s':>16}{'CPU s/GiB':>10}" for n in names)
    print(f"{'RPC':<11}{head}" + "".join(f"{n + '/pyarrow':>18}" for n in others))
    for rpc in RPCS:
        cols = "".join(f"{med(n, rpc):>16.0f}{med(n, rpc + ' cpu'):>10.2f}" for n in names)
        ratios = "".join(f"{med(n, rpc) / med('pyarrow', rpc):>18.2f}" for n in others)
        print(f"{rpc:<11}{cols}{ratios}")
    def faults(n):
        return "/".join(f"{med(n, rpc + ' faults') / 1000:.0f}k" for rpc in RPCS)

    print(f"{'faults/GiB':<11}" + "".join(f"{faults(n):>26}" for n in names)
          + "  (server's minor page faults: DoGet/DoPut/DoExchange)")
    print(f"{'peak RSS':<11}" + "".join(f"{med(n, 'rss'):>12.0f} MiB{'':>10}" for n in names))
    if a.rounds > 1:
        print("per round MiB/s:")
        for n in names:
            for rpc in RPCS:
                print(f"  {n:<9}{rpc:<11}" + " ".join(f"{x[rpc]:.0f}" for x in rounds[n]))


if __name__ == "__main__":
    main()
