#!/usr/bin/env python3
"""IPC codec benchmark: Mallard's encoder/decoder vs pyarrow's IPC writer/reader on the 3M-row
flights data, in the same run, as time ratios (Mallard / pyarrow; < 1 means Mallard is faster).

Prepares (once) bench/out/ipc/: an uncompressed IPC file that pyarrow writes from
data/flights-3m.parquet in batches of --batch-rows, and pyarrow-written IPC streams with no,
LZ4_FRAME and ZSTD compression. Then, each timed --reps times after a warm-up run, in --rounds
rounds alternating Mallard and pyarrow (the machine may be shared), reported as the median over
rounds of the rounds' medians. Each Mallard figure is paired with the like-for-like pyarrow one:
  decode file/stream, uncompressed:
    Mallard STRUCTURAL (O(1) checks per buffer)  vs  pyarrow's reader as is (its default checks)
    Mallard FULL (every offset, ...)             vs  pyarrow's reader + RecordBatch.validate(full=True)
  encode (schema + every batch as stream messages into a byte-counting sink that copies nothing:
  pyarrow.MockOutputStream; Mallard: the same with a counting write callback), and decode of the
  compressed streams (Mallard FULL, as a server decodes):
    Mallard with --threads compression threads   vs  pyarrow use_threads=True (its default)
    Mallard with 1 thread                         vs  pyarrow use_threads=False
"CPU ratio" compares process CPU time (all threads): steadier than wall time on a busy machine,
and it tells "the same work on more cores" from "less work".

usage: .venv/bin/python bench/ipc/run_ipc_bench.py [--build build] [--rounds 3] [--reps 3]
                                                   [--threads 2] [--batch-rows 65536]
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
    """Compiles bench/ipc/ipc_bench.c against build/'s libraries, into build/bench-ipc/ (so that
    runs against different build directories do not overwrite each other's binary)."""
    out = build / "bench-ipc"
    out.mkdir(parents=True, exist_ok=True)
    exe = out / "mallard-ipc-bench"
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
    """pyarrow's figures, each a dict with op, input, codec and mode: "read" (the reader as is),
    "read+validate" (each batch then validate(full=True)), "threads" or "1thread"."""
    res = []
    data = {k: pa.py_buffer(p.read_bytes()) for k, p in paths.items()}

    def add(op, inp, codec, mode, fn):
        w, c = timed(fn, reps)
        res.append({"op": op, "input": inp, "codec": codec, "mode": mode, "seconds": w,
                    "cpu_seconds": c})

    def decode_file(validate):
        def run():
            r = pa.ipc.open_file(pa.BufferReader(data["file"]))
            for i in range(r.num_record_batches):
                b = r.get_batch(i)
                if validate:
                    b.validate(full=True)
        return run

    add("decode", "file", "none", "read", decode_file(False))
    add("decode", "file", "none", "read+validate", decode_file(True))
    r = pa.ipc.open_file(pa.BufferReader(data["file"]))
    schema = r.schema
    batches = [r.get_batch(i) for i in range(r.num_record_batches)]

    def decode_stream(codec, threads, validate):
        ropts = pa.ipc.IpcReadOptions(use_threads=threads)

        def run():
            for b in pa.ipc.open_stream(pa.BufferReader(data[codec]), options=ropts):
                if validate:
                    b.validate(full=True)
        return run

    def encode(codec, threads):
        opts = pa.ipc.IpcWriteOptions(compression=None if codec == "none" else codec,
                                      use_threads=threads)

        def run():
            sink = pa.MockOutputStream()
            with pa.ipc.new_stream(sink, schema, options=opts) as w:
                for b in batches:
                    w.write_batch(b)
        return run

    add("encode", "stream", "none", "read", encode("none", True))
    add("decode", "stream", "none", "read", decode_stream("none", True, False))
    add("decode", "stream", "none", "read+validate", decode_stream("none", True, True))
    for c in CODECS[1:]:
        for threads in (True, False):
            mode = "threads" if threads else "1thread"
            add("encode", "stream", c, mode, encode(c, threads))
            add("decode", "stream", c, mode, decode_stream(c, threads, False))
    return res


def counterpart(m):
    """The pyarrow mode to compare a Mallard measurement with, and how to describe both."""
    if m["codec"] == "none":
        if m["op"] == "encode":
            return "read", "1 thread", "default"
        if m["validation"] == "structural":
            return "read", "STRUCTURAL", "read"
        return "read+validate", "FULL", "read + validate(full=True)"
    if m["threads"] > 1:
        return "threads", f"{m['threads']} threads", "use_threads=True"
    return "1thread", "1 thread", "use_threads=False"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--reps", type=int, default=3, help="timed runs per round (after a warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating Mallard/pyarrow rounds")
    ap.add_argument("--threads", type=int, default=2, help="Mallard's compression threads")
    ap.add_argument("--batch-rows", type=int, default=65536)
    args = ap.parse_args()
    paths = prepare(args.batch_rows)
    exe = bench_binary(pathlib.Path(args.build).resolve())
    cmd = [str(exe), "-t", str(args.threads), str(paths["file"]), str(args.reps)]
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
        m.setdefault("validation", "-")
        for k in ("seconds", "cpu_seconds"):
            m[k] = statistics.median(r[i][k] for r in rounds_m)
    py = rounds_p[0]
    for i, p in enumerate(py):
        for k in ("seconds", "cpu_seconds"):
            p[k] = statistics.median(r[i][k] for r in rounds_p)
    rows = mallard[0]["rows"]
    load = os.getloadavg()
    print(f"# IPC codec benchmark: {rows} rows in {mallard[0]['batches']} batches, "
          f"median of {args.rounds} rounds x {args.reps} runs; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"pyarrow {pa.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print("| operation | codec | Mallard | Mallard s | pyarrow | pyarrow s | ratio | CPU ratio "
          "| Mallard Mrows/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    report = []
    for m in mallard:
        mode, m_desc, p_desc = counterpart(m)
        p = next(p for p in py if (p["op"], p["input"], p["codec"], p["mode"]) ==
                 (m["op"], m["input"], m["codec"], mode))
        ratio = m["seconds"] / p["seconds"]
        r_cpu = m["cpu_seconds"] / p["cpu_seconds"] if p["cpu_seconds"] > 0 else None
        print(f"| {m['op']} {m['input']} | {m['codec']} | {m_desc} | {m['seconds']:.4f} "
              f"| {p_desc} | {p['seconds']:.4f} | {ratio:.2f} "
              f"| {'-' if r_cpu is None else f'{r_cpu:.2f}'} "
              f"| {rows / m['seconds'] / 1e6:.1f} |")
        report.append({**m, "pyarrow_mode": mode, "pyarrow_seconds": p["seconds"],
                       "pyarrow_cpu_seconds": p["cpu_seconds"], "ratio": ratio,
                       "ratio_cpu": r_cpu})
    (OUT / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
