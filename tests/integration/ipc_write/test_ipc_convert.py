"""`mallard ipc convert` and `mallard ipc check` against pyarrow: pyarrow writes every type,
Mallard decodes and re-encodes (stream and file, each compression), pyarrow reads Mallard's bytes
and the tables are equal; flights-200k.arrow (written by another Arrow implementation) converts
and reads back equal; check's output and its errors."""
import decimal
import pathlib
import subprocess

import pyarrow as pa
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
FLIGHTS = ROOT / "data" / "flights-200k.arrow"
D = decimal.Decimal


def all_types_table():
    n = 7

    def nulls(values):
        return [None if i == 1 else v for i, v in enumerate(values)]

    ints = list(range(n))
    strs = ["a", "bb", "", "a fairly long string over twelve bytes", "é", "x" * 40, "z"]
    cols = {
        "null": pa.nulls(n),
        "bool": pa.array(nulls([True, False] * 3 + [True])),
        "int8": pa.array(nulls([-128, 1, 2, 3, 4, 5, 127]), pa.int8()),
        "uint8": pa.array(nulls([0, 1, 2, 3, 4, 5, 255]), pa.uint8()),
        "int16": pa.array(nulls(ints), pa.int16()),
        "uint16": pa.array(nulls(ints), pa.uint16()),
        "int32": pa.array(nulls(ints), pa.int32()),
        "uint32": pa.array(nulls(ints), pa.uint32()),
        "int64": pa.array(nulls([-2**63] + ints[1:]), pa.int64()),
        "uint64": pa.array(nulls([2**64 - 1] + ints[1:]), pa.uint64()),
        "float16": pa.array(nulls(ints), pa.uint16()).view(pa.float16()),
        "float32": pa.array(nulls([0.5 * i for i in ints]), pa.float32()),
        "float64": pa.array(nulls([0.25 * i for i in ints]), pa.float64()),
        "decimal32": pa.array(nulls([D("1.23")] * n), pa.decimal32(5, 2)),
        "decimal64": pa.array(nulls([D("-12.345")] * n), pa.decimal64(15, 3)),
        "decimal128": pa.array(nulls([D("12345678901234567890.5")] * n), pa.decimal128(30, 1)),
        "decimal256": pa.array(nulls([D("-1" + "0" * 60)] * n), pa.decimal256(70, 0)),
        "date32": pa.array(nulls(ints), pa.int32()).view(pa.date32()),
        "date64": pa.array(nulls([i * 86400000 for i in ints]), pa.int64()).view(pa.date64()),
        "time32s": pa.array(nulls(ints), pa.int32()).view(pa.time32("s")),
        "time32ms": pa.array(nulls(ints), pa.int32()).view(pa.time32("ms")),
        "time64us": pa.array(nulls(ints), pa.int64()).view(pa.time64("us")),
        "time64ns": pa.array(nulls(ints), pa.int64()).view(pa.time64("ns")),
        "ts_s": pa.array(nulls(ints), pa.int64()).view(pa.timestamp("s")),
        "ts_ms_tz": pa.array(nulls(ints), pa.int64()).view(pa.timestamp("ms", "Europe/Paris")),
        "ts_us_utc": pa.array(nulls(ints), pa.int64()).view(pa.timestamp("us", "UTC")),
        "ts_ns": pa.array(nulls(ints), pa.int64()).view(pa.timestamp("ns")),
        "dur_s": pa.array(nulls(ints), pa.int64()).view(pa.duration("s")),
        "dur_ns": pa.array(nulls(ints), pa.int64()).view(pa.duration("ns")),
        "interval_mdn": pa.array(nulls([(i, -i, i * 1000) for i in ints]),
                                 pa.month_day_nano_interval()),
        "utf8": pa.array(nulls(strs)),
        "large_utf8": pa.array(nulls(strs), pa.large_string()),
        "utf8_view": pa.array(nulls(strs), pa.string_view()),
        "binary": pa.array(nulls([s.encode() for s in strs])),
        "large_binary": pa.array(nulls([s.encode() for s in strs]), pa.large_binary()),
        "binary_view": pa.array(nulls([s.encode() for s in strs]), pa.binary_view()),
        "fixed_binary": pa.array(nulls([b"ab"] * n), pa.binary(2)),
        "list": pa.array(nulls([[i, None, i] for i in ints]), pa.list_(pa.int32())),
        "large_list": pa.array(nulls([[str(i)] * i for i in ints]), pa.large_list(pa.string())),
        "fsl": pa.array(nulls([[i, i + 1] for i in ints]), pa.list_(pa.int64(), 2)),
        "struct": pa.array(nulls([{"a": i, "b": str(i), "c": [i]} for i in ints]),
                           pa.struct([("a", pa.int8()), ("b", pa.string()),
                                      ("c", pa.list_(pa.int16()))])),
        "map": pa.array(nulls([[("k", i), ("j", None)] for i in ints]),
                        pa.map_(pa.string(), pa.int32())),
        "dict": pa.array(nulls(["red", "green", "red", "blue", "red", "green", "x"]))
                  .dictionary_encode(),
        "dict_int16": pa.DictionaryArray.from_arrays(
            pa.array(nulls([0, 1, 0, 1, 0, 1, 0]), pa.int16()), pa.array([1.5, 2.5])),
        "list_of_dict": pa.ListArray.from_arrays(
            pa.array(list(range(0, 2 * n + 1, 2)), pa.int32()),
            pa.array(["p", "q"] * n).dictionary_encode()),
        "sparse_union": pa.UnionArray.from_sparse(
            pa.array([0, 1] * 3 + [0], pa.int8()),
            [pa.array(ints, pa.int32()), pa.array(strs)], ["i", "s"], [0, 1]),
        "dense_union": pa.UnionArray.from_dense(
            pa.array([3, 9] * 3 + [3], pa.int8()), pa.array([0, 0, 1, 1, 2, 2, 3], pa.int32()),
            [pa.array([1, 2, 3, 4], pa.int64()), pa.array(["a", "b", "c"])], ["i", "s"], [3, 9]),
        "deep": pa.array([[[[i]]] for i in ints], pa.list_(pa.list_(pa.list_(pa.int32())))),
        "ree": pa.RunEndEncodedArray.from_arrays(pa.array([3, 4, 7], pa.int32()),
                                                 pa.array(["r", None, "s"])),
        "list_view": pa.array(nulls([[i, i] for i in ints]), pa.list_view(pa.int16())),
        # extension types travel as storage + ARROW:extension:* field metadata
        "uuid": pa.array(nulls([bytes([i]) * 16 for i in ints]), pa.uuid()),
        "json": pa.array(nulls(['{"a": %d}' % i for i in ints]), pa.json_()),
    }
    schema = pa.schema([pa.field(k, v.type, metadata={"col": k}) for k, v in cols.items()],
                       metadata={"writer": "pyarrow", "k2": ""})
    return pa.Table.from_arrays(list(cols.values()), schema=schema)


