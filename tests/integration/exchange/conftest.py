"""Fixtures for the exchanger tests: `mallard serve` on port 0 with the zscore example loaded
from --exchanger-dir, authenticated pyarrow clients, and the flights data."""
import pathlib
import re
import signal
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
LISTEN_RE = re.compile(r"^listening (grpc(?:\+tls)?://\S+)$")


class Server:
    """One `mallard serve` process with one server; stderr is collected in `log`."""

    def __init__(self, binary, args=()):
        self.cmd = [binary, "serve", "--listen", "127.0.0.1:0", *args]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.log = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = None
        deadline = time.time() + 30
        while self.url is None:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(timeout=10)
                raise RuntimeError("mallard serve exited before listening:\n" + "".join(self.log))
            m = LISTEN_RE.match(line.strip())
            if m:
                self.url = m.group(1)
            if time.time() > deadline:
                raise RuntimeError("mallard serve did not print its listening line")

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def client(self, user="admin", password="password123"):
        c = fl.FlightClient(self.url)
        token = c.authenticate_basic_token(user, password)
        return c, fl.FlightCallOptions(headers=[token])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def _serve_runnable(binary):
    try:
        r = subprocess.run([binary, "serve", "--help"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and b"--exchanger-dir" in r.stdout


@pytest.fixture(scope="session")
def zscore_dir(build_dir):
    d = pathlib.Path(build_dir) / "examples" / "zscore"
    assert (d / "libmallard_zscore.so").exists(), f"build the example first: {d}"
    return d


@pytest.fixture(scope="session")
def start_server(mallard_bin):
    """Factory: starts a server with extra flags; all are stopped (and must exit 0) at the end."""
    if not _serve_runnable(mallard_bin):
        pytest.skip("`mallard serve` is not runnable yet")
    started = []

    def start(*args):
        s = Server(mallard_bin, args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            rc = s.stop()
            assert rc == 0, "mallard serve did not exit 0:\n" + "".join(s.log[-30:])


@pytest.fixture(scope="module")
def server(mallard_bin, build_dir):
    if not _serve_runnable(mallard_bin):
        pytest.skip("`mallard serve` is not runnable yet")
    zdir = pathlib.Path(build_dir) / "examples" / "zscore"
    s = Server(mallard_bin, ["--exchanger-dir", str(zdir)])
    yield s
    rc = s.stop()
    assert rc == 0, "mallard serve did not exit 0 on SIGTERM:\n" + "".join(s.log[-30:])


@pytest.fixture
def client(server):
    return server.client()


@pytest.fixture(scope="session")
def flights():
    """The first 200,000 rows of the flights data (timestamp, int64s, large strings)."""
    t = pq.read_table(ROOT / "data" / "flights-3m.parquet")
    return t.slice(0, 200_000).combine_chunks()


@pytest.fixture(scope="session")
def flights_small():
    """data/flights-200k.arrow: int16 delay/distance and float32 time."""
    with pa.memory_map(str(ROOT / "data" / "flights-200k.arrow")) as src:
        return pa.ipc.open_file(src).read_all().combine_chunks()
