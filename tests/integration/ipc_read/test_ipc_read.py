"""Conformance of Mallard's IPC decoder against pyarrow: pyarrow writes streams and files
(every type, with and without body compression, dictionaries with deltas and replacements,
slices), mallard-ipc-dump decodes them, and the values must equal pyarrow's."""
import decimal
import pathlib
import random

import pyarrow as pa
import pytest

from ipcr_canon import DecodeError, expected_rows

ROOT = pathlib.Path(__file__).resolve().parents[3]
GOLD = ROOT / "tests" / "data" / "arrow-ipc-gold" / "integration"


def _tables():
    rnd = random.Random(42)
    n = 37

    def maybe(v, p=0.2):
        return None if rnd.random() < p else v

    ints = {t: pa.array([maybe(rnd.randint(0, 100)) for _ in range(n)], getattr(pa, t)())
            for t in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]}
    yield "ints", pa.table(ints)
    yield "floats", pa.table({
        "h": pa.array([maybe(rnd.choice([0.5, -1.25, 3.0])) for _ in range(n)], pa.float16()),
        "f": pa.array([maybe(rnd.random()) for _ in range(n)], pa.float32()),
        "d": pa.array([maybe(rnd.choice([rnd.random(), float("inf"), float("nan")]))
                       for _ in range(n)]),
        "b": pa.array([maybe(rnd.random() < 0.5) for _ in range(n)])})
    yield "null", pa.table({"a": pa.nulls(n)})

    def dec(p, s):
        return decimal.Decimal(rnd.randint(-10 ** (p - 1), 10 ** (p - 1))).scaleb(-s)
    yield "decimals", pa.table({
        "d32": pa.array([maybe(dec(7, 2)) for _ in range(n)], pa.decimal32(7, 2)),
        "d64": pa.array([maybe(dec(15, 3)) for _ in range(n)], pa.decimal64(15, 3)),
        "d128": pa.array([maybe(dec(38, 10)) for _ in range(n)], pa.decimal128(38, 10)),
        "d256": pa.array([maybe(dec(76, 20)) for _ in range(n)], pa.decimal256(76, 20))})
    ts = [maybe(rnd.randint(-10 ** 12, 10 ** 12)) for _ in range(n)]
    yield "temporal", pa.table({
        "d32": pa.array([maybe(rnd.randint(-1000, 20000)) for _ in range(n)], pa.date32()),
        "d64": pa.array([maybe(rnd.randint(-1000, 20000) * 86400000) for _ in range(n)],
                        pa.date64()),
        "t32s": pa.array([maybe(rnd.randint(0, 86399)) for _ in range(n)], pa.time32("s")),
        "t32ms": pa.array([maybe(rnd.randint(0, 86399999)) for _ in range(n)], pa.time32("ms")),
        "t64us": pa.array([maybe(rnd.randint(0, 86399999999)) for _ in range(n)],
                          pa.time64("us")),
        "t64ns": pa.array([maybe(rnd.randint(0, 86399999999999)) for _ in range(n)],
                          pa.time64("ns")),
        **{f"ts_{u}": pa.array(ts, pa.timestamp(u)) for u in "s ms us ns".split()},
        **{f"tstz_{u}": pa.array(ts, pa.timestamp(u, "Europe/Paris")) for u in
           "s ms us ns".split()},
        **{f"dur_{u}": pa.array(ts, pa.duration(u)) for u in "s ms us ns".split()},
        "mdn": pa.array([maybe(pa.MonthDayNano([rnd.randint(-5, 5), rnd.randint(-5, 5),
                                               rnd.randint(-10 ** 12, 10 ** 12)]))
                         for _ in range(n)], pa.month_day_nano_interval())})
    words = ["", "a", "hello", "a string longer than twelve bytes", "ünïcødé ✓", "x" * 100]
    strs = [maybe(rnd.choice(words)) for _ in range(n)]
    yield "strings", pa.table({
        "u": pa.array(strs), "U": pa.array(strs, pa.large_string()),
        "vu": pa.array(strs, pa.string_view()),
        "z": pa.array([None if s is None else s.encode() for s in strs]),
        "Z": pa.array([None if s is None else s.encode() for s in strs], pa.large_binary()),
        "vz": pa.array([None if s is None else s.encode() for s in strs], pa.binary_view()),
        "w": pa.array([maybe(bytes([rnd.randint(0, 255) for _ in range(3)])) for _ in range(n)],
                      pa.binary(3))})
    lists = [maybe([maybe(rnd.randint(0, 9)) for _ in range(rnd.randint(0, 4))])
             for _ in range(n)]
    yield "nested", pa.table({
        "l": pa.array(lists, pa.list_(pa.int32())),
        "L": pa.array(lists, pa.large_list(pa.int64())),
        "lv": pa.array(lists, pa.list_view(pa.int16())),
        "Lv": pa.array(lists, pa.large_list_view(pa.int16())),
        "fsl": pa.array([maybe([maybe(rnd.randint(0, 9)), 1]) for _ in range(n)],
                        pa.list_(pa.int8(), 2)),
        "s": pa.array([maybe({"x": maybe(rnd.randint(0, 9)), "y": maybe(rnd.choice(words))})
                       for _ in range(n)]),
        "m": pa.array([maybe([(rnd.choice(words), maybe(rnd.randint(0, 9)))
                              for _ in range(rnd.randint(0, 3))]) for _ in range(n)],
                      pa.map_(pa.string(), pa.int64())),
        "deep": pa.array([maybe([maybe({"a": maybe([maybe(["x", None])])})]) for _ in range(n)],
                         pa.list_(pa.struct([("a", pa.list_(pa.list_(pa.string())))])))})
    codes = pa.array([rnd.randint(0, 1) for _ in range(n)], pa.int8())
    yield "unions", pa.table({
        "sparse": pa.UnionArray.from_sparse(
            codes, [pa.array([maybe(i) for i in range(n)]),
                    pa.array([maybe(str(i)) for i in range(n)])]),
        "dense": pa.UnionArray.from_dense(
            pa.array([0, 1, 0, 1], pa.int8()), pa.array([0, 0, 1, 1], pa.int32()),
            [pa.array([1, None]), pa.array(["a", "b"])]).take(
                pa.array([i % 4 for i in range(n)]))})
    yield "ree", pa.table({"r": pa.RunEndEncodedArray.from_arrays(
        pa.array([3, 10, 20, n], pa.int32()), pa.array(["a", None, "b", "c"]))})
    yield "dictionary", pa.table({
        "ds": pa.array(strs).dictionary_encode(),
        "di": pa.DictionaryArray.from_arrays(
            pa.array([maybe(rnd.randint(0, 2)) for _ in range(n)], pa.int8()),
            pa.array([10, 20, 30], pa.int64())),
        "dl": pa.array([maybe(rnd.choice(["x", "y"])) for _ in range(n)]).dictionary_encode()
              .cast(pa.dictionary(pa.uint16(), pa.string()))})
    yield "metadata", pa.table({"a": pa.array([1, 2])}).replace_schema_metadata(
        {"k": "v", "key two": "väl"}).cast(pa.schema(
            [pa.field("a", pa.int64(), metadata={"fk": "fv"})],
            metadata={"k": "v", "key two": "väl"}))
    yield "zero_rows", pa.table({"a": pa.array([], pa.int32()), "s": pa.array([], pa.string()),
                                 "l": pa.array([], pa.list_(pa.string()))})