def write_pyarrow(path, table, kind, codec, batch_size=3, deltas=False):
    opts = pa.ipc.IpcWriteOptions(compression=None if codec == "none" else
                                  ("lz4" if codec == "lz4" else "zstd"),
                                  emit_dictionary_deltas=deltas)
    open_ = pa.ipc.new_stream if kind == "stream" else pa.ipc.new_file
    with open_(str(path), table.schema, options=opts) as w:
        for b in table.to_batches(max_chunksize=batch_size):
            w.write_batch(b)


def read_pyarrow(path):
    data = pathlib.Path(path).read_bytes()
    if data[:6] == b"ARROW1":
        r = pa.ipc.open_file(pa.BufferReader(data))
        t = r.read_all()
    else:
        t = pa.ipc.open_stream(pa.BufferReader(data)).read_all()
    t.validate(full=True)
    return t, data[:6] == b"ARROW1"


def run(mallard_bin, *args, input=None):
    return subprocess.run([mallard_bin, "ipc", *args], capture_output=True, input=input,
                          timeout=120)


def assert_tables_equal(got, exp):
    assert got.schema.equals(exp.schema, check_metadata=True), f"{got.schema}\n!=\n{exp.schema}"
    for name in exp.column_names:
        g, e = got.column(name).combine_chunks(), exp.column(name).combine_chunks()
        if pa.types.is_dictionary(e.type):
            assert g.to_pylist() == e.to_pylist(), name
        elif pa.types.is_list(e.type) and pa.types.is_dictionary(e.type.value_type):
            assert g.to_pylist() == e.to_pylist(), name
        elif pa.types.is_run_end_encoded(e.type) or pa.types.is_list_view(e.type):
            assert g.type == e.type and g.to_pylist() == e.to_pylist(), name
        else:
            assert g.equals(e), f"{name}: {g} != {e}"


@pytest.mark.parametrize("in_kind", ["stream", "file"])
@pytest.mark.parametrize("in_codec", ["none", "lz4", "zstd"])
def test_convert_all_types(mallard_bin, tmp_path, in_kind, in_codec):
    table = all_types_table()
    src = tmp_path / "in.arrow"
    write_pyarrow(src, table, in_kind, in_codec)
    for out_kind in ("stream", "file"):
        for out_codec in ("none", "lz4", "zstd"):
            dst = tmp_path / f"out-{out_kind}-{out_codec}.arrow"
            res = run(mallard_bin, "convert", str(src), str(dst), "--format", out_kind,
                      "--compression", out_codec)
            assert res.returncode == 0, res.stderr.decode()
            got, is_file = read_pyarrow(dst)
            assert is_file == (out_kind == "file")
            assert_tables_equal(got, table)


