"""Streams and files built by Mallard's IPC encoder from hand-made C arrays
(tests/unit/ipc/test_write_cases.h, via mallard-ipc-gen) are read by pyarrow and checked
value by value, uncompressed and with LZ4_FRAME and ZSTD body compression."""
import decimal

import pyarrow as pa
import pytest

D = decimal.Decimal
NULLABLE5 = [True, False, True, True, True]


def fixed(values, typ, storage=None):
    """Five values (the second null) of `typ`, built from raw storage integers when given."""
    if storage is not None:
        return pa.array(values, storage).view(typ)
    return pa.array(values, typ)


TS = [0, None, 1700000000, -1, 1]
STRS = ["hello", None, "", "wörld", "a string that is definitely longer than twelve bytes"]
VIEW_STRS = ["short", None, "this string is longer than twelve", "",
             "another long string in buffer two", "third long string back in buffer one"]
STRUCT_T = pa.struct([("a", pa.int32()), ("b", pa.string())])
STRUCT_V = [{"a": 1, "b": "x"}, None, {"a": None, "b": "z"}, {"a": 4, "b": None},
            {"a": 5, "b": "w"}]
SPARSE_T = pa.sparse_union([pa.field("i", pa.int32()), pa.field("s", pa.string())], [0, 1])
DENSE_T = pa.dense_union([pa.field("i", pa.int32()), pa.field("s", pa.string())], [5, 7])


def sparse_union():
    return pa.UnionArray.from_sparse(
        pa.array([0, 1, 0, 1, 0], pa.int8()),
        [pa.array([1, 0, None, 0, 5], pa.int32()), pa.array(["", "b", "", "d", ""])],
        ["i", "s"], [0, 1])


def dense_union():
    return pa.UnionArray.from_dense(
        pa.array([5, 7, 5, 7, 5], pa.int8()), pa.array([0, 0, 1, 1, 2], pa.int32()),
        [pa.array([1, 3, 5], pa.int32()), pa.array(["b", "d"])], ["i", "s"], [5, 7])


def deep(levels):
    t, v = pa.int32(), 7
    for _ in range(levels):
        t, v = pa.list_(t), [v]
    return pa.array([v], t)


def dict_array(indices, values, itype=pa.int8()):
    return pa.DictionaryArray.from_arrays(pa.array(indices, itype), pa.array(values))