TABLES = dict(_tables())


def write_stream(table, compression=None, max_chunksize=10, **kw):
    sink = pa.BufferOutputStream()
    opts = pa.ipc.IpcWriteOptions(compression=compression, **kw)
    with pa.ipc.new_stream(sink, table.schema, options=opts) as w:
        w.write_table(table, max_chunksize=max_chunksize)
    return sink.getvalue().to_pybytes()


def read_batches(data):
    """Every batch pyarrow reads from a stream, zero-length ones included."""
    return list(pa.ipc.open_stream(data))


def check(ipc_dump, data, batches, file_format=False):
    schema, got = ipc_dump(data, file_format=file_format)
    want = expected_rows(batches)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g["columns"] == w
    return schema


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
@pytest.mark.parametrize("name", sorted(TABLES))
def test_stream_types(ipc_dump, name, compression):
    table = TABLES[name]
    data = write_stream(table, compression)
    batches = read_batches(data)
    schema = check(ipc_dump, data, batches)
    assert [c["name"] for c in schema["children"]] == table.schema.names


@pytest.mark.parametrize("compression", [None, "zstd"])
@pytest.mark.parametrize("name", sorted(TABLES))
def test_file_types(ipc_dump, name, compression):
    table = TABLES[name]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema,
                         options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
        w.write_table(table, max_chunksize=10)
    data = sink.getvalue().to_pybytes()
    reader = pa.ipc.open_file(data)
    batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
    check(ipc_dump, data, batches, file_format=True)


