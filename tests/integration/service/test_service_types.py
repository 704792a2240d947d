"""Type fidelity (issue 5, item 4): every DuckDB type goes out with DoGet, back in with DoPut
(creating a table from the stream's schema) and out again with DoGet, unchanged; or the DoPut is
refused with an INVALID_ARGUMENT that names the column. Also pyarrow-native tables."""
import datetime
import decimal
import json
import math

import pyarrow as pa
import pyarrow.flight as fl
import pytest

from service_helpers import expect_status

# name -> SQL producing one column `v` (values, edge cases and NULLs).
CASES = {
    "tinyint": "SELECT * FROM (VALUES ((-128)::TINYINT), (127::TINYINT), (NULL)) t(v)",
    "smallint": "SELECT * FROM (VALUES ((-32768)::SMALLINT), (32767::SMALLINT), (NULL)) t(v)",
    "integer": "SELECT * FROM (VALUES ((-2147483648)::INTEGER), (2147483647::INTEGER), (NULL)) t(v)",
    "bigint": "SELECT * FROM (VALUES ((-9223372036854775808)::BIGINT), (9223372036854775807::BIGINT),"
              " (NULL)) t(v)",
    "utinyint": "SELECT * FROM (VALUES (0::UTINYINT), (255::UTINYINT), (NULL)) t(v)",
    "usmallint": "SELECT * FROM (VALUES (0::USMALLINT), (65535::USMALLINT), (NULL)) t(v)",
    "uinteger": "SELECT * FROM (VALUES (0::UINTEGER), (4294967295::UINTEGER), (NULL)) t(v)",
    "ubigint": "SELECT * FROM (VALUES (0::UBIGINT), (18446744073709551615::UBIGINT), (NULL)) t(v)",
    # the default mode sends HUGEINT as decimal128(38,0): 38 digits at most (the 39-digit
    # extremes are test_default_hugeint_beyond_38_digits and --arrow-lossless's test)
    "hugeint": "SELECT * FROM (VALUES (-99999999999999999999999999999999999999::HUGEINT),"
               " (99999999999999999999999999999999999999::HUGEINT), (NULL)) t(v)",
    "uhugeint": "SELECT * FROM (VALUES (0::UHUGEINT),"
                " (340282366920938463463374607431768211455::UHUGEINT), (NULL)) t(v)",
    "decimal_4_1": "SELECT * FROM (VALUES (-999.9::DECIMAL(4,1)), (999.9::DECIMAL(4,1)), (NULL)) t(v)",
    "decimal_9_2": "SELECT * FROM (VALUES (-9999999.99::DECIMAL(9,2)), (0.01::DECIMAL(9,2)),"
                   " (NULL)) t(v)",
    "decimal_18_3": "SELECT * FROM (VALUES (-999999999999999.999::DECIMAL(18,3)),"
                    " (1.5::DECIMAL(18,3)), (NULL)) t(v)",
    "decimal_38_10": "SELECT * FROM (VALUES ('-9999999999999999999999999999.9999999999'::DECIMAL(38,10)),"
                     " (1::DECIMAL(38,10)), (NULL)) t(v)",
    "float": "SELECT * FROM (VALUES ('nan'::FLOAT), ('inf'::FLOAT), ('-inf'::FLOAT), (-0.0::FLOAT),"
             " (3.25::FLOAT), (NULL)) t(v)",
    "double": "SELECT * FROM (VALUES ('nan'::DOUBLE), ('inf'::DOUBLE), ('-inf'::DOUBLE),"
              " (-0.0::DOUBLE), (1e308::DOUBLE), (NULL)) t(v)",
    "varchar": "SELECT * FROM (VALUES (''), (repeat('long', 50000)), ('héllo ☃ 🦆 日本'), (NULL)) t(v)",
    "blob": "SELECT * FROM (VALUES (''::BLOB), ('\\x00\\xFFab'::BLOB), (NULL)) t(v)",
    "boolean": "SELECT * FROM (VALUES (true), (false), (NULL)) t(v)",
    "date": "SELECT * FROM (VALUES ('1970-01-01'::DATE), ('2024-02-29'::DATE), ('0001-01-01'::DATE),"
            " (NULL)) t(v)",
    "time": "SELECT * FROM (VALUES ('00:00:00'::TIME), ('23:59:59.999999'::TIME), (NULL)) t(v)",
    "timestamp": "SELECT * FROM (VALUES ('2024-01-02 03:04:05.123456'::TIMESTAMP), (NULL)) t(v)",
    "timestamp_s": "SELECT * FROM (VALUES ('2024-01-02 03:04:05'::TIMESTAMP_S), (NULL)) t(v)",
    "timestamp_ms": "SELECT * FROM (VALUES ('2024-01-02 03:04:05.123'::TIMESTAMP_MS), (NULL)) t(v)",
    "timestamp_ns": "SELECT * FROM (VALUES ('2024-01-02 03:04:05.123456789'::TIMESTAMP_NS),"
                    " (NULL)) t(v)",
    "timestamptz": "SELECT * FROM (VALUES ('2024-01-02 03:04:05.123456+00'::TIMESTAMPTZ), (NULL)) t(v)",
    "interval": "SELECT * FROM (VALUES (INTERVAL '1 year 2 months 3 days 04:05:06.789'),"
                " (INTERVAL '-1 day'), (NULL)) t(v)",
    "uuid": "SELECT * FROM (VALUES ('5b8e9c2e-1f4a-4a67-9a0b-3c2d1e0f9a8b'::UUID), (NULL)) t(v)",
    "enum": "SELECT * FROM (VALUES ('b'::ENUM('a', 'b', 'c')), ('a'), (NULL)) t(v)",
    "list": "SELECT * FROM (VALUES ([1, 2, NULL]::INTEGER[]), ([]::INTEGER[]), (NULL)) t(v)",
    "array": "SELECT * FROM (VALUES ([1, 2, 3]::INTEGER[3]), ([4, NULL, 6]::INTEGER[3]), (NULL)) t(v)",
    "struct": "SELECT * FROM (VALUES ({'a': 1, 'b': 'x'}), ({'a': NULL, 'b': NULL}), (NULL)) t(v)",
    "map": "SELECT * FROM (VALUES (MAP {'k': 1, 'l': NULL}), (MAP {}::MAP(VARCHAR, INTEGER)),"
           " (NULL)) t(v)",
    "union": "SELECT * FROM (VALUES (union_value(num := 2)::UNION(num INTEGER, str VARCHAR)),"
             " (union_value(str := 'x')::UNION(num INTEGER, str VARCHAR)), (NULL)) t(v)",
    "nested_nulls": "SELECT * FROM (VALUES ([{'a': [1, NULL], 'b': {'c': NULL}}, NULL]),"
                    " ([NULL]), (NULL)) t(v)",
}


