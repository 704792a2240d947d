"""Fixtures for the CLI tests: one `mallard serve` with two servers on port 0 for the session."""
import os
import re
import subprocess
import time

import pytest

PASSWORD = "password123"


@pytest.fixture(scope="session")
def servers(mallard_bin):
    """(uri1, uri2, pid) of two running servers."""
    p = subprocess.Popen(
        [mallard_bin, "serve", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    uris = []
    deadline = time.time() + 30
    while len(uris) < 2 and time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        m = re.match(r"listening (grpc://\S+)", line)
        if m:
            uris.append(m.group(1))
    assert len(uris) == 2, "mallard serve did not print two listening lines"
    yield uris[0], uris[1], p.pid
    p.terminate()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@pytest.fixture
def cli(mallard_bin):
    """cli(*args, env=None, input=None) -> CompletedProcess, with the password set, CI unset."""

    def run(*args, env=None, timeout=60, password=PASSWORD, input=None):
        e = dict(os.environ)
        e.pop("CI", None)
        e.pop("MALLARD_TOKEN", None)
        e.pop("MALLARD_SERVER", None)
        if password is not None:
            e["MALLARD_PASSWORD"] = password
        else:
            e.pop("MALLARD_PASSWORD", None)
        if env:
            e.update(env)
        if input is not None:  # bytes fed to stdin
            return subprocess.run([mallard_bin, *args], capture_output=True, timeout=timeout,
                                  env=e, input=input)
        return subprocess.run([mallard_bin, *args], capture_output=True, timeout=timeout, env=e,
                              stdin=subprocess.DEVNULL)

    return run
