"""Fixtures for the Flight transport tests: Mallard's C test server on port 0."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _build_dir():
    return pathlib.Path(os.environ.get("MALLARD_BUILD_DIR", str(ROOT / "build")))


def server_binary(name):
    path = _build_dir() / "tests" / "servers" / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found: build the target {name} (ninja -C build {name})")
    return str(path)


class Server:
    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening grpc://"):
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.proc.stderr.read()}")
        self.uri = line.split(" ", 1)[1]
        self.port = int(self.uri.rsplit(":", 1)[1])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err


def _check_sanitizer_output(err):
    assert "ERROR: AddressSanitizer" not in err, err
    assert "runtime error:" not in err, err
    assert "LeakSanitizer" not in err, err


@pytest.fixture(scope="module")
def server():
    s = Server([server_binary("mallard-flight-test-server"), "--port", "0",
                "--max-message-size", str(256 * 1024 * 1024)])
    yield s
    rc, err = s.stop()
    _check_sanitizer_output(err)
    assert rc == 0, err


@pytest.fixture
def make_server():
    started = []

    def start(*extra):
        s = Server([server_binary("mallard-flight-test-server"), "--port", "0", *extra])
        started.append(s)
        return s

    yield start
    for s in started:
        rc, err = s.stop()
        _check_sanitizer_output(err)
        assert rc == 0, err
