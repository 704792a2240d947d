"""Canonical JSON form of pyarrow arrays, as printed by mallard-ipc-dump."""
import decimal
import math

import pyarrow as pa
import pyarrow.compute as pc


class DecodeError(Exception):
    pass


def _float(v):
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


# Arrow C++ type ids of the interval types pyarrow has no Python wrapper for.
INTERVAL_MONTHS = 21
INTERVAL_DAY_TIME = 22


def canon(arr):
    """The values of a pyarrow array in mallard-ipc-dump's JSON conventions."""
    t = arr.type
    n = len(arr)
    if t.id in (INTERVAL_MONTHS, INTERVAL_DAY_TIME):  # no Python scalars for these in pyarrow
        import numpy as np
        bits = arr.buffers()[0]
        valid = [bits is None or bool((bits[(arr.offset + i) >> 3] >> ((arr.offset + i) & 7)) & 1)
                 for i in range(n)]
        raw = np.frombuffer(arr.buffers()[1], dtype=np.int32)
        if t.id == INTERVAL_MONTHS:
            return [int(raw[arr.offset + i]) if valid[i] else None for i in range(n)]
        return [[int(raw[2 * (arr.offset + i)]), int(raw[2 * (arr.offset + i) + 1])]
                if valid[i] else None for i in range(n)]
    valid = [v is not None and v.is_valid for v in arr] if not pa.types.is_union(t) else None
    if pa.types.is_dictionary(t):
        values = canon(arr.dictionary)
        return [None if i is None else values[i] for i in arr.indices.to_pylist()]
    if pa.types.is_run_end_encoded(t):
        return canon(pc.run_end_decode(arr))
    if pa.types.is_null(t):
        return [None] * n
    if pa.types.is_boolean(t) or pa.types.is_integer(t):
        return arr.to_pylist()
    if pa.types.is_floating(t):
        return [_float(v) for v in arr.to_pylist()]
    if pa.types.is_decimal(t):
        with decimal.localcontext() as ctx:
            ctx.prec = 200
            return [None if v is None else str(int(v.scaleb(t.scale))) for v in arr.to_pylist()]
    if pa.types.is_date32(t) or pa.types.is_time32(t):
        return _mask(arr.view(pa.int32()).to_pylist(), valid)
    if (pa.types.is_date64(t) or pa.types.is_time64(t) or pa.types.is_timestamp(t)
            or pa.types.is_duration(t)):
        return _mask(arr.view(pa.int64()).to_pylist(), valid)
    if t == pa.month_day_nano_interval():
        return [None if v is None else [v.months, v.days, v.nanoseconds] for v in arr.to_pylist()]
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
        return arr.to_pylist()
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
            or pa.types.is_fixed_size_binary(t)):
        return [None if v is None else v.hex() for v in arr.to_pylist()]
    if pa.types.is_map(t):
        out = []
        for i in range(n):
            if not valid[i]:
                out.append(None)
                continue
            entries = arr[i].values
            if entries is None:
                out.append([])
                continue
            ks = canon(entries.field(0))
            vs = canon(entries.field(1))
            out.append([[k, v] for k, v in zip(ks, vs)])
        return out
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t)):
        return [canon(arr[i].values) if valid[i] else None for i in range(n)]
    if pa.types.is_struct(t):
        cols = [canon(c) for c in arr.flatten()]
        names = [t.field(i).name for i in range(t.num_fields)]
        return [dict(zip(names, [c[i] for c in cols])) if valid[i] else None for i in range(n)]
    if pa.types.is_union(t):
        codes = arr.type_codes.to_pylist()
        children = [canon(arr.field(i)) for i in range(t.num_fields)]
        offsets = arr.offsets.to_pylist() if t.mode == "dense" else None
        out = []
        for i in range(n):
            ci = t.type_codes.index(codes[i])
            k = offsets[i] if offsets is not None else i + arr.offset
            out.append(children[ci][k])
        return out
    raise NotImplementedError(str(t))


def _mask(values, valid):
    return [v if ok else None for v, ok in zip(values, valid)]


def expected_rows(table_or_batches):
    """Per batch: list of columns of canonical values."""
    return [[canon(col) for col in b.columns] for b in table_or_batches]
