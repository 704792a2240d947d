"""Server memory and cost per benchmark step: starts `mallard serve` with two in-memory servers
in one process and prints, after each step of bench/run.py's work (load, GET, PUT, PUT again,
TRANSFER twice), the process's RSS and peak RSS (MB), the step's wall time and the server
process's CPU time for the step (user+sys, s).

usage: .venv/bin/python bench/rss.py <mallard binary> [extra serve flags...]
       env RSS_SCALE (default 8: 24M rows), RSS_STEPS (comma list, default all)"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

scale = int(os.environ.get("RSS_SCALE", "8"))
steps = os.environ.get("RSS_STEPS", "load,get,put,put2,transfer,transfer2").split(",")
data = B.load_data(None, scale)
cmd = [sys.argv[1], "serve", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"] + sys.argv[2:]
p = B.Proc("m", cmd, 2)


def status():
    d = {}
    with open(f"/proc/{p.p.pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                d[k] = int(v.split()[0]) // 1024
    return d


def cpu():
    return B.proc_cpu_s(p.p.pid)


c1, o1 = B.client(p.uris[0])
c2, o2 = B.client(p.uris[1])
print("idle", status(), flush=True)
got = None


def step(name, fn):
    t0, c0 = time.time(), cpu()
    fn()
    print(f"{name:<10} {status()} wall {time.time() - t0:6.2f}s server-cpu {cpu() - c0:6.2f}s",
          flush=True)


def get():
    global got
    got = B.do_get(c1, o1, "SELECT * FROM bench_flights")


if "load" in steps:
    step("load", lambda: B.do_put(c1, o1, "bench_flights", data, chunk=65536))
if "get" in steps:
    step("get", get)
if "put" in steps:
    step("put", lambda: B.do_put(c2, o2, "bench_put", got))
if "put2" in steps:
    step("put again", lambda: B.do_put(c2, o2, "bench_put", got))
if "transfer" in steps:
    step("transfer", lambda: B.transfer(c1, o1, c2, o2, "SELECT * FROM bench_flights",
                                        "bench_transfer"))
if "transfer2" in steps:
    step("transfer2", lambda: B.transfer(c1, o1, c2, o2, "SELECT * FROM bench_flights",
                                         "bench_transfer"))
p.stop()