# case -> {column: expected array (all batches concatenated)}
EXPECTED = {
    "null": {"v": pa.nulls(3)},
    "bool": {"v": pa.array([True, None, False, True, False, False, True, None, False])},
    "int8": {"v": fixed([1, None, -3, 127, -128], pa.int8())},
    "uint8": {"v": fixed([1, None, 3, 255, 0], pa.uint8())},
    "int16": {"v": fixed([1, None, -3, 32767, -32768], pa.int16())},
    "uint16": {"v": fixed([1, None, 3, 65535, 0], pa.uint16())},
    "int32": {"v": fixed([1, None, -3, 2**31 - 1, -2**31], pa.int32())},
    "uint32": {"v": fixed([1, None, 3, 2**32 - 1, 0], pa.uint32())},
    "int64": {"v": fixed([1, None, -3, 2**63 - 1, -2**63], pa.int64())},
    "uint64": {"v": fixed([1, None, 3, 2**64 - 1, 0], pa.uint64())},
    "float16": {"v": fixed([0x3C00, None, 0xC100, 0x7BFF, 0], pa.float16(), pa.uint16())},
    "float32": {"v": fixed([1.5, None, -2.25, 1e30, 0.0], pa.float32())},
    "float64": {"v": fixed([1.5, None, -2.25, 1e300, 0.0], pa.float64())},
    "decimal32": {"v": fixed([D("123.45"), None, D("-0.01"), D("9999999.99"), D("0")],
                             pa.decimal32(9, 2))},
    "decimal64": {"v": fixed([D("12.345"), None, D("-0.001"), D("999999999999999.999"), D(0)],
                             pa.decimal64(18, 3))},
    "decimal128": {"v": fixed([D("0.0000012345"), None, D("-1E-10"), D(f"{2**64}E-10"), D(0)],
                              pa.decimal128(38, 10))},
    "decimal256": {"v": fixed([D("0.12345"), None, D("-0.00001"), D(f"{2**192}E-5"), D(0)],
                              pa.decimal256(76, 5))},
    "date32": {"v": fixed([0, None, 19000, -1, 1], pa.date32(), pa.int32())},
    "date64": {"v": fixed([0, None, 19000 * 86400000, -86400000, 86400000], pa.date64(),
                          pa.int64())},
    "time32s": {"v": fixed([0, None, 3600, 86399, 1], pa.time32("s"), pa.int32())},
    "time32ms": {"v": fixed([0, None, 3600000, 86399999, 1], pa.time32("ms"), pa.int32())},
    "time64us": {"v": fixed([0, None, 3600000000, 86399999999, 1], pa.time64("us"), pa.int64())},
    "time64ns": {"v": fixed([0, None, 3600000000000, 86399999999999, 1], pa.time64("ns"),
                            pa.int64())},
    "ts_s": {"v": fixed(TS, pa.timestamp("s"), pa.int64())},
    "ts_ms": {"v": fixed(TS, pa.timestamp("ms"), pa.int64())},
    "ts_us": {"v": fixed(TS, pa.timestamp("us"), pa.int64())},
    "ts_ns": {"v": fixed(TS, pa.timestamp("ns"), pa.int64())},
    "ts_us_utc": {"v": fixed(TS, pa.timestamp("us", tz="UTC"), pa.int64())},
    "ts_ns_tz": {"v": fixed(TS, pa.timestamp("ns", tz="America/New_York"), pa.int64())},
    "dur_s": {"v": fixed(TS, pa.duration("s"), pa.int64())},
    "dur_ms": {"v": fixed(TS, pa.duration("ms"), pa.int64())},
    "dur_us": {"v": fixed(TS, pa.duration("us"), pa.int64())},
    "dur_ns": {"v": fixed(TS, pa.duration("ns"), pa.int64())},
    "interval_mdn": {"v": pa.array([(1, 2, 3), None, (-1, -2, -3), (12, 31, 10**9), (0, 0, 0)],
                                   pa.month_day_nano_interval())},
    "fixed_binary": {"v": pa.array([b"abc", None, b"xyz", b"123", b"   "], pa.binary(3))},
    "utf8": {"v": pa.array(STRS, pa.string())},
    "large_utf8": {"v": pa.array(STRS, pa.large_string())},
    "binary": {"v": pa.array([s.encode() if s is not None else None for s in STRS])},
    "large_binary": {"v": pa.array([s.encode() if s is not None else None for s in STRS],
                                   pa.large_binary())},
    "utf8_view": {"v": pa.array(VIEW_STRS, pa.string_view())},
    "binary_view": {"v": pa.array([s.encode() if s is not None else None for s in VIEW_STRS],
                                  pa.binary_view())},
    "list": {"v": pa.array([[1, 2], None, [], [3], [4, None, 6]], pa.list_(pa.int32()))},
    "large_list": {"v": pa.array([["a", "bb"], None, [], ["ccc"], ["d"]],
                                 pa.large_list(pa.string()))},
    "fixed_size_list": {"v": pa.array([[1, 2], None, [3, None], [5, 0], [7, 8]],
                                      pa.list_(pa.int16(), 2))},
    "struct": {"v": pa.array(STRUCT_V, STRUCT_T)},
    "map": {"v": pa.array([[("a", 1), ("b", 2)], None, [], [("c", None)], [("d", 4)]],
                          pa.map_(pa.string(), pa.int32()))},
    "sparse_union": {"v": sparse_union()},
    "dense_union": {"v": dense_union()},
    "list_of_dict": {"v": pa.ListArray.from_arrays(
        pa.array([0, 2, 3, 3], pa.int32()), dict_array([0, 1, 1], ["a", "b"], pa.int16()),
        mask=pa.array([False, False, True]))},
    "sliced_int32": {"v": pa.array([3, None, 5, 6], pa.int32())},
    "sliced_bool": {"v": pa.array([None, False, True, None, False, False, True, True, False])},
    "sliced_utf8": {"v": pa.array([None, "cccc", "", None])},
    "sliced_list": {"v": pa.array([[2, 3], None, [4, 5, 6]], pa.list_(pa.int32()))},
    "sliced_struct": {"v": pa.array(STRUCT_V[1:], STRUCT_T)},
    "sliced_fsl": {"v": pa.array([[5, 0], [7, 8]], pa.list_(pa.int16(), 2))},
    "sliced_dense_union": {"v": dense_union().slice(2)},
    "sliced_sparse_union": {"v": sparse_union().slice(1, 3)},
    "sliced_batch": {"n": pa.array([2, 3, 4], pa.int64()), "s": pa.array(["z2", None, "z4"])},
    "zero_rows": {"a": pa.array([], pa.int32()), "b": pa.array([], pa.string())},
    "schema_only": {"a": pa.array([], pa.int32())},
    "multi_batch": {"a": pa.array(range(300), pa.int64())},
    "long_strings": {"v": pa.array(["".join(chr(97 + i % 26) for i in range(1 << 20)), "x",
                                    "".join(chr(65 + i % 26) for i in range(1 << 16))])},
    "deep_nesting": {"v": deep(40)},
    "metadata": {"v": pa.array([1, 2], pa.int32())},
    "run_end_encoded": {"v": pa.RunEndEncodedArray.from_arrays(
        pa.array([2, 3, 6], pa.int32()), pa.array(["a", None, "c"]))},
    "sliced_ree": {"v": pa.RunEndEncodedArray.from_arrays(
        pa.array([1, 2, 4], pa.int32()), pa.array(["a", None, "c"]))},
    "list_view": {"v": pa.array([[4, 5], None, [1], [2, 3, 4]], pa.list_view(pa.int32()))},
    "large_list_view": {"v": pa.array([[4, 5], None, [1], [2, 3, 4]],
                                      pa.large_list_view(pa.int32()))},
    "sliced_list_view": {"v": pa.array([None, [1], [2, 3, 4]], pa.list_view(pa.int32()))},
}

