"""Handshake and tokens against a real `mallard serve`: passwords, bearer tokens (malformed,
tampered, expired, revoked, another server's), pre-issued tokens and the old-style Handshake."""
import json
import subprocess
import time

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import (PASSWORDS, basic_header, bearer_options, error_message, login, raw_call)

pytestmark = pytest.mark.timeout(120)


def ping(client, options):
    results = list(client.do_action(flight.Action("ping", b""), options=options))
    assert json.loads(results[0].body.to_pybytes())["ok"] is True


def test_right_password_gives_working_bearer(shared_server):
    client, opts, _ = login(shared_server, "alice", PASSWORDS["alice"])
    ping(client, opts)
    tables = list(client.do_action(flight.Action("list_tables", b""), options=opts))
    assert tables


def test_bearer_in_initial_metadata_and_trailers(shared_server):
    """Raw gRPC Handshake: the bearer header is in both the initial metadata and the trailers
    (the C++ client reads the trailers)."""
    with grpc.insecure_channel(shared_server.target()) as ch:
        fn = ch.stream_stream("/arrow.flight.protocol.FlightService/Handshake",
                              request_serializer=None, response_deserializer=None)
        call = fn(iter([]), metadata=[("authorization", basic_header("alice", "alice-pw"))])
        list(call)
        initial = dict(call.initial_metadata())
        trailing = dict(call.trailing_metadata())
    assert initial["authorization"].startswith("Bearer ")
    assert trailing["authorization"] == initial["authorization"]
    token = initial["authorization"][len("Bearer "):]
    assert len(token) >= 22  # >= 128 bits, base64
    client = shared_server.client()
    ping(client, bearer_options(token))


def test_prefixes_case_insensitive_and_unpadded(shared_server):
    import base64
    raw = base64.b64encode(b"alice:alice-pw").decode().rstrip("=")
    assert len(raw) % 4 != 0  # really unpadded
    for header in ("basic " + raw, "BASIC " + raw, "Basic " + raw + "=" * (-len(raw) % 4)):
        code, _ = raw_call(shared_server.target(), "Handshake", [("authorization", header)])
        assert code == grpc.StatusCode.OK, header
    client, opts, token = login(shared_server, "alice", PASSWORDS["alice"])
    lower = flight.FlightCallOptions(headers=[(b"authorization", b"bearer " + token.encode())])
    ping(client, lower)


def test_basic_on_any_rpc(shared_server):
    client = shared_server.client()
    opts = flight.FlightCallOptions(
        headers=[(b"authorization", basic_header("alice", "alice-pw").encode())])
    ping(client, opts)


def test_wrong_password_and_unknown_user_same_message(serve, users_file):
    with serve("--users", users_file) as s:
        _same_message(s)


def _same_message(shared_server):
    msgs = []
    for user, pw in (("alice", "wrong"), ("nobody", "alice-pw"), ("alice", ""),
                     ("bob", PASSWORDS["alice"])):
        with pytest.raises(flight.FlightUnauthenticatedError) as ei:
            shared_server.client().authenticate_basic_token(user, pw)
        msgs.append(error_message(ei.value))
        code, details = raw_call(shared_server.target(), "Handshake",
                                 [("authorization", basic_header(user, pw))])
        assert code == grpc.StatusCode.UNAUTHENTICATED
        msgs.append(details)
    assert len(set(msgs)) == 1, msgs
    msg = msgs[0].lower()
    for leak in ("unknown user", "no such user", "wrong password", "incorrect password",
                 "nobody", "alice"):
        assert leak not in msg


def test_missing_malformed_tampered_tokens(shared_server):
    client, opts, token = login(shared_server, "alice", PASSWORDS["alice"])
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    cases = [
        [],
        [("authorization", "Bearer")],
        [("authorization", "Bearer " + tampered)],
        [("authorization", "Bearer " + token[:-2])],
        [("authorization", "Bearer " + token + "x")],
        [("authorization", "Bearer not a token")],
        [("authorization", "Token " + token)],
        [("authorization", token)],
        [("auth-token-bin", tampered.encode())],
    ]
    details = set()
    for md in cases:
        code, d = raw_call(shared_server.target(), "DoAction", md,
                           request=b"\x0a\x04ping")
        assert code == grpc.StatusCode.UNAUTHENTICATED, md
        details.add(d)
    assert len(details) == 1
    ping(client, opts)  # the real token still works


def test_idle_expiry(serve, users_file):
    with serve("--users", users_file, "--session-idle", "2s") as s:
        client, opts, _ = login(s, "alice", PASSWORDS["alice"])
        ping(client, opts)
        time.sleep(1.2)
        ping(client, opts)  # use restarts the idle clock
        time.sleep(1.2)
        ping(client, opts)  # 2.4 s after login, 1.2 s after the last use
        time.sleep(3.0)
        with pytest.raises(flight.FlightUnauthenticatedError):
            ping(client, opts)


