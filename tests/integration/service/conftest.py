"""Fixtures for the service tests: `mallard serve` on port 0 (two servers in one process),
authenticated pyarrow Flight clients, and helpers to start extra servers with other flags."""
import os
import re
import signal
import subprocess
import threading
import time

import pyarrow.flight as fl
import pytest

LISTEN_RE = re.compile(r"^listening (grpc(?:\+tls)?://([^\s]+):(\d+))$")


class Mallard:
    """One `mallard serve` process. Its stderr (the call log) is collected in `log_lines`."""

    def __init__(self, binary, args=(), n_servers=2, env=None):
        listen = []
        if not any(a.startswith("--listen") for a in args):
            for _ in range(n_servers):
                listen += ["--listen", "127.0.0.1:0"]
        self.cmd = [binary, "serve", *listen, *args]
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.log_lines = []
        self._err_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._err_thread.start()
        self.urls = []
        expected = sum(1 for a in self.cmd if a == "--listen" or a.startswith("--listen="))
        deadline = time.time() + 30
        while len(self.urls) < expected:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(timeout=10)
                raise RuntimeError(
                    f"mallard serve exited ({self.proc.returncode}) before listening: "
                    + "".join(self.log_lines[-20:])
                )
            m = LISTEN_RE.match(line.strip())
            if m:
                self.urls.append(m.group(1))
            if time.time() > deadline:
                raise RuntimeError("mallard serve did not print its listening lines")

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.log_lines.append(line)

    @property
    def pid(self):
        return self.proc.pid

    def client(self, i=0, user="admin", password="password123"):
        c = fl.FlightClient(self.urls[i])
        token = c.authenticate_basic_token(user, password)
        return c, fl.FlightCallOptions(headers=[token])

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._err_thread.join(timeout=5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def mallard(mallard_bin):
    """Two servers, each with its own in-memory database, shared by a test module."""
    m = Mallard(mallard_bin)
    yield m
    rc = m.stop()
    assert rc == 0, "mallard serve did not exit 0 on SIGTERM:\n" + "".join(m.log_lines[-30:])


@pytest.fixture
def start_mallard(mallard_bin):
    """Factory for servers with extra flags; each is stopped at teardown (SIGTERM, exit 0)."""
    started = []

    def start(*args, n_servers=2, check_exit=True):
        m = Mallard(mallard_bin, args, n_servers=n_servers)
        started.append((m, check_exit))
        return m

    yield start
    for m, check in started:
        if m.proc.poll() is None:
            rc = m.stop()
            if check:
                assert rc == 0, "mallard serve did not exit 0:\n" + "".join(m.log_lines[-30:])


@pytest.fixture
def client(mallard):
    return mallard.client(0)


@pytest.fixture
def client2(mallard):
    return mallard.client(1)


_counter = [0]


@pytest.fixture
def table_name(request):
    """A table name unique in this test session (the module's servers are shared)."""
    _counter[0] += 1
    base = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    return f"t_{base}_{_counter[0]}_{os.getpid()}"