def same_values(a, b):
    """Equality that treats NaN as equal to NaN and -0.0 as distinct from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    return a == b


def same_column(a, b):
    """Column equality: values (NaN-aware) where Python can hold them, else Arrow's equals."""
    try:
        return same_values(a.to_pylist(), b.to_pylist())
    except (ValueError, OverflowError):
        return a.equals(b)


def put_create(c, o, table, data):
    d = fl.FlightDescriptor.for_command(json.dumps({"table": table, "mode": "create"}).encode())
    w, r = c.do_put(d, data.schema, o)
    w.write_table(data)
    w.done_writing()
    buf = r.read()
    w.close()
    return json.loads(buf.to_pybytes())


def round_trip(c, o, table, data):
    """DoPut then DoGet. Returns the table read back, or the refusal's message."""
    try:
        assert put_create(c, o, table, data) == {"rows": data.num_rows}
    except (fl.FlightError, pa.ArrowException) as e:
        return None, str(e)
    return c.do_get(fl.Ticket(f'SELECT * FROM "{table}"'.encode()), o).read_all(), None


@pytest.mark.parametrize("name", sorted(CASES))
def test_duckdb_type_round_trip(client, name):
    c, o = client
    data = c.do_get(fl.Ticket(CASES[name].encode()), o).read_all()
    assert data.num_rows >= 2
    back, refused = round_trip(c, o, f"types_{name}", data)
    if refused is not None:
        # A refusal must be INVALID_ARGUMENT and say which column and type.
        assert "invalid argument" in refused.lower(), refused
        assert "v" in refused and ("type" in refused.lower()), refused
        pytest.skip(f"{name}: refused with a clear error: {refused.splitlines()[0][:200]}")
    assert back.schema == data.schema, f"{name}: {data.schema} came back as {back.schema}"
    assert same_column(back.column("v"), data.column("v"))