def test_absolute_lifetime(serve, users_file):
    with serve("--users", users_file, "--session-lifetime", "3s") as s:
        client, opts, _ = login(s, "alice", PASSWORDS["alice"])
        t0 = time.time()
        while time.time() - t0 < 1.5:
            ping(client, opts)
            time.sleep(0.3)
        time.sleep(2.0)  # used all along, yet over the absolute lifetime
        with pytest.raises(flight.FlightUnauthenticatedError):
            ping(client, opts)


def test_session_not_expired_while_streaming(serve, users_file):
    """A DoGet that outlives the idle timeout still completes; new calls work while it runs."""
    with serve("--users", users_file, "--session-idle", "1s") as s:
        client, opts, _ = login(s, "alice", PASSWORDS["alice"])
        reader = client.do_get(flight.Ticket(b"SELECT * FROM range(3000000) t(x)"), options=opts)
        rows = 0
        t0 = time.time()
        first = True
        for chunk in reader:
            rows += chunk.data.num_rows
            if first:
                first = False
                time.sleep(2.0)  # idle timeout passes while the stream is open
                ping(client, opts)
        assert rows == 3000000
        assert time.time() - t0 >= 2.0


def test_logout_revokes(shared_server):
    client, opts, _ = login(shared_server, "alice", PASSWORDS["alice"])
    client2, opts2, _ = login(shared_server, "alice", PASSWORDS["alice"])
    ping(client, opts)
    res = list(client.do_action(flight.Action("logout", b""), options=opts))
    assert json.loads(res[0].body.to_pybytes())["ok"] is True
    with pytest.raises(flight.FlightUnauthenticatedError):
        ping(client, opts)
    ping(client2, opts2)  # only that session


def test_logout_with_basic_is_refused(shared_server):
    """Basic credentials open no session: logout has nothing to revoke and says so instead of
    answering ok (the same credentials keep working)."""
    client = shared_server.client()
    opts = flight.FlightCallOptions(
        headers=[(b"authorization", basic_header("alice", PASSWORDS["alice"]).encode())])
    with pytest.raises(pa.ArrowInvalid) as ei:  # INVALID_ARGUMENT
        list(client.do_action(flight.Action("logout", b""), options=opts))
    assert "Basic" in str(ei.value) and "bearer token" in str(ei.value)
    ping(client, opts)


def test_other_server_token(serve, users_file):
    with serve("--users", users_file, n_listen=2) as s:
        c0, opts0, _ = login(s, "alice", PASSWORDS["alice"], i=0)
        ping(c0, opts0)
        c1 = s.client(1)
        with pytest.raises(flight.FlightUnauthenticatedError):
            ping(c1, opts0)