@pytest.mark.parametrize("name", ["ints", "strings", "nested", "unions", "dictionary"])
def test_slices(ipc_dump, name):
    table = TABLES[name].slice(5, 23)
    data = write_stream(table, max_chunksize=7)
    check(ipc_dump, data, read_batches(data))


def test_custom_metadata(ipc_dump):
    schema, _ = ipc_dump(write_stream(TABLES["metadata"]))
    assert schema["metadata"] == {"k": "v", "key two": "väl"}
    assert schema["children"][0]["metadata"] == {"fk": "fv"}


def test_schema_formats(ipc_dump):
    schema, _ = ipc_dump(write_stream(TABLES["temporal"]))
    formats = {c["name"]: c["format"] for c in schema["children"]}
    assert formats["d32"] == "tdD" and formats["d64"] == "tdm"
    assert formats["t32s"] == "tts" and formats["t64ns"] == "ttn"
    assert formats["tstz_ms"] == "tsm:Europe/Paris" and formats["ts_us"] == "tsu:"
    assert formats["dur_ns"] == "tDn" and formats["mdn"] == "tin"
    schema, _ = ipc_dump(write_stream(TABLES["decimals"]))
    formats = {c["name"]: c["format"] for c in schema["children"]}
    assert formats == {"d32": "d:7,2,32", "d64": "d:15,3,64", "d128": "d:38,10",
                       "d256": "d:76,20,256"}


@pytest.mark.parametrize("deltas", [True, False])
def test_dictionary_deltas_and_replacements(ipc_dump, deltas):
    schema = pa.schema([("d", pa.dictionary(pa.int32(), pa.string())),
                        ("n", pa.dictionary(pa.int8(), pa.int64()))])
    b1 = pa.record_batch([
        pa.DictionaryArray.from_arrays(pa.array([0, 1, None]), pa.array(["a", "b"])),
        pa.DictionaryArray.from_arrays(pa.array([0, 0, 1], pa.int8()), pa.array([7, 8]))],
        schema=schema)
    b2 = pa.record_batch([  # grows: a delta when deltas are on, else a replacement
        pa.DictionaryArray.from_arrays(pa.array([2, 0, 3]), pa.array(["a", "b", "c", None])),
        pa.DictionaryArray.from_arrays(pa.array([2, 1, 0], pa.int8()), pa.array([7, 8, 9]))],
        schema=schema)
    b3 = pa.record_batch([  # unrelated: always a replacement
        pa.DictionaryArray.from_arrays(pa.array([1, 0]), pa.array(["z", "y"])),
        pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int8()), pa.array([5]))],
        schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(
            emit_dictionary_deltas=deltas)) as w:
        for b in (b1, b2, b3):
            w.write_batch(b)
    data = sink.getvalue().to_pybytes()
    check(ipc_dump, data, [b1, b2, b3])


def test_nested_dictionary(ipc_dump):
    inner = pa.array(["a", "b", "a", None]).dictionary_encode()
    lists = pa.ListArray.from_arrays(pa.array([0, 2, 4]), inner)
    t = pa.table({"l": lists, "s": pa.StructArray.from_arrays([inner.slice(1, 2)], ["x"])})
    data = write_stream(t)
    check(ipc_dump, data, read_batches(data))


def test_large_strings(ipc_dump):
    big = "q" * 100_000
    t = pa.table({"s": pa.array([big, None, big[:10]]), "v": pa.array([big, "x", None],
                                                                        pa.string_view())})
    data = write_stream(t, "lz4")
    check(ipc_dump, data, t.to_batches())


def test_flights_200k(ipc_dump):
    path = ROOT / "data" / "flights-200k.arrow"
    if not path.exists():
        pytest.skip("data/flights-200k.arrow not installed (scripts/deps.sh)")
    data = path.read_bytes()
    if data[:6] == b"ARROW1":
        reader = pa.ipc.open_file(data)
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        check(ipc_dump, data, batches, file_format=True)
    else:
        check(ipc_dump, data, read_batches(data))