PYARROW_CASES = {
    "int8": pa.array([-128, 127, None], pa.int8()),
    "uint64": pa.array([0, 2**64 - 1, None], pa.uint64()),
    "float16_refused_or_kept": pa.array([1.5, None], pa.float16()),
    "float32": pa.array([float("nan"), float("inf"), -0.0, None], pa.float32()),
    "large_string": pa.array(["", "x" * 100000, "日本", None], pa.large_string()),
    "binary": pa.array([b"", b"\x00\xff", None], pa.binary()),
    "large_binary": pa.array([b"ab", None], pa.large_binary()),
    "bool": pa.array([True, False, None]),
    "date32": pa.array([datetime.date(2024, 2, 29), None], pa.date32()),
    "time64us": pa.array([datetime.time(23, 59, 59, 999999), None], pa.time64("us")),
    "timestamp_us_tz": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5,
                                                   tzinfo=datetime.timezone.utc), None],
                                pa.timestamp("us", tz="UTC")),
    "timestamp_ns": pa.array([1, None], pa.timestamp("ns")),
    "timestamp_s": pa.array([1, None], pa.timestamp("s")),
    "decimal128": pa.array([decimal.Decimal("123.45"), None], pa.decimal128(10, 2)),
    "list_int": pa.array([[1, None], [], None], pa.list_(pa.int32())),
    "struct": pa.array([{"a": 1, "b": "x"}, None], pa.struct([("a", pa.int64()), ("b", pa.string())])),
    "dictionary": pa.array(["a", "b", "a", None]).dictionary_encode(),
    "fixed_size_list": pa.array([[1, 2], None], pa.list_(pa.int32(), 2)),
    "map": pa.array([[("k", 1)], None], pa.map_(pa.string(), pa.int32())),
}


@pytest.mark.parametrize("name", sorted(PYARROW_CASES))
def test_pyarrow_type_round_trip(client, name):
    c, o = client
    data = pa.table({"v": PYARROW_CASES[name]})
    back, refused = round_trip(c, o, f"pa_types_{name}", data)
    if refused is not None:
        assert "invalid argument" in refused.lower(), refused
        pytest.skip(f"{name}: refused with a clear error: {refused.splitlines()[0][:200]}")
    # DuckDB has its own type system: values must survive; some Arrow types come back as their
    # DuckDB equivalent (e.g. large_string -> string, dictionary -> its values).
    got, want = back.column("v"), data.column("v")
    if got.type != want.type and not pa.types.is_dictionary(want.type):
        try:
            got = got.cast(want.type)
        except pa.ArrowException:
            pass
    if pa.types.is_dictionary(want.type):
        want = want.cast(want.type.value_type)
    assert same_column(got, want), f"{name}: {want} came back as {got}"


def test_type_refusal_is_clear(client):
    """An Arrow type DuckDB cannot store is refused before any row is written."""
    c, o = client
    data = pa.table({"ok": [1], "dur": pa.array([1], pa.duration("s"))})
    back, refused = round_trip(c, o, "pa_types_duration", data)
    if refused is None:
        assert back.num_rows == 1
        return
    assert "invalid argument" in refused.lower() and "dur" in refused


