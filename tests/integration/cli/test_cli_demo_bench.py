"""`mallard demo` on a small slice (its output checked step by step), `mallard bench --json`,
and the progress line: under a pseudo-terminal only, never in a pipe, with CI or --quiet."""
import json
import os
import pathlib
import pty
import re
import select
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
DATA = ROOT / "data" / "flights-3m.parquet"


def test_demo_small_slice(cli, servers):
    s1, s2, _ = servers
    r = cli("demo", "--server1", s1, "--server2", s2, "--data", str(DATA), "--rows", "20000",
            timeout=120)
    text = r.stdout.decode()
    assert r.returncode == 0, text + r.stderr.decode()
    steps = re.findall(r"^\[(\d)\] (.*)$", text, re.M)
    assert [int(n) for n, _ in steps] == list(range(1, 9))
    blocks = re.split(r"^\[\d\] .*$", text, flags=re.M)[1:]
    assert "both up and logged in" in blocks[0]
    assert "42" in blocks[1] and "hello from DuckDB" in blocks[1]
    assert '{"rows_changed": 1000}' in blocks[2].replace(" ", "").replace(":", ": ")
    assert "transferred 1000 rows" in blocks[3] and "verified: both servers hold 1000 rows" \
        in blocks[3]
    assert "loaded 20000 rows" in blocks[4] and "rows/s" in blocks[4]
    assert "transferred 20000 rows" in blocks[5]
    assert "verified: both servers hold 20000 rows" in blocks[5]
    assert "exchanged 20000 rows" in blocks[6] and "`processed` (BOOLEAN)" in blocks[6]
    assert "demo_busiest_origins" in blocks[7] and "origin" in blocks[7]
    assert "5 rows" in blocks[7]
    assert "demo finished: all 8 steps passed" in text


def test_demo_servers_never_come(cli):
    r = cli("demo", "--server1", "grpc://127.0.0.1:1", "--server2", "grpc://127.0.0.1:2",
            "--wait", "1", timeout=60)
    assert r.returncode == 3
    assert "did not answer within 1 s" in r.stderr.decode()


def test_demo_fails_on_bad_data(cli, servers):
    s1, s2, _ = servers
    r = cli("demo", "--server1", s1, "--server2", s2, "--data", "/nonexistent/x.parquet",
            timeout=60)
    assert r.returncode == 1
    assert "stopped at step 5" in r.stderr.decode()


def test_bench_json(cli, servers):
    s1, s2, pid = servers
    r = cli("bench", "--server1", s1, "--server2", s2, "--data", str(DATA), "--rows", "30000",
            "--repeat", "3", "--json", "--server-pid", str(pid), timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout)
    assert res["rows"] == 30000 and res["repeat"] == 3 and res["bytes"] > 30000 * 24
    for k in ["get", "put", "total", "exchange", "transfer"]:
        m = res["results"][k]
        assert 0 < m["min_s"] <= m["median_s"] <= m["max_s"]
        assert m["rows_per_s"] > 0
        # CPU of this client (getrusage: microseconds) and of the --server-pid process (/proc:
        # 10 ms ticks, so a small measure can read 0) during the measure
        assert 0 < m["client_cpu_s"] < 60 and 0 <= m["server_cpu_s"] < 60, (k, m)
    r_ = res["results"]
    for who in ["client_cpu_s", "server_cpu_s"]:
        # each run's total is its GET + PUT, so the median total is at least either median
        assert r_["total"][who] >= max(r_["get"][who], r_["put"][who]) - 0.001, who
    assert res["peak_rss_bytes"][str(pid)] > 10_000_000
    # With --server-pid each of the five measures of a run waits (three quiet 0.25 s windows
    # in a row: >= 0.75 s) for the server to be idle; the waits are reported apart.
    w = res["settle_s"]
    assert 3.75 <= w["min_s"] <= w["median_s"] <= w["max_s"] < 120
    # bench leaves nothing behind
    t = cli("tables", "-s", s1).stdout.decode() + cli("tables", "-s", s2).stdout.decode()
    assert "bench_" not in t


