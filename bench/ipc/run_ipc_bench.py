#!/usr/bin/env python3
"""IPC codec benchmark: Mallard's encoder/decoder vs pyarrow's IPC writer/reader on the 3M-row
flights data, in the same run, as time ratios (Mallard / pyarrow; < 1 means Mallard is faster).

Prepares (once) bench/out/ipc/: an uncompressed IPC file that pyarrow writes from
data/flights-3m.parquet in batches of --batch-rows, and pyarrow-written IPC streams with no,
LZ4_FRAME and ZSTD compression. Then, each timed --reps times after a warm-up run, in --rounds rounds alternating Mallard and
pyarrow (the machine may be shared), reported as the median over rounds of the rounds' medians:
  decode file    open the in-memory file image and materialise every batch (zero copy)
  decode stream  decode an in-memory stream message by message (none / lz4 / zstd)
  encode         schema + every batch as stream messages into a byte-counting sink that copies
                 nothing (pyarrow.MockOutputStream; Mallard: the same with a counting write
                 callback), uncompressed / lz4 / zstd
pyarrow runs with its default use_threads=True (it may (de)compress buffers on several cores)
and, for compressed cases, also with use_threads=False (single thread, like Mallard).
Ratios are of wall-clock medians; "CPU ratio" compares process CPU time (all threads) with
single-threaded pyarrow where measured, which is steadier than wall time on a busy machine.

usage: .venv/bin/python bench/ipc/run_ipc_bench.py [--build build] [--rounds 3] [--reps 3]
                                                   [--batch-rows 65536]
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "ipc"
CODECS = ["none", "lz4", "zstd"]


def prepare(batch_rows):
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = OUT / f"prepared-{batch_rows}"
    paths = {"file": OUT / "flights-3m.arrow"}
    for c in CODECS:
        paths[c] = OUT / f"flights-3m-{c}.arrows"
    if stamp.exists() and all(p.exists() for p in paths.values()):
        return paths
    table = pq.read_table(ROOT / "data" / "flights-3m.parquet")
    batches = table.to_batches(max_chunksize=batch_rows)
    with pa.ipc.new_file(str(paths["file"]), table.schema) as w:
        for b in batches:
            w.write_batch(b)
    for c in CODECS:
        opts = pa.ipc.IpcWriteOptions(compression=None if c == "none" else c)
        with pa.ipc.new_stream(str(paths[c]), table.schema, options=opts) as w:
            for b in batches:
                w.write_batch(b)
    stamp.write_text("ok\n")
    return paths


def bench_binary(build):
    exe = build / "mallard-ipc-bench"
    if exe.exists():
        return exe
    # Not built by CMake (bench/ipc not added to the build): compile it against the libraries.
    exe = OUT / "mallard-ipc-bench"
    libs = [build / "src" / m / f"libmallard_{m}.a" for m in ("ipc", "arrow", "common")]
    cmd = ["cc", "-O2", "-std=c11", "-D_GNU_SOURCE", f"-I{ROOT / 'include'}", f"-I{ROOT / 'src'}",
           str(ROOT / "bench" / "ipc" / "ipc_bench.c"), *map(str, libs), "-llz4", "-lzstd",
           "-lpthread", "-o", str(exe)]
    subprocess.run(cmd, check=True)
    return exe


def timed(fn, reps):
    """(median wall seconds, median process CPU seconds, all threads) of reps runs."""
    fn()  # warm-up, not timed (as in mallard-ipc-bench)
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def pyarrow_results(paths, reps):
    res = []
    data = {k: pa.py_buffer(p.read_bytes()) for k, p in paths.items()}

    def decode_file():
        r = pa.ipc.open_file(pa.BufferReader(data["file"]))
        for i in range(r.num_record_batches):
            r.get_batch(i)

    w, c = timed(decode_file, reps)
    res.append({"op": "decode", "input": "file", "codec": "none", "threads": True,
                "seconds": w, "cpu_seconds": c})
    r = pa.ipc.open_file(pa.BufferReader(data["file"]))
    schema = r.schema
    batches = [r.get_batch(i) for i in range(r.num_record_batches)]
    for c in CODECS:
        for threads in ([True] if c == "none" else [True, False]):
            opts = pa.ipc.IpcWriteOptions(compression=None if c == "none" else c,
                                          use_threads=threads)

            def encode():
                sink = pa.MockOutputStream()
                with pa.ipc.new_stream(sink, schema, options=opts) as w:
                    for b in batches:
                        w.write_batch(b)

            w, cs = timed(encode, reps)
            res.append({"op": "encode", "input": "stream", "codec": c, "threads": threads,
                        "seconds": w, "cpu_seconds": cs})
            ropts = pa.ipc.IpcReadOptions(use_threads=threads)

            def decode_stream():
                for _ in pa.ipc.open_stream(pa.BufferReader(data[c]), options=ropts):
                    pass

            w, cs = timed(decode_stream, reps)
            res.append({"op": "decode", "input": "stream", "codec": c, "threads": threads,
                        "seconds": w, "cpu_seconds": cs})
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--reps", type=int, default=3, help="timed runs per round (after a warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating Mallard/pyarrow rounds")
    ap.add_argument("--batch-rows", type=int, default=65536)
    args = ap.parse_args()
    paths = prepare(args.batch_rows)
    exe = bench_binary(pathlib.Path(args.build))
    cmd = [str(exe), str(paths["file"]), str(args.reps)]
    for c in CODECS:
        cmd += [str(paths[c]), c]
    # The machine may be shared: Mallard and pyarrow alternate in rounds, and each figure is
    # the median over rounds of each round's median.
    rounds_m, rounds_p = [], []
    for _ in range(args.rounds):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rounds_m.append([json.loads(line) for line in out.splitlines() if line.strip()])
        rounds_p.append(pyarrow_results(paths, args.reps))
    mallard = rounds_m[0]
    for i, m in enumerate(mallard):
        for k in ("seconds", "cpu_seconds"):
            m[k] = statistics.median(r[i][k] for r in rounds_m)
    py = rounds_p[0]
    for i, p in enumerate(py):
        for k in ("seconds", "cpu_seconds"):
            p[k] = statistics.median(r[i][k] for r in rounds_p)
    rows = mallard[0]["rows"]
    print(f"# IPC codec benchmark: {rows} rows in {mallard[0]['batches']} batches, "
          f"median of {args.rounds} rounds x {args.reps} runs; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, pyarrow {pa.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| operation | codec | Mallard s | pyarrow s (threads) | ratio | pyarrow s (1 thread) "
          "| ratio | CPU ratio | Mallard Mrows/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    report = []
    fmt = lambda x: "-" if x is None else f"{x:.4f}"
    fr = lambda x: "-" if x is None else f"{x:.2f}"
    for m in mallard:
        key = (m["op"], m["input"], m["codec"])
        same = [p for p in py if (p["op"], p["input"], p["codec"]) == key]
        p_thr = next((p for p in same if p["threads"]), None)
        p_one = next((p for p in same if not p["threads"]), None)
        r_thr = m["seconds"] / p_thr["seconds"] if p_thr else None
        r_one = m["seconds"] / p_one["seconds"] if p_one else None
        # CPU time: against single-threaded pyarrow where there is one (same work, one core)
        p_cpu = (p_one or p_thr)["cpu_seconds"]
        r_cpu = m["cpu_seconds"] / p_cpu if p_cpu > 0 else None
        print(f"| {m['op']} {m['input']} | {m['codec']} | {fmt(m['seconds'])} "
              f"| {fmt(p_thr and p_thr['seconds'])} | {fr(r_thr)} "
              f"| {fmt(p_one and p_one['seconds'])} | {fr(r_one)} | {fr(r_cpu)} "
              f"| {rows / m['seconds'] / 1e6:.1f} |")
        report.append({**m, "pyarrow_seconds_threads": p_thr and p_thr["seconds"],
                       "pyarrow_seconds_1thread": p_one and p_one["seconds"],
                       "ratio_threads": r_thr, "ratio_1thread": r_one, "ratio_cpu": r_cpu})
    (OUT / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
