"""bench/run.py, the harness behind bench/RESULTS.md, run end to end on a small slice: the pyarrow
client against `mallard serve` and the Python reference in one run, then `mallard bench`.
Timings are not asserted (speed lives in the benchmark), what the harness reports is."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
METRICS = ["get", "put", "total", "exchange", "transfer"]


def test_harness_small_run(mallard_bin, tmp_path):
    out = tmp_path / "e2e.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--rows", "50000",
                        "--repeat", "1", "--mallard-bin", mallard_bin, "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["rows"] == 50000 and res["repeat"] == 1
    for system in ["mallard", "reference"]:
        for m in METRICS:
            x = res[system][m]
            assert x["median_s"] > 0 and x["rows_per_s"] > 0, (system, m)
            # CPU of the pyarrow client (getrusage) and of the system's server processes
            # (/proc, 10 ms ticks) during the measure
            assert 0 < x["client_cpu_s"] < 60 and 0 <= x["server_cpu_s"] < 60, (system, m)
        assert res[system]["total"]["median_s"] == (
            res[system]["get"]["median_s"] + res[system]["put"]["median_s"])
    assert all(v > 0 for v in res["peak_rss_bytes"].values())
    # EXCHANGE's floor: the same bytes echoed through loopback TCP (the IPC messages' size,
    # close to the Arrow data's)
    floor = res["exchange_floor"]
    assert 0.5 * res["bytes"] < floor["bytes_each_way"] < 2 * res["bytes"], floor
    assert floor["median_s"] > 0 and floor["cpu_s"] >= 0, floor
    quiet = floor["quiet"]
    assert 0.5 * res["bytes"] < quiet["bytes_each_way"] < 2 * res["bytes"], floor
    assert quiet["median_s"] > 0 and quiet["cpu_s"] >= 0, floor
    cli = res["mallard_cli"]["results"]
    assert cli["exchange"]["rows_per_s"] > 0 and cli["exchange"]["server_cpu_s"] is not None
    text = r.stdout
    assert "| TRANSFER vs reference GET-then-PUT |" in text
    assert "EXCHANGE's floor on this machine" in text and "x the floor above" in text
    assert "CPU seconds per measure" in text and "`mallard bench` (the C client)" in text