def test_bench_table(cli, servers):
    s1, s2, _ = servers
    r = cli("bench", "--server1", s1, "--server2", s2, "--data", str(DATA), "--rows", "10000",
            timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    text = r.stdout.decode()
    for metric in ["GET", "PUT", "Total (GET+PUT)", "EXCHANGE", "TRANSFER"]:
        assert f"| {metric}" in text
    assert "peak server RSS: n/a" in text
    assert "CPU s: client / servers" in text
    get_row = next(line for line in text.splitlines() if line.startswith("| GET"))
    assert get_row.rstrip(" |").endswith("/ n/a")  # no --server-pid: the servers' CPU unknown
    assert "go idle" not in text  # no --server-pid: nothing to wait for


def run_in_pty(mallard_bin, args, env_extra=None):
    """Runs with stdout and stderr on a pseudo-terminal; returns (exit code, all output)."""
    env = dict(os.environ, MALLARD_PASSWORD="password123")
    env.pop("CI", None)
    env.update(env_extra or {})
    master, slave = pty.openpty()
    p = subprocess.Popen([mallard_bin, *args], stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return p.wait(timeout=60), b"".join(chunks).decode(errors="replace")


PROGRESS = re.compile(r"\r\x1b\[K(put|transfer|get) \d+ rows +[\d.]+ MB +[\d.]+ MB/s")


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "big.csv"
    with open(path, "w") as f:
        f.write("a,b\n")
        f.writelines(f"{i},{i * 7}\n" for i in range(300000))
    return path


def test_progress_on_terminal(mallard_bin, servers, big_csv):
    rc, text = run_in_pty(mallard_bin, ["put", str(big_csv), "--table", "prog", "--mode",
                                        "replace", "-s", servers[0]])
    assert rc == 0, text
    assert PROGRESS.search(text), text
    assert "put 300000 rows" in text  # the final line has the whole count
    rc, text = run_in_pty(mallard_bin, ["transfer", "SELECT * FROM prog", "--to", servers[1],
                                        "--table", "prog", "--mode", "replace", "-s", servers[0]])
    assert rc == 0, text
    assert PROGRESS.search(text), text
    out = big_csv.parent / "got.parquet"
    rc, text = run_in_pty(mallard_bin, ["get", "SELECT * FROM prog", "-o", str(out), "-s",
                                        servers[0]])
    assert rc == 0, text
    assert PROGRESS.search(text), text


@pytest.mark.parametrize("how", ["quiet", "ci"])
def test_no_progress_with_quiet_or_ci(mallard_bin, servers, big_csv, how):
    args = ["put", str(big_csv), "--table", "prog_q", "--mode", "replace", "-s", servers[0]]
    rc, text = run_in_pty(mallard_bin, args + (["--quiet"] if how == "quiet" else []),
                          {"CI": "true"} if how == "ci" else None)
    assert rc == 0, text
    assert "\r" not in text.replace("\r\n", "\n")
    assert not PROGRESS.search(text)


def test_no_progress_in_pipe(cli, servers, big_csv):
    r = cli("put", str(big_csv), "--table", "prog_p", "--mode", "replace", "-s", servers[0])
    assert r.returncode == 0
    assert b"\r" not in r.stderr and b"\x1b" not in r.stderr
    assert r.stderr == b""
    assert "loaded 300000 rows" in r.stdout.decode()


def test_no_progress_when_data_goes_to_the_terminal(mallard_bin, servers):
    # Rows printed on the terminal must not be interleaved with a progress line.
    rc, text = run_in_pty(mallard_bin, ["query", "SELECT * FROM range(300000)", "--format",
                                        "csv", "-s", servers[0]])
    assert rc == 0
    assert not PROGRESS.search(text)
    assert "299999" in text


@pytest.mark.parametrize("ok", [True, False])
def test_demo_script_stops_the_servers(mallard_bin, tmp_path, ok):
    """scripts/demo.sh (what `make demo` runs): servers up, demo, servers stopped by SIGTERM,
    also when the demo fails."""
    log = tmp_path / "servers.log"
    env = dict(os.environ, MALLARD_BIN=mallard_bin, MALLARD_DEMO_LOG=str(log))
    env.pop("CI", None)
    extra = ["--rows", "10000"] if ok else ["--data", "/nonexistent/x.parquet"]
    r = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), *extra], env=env,
                       capture_output=True, text=True, timeout=120)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "demo finished: all 8 steps passed" in r.stdout
    else:
        assert r.returncode == 1
        assert "demo: failed (exit 1)" in r.stderr
    text = log.read_text()
    assert text.count("listening grpc://") == 2
    assert "stopped" in text.splitlines()[-1]