# Checked on their raw buffers: pyarrow cannot build these from Python values.
RAW = {
    "interval_months": ("month_interval", [1, 0, -2, 12, 0], "i4"),
    "interval_day_time": ("day_time_interval", [1, 1000, 0, 0, -2, 5, 12, 0, 0, 0], "i4"),
}

CODECS = ["none", "lz4", "zstd"]


def read(path, kind):
    if kind == "stream":
        with pa.ipc.open_stream(path) as r:
            batches = list(r)
            schema = r.schema
    else:
        with pa.ipc.open_file(path) as r:
            batches = [r.get_batch(i) for i in range(r.num_record_batches)]
            schema = r.schema
    for b in batches:
        b.validate(full=True)
    return schema, batches


def column(schema, batches, name):
    chunks = [b.column(name) for b in batches]
    if not chunks:
        return pa.array([], schema.field(name).type)
    return pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]


def assert_equal_arrays(got, exp, what):
    assert got.type == exp.type, f"{what}: type {got.type} != {exp.type}"
    if pa.types.is_dictionary(exp.type):
        got, exp = got.dictionary_decode(), exp.dictionary_decode()
    if (pa.types.is_run_end_encoded(exp.type) or pa.types.is_list_view(exp.type)
            or pa.types.is_large_list_view(exp.type)):
        # logical values: the physical layout (runs, view offsets) may legitimately differ
        assert got.to_pylist() == exp.to_pylist(), what
        return
    if pa.types.is_list(exp.type) and pa.types.is_dictionary(exp.type.value_type):
        assert got.to_pylist() == exp.to_pylist(), what
        return
    assert got.equals(exp), f"{what}:\n got {got}\n exp {exp}"


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("kind", ["stream", "file"])
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_values(generated, codec, kind, case):
    path = generated[codec] / f"{case}.{'arrows' if kind == 'stream' else 'arrow'}"
    schema, batches = read(path, kind)
    assert schema.names == list(EXPECTED[case])
    for name, exp in EXPECTED[case].items():
        assert_equal_arrays(column(schema, batches, name), exp, f"{case}.{name}")


@pytest.mark.parametrize("kind", ["stream", "file"])
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_values_split_by_max_body_size(generated, kind, case):
    """With max_body_size the encoder sends a batch as several messages of consecutive rows
    (here: one row each): the same values, every type, dictionaries included."""
    path = generated["split"] / f"{case}.{'arrows' if kind == 'stream' else 'arrow'}"
    schema, batches = read(path, kind)
    assert schema.names == list(EXPECTED[case])
    for name, exp in EXPECTED[case].items():
        assert_equal_arrays(column(schema, batches, name), exp, f"{case}.{name}")
    rows = sum(b.num_rows for b in batches)
    has_body = any(not pa.types.is_null(a.type) for a in EXPECTED[case].values())
    if has_body and rows > 1:  # a null column has no body to split by
        assert max(b.num_rows for b in batches) == 1, [b.num_rows for b in batches]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("case", sorted(RAW))