GOLD_FILES = sorted(p for p in GOLD.glob("*/*") if p.suffix in (".stream", ".arrow_file"))


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_gold_files(ipc_dump, path):
    data = path.read_bytes()
    file_format = path.suffix == ".arrow_file"
    if file_format:
        reader = pa.ipc.open_file(data)
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
    else:
        batches = read_batches(data)
    if "union" in path.name:
        # pyarrow 21 crashes (segfault) walking these union columns from Python: counts only.
        _, got = ipc_dump(data, file_format=file_format)
        assert [g["length"] for g in got] == [b.num_rows for b in batches]
        return
    try:
        expected_rows(batches)
    except (NotImplementedError, KeyError) as e:  # types pyarrow cannot show in Python
        _, got = ipc_dump(data, file_format=file_format)
        assert [g["length"] for g in got] == [b.num_rows for b in batches]
        pytest.skip(f"values not compared: {e}")
    check(ipc_dump, data, batches, file_format=file_format)


def test_truncated_stream_is_an_error(ipc_dump):
    data = write_stream(TABLES["strings"])
    with pytest.raises(DecodeError, match="ends in the middle"):
        ipc_dump(data[: len(data) - 20])


@pytest.mark.parametrize("values", [
    [[1], [2, None], None, []],
    [{"a": 1, "b": "x"}, None, {"a": None, "b": "long value over twelve"}, {"a": 4, "b": ""}],
    ["a", "b", "long value over twelve bytes", None],
    [b"\x00", b"long binary value, twelve+", b"", None],
    [[1, 2], [3, 4], None, [5, None]],
], ids=["list", "struct", "string_view", "binary_view", "fixed_size_list"])
def test_nested_and_view_dictionary_deltas(ipc_dump, values):
    types = {"list": pa.list_(pa.int32()), "struct": None, "string_view": pa.string_view(),
             "binary_view": pa.binary_view(), "fixed_size_list": pa.list_(pa.int64(), 2)}
    t = None
    if isinstance(values[0], list) and len(values[0]) == 1:
        t = types["list"]
    elif isinstance(values[0], list):
        t = types["fixed_size_list"]
    elif isinstance(values[0], str):
        t = types["string_view"]
    elif isinstance(values[0], bytes):
        t = types["binary_view"]
    dict1 = pa.array(values[:2], t)
    dict2 = pa.array(values, t)  # grows: a delta
    d1 = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0]), dict1)
    d2 = pa.DictionaryArray.from_arrays(pa.array([3, 2, 0, None]), dict2)
    schema = pa.schema([("d", d1.type)])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(
            emit_dictionary_deltas=True)) as w:
        w.write_batch(pa.record_batch([d1], schema=schema))
        w.write_batch(pa.record_batch([d2], schema=schema))
    data = sink.getvalue().to_pybytes()
    check(ipc_dump, data, [pa.record_batch([d1], schema=schema),
                           pa.record_batch([d2], schema=schema)])


@pytest.mark.parametrize("name", ["unions", "nested", "strings", "dictionary"])
def test_legacy_framing_and_metadata_v4(ipc_dump, name):
    # Pre-0.15 framing (no continuation marker) and V4 metadata (unions with validity slot).
    table = TABLES[name]
    for kw in ({"use_legacy_format": True},
               {"metadata_version": pa.ipc.MetadataVersion.V4}):
        data = write_stream(table, **kw)
        check(ipc_dump, data, read_batches(data))


@pytest.mark.parametrize("version", ["cpp-21.0.0", "1.0.0-littleendian"])
def test_gold_intervals_against_json(ipc_dump, version):
    # pyarrow cannot show interval months / day-time values in Python: compare with the
    # gold set's own JSON description of the same data instead.
    import gzip
    import json
    base = GOLD / version / "generated_interval"
    gold = json.loads(gzip.decompress((base.with_suffix(".json.gz")).read_bytes()))
    _, got = ipc_dump(base.with_suffix(".stream").read_bytes())
    assert len(got) == len(gold["batches"])
    for g, b in zip(got, gold["batches"]):
        for col, jc in zip(g["columns"], b["columns"]):
            want = []
            for ok, v in zip(jc["VALIDITY"], jc["DATA"]):
                if not ok:
                    want.append(None)
                elif isinstance(v, dict):
                    want.append([v["days"], v["milliseconds"]])
                else:
                    want.append(int(v))
            assert col == want
