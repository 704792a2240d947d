"""Fixtures for the auth integration tests: users/tokens files made with the real `mallard`
CLI, `mallard serve` processes on port 0, raw gRPC calls, and certificates made with openssl."""
import base64
import contextlib
import os
import pathlib
import queue
import re
import signal
import subprocess
import threading
import time

import grpc
import pyarrow.flight as flight
import pytest

SERVICE = "/arrow.flight.protocol.FlightService/"
# Every Flight RPC and its gRPC shape.
RPCS = {
    "Handshake": "stream_stream",
    "ListFlights": "unary_stream",
    "GetFlightInfo": "unary_unary",
    "PollFlightInfo": "unary_unary",
    "GetSchema": "unary_unary",
    "DoGet": "unary_stream",
    "DoPut": "stream_stream",
    "DoExchange": "stream_stream",
    "DoAction": "unary_stream",
    "ListActions": "unary_stream",
}

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


def basic_header(user, password):
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _serve_help_ok(mallard_bin):
    try:
        r = subprocess.run([mallard_bin, "serve", "--help"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and b"--users" in r.stdout


@pytest.fixture(scope="session")
def mallard(mallard_bin):
    if not _serve_help_ok(mallard_bin):
        pytest.skip("`mallard serve` is not built yet")
    return mallard_bin


@pytest.fixture(scope="session")
def users_file(mallard, tmp_path_factory):
    """alice: admin, bob: reader, carol: admin (made with `mallard passwd`, cheap Argon2 cost
    so the tests stay fast; the server reads whatever cost each hash says)."""
    d = tmp_path_factory.mktemp("auth-users")
    lines = []
    for user, role in (("alice", "admin"), ("bob", "reader"), ("carol", "admin")):
        r = subprocess.run(
            [mallard, "passwd", user, "--role", role, "--cost", "interactive"],
            input=PASSWORDS[user] + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert PASSWORDS[user] not in r.stdout
        lines.append(r.stdout.strip())
    path = d / "users.txt"
    path.write_text("# test users\n" + "\n".join(lines) + "\n")
    return path


class Server:
    def __init__(self, proc, urls, stderr_lines):
        self.proc = proc
        self.urls = urls
        self.url = urls[0]
        self._stderr = stderr_lines

    @property
    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def target(self, i=0):
        return self.urls[i].split("://", 1)[1]

    def stderr(self):
        return "".join(self._stderr)

    def client(self, i=0, **kw):
        return flight.FlightClient(self.urls[i], **kw)


def _pump(stream, sink):
    for line in iter(stream.readline, ""):
        sink.append(line)
    stream.close()


@contextlib.contextmanager
def run_server(mallard_bin, *args, n_listen=1, listen=None, expect_fail=False, timeout=60):
    """Starts `mallard serve` on n_listen servers at 127.0.0.1:0 (or on the `listen` list)."""
    cmd = [mallard_bin, "serve"]
    listen = listen or ["127.0.0.1:0"] * n_listen
    n_listen = len(listen)
    for addr in listen:
        cmd += ["--listen", addr]
    cmd += [str(a) for a in args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines = []
    threading.Thread(target=_pump, args=(proc.stderr, err_lines), daemon=True).start()
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in iter(proc.stdout.readline, "")]
                     + [lines.put(None)], daemon=True).start()
    urls = []
    deadline = time.time() + timeout
    try:
        while len(urls) < n_listen and time.time() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            if line is None:
                break
            m = re.match(r"listening (\S+)", line)
            if m:
                urls.append(m.group(1))
        if expect_fail:
            proc.wait(timeout=timeout)
            time.sleep(0.2)
            yield proc.returncode, "".join(err_lines)
            return
        assert len(urls) == n_listen, (
            f"server did not start: rc={proc.poll()} stderr={''.join(err_lines)[-2000:]}")
        yield Server(proc, urls, err_lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        time.sleep(0.1)
    # A sanitizer build reports memory errors and leaks on stderr at exit.
    err = "".join(err_lines)
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in err, err[err.index(marker) - 200:][:4000]


@pytest.fixture
def serve(mallard):
    """serve(*flags, n_listen=1) -> context manager yielding a Server."""
    def start(*args, **kw):
        return run_server(mallard, *args, **kw)
    return start


@pytest.fixture(scope="module")
def shared_server(mallard, users_file):
    """One server with the users file for the tests that do not need their own flags."""
    with run_server(mallard, "--users", users_file) as s:
        yield s


def login(server, user, password, i=0, **client_kw):
    """New-style Handshake: returns (client, call options carrying the bearer header, token)."""
    client = server.client(i, **client_kw)
    key, value = client.authenticate_basic_token(user, password)
    assert key.lower() == b"authorization"
    assert value.startswith(b"Bearer ")
    return client, flight.FlightCallOptions(headers=[(key, value)]), value[7:].decode()


def bearer_options(token):
    return flight.FlightCallOptions(headers=[(b"authorization", b"Bearer " + token.encode())])


def raw_call(target, rpc, metadata=(), request=b"", timeout=10):
    """Calls one Flight RPC with raw bytes through grpcio. Returns (code, details)."""
    with grpc.insecure_channel(target, options=[
            ("grpc.max_metadata_size", 16 * 1024 * 1024)]) as ch:
        kind = RPCS[rpc]
        fn = getattr(ch, kind)(SERVICE + rpc, request_serializer=None,
                               response_deserializer=None)
        try:
            if kind == "unary_unary":
                fn(request, metadata=list(metadata), timeout=timeout)
            elif kind == "unary_stream":
                list(fn(request, metadata=list(metadata), timeout=timeout))
            else:
                list(fn(iter([request] if request else []), metadata=list(metadata),
                        timeout=timeout))
        except grpc.RpcError as e:
            return e.code(), e.details()
        return grpc.StatusCode.OK, ""


def error_message(exc):
    """The server's message inside a pyarrow Flight error."""
    s = str(exc)
    m = re.search(r"with message: (.*?)(?:\. Detail:|\. gRPC client debug context:|$)", s,
                  re.S)
    return m.group(1) if m else s


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a second
    CA with its own client certificate (which the server must refuse) and server certificate."""
    d = tmp_path_factory.mktemp("auth-certs")
    ext = d / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\n")
    cext = d / "client.ext"
    cext.write_text("extendedKeyUsage=clientAuth\n")
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                "-out", f"{ca}.pem", "-days", "30", "-subj", f"/CN=Mallard test {ca}", cwd=d)
    for name, ca, extfile in (("server", "ca", ext), ("client", "ca", cext),
                              ("badclient", "otherca", cext), ("otherserver", "otherca", ext)):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", "-extfile", str(extfile),
                cwd=d)
    return d