def test_intervals_raw(generated, codec, case):
    """pyarrow has no Python array class for these: check the type, and the body bytes of the
    uncompressed stream (validity at 0, values at 8)."""
    import numpy as np
    type_name, raw, dtype = RAW[case]
    for kind in ("stream", "file"):
        schema, batches = read(generated[codec] / f"{case}.{'arrows' if kind == 'stream' else 'arrow'}", kind)
        assert str(schema.field(0).type) == type_name
        assert [b.num_rows for b in batches] == [5]
    if codec == "none":
        with pa.OSFile(str(generated[codec] / f"{case}.arrows")) as f:
            msgs = list(pa.ipc.MessageReader.open_stream(f))
        body = msgs[1].body.to_pybytes()
        assert body[0] == 0b11101
        assert list(np.frombuffer(body[8:8 + 4 * len(raw)], dtype=dtype)) == raw


@pytest.mark.parametrize("codec", CODECS)
def test_zero_columns(generated, codec):
    for kind in ("stream", "file"):
        schema, batches = read(generated[codec] / f"zero_columns.{'arrows' if kind == 'stream' else 'arrow'}", kind)
        assert len(schema) == 0
        assert [b.num_rows for b in batches] == [3]


@pytest.mark.parametrize("codec", CODECS)
def test_dictionary_messages(generated, codec):
    """Same dictionary twice: sent once; grown: a delta; different: a replacement."""
    path = generated[codec] / "dictionary.arrows"
    kinds = []
    with pa.OSFile(str(path)) as f:
        reader = pa.ipc.MessageReader.open_stream(f)
        for msg in reader:
            kinds.append(msg.type)
    assert kinds == ["schema", "dictionary", "record batch", "record batch",
                     "dictionary", "record batch", "dictionary", "record batch"]
    with pa.ipc.open_stream(path) as r:
        batches = list(r)
        stats = r.stats
    assert stats.num_dictionary_batches == 3
    assert stats.num_dictionary_deltas == 1
    assert stats.num_replaced_dictionaries == 1
    got = [b.column(0).to_pylist() for b in batches]
    assert got == [["red", "green", "blue", None, "red"], ["blue", "green"], ["cyan", "red"],
                   ["y", "x"]]
    # the replacement is not written to an IPC file at all
    assert not (generated[codec] / "dictionary.arrow").exists()
    for kind in ("stream", "file"):
        schema, batches = read(generated[codec] /
                               f"dictionary_delta.{'arrows' if kind == 'stream' else 'arrow'}", kind)
        assert [b.column(0).to_pylist() for b in batches] == got[:3]


@pytest.mark.parametrize("codec", CODECS)
def test_custom_metadata(generated, codec):
    for kind in ("stream", "file"):
        schema, _ = read(generated[codec] / f"metadata.{'arrows' if kind == 'stream' else 'arrow'}", kind)
        assert schema.metadata == {b"origin": b"mallard", b"empty": b""}
        assert schema.field("v").metadata == {b"unit": b"metres"}


def test_compression_shrinks(generated):
    """The compressed streams are compressed: the repetitive 1 MiB string shrinks a lot."""
    size = {c: (generated[c] / "long_strings.arrows").stat().st_size for c in CODECS}
    assert size["none"] > (1 << 20)
    assert size["lz4"] < size["none"] // 10
    assert size["zstd"] < size["none"] // 10


def test_nullability_and_names(generated):
    schema, _ = read(generated["none"] / "map.arrows", "stream")
    t = schema.field("v").type
    assert t.key_field.nullable is False and t.key_field.name == "key"
    assert t.item_field.name == "value"
    schema, _ = read(generated["none"] / "sparse_union.arrows", "stream")
    assert schema.field("v").type == SPARSE_T
    schema, _ = read(generated["none"] / "dense_union.arrows", "stream")
    assert schema.field("v").type == DENSE_T