def test_convert_dictionary_deltas(mallard_bin, tmp_path):
    """pyarrow's stream with dictionary deltas: Mallard re-sends them as deltas."""
    arr = pa.array(["a", "b", "a", "c", "d", "a", "e"]).dictionary_encode()
    batches = [pa.record_batch([pa.DictionaryArray.from_arrays(
        arr.indices.slice(0, k), arr.dictionary.slice(0, m))], names=["d"])
        for k, m in ((3, 2), (4, 3), (5, 4), (7, 5))]
    src = tmp_path / "deltas.arrows"
    opts = pa.ipc.IpcWriteOptions(emit_dictionary_deltas=True)
    with pa.ipc.new_stream(str(src), batches[0].schema, options=opts) as w:
        for b in batches:
            w.write_batch(b)
    for out_kind in ("stream", "file"):
        dst = tmp_path / f"out.{out_kind}"
        res = run(mallard_bin, "convert", str(src), str(dst), "--format", out_kind)
        assert res.returncode == 0, res.stderr.decode()
        got, _ = read_pyarrow(dst)
        assert got.column("d").to_pylist() == sum((b.column(0).to_pylist() for b in batches), [])
    with pa.ipc.open_stream(str(tmp_path / "out.stream")) as r:
        list(r)
        assert r.stats.num_dictionary_deltas == 3
        assert r.stats.num_replaced_dictionaries == 0


@pytest.mark.parametrize("out_kind", ["stream", "file"])
@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_convert_flights(mallard_bin, tmp_path, out_kind, codec):
    exp = pa.ipc.open_file(str(FLIGHTS)).read_all()
    dst = tmp_path / "flights.out"
    res = run(mallard_bin, "convert", str(FLIGHTS), str(dst), "--format", out_kind,
              "--compression", codec)
    assert res.returncode == 0, res.stderr.decode()
    got, is_file = read_pyarrow(dst)
    assert is_file == (out_kind == "file")
    assert got.equals(exp)
    if codec != "none":
        assert dst.stat().st_size < FLIGHTS.stat().st_size * 0.8


def test_convert_stdin_stdout_and_default_format(mallard_bin, tmp_path):
    data = FLIGHTS.read_bytes()
    res = run(mallard_bin, "convert", "-", "-", input=data)  # default: same format as input
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout[:6] == b"ARROW1"
    res = run(mallard_bin, "convert", "-", "-", "--format=stream", "--compression=zstd",
              input=data)
    assert res.returncode == 0
    t = pa.ipc.open_stream(pa.BufferReader(res.stdout)).read_all()
    assert t.equals(pa.ipc.open_file(str(FLIGHTS)).read_all())


def test_check_output(mallard_bin, tmp_path):
    res = run(mallard_bin, "check", str(FLIGHTS))
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout.decode()
    assert "format: file" in out
    assert "schema: 3 fields" in out
    assert "  delay: int16" in out and "  time: float32" in out
    assert "batches: 1" in out and "rows: 200000" in out
    src = tmp_path / "all.arrows"
    table = all_types_table()
    write_pyarrow(src, table, "stream", "zstd")
    res = run(mallard_bin, "check", str(src))
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout.decode()
    assert "format: stream" in out
    assert f"schema: {table.num_columns} fields" in out
    assert "metadata writer = pyarrow" in out
    assert "  dict: dictionary<values=utf8, indices=int32>" in out
    assert "  ts_ms_tz: timestamp[ms, Europe/Paris]" in out
    assert "  list: list<item: int32>" in out
    assert f"batches: 3\nrows: {table.num_rows}\n" in out
    res = run(mallard_bin, "check", "-", input=src.read_bytes())
    assert res.returncode == 0 and b"rows: 7" in res.stdout


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.95])
def test_check_truncated(mallard_bin, tmp_path, cut):
    for name, data in (("file", FLIGHTS.read_bytes()), ("stream", None)):
        if data is None:
            res = run(mallard_bin, "convert", str(FLIGHTS), "-", "--format", "stream")
            data = res.stdout
        bad = tmp_path / f"trunc-{name}"
        bad.write_bytes(data[: int(len(data) * cut)])
        res = run(mallard_bin, "check", str(bad))
        assert res.returncode == 1, (name, res.stdout)
        err = res.stderr.decode()
        assert err.startswith("mallard ipc check: ") and len(err.strip()) > 30, err
        res = run(mallard_bin, "convert", str(bad), str(tmp_path / "o"))
        assert res.returncode == 1


def test_check_errors(mallard_bin, tmp_path):
    res = run(mallard_bin, "check", str(tmp_path / "missing.arrow"))
    assert res.returncode == 1 and b"cannot open" in res.stderr
    junk = tmp_path / "junk"
    junk.write_bytes(b"this is not arrow at all, not even close" * 10)
    res = run(mallard_bin, "check", str(junk))
    assert res.returncode == 1 and res.stderr
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    res = run(mallard_bin, "check", str(empty))
    assert res.returncode == 1 and b"empty input" in res.stderr


def test_usage_errors(mallard_bin):
    assert run(mallard_bin).returncode == 2
    assert run(mallard_bin, "frobnicate").returncode == 2
    assert run(mallard_bin, "check").returncode == 2
    assert run(mallard_bin, "convert", "a").returncode == 2
    res = run(mallard_bin, "convert", "a", "b", "--compression", "brotli")
    assert res.returncode == 2 and b"--compression" in res.stderr
    res = run(mallard_bin, "convert", "a", "b", "--format", "csv")
    assert res.returncode == 2
    res = run(mallard_bin, "--help")
    assert res.returncode == 0 and b"convert" in res.stdout
