"""`mallard passwd` and `mallard token`: where the password comes from (prompt without echo,
MALLARD_PASSWORD, stdin, never argv), what they print, and that the server accepts it."""
import os
import pty
import re
import select
import subprocess
import time

import pytest

pytestmark = pytest.mark.timeout(120)

LINE = re.compile(r"^([^:\s]+):(\$argon2id\$[^:\s]+):(admin|reader)$")


def run(mallard, *args, stdin="", env=None):
    e = dict(os.environ)
    e.pop("MALLARD_PASSWORD", None)
    e.update(env or {})
    return subprocess.run([mallard, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=e)


def test_passwd_from_stdin_and_env(mallard):
    r = run(mallard, "passwd", "alice", "--cost", "interactive", stdin="pw-from-stdin\n")
    assert r.returncode == 0, r.stderr
    m = LINE.match(r.stdout.strip())
    assert m and m.group(1) == "alice" and m.group(3) == "admin"
    assert "pw-from-stdin" not in r.stdout + r.stderr
    r = run(mallard, "passwd", "bob", "--role", "reader", "--cost", "interactive",
            env={"MALLARD_PASSWORD": "pw-from-env"})
    assert r.returncode == 0, r.stderr
    m = LINE.match(r.stdout.strip())
    assert m and m.group(1) == "bob" and m.group(3) == "reader"
    # two hashes of one password differ (salt)
    a = run(mallard, "passwd", "x", "--cost", "interactive", stdin="same\n").stdout
    b = run(mallard, "passwd", "x", "--cost", "interactive", stdin="same\n").stdout
    assert a != b


def test_passwd_refusals(mallard):
    r = run(mallard, "passwd", "alice", "--password", "hunter2")
    assert r.returncode == 2 and "command line" in r.stderr
    assert run(mallard, "passwd", "alice", "--role", "root", stdin="x\n").returncode == 2
    assert run(mallard, "passwd", "a:b", stdin="x\n").returncode == 2
    assert run(mallard, "passwd", "a b", stdin="x\n").returncode == 2
    assert run(mallard, "passwd", stdin="x\n").returncode == 2
    assert run(mallard, "passwd", "alice", stdin="").returncode == 2          # no password
    assert run(mallard, "passwd", "alice", stdin="\n").returncode == 2        # empty password
    assert run(mallard, "passwd", "alice", "--cost", "huge", stdin="x\n").returncode == 2
    assert run(mallard, "passwd", "--help").returncode == 0


def _read_until(fd, needle, timeout=30):
    out = b""
    end = time.time() + timeout
    while needle not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_passwd_prompt_without_echo(mallard):
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("MALLARD_PASSWORD", None)
    p = subprocess.Popen([mallard, "passwd", "carol", "--cost", "interactive"], stdin=slave,
                         stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = _read_until(master, b"New password:")
    os.write(master, b"typed-secret\n")
    seen += _read_until(master, b"Repeat password:")
    os.write(master, b"typed-secret\n")
    out, _ = p.communicate(timeout=60)
    seen += _read_until(master, b"\n", timeout=1)
    os.close(master)
    assert p.returncode == 0
    assert LINE.match(out.decode().strip())
    assert b"typed-secret" not in seen  # not echoed to the terminal


def test_passwd_prompt_mismatch(mallard):
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("MALLARD_PASSWORD", None)
    p = subprocess.Popen([mallard, "passwd", "carol"], stdin=slave, stdout=subprocess.PIPE,
                         stderr=slave, env=env)
    os.close(slave)
    _read_until(master, b"New password:")
    os.write(master, b"one\n")
    _read_until(master, b"Repeat password:")
    os.write(master, b"two\n")
    out, _ = p.communicate(timeout=60)
    os.close(master)
    assert p.returncode == 2
    assert out == b""


def test_token(mallard):
    r = run(mallard, "token", "alice")
    assert r.returncode == 0, r.stderr
    token, line = r.stdout.strip().split("\n")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 bits
    assert re.fullmatch(r"[0-9a-f]{64}:alice:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line)
    r2 = run(mallard, "token", "alice")
    assert r2.stdout.split("\n")[0] != token
    assert run(mallard, "token").returncode == 2
    assert run(mallard, "token", "a:b").returncode == 2
