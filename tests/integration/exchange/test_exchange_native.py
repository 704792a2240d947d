"""The native zscore example, loaded by the operator with --exchanger-dir, on the flights data:
the running z-score checked against numpy; bad params; incompatible libraries are refused."""
import json
import shutil
import subprocess

import numpy as np
import pyarrow as pa

from xchg_helpers import action, command, exchange, expect_status


def running_zscore(values):
    """Reference: each row against every non-null value so far (itself included), population
    standard deviation; None where the value is null, fewer than 2 values, or deviation 0."""
    out = []
    n, s, ss = 0, 0.0, 0.0
    arr = np.asarray([np.nan if v is None else float(v) for v in values])
    for x in arr:
        if np.isnan(x):
            out.append(None)
            continue
        n += 1
        s += x
        ss += x * x
        mean = s / n
        var = ss / n - mean * mean
        out.append(None if n < 2 or var <= 1e-12 else (x - mean) / np.sqrt(var))
    return out


def close_enough(got, exp):
    return len(got) == len(exp) and all(
        (g is None) == (e is None) and (g is None or abs(g - e) < 1e-6 * (1 + abs(e)))
        for g, e in zip(got, exp))


def test_zscore_on_flights(client, flights):
    c, o = client
    t = flights.slice(0, 50_000)
    out = exchange(c, o, command("zscore", {"column": "delay"}), t, chunk=4_096)
    assert out.schema.names == t.schema.names + ["delay_zscore"]
    assert out.schema.field("delay_zscore").type == pa.float64()
    assert out.drop_columns(["delay_zscore"]).equals(t)
    got = out.column("delay_zscore").to_pylist()
    exp = running_zscore(t.column("delay").to_pylist())
    assert len(got) == len(exp)
    bad = [i for i, (g, e) in enumerate(zip(got, exp))
           if (g is None) != (e is None) or (g is not None and abs(g - e) > 1e-6 * (1 + abs(e)))]
    assert not bad, f"{len(bad)} rows differ, first at {bad[0]}: {got[bad[0]]} vs {exp[bad[0]]}"


def test_zscore_int16_float_and_nulls(client, flights_small):
    c, o = client
    t = flights_small.slice(0, 20_000)
    vals = t.column("time").to_pylist()
    vals = [None if i % 11 == 0 else v for i, v in enumerate(vals)]
    t = t.set_column(2, "time", pa.array(vals, pa.float32()))
    out = exchange(c, o, command("zscore", {"column": "time", "output": "tz"}), t, chunk=3_000)
    got = out.column("tz").to_pylist()
    exp = running_zscore(vals)
    assert close_enough(got, exp)
    out = exchange(c, o, command("zscore", {"column": "delay"}), t.slice(0, 1000))
    assert close_enough(out.column("delay_zscore").to_pylist(),
                        running_zscore(t.slice(0, 1000).column("delay").to_pylist()))


def test_zscore_bad_params(client, flights):
    c, o = client
    t = flights.slice(0, 10)
    with expect_status("INVALID_ARGUMENT", "column"):
        exchange(c, o, "zscore", t)
    with expect_status("INVALID_ARGUMENT", "origin"):
        exchange(c, o, command("zscore", {"column": "origin"}), t)
    with expect_status("INVALID_ARGUMENT", "nope"):
        exchange(c, o, command("zscore", {"column": "nope"}), t)


def test_native_cannot_be_replaced_or_removed(client):
    c, o = client
    with expect_status("INVALID_ARGUMENT"):
        action(c, o, "register_exchanger", {"name": "zscore", "sql": "SELECT 1 FROM input",
                                            "replace": True})
    with expect_status("INVALID_ARGUMENT"):
        action(c, o, "unregister_exchanger", "zscore")
    entries = {e["name"]: e for e in json.loads(action(c, o, "list_exchangers")[0])}
    assert entries["zscore"]["kind"] == "native"
    assert entries["zscore"]["path"].endswith("libmallard_zscore.so")


def test_incompatible_library_is_refused(start_server, zscore_dir, tmp_path, build_dir):
    """A directory with the example, a library built for another ABI version and a file that is
    not a library: the server starts, logs a clear line for each refusal, serves the good one."""
    d = tmp_path / "exchangers"
    d.mkdir()
    shutil.copy(zscore_dir / "libmallard_zscore.so", d)
    fixtures = build_dir / "tests" / "unit" / "exchange" / "native_fixtures"
    if (fixtures / "libxchg_fixture_bad_abi.so").exists():
        shutil.copy(fixtures / "libxchg_fixture_bad_abi.so", d)
    (d / "garbage.so").write_bytes(b"not an ELF file")
    s = start_server("--exchanger-dir", str(d))
    c, o = s.client()
    names = {e["name"]: e["kind"] for e in json.loads(action(c, o, "list_exchangers")[0])}
    assert names.get("zscore") == "native"
    assert "failing" not in names
    log = "".join(s.log)
    assert "garbage.so" in log and "refused" in log
    if (fixtures / "libxchg_fixture_bad_abi.so").exists():
        assert "ABI version 999" in log
