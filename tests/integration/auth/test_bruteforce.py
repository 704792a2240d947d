"""Brute force: 1,000 bad handshakes from one peer while another user streams a DoGet. The
stream completes, the bad peer is refused (RESOURCE_EXHAUSTED) after a few attempts without
costing Argon2 work, and other peers and users can still log in."""
import socket
import subprocess
import threading
import time

import grpc
import pyarrow.flight as flight
import pytest

from conftest import PASSWORDS, basic_header, login

pytestmark = pytest.mark.timeout(300)

ROWS = 5_000_000


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_flood_while_streaming(serve, users_file):
    v6 = have_ipv6_loopback()
    # On [::] the server sees IPv4 and IPv6 loopback clients as two different peers.
    listen = "[::]:0" if v6 else "127.0.0.1:0"
    with serve("--users", users_file, listen=[listen]) as s:
        port = s.port
        good_url = f"grpc://[::1]:{port}" if v6 else f"grpc://127.0.0.1:{port}"
        bad_target = f"127.0.0.1:{port}"

        alice = flight.FlightClient(good_url)
        key, value = alice.authenticate_basic_token("alice", PASSWORDS["alice"])
        aopts = flight.FlightCallOptions(headers=[(key, value)])

        stream = {"rows": 0, "error": None}
        started = threading.Event()

        def consume():
            try:
                reader = alice.do_get(flight.Ticket(f"SELECT range AS x FROM range({ROWS})"
                                                    .encode()), options=aopts)
                for chunk in reader:
                    stream["rows"] += chunk.data.num_rows
                    started.set()
                    time.sleep(0.02)
            except Exception as e:  # reported below
                stream["error"] = e
            finally:
                started.set()
                stream["end"] = time.time()

        t = threading.Thread(target=consume)
        t.start()
        assert started.wait(60)

        codes = {}
        flood_start = time.time()
        with grpc.insecure_channel(bad_target) as ch:
            hs = ch.stream_stream("/arrow.flight.protocol.FlightService/Handshake",
                                  request_serializer=None, response_deserializer=None)
            for i in range(1000):
                try:
                    list(hs(iter([]), metadata=[("authorization",
                                                 basic_header("alice", f"guess-{i}"))],
                            timeout=10))
                    code = grpc.StatusCode.OK
                except grpc.RpcError as e:
                    code = e.code()
                codes[code] = codes.get(code, 0) + 1
        flood_time = time.time() - flood_start
        t.join(120)
        assert not t.is_alive()

        print(f"flood: {codes} in {flood_time:.2f} s; stream ended "
              f"{stream['end'] - flood_start:+.2f} s after the flood started")
        # the stream completed, and overlapped the flood
        assert stream["error"] is None, stream["error"]
        assert stream["rows"] == ROWS
        assert stream["end"] > flood_start
        # none succeeded; a few were checked, the rest refused before any password check
        assert codes.get(grpc.StatusCode.OK, 0) == 0
        # the free burst (10) plus the refill (20 a minute) during the flood
        checked = codes.get(grpc.StatusCode.UNAUTHENTICATED, 0)
        assert checked <= 10 + 20 * flood_time / 60 + 2, (checked, flood_time)
        assert codes.get(grpc.StatusCode.RESOURCE_EXHAUSTED, 0) == 1000 - checked
        # refusals are cheap: 1,000 Argon2 checks would take minutes
        assert flood_time < 60

        # the bad peer stays slowed, even with a right password
        with grpc.insecure_channel(bad_target) as ch:
            hs = ch.stream_stream("/arrow.flight.protocol.FlightService/Handshake",
                                  request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as ei:
                list(hs(iter([]), metadata=[("authorization",
                                             basic_header("carol", PASSWORDS["carol"]))]))
            assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "too many failed logins" in ei.value.details()

        # alice's session is untouched
        res = list(alice.do_action(flight.Action("ping", b""), options=aopts))
        assert res
        if v6:
            # another peer and another user log in at once
            carol = flight.FlightClient(good_url)
            t0 = time.time()
            carol.authenticate_basic_token("carol", PASSWORDS["carol"])
            assert time.time() - t0 < 5


def test_login_limiter_flags(serve, users_file, mallard):
    # --login-burst 3 --login-rate 1: three bad logins are checked, the next ones from that
    # peer are refused before any password check; the default would check ten.
    with serve("--users", users_file, "--login-burst", "3", "--login-rate", "1",
               listen=["127.0.0.1:0"]) as s:
        codes = []
        with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
            hs = ch.stream_stream("/arrow.flight.protocol.FlightService/Handshake",
                                  request_serializer=None, response_deserializer=None)
            for i in range(6):
                try:
                    list(hs(iter([]), metadata=[("authorization",
                                                 basic_header("bob", f"guess-{i}"))],
                            timeout=10))
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.append(e.code())
        assert codes[:3] == [grpc.StatusCode.UNAUTHENTICATED] * 3, codes
        assert codes[3:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3, codes
    for bad in (["--login-burst", "0"], ["--login-rate", "x"]):
        out = subprocess.run([mallard, "serve", "--listen", "127.0.0.1:0", *bad],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and bad[0] in out.stderr, out.stderr