def test_decimal256_refused_naming_the_column(client):
    """DuckDB's Arrow import reads no 256-bit decimals: the refusal names the column and says
    what to send instead (it was DuckDB's "Unsupported Internal Arrow Type")."""
    c, o = client
    data = pa.table({"amount": pa.array([decimal.Decimal("1.500")], pa.decimal256(20, 3))})
    back, refused = round_trip(c, o, "pa_types_d256", data)
    assert back is None and refused is not None
    assert "column 'amount'" in refused and "decimal128" in refused, refused


def test_default_mode_types_as_documented(client):
    """docs/types.md's default-mode notes: JSON as string, BIT as binary, TIMETZ as time64 without
    its offset, UHUGEINT as arrow.opaque."""
    c, o = client
    t = c.do_get(fl.Ticket(b"SELECT '{}'::JSON AS j, '0101'::BIT AS b, '12:00:00+05:30'::TIMETZ "
                           b"AS tz, 5::UHUGEINT AS u"), o).read_all()
    assert t.schema.field("j").type == pa.string()
    assert t.schema.field("b").type == pa.binary()
    assert t.schema.field("tz").type == pa.time64("us")
    assert "arrow.opaque" in str(t.schema.field("u").type)


def test_default_sends_hugeint_as_decimal_and_uuid_as_string(client):
    """What pyarrow users get from `SELECT sum(...)` is a number, not opaque bytes."""
    c, o = client
    t = c.do_get(fl.Ticket(b"SELECT sum(i) AS s, '5b8e9c2e-1f4a-4a67-9a0b-3c2d1e0f9a8b'::UUID AS u"
                           b" FROM range(10) t(i)"), o).read_all()
    assert t.schema.field("s").type == pa.decimal128(38, 0)
    assert t.column("s").to_pylist() == [decimal.Decimal(45)]
    assert t.schema.field("u").type == pa.string()
    assert t.column("u").to_pylist() == ["5b8e9c2e-1f4a-4a67-9a0b-3c2d1e0f9a8b"]


def test_arrow_lossless_keeps_duckdb_types_exactly(start_mallard):
    """With --arrow-lossless, HUGEINT and UUID travel as extension types and come back as
    the same DuckDB types (DuckDB-to-DuckDB copies)."""
    m = start_mallard("--arrow-lossless", n_servers=1)
    c, o = m.client(0)
    q = ("SELECT 170141183460469231731687303715884105727::HUGEINT AS h,"
         " '5b8e9c2e-1f4a-4a67-9a0b-3c2d1e0f9a8b'::UUID AS u")
    data = c.do_get(fl.Ticket(q.encode()), o).read_all()
    assert put_create(c, o, "lossless_copy", data) == {"rows": 1}
    types = c.do_get(fl.Ticket(b"SELECT typeof(h) AS th, typeof(u) AS tu, h::VARCHAR AS hv"
                               b" FROM lossless_copy"), o).read_all().to_pylist()
    assert types == [{"th": "HUGEINT", "tu": "UUID",
                      "hv": "170141183460469231731687303715884105727"}]


def test_interval_beyond_arrow_nanoseconds_refused(client):
    """An INTERVAL whose time part exceeds Arrow's 64-bit nanoseconds (2562047 hours) came out
    as a wrapped, sometimes negative value; it is refused naming the column. One that fits,
    the largest, arrives exactly; NULL rows do not count."""
    c, o = client
    t = c.do_get(fl.Ticket(b"SELECT to_microseconds(9223372036854775) AS v UNION ALL "
                           b"SELECT NULL"), o).read_all()
    assert t.column("v")[0].as_py().nanoseconds == 9223372036854775000
    for sql in (b"SELECT to_hours(3000000) AS v", b"SELECT to_hours(-3000000) AS v",
                b"SELECT to_microseconds(9223372036854776) AS v"):
        with pytest.raises(pa.ArrowInvalid) as ei:
            c.do_get(fl.Ticket(sql), o).read_all()
        assert "column 'v'" in str(ei.value) and "2562047 hours" in str(ei.value)