def test_pre_issued_token(serve, users_file, mallard, tmp_path):
    r = subprocess.run([mallard, "token", "bob"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    token, line = r.stdout.strip().split("\n")
    assert ":bob:" in line and token not in line
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(line + "\n")
    with serve("--users", users_file, "--tokens", tokens) as s:
        client = s.client()
        ping(client, bearer_options(token))
        # the older binary header works too
        opts = flight.FlightCallOptions(headers=[(b"auth-token-bin", token.encode())])
        ping(client, opts)
        # bob is a reader through the token as well
        with pytest.raises(flight.FlightUnauthorizedError):
            list(client.do_action(flight.Action("execute", b"CREATE TABLE t(x INT)"),
                                  options=bearer_options(token)))
        # the hash is not a credential
        with pytest.raises(flight.FlightUnauthenticatedError):
            ping(client, bearer_options(line.split(":")[0]))


def make_token(mallard, user, *args):
    r = subprocess.run([mallard, "token", user, *args], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split("\n")


def test_pre_issued_token_expires(serve, users_file, mallard, tmp_path):
    """A token made with `--expires 3s` works until its time in the tokens file, then answers
    UNAUTHENTICATED like any bad credential; one made with `--expires never` keeps working. A
    line whose time has passed already is refused from the start, and the server says so."""
    short, short_line = make_token(mallard, "alice", "--expires", "3s")
    forever, forever_line = make_token(mallard, "alice", "--expires", "never")
    old, old_line = make_token(mallard, "alice")
    assert forever_line.endswith(":alice")
    old_line = old_line.rsplit(":", 3)[0] + ":2020-01-01T00:00:00Z"
    (tmp_path / "tokens.txt").write_text("\n".join([short_line, forever_line, old_line]) + "\n")
    started = time.time()
    with serve("--users", users_file, "--tokens", tmp_path / "tokens.txt") as s:
        deadline = time.time() + 10
        while "1 pre-issued token of" not in s.stderr() and time.time() < deadline:
            time.sleep(0.05)
        assert "1 pre-issued token of" in s.stderr() and "expired" in s.stderr()
        client = s.client()
        ping(client, bearer_options(short))
        ping(client, bearer_options(forever))
        with pytest.raises(flight.FlightUnauthenticatedError) as e:
            ping(client, bearer_options(old))
        assert "expired" not in str(e.value)  # never says which part was wrong
        time.sleep(max(0.0, started + 4.2 - time.time()))
        with pytest.raises(flight.FlightUnauthenticatedError):
            ping(client, bearer_options(short))
        ping(client, bearer_options(forever))


def test_token_expires_option(mallard):
    """The default lifetime is 90 days; the line's time is UTC, to the second."""
    import datetime
    _, line = make_token(mallard, "alice")
    h, user, when = line.split(":", 2)
    expires = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    left = expires - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=89, hours=23) < left <= datetime.timedelta(days=90, seconds=5)
    _, line = make_token(mallard, "alice", "--expires=12h")
    left = datetime.datetime.strptime(line.split(":", 2)[2], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=11, minutes=59) < left <= datetime.timedelta(hours=12, seconds=5)
    for bad in (["--expires", "0"], ["--expires", "soon"], ["--expires"]):
        r = subprocess.run([mallard, "token", "alice", *bad], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2 and "--expires" in r.stderr, (bad, r.stderr)


def test_tokens_file_errors(serve, users_file, tmp_path):
    bad = tmp_path / "tokens.txt"
    bad.write_text("# x\nnot-a-hash:alice\n")
    with serve("--users", users_file, "--tokens", bad, expect_fail=True) as (rc, err):
        assert rc != 0
        assert "line 2" in err
    bad.write_text("# x\n" + "ab" * 32 + ":alice:2027-02-25\n")
    with serve("--users", users_file, "--tokens", bad, expect_fail=True) as (rc, err):
        assert rc != 0
        assert "line 2: the expiry time" in err and "2027-02-25T08:00:00Z" in err


def test_users_file_errors(serve, tmp_path):
    bad = tmp_path / "users.txt"
    bad.write_text("alice:$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA:admin\nbroken line\n")
    with serve("--users", bad, expect_fail=True) as (rc, err):
        assert rc != 0
        assert "line 2" in err
        assert "aGFzaA" not in err
    with serve("--users", tmp_path / "missing.txt", expect_fail=True) as (rc, err):
        assert rc != 0
        assert "not found" in err


def _basic_auth_pb(user, password):
    u, p = user.encode(), password.encode()
    return b"\x12" + bytes([len(u)]) + u + b"\x1a" + bytes([len(p)]) + p


class OldStyleAuth(flight.ClientAuthHandler):
    """What Arrow's `auth:basic_proto` scenario client does: a BasicAuth protobuf in the
    HandshakeRequest payload, the token from the HandshakeResponse payload."""

    def __init__(self, user, password):
        super().__init__()
        self.user, self.password, self.token = user, password, b""

    def authenticate(self, outgoing, incoming):
        outgoing.write(_basic_auth_pb(self.user, self.password))
        self.token = incoming.read()

    def get_token(self):
        return self.token


def test_old_style_handshake(shared_server):
    client = shared_server.client()
    handler = OldStyleAuth("alice", PASSWORDS["alice"])
    client.authenticate(handler)
    assert len(handler.token) >= 22
    # pyarrow now sends the token in auth-token-bin on every call
    ping(client, None)
    bad = shared_server.client()
    with pytest.raises(flight.FlightUnauthenticatedError):
        bad.authenticate(OldStyleAuth("alice", "wrong"))


def test_default_user_warning_and_loopback(serve):
    with serve() as s:
        assert "password123" in s.stderr()
        client, opts, _ = login(s, "admin", "password123")
        ping(client, opts)
        with pytest.raises(flight.FlightUnauthenticatedError):
            s.client().authenticate_basic_token("admin", "password")


def test_password_never_in_logs_or_argv(serve, users_file):
    with serve("--users", users_file) as s:
        client, opts, token = login(s, "alice", PASSWORDS["alice"])
        ping(client, opts)
        for pw in ("wrong-secret-1", PASSWORDS["alice"]):
            try:
                s.client().authenticate_basic_token("alice", pw)
            except flight.FlightError:
                pass
        time.sleep(0.3)
        log = s.stderr()
        for secret in ("wrong-secret-1", PASSWORDS["alice"], token):
            assert secret not in log
        with open(f"/proc/{s.proc.pid}/cmdline", "rb") as f:
            assert PASSWORDS["alice"].encode() not in f.read()


def test_basic_on_every_call_is_not_an_argon2_check_each_time(serve, mallard, tmp_path):
    """A moderate-cost hash takes ~0.5-1 s to check; 20 calls with Basic must not take 20 of
    those (the server remembers a verified pair for a minute)."""
    r = subprocess.run([mallard, "passwd", "dave"], input="dave-pw\n", capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    users = tmp_path / "users.txt"
    users.write_text(r.stdout)
    with serve("--users", users) as s:
        client = s.client()
        opts = flight.FlightCallOptions(
            headers=[(b"authorization", basic_header("dave", "dave-pw").encode())])
        t0 = time.time()
        ping(client, opts)
        first = time.time() - t0
        t0 = time.time()
        for _ in range(20):
            ping(client, opts)
        rest = time.time() - t0
        assert rest < max(5.0, 5 * first), (first, rest)
        bad = flight.FlightCallOptions(
            headers=[(b"authorization", basic_header("dave", "dave-pX").encode())])
        with pytest.raises(flight.FlightUnauthenticatedError):
            ping(client, bad)
