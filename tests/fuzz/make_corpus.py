"""Writes the seed corpus of fuzz_ipc_stream: one small Arrow IPC stream per type family
(with and without body compression, with dictionaries and deltas), written by pyarrow,
plus the Apache Arrow gold fuzz regression inputs from tests/data/arrow-ipc-gold. Files named
regress-* are inputs that once crashed fuzz_ipc_stream (kept as regression seeds).

    .venv/bin/python tests/fuzz/make_corpus.py   # rewrites tests/fuzz/corpus/ipc_stream/
"""
import decimal
import pathlib
import shutil

import pyarrow as pa

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus" / "ipc_stream"
GOLD = ROOT / "tests" / "data" / "arrow-ipc-gold" / "fuzz-ipc-stream"


def tables():
    n = [None, 1, 2]
    yield "null", pa.table({"a": pa.array([None, None], pa.null())})
    yield "ints", pa.table({t: pa.array(n, getattr(pa, t)()) for t in
                            ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                             "uint64"]})
    yield "floats", pa.table({"h": pa.array([None, 1.5, -2.0], pa.float16()),
                              "f": pa.array([None, 1.5, 2.0], pa.float32()),
                              "d": pa.array([None, 1.5, float("nan")], pa.float64()),
                              "b": pa.array([None, True, False])})
    yield "decimals", pa.table({
        "d32": pa.array([None, decimal.Decimal("1.23")], pa.decimal32(5, 2)),
        "d64": pa.array([None, decimal.Decimal("-1.23")], pa.decimal64(12, 2)),
        "d128": pa.array([None, decimal.Decimal("12.3")], pa.decimal128(20, 1)),
        "d256": pa.array([None, decimal.Decimal("4.5")], pa.decimal256(50, 1))})
    yield "temporal", pa.table({
        "d32": pa.array([None, 1], pa.date32()), "d64": pa.array([None, 86400000], pa.date64()),
        "t32": pa.array([None, 1], pa.time32("ms")), "t64": pa.array([None, 1], pa.time64("ns")),
        "ts": pa.array([None, 1], pa.timestamp("us", "UTC")),
        "tsn": pa.array([None, 1], pa.timestamp("s")),
        "dur": pa.array([None, 5], pa.duration("ms")),
        "ym": pa.array([None, pa.MonthDayNano([1, 2, 3])], pa.month_day_nano_interval())})
    yield "strings", pa.table({
        "u": pa.array([None, "a", "long string over twelve"]),
        "U": pa.array([None, "a", "b"], pa.large_string()),
        "vu": pa.array([None, "short", "a long string view value"], pa.string_view()),
        "z": pa.array([None, b"x", b"yz"]), "Z": pa.array([None, b"x", b""], pa.large_binary()),
        "vz": pa.array([None, b"x", b"a long binary view value"], pa.binary_view()),
        "w": pa.array([None, b"ab", b"cd"], pa.binary(2))})
    yield "nested", pa.table({
        "l": pa.array([None, [1, None], []], pa.list_(pa.int32())),
        "L": pa.array([None, ["a"], []], pa.large_list(pa.string())),
        "fl": pa.array([None, [1, 2], [3, 4]], pa.list_(pa.int8(), 2)),
        "s": pa.array([None, {"x": 1, "y": "a"}, {"x": None, "y": None}]),
        "m": pa.array([None, [("k", 1)], []], pa.map_(pa.string(), pa.int64())),
        "lv": pa.array([None, [1], [2, 3]], pa.list_view(pa.int16()))})
    yield "unions", pa.table({
        "su": pa.UnionArray.from_sparse(pa.array([0, 1, 0], pa.int8()),
                                        [pa.array([1, 2, 3]), pa.array(["a", "b", "c"])]),
        "du": pa.UnionArray.from_dense(pa.array([0, 1, 0], pa.int8()),
                                       pa.array([0, 0, 1], pa.int32()),
                                       [pa.array([1, 2]), pa.array(["a"])])})
    yield "ree", pa.table({"r": pa.RunEndEncodedArray.from_arrays(
        pa.array([2, 3], pa.int32()), pa.array(["a", None]))})
    yield "dict", pa.table({"d": pa.array(["a", None, "b", "a"]).dictionary_encode()})
    yield "empty", pa.table({"a": pa.array([], pa.int32()), "s": pa.array([], pa.string())})
    yield "nocols", pa.table({})


def write(name, table, **kw):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(**kw)) as w:
        if table.num_columns:
            w.write_table(table, max_chunksize=2)
        else:
            w.write_table(table)
    (OUT / f"{name}.stream").write_bytes(sink.getvalue().to_pybytes())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.iterdir():  # regress-* files (fuzzer findings) are kept
        if f.suffix == ".stream" or f.name.startswith("gold-"):
            f.unlink()
    for name, t in tables():
        write(name, t)
        if name in ("ints", "strings", "nested", "dict"):
            write(name + "_lz4", t, compression="lz4")
            write(name + "_zstd", t, compression="zstd")
    # Dictionary deltas: two batches whose dictionaries grow.
    sink = pa.BufferOutputStream()
    d1 = pa.DictionaryArray.from_arrays(pa.array([0, 1]), pa.array(["a", "b"]))
    d2 = pa.DictionaryArray.from_arrays(pa.array([2, 0]), pa.array(["a", "b", "c"]))
    schema = pa.schema([("d", d1.type)])
    with pa.ipc.new_stream(sink, schema,
                           options=pa.ipc.IpcWriteOptions(emit_dictionary_deltas=True)) as w:
        w.write_batch(pa.record_batch([d1], schema=schema))
        w.write_batch(pa.record_batch([d2], schema=schema))
    (OUT / "dict_delta.stream").write_bytes(sink.getvalue().to_pybytes())
    for f in sorted(GOLD.iterdir()):
        if f.name != "README.md":
            shutil.copy(f, OUT / ("gold-" + f.name))


if __name__ == "__main__":
    main()