def test_decimal_beyond_its_precision_refused(client):
    """A decimal128(4,1) value of 7000.0 (five digits: invalid Arrow) was stored as 0.0 (DuckDB
    narrows it to 16 bits); it is refused naming the column, and nothing is stored."""
    c, o = client
    raw = pa.Array.from_buffers(pa.decimal128(4, 1), 2,
                                [None, pa.py_buffer((9999).to_bytes(16, "little") +
                                                    (70000).to_bytes(16, "little"))])
    back, refused = round_trip(c, o, "pa_types_dec_overflow", pa.table({"v": raw}))
    assert back is None and "column 'v'" in refused and "row 1" in refused, refused
    ok = pa.table({"v": pa.array([decimal.Decimal("999.9"), decimal.Decimal("-999.9"), None],
                                 pa.decimal128(4, 1))})
    back, refused = round_trip(c, o, "pa_types_dec_fits", ok)
    assert refused is None and back.column("v").to_pylist() == ok.column("v").to_pylist()


def test_timestamp_outside_duckdb_range_refused(client):
    """A timestamp DuckDB stores but can never read back (every cast of the column then fails)
    is refused naming the column; the range's ends and DuckDB's +-infinity go through."""
    c, o = client
    for unit, bad in (("s", 10**15), ("ms", -9223372036854776), ("us", -2**63),
                      ("ns", -2**63 + 2)):
        data = pa.table({"t": pa.array([0, bad], pa.timestamp(unit))})
        back, refused = round_trip(c, o, f"pa_types_ts_bad_{unit}", data)
        assert back is None and "column 't'" in refused and "row 1" in refused, (unit, refused)
    edges = pa.table({"t": pa.array([9223372036854, -9223372022400, None], pa.timestamp("s"))})
    back, refused = round_trip(c, o, "pa_types_ts_edges", edges)
    assert refused is None, refused
    assert c.do_get(fl.Ticket(b"SELECT count(t::VARCHAR) AS n FROM pa_types_ts_edges"),
                    o).read_all().column("n")[0].as_py() == 2
    inf = c.do_get(fl.Ticket(b"SELECT 'infinity'::TIMESTAMP AS t UNION ALL "
                             b"SELECT '-infinity'::TIMESTAMP"), o).read_all()
    back, refused = round_trip(c, o, "pa_types_ts_inf", inf)
    assert refused is None, refused
    assert sorted(c.do_get(fl.Ticket(b"SELECT t::VARCHAR AS s FROM pa_types_ts_inf"),
                           o).read_all().column("s").to_pylist()) == ["-infinity", "infinity"]


def test_interval_below_a_microsecond_refused(client):
    """month_day_nano with 1500 ns was stored as 1 us without a word (time64[ns] is refused for
    the same loss): refused naming the column; whole microseconds load exactly."""
    c, o = client
    bad = pa.table({"v": pa.array([pa.MonthDayNano([1, 2, 3000]), pa.MonthDayNano([0, 0, 1500])],
                                  pa.month_day_nano_interval())})
    back, refused = round_trip(c, o, "pa_types_mdn_bad", bad)
    assert back is None and "column 'v'" in refused and "row 1" in refused, refused
    good = pa.table({"v": pa.array([pa.MonthDayNano([1, 2, 3000]), None],
                                   pa.month_day_nano_interval())})
    back, refused = round_trip(c, o, "pa_types_mdn_good", good)
    assert refused is None and back.column("v").to_pylist() == good.column("v").to_pylist()


def test_default_hugeint_beyond_38_digits(client):
    """In the default mode a 39-digit HUGEINT goes out as a decimal128(38,0) it does not fit
    (documented); Mallard's own DoPut refuses it rather than store an out-of-range DECIMAL."""
    c, o = client
    t = c.do_get(fl.Ticket(b"SELECT 170141183460469231731687303715884105727::HUGEINT AS v"),
                 o).read_all()
    assert t.schema.field("v").type == pa.decimal128(38, 0)
    back, refused = round_trip(c, o, "pa_types_hugeint39", t)
    assert back is None and "column 'v'" in refused and "more digits" in refused, refused
